"""``detector calibrate``: replay recordings and write the benign population's calibration.

:func:`calibrate` replays one or more recordings (simulation directories, or events files with
optional labels, account profiles and allow-list) with the scorer's calibration collector switched
on, then builds one :class:`~detector.calibration.Calibration` from every key it saw in all of them:
only keys labelled ``benign`` when labels are given, never keys of allow-listed accounts (permitted
data generation is extraction by contract, not the benign population). The replays themselves run
with the packaged calibration only to drive hysteresis; raw rule strengths do not depend on it.

When it works: recordings of the deployment's own traffic over at least a day, labelled or known
clean; several recordings (days, seeds) make the tail less dependent on one customer's volume that
day. When it fails: an unlabelled recording with campaigns in it raises their rules' floors.

Cost: one replay per recording plus a few floats per key.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import orjson

from detector.calibration import Calibration, CalibrationBuilder
from detector.config import Config
from detector.pipeline import Detector
from detector.profiles import load_profiles
from detector.offline.replay import open_lines, parse_lines


@dataclass(frozen=True, slots=True)
class Recording:
    """One recording to calibrate on."""

    events: Path
    labels: Path | None = None
    accounts: Path | None = None
    allowlist: Path | None = None
    fmt: str = "canonical"

    @classmethod
    def of(cls, path: Path) -> Recording:
        """A simulation directory (its events, labels, accounts and allow-list), or an events file."""
        if not path.is_dir():
            return cls(path)
        present = {name: path / name for name in ("labels.jsonl", "accounts.jsonl", "allowlist.json")
                   if (path / name).exists()}
        return cls(path / "events.jsonl.gz", present.get("labels.jsonl"), present.get("accounts.jsonl"),
                   present.get("allowlist.json"))


def _observe(rec: Recording, index: int, builder: CalibrationBuilder, config: Config) -> set[str]:
    """Replay one recording into ``builder`` (subjects prefixed with ``index``); its population."""
    cfg = config
    if rec.allowlist is not None:
        cfg = cfg.with_allowlist(orjson.loads(rec.allowlist.read_bytes()).get("accounts", []))
    profiles = load_profiles(rec.accounts)[0] if rec.accounts is not None else None
    det = Detector(cfg, profiles=profiles)
    det.scorer.collector = own = CalibrationBuilder()
    for _ in det.feed(parse_lines(open_lines(rec.events), rec.fmt)):
        pass
    for _ in det.finish():
        pass
    allowed = set(cfg.allowlist_accounts) | {p.account_id for p in profiles or () if p.allowlisted}
    accounts = {k: p.account_id for k, p in det.scorer.linkage.profiles.items()}
    benign = None
    if rec.labels is not None:
        benign = {row["api_key_id"] for row in map(orjson.loads, rec.labels.read_bytes().splitlines())
                  if row.get("kind") == "benign"}
    population = {f"{index}/{k}" for k in own.keys
                  if (benign is None or k in benign) and accounts.get(k) not in allowed}
    for k, rules in own.keys.items():
        builder.keys[f"{index}/{k}"] = rules
    for k, top in own.maxima.items():
        builder.maxima[f"{index}/{k}"] = top
    return population


def calibrate(recordings: list[Recording], config: Config | None = None) -> Calibration:
    """The calibration of the benign keys of all ``recordings`` (see the module docstring)."""
    cfg = config or Config()
    builder = CalibrationBuilder()
    population: set[str] = set()
    digest = hashlib.sha256()
    for i, rec in enumerate(recordings):
        population |= _observe(rec, i, builder, cfg)
        with rec.events.open("rb") as fh:
            digest.update(fh.read(1 << 20))
    sources = []
    for rec in recordings:
        manifest = rec.events.parent / "manifest.json"
        entry: dict[str, object] = {"events": rec.events.name, "labelled": rec.labels is not None}
        if manifest.exists():
            m = orjson.loads(manifest.read_bytes())
            entry["simulation"] = {k: m.get(k) for k in ("generator", "seed", "scale", "hours", "scenario",
                                                         "variant", "wording")}
        sources.append(entry)
    cal = builder.build("", {"recordings": sources}, population)
    digest.update(orjson.dumps([cal.floors, cal.features], option=orjson.OPT_SORT_KEYS))
    cal.version = f"cal-{digest.hexdigest()[:10]}"   # the inputs and what they gave
    return cal
