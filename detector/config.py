"""Detector configuration: window geometry, thresholds, TTLs and the contract allow-list.

Everything that changes a decision lives here, so the same :class:`Config` gives the same alerts
in live and replay. Values come from defaults, a JSON file, or ``DETECTOR_*`` environment
variables (see :func:`Config.from_env`).

>>> Config().fine_bucket_ms, Config().horizons_ms["1h"]
(600000, 3600000)
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

import orjson
import xxhash

from detector.levels import Action, Horizon

MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS


@dataclass(frozen=True, slots=True)
class Config:
    """Knobs of the deciding core. Times in milliseconds of event time."""

    fine_bucket_ms: int = 10 * MINUTE_MS
    coarse_bucket_ms: int = HOUR_MS
    horizons_ms: dict[str, int] = field(
        default_factory=lambda: {Horizon.MINUTES_10.value: 10 * MINUTE_MS, Horizon.HOUR.value: HOUR_MS,
                                 Horizon.DAY.value: 24 * HOUR_MS}
    )
    allowed_lateness_ms: int = 2 * MINUTE_MS
    idle_expiry_ms: int = 25 * HOUR_MS
    # decisions
    observe_threshold: float = 0.5
    throttle_threshold: float = 0.8
    block_threshold: float = 0.95
    ttl_s: dict[str, int] = field(
        default_factory=lambda: {Action.OBSERVE.value: 6 * 3600, Action.THROTTLE.value: 6 * 3600,
                                 Action.BLOCK.value: 24 * 3600}
    )
    throttle_rpm: int = 6
    # linkage
    min_cluster_keys: int = 5
    linkage_rebuild_epochs: int = 3
    # contract allow-list: accounts permitted to generate synthetic data
    allowlist_accounts: frozenset[str] = frozenset()
    model_version: str = "xd-2.0"
    # benign-population calibration file (``detector calibrate``); "" = the packaged default
    calibration_file: str = ""
    river_seed: int = 42

    def to_dict(self) -> dict[str, object]:
        """Every knob as plain JSON values (sets sorted), the form :meth:`merged` reads back."""
        out: dict[str, object] = {f.name: getattr(self, f.name) for f in fields(self)}
        out["allowlist_accounts"] = sorted(self.allowlist_accounts)
        return out

    def fingerprint(self) -> str:
        """A short, stable hash of every knob: which configuration wrote a checkpoint or decided.

        >>> Config().fingerprint() == Config().fingerprint() != Config(throttle_threshold=0.7).fingerprint()
        True
        """
        return xxhash.xxh3_64_hexdigest(orjson.dumps(self.to_dict(), option=orjson.OPT_SORT_KEYS))

    def with_allowlist(self, accounts: list[str] | frozenset[str]) -> Config:
        """A copy whose allow-list also holds ``accounts``."""
        return replace(self, allowlist_accounts=self.allowlist_accounts | frozenset(accounts))

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Config:
        """Defaults overridden by ``DETECTOR_<FIELD>`` variables (ints, floats, comma lists).

        ``DETECTOR_CONFIG_FILE`` names a JSON file applied before the variables.
        """
        env = dict(os.environ if env is None else env)
        cfg = cls()
        path = env.get("DETECTOR_CONFIG_FILE")
        if path:
            cfg = cfg.merged(orjson.loads(Path(path).read_bytes()))
        overrides: dict[str, object] = {}
        for f in fields(cls):
            raw = env.get(f"DETECTOR_{f.name.upper()}")
            if raw is None:
                continue
            current = getattr(cfg, f.name)
            if isinstance(current, frozenset):
                overrides[f.name] = frozenset(x.strip() for x in raw.split(",") if x.strip())
            elif isinstance(current, dict):
                overrides[f.name] = orjson.loads(raw)
            else:
                overrides[f.name] = type(current)(raw)
        return replace(cfg, **overrides)

    def merged(self, data: dict[str, object]) -> Config:
        """A copy with the known keys of ``data`` applied (unknown keys are an error)."""
        known = {f.name for f in fields(self)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown config keys: {sorted(unknown)}")
        values = dict(data)
        if "allowlist_accounts" in values:
            values["allowlist_accounts"] = frozenset(values["allowlist_accounts"])  # type: ignore[arg-type]
        return replace(self, **values)  # type: ignore[arg-type]
