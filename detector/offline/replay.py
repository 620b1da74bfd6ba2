"""Replay stored gateway logs through the detector: the incident reviewer's tool.

Reads JSONL files (optionally gzip-compressed) in the canonical format or a gateway's own
(LiteLLM, OpenTelemetry, Kong), or any iterable of raw lines (e.g. a Kafka time range), runs the
in-process :class:`~detector.pipeline.Detector` and collects alerts, decisions and per-subject
score timelines. Same input and config give byte-identical alerts.

>>> r = replay_lines([b'{"ts": 1000, "api_key_id": "k"}', b"not json"])
>>> r.counts["events"], dict(r.rejections)
(1, {'not_json': 1})
"""

from __future__ import annotations

import gzip
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from detector.adapters import FORMATS, parse_input
from detector.config import Config
from detector.pipeline import Detector
from detector.profiles import AccountProfile
from detector.record import Event, Rejection


@dataclass(slots=True)
class Timeline:
    """Score history of one subject: (epoch_ms, score, {signal: strength})."""

    kind: str
    subject: str
    points: list[tuple[int, float, dict[str, float]]] = field(default_factory=list)


@dataclass(slots=True)
class ReplayResult:
    """Everything a replay produced."""

    alerts: list[dict[str, Any]]
    decisions: list[tuple[str, dict[str, Any] | None]]
    counts: Counter[str]
    rejections: Counter[str]
    timelines: dict[str, Timeline]
    seconds: float
    state_bytes_per_key: float
    keys_seen: int


def open_lines(path: Path) -> Iterator[bytes]:
    """Lines of a JSONL file, gzip-compressed or not (detected by magic bytes)."""
    with path.open("rb") as fh:
        gz = fh.read(2) == b"\x1f\x8b"
    opener: Callable[..., Any] = gzip.open if gz else open
    with opener(path, "rb") as fh:
        for line in fh:
            line = line.rstrip(b"\r\n")
            if line.strip():
                yield line


def parse_lines(lines: Iterable[bytes], fmt: str = "canonical") -> Iterator[Event | Rejection]:
    """Parse raw lines (each one record, or a batch as a gateway sends it) in order."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    for line in lines:
        yield from parse_input(line, fmt)


def _filtered(items: Iterable[Event | Rejection], keys: set[str] | None, since_ms: int | None,
              until_ms: int | None, counts: Counter[str]) -> Iterator[Event | Rejection]:
    for item in items:
        if isinstance(item, Event):
            if (keys is not None and item.api_key_id not in keys) or (since_ms is not None and item.ts_ms < since_ms) \
                    or (until_ms is not None and item.ts_ms >= until_ms):
                counts["filtered_out"] += 1
                continue
        yield item


def replay_items(items: Iterable[Event | Rejection], config: Config | None = None, *,
                 keys: set[str] | None = None, since_ms: int | None = None, until_ms: int | None = None,
                 on_progress: Callable[[int], None] | None = None, timeline_min_score: float = 0.2,
                 profiles: list[AccountProfile] | None = None) -> ReplayResult:
    """Run the detector over parsed items and collect its output.

    ``profiles`` are account profiles (:func:`detector.profiles.load_profiles`), given to the scorer
    before the first epoch; ``replay_lines`` and ``replay_files`` pass it on like every keyword.
    """
    det = Detector(config, profiles=profiles)
    alerts: list[dict[str, Any]] = []
    decisions: list[tuple[str, dict[str, Any] | None]] = []
    timelines: dict[str, Timeline] = {}
    extra: Counter[str] = Counter()
    started = time.perf_counter()

    def counted(it: Iterable[Event | Rejection]) -> Iterator[Event | Rejection]:
        for i, item in enumerate(it, 1):
            if on_progress is not None and i % 10_000 == 0:
                on_progress(10_000)
            yield item

    def collect(results: Iterable[Any]) -> None:
        for r in results:
            alerts.extend(r.alerts)
            decisions.extend(r.decisions)
            for kind, subject, score, evidence in r.scores:
                if score >= timeline_min_score:
                    tl = timelines.setdefault(f"{kind}:{subject}", Timeline(kind, subject))
                    tl.points.append((r.epoch_ms, score, {e.signal: e.strength for e in evidence}))

    collect(det.feed(_filtered(counted(items), keys, since_ms, until_ms, extra)))
    per_key = det.state_bytes_per_key()
    keys_seen = len(det.partition.keys)
    collect(det.finish())
    counts = det.counts + extra
    return ReplayResult(alerts, decisions, counts, det.rejections, timelines, time.perf_counter() - started,
                        per_key, keys_seen)


def replay_lines(lines: Iterable[bytes], config: Config | None = None, fmt: str = "canonical",
                 **kwargs: Any) -> ReplayResult:
    """Parse and replay raw lines."""
    return replay_items(parse_lines(lines, fmt), config, **kwargs)


def replay_files(paths: list[Path], config: Config | None = None, fmt: str = "canonical",
                 **kwargs: Any) -> ReplayResult:
    """Parse and replay files, in the order given."""
    def lines() -> Iterator[bytes]:
        for p in paths:
            yield from open_lines(p)
    return replay_lines(lines(), config, fmt, **kwargs)


def alerts_jsonl(alerts: list[dict[str, Any]]) -> bytes:
    """Alerts as JSON lines with sorted keys: byte-identical for identical alerts."""
    return b"".join(orjson.dumps(a, option=orjson.OPT_SORT_KEYS) + b"\n" for a in alerts)
