"""Producing a gateway-log file to Kafka, the way a gateway would (used by ``make demo`` and tests).

:func:`feed_file` reads a JSONL file (gzip or not) and sends it as NDJSON batches of
``records_per_message`` records (Kong's kafka-log and LiteLLM batch similarly), or one record per
message keyed by ``api_key_id``. :func:`send_watermark` sends the control message that closes the
epochs of an ended input; :func:`end_watermark` computes the one that closes exactly what a replay's
end-of-input flush closes.

Ordering: batched messages go to one partition by default, so the input has one total order and
the live detector makes exactly the decisions replay makes on the same file. ``spread=True``
round-robins them over all partitions (more ingest parallelism; lateness decisions near the allowed
lateness and per-key gap statistics may then differ slightly from a replay of the file). Keyed
single-record messages keep each key's order on its partition.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson

from detector.config import Config
from detector.replay import open_lines
from streams.ingest import watermark_message

DEFAULT_MAX_REQUEST = 8 * 1024 * 1024


@dataclass(slots=True)
class FeedStats:
    """What :func:`feed_file` sent."""

    messages: int = 0
    records: int = 0
    min_ts_ms: int = -1
    max_ts_ms: int = -1


def _producer(bootstrap: str, max_request_size: int):  # type: ignore[no-untyped-def]
    from kafka import KafkaProducer

    return KafkaProducer(bootstrap_servers=bootstrap.split(","), acks="all", linger_ms=5,
                         max_request_size=max_request_size, retries=10)


def _ts_of(line: bytes) -> tuple[int, str | None]:
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError:
        return -1, None
    if type(obj) is not dict:
        return -1, None
    ts, key = obj.get("ts"), obj.get("api_key_id")
    if type(ts) is str:
        from detector.parse import rfc3339_ms

        try:
            ts = rfc3339_ms(ts)
        except ValueError:
            ts = -1
    return (ts if type(ts) is int else -1), (key if type(key) is str else None)


def batches(lines: Iterable[bytes], records_per_message: int) -> Iterator[list[bytes]]:
    """Consecutive groups of ``records_per_message`` lines."""
    batch: list[bytes] = []
    for line in lines:
        batch.append(line)
        if len(batch) >= records_per_message:
            yield batch
            batch = []
    if batch:
        yield batch


def feed_lines(bootstrap: str, topic: str, lines: Iterable[bytes], records_per_message: int = 100, *,
               key_by: str | None = "api_key_id", spread: bool = False, partition: int = 0,
               max_request_size: int = DEFAULT_MAX_REQUEST) -> FeedStats:
    """Send raw JSONL lines; see :func:`feed_file`."""
    producer = _producer(bootstrap, max_request_size)
    stats = FeedStats()
    try:
        nparts = len(producer.partitions_for(topic)) if spread else 1
        for n, batch in enumerate(batches(lines, max(1, records_per_message))):
            key = None
            for line in batch:
                ts, k = _ts_of(line)
                if ts >= 0:
                    stats.min_ts_ms = ts if stats.min_ts_ms < 0 else min(stats.min_ts_ms, ts)
                    stats.max_ts_ms = max(stats.max_ts_ms, ts)
                key = k
            if records_per_message == 1 and key_by == "api_key_id":
                producer.send(topic, value=batch[0], key=key.encode() if key else None,
                              partition=None if key else partition)
            else:
                producer.send(topic, value=b"\n".join(batch), partition=(n % nparts) if spread else partition)
            stats.messages += 1
            stats.records += len(batch)
        producer.flush()
    finally:
        producer.close()
    return stats


def feed_file(bootstrap: str, topic: str, path: Path | str, records_per_message: int = 100, *,
              key_by: str | None = "api_key_id", spread: bool = False, partition: int = 0,
              max_request_size: int = DEFAULT_MAX_REQUEST) -> FeedStats:
    """Produce a simulated (or any JSONL) events file to ``topic``.

    ``records_per_message > 1``: NDJSON messages, unkeyed, to ``partition`` (or round-robin with
    ``spread``). ``records_per_message == 1``: one record per message keyed by ``api_key_id``
    (``key_by=None`` sends them unkeyed to ``partition``). Returns counts and the event-time range.
    """
    return feed_lines(bootstrap, topic, open_lines(Path(path)), records_per_message, key_by=key_by,
                      spread=spread, partition=partition, max_request_size=max_request_size)


def feed_messages(bootstrap: str, topic: str, values: Iterable[bytes], *, partition: int = 0,
                  max_request_size: int = DEFAULT_MAX_REQUEST) -> int:
    """Send raw message values as they are, in order, to one partition; returns how many."""
    producer = _producer(bootstrap, max_request_size)
    n = 0
    try:
        for v in values:
            producer.send(topic, value=v, partition=partition)
            n += 1
        producer.flush()
    finally:
        producer.close()
    return n


def end_watermark(max_ts_ms: int, config: Config | None = None) -> int:
    """The watermark that closes exactly the epochs a replay's end-of-input flush closes:
    the end of the last event's fine bucket plus the allowed lateness.

    >>> end_watermark(1_000, Config())
    720000
    """
    cfg = config or Config()
    fine = cfg.fine_bucket_ms
    return max_ts_ms - max_ts_ms % fine + fine + cfg.allowed_lateness_ms


def send_watermark(bootstrap: str, topic: str, ts_ms: int, partitions: list[int] | None = None) -> None:
    """Send the ``{"__watermark__": ts_ms}`` control message to every partition (or the given ones)."""
    producer = _producer(bootstrap, DEFAULT_MAX_REQUEST)
    try:
        targets = sorted(producer.partitions_for(topic)) if partitions is None else partitions
        for p in targets:
            producer.send(topic, value=watermark_message(ts_ms), partition=p)
        producer.flush()
    finally:
        producer.close()
