"""LiteLLM ``StandardLoggingPayload`` -> canonical record (a dict for :func:`detector.parse.check_record`).

The payload is what LiteLLM hands a ``CustomLogger`` as ``kwargs["standard_logging_object"]`` and
what its ``generic_api`` callback POSTs (``json_array``, ``ndjson`` or ``single``). Field sources:

============== ==================================================================================
canonical      LiteLLM (first present wins)
============== ==================================================================================
api_key_id     ``metadata.user_api_key_hash``, ``metadata.user_api_key_alias`` (none: rejected with
               ``missing_field``, e.g. under ``redact_user_api_key_info: true``)
account_id     ``metadata.user_api_key_org_id``, ``metadata.user_api_key_team_id``, ``metadata.team_id``
end_user_id    ``end_user``, ``metadata.user_api_key_end_user_id``, ``model_parameters.user`` /
               ``.safety_identifier``
ts, latency_ms ``startTime`` (epoch seconds, or ISO 8601; naive means UTC), ``endTime - startTime``
request_id     ``trace_id``, ``litellm_call_id``, ``id``, ``call_id`` (see "Router attempts" below)
status         ``status``: ``success`` -> 200, ``failure`` -> ``error_information.error_code`` if it is
               an HTTP status, else 500
usage          ``prompt_tokens``, ``completion_tokens``; reasoning from ``usage_object`` (in
               ``metadata`` or ``hidden_params``) or ``response.usage``
params         ``model_parameters`` via :func:`openai_request` (``logit_bias`` passed as the map)
system         ``model_parameters.system`` / ``.instructions`` (Responses API)
messages       ``messages`` via :func:`conversation` (Responses items mapped, see there); content
               equal to a LiteLLM redaction marker (:func:`redacted`) -> not logged
output         ``response`` via :func:`response_text`; a redaction marker -> not logged
============== ==================================================================================

Router attempts: a LiteLLM ``Router`` logs one payload per attempt (each retry and each fallback
deployment), each with its own ``id`` and ``litellm_call_id``; all attempts of one client call
share the ``trace_id`` (the call's ``litellm_trace_id``), while separate calls, cache hits
included, get their own. So ``request_id`` is the ``trace_id``: one id per client request, and a
consumer that keeps one event per ``(api_key_id, request_id)`` counts a retried request once. A
failed attempt cannot tell on its own that it will be retried, so no record is dropped here.
Caveat: a client may set ``litellm_trace_id`` itself, so such a dedupe must not trust it beyond the
key that sent it.

``account_created_at`` is not mapped: LiteLLM 1.110 logs no account or key creation time (its
``user_api_key_*`` metadata holds spend, budgets, ids and aliases only).

:func:`openai_request` (an OpenAI/Anthropic request body -> canonical params, messages, system) and
:func:`key_fields` (LiteLLM's ``user_api_key_*`` metadata) are shared with the Kong and OTel adapters.
Empty strings count as absent: LiteLLM's OTel export writes unset metadata as ``""``.

Cost: a handful of dict lookups plus one pass over the messages.

>>> rec = to_canonical({"startTime": 1795752873.5, "endTime": 1795752874.0, "status": "success",
...                     "metadata": {"user_api_key_hash": "ab12"}, "model_parameters": {"n": 3}})
>>> rec["ts"], rec["latency_ms"], rec["api_key_id"], rec["status"], rec["params"]["n"]
(1795752873500, 500, 'ab12', 200, 3)
"""

from __future__ import annotations

from collections.abc import Callable
from math import isfinite

from detector.parse import rfc3339_ms

REDACTED_PREFIX = "redacted by litellm"
REDACTED_MARKER = "redacted-by-litellm"


def first(*values: object) -> object:
    """The first value that is not ``None`` (``0`` and ``False`` count as present)."""
    for value in values:
        if value is not None:
            return value
    return None


def _size(value: object) -> object:
    """Number of entries of a list (``tools``); anything else unchanged."""
    return len(value) if isinstance(value, list) else value


def redacted(content: object) -> bool:
    """Is ``content`` a LiteLLM redaction marker (``redacted-by-litellm`` or "redacted by litellm...")?

    >>> redacted("redacted-by-litellm"), redacted("redacted by litellm. 'x'"), redacted("hi")
    (True, True, False)
    """
    return isinstance(content, str) and (content == REDACTED_MARKER or content.startswith(REDACTED_PREFIX))


def as_dict(value: object) -> dict:
    """``value`` if it is a dict, else an empty one (for walking optional nested objects)."""
    return value if isinstance(value, dict) else {}


def openai_request(body: dict) -> dict:
    """Canonical ``params`` (+ ``messages``, ``system``, ``end_user_id`` when present) of a request body.

    Understands OpenAI Chat/Completions/Responses and Anthropic Messages parameter names: the
    legacy Completions ``logprobs=<int>`` means ``logprobs`` with that many ``top_logprobs``;
    ``max_tokens`` falls back to ``max_completion_tokens`` / ``max_output_tokens``; a Completions
    ``prompt`` string becomes one user message; a Responses ``input`` (string or items) becomes the
    messages (:func:`conversation`) and its ``instructions`` the system prompt. ``logit_bias`` is
    passed on as the map (the parser derives its ids and size). Values are not checked here.

    >>> openai_request({"logprobs": 5, "logit_bias": {"1": 100}, "thinking": {"budget_tokens": 2048}})["params"]
    ... # doctest: +NORMALIZE_WHITESPACE
    {'temperature': None, 'top_p': None, 'max_tokens': None, 'n': None, 'seed': None, 'stream': None,
     'logprobs': True, 'top_logprobs': 5, 'logit_bias': {'1': 100}, 'tools': None, 'thinking_budget': 2048}
    """
    logprobs = body.get("logprobs")
    top_logprobs = body.get("top_logprobs")
    if type(logprobs) is int:
        logprobs, top_logprobs = True, first(top_logprobs, logprobs)
    out: dict = {
        "params": {
            "temperature": body.get("temperature"),
            "top_p": body.get("top_p"),
            "max_tokens": first(
                body.get("max_tokens"), body.get("max_completion_tokens"), body.get("max_output_tokens")
            ),
            "n": body.get("n"),
            "seed": body.get("seed"),
            "stream": body.get("stream"),
            "logprobs": logprobs,
            "top_logprobs": top_logprobs,
            "logit_bias": body.get("logit_bias"),
            "tools": _size(first(body.get("tools"), body.get("functions"))),
            "thinking_budget": as_dict(body.get("thinking")).get("budget_tokens"),
        },
        "end_user_id": body.get("user")
        or body.get("safety_identifier")
        or as_dict(body.get("metadata")).get("user_id")  # Anthropic
        or None,
    }
    messages = first(body.get("messages"), body.get("input"))
    if messages is None and isinstance(body.get("prompt"), str):
        messages = body["prompt"]
    if messages is not None:
        out["messages"] = conversation(messages)
    system = first(body.get("system"), body.get("instructions"))
    if system is not None:
        out["system"] = system
    return out


def _item(item: object) -> object:
    """One conversation entry in canonical ``{role, content}`` form (see :func:`conversation`)."""
    if isinstance(item, str):
        return {"role": "user", "content": item}
    if not isinstance(item, dict):
        return item  # the parser rejects it with its position
    if "role" not in item:
        kind = item.get("type")
        if not isinstance(kind, str):
            return item
        if kind.endswith("_call_output"):
            return {"role": "tool", "content": None if redacted(item.get("output")) else item.get("output")}
        if kind.endswith("_call"):
            return {"role": "assistant", "content": None}
        return None  # reasoning, item_reference, ...: not a turn
    if "content" in item and redacted(item["content"]):
        return {"role": item["role"], "content": None}
    return item


def conversation(messages: object) -> object:
    """Canonical messages of a logged conversation; anything unreadable is passed on for the parser.

    Accepts a list of chat messages, a prompt string or list of prompt strings (Completions,
    embeddings), or a Responses API ``input`` (string or items). Responses items without a
    ``role``: ``function_call`` (any ``*_call``) -> an ``assistant`` turn whose content is not
    logged, ``function_call_output`` (any ``*_call_output``) -> a ``tool`` turn with its output;
    other role-less items (``reasoning``, ``item_reference``) are not turns and are left out. A
    LiteLLM redaction marker as content -> ``None`` (not logged). A dict (non-chat call types)
    carries no conversation -> ``None``. Cost: one pass over the messages.

    >>> conversation([{"type": "function_call", "name": "f"}, {"type": "function_call_output", "output": "4"}])
    [{'role': 'assistant', 'content': None}, {'role': 'tool', 'content': '4'}]
    """
    if isinstance(messages, str):
        return [_item(messages)]
    if not isinstance(messages, list):
        return None
    return [entry for entry in map(_item, messages) if entry is not None]


def _parts_text(parts: object, text_type: str) -> str | None:
    """Joined ``text`` of the parts of type ``text_type`` (or a plain string), ``None`` if none."""
    if isinstance(parts, str):
        return parts
    if not isinstance(parts, list):
        return None
    texts = [p["text"] for p in parts if isinstance(p, dict) and p.get("type") == text_type
             and isinstance(p.get("text"), str)]
    return "\n".join(texts) if texts else None


def response_text(response: object) -> str | None:
    """The response text of an OpenAI or Anthropic response body, ``None`` when it holds none.

    Reads Chat ``choices[].message.content``, Completions ``choices[].text``, Responses ``output``
    message items (``output_text`` parts) and Anthropic ``content`` (``text`` blocks); the texts of
    several choices are joined with newlines. A redaction marker -> ``None``. Cost: one pass.

    >>> response_text({"choices": [{"message": {"content": "Paris"}}, {"text": "Lima"}]})
    'Paris\\nLima'
    """
    if not isinstance(response, dict):
        return None
    texts: list[str | None] = []
    choices = response.get("choices")
    if isinstance(choices, list):
        for choice in choices:
            choice = as_dict(choice)
            message = choice.get("message")
            texts.append(_parts_text(as_dict(message).get("content"), "text") if message else choice.get("text"))
    output = response.get("output")
    if isinstance(output, list):
        texts.extend(_parts_text(as_dict(item).get("content"), "output_text") for item in output
                     if as_dict(item).get("type") == "message")
    if isinstance(response.get("content"), list):
        texts.append(_parts_text(response["content"], "text"))
    kept = [t for t in texts if isinstance(t, str) and not redacted(t)]
    return "\n".join(kept) if kept else None


def key_fields(meta: Callable[[str], object]) -> dict:
    """Identity fields from LiteLLM metadata; ``meta(name)`` returns ``metadata[name]`` or ``None``."""
    return {
        "api_key_id": meta("user_api_key_hash") or meta("user_api_key_alias") or None,
        "account_id": meta("user_api_key_org_id") or meta("user_api_key_team_id") or meta("team_id") or None,
        "end_user_id": meta("user_api_key_end_user_id") or None,
        "client_ip": meta("requester_ip_address") or None,
        "user_agent": meta("user_agent") or None,
        "endpoint": meta("user_api_key_request_route") or None,
    }


def time_ms(value: object) -> object:
    """Epoch milliseconds of epoch seconds or an ISO 8601 string (naive = UTC); else ``value`` itself,
    so that the parser rejects it with the right reason."""
    if type(value) is float or type(value) is int:
        return int(value * 1000) if isfinite(value) else value  # type: ignore[operator, arg-type]
    if type(value) is str:
        try:
            return rfc3339_ms(value, assume_utc=True)
        except ValueError:
            return value
    return value


def _status(payload: dict) -> int | None:
    state = payload.get("status")
    if state == "success":
        return 200
    if state != "failure":
        return None
    code = as_dict(payload.get("error_information")).get("error_code")
    try:
        status = int(code)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 500
    return status if 100 <= status <= 599 else 500


def _reasoning_tokens(payload: dict, meta: dict) -> object:
    response = payload.get("response")
    for usage in (
        meta.get("usage_object"),
        as_dict(payload.get("hidden_params")).get("usage_object"),
        response.get("usage") if isinstance(response, dict) else None,
    ):
        details = as_dict(as_dict(usage).get("completion_tokens_details"))
        if details.get("reasoning_tokens") is not None:
            return details["reasoning_tokens"]
    return None


def _finish_reason(response: object) -> object:
    if not isinstance(response, dict):
        return None
    choices = response.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        return choices[0].get("finish_reason")
    return None


def to_canonical(payload: dict) -> dict:
    """One ``StandardLoggingPayload`` -> one canonical record dict (see the module table)."""
    meta = as_dict(payload.get("metadata"))
    ident = key_fields(meta.get)
    body = openai_request(as_dict(payload.get("model_parameters")))
    start, end = time_ms(payload.get("startTime")), time_ms(payload.get("endTime"))
    latency = end - start if type(start) is int and type(end) is int and end >= start else None
    return {
        "ts": start,
        "latency_ms": latency,
        "request_id": payload.get("trace_id") or payload.get("litellm_call_id") or payload.get("id")
        or payload.get("call_id") or None,
        "api_key_id": ident["api_key_id"],
        "account_id": ident["account_id"],
        "end_user_id": payload.get("end_user") or ident["end_user_id"] or body["end_user_id"],
        "client_ip": payload.get("requester_ip_address") or ident["client_ip"],
        "user_agent": payload.get("user_agent") or ident["user_agent"],
        "endpoint": ident["endpoint"],
        "model": payload.get("model") or None,
        "status": _status(payload),
        "usage": {
            "input_tokens": payload.get("prompt_tokens"),
            "output_tokens": payload.get("completion_tokens"),
            "reasoning_tokens": _reasoning_tokens(payload, meta),
        },
        "params": body["params"],
        "system": body.get("system"),
        "messages": conversation(payload.get("messages")),
        "finish_reason": _finish_reason(payload.get("response")),
        "output": response_text(payload.get("response")),
    }
