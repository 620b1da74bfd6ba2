"""Canonical gateway records (``gateway-log-schema.md`` v1): bytes -> :class:`Event` or :class:`Rejection`.

Three entry points, one per framing:

* :func:`parse_record` validates an already-decoded JSON value;
* :func:`parse_line` decodes one record (a JSONL line, a single-record Kafka message);
* :func:`parse_message` decodes a Kafka message value holding one object, a JSON array of objects, or
  newline-delimited records, and returns one result per record in input order. A bad record never
  disturbs its neighbours: each becomes its own :class:`Rejection` carrying its own bytes.

Assumptions and normalisation:

* ``ts`` is an RFC 3339 string *with* an offset (``Z`` or ``±hh:mm``; any number of fractional
  digits, sub-microsecond digits are dropped; other ISO 8601 forms ``datetime.fromisoformat`` reads
  are tolerated) or a number of epoch milliseconds. Accepted range is
  2015-01-01 .. 2100-01-01; with ``reference_ms`` also within 7 days of it. No wall clock is read,
  so the same input always gives the same output.
* ``null`` in an optional field means absent. Unknown fields are ignored. Booleans are not numbers.
* Message content may be a string, ``null``/absent (not logged), or an OpenAI/Anthropic list of
  parts (the string ``text`` of each part is joined with newlines; image parts add nothing).
* ``system``/``developer`` messages are moved into :attr:`Event.system` (joined after the record's own
  ``system`` with a blank line), so ``Event.messages`` only holds ``user``/``assistant``/``tool``;
  the legacy ``function`` role counts as ``tool``.
* Identifier strings (ids, model, user agent, ...) longer than :data:`MAX_ID_CHARS` are truncated,
  not rejected: these fields are client-controlled, and a rejected record is an unseen request.
* ``Rejection.detail`` names the field and the problem, never a value taken from the input.

Cost: linear in the record size and dominated by ``orjson.loads`` and the ``Event`` constructor;
no regular expression ever touches prompt text. A line larger than :data:`MAX_RECORD_BYTES` is
rejected before it is decoded; a message larger than :data:`MAX_MESSAGE_BYTES` is not decoded at all.
NDJSON is recognised when the message does not decode as one JSON value, so such a message costs
one extra partial decode.

>>> ev = parse_line(b'{"ts": "2026-11-26T14:03:07.412Z", "api_key_id": "key_7f3a", '
...                 b'"usage": {"input_tokens": 412}, "messages": [{"role": "user", "content": "hi"}]}')
>>> ev.ts_ms, ev.api_key_id, ev.input_tokens, ev.messages[0].content
(1795701787412, 'key_7f3a', 412, 'hi')
>>> parse_line(b'{"ts": 1795788187412}').detail
'api_key_id: missing'
>>> [type(r).__name__ for r in parse_message(b'{"ts": 1795701787412, "api_key_id": "a"}\\nnope\\n')]
['Event', 'Rejection']
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from math import isfinite

import orjson

from detector.record import Event, Message, Rejection

MAX_RECORD_BYTES = 2 * 1024 * 1024
"""Default size limit of one record; larger records are rejected with reason ``oversize``."""

MAX_MESSAGE_BYTES = 64 * 1024 * 1024
"""A message (array or NDJSON batch) larger than this is rejected whole, undecoded."""

MAX_ID_CHARS = 1024
"""Identifier-like strings are truncated to this many characters."""

MAX_API_KEY_ID_CHARS = 256
MAX_TOKENS = 10_000_000
TS_MIN_MS = 1_420_070_400_000  # 2015-01-01T00:00:00Z
TS_MAX_MS = 4_102_444_800_000  # 2100-01-01T00:00:00Z
REFERENCE_WINDOW_MS = 7 * 86_400_000
MAX_TS_CHARS = 64

Unit = tuple[dict, bytes | None]
"""One record's decoded object and its own bytes; ``None`` when the record came out of a container
that was within the size limit, so its bytes are only needed (re-serialised) if it is rejected."""


class RecordError(ValueError):
    """A record failed validation; ``reason`` is a :class:`Rejection` reason code."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def _wrong_type(path: str, expected: str) -> RecordError:
    return RecordError("wrong_type", f"{path}: expected {expected}")


# --------------------------------------------------------------------------------------- timestamps

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def rfc3339_ms(text: str, *, assume_utc: bool = False) -> int:
    """Epoch milliseconds of an RFC 3339 timestamp (``T``/``t``/space separator, any fraction).

    A timestamp without an offset raises ``ValueError`` unless ``assume_utc`` (for sources that are
    documented to log naive UTC). The error message never quotes the input.

    >>> rfc3339_ms("2026-11-26T14:03:07.412123456+01:00")
    1795698187412
    >>> rfc3339_ms("2026-11-26 14:03:07", assume_utc=True)
    1795701787000
    """
    if len(text) > MAX_TS_CHARS:
        raise ValueError("timestamp too long")
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        try:  # RFC 3339 allows lower-case "t" and "z"; fromisoformat does not
            dt = datetime.fromisoformat(text.upper())
        except ValueError:
            raise ValueError("not an RFC 3339 timestamp") from None
    if dt.tzinfo is None:
        if not assume_utc:
            raise ValueError("timestamp has no UTC offset")
        dt = dt.replace(tzinfo=timezone.utc)
    since = dt - _EPOCH  # exact integer arithmetic (timedelta // timedelta is 3x slower)
    return since.days * 86_400_000 + since.seconds * 1000 + since.microseconds // 1000


def _timestamp(value: object, path: str) -> int:
    kind = type(value)
    if kind is str:
        try:
            ms = rfc3339_ms(value)  # type: ignore[arg-type]
        except ValueError as exc:
            raise RecordError("bad_timestamp", f"{path}: {exc}") from None
    elif kind is int:
        ms = value  # type: ignore[assignment]
    elif kind is float:
        if not isfinite(value):  # type: ignore[arg-type]
            raise RecordError("bad_timestamp", f"{path}: not a finite number")
        ms = int(value)  # type: ignore[call-overload]
    else:
        raise _wrong_type(path, "an RFC 3339 string or epoch milliseconds")
    if not TS_MIN_MS <= ms < TS_MAX_MS:
        raise RecordError("out_of_range", f"{path}: outside 2015-01-01 .. 2100-01-01")
    return ms


# --------------------------------------------------------------------------------- scalar checks

Check = Callable[[object, str], object]


def _flag(value: object, path: str) -> bool:
    if type(value) is not bool:
        raise _wrong_type(path, "a boolean")
    return value  # type: ignore[return-value]


def _integer(lo: int, hi: int) -> Check:
    def check(value: object, path: str) -> int:
        if type(value) is not int:
            raise _wrong_type(path, "an integer")
        if not lo <= value <= hi:  # type: ignore[operator]
            raise RecordError("out_of_range", f"{path}: outside [{lo}, {hi}]")
        return value  # type: ignore[return-value]

    return check


def _number(lo: float, hi: float) -> Check:
    def check(value: object, path: str) -> float:
        kind = type(value)
        if kind is not float and kind is not int:
            raise _wrong_type(path, "a number")
        if not lo <= value <= hi:  # type: ignore[operator]  # also false for NaN
            raise RecordError("out_of_range", f"{path}: outside [{lo}, {hi}]")
        return float(value)  # type: ignore[arg-type]

    return check


_tokens = _integer(0, MAX_TOKENS)

# source key -> (Event field, check, path used in details); a bare string is an identifier field of
# that name, checked inline in _fill to save a function call per field.
_Spec = tuple[str, Check, str] | str
_TOP: dict[str, _Spec] = {
    "request_id": "request_id",
    "account_id": "account_id",
    "account_created_at": ("account_created_ms", _timestamp, "account_created_at"),
    "end_user_id": "end_user_id",
    "client_ip": "client_ip",
    "user_agent": "user_agent",
    "model": "model",
    "endpoint": "endpoint",
    "status": ("status", _integer(100, 599), "status"),
    "latency_ms": ("latency_ms", _number(0, 7 * 86_400_000), "latency_ms"),
    "finish_reason": "finish_reason",
}
_USAGE: dict[str, _Spec] = {
    key: (key, _tokens, f"usage.{key}") for key in ("input_tokens", "output_tokens", "reasoning_tokens")
}
_PARAMS: dict[str, _Spec] = {
    key: (key, check, f"params.{key}")
    for key, check in (
        ("temperature", _number(0, 5)),
        ("top_p", _number(0, 1)),
        ("max_tokens", _tokens),
        ("n", _integer(1, 1000)),
        ("seed", _integer(-(2**63), 2**64 - 1)),
        ("stream", _flag),
        ("logprobs", _flag),
        ("top_logprobs", _integer(0, 1000)),
        ("logit_bias_size", _integer(0, 1_000_000)),
        ("tools", _integer(0, 100_000)),
        ("thinking_budget", _tokens),
    )
}


def _fill(out: dict, source: dict, table: dict[str, _Spec]) -> None:
    for key, value in source.items():
        spec = table.get(key)
        if spec is None or value is None:
            continue
        if type(spec) is str:
            if type(value) is not str:
                raise _wrong_type(key, "a string")
            out[spec] = value if len(value) <= MAX_ID_CHARS else value[:MAX_ID_CHARS]
        else:
            dest, check, path = spec  # type: ignore[misc]
            out[dest] = check(value, path)


def _nested(out: dict, value: object, table: dict[str, _Spec], path: str) -> None:
    if value is None:
        return
    if type(value) is not dict:
        raise _wrong_type(path, "an object")
    _fill(out, value, table)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------- messages

_ROLES = {
    "user": "user",
    "assistant": "assistant",
    "tool": "tool",
    "function": "tool",
    "system": "system",
    "developer": "system",
}
_BAD = object()


def _text_of(content: object) -> object:
    """Text of a content value (str or list of parts), or ``_BAD``."""
    if type(content) is str:
        return content
    if type(content) is not list:
        return _BAD
    texts = []
    for part in content:  # type: ignore[attr-defined]
        kind = type(part)
        if kind is dict:
            text = part.get("text")
            if type(text) is str:
                texts.append(text)
        elif kind is str:
            texts.append(part)
        else:
            return _BAD
    return "\n".join(texts)


def _messages(value: object, system_parts: list[str]) -> tuple[Message, ...]:
    if type(value) is not list:
        raise _wrong_type("messages", "a list")
    out = []
    for i, msg in enumerate(value):  # type: ignore[arg-type]
        if type(msg) is not dict:
            raise _wrong_type(f"messages[{i}]", "an object")
        role = msg.get("role")
        if type(role) is not str:
            raise _wrong_type(f"messages[{i}].role", "a string")
        role = _ROLES.get(role)
        if role is None:
            raise RecordError("out_of_range", f"messages[{i}].role: not user/assistant/tool/system")
        content = msg.get("content")
        if content is not None and type(content) is not str:
            content = _text_of(content)
            if content is _BAD:
                raise _wrong_type(f"messages[{i}].content", "a string, a list of parts or null")
        if role == "system":
            if content is not None:
                system_parts.append(content)  # type: ignore[arg-type]
        else:
            out.append(Message(role, content))  # type: ignore[arg-type]
    return tuple(out)


# ------------------------------------------------------------------------------------ validation


def check_record(obj: dict, *, reference_ms: int | None = None) -> Event:
    """Validate one decoded canonical record; raise :class:`RecordError` if it is unusable.

    This is the core of :func:`parse_record` without the size check and without building the
    :class:`Rejection`, for callers that produce canonical dicts themselves (the adapters).
    """
    ts = obj.get("ts")
    if ts is None:
        raise RecordError("missing_field", "ts: missing")
    ts_ms = _timestamp(ts, "ts")
    if reference_ms is not None and abs(ts_ms - reference_ms) > REFERENCE_WINDOW_MS:
        raise RecordError("out_of_range", "ts: more than 7 days from the reference time")
    key = obj.get("api_key_id")
    if key is None:
        raise RecordError("missing_field", "api_key_id: missing")
    if type(key) is not str:
        raise _wrong_type("api_key_id", "a string")
    if not 1 <= len(key) <= MAX_API_KEY_ID_CHARS:
        raise RecordError("out_of_range", f"api_key_id: length outside 1..{MAX_API_KEY_ID_CHARS}")

    fields: dict = {}
    _fill(fields, obj, _TOP)
    _nested(fields, obj.get("usage"), _USAGE, "usage")
    _nested(fields, obj.get("params"), _PARAMS, "params")

    system_parts: list[str] = []
    system = obj.get("system")
    if system is not None:
        text = _text_of(system)
        if text is _BAD:
            raise _wrong_type("system", "a string or a list of parts")
        system_parts.append(text)  # type: ignore[arg-type]
    messages = obj.get("messages")
    if messages is not None:
        fields["messages"] = _messages(messages, system_parts)
    if system_parts:
        fields["system"] = system_parts[0] if len(system_parts) == 1 else "\n\n".join(system_parts)
    return Event(ts_ms=ts_ms, api_key_id=key, **fields)


def parse_record(
    obj: object,
    raw: bytes,
    *,
    reference_ms: int | None = None,
    max_bytes: int = MAX_RECORD_BYTES,
) -> Event | Rejection:
    """Validate a decoded JSON value whose serialised form is ``raw``.

    >>> parse_record({"ts": 1795701787412, "api_key_id": "k", "params": {"n": True}}, b"").reason
    'wrong_type'
    """
    if len(raw) > max_bytes:
        return _oversize(raw, max_bytes)
    if type(obj) is not dict:
        return Rejection("not_object", "record is not a JSON object", raw)
    try:
        return check_record(obj, reference_ms=reference_ms)  # type: ignore[arg-type]
    except RecordError as err:
        return Rejection(err.reason, err.detail, raw)


# --------------------------------------------------------------------------------------- framing


def _undecodable(raw: bytes, err: orjson.JSONDecodeError) -> Rejection:
    """The Rejection for bytes orjson refused: ``not_utf8`` or ``not_json``, position only."""
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as bad:
        return Rejection("not_utf8", f"invalid UTF-8 at byte {bad.start}", raw)
    return Rejection("not_json", f"invalid JSON near byte {err.pos}", raw)


def raw_of(obj: object, raw: bytes | None) -> bytes:
    """The bytes to keep with a rejected record: its own, or its re-serialisation."""
    return raw if raw is not None else orjson.dumps(obj)


def _oversize(raw: bytes, max_bytes: int) -> Rejection:
    return Rejection("oversize", f"record larger than {max_bytes} bytes", raw)


def _value_units(
    value: object,
    raw: bytes,
    out: list[Unit | Rejection],
    max_bytes: int,
    expand: Callable[[dict], list[dict]] | None,
) -> None:
    """Append the records of one decoded JSON value (a message, or one NDJSON line) to ``out``.

    Elements of a container within the size limit cannot exceed it, so they are measured (by
    re-serialising them) only when the container is bigger than ``max_bytes``.
    """
    small = len(raw) <= max_bytes
    kind = type(value)
    if kind is dict:
        try:
            records = [value] if expand is None else expand(value)  # type: ignore[arg-type]
        except Exception as exc:  # noqa: BLE001 - any adapter bug becomes a Rejection
            out.append(Rejection("adapter_error", f"cannot split: {type(exc).__name__}", raw))
            return
        if len(records) == 1 and records[0] is value:
            out.append((value, raw) if small else _oversize(raw, max_bytes))  # type: ignore[arg-type]
            return
    elif kind is list:
        records = value  # type: ignore[assignment]
    else:
        out.append(Rejection("not_object", "record is not a JSON object", raw))
        return
    for i, item in enumerate(records):
        if type(item) is not dict:
            out.append(Rejection("not_object", f"element {i} is not a JSON object", orjson.dumps(item)))
        elif small:
            out.append((item, None))
        else:
            own = orjson.dumps(item)
            out.append((item, own) if len(own) <= max_bytes else _oversize(own, max_bytes))


def split_message(
    raw: bytes,
    *,
    max_bytes: int = MAX_RECORD_BYTES,
    expand: Callable[[dict], list[dict]] | None = None,
) -> list[Unit | Rejection]:
    """Cut a message value into records: one object, a JSON array, or NDJSON (blank lines skipped).

    ``expand`` optionally turns one decoded object into several records (an OTLP export request
    into its spans); an exception from it rejects that object with reason ``adapter_error``.
    An empty or blank message holds no records.
    """
    if len(raw) > MAX_MESSAGE_BYTES:
        return [Rejection("oversize", f"message larger than {MAX_MESSAGE_BYTES} bytes", raw)]
    out: list[Unit | Rejection] = []
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as err:
        lines = [line for line in raw.splitlines() if line and not line.isspace()]
        if not lines:
            return out
        if len(lines) == 1:
            return [_undecodable(raw, err)]
        for line in lines:
            if len(line) > max_bytes:
                out.append(_oversize(line, max_bytes))
                continue
            try:
                value = orjson.loads(line)
            except orjson.JSONDecodeError as line_err:
                out.append(_undecodable(line, line_err))
                continue
            _value_units(value, line, out, max_bytes, expand)
        return out
    _value_units(value, raw, out, max_bytes, expand)
    return out


def parse_line(
    raw: bytes,
    *,
    reference_ms: int | None = None,
    max_bytes: int = MAX_RECORD_BYTES,
) -> Event | Rejection:
    """Decode and validate exactly one record (a JSONL line, or a one-record message)."""
    if len(raw) > max_bytes:
        return _oversize(raw, max_bytes)
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as err:
        return _undecodable(raw, err)
    return parse_record(obj, raw, reference_ms=reference_ms, max_bytes=max_bytes)


def parse_message(
    raw: bytes,
    *,
    reference_ms: int | None = None,
    max_bytes: int = MAX_RECORD_BYTES,
) -> list[Event | Rejection]:
    """Decode and validate every record of a Kafka message value, in input order."""
    out: list[Event | Rejection] = []
    for unit in split_message(raw, max_bytes=max_bytes):
        if type(unit) is Rejection:
            out.append(unit)
            continue
        obj, own = unit  # type: ignore[misc]
        try:
            out.append(check_record(obj, reference_ms=reference_ms))
        except RecordError as err:
            out.append(Rejection(err.reason, err.detail, raw_of(obj, own)))
    return out
