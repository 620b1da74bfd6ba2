"""The three stages wired together in one process: what replay runs, and what live reproduces.

:class:`Detector` takes parsed items (events and rejections) in input order, extracts features,
feeds the key windows record by record (so which records are late does not depend on how input
was batched), closes epochs as the watermark passes them and hands each epoch to the scorer. The
live workers run the same stages split across processes (``streams/``): key windows per Kafka
partition, the scorer behind an epoch barrier; since the scorer sees the same epochs with the same
summaries, it makes the same decisions.

>>> from detector.record import Event
>>> d = Detector()
>>> outs = list(d.feed([Event(ts_ms=1_000, api_key_id="k")])) + list(d.finish())
>>> d.counts["events"], [o.alerts for o in outs]
(1, [[]])
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from detector.config import Config
from detector.features import extract
from detector.partition import Epoch, PartitionState
from detector.profiles import AccountProfile
from detector.record import Event, Rejection
from detector.scorer import Scorer, ScorerOutput


@dataclass(slots=True)
class EpochResult:
    """The scorer's output for one epoch, with the epoch's end time."""

    epoch_ms: int
    alerts: list
    decisions: list
    scores: list


class Detector:
    """In-process pipeline: parse results in, epoch results out.

    ``profiles`` (account profiles, e.g. from ``--accounts FILE``) are queued in the scorer before
    the first epoch, in order; each applies at the first epoch at or after its ``updated_at``.
    """

    def __init__(self, config: Config | None = None, *, profiles: list[AccountProfile] | None = None) -> None:
        self.config = config or Config()
        self.partition = PartitionState(self.config)
        self.scorer = Scorer(self.config)
        for profile in profiles or ():
            self.scorer.add_profile(profile)
        self.counts: Counter[str] = Counter()
        self.rejections: Counter[str] = Counter()

    def _score(self, epochs: list[Epoch]) -> Iterator[EpochResult]:
        for ep in epochs:
            out: ScorerOutput = self.scorer.close_epoch(ep.end_ms, ep.summaries)
            self.counts["epochs"] += 1
            self.counts["alerts"] += len(out.alerts)
            yield EpochResult(ep.end_ms, out.alerts, out.decisions, out.scores)

    def feed(self, items: Iterable[Event | Rejection]) -> Iterator[EpochResult]:
        """Process items in order; yields a result for every epoch that closes."""
        part = self.partition
        next_close = part.next_close_ms()
        events, late, duplicates = 0, part.late, part.duplicates
        for item in items:
            if isinstance(item, Rejection):
                self.rejections[item.reason] += 1
                continue
            events += 1
            if not part.add(extract(item)):
                continue
            if item.ts_ms >= next_close:   # only then can the watermark close a bucket
                yield from self._score(part.advance())
                next_close = part.next_close_ms()
        self.counts["events"] += events
        self.counts["late"] += part.late - late
        self.counts["duplicates"] += part.duplicates - duplicates

    def finish(self) -> Iterator[EpochResult]:
        """Close every open bucket (end of a finite input)."""
        yield from self._score(self.partition.flush())

    def state_bytes_per_key(self) -> float:
        """Mean serialised window state per key currently held."""
        keys = self.partition.keys
        if not keys:
            return 0.0
        return sum(kw.state_bytes() for kw in keys.values()) / len(keys)
