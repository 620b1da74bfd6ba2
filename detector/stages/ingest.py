"""Stage 1, ingest: gateway messages in, feature rows by key partition and dead letters out.

Pure logic, no I/O: :meth:`Ingest.process` takes one batch of input messages
``(source partition, offset, value)`` -- or ``(source partition, offset, value, format)`` -- and
returns the messages to send. Each value may hold one record, a JSON array or NDJSON, in any of
:data:`detector.adapters.FORMATS`: the stage's default format (``DETECTOR_INPUT_FORMAT`` in live,
one per input topic) unless the message names its own (the ``x-input-format`` header in live).
Rejected records become dead letters (original bytes; ``x-reject-*`` and ``x-source-*`` headers).
Accepted events become :class:`~detector.features.EventFeatures` rows here, so no prompt text
leaves this stage.

Rows go to key partition ``xxh3_64(api_key_id) % P`` as :class:`~detector.stages.records.KeyedMessage`
records. For every source partition in the batch, every target partition gets at least one message
(so idle partitions' watermarks advance), and at most ``ceil(rows / rows_per_message)``. A message
carries ``t0`` (first event ts of this source in the batch, -1: none), ``hb`` (running max event
ts of the source through the batch; -1 on non-final chunks), ``c`` (final chunk only: the last
source offset of the batch, all rows through it were sent), ``i`` (1 if the source was caught up at
the end of the batch) and rows ``[src offset, index in message, pre, *features]``.

``pre`` is the largest event time of the source seen *before* that row (all keys, all targets)
within the batch: the window stage advances its watermark to it before adding the row, which is
exactly what the in-process :class:`~detector.pipeline.Detector` does record by record; earlier
batches reached every target through their ``hb``. So lateness does not depend on batching or on
how keys are spread over partitions, and a restarted ingest (stateless) re-sends identical rows.
With several source partitions, the window stage combines their heartbeats as the minimum over
sources that still have input to read (``"i": 0``), so a source that lags behind (a backlog) or a
watermark racing ahead on another partition does not make the lagging source's records late.

A control message ``{"__watermark__": <epoch ms>}`` on the input topic carries no record: it only
raises the source's running max (end of input, or an idle gateway). Replay treats end of input as
a flush; a watermark of ``floor(last event, fine bucket) + fine bucket + allowed lateness`` closes
exactly the epochs that flush closes. Anyone who can write the input topic can send one, so treat
input write access accordingly.

>>> ing = Ingest(partitions=2)
>>> out = ing.process([(0, 7, b'{"ts": 1795701787412, "api_key_id": "k1"}\\n{"ts": 1}')])
>>> sorted(p for p, _ in out.keyed), [h["x-reject-reason"] for _, h in out.dlq]
([0, 1], [b'out_of_range'])
>>> kong = b'{"started_at": 1795701787412, "consumer": {"id": "c-1"}}'
>>> Ingest(partitions=1, fmt="kong").process([(0, 8, kong)]).events
1
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import orjson
import xxhash

from detector.adapters import FORMATS, parse_input
from detector.features import extract
from detector.record import Rejection
from detector.stages.records import FlatRow, KeyedMessage, encode_keyed, flat_row

WATERMARK_FIELD = "__watermark__"
_WATERMARK_HINT = WATERMARK_FIELD.encode()
DLQ_HEADROOM = 64 * 1024


def target_partition(api_key_id: str, partitions: int) -> int:
    """Stable partition of a key (xxh3-64 of its UTF-8 bytes, mod ``partitions``).

    >>> target_partition("key_7f3a", 4) == target_partition("key_7f3a", 4)
    True
    """
    return xxhash.xxh3_64_intdigest(api_key_id.encode("utf-8", "surrogatepass")) % partitions


def watermark_of(raw: bytes) -> int | None:
    """The timestamp of a ``{"__watermark__": ms}`` control message, else None (a normal message).

    >>> watermark_of(b'{"__watermark__": 1795701787412}'), watermark_of(b'{"ts": 1}')
    (1795701787412, None)
    """
    if _WATERMARK_HINT not in raw[:64]:
        return None
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    if type(obj) is dict and len(obj) == 1 and type(obj.get(WATERMARK_FIELD)) is int:
        return obj[WATERMARK_FIELD]  # type: ignore[no-any-return]
    return None


def watermark_message(ts_ms: int) -> bytes:
    """The control message that advances every partition's watermark to ``ts_ms``."""
    return orjson.dumps({WATERMARK_FIELD: int(ts_ms)})


@dataclass(slots=True)
class IngestOutput:
    """Messages to send for one batch: ``keyed`` (target partition, value) in send order per target,
    ``dlq`` (value, headers)."""

    keyed: list[tuple[int, bytes]] = field(default_factory=list)
    dlq: list[tuple[bytes, dict[str, bytes]]] = field(default_factory=list)
    events: int = 0
    watermarks: int = 0
    rejected: dict[str, int] = field(default_factory=dict)


class Ingest:
    """Stage 1 for one worker. Stateless between batches."""

    def __init__(self, partitions: int, *, source_topic: str = "gateway-logs", rows_per_message: int = 2000,
                 max_dlq_bytes: int = 8 * 1024 * 1024, fmt: str = "canonical") -> None:
        if fmt not in FORMATS:
            raise ValueError(f"unknown input format {fmt!r}; expected one of {', '.join(FORMATS)}")
        self.partitions = partitions
        self.fmt = fmt
        self.source_topic = source_topic.encode()
        self.rows_per_message = max(1, rows_per_message)
        self.max_dlq_value = max(1024, max_dlq_bytes - DLQ_HEADROOM)

    def process(self, messages: Sequence[tuple[int, int, bytes | None] | tuple[int, int, bytes | None, str | None]],
                caught_up: dict[int, bool] | None = None) -> IngestOutput:
        """One batch of input messages ``(partition, offset, value[, format])`` -> messages to send.

        A message's own ``format`` (None: the stage's) must be one of :data:`~detector.adapters.FORMATS`;
        an unknown one rejects the message's bytes as ``unknown_format``. ``caught_up[source]`` says
        whether that source partition had nothing more to read after this batch (default: True).
        """
        out = IngestOutput()
        by_source: dict[int, list[tuple[int, bytes | None, str]]] = {}
        for msg in messages:
            fmt = (msg[3] if len(msg) > 3 else None) or self.fmt  # type: ignore[misc]
            by_source.setdefault(msg[0], []).append((msg[1], msg[2], fmt))
        for source in sorted(by_source):
            idle = True if caught_up is None else caught_up.get(source, True)
            self._source(source, by_source[source], out, idle)
        return out

    def _source(self, source: int, messages: list[tuple[int, bytes | None, str]], out: IngestOutput,
                idle: bool) -> None:
        nparts = self.partitions
        rows: list[list[FlatRow]] = [[] for _ in range(nparts)]
        running = -1
        t0 = -1
        last_offset = -1
        for offset, raw, fmt in messages:
            last_offset = max(last_offset, offset)
            if not raw:
                continue
            wm = watermark_of(raw)
            if wm is not None:
                out.watermarks += 1
                running = max(running, wm)
                continue
            if fmt not in FORMATS:
                self._reject(out, "unknown_format", f"unknown input format {fmt[:40]!r}", raw, source, offset)
                continue
            for idx, item in enumerate(parse_input(raw, fmt)):
                if type(item) is Rejection:
                    self._reject(out, item.reason, item.detail, item.raw, source, offset)
                    continue
                try:
                    f = extract(item)  # type: ignore[arg-type]
                except Exception as exc:  # noqa: BLE001 - a record the extractor cannot handle is a dead letter
                    self._reject(out, "feature_error", f"feature extraction failed: {type(exc).__name__}",
                                 orjson.dumps(_event_skeleton(item)), source, offset)
                    continue
                out.events += 1
                ts = f.ts_ms
                if t0 < 0:
                    t0 = ts
                rows[target_partition(f.api_key_id, nparts)].append(flat_row(offset, idx, running, f))
                if ts > running:
                    running = ts
        step = self.rows_per_message
        for target in range(nparts):
            target_rows = rows[target]
            chunks = [target_rows[i:i + step] for i in range(0, len(target_rows), step)] or [[]]
            for n, chunk in enumerate(chunks):
                final = n == len(chunks) - 1
                msg = KeyedMessage(source, t0, running if final else -1, last_offset if final else None,
                                   idle, chunk)
                out.keyed.append((target, encode_keyed(msg)))

    def _reject(self, out: IngestOutput, reason: str, detail: str, raw: bytes, source: int, offset: int) -> None:
        out.rejected[reason] = out.rejected.get(reason, 0) + 1
        out.dlq.append(dead_letter(reason, detail, raw, self.source_topic, source, offset, self.max_dlq_value))


def dead_letter(reason: str, detail: str, raw: bytes, source_topic: bytes, source: int, offset: int,
                max_value: int) -> tuple[bytes, dict[str, bytes]]:
    """A dead-letter message: the original bytes (cut to ``max_value``) and its ``x-*`` headers."""
    headers = {
        "x-reject-reason": reason.encode(),
        "x-reject-detail": detail.encode("utf-8", "replace"),
        "x-source-topic": source_topic,
        "x-source-partition": str(source).encode(),
        "x-source-offset": str(offset).encode(),
    }
    if len(raw) > max_value:
        headers["x-truncated-from"] = str(len(raw)).encode()
        raw = raw[:max_value]
    return raw, headers


def _event_skeleton(ev: object) -> dict:
    """What a dead letter keeps of an event the extractor rejected: its id fields, never its text."""
    return {"ts": getattr(ev, "ts_ms", None), "api_key_id": getattr(ev, "api_key_id", None),
            "request_id": getattr(ev, "request_id", None), "note": "event dropped by feature extraction"}
