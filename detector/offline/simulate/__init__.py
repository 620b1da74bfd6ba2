"""Synthetic gateway traffic with ground truth: benign personas and model-extraction campaigns.

``simulate(out_dir, ...)`` writes ``events.jsonl.gz`` (canonical records sorted by time),
``labels.jsonl`` (one row per key, never inside the events), ``accounts.jsonl`` (account
profiles), ``allowlist.json`` and ``manifest.json``. See :mod:`.world` for the file contract,
:mod:`.personas`, :mod:`.lookalikes`, :mod:`.campaigns` and :mod:`.variant_campaigns` for what each
actor models, :mod:`.variants` and :mod:`.wording` for the robustness variants and wording
families, and :mod:`.corpora` for where prompt text comes from.
"""

from .variants import VARIANTS
from .wording import FAMILIES
from .world import CAMPAIGNS, PERSONAS, SCENARIOS, VARIANT_CAMPAIGNS, SimulationResult, simulate

__all__ = ["CAMPAIGNS", "FAMILIES", "PERSONAS", "SCENARIOS", "VARIANTS", "VARIANT_CAMPAIGNS",
           "SimulationResult", "simulate"]
