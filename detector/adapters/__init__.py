"""Input adapters: other gateways' log records -> canonical records -> :class:`~detector.record.Event`.

Each adapter in :data:`ADAPTERS` maps one decoded foreign object to a canonical record dict
(``gateway-log-schema.md`` shape); it never validates. :func:`parse_foreign` frames a message like
:func:`detector.parse.parse_message` (one object, a JSON array, or NDJSON; for ``otel`` also an
OTLP export request holding many spans), converts each object, and validates the result with the
same parser as canonical input. So a foreign record is accepted or rejected for the same reasons
as a canonical one; an exception inside an adapter becomes a :class:`~detector.record.Rejection`
with reason ``adapter_error`` naming only the format and the exception type. A rejection keeps the
*foreign* record's bytes for the dead-letter topic.

Field mappings and their fall-back orders are documented in each module:
:mod:`~detector.adapters.litellm`, :mod:`~detector.adapters.otel`, :mod:`~detector.adapters.kong`.

>>> out = parse_foreign(
...     b'[{"started_at": 1795752873000, "consumer": {"id": "c-1"}}, {"started_at": 1795752874000}]', "kong")
>>> out[0].api_key_id, out[1].reason, out[1].detail
('c-1', 'missing_field', 'api_key_id: missing')
"""

from __future__ import annotations

from collections.abc import Callable

from detector.adapters import kong, litellm, otel
from detector.parse import MAX_RECORD_BYTES, RecordError, check_record, parse_message, raw_of, split_message
from detector.record import Event, Rejection

ADAPTERS: dict[str, Callable[[dict], dict]] = {
    "litellm": litellm.to_canonical,
    "otel": otel.to_canonical,
    "kong": kong.to_canonical,
}

FORMATS: tuple[str, ...] = ("canonical", *ADAPTERS)
"""Every input format: the canonical records of ``gateway-log-schema.md`` and each adapter's."""

_EXPAND: dict[str, Callable[[dict], list[dict]]] = {"otel": otel.spans}


def parse_input(raw: bytes, fmt: str = "canonical", *, reference_ms: int | None = None,
                max_bytes: int = MAX_RECORD_BYTES) -> list[Event | Rejection]:
    """Every record of one message in format ``fmt`` (one of :data:`FORMATS`), in input order.

    >>> [type(x).__name__ for x in parse_input(b'{"ts": 1795701787412, "api_key_id": "k"}')]
    ['Event']
    """
    if fmt == "canonical":
        return parse_message(raw, reference_ms=reference_ms, max_bytes=max_bytes)
    return parse_foreign(raw, fmt, reference_ms=reference_ms, max_bytes=max_bytes)


def parse_foreign(
    raw: bytes,
    fmt: str,
    *,
    reference_ms: int | None = None,
    max_bytes: int = MAX_RECORD_BYTES,
) -> list[Event | Rejection]:
    """Decode, convert and validate every record of a message in format ``fmt`` (a key of ADAPTERS)."""
    adapter = ADAPTERS.get(fmt)
    if adapter is None:
        raise ValueError(f"unknown input format {fmt!r}; expected one of {sorted(ADAPTERS)}")
    out: list[Event | Rejection] = []
    for unit in split_message(raw, max_bytes=max_bytes, expand=_EXPAND.get(fmt)):
        if type(unit) is Rejection:
            out.append(unit)
            continue
        obj, own = unit  # type: ignore[misc]
        try:
            record = adapter(obj)
        except Exception as exc:  # noqa: BLE001 - an adapter bug must not stop the stream
            out.append(Rejection("adapter_error", f"{fmt}: {type(exc).__name__}", raw_of(obj, own)))
            continue
        try:
            out.append(check_record(record, reference_ms=reference_ms))
        except RecordError as err:
            out.append(Rejection(err.reason, err.detail, raw_of(obj, own)))
    return out
