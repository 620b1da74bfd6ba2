"""Canonical record parsing: framing, validation, rejection reasons, hostile input."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import detector.parse as parse
from detector.parse import parse_line, parse_message, parse_record, rfc3339_ms
from detector.record import Event, Message, Rejection

TS = 1_795_701_787_412  # 2026-11-26T14:03:07.412Z
CANARY = "CANARY-7b1e-prompt-text"

EXAMPLE = {
    "ts": "2026-11-26T14:03:07.412Z",
    "request_id": "req_01HZX3",
    "api_key_id": "key_7f3a",
    "account_id": "acct_19c",
    "account_created_at": "2026-11-20T09:00:00Z",
    "client_ip": "198.51.100.23",
    "user_agent": "anthropic-python/0.70.0",
    "model": "claude-x-1",
    "endpoint": "/v1/messages",
    "status": 200,
    "latency_ms": 8123,
    "usage": {"input_tokens": 412, "output_tokens": 1893},
    "params": {"temperature": 1.0, "max_tokens": 8192, "stream": True, "thinking_budget": 4096},
    "system": "You are a careful expert.",
    "messages": [{"role": "user", "content": "Here is a solved problem. " + CANARY}],
    "finish_reason": "stop",
}


def record(**changes: object) -> dict:
    """A minimal valid record with ``changes`` applied (a value of ``...`` deletes the key)."""
    rec: dict = {"ts": TS, "api_key_id": "key_1", "messages": [{"role": "user", "content": CANARY}]}
    for key, value in changes.items():
        if value is ...:
            rec.pop(key, None)
        else:
            rec[key] = value
    return rec


def check(rec: object) -> Event | Rejection:
    return parse_line(orjson.dumps(rec))


def rejected(rec: object, reason: str, field: str | None = None) -> Rejection:
    result = check(rec)
    assert isinstance(result, Rejection), result
    assert result.reason == reason, result.detail
    if field is not None:
        assert result.detail.startswith(field + ":"), result.detail
    assert CANARY not in result.detail
    return result


# ------------------------------------------------------------------------------------ happy path


def test_schema_example_maps_every_field() -> None:
    ev = check(EXAMPLE)
    assert isinstance(ev, Event)
    assert ev == Event(
        ts_ms=TS,
        api_key_id="key_7f3a",
        request_id="req_01HZX3",
        account_id="acct_19c",
        account_created_ms=rfc3339_ms("2026-11-20T09:00:00+00:00"),
        client_ip="198.51.100.23",
        user_agent="anthropic-python/0.70.0",
        model="claude-x-1",
        endpoint="/v1/messages",
        status=200,
        latency_ms=8123.0,
        input_tokens=412,
        output_tokens=1893,
        temperature=1.0,
        max_tokens=8192,
        stream=True,
        thinking_budget=4096,
        system="You are a careful expert.",
        messages=(Message("user", "Here is a solved problem. " + CANARY),),
        finish_reason="stop",
    )
    assert type(ev.latency_ms) is float


def test_all_params_and_reasoning_tokens() -> None:
    params = {"temperature": 0, "top_p": 0.9, "max_tokens": 0, "n": 3, "seed": -5, "stream": False,
              "logprobs": True, "top_logprobs": 20, "logit_bias_size": 3, "tools": 2, "thinking_budget": 1024}
    ev = check(record(params=params, usage={"input_tokens": 0, "output_tokens": 0, "reasoning_tokens": 7}))
    assert (ev.temperature, ev.top_p, ev.max_tokens, ev.n, ev.seed, ev.stream) == (0.0, 0.9, 0, 3, -5, False)
    assert (ev.logprobs, ev.top_logprobs, ev.logit_bias_size, ev.tools, ev.thinking_budget) == (True, 20, 3, 2, 1024)
    assert (ev.input_tokens, ev.output_tokens, ev.reasoning_tokens) == (0, 0, 7)


def test_unknown_fields_ignored_and_nulls_are_absent() -> None:
    ev = check(record(zzz={"deep": [1, 2, {"x": None}]}, model=None, usage=None, params={"n": None},
                      system=None, messages=None))
    assert isinstance(ev, Event)
    assert ev.model is None and ev.n is None and ev.system is None and ev.messages == ()


def test_long_identifiers_are_truncated_not_rejected() -> None:
    ev = check(record(user_agent="x" * 5000, request_id="r" * 2000))
    assert len(ev.user_agent) == parse.MAX_ID_CHARS and len(ev.request_id) == parse.MAX_ID_CHARS


# ------------------------------------------------------------------------------------ timestamps


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-26T14:03:07.412Z", TS),
        ("2026-11-26T15:03:07.412+01:00", TS),
        ("2026-11-26T14:03:07.412999999Z", TS),  # nanoseconds are dropped, never rounded up
        ("2026-11-26T14:03:07.4121Z", TS),
        ("2026-11-26t14:03:07.412z", TS),
        ("2026-11-26 14:03:07.412Z", TS),
        ("2026-11-26T09:03:07.412-05:00", TS),
        ("2026-11-26T14:03:07Z", TS - 412),
    ],
)
def test_rfc3339_forms(text: str, expected: int) -> None:
    assert check(record(ts=text)).ts_ms == expected


def test_epoch_milliseconds_int_and_float() -> None:
    assert check(record(ts=TS)).ts_ms == TS
    assert check(record(ts=TS + 0.9)).ts_ms == TS


@pytest.mark.parametrize("text", ["2026-11-26T14:03:07", "2026-11-26", "yesterday", "", "2026-13-01T00:00:00Z",
                                  "2026-11-26T14:03:07Z" + " " * 100])
def test_bad_timestamp_strings(text: str) -> None:
    rejected(record(ts=text), "bad_timestamp", "ts")


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_epoch_is_bad_timestamp(value: float) -> None:
    result = parse_record(record(ts=value), b"{}")
    assert isinstance(result, Rejection) and result.reason == "bad_timestamp"


@pytest.mark.parametrize("ts", [0, 1_700_000_000, "1970-01-01T00:00:00Z", "2014-12-31T23:59:59.999Z",
                                "2200-01-01T00:00:00Z", 7_258_118_400_000, -1, 2**63 - 1])
def test_absurd_timestamps_out_of_range(ts: object) -> None:
    rejected(record(ts=ts), "out_of_range", "ts")


def test_huge_integers() -> None:
    # orjson decodes integers beyond 64 bits as floats; adapters may hand over Python ints of any size
    for ts in (10**30, -(10**30)):
        assert parse_record(record(ts=ts), b"{}").reason == "out_of_range"
    assert parse_record(record(params={"seed": 2**64}), b"{}").reason == "out_of_range"
    big_seed = parse_line(b'{"ts": 1795701787412, "api_key_id": "k", "params": {"seed": 18446744073709551616}}')
    assert (big_seed.reason, big_seed.detail) == ("wrong_type", "params.seed: expected an integer")


def test_reference_window() -> None:
    day = 86_400_000
    raw = orjson.dumps(record())
    assert isinstance(parse_line(raw, reference_ms=TS + 6 * day), Event)
    assert isinstance(parse_line(raw, reference_ms=TS - 7 * day), Event)
    late = parse_line(raw, reference_ms=TS + 8 * day)
    early = parse_line(raw, reference_ms=TS - 8 * day)
    assert late.reason == early.reason == "out_of_range"


def test_account_created_at() -> None:
    assert check(record(account_created_at="2020-01-01T00:00:00Z")).account_created_ms == 1_577_836_800_000
    rejected(record(account_created_at="2020-01-01"), "bad_timestamp", "account_created_at")
    rejected(record(account_created_at=12.5), "out_of_range", "account_created_at")


def test_rfc3339_ms_assume_utc() -> None:
    assert rfc3339_ms("2026-11-26T14:03:07.412", assume_utc=True) == TS
    with pytest.raises(ValueError, match="offset"):
        rfc3339_ms("2026-11-26T14:03:07.412")


# -------------------------------------------------------------------------------- required fields


@pytest.mark.parametrize("field", ["ts", "api_key_id"])
def test_missing_required(field: str) -> None:
    assert rejected(record(**{field: ...}), "missing_field", field).detail == f"{field}: missing"
    rejected(record(**{field: None}), "missing_field", field)


@pytest.mark.parametrize(("value", "reason"), [("", "out_of_range"), ("k" * 257, "out_of_range"),
                                               (17, "wrong_type"), (["k"], "wrong_type")])
def test_bad_api_key_id(value: object, reason: str) -> None:
    rejected(record(api_key_id=value), reason, "api_key_id")


def test_api_key_id_limits_inclusive() -> None:
    assert check(record(api_key_id="k" * 256)).api_key_id == "k" * 256


# -------------------------------------------------------------------------------- types and ranges


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"usage": {"input_tokens": True}}, "usage.input_tokens"),
        ({"usage": {"output_tokens": 1.0}}, "usage.output_tokens"),
        ({"usage": {"reasoning_tokens": "12"}}, "usage.reasoning_tokens"),
        ({"status": True}, "status"),
        ({"status": "200"}, "status"),
        ({"params": {"n": True}}, "params.n"),
        ({"params": {"max_tokens": False}}, "params.max_tokens"),
        ({"params": {"temperature": True}}, "params.temperature"),
        ({"params": {"temperature": "0.7"}}, "params.temperature"),
        ({"params": {"stream": 1}}, "params.stream"),
        ({"params": {"logprobs": "true"}}, "params.logprobs"),
        ({"params": {"seed": 1.5}}, "params.seed"),
        ({"latency_ms": False}, "latency_ms"),
        ({"model": 4}, "model"),
        ({"client_ip": ["1.2.3.4"]}, "client_ip"),
        ({"usage": [1, 2]}, "usage"),
        ({"params": "n=3"}, "params"),
        ({"ts": True}, "ts"),
        ({"ts": {"ms": TS}}, "ts"),
        ({"system": 3}, "system"),
        ({"messages": {"role": "user"}}, "messages"),
        ({"messages": ["hello"]}, "messages[0]"),
        ({"messages": [{"role": "user", "content": "a"}, {"content": CANARY}]}, "messages[1].role"),
        ({"messages": [{"role": 1, "content": CANARY}]}, "messages[0].role"),
        ({"messages": [{"role": "user", "content": 5}]}, "messages[0].content"),
        ({"messages": [{"role": "user", "content": {"text": CANARY}}]}, "messages[0].content"),
        ({"messages": [{"role": "user", "content": [{"type": "text", "text": CANARY}, 7]}]}, "messages[0].content"),
    ],
)
def test_wrong_type(changes: dict, field: str) -> None:
    rejected(record(**changes), "wrong_type", field)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"usage": {"input_tokens": -1}}, "usage.input_tokens"),
        ({"usage": {"output_tokens": 10_000_001}}, "usage.output_tokens"),
        ({"usage": {"reasoning_tokens": -3}}, "usage.reasoning_tokens"),
        ({"status": 99}, "status"),
        ({"status": 600}, "status"),
        ({"latency_ms": -1}, "latency_ms"),
        ({"params": {"temperature": 5.01}}, "params.temperature"),
        ({"params": {"temperature": -0.1}}, "params.temperature"),
        ({"params": {"top_p": 1.5}}, "params.top_p"),
        ({"params": {"n": 0}}, "params.n"),
        ({"params": {"n": 1001}}, "params.n"),
        ({"params": {"max_tokens": -1}}, "params.max_tokens"),
        ({"params": {"top_logprobs": -1}}, "params.top_logprobs"),
        ({"params": {"logit_bias_size": -1}}, "params.logit_bias_size"),
        ({"params": {"tools": -2}}, "params.tools"),
        ({"params": {"thinking_budget": -1}}, "params.thinking_budget"),
        ({"messages": [{"role": "hacker", "content": CANARY}]}, "messages[0].role"),
    ],
)
def test_out_of_range(changes: dict, field: str) -> None:
    rejected(record(**changes), "out_of_range", field)


def test_range_limits_are_inclusive() -> None:
    ev = check(record(status=599, usage={"input_tokens": 10_000_000},
                      params={"temperature": 5, "n": 1000, "top_p": 1, "seed": 2**64 - 1}))
    assert (ev.status, ev.input_tokens, ev.temperature, ev.n, ev.seed) == (599, 10_000_000, 5.0, 1000, 2**64 - 1)


def test_nan_numbers_from_adapters_are_out_of_range() -> None:
    result = parse_record(record(params={"temperature": float("nan")}), b"{}")
    assert result.reason == "out_of_range"


# ---------------------------------------------------------------------------------------- messages


def test_content_forms() -> None:
    ev = check(record(messages=[
        {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "image_url", "image_url": {"url": "x"}},
                                     {"type": "text", "text": "b"}]},
        {"role": "assistant"},
        {"role": "assistant", "content": None},
        {"role": "tool", "content": [{"type": "image"}]},
        {"role": "function", "content": "legacy"},
        {"role": "user", "content": ["plain part"], "name": "ignored"},
    ]))
    assert ev.messages == (
        Message("user", "a\nb"),
        Message("assistant", None),
        Message("assistant", None),
        Message("tool", ""),
        Message("tool", "legacy"),
        Message("user", "plain part"),
    )


def test_system_messages_move_to_system() -> None:
    ev = check(record(system=[{"type": "text", "text": "top"}], messages=[
        {"role": "system", "content": "sys"},
        {"role": "developer", "content": [{"type": "text", "text": "dev"}]},
        {"role": "system"},
        {"role": "user", "content": "q"},
    ]))
    assert ev.system == "top\n\nsys\n\ndev"
    assert ev.messages == (Message("user", "q"),)
    assert check(record(messages=[{"role": "system", "content": "only"}])).system == "only"


def test_huge_array_of_messages() -> None:
    msgs = [{"role": "user" if i % 2 == 0 else "assistant", "content": f"m{i}"} for i in range(50_000)]
    ev = check(record(messages=msgs))
    assert len(ev.messages) == 50_000 and ev.messages[-1] == Message("assistant", "m49999")


def test_one_megabyte_prompt_parses_alone_and_in_batches() -> None:
    big = CANARY + "x" * 1_000_000
    raw = orjson.dumps(record(messages=[{"role": "user", "content": big}]))
    ev = parse_line(raw)
    assert isinstance(ev, Event) and ev.messages[0].content == big
    small = orjson.dumps(record(api_key_id="small"))
    for batch in (b"\n".join([small, raw, small]), b"[" + b",".join([small, raw, small]) + b"]"):
        out = parse_message(batch)
        assert [r.api_key_id for r in out] == ["small", "key_1", "small"]
        assert out[1].messages[0].content == big


# ------------------------------------------------------------------------------------ parse_line


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"\xff\xfe{}", "not_utf8"),
        (b'{"ts": 1, "api_key_id": "\xc3\x28"}', "not_utf8"),
        (b'{"api_key_id": "\xed\xa0\x80"}', "not_utf8"),  # UTF-8-encoded surrogate
        (b"", "not_json"),
        (b"   ", "not_json"),
        (b"{", "not_json"),
        (b'{"ts": NaN}', "not_json"),
        (b"{'ts': 1}", "not_json"),
        (b'{"a":1}{"b":2}', "not_json"),
        (b"[" * 5000 + b"]" * 5000, "not_json"),  # deeper than orjson's recursion limit
        (b"[]", "not_object"),
        (b"[{}]", "not_object"),
        (b"42", "not_object"),
        (b'"text"', "not_object"),
        (b"null", "not_object"),
    ],
)
def test_parse_line_undecodable(raw: bytes, reason: str) -> None:
    result = parse_line(raw)
    assert isinstance(result, Rejection)
    assert (result.reason, result.raw) == (reason, raw)


def test_decode_errors_do_not_quote_input() -> None:
    for raw in (CANARY.encode() + b"\xff", b'{"x": "' + CANARY.encode() + b'" oops}'):
        result = parse_line(raw)
        assert CANARY not in result.detail and "byte" in result.detail


def test_oversize() -> None:
    raw = orjson.dumps(record(messages=[{"role": "user", "content": "x" * 100}]))
    assert parse_line(raw, max_bytes=len(raw)).__class__ is Event
    assert parse_line(raw, max_bytes=len(raw) - 1).reason == "oversize"
    assert parse_record(orjson.loads(raw), raw, max_bytes=50).reason == "oversize"
    huge = orjson.dumps(record(messages=[{"role": "user", "content": CANARY * 100_000}]))
    assert len(huge) > parse.MAX_RECORD_BYTES
    result = parse_line(huge)
    assert result.reason == "oversize" and CANARY not in result.detail and result.raw == huge


def test_parse_record_not_object() -> None:
    assert parse_record([record()], b"[]").reason == "not_object"


# ---------------------------------------------------------------------------------- parse_message


def test_message_single_object_and_pretty_printed() -> None:
    assert [type(r) for r in parse_message(orjson.dumps(record()))] == [Event]
    assert [type(r) for r in parse_message(orjson.dumps(record(), option=orjson.OPT_INDENT_2))] == [Event]


def test_message_array_mixed() -> None:
    good = [record(api_key_id=f"k{i}") for i in range(3)]
    items = [good[0], 17, record(ts=...), good[1], [good[2]], "s", good[2]]
    out = parse_message(orjson.dumps(items))
    assert [r.reason if isinstance(r, Rejection) else r.api_key_id for r in out] == [
        "k0", "not_object", "missing_field", "k1", "not_object", "not_object", "k2"]
    assert out[1].raw == b"17"
    assert out[2].raw == orjson.dumps(items[2])
    assert out[4].raw == orjson.dumps([good[2]])


def test_message_ndjson_bad_middle_line() -> None:
    lines = [orjson.dumps(record(api_key_id="a")), b'{"ts": oops ' + CANARY.encode(), b"",
             b"   ", b"\xff\xfe", orjson.dumps(record(api_key_id="b")), orjson.dumps(record(status="x"))]
    out = parse_message(b"\r\n".join(lines) + b"\n")
    assert [r.reason if isinstance(r, Rejection) else r.api_key_id for r in out] == [
        "a", "not_json", "not_utf8", "b", "wrong_type"]
    assert out[1].raw == lines[1] and out[2].raw == lines[4] and out[4].raw == lines[6]
    assert all(CANARY not in r.detail for r in out if isinstance(r, Rejection))


def test_message_ndjson_of_arrays_and_non_objects() -> None:
    line = orjson.dumps([record(api_key_id="x"), record(api_key_id="y")])
    out = parse_message(line + b"\n42\n" + orjson.dumps(record(api_key_id="z")))
    assert [r.reason if isinstance(r, Rejection) else r.api_key_id for r in out] == ["x", "y", "not_object", "z"]


def test_message_empty_and_blank() -> None:
    assert parse_message(b"") == [] and parse_message(b" \n\r\n\t ") == []


def test_message_single_broken_value() -> None:
    out = parse_message(b'{"ts": 1,\n')
    assert [r.reason for r in out] == ["not_json"] and out[0].raw == b'{"ts": 1,\n'
    assert [r.reason for r in parse_message(b"\xff\n")] == ["not_utf8"]


def test_message_array_larger_than_record_limit() -> None:
    small = [record(api_key_id=f"k{i}") for i in range(20)]
    big = record(api_key_id="big", messages=[{"role": "user", "content": "x" * 5000}])
    raw = orjson.dumps(small[:10] + [big] + small[10:])
    out = parse_message(raw, max_bytes=4000)
    assert len(raw) > 4000
    assert [r.reason if isinstance(r, Rejection) else r.api_key_id for r in out] == (
        [f"k{i}" for i in range(10)] + ["oversize"] + [f"k{i}" for i in range(10, 20)])
    assert out[10].raw == orjson.dumps(big)
    single = orjson.dumps(big)
    assert [r.reason for r in parse_message(single, max_bytes=4000)] == ["oversize"]
    out = parse_message(single + b"\n" + orjson.dumps(small[0]), max_bytes=4000)
    assert out[0].reason == "oversize" and out[0].raw == single and out[1].api_key_id == "k0"


def test_message_over_message_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parse, "MAX_MESSAGE_BYTES", 100)
    raw = b"\n".join([orjson.dumps(record())] * 3)
    out = parse_message(raw)
    assert [r.reason for r in out] == ["oversize"] and out[0].raw == raw


def test_rejected_array_element_detail_has_no_prompt() -> None:
    items = [record(messages=[{"role": "villain", "content": CANARY}]), record(usage={"input_tokens": -1})]
    for result in parse_message(orjson.dumps(items)):
        assert isinstance(result, Rejection) and CANARY not in result.detail
        assert CANARY.encode() in result.raw


def test_nested_garbage_in_known_fields() -> None:
    garbage = {"a": [[[[{"b": [None, True, 1e300, "x" * 100]}]]]]}
    for changes in ({"usage": garbage}, {"params": garbage}, {"messages": [garbage]}, {"system": [garbage]}):
        result = check(record(**changes))
        assert isinstance(result, (Event, Rejection))
    assert check(record(system=[garbage])).system == ""  # a part without text adds nothing


# ------------------------------------------------------------------------------------- properties

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)
field_names = st.sampled_from(["ts", "api_key_id", "usage", "params", "messages", "system", "status", "model",
                               "latency_ms", "account_created_at", "role", "content", "input_tokens", "n"])
record_like = st.dictionaries(field_names, json_values, max_size=8)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_parse_message_never_raises_on_bytes(raw: bytes) -> None:
    for result in parse_message(raw):
        assert isinstance(result, (Event, Rejection))
    assert isinstance(parse_line(raw), (Event, Rejection))


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=70), st.from_regex(r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9:.,+Zz-]{0,30}\Z")))
def test_any_timestamp_text_is_event_or_rejection(text: str) -> None:
    result = parse_record({"ts": text, "api_key_id": "k"}, b"")
    assert isinstance(result, Event) or result.reason in {"bad_timestamp", "out_of_range"}


@settings(max_examples=300, deadline=None)
@given(st.lists(record_like | json_values, max_size=5), st.sampled_from(["array", "ndjson"]))
def test_parse_message_never_raises_on_json(values: list, framing: str) -> None:
    if framing == "array":
        raw = orjson.dumps(values)
    else:
        raw = b"\n".join(orjson.dumps(v) for v in values)
    for result in parse_message(raw):
        assert isinstance(result, (Event, Rejection))
        if isinstance(result, Rejection):
            assert result.reason in {"not_json", "not_object", "missing_field", "wrong_type", "out_of_range",
                                     "bad_timestamp", "oversize"}


valid_records = st.builds(
    lambda ts, key, tokens, content: {"ts": ts, "api_key_id": key, "usage": {"input_tokens": tokens},
                                      "messages": [{"role": "user", "content": content}]},
    st.integers(parse.TS_MIN_MS, parse.TS_MAX_MS - 1),
    st.text(min_size=1, max_size=20),
    st.integers(0, parse.MAX_TOKENS),
    st.text(max_size=50),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(valid_records, max_size=20), st.sampled_from(["array", "ndjson"]))
def test_valid_records_all_come_out_in_order(records: list[dict], framing: str) -> None:
    if framing == "array":
        raw = orjson.dumps(records)
    else:
        raw = b"\n".join(orjson.dumps(r) for r in records)
    out = parse_message(raw)
    assert all(isinstance(r, Event) for r in out)
    assert [(e.ts_ms, e.api_key_id, e.input_tokens, e.messages[0].content) for e in out] == [
        (r["ts"], r["api_key_id"], r["usage"]["input_tokens"], r["messages"][0]["content"]) for r in records]


bad_lines = st.sampled_from([b"oops", b"\xff\xfe", b"42", b"[1", b"{", b"null", b'{"ts": 1}',
                             b'{"api_key_id": "' + CANARY.encode() + b'"}'])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(valid_records, bad_lines), min_size=2, max_size=10))
def test_ndjson_bad_lines_never_disturb_good_ones(items: list) -> None:
    out = parse_message(b"\n".join(orjson.dumps(i) if isinstance(i, dict) else i for i in items))
    assert len(out) == len(items)
    for item, result in zip(items, out):
        if isinstance(item, dict):
            assert isinstance(result, Event) and (result.ts_ms, result.api_key_id) == (item["ts"], item["api_key_id"])
        else:
            assert isinstance(result, Rejection) and result.raw == item and CANARY not in result.detail


# ------------------------------------------------------------ output, logit_bias, client ip, surrogates


def _with(**fields: object) -> Event | Rejection:
    return parse_record({"ts": TS, "api_key_id": "k", **fields}, b"")


def test_output_is_kept_whole_and_type_checked() -> None:
    assert _with(output="x" * 5000).output == "x" * 5000
    assert _with().output is None and _with(output=None).output is None
    rej = _with(output=["x"])
    assert (rej.reason, rej.detail) == ("wrong_type", "output: expected a string")


def test_logit_bias_ids_sorted_distinct_capped_and_size_derived() -> None:
    ev = _with(params={"logit_bias": {"50256": -100, "7": 1.5, "0012": 3}})
    assert (ev.logit_bias_ids, ev.logit_bias_size) == ((7, 12, 50256), 3)
    assert _with(params={"logit_bias": {"1": 1}, "logit_bias_size": 9}).logit_bias_size == 9
    big = _with(params={"logit_bias": {str(i): 1 for i in range(3000, 0, -1)}})
    assert big.logit_bias_ids == tuple(range(1, 1025)) and big.logit_bias_size == 3000
    empty = _with(params={"logit_bias": {}})
    assert (empty.logit_bias_ids, empty.logit_bias_size) == ((), 0)


def test_logit_bias_non_decimal_keys_are_hashed_stably() -> None:
    import xxhash

    from detector.text import SEED
    ev = _with(params={"logit_bias": {"Ġthe": 5, "٣": 1, "-4": 1}})
    expect = sorted(xxhash.xxh3_64_intdigest(k.encode(), SEED & 0x7FFFFFFF) for k in ("Ġthe", "٣", "-4"))
    assert ev.logit_bias_ids == tuple(expect)


@pytest.mark.parametrize("bias", [[1, 2], "1:100", 5, {"1": "100"}, {"1": True}])
def test_logit_bias_wrong_types_are_rejected(bias: object) -> None:
    rej = _with(params={"logit_bias": bias})
    assert isinstance(rej, Rejection) and rej.reason == "wrong_type" and rej.detail.startswith("params.logit_bias")


@pytest.mark.parametrize(("ip", "expect"), [
    ("203.0.113.7, 10.0.0.2", "203.0.113.7"), ("2001:db8::1,10.0.0.2", "2001:db8::1"), (", 10.0.0.2", None),
    ("198.51.100.23", "198.51.100.23")])
def test_forwarded_client_ip_list_keeps_the_first_address(ip: str, expect: str | None) -> None:
    assert _with(client_ip=ip).client_ip == expect


def test_lone_surrogate_escape_becomes_replacement_char() -> None:
    line = b'{"ts": %d, "api_key_id": "k", "messages": [{"role": "user", "content": "a \\ud83d b \\udc00"}]}' % TS
    ev = parse_line(line)
    assert isinstance(ev, Event) and ev.messages[0].content == "a \ufffd b \ufffd"
    paired = parse_line(line.replace(b"\\ud83d b \\udc00", b"\\ud83d\\ude00"))
    assert paired.messages[0].content == "a \U0001F600"
    assert parse_line(b'{"ts": 1, "api_key_id": "\\ud800", "x": NaN}').reason == "not_json"


def test_array_batch_with_bad_elements_keeps_the_good_ones() -> None:
    good = orjson.dumps({"ts": TS, "api_key_id": "a"})
    surrogate = b'{"ts": %d, "api_key_id": "b", "system": "\\udfff"}' % TS
    raw = b"[" + b",".join([good, b'{"ts": ' + CANARY.encode() + b"}", surrogate, b"7", b'"\xff"', good]) + b"]"
    out = parse_message(raw)
    assert [r.reason if isinstance(r, Rejection) else r.api_key_id for r in out] == [
        "a", "not_json", "b", "not_object", "not_utf8", "a"]
    assert out[2].system == "\ufffd"
    assert out[1].raw == b'{"ts": ' + CANARY.encode() + b"}" and all(
        CANARY not in r.detail for r in out if isinstance(r, Rejection))


def test_array_elements_split_strings_and_nesting_correctly() -> None:
    raw = b'  [ {"a": "],[{\\"\\\\"}, [1, {"b": 2}], "x" ,null ]'
    assert parse.array_elements(raw) == [b'{"a": "],[{\\"\\\\"}', b'[1, {"b": 2}]', b'"x"', b"null"]
    assert parse.array_elements(b'{"a": 1}') is None
    assert parse.array_elements(b"[1, 2") == [b"1", b"2"]


def test_unsalvageable_array_is_one_rejection_with_its_bytes() -> None:
    for raw in (b"[1", b"[oops, nope]", b'[{"a": ]'):
        (rej,) = parse_message(raw)
        assert isinstance(rej, Rejection) and rej.raw == raw
