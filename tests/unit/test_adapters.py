"""Input adapters: LiteLLM and OTel on the real LiteLLM samples, documented OTel/Kong shapes, hostile input."""

from __future__ import annotations

import copy
from pathlib import Path

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detector.adapters import ADAPTERS, parse_foreign
from detector.adapters.litellm import REDACTED_PREFIX
from detector.record import Event, Message, Rejection

SAMPLES = Path(__file__).resolve().parents[3] / "shared" / "samples" / "litellm"
CANARY = "CANARY-31c9-prompt-text"
KEY = "88dc28d0f030c55ed4ab77ed8faf098196cb1c05df778539800c9f1243fe6b4"  # + record index


def only(result: list[Event | Rejection]) -> Event | Rejection:
    assert len(result) == 1, result
    return result[0]


# --------------------------------------------------------------------------- LiteLLM (real samples)


@pytest.fixture(scope="module")
def litellm_raw() -> bytes:
    return (SAMPLES / "litellm_standard_logging.jsonl").read_bytes()


@pytest.fixture(scope="module")
def litellm_events(litellm_raw: bytes) -> list[Event]:
    events = parse_foreign(litellm_raw, "litellm")
    assert all(isinstance(e, Event) for e in events), [e for e in events if isinstance(e, Rejection)]
    assert len(events) == 9
    return events  # type: ignore[return-value]


@pytest.fixture(scope="module")
def payloads(litellm_raw: bytes) -> list[dict]:
    return [orjson.loads(line) for line in litellm_raw.splitlines()]


def test_litellm_identity_time_usage(litellm_events: list[Event]) -> None:
    ev = litellm_events[0]
    assert ev.api_key_id == KEY + "0"
    assert ev.account_id == "org-1"
    assert ev.ts_ms == 1_795_752_873_017  # startTime 1795752873.017808 s
    assert ev.latency_ms == 204.0
    assert ev.request_id == "790174cf-96b0-4dc0-9134-73be5c99d7c1"  # trace_id: one per client call
    assert (ev.model, ev.status, ev.input_tokens, ev.output_tokens) == ("claude-sonnet-4-5", 200, 10, 20)
    assert (ev.temperature, ev.max_tokens, ev.finish_reason) == (0.7, 2048, "stop")


def test_litellm_system_prompt(litellm_events: list[Event]) -> None:
    ev = litellm_events[0]
    assert ev.system == "You are a careful expert. Think step by step."
    assert ev.messages == (Message("user", "Explain why the sky is blue."),)


def test_litellm_n_seed_user(litellm_events: list[Event]) -> None:
    ev = litellm_events[1]
    assert (ev.api_key_id, ev.n, ev.seed, ev.temperature) == (KEY + "2", 3, 7, 1.0)
    assert ev.end_user_id == "end-user-77"  # model_parameters.user; top-level end_user is null


def test_litellm_logprobs_logit_bias(litellm_events: list[Event]) -> None:
    ev = litellm_events[2]
    assert (ev.max_tokens, ev.logprobs, ev.top_logprobs, ev.logit_bias_size) == (1, True, 20, 3)


def test_litellm_tools_empty_turn_few_shot_thinking_stream(litellm_events: list[Event]) -> None:
    assert (litellm_events[3].tools, litellm_events[3].max_tokens) == (1, 4096)
    assert litellm_events[4].messages == (Message("user", ""),)
    assert litellm_events[5].messages == (Message("user", "Q: 2+2?\nA:"), Message("assistant", "4"),
                                          Message("user", "And 3+3?"))
    assert (litellm_events[5].temperature, litellm_events[5].stream) == (0.0, False)
    assert (litellm_events[6].thinking_budget, litellm_events[6].max_tokens) == (4096, 8192)
    streamed = litellm_events[7]
    assert (streamed.stream, streamed.input_tokens, streamed.output_tokens, streamed.reasoning_tokens) == (
        True, 12, 6, 0)


def test_litellm_failure_429(litellm_events: list[Event]) -> None:
    ev = litellm_events[8]
    assert (ev.api_key_id, ev.status, ev.input_tokens, ev.finish_reason) == (KEY + "9", 429, 0, None)
    assert ev.request_id == "728574f6-6d16-4b6a-bfbe-6a4153207cbe"


def test_litellm_json_array_framing_matches_ndjson(payloads: list[dict], litellm_events: list[Event]) -> None:
    assert parse_foreign(orjson.dumps(payloads), "litellm") == litellm_events


def _one(payload: dict, **changes: object) -> Event | Rejection:
    p = copy.deepcopy(payload)
    p.update(changes)
    return only(parse_foreign(orjson.dumps(p), "litellm"))


def test_litellm_redacted_content_is_absent(payloads: list[dict]) -> None:
    redacted = REDACTED_PREFIX + ". 'litellm.turn_off_message_logging=True'"
    ev = _one(payloads[5], messages=[{"role": "system", "content": redacted},
                                     {"role": "user", "content": redacted}])
    assert ev.messages == (Message("user", None),) and ev.system is None


def test_litellm_iso_times_naive_means_utc(payloads: list[dict]) -> None:
    ev = _one(payloads[0], startTime="2026-11-27T04:14:17.968585", endTime="2026-11-27T04:14:18.968585Z")
    assert ev.ts_ms == 1_795_752_857_968 and ev.latency_ms == 1000.0
    bad = _one(payloads[0], startTime="not a time " + CANARY)
    assert bad.reason == "bad_timestamp" and CANARY not in bad.detail


def test_litellm_identity_fallbacks(payloads: list[dict]) -> None:
    meta = dict(payloads[0]["metadata"], user_api_key_hash=None, user_api_key_org_id=None)
    ev = _one(payloads[0], metadata=meta)
    assert (ev.api_key_id, ev.account_id) == ("team-key-0", "team-a")
    redacted = {k: v for k, v in payloads[0]["metadata"].items() if not k.startswith("user_api_key")}
    rej = _one(payloads[0], metadata=redacted)  # redact_user_api_key_info: true
    assert (rej.reason, rej.detail) == ("missing_field", "api_key_id: missing")
    assert orjson.loads(rej.raw)["id"] == payloads[0]["id"]  # the foreign record goes to the dead letters


def test_litellm_end_user_ip_user_agent(payloads: list[dict]) -> None:
    ev = _one(payloads[1], end_user="cust-1", requester_ip_address="203.0.113.9",
              metadata=dict(payloads[1]["metadata"], user_agent="openai-python/1.50.0"))
    assert (ev.end_user_id, ev.client_ip, ev.user_agent) == ("cust-1", "203.0.113.9", "openai-python/1.50.0")


def test_litellm_failure_without_numeric_code(payloads: list[dict]) -> None:
    info = dict(payloads[8]["error_information"], error_code="RateLimit")
    assert _one(payloads[8], error_information=info).status == 500
    assert _one(payloads[8], error_information=dict(info, error_code="")).status == 500
    assert _one(payloads[8], error_information=dict(info, error_code=503)).status == 503


def test_litellm_legacy_completion_and_parts(payloads: list[dict]) -> None:
    ev = _one(payloads[2], messages="Once upon a time", model_parameters={"logprobs": 5, "max_completion_tokens": 9,
                                                                          "functions": [{}, {}]})
    assert ev.messages == (Message("user", "Once upon a time"),)
    assert (ev.logprobs, ev.top_logprobs, ev.max_tokens, ev.tools) == (True, 5, 9, 2)
    ev = _one(payloads[2], messages=[{"role": "user", "content": [{"type": "text", "text": "a"},
                                                                   {"type": "image_url", "image_url": {}}]}])
    assert ev.messages == (Message("user", "a"),)


def test_litellm_bad_params_rejected_without_prompt(payloads: list[dict]) -> None:
    rej = _one(payloads[0], model_parameters={"temperature": 9}, messages=[{"role": "user", "content": CANARY}])
    assert (rej.reason, rej.detail.split(":")[0]) == ("out_of_range", "params.temperature")
    assert CANARY not in rej.detail and CANARY.encode() in rej.raw


# ------------------------------------------------------------------------------ OTel (real samples)


def test_otel_litellm_sample_spans() -> None:
    raw = (SAMPLES / "litellm_otel_spans.jsonl").read_bytes()
    request, child = parse_foreign(raw, "otel")
    assert isinstance(request, Event)
    assert request.api_key_id == "9f2c0a8e5b"
    assert request.account_id == "team-a"  # org id is "" in the span: empty means absent
    assert request.end_user_id == "end-user-9"
    assert request.ts_ms == 1_795_752_857_968 and request.latency_ms == 201.0  # whole-ms times
    assert request.request_id == "chatcmpl-0445d0ae-c7af-4f02-9e12-e5562c091638"
    assert (request.model, request.status, request.input_tokens, request.output_tokens) == ("gpt-4o-mini", 200, 10, 20)
    assert (request.temperature, request.max_tokens, request.stream) == (0.2, 256, False)
    assert request.system == "Think step by step."
    assert request.messages == (Message("user", "Why is the sky blue?"),)
    assert request.finish_reason == "stop"
    # the raw_gen_ai_request child span has no key identity: rejected, its own bytes kept
    assert isinstance(child, Rejection)
    assert (child.reason, child.detail) == ("missing_field", "api_key_id: missing")
    assert child.raw == raw.splitlines()[1]


def _attr(key: str, value: object) -> dict:
    if isinstance(value, bool):
        return {"key": key, "value": {"boolValue": value}}
    if isinstance(value, int):
        return {"key": key, "value": {"intValue": str(value)}}
    if isinstance(value, float):
        return {"key": key, "value": {"doubleValue": value}}
    if isinstance(value, list):
        return {"key": key, "value": {"arrayValue": {"values": [{"stringValue": v} for v in value]}}}
    return {"key": key, "value": {"stringValue": value}}


def otlp_span(attrs: dict, **extra: object) -> dict:
    span = {"traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174", "name": "chat gpt-5",
            "kind": 3, "startTimeUnixNano": "1795752873000000000", "endTimeUnixNano": "1795752875500000000",
            "attributes": [_attr(k, v) for k, v in attrs.items()], "status": {"code": 1}}
    span.update(extra)
    return span


NEW_ATTRS = {
    "api_key_id": "key-otel-1",
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "openai",
    "gen_ai.request.model": "gpt-5",
    "gen_ai.request.max_tokens": 300,
    "gen_ai.request.temperature": 0.0,
    "gen_ai.request.top_p": 1.0,
    "gen_ai.request.seed": 42,
    "gen_ai.request.choice.count": 4,
    "gen_ai.request.stream": True,
    "gen_ai.response.id": "resp-1",
    "gen_ai.response.finish_reasons": ["length"],
    "gen_ai.usage.input_tokens": 120,
    "gen_ai.usage.output_tokens": 300,
    "gen_ai.usage.reasoning.output_tokens": 64,
    "enduser.id": "eu-5",
    "client.address": "2001:db8::1",
    "user_agent.original": "curl/8.5",
    "gen_ai.system_instructions": '[{"type": "text", "content": "Be terse."}]',
    "gen_ai.input.messages": orjson.dumps([
        {"role": "user", "parts": [{"type": "text", "content": "Translate: chat"},
                                   {"type": "uri", "uri": "https://example.invalid/x.png"}]},
        {"role": "assistant", "parts": [{"type": "tool_call", "name": "f", "arguments": {}}]},
        {"role": "tool", "parts": [{"type": "tool_call_response", "response": "42"}]},
        {"role": "user", "parts": [{"type": "text", "content": "again"}]},
    ]).decode(),
}


def test_otel_otlp_json_new_names() -> None:
    ev = only(parse_foreign(orjson.dumps(otlp_span(NEW_ATTRS)), "otel"))
    assert isinstance(ev, Event)
    assert (ev.api_key_id, ev.ts_ms, ev.latency_ms) == ("key-otel-1", 1_795_752_873_000, 2500.0)
    assert ev.request_id == "resp-1"
    assert (ev.model, ev.status, ev.finish_reason) == ("gpt-5", 200, "length")
    assert (ev.input_tokens, ev.output_tokens, ev.reasoning_tokens) == (120, 300, 64)
    assert (ev.max_tokens, ev.temperature, ev.top_p, ev.seed, ev.n, ev.stream) == (300, 0.0, 1.0, 42, 4, True)
    assert (ev.end_user_id, ev.client_ip, ev.user_agent) == ("eu-5", "2001:db8::1", "curl/8.5")
    assert ev.system == "Be terse."
    assert ev.messages == (Message("user", "Translate: chat"), Message("assistant", ""), Message("tool", ""),
                           Message("user", "again"))


def test_otel_old_names_and_flattened_prompt() -> None:
    attrs = {
        "metadata.user_api_key_hash": "hash-old",
        "metadata.user_api_key_org_id": "org-9",
        "gen_ai.system": "anthropic",
        "gen_ai.request.model": "claude-x",
        "gen_ai.usage.prompt_tokens": 11,
        "gen_ai.usage.completion_tokens": 22,
        "gen_ai.prompt.1.role": "user",
        "gen_ai.prompt.1.content": "second",
        "gen_ai.prompt.0.role": "system",
        "gen_ai.prompt.0.content": "sys",
        "gen_ai.prompt.10.role": "assistant",
        "gen_ai.prompt.10.content": "eleventh",
        "gen_ai.completion.0.content": "ignored",
        "llm.is_streaming": "True",
    }
    span = {"name": "litellm_request", "start_time": "2026-11-27T04:14:17.968585Z",
            "end_time": "2026-11-27T04:14:18.169387Z", "status": {"status_code": "OK"}, "attributes": attrs}
    ev = only(parse_foreign(orjson.dumps(span), "otel"))
    assert (ev.api_key_id, ev.account_id, ev.model, ev.stream) == ("hash-old", "org-9", "claude-x", True)
    assert (ev.input_tokens, ev.output_tokens) == (11, 22)
    assert ev.system == "sys"
    assert ev.messages == (Message("user", "second"), Message("assistant", "eleventh"))


@pytest.mark.parametrize(
    ("status", "attrs", "expected"),
    [
        ({"code": 2}, {"error.type": "429"}, 429),
        ({"code": "STATUS_CODE_ERROR"}, {"error.type": "TimeoutError"}, 500),
        ({"code": 0}, {}, None),
        ({"code": 1}, {"http.response.status_code": 201}, 201),
        ({}, {"http.status_code": "404"}, 404),
    ],
)
def test_otel_status(status: dict, attrs: dict, expected: int | None) -> None:
    span = otlp_span({"api_key_id": "k", **attrs}, status=status)
    assert only(parse_foreign(orjson.dumps(span), "otel")).status == expected


def test_otel_export_request_envelope() -> None:
    spans = [otlp_span(dict(NEW_ATTRS, api_key_id=f"k{i}")) for i in range(3)]
    spans[1] = otlp_span({"gen_ai.prompt.0.content": CANARY})  # no identity
    envelope = {"resourceSpans": [
        {"resource": {"attributes": [_attr("service.name", "gw")]},
         "scopeSpans": [{"scope": {"name": "x"}, "spans": spans[:2]}, {"spans": []}]},
        {"scopeSpans": [{"spans": [spans[2], "junk"]}]},
    ]}
    out = parse_foreign(orjson.dumps(envelope), "otel")
    assert [r.reason if isinstance(r, Rejection) else r.api_key_id for r in out] == [
        "k0", "missing_field", "k2", "not_object"]
    assert orjson.loads(out[1].raw) == spans[1] and CANARY not in out[1].detail
    # an envelope bigger than the record limit is split, each span measured on its own
    big = parse_foreign(orjson.dumps(envelope), "otel", max_bytes=len(orjson.dumps(spans[0])) + 10)
    assert [type(r) for r in big] == [type(r) for r in out]


def test_otel_malformed_values_are_adapter_errors() -> None:
    span = otlp_span({"api_key_id": "k"})
    span["attributes"].append({"key": "gen_ai.usage.input_tokens", "value": {"intValue": CANARY}})
    rej = only(parse_foreign(orjson.dumps(span), "otel"))
    assert (rej.reason, rej.detail) == ("adapter_error", "otel: ValueError")
    envelope = only(parse_foreign(b'{"resourceSpans": 7}', "otel"))
    assert envelope.reason == "adapter_error" and envelope.raw == b'{"resourceSpans": 7}'


# ------------------------------------------------------------------------------------------- Kong

KONG_BODY = {
    "model": "gpt-4o",
    "messages": [{"role": "system", "content": "You are terse."},
                 {"role": "user", "content": [{"type": "text", "text": "Rate: " + CANARY}]}],
    "max_tokens": 1, "temperature": 0.0, "logprobs": True, "top_logprobs": 20, "n": 5,
    "logit_bias": {"100": 100, "200": -100}, "tools": [{"type": "function"}] * 3, "user": "reseller-end-user",
}


def kong_log(**changes: object) -> dict:
    log = {
        "workspace": "b4a1e9a2", "source": "upstream", "client_ip": "192.168.65.1", "started_at": 1_787_113_201_719,
        "request": {"id": "9ec9264a", "uri": "/v1/chat/completions?x=1", "method": "POST", "size": 323,
                    "headers": {"user-agent": "OpenAI/Python 1.51.0", "host": "localhost:8000"}},
        "response": {"status": 200, "size": 900},
        "latencies": {"kong": 5, "proxy": 1200, "request": 1210, "receive": 0},
        "consumer": {"id": "consumer-uuid-1", "username": "acme"},
        "authenticated_entity": {"id": "cred-uuid-1"},
        "ai": {"proxy": {
            "meta": {"plugin_id": "p1", "provider_name": "openai", "request_model": "gpt-4o",
                     "response_model": "gpt-4o-2024-08-06", "llm_latency": 1190},
            "usage": {"prompt_tokens": 28, "completion_tokens": 1, "total_tokens": 29, "cost": 0.0001,
                      "completion_tokens_details": {"reasoning_tokens": 0}},
            "payload": {"request": orjson.dumps(KONG_BODY).decode(), "response": "{}"},
        }},
    }
    log.update(changes)
    return log


def test_kong_current_shape_with_payload() -> None:
    ev = only(parse_foreign(orjson.dumps(kong_log()), "kong"))
    assert isinstance(ev, Event)
    assert (ev.api_key_id, ev.ts_ms, ev.request_id, ev.endpoint) == (
        "consumer-uuid-1", 1_787_113_201_719, "9ec9264a", "/v1/chat/completions")
    assert (ev.client_ip, ev.user_agent, ev.status, ev.latency_ms) == (
        "192.168.65.1", "OpenAI/Python 1.51.0", 200, 1210.0)
    assert (ev.model, ev.input_tokens, ev.output_tokens, ev.reasoning_tokens) == ("gpt-4o", 28, 1, 0)
    assert (ev.max_tokens, ev.temperature, ev.logprobs, ev.top_logprobs, ev.n, ev.logit_bias_size, ev.tools) == (
        1, 0.0, True, 20, 5, 2, 3)
    assert ev.end_user_id == "reseller-end-user"
    assert ev.system == "You are terse."
    assert ev.messages == (Message("user", "Rate: " + CANARY),)


def test_kong_old_shape_singular_tokens() -> None:
    ai = {
        "payload": {"request": orjson.dumps({"model": "command", "prompt": "Hello", "max_tokens": 50}).decode()},
        "ai-proxy": {"usage": {"prompt_token": 28, "completion_token": 20, "total_tokens": 48},
                     "meta": {"request_model": "command", "provider_name": "cohere"}},
    }
    ev = only(parse_foreign(orjson.dumps(kong_log(ai=ai)), "kong"))
    assert (ev.model, ev.input_tokens, ev.output_tokens, ev.max_tokens) == ("command", 28, 20, 50)
    assert ev.messages == (Message("user", "Hello"),)


def test_kong_anthropic_body_and_truncated_payload() -> None:
    body = {"model": "claude-x", "system": [{"type": "text", "text": "sys"}], "max_tokens": 8192,
            "thinking": {"type": "enabled", "budget_tokens": 4096}, "metadata": {"user_id": "u-1"},
            "messages": [{"role": "user", "content": "hi"}]}
    log = kong_log()
    log["ai"]["proxy"]["payload"]["request"] = orjson.dumps(body).decode()
    ev = only(parse_foreign(orjson.dumps(log), "kong"))
    assert (ev.system, ev.thinking_budget, ev.end_user_id, ev.max_tokens) == ("sys", 4096, "u-1", 8192)
    log["ai"]["proxy"]["payload"]["request"] = orjson.dumps(KONG_BODY).decode()[:40]  # cut at max_payload_size
    ev = only(parse_foreign(orjson.dumps(log), "kong"))
    assert isinstance(ev, Event) and ev.messages == () and ev.input_tokens == 28


def test_kong_identity_fallbacks_and_batch() -> None:
    logs = [
        kong_log(),
        kong_log(consumer=None),
        kong_log(consumer={"username": "only-name"}, authenticated_entity=None),
        kong_log(consumer=None, authenticated_entity=None),
        kong_log(request={"headers": {"user-agent": ["ua-1", "ua-2"]}}),
    ]
    out = parse_foreign(orjson.dumps(logs), "kong")  # kafka-log with max_batch_size > 1
    assert [r.reason if isinstance(r, Rejection) else r.api_key_id for r in out] == [
        "consumer-uuid-1", "cred-uuid-1", "only-name", "missing_field", "consumer-uuid-1"]
    assert out[4].user_agent == "ua-1"
    assert orjson.loads(out[3].raw) == logs[3]


def test_kong_without_ai_block() -> None:
    ev = only(parse_foreign(orjson.dumps(kong_log(ai=None)), "kong"))
    assert isinstance(ev, Event) and ev.model is None and ev.input_tokens is None


# -------------------------------------------------------------------------------- shared behaviour


def test_unknown_format() -> None:
    with pytest.raises(ValueError, match="unknown input format"):
        parse_foreign(b"{}", "envoy")
    assert sorted(ADAPTERS) == ["kong", "litellm", "otel"]


@pytest.mark.parametrize("fmt", sorted(ADAPTERS))
def test_framing_errors(fmt: str) -> None:
    assert [r.reason for r in parse_foreign(b"\xff{", fmt)] == ["not_utf8"]
    assert [r.reason for r in parse_foreign(b"{nope", fmt)] == ["not_json"]
    assert [r.reason for r in parse_foreign(b"[1, null]", fmt)] == ["not_object", "not_object"]
    assert parse_foreign(b"\n\n", fmt) == []


def test_adapter_exception_becomes_rejection(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(obj: dict) -> dict:
        raise KeyError(CANARY)

    monkeypatch.setitem(ADAPTERS, "kong", boom)
    good = orjson.dumps(kong_log())
    out = parse_foreign(good + b"\n" + good, "kong")
    assert [(r.reason, r.detail) for r in out] == [("adapter_error", "kong: KeyError")] * 2
    assert out[0].raw == good


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=12), children, max_size=3),
    max_leaves=15,
)
LIKELY_KEYS = ["startTime", "endTime", "metadata", "model_parameters", "messages", "status", "error_information",
               "response", "attributes", "start_time", "startTimeUnixNano", "resourceSpans", "scopeSpans", "spans",
               "consumer", "ai", "proxy", "payload", "request", "usage", "started_at", "user_api_key_hash", "key",
               "value", "intValue", "parts", "content", "role", "gen_ai.input.messages"]
foreign_like = st.recursive(
    json_values,
    lambda children: (st.dictionaries(st.sampled_from(LIKELY_KEYS), children, max_size=5)
                      | st.lists(children, max_size=3)),
    max_leaves=25,
)


@settings(max_examples=300, deadline=None)
@given(foreign_like, st.sampled_from(sorted(ADAPTERS)))
def test_parse_foreign_never_raises(value: object, fmt: str) -> None:
    for result in parse_foreign(orjson.dumps(value), fmt):
        assert isinstance(result, (Event, Rejection))


def test_kong_output_and_logit_bias_ids_from_logged_bodies() -> None:
    log = kong_log()
    response = {"choices": [{"message": {"role": "assistant", "content": "7"}, "finish_reason": "stop"}]}
    log["ai"]["proxy"]["payload"]["response"] = orjson.dumps(response).decode()
    ev = only(parse_foreign(orjson.dumps(log), "kong"))
    assert isinstance(ev, Event)
    assert (ev.output, ev.logit_bias_ids, ev.logit_bias_size) == ("7", (100, 200), 2)
    assert only(parse_foreign(orjson.dumps(kong_log()), "kong")).output is None  # "{}": no text logged


def test_responses_api_body_input_and_instructions() -> None:
    body = {"model": "gpt-4o", "instructions": "Be exact.", "input": [
        {"role": "user", "content": [{"type": "input_text", "text": "Weather?"}]},
        {"type": "reasoning", "summary": []},
        {"type": "function_call", "call_id": "c", "name": "w", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "c", "output": "14C"}]}
    log = kong_log()
    log["ai"]["proxy"]["payload"]["request"] = orjson.dumps(body).decode()
    ev = only(parse_foreign(orjson.dumps(log), "kong"))
    assert isinstance(ev, Event) and ev.system == "Be exact."
    assert ev.messages == (Message("user", "Weather?"), Message("assistant", None), Message("tool", "14C"))
