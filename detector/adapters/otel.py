"""OpenTelemetry GenAI span (JSON) -> canonical record (a dict for :func:`detector.parse.check_record`).

Two span shapes are read: the Python SDK's ``ReadableSpan.to_json()`` (``attributes`` a map,
``start_time`` ISO 8601, ``status.status_code``) and OTLP/JSON (``attributes`` a list of
``{key, value: {stringValue|intValue|doubleValue|boolValue|arrayValue|kvlistValue}}``,
``startTimeUnixNano``, ``status.code``). :func:`spans` also opens an OTLP export request
(``{"resourceSpans": [{"scopeSpans": [{"spans": [...]}]}]}``, the OTel Collector's Kafka exporter
``otlp_json`` encoding) into its spans.

Attributes, first present wins (old and new GenAI semantic-convention names are both read):

============== ==================================================================================
api_key_id     ``api_key_id`` (custom), ``metadata.user_api_key_hash``, ``metadata.user_api_key_alias``
               (LiteLLM); none -> rejected ``missing_field``
account_id     LiteLLM ``metadata.user_api_key_org_id`` / ``_team_id`` / ``metadata.team_id``
end_user_id    ``metadata.user_api_key_end_user_id``, ``llm.user`` (LiteLLM), ``enduser.id``, ``user.id``
request_id     ``gen_ai.response.id``, ``litellm.call_id``
model          ``gen_ai.request.model``, ``gen_ai.response.model``
usage          ``gen_ai.usage.input_tokens``/``prompt_tokens``, ``output_tokens``/``completion_tokens``,
               ``gen_ai.usage.reasoning.output_tokens``
params         ``gen_ai.request.{temperature, top_p, max_tokens, seed, choice.count, stream}``,
               LiteLLM's ``llm.is_streaming`` ("True"/"False")
messages       ``gen_ai.input.messages`` (JSON string or list of ``{role, parts}``; text parts kept),
               else the older flattened ``gen_ai.prompt.<i>.role`` / ``.content``
system         ``gen_ai.system_instructions`` (JSON parts, or plain text)
finish_reason  first of ``gen_ai.response.finish_reasons`` (list, or a JSON string as LiteLLM writes)
status         ``http.response.status_code`` / ``http.status_code``; else span status OK -> 200,
               ERROR -> ``error.type`` if it is an HTTP status, else 500; UNSET -> absent
============== ==================================================================================

Every span given is converted, whatever its name: LiteLLM's ``raw_gen_ai_request`` child span
carries only ``metadata.user_api_key_team_id`` and so is rejected with ``missing_field
api_key_id``. Feed only inference spans (filter on ``gen_ai.operation.name`` upstream) to keep such
rejections out of the dead-letter topic.

>>> span = {"startTimeUnixNano": "1795752873000000000", "endTimeUnixNano": "1795752873250000000",
...         "attributes": [{"key": "api_key_id", "value": {"stringValue": "k1"}},
...                        {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "12"}}]}
>>> rec = to_canonical(span)
>>> rec["ts"], rec["latency_ms"], rec["api_key_id"], rec["usage"]["input_tokens"]
(1795752873000, 250, 'k1', 12)
"""

from __future__ import annotations

from collections.abc import Callable

import orjson

from detector.adapters.litellm import as_dict, first, key_fields
from detector.parse import rfc3339_ms


def spans(obj: dict) -> list[dict]:
    """The spans of an OTLP/JSON export request, or ``[obj]`` when ``obj`` is a single span."""
    groups = obj.get("resourceSpans")
    if groups is None:
        return [obj]
    return [
        span
        for group in groups
        for scope in group.get("scopeSpans") or group.get("instrumentationLibrarySpans") or ()
        for span in scope.get("spans") or ()
    ]


def _any_value(value: object) -> object:
    """Python value of an OTLP/JSON ``AnyValue`` (``intValue`` is a decimal string in proto3 JSON)."""
    if not isinstance(value, dict):
        return value
    for key, convert in _ANY_VALUE.items():
        if key in value:
            return convert(value[key])
    return None


_ANY_VALUE: dict[str, Callable[[object], object]] = {
    "stringValue": lambda v: v,
    "boolValue": lambda v: v,
    "intValue": lambda v: int(v),  # type: ignore[call-overload]
    "doubleValue": lambda v: float(v),  # type: ignore[arg-type]
    "arrayValue": lambda v: [_any_value(item) for item in as_dict(v).get("values") or ()],
    "kvlistValue": lambda v: {kv["key"]: _any_value(kv.get("value")) for kv in as_dict(v).get("values") or ()},
}


def attributes(span: dict) -> dict:
    """A span's attributes as a flat ``{name: value}`` map, whichever JSON shape it came in."""
    attrs = span.get("attributes")
    if attrs is None:
        return {}
    if isinstance(attrs, dict):
        return attrs
    return {item["key"]: _any_value(item.get("value")) for item in attrs}


def _time_ms(span: dict, iso_key: str, nano_key: str) -> object:
    nanos = span.get(nano_key)
    if nanos is not None:
        return int(nanos) // 1_000_000
    iso = span.get(iso_key)
    if isinstance(iso, str):
        try:
            return rfc3339_ms(iso)
        except ValueError:
            return iso  # the parser rejects it as bad_timestamp
    return iso


def _json(value: object) -> object:
    """Attributes holding structures are often JSON strings; decode those, keep anything else."""
    if isinstance(value, str) and value[:1] in ("[", "{"):
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            return value
    return value


def _text_parts(parts: object) -> list[dict]:
    """GenAI message parts -> ``[{"text": ...}]`` for the parser to join (non-text parts dropped)."""
    if not isinstance(parts, list):
        return []
    return [{"text": p.get("content")} for p in parts if isinstance(p, dict) and p.get("type") == "text"]


def _input_messages(attrs: dict) -> object:
    messages = _json(attrs.get("gen_ai.input.messages"))
    if isinstance(messages, list):
        return [
            {"role": m.get("role"), "content": _text_parts(m["parts"]) if "parts" in m else m.get("content")}
            if isinstance(m, dict)
            else m
            for m in messages
        ]
    # older conventions (and older LiteLLM): gen_ai.prompt.<i>.role / gen_ai.prompt.<i>.content
    flat: dict[int, dict] = {}
    for name, value in attrs.items():
        if name.startswith("gen_ai.prompt."):
            index, _, field = name[len("gen_ai.prompt.") :].partition(".")
            if index.isdecimal() and field in ("role", "content"):
                flat.setdefault(int(index), {})[field] = value
    return [flat[i] for i in sorted(flat)] if flat else None


def _system(attrs: dict) -> object:
    system = _json(attrs.get("gen_ai.system_instructions"))
    return _text_parts(system) if isinstance(system, list) else system


def _finish_reason(value: object) -> object:
    value = _json(value)
    if isinstance(value, (list, tuple)):
        return value[0] if value else None
    return value


_BOOL_STRINGS = {"True": True, "False": False, "true": True, "false": False}


def _flag(value: object) -> object:
    """LiteLLM writes booleans as "True"/"False" strings."""
    return _BOOL_STRINGS.get(value, value) if isinstance(value, str) else value


def _status(span: dict, attrs: dict) -> object:
    http = first(attrs.get("http.response.status_code"), attrs.get("http.status_code"))
    if http is not None:
        return int(http) if isinstance(http, str) and http.isdecimal() else http
    state = as_dict(span.get("status"))
    code = first(state.get("status_code"), state.get("code"))
    if code in ("OK", "STATUS_CODE_OK", 1):
        return 200
    if code in ("ERROR", "STATUS_CODE_ERROR", 2):
        error = attrs.get("error.type")
        return int(error) if isinstance(error, str) and error.isdecimal() and 100 <= int(error) <= 599 else 500
    return None


def to_canonical(span: dict) -> dict:
    """One GenAI span -> one canonical record dict (see the module table)."""
    attrs = attributes(span)
    get = attrs.get
    ident = key_fields(lambda name: get("metadata." + name))
    start = _time_ms(span, "start_time", "startTimeUnixNano")
    end = _time_ms(span, "end_time", "endTimeUnixNano")
    return {
        "ts": start,
        "latency_ms": end - start if type(start) is int and type(end) is int and end >= start else None,
        "request_id": get("gen_ai.response.id") or get("litellm.call_id") or None,
        "api_key_id": get("api_key_id") or ident["api_key_id"],
        "account_id": ident["account_id"],
        "end_user_id": ident["end_user_id"] or get("llm.user") or get("enduser.id") or get("user.id") or None,
        "client_ip": ident["client_ip"] or get("client.address") or None,
        "user_agent": ident["user_agent"] or get("user_agent.original") or None,
        "endpoint": ident["endpoint"],
        "model": get("gen_ai.request.model") or get("gen_ai.response.model") or None,
        "status": _status(span, attrs),
        "usage": {
            "input_tokens": first(get("gen_ai.usage.input_tokens"), get("gen_ai.usage.prompt_tokens")),
            "output_tokens": first(get("gen_ai.usage.output_tokens"), get("gen_ai.usage.completion_tokens")),
            "reasoning_tokens": get("gen_ai.usage.reasoning.output_tokens"),
        },
        "params": {
            "temperature": get("gen_ai.request.temperature"),
            "top_p": get("gen_ai.request.top_p"),
            "max_tokens": get("gen_ai.request.max_tokens"),
            "seed": get("gen_ai.request.seed"),
            "n": get("gen_ai.request.choice.count"),
            "stream": _flag(first(get("gen_ai.request.stream"), get("llm.is_streaming"))),
        },
        "system": _system(attrs),
        "messages": _input_messages(attrs),
        "finish_reason": _finish_reason(get("gen_ai.response.finish_reasons")),
    }
