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
  parts (the string ``text`` of each part is joined with newlines; image parts add nothing). A
  ``user`` turn whose parts are only Anthropic ``tool_result`` blocks is a ``tool`` turn holding
  their text; in a mixed turn the tool results are left out of the user's text.
* ``system``/``developer`` messages are moved into :attr:`Event.system` (joined after the record's own
  ``system`` with a blank line), so ``Event.messages`` only holds ``user``/``assistant``/``tool``;
  the legacy ``function`` role counts as ``tool``.
* Identifier strings (ids, model, user agent, ...) longer than :data:`MAX_ID_CHARS` are truncated,
  not rejected: these fields are client-controlled, and a rejected record is an unseen request.
  A forwarded list in ``client_ip`` (``"203.0.113.7, 10.0.0.2"``) keeps its first (client) address.
* ``output`` (response text) is kept whole like prompt text (the record size limit bounds it);
  ``params.logit_bias`` becomes :attr:`Event.logit_bias_ids` (:func:`logit_bias_ids`) and gives
  ``logit_bias_size`` when that is absent.
* A JSON string escape of a lone UTF-16 surrogate (``"\\ud83d"``, which orjson refuses) is read as
  U+FFFD instead of rejecting the record (:func:`loads`). A JSON array whose elements do not all
  decode is split into its elements, each decoded on its own, so one bad record costs only itself.
* ``Rejection.detail`` names the field and the problem, never a value taken from the input.

Cost: linear in the record size and dominated by ``orjson.loads`` and the ``Event`` constructor;
no regular expression ever touches prompt text. With the compiled kernel, the bytes of one plainly
valid record (a line, or a message holding one object) are decoded and checked in one call that
builds no dict (:data:`_FUSED`); any other bytes take the orjson path described here, unchanged. A line larger than :data:`MAX_RECORD_BYTES` is
rejected before it is decoded; a message larger than :data:`MAX_MESSAGE_BYTES` is not decoded at all.
NDJSON is recognised when the message does not decode as one JSON value, so such a message costs
one extra partial decode. Input that orjson refuses costs one more decode attempt (and, for an
array, a byte scan to split it); valid input never takes that path.

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

import json
import re
from collections.abc import Callable
from dataclasses import MISSING
from dataclasses import fields as dataclass_fields
from datetime import datetime, timezone
from math import isfinite
from typing import Any

import orjson
import xxhash

from detector import compiled
from detector.record import Event, Message, Rejection
from detector.text import SEED

MAX_RECORD_BYTES = 2 * 1024 * 1024
"""Default size limit of one record; larger records are rejected with reason ``oversize``."""

MAX_MESSAGE_BYTES = 64 * 1024 * 1024
"""A message (array or NDJSON batch) larger than this is rejected whole, undecoded."""

MAX_ID_CHARS = 1024
"""Identifier-like strings are truncated to this many characters."""

MAX_LOGIT_BIAS_IDS = 1024
"""At most this many (the smallest) distinct ``logit_bias`` token ids are kept per request."""

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


# ----------------------------------------------------------------------------------------- decoding

_SURROGATE = re.compile("[\ud800-\udfff]")


def loads(raw: bytes | str) -> object:
    """Decode one JSON text like ``orjson.loads``, reading lone-surrogate escapes as U+FFFD.

    orjson refuses a ``\\udXXX`` escape that is not half of a pair; gateways that log client text
    (LiteLLM) write such escapes when a client sent broken UTF-16. Only when orjson fails and the text
    holds such an escape is it decoded again by the standard library, every lone surrogate replaced,
    and the result re-checked by orjson (so NaN, huge integers, ... stay errors). Raises
    ``orjson.JSONDecodeError`` (from the first attempt) when the text is still not acceptable.
    Invalid UTF-8 bytes, including UTF-8-encoded surrogates, are never repaired.

    >>> loads(b'{"p": "broken \\\\ud83d emoji"}')["p"]
    'broken \ufffd emoji'
    """
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as err:
        marker = b"\\u" if type(raw) is bytes else "\\u"
        if marker not in raw:  # type: ignore[operator]
            raise
        try:
            text = json.dumps(json.loads(raw), ensure_ascii=False)
            return orjson.loads(_SURROGATE.sub("\ufffd", text).encode("utf-8"))
        except (ValueError, RecursionError):  # UnicodeDecodeError and JSONDecodeError are ValueErrors
            raise err from None


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


Kind = tuple[str, int | float | None, int | float | None]
"""What a check accepts, for the compiled kernel: (kind, lo, hi) with kind ``int``, ``number``,
``bool``, ``text`` or ``timestamp``."""

_KINDS: dict[Check, Kind] = {}


def _kind(check: Check, kind: str, lo: int | float | None = None, hi: int | float | None = None) -> Check:
    _KINDS[check] = (kind, lo, hi)
    return check


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

    return _kind(check, "int", lo, hi)


def _number(lo: float, hi: float) -> Check:
    def check(value: object, path: str) -> float:
        kind = type(value)
        if kind is not float and kind is not int:
            raise _wrong_type(path, "a number")
        if not lo <= value <= hi:  # type: ignore[operator]  # also false for NaN
            raise RecordError("out_of_range", f"{path}: outside [{lo}, {hi}]")
        return float(value)  # type: ignore[arg-type]

    return _kind(check, "number", lo, hi)


def _text(value: object, path: str) -> str:
    if type(value) is not str:
        raise _wrong_type(path, "a string")
    return value  # type: ignore[return-value]


_kind(_flag, "bool")
_kind(_text, "text")
_kind(_timestamp, "timestamp")


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
    "output": ("output", _text, "output"),
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


_BIAS_SEED = SEED & 0x7FFFFFFF


def logit_bias_ids(bias: object, path: str = "params.logit_bias") -> tuple[int, ...]:
    """The sorted distinct token ids of a ``logit_bias`` map, at most :data:`MAX_LOGIT_BIAS_IDS`.

    Only the keys count: a decimal (ASCII digits) key is its integer, any other key the xxh3-64 of
    its UTF-8 (seed ``detector.text.SEED & 0x7FFFFFFF``), so tokenizer-specific keys still compare.
    Values must be numbers. Raises :class:`RecordError` ``wrong_type`` for a non-object map or a
    non-number value. Cost: linear in the map, plus a sort.

    >>> logit_bias_ids({"50256": -100, "12": 5.5, "7": 1})
    (7, 12, 50256)
    """
    if type(bias) is not dict:
        raise _wrong_type(path, "an object")
    ids = set()
    for key, value in bias.items():  # type: ignore[attr-defined]
        kind = type(value)
        if kind is not int and kind is not float:
            raise _wrong_type(f"{path} value", "a number")
        if type(key) is not str:
            raise _wrong_type(f"{path} key", "a string")
        if key.isdecimal() and key.isascii():
            ids.add(int(key))
        else:
            ids.add(xxhash.xxh3_64_intdigest(key.encode("utf-8", "surrogatepass"), _BIAS_SEED))
    ordered = sorted(ids)
    return tuple(ordered[:MAX_LOGIT_BIAS_IDS])


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


_TOOL_RESULT = "tool_result"


def _text_of(content: object, results: list[str] | None = None) -> object:
    """Text of a content value (str or list of parts), or ``_BAD``.

    The text of ``tool_result`` parts goes to ``results`` when it is given, else it is left out.
    """
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
            elif results is not None and part.get("type") == _TOOL_RESULT:
                result = _text_of(part.get("content"))
                results.append(result if type(result) is str else "")  # type: ignore[arg-type]
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
            results: list[str] = []
            content = _text_of(content, results)
            if content is _BAD:
                raise _wrong_type(f"messages[{i}].content", "a string, a list of parts or null")
            if results and not content and role == "user":  # only tool results: a tool turn
                role, content = "tool", "\n".join(results)
        if role == "system":
            if content is not None:
                system_parts.append(content)  # type: ignore[arg-type]
        else:
            out.append(Message(role, content))  # type: ignore[arg-type]
    return tuple(out)


# ------------------------------------------------------------------------------------ validation


def _kernel_specs(table: dict[str, _Spec]) -> list[tuple[str, str, str, int | float | None, int | float | None]]:
    return [(key, spec, "id", None, None) if type(spec) is str else (key, spec[0], *_KINDS[spec[1]])  # type: ignore[index]
            for key, spec in table.items()]


_KERNEL: Any = compiled.kernel(
    "RecordKernel",
    [(f.name, None if f.default is MISSING else f.default) for f in dataclass_fields(Event)],
    _kernel_specs(_TOP), _kernel_specs(_USAGE), _kernel_specs(_PARAMS), _ROLES, Message,
    (TS_MIN_MS, TS_MAX_MS, REFERENCE_WINDOW_MS, MAX_ID_CHARS, MAX_API_KEY_ID_CHARS, MAX_LOGIT_BIAS_IDS))
"""The compiled fast path of :func:`check_record` (:mod:`detector.compiled`), None when not built."""

_FUSED: Any = None if _KERNEL is None else _KERNEL.check
"""The fused decode + check: ``_KERNEL.check(raw)`` on a record's bytes gives what
``_KERNEL.check(orjson.loads(raw))`` gives for a plainly valid record, without building the dict, and
None for anything else (then the bytes take the orjson path). None when not built."""


def _fused(raw: bytes, reference_ms: int | None, max_bytes: int) -> Event | None:
    """The Event of one record's bytes by the fused decode + check, or None: orjson decides."""
    if _FUSED is not None and compiled.ON and len(raw) <= max_bytes \
            and (values := _FUSED(raw, reference_ms)) is not None:
        return Event(*values)
    return None


def check_record(obj: dict, *, reference_ms: int | None = None) -> Event:
    """Validate one decoded canonical record; raise :class:`RecordError` if it is unusable.

    This is the core of :func:`parse_record` without the size check and without building the
    :class:`Rejection`, for callers that produce canonical dicts themselves (the adapters). The
    compiled kernel checks a plainly valid record; for anything else (and without the kernel)
    :func:`check_record_reference` decides.
    """
    if _KERNEL is not None and compiled.ON and (values := _KERNEL.check(obj, reference_ms)) is not None:
        return Event(*values)
    return check_record_reference(obj, reference_ms=reference_ms)


def check_record_reference(obj: dict, *, reference_ms: int | None = None) -> Event:
    """The Python reference of :func:`check_record`: every rule, every error."""
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
    params = obj.get("params")
    _nested(fields, params, _PARAMS, "params")
    if params is not None and params.get("logit_bias") is not None:
        bias = params["logit_bias"]
        fields["logit_bias_ids"] = logit_bias_ids(bias)
        fields.setdefault("logit_bias_size", len(bias))
    ip = fields.get("client_ip")
    if ip is not None and "," in ip:  # X-Forwarded-For style list: the client comes first
        fields["client_ip"] = ip.partition(",")[0].strip() or None

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


# A JSON string (escapes skipped, unrolled so the regex engine never backtracks) or a structural byte.
_JSON_TOKEN = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[][{},]', re.DOTALL)
_OPEN, _CLOSE, _COMMA, _QUOTE = frozenset(b"[{"), frozenset(b"]}"), ord(","), ord('"')


def array_elements(raw: bytes) -> list[bytes] | None:
    """The top-level elements of a JSON array as byte slices, without decoding them.

    Returns ``None`` when ``raw`` does not start (after white space) with ``[``. Elements need not be
    valid JSON: strings are skipped by their quotes and escapes, and brackets are counted. When it
    fails: after an unterminated string the cuts are wrong, so the elements from there on decode
    badly and are rejected one by one; an unclosed array yields the elements seen so far plus the
    rest. Cost: one regex scan, linear in the size of ``raw``.

    >>> array_elements(b' [{"a": "x,]"}, 7 ,{"b": [1, 2]}] ')
    [b'{"a": "x,]"}', b'7', b'{"b": [1, 2]}']
    """
    start = len(raw) - len(raw.lstrip())
    if raw[start : start + 1] != b"[":
        return None
    parts: list[bytes] = []
    depth, begin = 0, start + 1
    for token in _JSON_TOKEN.finditer(raw, start):
        at = token.start()
        byte = raw[at]
        if byte == _QUOTE:
            continue
        if byte in _OPEN:
            depth += 1
        elif byte in _CLOSE:
            depth -= 1
            if depth == 0:
                begin = _cut(raw, begin, at, parts)
                return parts
        elif depth == 1:  # a comma between elements
            begin = _cut(raw, begin, at, parts) + 1
    _cut(raw, begin, len(raw), parts)
    return parts


def _cut(raw: bytes, begin: int, end: int, parts: list[bytes]) -> int:
    """Append ``raw[begin:end]`` stripped, unless it is blank after the last element."""
    part = raw[begin:end].strip()
    if part or raw[end : end + 1] == b",":
        parts.append(part)
    return end


def _salvage(
    raw: bytes,
    err: orjson.JSONDecodeError,
    out: list[Unit | Rejection],
    max_bytes: int,
    expand: Callable[[dict], list[dict]] | None,
) -> None:
    """Records of a JSON text that does not decode whole: each element of an array on its own.

    When no element is a usable record the text is one rejection with its own bytes, as before.
    """
    units: list[Unit | Rejection] = []
    for part in array_elements(raw) or ():
        _piece_units(part, units, max_bytes, expand, salvage=False)
    if any(type(unit) is tuple for unit in units):
        out.extend(units)
    else:
        out.append(_undecodable(raw, err))


def _piece_units(
    piece: bytes,
    out: list[Unit | Rejection],
    max_bytes: int,
    expand: Callable[[dict], list[dict]] | None,
    *,
    salvage: bool,
) -> None:
    """Append the records of one NDJSON line or array element; an undecodable one is salvaged
    (split if it is an array) when ``salvage``, else rejected with its own bytes."""
    if len(piece) > max_bytes:
        out.append(_oversize(piece, max_bytes))
        return
    try:
        value = loads(piece)
    except orjson.JSONDecodeError as err:
        if salvage:
            _salvage(piece, err, out, max_bytes, expand)
        else:
            out.append(_undecodable(piece, err))
        return
    _value_units(value, piece, out, max_bytes, expand)


def split_message(
    raw: bytes,
    *,
    max_bytes: int = MAX_RECORD_BYTES,
    expand: Callable[[dict], list[dict]] | None = None,
    fused: Callable[[bytes], Event | None] | None = None,
) -> list[Unit | Rejection | Event]:
    """Cut a message value into records: one object, a JSON array, or NDJSON (blank lines skipped).

    ``expand`` optionally turns one decoded object into several records (an OTLP export request
    into its spans); an exception from it rejects that object with reason ``adapter_error``.
    ``fused`` (canonical records only, so never with ``expand``) is tried first on each NDJSON
    line; the Event it returns is the line's record, already checked, and on None the line is
    decoded as before. When it takes the first of several lines, that line is one whole object, so
    the message cannot decode as one JSON value: it is read as NDJSON without trying.
    An empty or blank message holds no records. A one-line array (or NDJSON line holding an array)
    that does not decode is split into its elements, so its good records still come out.
    """
    if len(raw) > MAX_MESSAGE_BYTES:
        return [Rejection("oversize", f"message larger than {MAX_MESSAGE_BYTES} bytes", raw)]
    out: list[Unit | Rejection | Event] = []
    lines = None
    if fused is not None:
        lines = _lines(raw)
        if len(lines) > 1 and (first := fused(lines[0])) is not None:
            out.append(first)
            _line_units(lines[1:], out, max_bytes, expand, fused)
            return out
    try:
        value = loads(raw)
    except orjson.JSONDecodeError as err:
        lines = _lines(raw) if lines is None else lines
        if len(lines) == 1:
            _salvage(raw, err, out, max_bytes, expand)  # type: ignore[arg-type]
            return out
        _line_units(lines, out, max_bytes, expand, fused)
        return out
    _value_units(value, raw, out, max_bytes, expand)  # type: ignore[arg-type]
    return out


def _lines(raw: bytes) -> list[bytes]:
    """The non-blank lines of a message."""
    return [line for line in raw.splitlines() if line and not line.isspace()]


def _line_units(
    lines: list[bytes],
    out: list[Unit | Rejection | Event],
    max_bytes: int,
    expand: Callable[[dict], list[dict]] | None,
    fused: Callable[[bytes], Event | None] | None,
) -> None:
    """Append the records of NDJSON lines: the Event ``fused`` makes of a line, else its units."""
    for line in lines:
        if fused is not None and (event := fused(line)) is not None:
            out.append(event)
        else:
            _piece_units(line, out, max_bytes, expand, salvage=True)  # type: ignore[arg-type]


def parse_line(
    raw: bytes,
    *,
    reference_ms: int | None = None,
    max_bytes: int = MAX_RECORD_BYTES,
) -> Event | Rejection:
    """Decode and validate exactly one record (a JSONL line, or a one-record message)."""
    if len(raw) > max_bytes:
        return _oversize(raw, max_bytes)
    if (event := _fused(raw, reference_ms, max_bytes)) is not None:
        return event
    try:
        obj = loads(raw)
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
    if (event := _fused(raw, reference_ms, min(max_bytes, MAX_MESSAGE_BYTES))) is not None:
        return [event]  # one plainly valid object: what split_message + check_record give
    out: list[Event | Rejection] = []
    fused = None if _FUSED is None or not compiled.ON else lambda line: _fused(line, reference_ms, max_bytes)
    for unit in split_message(raw, max_bytes=max_bytes, fused=fused):
        if type(unit) is Rejection or type(unit) is Event:
            out.append(unit)  # type: ignore[arg-type]
            continue
        obj, own = unit  # type: ignore[misc]
        try:
            out.append(check_record(obj, reference_ms=reference_ms))
        except RecordError as err:
            out.append(Rejection(err.reason, err.detail, raw_of(obj, own)))
    return out
