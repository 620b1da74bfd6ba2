"""Reading a time range of a Kafka topic back (for replay) and comparing replay with live alerts.

:func:`read_time_range` finds, per partition, the first offset at or after ``since_ms`` and the
first at or after ``until_ms`` (``offsets_for_times``), reads each partition's messages in that
range and merges the partitions in ``(timestamp, partition, offset)`` order. Each item is one
message value, possibly a batch of records, ready for :func:`detector.offline.replay.replay_lines`.
Watermark control messages are left out: replay treats end of input as a flush.

:func:`compare_with_live` reads the alerts topic (by default ``Settings.from_env().topic("alerts")``,
so ``DETECTOR_TOPIC_PREFIX`` applies) and compares its alert ids with a replay's, for alerts whose
``detected_at`` is in ``[since_ms, until_ms)``.

Every function takes ``kafka``: :class:`Settings` (servers and security, :mod:`streams.kafka_security`)
or a bootstrap string, which gets the security settings of the environment.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Union

import orjson

from detector.parse import rfc3339_ms
from detector.stages.ingest import watermark_of
from streams.settings import Settings

_FETCH = 16 * 1024 * 1024


# ``kafka`` below: Settings (servers + security), or a bootstrap string with the environment's
# security (streams.kafka_security.resolve).
Kafka = Union[Settings, str]


def _consumer(kafka: Kafka):  # type: ignore[no-untyped-def]
    from streams import kafka_security

    return kafka_security.consumer(kafka, group_id=None, enable_auto_commit=False,
                                   max_partition_fetch_bytes=_FETCH, fetch_max_bytes=_FETCH * 4, check_crcs=False)


def _offsets(consumer, tps: list, ms: int | None, default: dict) -> dict:  # type: ignore[no-untyped-def]
    if ms is None:
        return dict(default)
    found = consumer.offsets_for_times({tp: ms for tp in tps})
    return {tp: (found[tp].offset if found.get(tp) is not None else default[tp]) for tp in tps}


def _partition_records(kafka: Kafka, tp: Any, start: int, stop: int) -> Iterator[tuple[int, int, int, Any]]:
    """(timestamp, partition, offset, record) of one partition, offsets in [start, stop)."""
    if start >= stop:
        return
    consumer = _consumer(kafka)
    try:
        consumer.assign([tp])
        consumer.seek(tp, start)
        while consumer.position(tp) < stop:
            for records in consumer.poll(timeout_ms=1000, max_records=1000).values():
                for r in records:
                    if r.offset >= stop:
                        return
                    yield r.timestamp, tp.partition, r.offset, r
    finally:
        consumer.close()


def read_records(kafka: Kafka, topic: str, since_ms: int | None = None,
                 until_ms: int | None = None) -> Iterator[Any]:
    """Kafka records of ``topic`` with timestamps in ``[since_ms, until_ms)``, merged in
    (timestamp, partition, offset) order. ``None`` bounds mean the start/end of the log."""
    from kafka import TopicPartition

    from streams.kafka_security import resolve

    kafka = resolve(kafka)   # once, not per partition
    meta = _consumer(kafka)
    try:
        parts = meta.partitions_for_topic(topic)
        if not parts:
            from streams.kafka_security import check_topics

            check_topics(kafka, [topic])   # hidden by the ACLs: say so
            raise ValueError(f"topic {topic!r} does not exist")
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        begin, end = meta.beginning_offsets(tps), meta.end_offsets(tps)
        start = _offsets(meta, tps, since_ms, end) if since_ms is not None else dict(begin)
        stop = _offsets(meta, tps, until_ms, end)
    finally:
        meta.close()
    streams = [_partition_records(kafka, tp, start[tp], stop[tp]) for tp in tps]
    for ts, _p, _o, record in heapq.merge(*streams, key=lambda x: (x[0], x[1], x[2])):
        if (since_ms is None or ts >= since_ms) and (until_ms is None or ts < until_ms):
            yield record


def read_time_range(kafka: Kafka, topic: str, since_ms: int | None, until_ms: int | None) -> Iterator[bytes]:
    """Message values of ``topic`` with Kafka timestamps in ``[since_ms, until_ms)`` in
    (timestamp, partition, offset) order, without watermark control messages."""
    for record in read_records(kafka, topic, since_ms, until_ms):
        value = record.value
        if value is not None and watermark_of(value) is None:
            yield value


@dataclass(slots=True)
class Diff:
    """Replay alerts vs live alerts (by alert id) within a detection-time window."""

    only_replay: list[dict[str, Any]] = field(default_factory=list)
    only_live: list[dict[str, Any]] = field(default_factory=list)
    different: list[tuple[dict[str, Any], dict[str, Any]]] = field(default_factory=list)
    common: int = 0

    @property
    def equal(self) -> bool:
        return not (self.only_replay or self.only_live or self.different)

    def describe(self) -> str:
        """A short human-readable account of the differences."""
        if self.equal:
            return f"live and replay agree on {self.common} alerts"
        lines = [f"{self.common} alerts in both; {len(self.only_replay)} only in replay, "
                 f"{len(self.only_live)} only live, {len(self.different)} with different content"]
        for tag, alerts in (("replay only", self.only_replay), ("live only", self.only_live)):
            for a in alerts[:20]:
                lines.append(f"  {tag}: {a['alert_id']} {a['kind']}:{a['subject_id']} {a['severity']} "
                             f"at {a['detected_at']}")
        for r, live in self.different[:20]:
            lines.append(f"  differs: {r['alert_id']} replay {r['severity']}/{len(r['api_key_ids'])} keys, "
                         f"live {live['severity']}/{len(live['api_key_ids'])} keys")
        return "\n".join(lines)


def _identity(a: dict[str, Any]) -> tuple[Any, ...]:
    return a["kind"], a["subject_id"], tuple(a["api_key_ids"]), a["severity"], a["action"]


def live_alerts(kafka: Kafka, topic: str) -> list[dict[str, Any]]:
    """Every alert on the alerts topic (duplicates included), in log order."""
    return [orjson.loads(r.value) for r in read_records(kafka, topic) if r.value is not None]


def compare_with_live(kafka: Kafka, alerts: list[dict[str, Any]], since_ms: int | None, until_ms: int | None,
                      *, topic: str | None = None) -> Diff:
    """Compare replay ``alerts`` with the live alerts topic for ``since_ms <= detected_at < until_ms``.

    ``topic`` defaults to the alerts topic of :meth:`Settings.from_env`. Live duplicates
    (at-least-once delivery) collapse by alert id.
    """
    def inside(a: dict[str, Any]) -> bool:
        t = rfc3339_ms(a["detected_at"])
        return (since_ms is None or t >= since_ms) and (until_ms is None or t < until_ms)

    replay = {a["alert_id"]: a for a in alerts if inside(a)}
    topic = topic or (kafka if isinstance(kafka, Settings) else Settings.from_env()).topic("alerts")
    live = {a["alert_id"]: a for a in live_alerts(kafka, topic) if inside(a)}
    diff = Diff()
    for aid in sorted(replay.keys() | live.keys()):
        r, lv = replay.get(aid), live.get(aid)
        if r is None:
            diff.only_live.append(lv)  # type: ignore[arg-type]
        elif lv is None:
            diff.only_replay.append(r)
        elif _identity(r) != _identity(lv):
            diff.different.append((r, lv))
        else:
            diff.common += 1
    return diff
