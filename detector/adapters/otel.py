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
messages       ``gen_ai.input.messages`` (JSON string or list of ``{role, parts}``), else the older
               flattened ``gen_ai.prompt.<i>.role`` / ``.content``. Text parts (``content`` or
               ``text``) are kept; a turn of only ``tool_result`` / ``tool_call_response`` parts is
               a ``tool`` turn; a ``redacted-by-litellm`` part -> content not logged. LiteLLM
               flattens a Responses API ``function_call`` / ``function_call_output`` item into a
               user turn with one empty text part, so in a Responses span (``llm.request.type`` or
               ``gen_ai.operation.name`` = ``responses``) a turn of only empty text is not logged
               (``None``), not an empty turn.
system         ``gen_ai.system_instructions`` (JSON parts, or plain text)
output         ``gen_ai.output.messages`` text parts, else ``gen_ai.completion.<i>.content``
tools          ``gen_ai.tool.definitions`` (list or JSON list), else the number of distinct
               ``llm.request.functions.<i>.*`` (LiteLLM)
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

from detector.adapters.litellm import as_dict, conversation, first, key_fields, redacted
from detector.parse import loads, rfc3339_ms


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
            return loads(value)
        except orjson.JSONDecodeError:
            return value
    return value


_TOOL_RESULT_PARTS = ("tool_result", "tool_call_response")


def _parts(parts: object) -> list[dict]:
    """GenAI message parts -> canonical parts: ``{"text"}`` and ``{"type": "tool_result", "content"}``."""
    if not isinstance(parts, list):
        return []
    out = []
    for part in parts:
        kind = as_dict(part).get("type")
        if kind == "text":
            out.append({"text": first(part.get("content"), part.get("text"))})
        elif kind in _TOOL_RESULT_PARTS:
            out.append({"type": "tool_result", "content": first(part.get("content"), part.get("response"))})
    return out


def _message(message: object, responses: bool) -> object:
    """One ``{role, parts}`` input message -> a canonical message (see the module table)."""
    if not isinstance(message, dict) or "parts" not in message:
        return message
    parts = _parts(message["parts"])
    texts = [p["text"] for p in parts if "text" in p]
    unlogged = any(redacted(t) for t in texts) or (
        responses and len(texts) == len(parts) and not any(texts))
    return {"role": message.get("role"), "content": None if unlogged else parts}


def _indexed(attrs: dict, prefix: str) -> list[dict]:
    """Flattened ``<prefix><i>.<field>`` attributes -> ``[{field: value}]`` ordered by ``i``.

    Cost: a pass over all attributes, so callers first check that ``<prefix>0.*`` exists.
    """
    flat: dict[int, dict] = {}
    for name, value in attrs.items():
        if name.startswith(prefix):
            index, _, field = name[len(prefix) :].partition(".")
            if index.isdecimal():
                flat.setdefault(int(index), {})[field] = value
    return [flat[i] for i in sorted(flat)]


def _input_messages(attrs: dict) -> object:
    messages = _json(attrs.get("gen_ai.input.messages"))
    if isinstance(messages, list):
        responses = "responses" in (attrs.get("llm.request.type"), attrs.get("gen_ai.operation.name"))
        return conversation([_message(m, responses) for m in messages])
    # older conventions (and older LiteLLM): gen_ai.prompt.<i>.role / gen_ai.prompt.<i>.content
    if "gen_ai.prompt.0.role" not in attrs and "gen_ai.prompt.0.content" not in attrs:
        return None
    flat = [{k: v for k, v in m.items() if k in ("role", "content")} for m in _indexed(attrs, "gen_ai.prompt.")]
    return conversation(flat)


def _output(attrs: dict) -> object:
    messages = _json(attrs.get("gen_ai.output.messages"))
    if isinstance(messages, list):
        texts = [p["text"] for m in messages for p in _parts(as_dict(m).get("parts")) if "text" in p]
    elif "gen_ai.completion.0.content" in attrs:
        texts = [m.get("content") for m in _indexed(attrs, "gen_ai.completion.")]
    else:
        return None
    kept = [t for t in texts if isinstance(t, str) and not redacted(t)]
    return "\n".join(kept) if kept else None


def _tools(attrs: dict) -> object:
    tools = _json(attrs.get("gen_ai.tool.definitions"))
    if isinstance(tools, list):
        return len(tools)
    count = 0
    while f"llm.request.functions.{count}.name" in attrs:
        count += 1
    return count or tools


def _system(attrs: dict) -> object:
    system = _json(attrs.get("gen_ai.system_instructions"))
    return _parts(system) if isinstance(system, list) else system


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
            "tools": _tools(attrs),
        },
        "system": _system(attrs),
        "messages": _input_messages(attrs),
        "finish_reason": _finish_reason(get("gen_ai.response.finish_reasons")),
        "output": _output(attrs),
    }
