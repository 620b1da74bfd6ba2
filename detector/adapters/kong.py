"""Kong AI Gateway log object (http-log / kafka-log / file-log) -> canonical record.

The base log object gives the request facts; the ``ai`` block added by ``ai-proxy`` /
``ai-proxy-advanced`` gives model and tokens; the request body (only with
``config.logging.log_payloads``) gives messages and sampling parameters. A kafka-log batch
(``max_batch_size`` > 1) is a JSON array of these objects and is split by the message framing.

============== ==================================================================================
ts             ``started_at`` (epoch ms)
api_key_id     ``consumer.id``, ``authenticated_entity.id``, ``consumer.username``,
               ``consumer.custom_id`` (no auth plugin -> none -> rejected ``missing_field``)
request_id     ``request.id``;   endpoint: ``request.uri`` without its query string
client_ip      ``client_ip``;    user_agent: ``request.headers["user-agent"]`` (first if a list)
status         ``response.status``;   latency_ms: ``latencies.request``
model          ``ai.<ns>.meta.request_model`` (then ``response_model``, then the body's ``model``)
usage          ``ai.<ns>.usage.prompt_tokens`` / ``completion_tokens``, the pre-3.10 singular
               ``prompt_token`` / ``completion_token``, or ``input_tokens`` / ``output_tokens``;
               reasoning from ``completion_tokens_details.reasoning_tokens``
body           ``ai.<ns>.payload.request`` or the older ``ai.payload.request``: a JSON string of the
               request body (OpenAI or Anthropic format) -> params (``logit_bias`` included),
               messages, system. A body that does not decode (e.g. cut at ``max_payload_size``) is
               ignored, not an error.
output         ``ai.<ns>.payload.response`` / ``ai.payload.response`` (same logging option), the
               response body -> its text (:func:`~detector.adapters.litellm.response_text`)
============== ==================================================================================

``<ns>`` is ``proxy`` in current Kong; older versions used the plugin name, so when there is no
``ai.proxy`` the first ``ai.*`` entry holding ``meta`` or ``usage`` is used.

>>> rec = to_canonical({"started_at": 1795752873000, "consumer": {"id": "c-1"},
...                     "ai": {"ai-proxy": {"usage": {"prompt_token": 28, "completion_token": 20}}}})
>>> rec["ts"], rec["api_key_id"], rec["usage"]["input_tokens"], rec["usage"]["output_tokens"]
(1795752873000, 'c-1', 28, 20)
"""

from __future__ import annotations

import orjson

from detector.adapters.litellm import as_dict, first, openai_request, response_text
from detector.parse import loads


def _plugin_block(ai: dict) -> dict:
    proxy = ai.get("proxy")
    if isinstance(proxy, dict):
        return proxy
    for block in ai.values():
        if isinstance(block, dict) and ("meta" in block or "usage" in block):
            return block
    return {}


def _payload(ai: dict, block: dict, name: str) -> dict:
    """The logged ``request`` or ``response`` body as a dict; ``{}`` when absent or undecodable."""
    body = first(as_dict(block.get("payload")).get(name), as_dict(ai.get("payload")).get(name))
    if isinstance(body, (str, bytes)):
        try:
            body = loads(body)
        except orjson.JSONDecodeError:
            return {}
    return as_dict(body)


def _header(headers: object, name: str) -> object:
    value = as_dict(headers).get(name)
    return value[0] if isinstance(value, list) and value else value


def _path(uri: object) -> object:
    return uri.partition("?")[0] if isinstance(uri, str) else uri


def to_canonical(log: dict) -> dict:
    """One Kong log object -> one canonical record dict (see the module table)."""
    consumer = as_dict(log.get("consumer"))
    request = as_dict(log.get("request"))
    ai = as_dict(log.get("ai"))
    block = _plugin_block(ai)
    meta, usage = as_dict(block.get("meta")), as_dict(block.get("usage"))
    body = _payload(ai, block, "request")
    record = openai_request(body) if body else {}
    record.update(
        ts=log.get("started_at"),
        api_key_id=consumer.get("id")
        or as_dict(log.get("authenticated_entity")).get("id")
        or consumer.get("username")
        or consumer.get("custom_id")
        or None,
        request_id=request.get("id"),
        endpoint=_path(request.get("uri")),
        client_ip=log.get("client_ip"),
        user_agent=_header(request.get("headers"), "user-agent"),
        status=as_dict(log.get("response")).get("status"),
        latency_ms=as_dict(log.get("latencies")).get("request"),
        model=meta.get("request_model") or meta.get("response_model") or body.get("model") or None,
        usage={
            "input_tokens": first(usage.get("prompt_tokens"), usage.get("prompt_token"), usage.get("input_tokens")),
            "output_tokens": first(
                usage.get("completion_tokens"), usage.get("completion_token"), usage.get("output_tokens")
            ),
            "reasoning_tokens": as_dict(usage.get("completion_tokens_details")).get("reasoning_tokens"),
        },
        output=response_text(_payload(ai, block, "response")),
    )
    return record
