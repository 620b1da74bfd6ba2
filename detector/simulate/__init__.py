"""Synthetic gateway traffic with ground truth: benign personas and model-extraction campaigns.

``simulate(out_dir, ...)`` writes ``events.jsonl.gz`` (canonical records sorted by time),
``labels.jsonl`` (one row per key, never inside the events), ``allowlist.json`` and
``manifest.json``. See :mod:`.world` for the file contract, :mod:`.personas` and
:mod:`.campaigns` for what each actor models, and :mod:`.corpora` for where prompt text comes from.
"""

from .world import CAMPAIGNS, PERSONAS, SCENARIOS, SimulationResult, simulate

__all__ = ["CAMPAIGNS", "PERSONAS", "SCENARIOS", "SimulationResult", "simulate"]
