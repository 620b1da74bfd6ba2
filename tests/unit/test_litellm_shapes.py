"""Adapters and parser on LiteLLM 1.110.2's real record shapes (``shared/samples/litellm-shapes``).

Each finding of the "adapters on real shapes" issue is checked on the real sample records, read in
place. A missing sample directory fails the tests (it is part of the repository's shared data).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timezone
from functools import cache
from pathlib import Path

import orjson
import pytest

from detector.adapters import otel, parse_foreign
from detector.features import extract
from detector.parse import loads, parse_message
from detector.record import Event, Message, Rejection
from detector.offline.replay import replay_lines
from detector.signals import Signal
from detector.text import ip_prefix

SHAPES = Path(__file__).resolve().parents[3] / "shared" / "samples" / "litellm-shapes"
FILES = (
    "litellm_slp.jsonl", "litellm_slp_utf8.jsonl", "litellm_slp_batched.jsonl", "litellm_slp_real.jsonl",
    "litellm_slp_real_batched.jsonl", "litellm_slp_router.jsonl", "generic_api_json_array.jsonl",
    "generic_api_ndjson.jsonl", "generic_api_single.jsonl", "otel_latest.jsonl", "otel_latest.otlp.jsonl",
    "otel_legacy.jsonl", "otel_legacy.otlp.jsonl", "otel_proxy_latest.jsonl", "otel_proxy_legacy.jsonl",
    "otel_attr_limit.jsonl", "otel_surrogate.jsonl", "otel_surrogate.otlp_batch.jsonl",
)
REPLACEMENT = "\ufffd"


def fmt_of(name: str) -> str:
    return "otel" if name.startswith("otel") else "litellm"


@cache
def lines(name: str) -> tuple[bytes, ...]:
    path = SHAPES / name
    assert path.is_file(), f"sample {path} is missing: the shared LiteLLM shape samples are required"
    return tuple(line for line in path.read_bytes().splitlines() if line.strip())


def parsed(name: str, line_no: int) -> list[Event | Rejection]:
    """Results of one (1-based) line of a sample file."""
    return parse_foreign(lines(name)[line_no - 1], fmt_of(name))


def event(name: str, line_no: int) -> Event:
    (ev,) = [r for r in parsed(name, line_no) if isinstance(r, Event)]
    return ev


def turns(ev: Event) -> list[tuple[str, str | None]]:
    return [(m.role, m.content) for m in ev.messages]


def flags(ev: Event) -> Signal:
    return Signal(extract(ev).flags)


def test_every_sample_file_is_present() -> None:
    for name in FILES:
        assert lines(name), name


# ----------------------------------------------------- 1. content parts and tool-result-only turns


@pytest.mark.parametrize(("name", "line_no"), [
    ("litellm_slp.jsonl", 9), ("litellm_slp_real.jsonl", 9), ("otel_latest.jsonl", 11),
    ("otel_legacy.jsonl", 19), ("otel_legacy.otlp.jsonl", 19)])
def test_anthropic_turn_of_only_tool_results_is_a_tool_turn(name: str, line_no: int) -> None:
    ev = event(name, line_no)
    role, content = turns(ev)[-1]
    assert role == "tool" and content and ("5C" in content or "def add" in content)
    assert ev.messages[0].role == "user" and ev.messages[0].content
    assert not flags(ev) & Signal.EMPTY_TURN


def test_openai_tool_role_turns_stay_tool_turns() -> None:
    ev = event("litellm_slp.jsonl", 5)
    assert turns(ev) == [("user", "Weather in Lima?"), ("assistant", None), ("tool", "Lima: 19C")]
    assert turns(event("otel_latest.jsonl", 1))[-2:] == [("tool", "Paris: 14C"), ("user", "Warmer than Oslo?")]


def test_mixed_tool_result_and_text_turn_is_the_users_text() -> None:
    ev = event("litellm_slp_real.jsonl", 8)
    assert turns(ev)[-1] == ("user", "And tomorrow?")


@pytest.mark.parametrize("name", ["otel_latest.jsonl", "otel_legacy.jsonl", "otel_latest.otlp.jsonl"])
def test_otel_content_parts_with_text_key_are_text(name: str) -> None:
    line_no = 4 if "latest" in name else 7
    ev = event(name, line_no)
    assert ev.system == "System in parts."
    assert turns(ev) == [("user", "Describe this image in detail.")]
    assert not flags(ev) & Signal.EMPTY_TURN


def test_litellm_content_parts_are_text() -> None:
    ev = event("litellm_slp.jsonl", 7)
    assert ev.messages[-1].role == "user" and ev.messages[-1].content.startswith("What is in this picture?")


# ------------------------------------------------------------------ 2. Responses API agent loops


def test_responses_agent_loop_items_map_to_turns() -> None:
    ev = event("litellm_slp_real.jsonl", 13)
    assert turns(ev) == [("user", "What's the weather in Paris?"), ("assistant", None), ("tool", "Paris: 14C")]
    assert ev.tools == 1 and not flags(ev) & Signal.EMPTY_TURN


def test_responses_instructions_are_the_system_prompt() -> None:
    assert event("litellm_slp_real.jsonl", 11).system == "You are a historian."
    assert event("litellm_slp_real.jsonl", 12).system == "Dev rules."  # a developer message


def test_otel_responses_loop_items_flattened_by_litellm_are_unlogged_not_empty() -> None:
    for name, line_no in (("otel_latest.jsonl", 10), ("otel_legacy.jsonl", 17)):
        ev = event(name, line_no)
        assert turns(ev) == [("user", "What's the weather in Paris?"), ("user", None), ("user", None)]
        assert not flags(ev) & Signal.EMPTY_TURN


# ----------------------------------------------------------------------- 3. lone surrogates


def test_json_array_batch_with_a_lone_surrogate_keeps_every_record() -> None:
    (raw,) = lines("generic_api_json_array.jsonl")
    out = parse_foreign(raw, "litellm")
    assert [type(r).__name__ for r in out] == ["Event"] * 5
    assert out[2].messages[0].content == f"broken emoji {REPLACEMENT} in prompt"
    assert [e.client_ip for e in out] == [f"192.0.2.{i}" for i in range(1, 6)]


@pytest.mark.parametrize("name", ["generic_api_ndjson.jsonl", "generic_api_single.jsonl", "litellm_slp.jsonl"])
def test_lone_surrogate_escape_is_accepted_as_replacement_char(name: str) -> None:
    line_no = 31 if name == "litellm_slp.jsonl" else 3
    ev = event(name, line_no)
    assert REPLACEMENT in ev.messages[-1].content and "\ud83d" not in ev.messages[-1].content


def test_raw_utf8_surrogate_bytes_reject_only_their_own_record() -> None:
    out = [r for line in lines("litellm_slp_utf8.jsonl") for r in parse_foreign(line, "litellm")]
    rejected = [r for r in out if isinstance(r, Rejection)]
    assert Counter(r.reason for r in rejected) == Counter({"not_utf8": 1, "missing_field": 1})
    (bad,) = [r for r in rejected if r.reason == "not_utf8"]
    assert bad.raw == lines("litellm_slp_utf8.jsonl")[30] and "emoji" not in bad.detail
    assert len(out) - len(rejected) == 36


def test_batch_with_a_truly_bad_record_costs_only_that_record() -> None:
    good = [orjson.loads(line) for line in lines("litellm_slp_real.jsonl")[:3]]
    broken = b'{"id": "x", "messages": [{"role": "user", "content": "CANARY \xff"}]}'
    batch = b"[" + b", ".join([orjson.dumps(good[0]), broken, orjson.dumps(good[1]), b'{"oops": ]',
                               orjson.dumps(good[2])]) + b"]"
    out = parse_foreign(batch, "litellm")
    assert [type(r).__name__ for r in out] == ["Event", "Rejection", "Event", "Rejection", "Event"]
    assert (out[1].reason, out[1].raw) == ("not_utf8", broken)
    assert (out[3].reason, out[3].raw) == ("not_json", b'{"oops": ]')
    assert all("CANARY" not in r.detail for r in out if isinstance(r, Rejection))
    assert [e.request_id for e in out if isinstance(e, Event)] == [g["trace_id"] for g in good]


@pytest.mark.parametrize("name", ["otel_surrogate.jsonl", "otel_surrogate.otlp_batch.jsonl"])
def test_otel_prompt_with_a_lone_surrogate_is_kept(name: str) -> None:
    out = [r for line in lines(name) for r in parse_foreign(line, "otel")]
    assert all(isinstance(r, Event) for r in out) and len(out) == 4
    assert turns(out[1]) == [("user", f"broken emoji {REPLACEMENT} here")]


# ---------------------------------------------------------------------- 4. redaction marker


@pytest.mark.parametrize(("name", "line_no"), [
    ("litellm_slp.jsonl", 34), ("otel_latest.jsonl", 16), ("otel_legacy.jsonl", 29)])
def test_redacted_by_litellm_means_not_logged(name: str, line_no: int) -> None:
    ev = event(name, line_no)
    assert turns(ev) == [("user", None)]
    assert not flags(ev) & Signal.EMPTY_TURN


def test_redacted_output_is_not_logged() -> None:
    payload = orjson.loads(lines("litellm_slp.jsonl")[33])
    payload["response"]["choices"][0]["message"]["content"] = "redacted-by-litellm"
    (ev,) = parse_foreign(orjson.dumps(payload), "litellm")
    assert isinstance(ev, Event) and ev.output is None


# ------------------------------------------------------------------- 5. OTel tool definitions


@pytest.mark.parametrize("name", ["otel_latest.jsonl", "otel_legacy.jsonl", "otel_legacy.otlp.jsonl"])
def test_otel_tool_definitions_are_counted(name: str) -> None:
    ev = event(name, 1)
    assert ev.tools == 2 and flags(ev) & Signal.TOOLS


# ------------------------------------------------------------------ 6. forwarded client ip list


def test_forwarded_ip_list_keeps_the_client_address() -> None:
    ev = event("litellm_slp.jsonl", 26)
    assert ev.client_ip == "203.0.113.7" and ip_prefix(ev.client_ip) == "203.0.113.0/24"
    assert extract(ev).ip_prefix == "203.0.113.0/24"


# ------------------------------------------------------------- 7. Router retries and fallbacks


def test_router_attempts_of_one_client_request_share_one_request_id() -> None:
    out = [r for line in lines("litellm_slp_router.jsonl") for r in parse_foreign(line, "litellm")]
    assert all(isinstance(r, Event) for r in out)
    assert [e.status for e in out] == [200, 429, 429, 200]
    ids = [e.request_id for e in out]
    assert len(set(ids)) == 2 and ids[1] == ids[2] == ids[3] != ids[0]
    # one client request per id: the index file lists 2 distinct calls
    index = (SHAPES / "litellm_slp_router.index.tsv").read_text().split()
    assert len({label for label in index if not label.isdecimal()}) == len(set(ids))


def test_cache_hits_are_separate_requests() -> None:
    first, hit = event("litellm_slp.jsonl", 37), event("litellm_slp.jsonl", 38)
    assert first.request_id != hit.request_id


# ------------------------------------------------------------------- 8. output and logit_bias


def test_output_comes_from_each_response_shape() -> None:
    assert event("litellm_slp.jsonl", 9).output == "It is 5C in Kyiv."  # /v1/messages via LiteLLM
    assert event("litellm_slp_real.jsonl", 13).output.startswith("- Alliances")  # Responses API
    assert event("litellm_slp_real.jsonl", 15).output == " Lima"  # text completion
    assert event("litellm_slp.jsonl", 12).output is None  # embedding
    assert event("litellm_slp.jsonl", 16).output is None  # failure
    assert event("otel_latest.jsonl", 3).output == "Paris\nParis\nParis"  # n=3
    assert event("otel_legacy.otlp.jsonl", 1).output == "Paris is warmer."


def test_logit_bias_ids_from_the_request() -> None:
    ev = event("litellm_slp.jsonl", 20)
    raw = orjson.loads(lines("litellm_slp.jsonl")[19])["model_parameters"]["logit_bias"]
    assert ev.logit_bias_size == len(raw) == 300
    assert ev.logit_bias_ids == tuple(sorted(int(k) for k in raw))
    real = event("litellm_slp_real.jsonl", 4)
    assert real.logit_bias_size == len(real.logit_bias_ids) == 2


# -------------------------------------------------- 40 benign keys built from each real shape


BASE_MS = 1_796_100_000_000
KEYS, PER_KEY, GAP_MS = 40, 50, 240_000  # ~50 requests over ~3.3 hours per key


def _records(name: str) -> list[dict]:
    """The sample's records that parse as events, one foreign object each (batches and OTLP opened)."""
    out = []
    for line in lines(name):
        try:
            value = loads(line)
        except ValueError:
            continue  # the raw-surrogate line: rejected on its own, checked above
        for item in value if isinstance(value, list) else [value]:
            for record in otel.spans(item) if fmt_of(name) == "otel" else [item]:
                if all(isinstance(r, Event) for r in parse_foreign(orjson.dumps(record), fmt_of(name))):
                    out.append(record)
    return out


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).isoformat().replace("+00:00", "Z")


def _rekey(record: dict, key: str, ts_ms: int) -> dict:
    """A copy of ``record`` sent by ``key`` at ``ts_ms`` (LiteLLM payload, OTel span or OTLP span)."""
    record = orjson.loads(orjson.dumps(record))
    if "startTime" in record:
        record["metadata"]["user_api_key_hash"] = key
        record["startTime"], record["endTime"] = ts_ms / 1000, ts_ms / 1000 + 0.8
    elif isinstance(record["attributes"], dict):
        record["attributes"]["metadata.user_api_key_hash"] = key
        record["start_time"], record["end_time"] = _iso(ts_ms), _iso(ts_ms + 800)
    else:
        record["attributes"] = [a for a in record["attributes"] if a["key"] != "metadata.user_api_key_hash"]
        record["attributes"].append({"key": "metadata.user_api_key_hash", "value": {"stringValue": key}})
        record["startTimeUnixNano"] = str(ts_ms * 1_000_000)
        record["endTimeUnixNano"] = str((ts_ms + 800) * 1_000_000)
    return record


def benign_lines(name: str) -> Iterator[bytes]:
    """40 keys x 50 requests cycling through the sample's records, in time order."""
    records = _records(name)
    assert records, name
    stream = []
    for k in range(KEYS):
        for j in range(PER_KEY):
            ts = BASE_MS + j * GAP_MS + k * 1_000
            stream.append((ts, orjson.dumps(_rekey(records[(k + j) % len(records)], f"benign-{name}-{k}", ts))))
    stream.sort()
    return (line for _, line in stream)


@pytest.mark.parametrize("name", FILES)
def test_40_benign_keys_from_each_real_shape_give_no_empty_turn_signals(name: str) -> None:
    events = [r for line in benign_lines(name) for r in parse_foreign(line, fmt_of(name))]
    assert len(events) == KEYS * PER_KEY and all(isinstance(e, Event) for e in events)
    assert len({e.api_key_id for e in events}) == KEYS  # type: ignore[union-attr]
    structured = [e for e in events if e.messages and (e.messages[-1].role == "tool" or _had_parts(e))]
    assert structured or name.startswith(("generic", "litellm_slp_router", "otel_proxy", "otel_attr",
                                          "otel_surrogate"))
    flagged = [turns(e) for e in events if flags(e) & Signal.EMPTY_TURN]  # type: ignore[arg-type]
    assert flagged == []


def _had_parts(ev: Event) -> bool:
    """Did the sample give this request's last user turn as content parts?"""
    return any(m.role == "user" and m.content in _PART_TEXTS for m in ev.messages)


_PART_TEXTS = {"Describe this image in detail.", "Fix the failing test", "Fix the failing test in utils.py",
               "Derive the quadratic formula.", "Weather in Kyiv?"}


@pytest.mark.parametrize("name", FILES)
def test_replay_of_40_benign_keys_raises_no_alert(name: str) -> None:
    result = replay_lines(benign_lines(name), fmt=fmt_of(name))
    assert result.counts["events"] == KEYS * PER_KEY
    assert Counter(a["kind"] for a in result.alerts) == Counter()


def test_canonical_parser_reads_tool_result_blocks_too() -> None:
    record = {"ts": BASE_MS, "api_key_id": "k", "messages": [
        {"role": "user", "content": [{"type": "text", "text": "go"}]},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "f", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t",
                                      "content": [{"type": "text", "text": "42"}]}]}]}
    (ev,) = parse_message(orjson.dumps(record))
    assert isinstance(ev, Event)
    assert ev.messages == (Message("user", "go"), Message("assistant", ""), Message("tool", "42"))
