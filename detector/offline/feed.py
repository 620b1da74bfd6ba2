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

import asyncio
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Union

import orjson

from detector.config import Config
from detector.offline.replay import open_lines
from detector.stages.ingest import watermark_message

if TYPE_CHECKING:
    from streams.settings import Settings

DEFAULT_MAX_REQUEST = 8 * 1024 * 1024


@dataclass(slots=True)
class FeedStats:
    """What :func:`feed_file` sent."""

    messages: int = 0
    records: int = 0
    min_ts_ms: int = -1
    max_ts_ms: int = -1


Item = tuple[bytes, bytes | None, int | None]  # value, key, partition (None: by key)
# Where to send: Settings (servers + security), or a bootstrap string with the environment's security
# (streams.kafka_security.resolve).
Kafka = Union["Settings", str]


def produce(kafka: Kafka, topic: str, items: Iterable[Item], *,
            max_request_size: int = DEFAULT_MAX_REQUEST) -> int:
    """Send ``items`` to ``topic`` with acks=all and wait for all of them; returns how many.

    Uses aiokafka (kafka-python's pure-Python record checksums make large batches slow).
    Messages to one partition keep their order (one in-flight batch per partition).
    """
    from aiokafka import AIOKafkaProducer

    from streams import kafka_security

    s = kafka_security.resolve(kafka)

    async def main() -> int:
        await kafka_security.check_async(s)
        producer = AIOKafkaProducer(**kafka_security.aiokafka_config(s), acks="all", linger_ms=5,
                                    max_request_size=max_request_size, request_timeout_ms=60000)
        await producer.start()
        n = 0
        try:
            for value, key, partition in items:
                await producer.send(topic, value=value, key=key, partition=partition)
                n += 1
            await producer.flush()
        finally:
            await producer.stop()
        return n

    return asyncio.run(main())


def partitions_of(kafka: Kafka, topic: str) -> list[int]:
    """Partition ids of ``topic``."""
    from streams import kafka_security

    consumer = kafka_security.consumer(kafka)
    try:
        parts = consumer.partitions_for_topic(topic)
    finally:
        consumer.close()
    if not parts:
        raise ValueError(f"topic {topic!r} does not exist")
    return sorted(parts)


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


def feed_lines(kafka: Kafka, topic: str, lines: Iterable[bytes], records_per_message: int = 100, *,
               key_by: str | None = "api_key_id", spread: bool = False, partition: int = 0,
               max_request_size: int = DEFAULT_MAX_REQUEST) -> FeedStats:
    """Send raw JSONL lines; see :func:`feed_file`."""
    stats = FeedStats()
    nparts = len(partitions_of(kafka, topic)) if spread else 1

    def items() -> Iterator[Item]:
        for n, batch in enumerate(batches(lines, max(1, records_per_message))):
            key = None
            for line in batch:
                ts, k = _ts_of(line)
                if ts >= 0:
                    stats.min_ts_ms = ts if stats.min_ts_ms < 0 else min(stats.min_ts_ms, ts)
                    stats.max_ts_ms = max(stats.max_ts_ms, ts)
                key = k
            stats.messages += 1
            stats.records += len(batch)
            if records_per_message == 1 and key_by == "api_key_id" and key:
                yield batch[0], key.encode(), None
            else:
                yield b"\n".join(batch), None, (n % nparts) if spread else partition

    produce(kafka, topic, items(), max_request_size=max_request_size)
    return stats


def feed_file(kafka: Kafka, topic: str, path: Path | str, records_per_message: int = 100, *,
              key_by: str | None = "api_key_id", spread: bool = False, partition: int = 0,
              max_request_size: int = DEFAULT_MAX_REQUEST) -> FeedStats:
    """Produce a simulated (or any JSONL) events file to ``topic``.

    ``records_per_message > 1``: NDJSON messages, unkeyed, to ``partition`` (or round-robin with
    ``spread``). ``records_per_message == 1``: one record per message keyed by ``api_key_id``
    (``key_by=None`` sends them unkeyed to ``partition``). Returns counts and the event-time range.
    """
    return feed_lines(kafka, topic, open_lines(Path(path)), records_per_message, key_by=key_by,
                      spread=spread, partition=partition, max_request_size=max_request_size)


def feed_messages(kafka: Kafka, topic: str, values: Iterable[bytes], *, partition: int = 0,
                  max_request_size: int = DEFAULT_MAX_REQUEST) -> int:
    """Send raw message values as they are, in order, to one partition; returns how many."""
    return produce(kafka, topic, ((v, None, partition) for v in values), max_request_size=max_request_size)


def end_watermark(max_ts_ms: int, config: Config | None = None) -> int:
    """The watermark that closes exactly the epochs a replay's end-of-input flush closes:
    the end of the last event's fine bucket plus the allowed lateness.

    >>> end_watermark(1_000, Config())
    720000
    """
    cfg = config or Config()
    fine = cfg.fine_bucket_ms
    return max_ts_ms - max_ts_ms % fine + fine + cfg.allowed_lateness_ms


def send_watermark(kafka: Kafka, topic: str, ts_ms: int, partitions: list[int] | None = None) -> None:
    """Send the ``{"__watermark__": ts_ms}`` control message to every partition (or the given ones)."""
    targets = partitions_of(kafka, topic) if partitions is None else partitions
    produce(kafka, topic, [(watermark_message(ts_ms), None, p) for p in targets])


def main(argv: list[str] | None = None) -> None:
    """``python -m detector.offline.feed FILE [--records-per-message N] [--spread] [--no-watermark]``:
    feed a JSONL file to the input topic named by the ``DETECTOR_*`` settings, then close it with
    the end-of-input watermark."""
    import argparse

    from streams.settings import Settings
    from streams.topics import ensure_topics

    ap = argparse.ArgumentParser(prog="python -m detector.offline.feed", description=main.__doc__)
    ap.add_argument("file", type=Path)
    ap.add_argument("--records-per-message", type=int, default=100)
    ap.add_argument("--spread", action="store_true", help="round-robin batches over all partitions")
    ap.add_argument("--no-watermark", action="store_true", help="do not send the end-of-input watermark")
    args = ap.parse_args(argv)
    settings = Settings.from_env()
    ensure_topics(settings)
    topic = settings.topic("input")
    stats = feed_file(settings, topic, args.file, args.records_per_message, spread=args.spread)
    print(f"sent {stats.records} records in {stats.messages} messages to {topic}")
    if not args.no_watermark and stats.max_ts_ms >= 0:
        wm = end_watermark(stats.max_ts_ms, Config.from_env())
        send_watermark(settings, topic, wm)
        print(f"sent end-of-input watermark {wm}")


if __name__ == "__main__":
    main()
