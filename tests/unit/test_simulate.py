"""Tests of the traffic simulator (detector.offline.simulate): determinism, record validity, ground truth,
and the properties each persona and campaign is supposed to have."""

from __future__ import annotations

import gzip
import ipaddress
import math
import os
import re
import subprocess
import sys
from collections import Counter, defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from detector.offline.simulate import CAMPAIGNS, PERSONAS, simulate
from detector.offline.simulate.clock import iso_ms, parse_rfc3339, strictly_increasing

CORPORA = Path(__file__).resolve().parents[3] / "shared" / "corpora"
HOURS = 6.0
SCALE = 0.1

TS_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
KEY_RE = re.compile(r"^key_[0-9a-f]{12}$")
TOP_FIELDS = {"ts", "request_id", "api_key_id", "account_id", "account_created_at", "end_user_id",
              "client_ip", "user_agent", "model", "endpoint", "status", "latency_ms", "usage",
              "params", "system", "messages", "finish_reason"}
PARAM_TYPES: dict[str, type | tuple[type, ...]] = {
    "temperature": float, "top_p": float, "max_tokens": int, "n": int, "seed": int,
    "stream": bool, "logprobs": bool, "top_logprobs": int, "logit_bias_size": int, "tools": int,
    "thinking_budget": int, "logit_bias": dict}


def _corpora() -> Path | None:
    return CORPORA if CORPORA.is_dir() else None


def _read(out: Path) -> tuple[list[bytes], list[dict[str, Any]], dict[str, dict[str, Any]], dict]:
    with gzip.open(out / "events.jsonl.gz", "rb") as fh:
        lines = fh.read().splitlines()
    events = [orjson.loads(line) for line in lines]
    labels = {r["api_key_id"]: r for r in map(orjson.loads, (out / "labels.jsonl").read_bytes().splitlines())}
    manifest = orjson.loads((out / "manifest.json").read_bytes())
    return lines, events, labels, manifest


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("sim_all")
    increments: list[int] = []
    result = simulate(out, seed=7, scenario="all", hours=HOURS, scale=SCALE, corpora=_corpora(),
                      progress=increments.append)
    lines, events, labels, manifest = _read(out)
    by_persona: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for ev in events:
        by_persona[labels[ev["api_key_id"]]["persona"]].append(ev)
    return {"out": out, "result": result, "lines": lines, "events": events, "labels": labels,
            "manifest": manifest, "by": by_persona, "progress": increments}


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A full day, small background, one campaign, generated text only."""
    out = tmp_path_factory.mktemp("sim_day")
    simulate(out, seed=11, scenario="low_and_slow", hours=24.0, scale=0.02, corpora=None)
    _, events, labels, _ = _read(out)
    by_persona: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for ev in events:
        by_persona[labels[ev["api_key_id"]]["persona"]].append(ev)
    return {"by": by_persona}


def _ms(ts: str) -> int:
    return parse_rfc3339(ts)


# ------------------------------------------------------------------------------ determinism

def test_same_arguments_give_identical_bytes_and_other_seed_differs(tmp_path: Path) -> None:
    files = ("events.jsonl.gz", "labels.jsonl", "accounts.jsonl", "allowlist.json", "manifest.json")
    args = dict(scenario="all", hours=2.0, scale=0.05, corpora=_corpora())
    simulate(tmp_path / "a", seed=3, **args)
    simulate(tmp_path / "b", seed=3, **args)
    simulate(tmp_path / "c", seed=4, **args)
    for name in files:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    assert (tmp_path / "a" / "events.jsonl.gz").read_bytes() != (tmp_path / "c" / "events.jsonl.gz").read_bytes()
    assert (tmp_path / "a" / "labels.jsonl").read_bytes() != (tmp_path / "c" / "labels.jsonl").read_bytes()


def test_output_does_not_depend_on_the_interpreter_hash_seed(tmp_path: Path) -> None:
    code = ("import sys; from pathlib import Path; from detector.offline.simulate import simulate; "
            "simulate(Path(sys.argv[1]), seed=3, scenario='hydra', hours=1.0, scale=0.05)")
    for hash_seed in ("0", "1"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        subprocess.run([sys.executable, "-c", code, str(tmp_path / hash_seed)], env=env, check=True,
                       cwd=Path(__file__).resolve().parents[2])
    assert (tmp_path / "0" / "events.jsonl.gz").read_bytes() == (tmp_path / "1" / "events.jsonl.gz").read_bytes()


def test_benign_background_does_not_depend_on_scenario(tmp_path: Path, world: dict[str, Any]) -> None:
    simulate(tmp_path, seed=7, scenario="benign", hours=HOURS, scale=SCALE, corpora=_corpora())
    lines, _, labels, _ = _read(tmp_path)
    benign_in_all = [line for line, ev in zip(world["lines"], world["events"])
                     if world["labels"][ev["api_key_id"]]["kind"] == "benign"]
    assert lines == benign_in_all
    assert {r["kind"] for r in labels.values()} == {"benign"}


# -------------------------------------------------------------------------------- the files

def test_events_sorted_by_time_with_deterministic_ties(world: dict[str, Any]) -> None:
    order = [(_ms(ev["ts"]), ev["request_id"]) for ev in world["events"]]
    assert all(a < b for a, b in zip(order, order[1:]))
    start = parse_rfc3339("2026-11-20T00:00:00Z")
    assert start <= order[0][0] and order[-1][0] < start + int(HOURS * 3_600_000)


def test_every_record_matches_the_schema(world: dict[str, Any]) -> None:
    request_ids = set()
    for ev in world["events"]:
        assert set(ev) <= TOP_FIELDS, set(ev) - TOP_FIELDS
        assert TS_RE.match(ev["ts"]) and KEY_RE.match(ev["api_key_id"])
        assert ev["request_id"].startswith("req_") and ev["request_id"] not in request_ids
        request_ids.add(ev["request_id"])
        for f in ("account_id", "user_agent", "model", "endpoint"):
            assert isinstance(ev[f], str) and ev[f]
        assert _ms(ev["account_created_at"]) < _ms(ev["ts"])
        ipaddress.ip_address(ev["client_ip"])
        assert ev["model"] in ("claude-x-1", "claude-x-2")
        assert ev["endpoint"] in ("/v1/messages", "/v1/chat/completions", "/v1/completions")
        assert type(ev["status"]) is int and type(ev["latency_ms"]) is int and ev["latency_ms"] > 0
        usage = ev["usage"]
        assert set(usage) <= {"input_tokens", "output_tokens", "reasoning_tokens"}
        assert all(type(v) is int and v >= 0 for v in usage.values())
        for name, value in ev.get("params", {}).items():
            assert isinstance(value, PARAM_TYPES[name]) and not (
                PARAM_TYPES[name] is not bool and isinstance(value, bool)), (name, value)
        if "system" in ev:
            assert isinstance(ev["system"], str)
        assert ev["messages"], "every request has at least one message"
        for m in ev["messages"]:
            assert set(m) == {"role", "content"} and m["role"] in ("user", "assistant", "tool")
            assert isinstance(m["content"], str)
        if ev["status"] == 200:
            assert ev["finish_reason"] in ("stop", "length", "tool_use", "refusal")
            cap = ev.get("params", {}).get("max_tokens")   # a bound on each of the n samples
            assert cap is None or usage["output_tokens"] <= cap * ev["params"].get("n", 1)
        else:
            assert ev["status"] in (429, 500) and "finish_reason" not in ev
        if "end_user_id" in ev:
            assert isinstance(ev["end_user_id"], str) and ev["end_user_id"]
    errors = sum(ev["status"] != 200 for ev in world["events"]) / len(world["events"])
    assert 0.003 < errors < 0.03


def test_records_pass_the_detector_parser(world: dict[str, Any]) -> None:
    parse = pytest.importorskip("detector.parse")
    from detector.record import Rejection

    rejected = [r for r in map(parse.parse_line, world["lines"]) if isinstance(r, Rejection)]
    assert not rejected, rejected[0].detail


def test_labels_cover_exactly_the_keys_in_events(world: dict[str, Any]) -> None:
    labels = world["labels"]
    assert set(labels) == {ev["api_key_id"] for ev in world["events"]}
    for row in labels.values():
        assert set(row) == {"api_key_id", "kind", "campaign", "persona"}
        if row["kind"] == "attack":
            assert row["campaign"] in CAMPAIGNS and row["persona"] == row["campaign"]
        else:
            assert row["kind"] == "benign" and row["campaign"] is None and row["persona"] in PERSONAS
    assert {r["campaign"] for r in labels.values() if r["campaign"]} == set(CAMPAIGNS)
    assert {r["persona"] for r in labels.values() if r["kind"] == "benign"} == set(PERSONAS)


def test_labels_never_leak_into_events(world: dict[str, Any]) -> None:
    for line, ev in zip(world["lines"], world["events"]):
        assert not {"kind", "campaign", "persona", "label", "labels"} & set(ev)
        for name in CAMPAIGNS + PERSONAS:
            assert f'"{name}"'.encode() not in line  # never a value
            assert "_" not in name or name.encode() not in line  # nor inside text


def test_manifest_counts_progress_and_result(world: dict[str, Any]) -> None:
    manifest, result = world["manifest"], world["result"]
    counted = Counter(world["labels"][ev["api_key_id"]]["persona"] for ev in world["events"])
    groups = {**manifest["personas"], **manifest["campaigns"]}
    assert {k: v["events"] for k, v in groups.items() if v["events"]} == dict(counted)
    assert manifest["events"] == result.events == len(world["events"]) == sum(world["progress"])
    assert manifest["keys"] == result.keys == len(world["labels"])
    assert (manifest["seed"], manifest["scenario"], manifest["hours"], manifest["scale"]) == (7, "all", HOURS, SCALE)
    assert manifest["models"]["released_at"] == "2026-11-20T03:00:00.000Z"
    assert manifest["corpora"], "the manifest names the text sources used"
    if _corpora() is not None:
        for src in manifest["corpora"]:
            assert src["file"] and src["license"] and src["rows"] > 0
            assert src.get("source_repository") or src.get("upstream_dataset")


def test_allowlist_is_the_synthetic_data_account(world: dict[str, Any]) -> None:
    allow = orjson.loads((world["out"] / "allowlist.json").read_bytes())
    synth = {ev["account_id"] for ev in world["by"]["synthetic_data"]}
    assert allow == {"accounts": sorted(synth)} and len(synth) == 1
    assert len({ev["api_key_id"] for ev in world["by"]["synthetic_data"]}) == 2
    others = {ev["account_id"] for p, evs in world["by"].items() if p != "synthetic_data" for ev in evs}
    assert not synth & others


def test_without_corpora_generated_text_is_used(tmp_path: Path) -> None:
    for corpora in (None, tmp_path / "does-not-exist"):
        out = tmp_path / ("none" if corpora is None else "missing")
        res = simulate(out, seed=2, scenario="self_instruct", hours=2.0, scale=0.05, corpora=corpora)
        lines, events, labels, manifest = _read(out)
        assert res.events == len(events) > 0
        assert all(src["file"] is None and src["text"] == "generated fallback text"
                   for src in manifest["corpora"])
        assert {r["campaign"] for r in labels.values()} == {None, "self_instruct"}
        parse = pytest.importorskip("detector.parse")
        assert not any(type(parse.parse_line(line)).__name__ == "Rejection" for line in lines)


def test_bad_arguments_are_rejected(tmp_path: Path) -> None:
    for kwargs in ({"scenario": "nope"}, {"hours": 0}, {"scale": -1.0}, {"variant": "nope"},
                   {"wording": "nope"}, {"scenario": "broad_sweep"}):
        with pytest.raises(ValueError):
            simulate(tmp_path, **kwargs)


def test_every_campaign_fits_a_one_hour_span(tmp_path: Path) -> None:
    res = simulate(tmp_path, seed=5, scenario="all", hours=1.0, scale=0.05, corpora=_corpora())
    assert all(res.events_by_actor[name] > 0 for name in CAMPAIGNS)


# ------------------------------------------------------------------------------- campaigns

def _per_key(events: list[dict[str, Any]]) -> Counter[str]:
    return Counter(ev["api_key_id"] for ev in events)


def _ok(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [ev for ev in events if ev["status"] == 200]


def _slash24(ev: dict[str, Any]) -> str:
    return ev["client_ip"].rsplit(".", 1)[0]


def _user_text(ev: dict[str, Any]) -> str:
    return [m["content"] for m in ev["messages"] if m["role"] == "user"][-1]


def test_hydra_many_low_rate_farmed_keys_behind_the_proxy(world: dict[str, Any]) -> None:
    hydra, proxy = world["by"]["hydra"], world["by"]["proxy_customers"]
    counts = _per_key(hydra)
    assert len(counts) >= 50
    assert max(counts.values()) <= math.ceil(30 * HOURS / 24)
    created = sorted({_ms(ev["account_created_at"]) for ev in hydra})
    assert len(created) == len(counts) and created[-1] - created[0] <= 3_600_000
    start = parse_rfc3339("2026-11-20T00:00:00Z")
    assert 6.5 <= (start - created[0]) / 86_400_000 <= 7.5
    assert {_slash24(ev) for ev in hydra} <= {_slash24(ev) for ev in proxy}
    assert {ev["user_agent"] for ev in hydra} == {ev["user_agent"] for ev in proxy}
    assert all("end_user_id" not in ev for ev in hydra + proxy)
    assert sorted(ev["usage"]["output_tokens"] for ev in _ok(hydra))[len(hydra) // 2] > 1000
    # central round-robin: consecutive hydra requests come from different keys
    keys = [ev["api_key_id"] for ev in hydra]
    assert sum(a == b for a, b in zip(keys, keys[1:])) < 0.02 * len(keys)


def test_logit_stealing_parameters(world: dict[str, Any]) -> None:
    evs = world["by"]["logit_stealing"]
    assert evs and len(_per_key(evs)) == 1
    for ev in evs:
        p = ev["params"]
        assert ev["endpoint"] == "/v1/completions" and p["max_tokens"] == 1 and p["logprobs"] is True
        assert 5 <= p["top_logprobs"] <= 20 and 1 <= p["logit_bias_size"] <= 300
    assert len({_user_text(ev) for ev in evs}) <= 5
    assert len({ev["params"]["logit_bias_size"] for ev in evs}) > 50


def test_content_campaigns_have_their_fingerprints(world: dict[str, Any]) -> None:
    by = world["by"]
    for ev in _ok(by["bulk_distill"]):
        assert 1500 <= ev["usage"]["output_tokens"] <= 4000 and ev["params"]["thinking_budget"] > 0
        assert "step by step" in _user_text(ev)
    for ev in by["cot_harvest"]:
        text = _user_text(ev)
        assert "final answer" in text and "step by step" in text
    for ev in by["rubric_grading"]:
        assert _user_text(ev).startswith("Score the following response on a scale of 1 to 10")
    templates = {"", "<|start_header_id|>user<|end_header_id|>", "<|im_start|>user", "[INST]", "Human:"}
    assert all(_user_text(ev).strip() in templates for ev in by["magpie"])
    si = by["self_instruct"]
    assert len({_user_text(ev).split("###")[0] for ev in si}) == 1
    for ev in si:
        text = _user_text(ev)
        assert ev["params"]["temperature"] == 1.0 and "###\n1. Instruction: " in text
        assert len(text) == 8000 or text.endswith("###\n4. Instruction:")  # or gateway-truncated
    assert len({_user_text(ev) for ev in si}) > 0.9 * len(si)  # the three seeds rotate


def test_low_and_slow_has_no_diurnal_rhythm(day: dict[str, Any]) -> None:
    evs = day["by"]["low_and_slow"]
    assert 200 <= len(evs) <= 330
    hours = Counter(int(ev["ts"][11:13]) for ev in evs)
    assert len(hours) >= 20 and max(hours.values()) < 30  # ~13/hour, none silent, none bursting


def test_release_pivot_moves_to_the_new_model(world: dict[str, Any]) -> None:
    evs = world["by"]["release_pivot"]
    assert len(_per_key(evs)) == 4 and len({ev["account_id"] for ev in evs}) == 1
    release = parse_rfc3339(world["manifest"]["models"]["released_at"])
    before = [ev for ev in evs if _ms(ev["ts"]) < release]
    after = [ev for ev in evs if release + 2 * 3_600_000 <= _ms(ev["ts"])]
    assert before and all(ev["model"] == "claude-x-1" for ev in before)
    assert after and sum(ev["model"] == "claude-x-2" for ev in after) / len(after) >= 0.5
    slow = [ev for p in ("chat", "agentic_coding", "reseller") for ev in world["by"][p]
            if _ms(ev["ts"]) >= release]
    assert sum(ev["model"] == "claude-x-2" for ev in slow) / len(slow) < 0.15


def test_campaigns_start_after_the_beginning_of_the_span(world: dict[str, Any]) -> None:
    start = parse_rfc3339("2026-11-20T00:00:00Z")
    for name in CAMPAIGNS:
        first = min(_ms(ev["ts"]) for ev in world["by"][name])
        assert 0.08 <= (first - start) / (HOURS * 3_600_000) <= 0.25, name


# -------------------------------------------------------------------------------- personas

def test_benign_look_alikes(world: dict[str, Any]) -> None:
    by = world["by"]
    for ev in by["eval_harness"]:
        p = ev["params"]
        assert p["temperature"] == 0.0 and p["max_tokens"] <= 256 and "logit_bias_size" not in p
    for ev in _ok(by["batch_job"]):
        assert ev["usage"]["output_tokens"] <= 20 and ev["params"]["temperature"] == 0.0
    systems = defaultdict(set)
    for ev in by["batch_job"]:
        systems[ev["api_key_id"]].add(ev["system"])
    assert all(len(s) == 1 for s in systems.values())
    for ev in by["agentic_coding"]:
        assert ev["user_agent"].startswith("claude-code/1.") and 8 <= ev["params"]["tools"] <= 40
    assert max(len(ev["messages"]) for ev in by["agentic_coding"]) >= 20
    assert any(m["role"] == "tool" for ev in by["agentic_coding"] for m in ev["messages"])
    for name in ("tutoring", "reseller"):
        users = defaultdict(set)
        for ev in by[name]:
            users[ev["api_key_id"]].add(ev.get("end_user_id"))
        assert all(len(u) >= 20 for u in users.values()), name
    assert max(len(ev["messages"]) for ev in by["chat"]) >= 5


def test_ci_fleet_is_synchronised_on_one_network(world: dict[str, Any]) -> None:
    evs = world["by"]["ci_fleet"]
    assert len({ev["account_id"] for ev in evs}) == 1 and len({ev["user_agent"] for ev in evs}) == 1
    assert len({_slash24(ev) for ev in evs}) == 1
    hourly = [ev for ev in evs if ev["ts"][14:16] == "00" and int(ev["ts"][17:19]) < 30]
    assert len(hourly) >= 0.5 * len(evs)
    assert len({_user_text(ev) for ev in evs}) <= 4


def test_chat_users_sleep(day: dict[str, Any]) -> None:
    per_key_hours: dict[str, Counter[int]] = defaultdict(Counter)
    for ev in day["by"]["chat"]:
        per_key_hours[ev["api_key_id"]][int(ev["ts"][11:13])] += 1
    busy = [h for h in per_key_hours.values() if sum(h.values()) >= 30]
    assert len(busy) >= 5
    # share of a user's requests in their quietest 6 hours (uniform use would give ~0.15)
    quietest = [min(sum(h[(s + i) % 24] for i in range(6)) for s in range(24)) / sum(h.values())
                for h in busy]
    assert sum(quietest) / len(quietest) < 0.06
    assert len({ev["client_ip"] for ev in day["by"]["chat"]}) > 0.5 * len(per_key_hours)


# ------------------------------------------------------------------------------------ clock

@given(st.integers(min_value=1_420_070_400_000, max_value=4_102_444_799_999))
def test_iso_ms_round_trips(ts_ms: int) -> None:
    text = iso_ms(ts_ms)
    assert TS_RE.match(text) and parse_rfc3339(text) == ts_ms
    assert datetime.fromisoformat(text).timestamp() * 1000 == pytest.approx(ts_ms)


@given(st.lists(st.integers(min_value=0, max_value=50)))
def test_strictly_increasing(times: list[int]) -> None:
    out = strictly_increasing(times)
    assert len(out) == len(times) and all(a < b for a, b in zip(out, out[1:]))
    assert all(a >= b for a, b in zip(out, sorted(times)))


# ------------------------------------------------------------------ benign look-alike personas

def test_new_look_alike_personas(world: dict[str, Any]) -> None:
    by = world["by"]
    clf = by["yes_no_classifier"]
    assert clf and all(ev["params"]["max_tokens"] == 1 and ev["params"]["logprobs"] is True
                       and ev["params"]["logit_bias_size"] == 2 for ev in clf)
    assert len({tuple(sorted(ev["params"]["logit_bias"])) for ev in clf}) == 1
    vendor = by["label_vendor"]
    assert len({ev["api_key_id"] for ev in vendor}) >= 2
    assert all(ev["params"]["max_tokens"] == 1 and ev["params"]["logprobs"] is True
               and 2 <= len(ev["params"]["logit_bias"]) == ev["params"]["logit_bias_size"] <= 28 for ev in vendor)
    sets = defaultdict(set)   # label sets per key: one per task, a task's set never changes
    for ev in vendor:
        sets[ev["api_key_id"]].add(tuple(sorted(ev["params"]["logit_bias"])))
    assert max(map(len, sets.values())) >= 2
    tagger = by["emotion_tagger"]   # one wide label set: the 28 GoEmotions labels, 20 logprobs back
    assert tagger and {(len(ev["params"]["logit_bias"]), ev["params"]["top_logprobs"]) for ev in tagger} == {(28, 20)}
    assert len({tuple(sorted(ev["params"]["logit_bias"])) for ev in tagger}) == 1
    judges = by["llm_judge"]
    assert len({ev["account_id"] for ev in judges}) >= 2
    assert all("[[A]]" in ev["system"] or "[[rating]]" in _user_text(ev) for ev in judges)
    release = parse_rfc3339(world["manifest"]["models"]["released_at"])
    mover = by["release_mover"]
    assert all(ev["model"] == ("claude-x-2" if _ms(ev["ts"]) >= release + 3_600_000 else "claude-x-1")
               for ev in mover if not release <= _ms(ev["ts"]) < release + 3_600_000)
    saas = _ok(by["content_saas"])
    assert all("step by step" in ev["system"] for ev in saas)
    assert 1100 <= sorted(ev["usage"]["output_tokens"] for ev in saas)[len(saas) // 2] <= 1800
    options = _ok(by["variants_app"])   # usage counts every sample; max_tokens bounds each one
    assert all(2 <= ev["params"]["n"] <= 5 and ev["usage"]["output_tokens"] <= ev["params"]["n"] * 400
               for ev in options)
    assert max(ev["usage"]["output_tokens"] for ev in options) > 400
    suites = defaultdict(list)   # a fixed suite of the app's test cases, every case asked again each run
    for ev in by["regression_suite"]:
        suites[ev["api_key_id"]].append(ev)
    assert suites
    for evs in suites.values():
        cases = Counter(_user_text(ev) for ev in evs)
        assert len(cases) <= 400 and len(evs) >= 2 * len(cases)
        assert len({ev["system"] for ev in evs}) == 1 and not any("end_user_id" in ev for ev in evs)
    anon = _ok(by["tutoring_anon"])
    assert all("end_user_id" not in ev for ev in anon)
    assert sorted(ev["usage"]["output_tokens"] for ev in anon)[len(anon) // 2] > 600
    assert all(ev["params"]["thinking_budget"] > 0 for ev in by["cot_eval"])
    tr = _ok(by["translation"])
    assert len({ev["system"] for ev in tr}) >= 8
    ratios = sorted(ev["usage"]["output_tokens"] / max(1, len(_user_text(ev)) / 4) for ev in tr
                    if len(_user_text(ev)) < 8000)
    assert 0.9 <= ratios[len(ratios) // 2] <= 1.5
    fleet = by["saas_fleet"]
    assert len({ev["api_key_id"] for ev in fleet}) >= 6 and len({ev["system"] for ev in fleet}) == 1
    router = by["router_org"]
    assert len({ev["api_key_id"] for ev in router}) == 5 and len({ev["account_id"] for ev in router}) == 1


# ---------------------------------------------------------------------------- account profiles

def _accounts(out: Path) -> dict[str, dict[str, Any]]:
    rows = [orjson.loads(line) for line in (out / "accounts.jsonl").read_bytes().splitlines()]
    assert [r["account_id"] for r in rows] == sorted({r["account_id"] for r in rows})
    return {r["account_id"]: r for r in rows}


def test_accounts_file_has_one_valid_profile_per_account(world: dict[str, Any]) -> None:
    accounts = _accounts(world["out"])
    assert set(accounts) == {ev["account_id"] for ev in world["events"]}
    created = {ev["account_id"]: ev["account_created_at"] for ev in world["events"]}
    for acct, p in accounts.items():
        assert set(p) == {"account_id", "created_at", "org_id", "tier", "payment_fp", "country",
                          "verified", "allowlisted", "updated_at"}
        assert p["created_at"] == created[acct] and _ms(p["created_at"]) <= _ms(p["updated_at"])
        assert p["tier"] in ("free", "paid", "enterprise", "reseller") and len(p["country"]) == 2
        assert isinstance(p["verified"], bool) and isinstance(p["allowlisted"], bool)
    allow = orjson.loads((world["out"] / "allowlist.json").read_bytes())["accounts"]
    assert sorted(a for a, p in accounts.items() if p["allowlisted"]) == allow
    profiles = pytest.importorskip("detector.profiles")
    loaded, rejected = profiles.load_profiles(world["out"] / "accounts.jsonl")
    assert not rejected and len(loaded) == len(accounts)


def test_hydra_accounts_share_payment_and_fleet_shares_an_org(world: dict[str, Any]) -> None:
    accounts = _accounts(world["out"])
    hydra = {ev["account_id"] for ev in world["by"]["hydra"]}
    assert len({accounts[a]["payment_fp"] for a in hydra}) <= 3
    assert not any(accounts[a]["verified"] for a in hydra)
    fleet = {ev["account_id"] for ev in world["by"]["saas_fleet"]}
    assert len(fleet) >= 6 and len({accounts[a]["org_id"] for a in fleet}) == 1
    chat = {ev["account_id"] for ev in world["by"]["chat"]}
    assert len({accounts[a]["payment_fp"] for a in chat}) == len(chat)


# ------------------------------------------------------------------------------------ variants

_VARIANT_RUNS: dict[tuple[str, str, str], dict[str, Any]] = {}


def _variant(tmp: pytest.TempPathFactory, variant: str, scenario: str,
             wording: str = "classic") -> dict[str, Any]:
    """A 6-hour run of one variant (cached for the module)."""
    args = (variant, scenario, wording)
    if args not in _VARIANT_RUNS:
        out = tmp.mktemp(f"{variant}-{scenario}-{wording}")
        simulate(out, seed=7, scenario=scenario, hours=HOURS, scale=0.05, corpora=_corpora(),
                 variant=variant, wording=wording)
        lines, events, labels, manifest = _read(out)
        by: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for ev in events:
            by[labels[ev["api_key_id"]]["persona"]].append(ev)
        _VARIANT_RUNS[args] = {"out": out, "lines": lines, "events": events, "labels": labels,
                               "by": by, "manifest": manifest}
    return _VARIANT_RUNS[args]


def _benign_lines(run: dict[str, Any]) -> list[bytes]:
    """The raw lines of a variant run's benign keys (the background every variant shares)."""
    labels = run["labels"]
    return [line for line, ev in zip(run["lines"], run["events"]) if labels[ev["api_key_id"]]["kind"] == "benign"]


def test_wording_families_are_disjoint_and_multilingual() -> None:
    from dataclasses import astuple

    from detector.offline.simulate.wording import family

    texts = {}
    for name in ("classic", "tuning", "heldout"):
        w = family(name)
        texts[name] = {t for field in astuple(w)[1:] for t in field}
        assert all(field for field in astuple(w)[1:] if field is not w.meta) and w.name == name
    assert not texts["classic"] & texts["tuning"] and not texts["tuning"] & texts["heldout"]
    assert not texts["classic"] & texts["heldout"]
    cjk = re.compile(r"[\u4e00-\u9fff]")
    cyrillic = re.compile(r"[\u0400-\u04ff]")
    spanish = re.compile(r"[¿¡ñáéíóú]")
    for name, other in (("tuning", cyrillic), ("heldout", spanish)):
        for field in ("distill", "reverse", "rubric", "meta"):
            options = getattr(family(name), field)
            assert any(cjk.search(t) for t in options) and any(other.search(t) for t in options)


def test_campaigns_use_the_chosen_wording(tmp_path_factory: pytest.TempPathFactory) -> None:
    from detector.offline.simulate.wording import family

    for wording in ("tuning", "heldout"):
        run = _variant(tmp_path_factory, "default", "cot_harvest", wording)
        w = family(wording)
        heads = {t.split("{")[0] for t in w.reverse}
        texts = [_user_text(ev) for ev in run["by"]["cot_harvest"]]
        assert all(any(t.startswith(h) for h in heads) for t in texts)
        assert len({next(h for h in heads if t.startswith(h)) for t in texts}) == len(heads)
        assert not any("Write out, step by step, the reasoning" in t for t in texts)
        assert run["manifest"]["wording"] == wording


def test_variant_output_is_deterministic(tmp_path: Path) -> None:
    args = dict(seed=5, scenario="router_hidden", hours=2.0, scale=0.05, corpora=_corpora(),
                variant="router_hidden", wording="heldout")
    simulate(tmp_path / "a", **args)
    simulate(tmp_path / "b", **args)
    for name in ("events.jsonl.gz", "labels.jsonl", "accounts.jsonl", "manifest.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def test_fake_end_users_on_every_campaign_only(tmp_path_factory: pytest.TempPathFactory,
                                               world: dict[str, Any]) -> None:
    run = _variant(tmp_path_factory, "fake_end_users", "hydra")
    hydra = run["by"]["hydra"]
    assert hydra and all(ev.get("end_user_id") for ev in hydra)
    per_key = defaultdict(set)
    for ev in hydra:
        per_key[ev["api_key_id"]].add(ev["end_user_id"])
    sizes = sorted(len(v) for v in per_key.values())
    assert sizes[0] <= 40 and len(set().union(*per_key.values())) > len(per_key)
    plain = _variant(tmp_path_factory, "default", "hydra")
    assert _benign_lines(run) == _benign_lines(plain)


def test_people_like_ids_are_a_returning_population(tmp_path_factory: pytest.TempPathFactory) -> None:
    run = _variant(tmp_path_factory, "people_like_ids", "self_instruct")
    evs = run["by"]["self_instruct"]
    ids = [ev.get("end_user_id") for ev in evs]
    assert len(evs) >= 200 and all(ids)
    assert 50 <= len(set(ids)) <= 800 and len(ids) >= 1.5 * len(set(ids))   # ids come back
    assert sum(a == b for a, b in zip(ids, ids[1:])) >= 0.3 * len(ids)     # in sessions of a few requests
    plain = _variant(tmp_path_factory, "default", "self_instruct")
    assert _benign_lines(run) == _benign_lines(plain)
    assert [_user_text(ev) for ev in evs] == [_user_text(ev) for ev in plain["by"]["self_instruct"]]


def test_human_hours_give_campaigns_a_night(tmp_path: Path) -> None:
    def quietest_six_hours(variant: str) -> float:   # share of the campaign's requests in its quietest 6 hours
        simulate(tmp_path / variant, seed=3, scenario="self_instruct", hours=24.0, scale=0.02, corpora=None,
                 variant=variant)
        _, events, labels, _ = _read(tmp_path / variant)
        hours = Counter(int(ev["ts"][11:13]) for ev in events
                        if labels[ev["api_key_id"]]["campaign"] == "self_instruct")
        assert sum(hours.values()) > 500
        return min(sum(hours[(s + i) % 24] for i in range(6)) for s in range(24)) / sum(hours.values())

    assert quietest_six_hours("human_hours") < 0.06   # a flat 24/7 campaign keeps ~16% there (it starts late)
    assert quietest_six_hours("default") > 0.09


def test_padded_inputs_add_a_header_and_shorten_answers(tmp_path_factory: pytest.TempPathFactory) -> None:
    run = _variant(tmp_path_factory, "padded_inputs", "cot_harvest")
    plain = _variant(tmp_path_factory, "default", "cot_harvest")
    padded, base = _ok(run["by"]["cot_harvest"]), _ok(plain["by"]["cot_harvest"])
    assert len(padded) >= 200 and [_user_text(ev) for ev in padded] == [_user_text(ev) for ev in base]
    assert len({ev["system"] for ev in padded}) == 1 and len(padded[0]["system"]) >= 1000
    assert max(ev["usage"]["output_tokens"] for ev in padded) <= 900
    assert all(p["usage"]["output_tokens"] <= b["usage"]["output_tokens"] for p, b in zip(padded, base))
    ratio = sorted(ev["usage"]["output_tokens"] / ev["usage"]["input_tokens"] for ev in padded)[len(padded) // 2]
    assert ratio < 1.5   # no longer long against the input (economics reads >= 1.5)
    assert _benign_lines(run) == _benign_lines(plain)


def test_hydra_stealth_and_own_wording(tmp_path_factory: pytest.TempPathFactory) -> None:
    from detector.offline.simulate.identity import COMMON_USER_AGENTS

    stealth = _variant(tmp_path_factory, "hydra_stealth", "hydra")
    evs, proxy = stealth["by"]["hydra"], stealth["by"]["proxy_customers"]
    keys = {ev["api_key_id"] for ev in evs}
    ips = {ev["api_key_id"]: ev["client_ip"] for ev in evs}
    assert all(len({e["client_ip"] for e in evs if e["api_key_id"] == k}) == 1 for k in keys)
    assert len(set(ips.values())) == len(keys)
    assert not {_slash24(ev) for ev in evs if ":" not in ev["client_ip"]} & {_slash24(ev) for ev in proxy}
    assert {ev["user_agent"] for ev in evs} <= {ua for ua, _ in COMMON_USER_AGENTS}
    created = sorted({_ms(ev["account_created_at"]) for ev in evs})
    assert created[-1] - created[0] > 60 * 86_400_000
    accounts = _accounts(stealth["out"])
    hydra_accts = {ev["account_id"] for ev in evs}
    assert len({accounts[a]["payment_fp"] for a in hydra_accts}) == len(hydra_accts)

    own = _variant(tmp_path_factory, "hydra_own_wording", "hydra", "heldout")
    evs = [ev for ev in own["by"]["hydra"] if ev.get("params", {}).get("tools") is None]
    systems = defaultdict(set)
    for ev in evs:
        systems[ev["api_key_id"]].add(ev["system"])
    assert all(len(s) == 1 for s in systems.values())
    assert len({next(iter(s)) for s in systems.values()}) >= 0.8 * len(systems)
    assert {ev["user_agent"] for ev in own["by"]["hydra"]} == {"Go-http-client/2.0"}
    created = sorted({_ms(ev["account_created_at"]) for ev in own["by"]["hydra"]})
    assert created[-1] - created[0] <= 3_600_000


def test_working_hours_low_and_slow(tmp_path_factory: pytest.TempPathFactory) -> None:
    evs = _variant(tmp_path_factory, "working_hours", "low_and_slow")["by"]["low_and_slow"]
    local_hours = {(int(ev["ts"][11:13]) + 8) % 24 for ev in evs}
    assert len(evs) >= 30 and local_hours <= set(range(9, 18))


def test_router_hidden_labels_harvested_router_keys(tmp_path_factory: pytest.TempPathFactory) -> None:
    run = _variant(tmp_path_factory, "router_hidden", "router_hidden", "heldout")
    attack = {k for k, r in run["labels"].items() if r["campaign"] == "router_hidden"}
    benign = {k for k, r in run["labels"].items() if r["persona"] == "router_org"}
    assert len(attack) == 3 and len(benign) == 2
    evs = run["by"]["router_hidden"]
    assert len({ev["account_id"] for ev in evs + run["by"]["router_org"]}) == 1
    made_up = [ev for ev in evs if ev.get("end_user_id", "eu_").startswith(("user-", "usr_"))]
    routed = [ev for ev in evs if ev.get("end_user_id", "eu_").startswith("eu_")]
    assert len(made_up) + len(routed) == len(evs) and len(made_up) > 100 and routed
    assert all(ev["params"]["max_tokens"] == 8192 for ev in made_up)
    assert len(_per_key(made_up)) == 3


def test_sample_harvest_asks_for_several_long_samples(tmp_path_factory: pytest.TempPathFactory) -> None:
    harvest = _ok(_variant(tmp_path_factory, "sample_harvest", "sample_harvest")["by"]["sample_harvest"])
    assert len(_per_key(harvest)) == 1 and len(harvest) > 50
    assert {ev["params"]["n"] for ev in harvest} == {4, 8}
    per_sample = sorted(ev["usage"]["output_tokens"] / ev["params"]["n"] for ev in harvest)
    assert per_sample[0] >= 300 and per_sample[len(per_sample) // 2] > 700


def test_domain_clone_and_broad_sweep(tmp_path_factory: pytest.TempPathFactory) -> None:
    clone = _ok(_variant(tmp_path_factory, "domain_clone", "domain_clone")["by"]["domain_clone"])
    assert len(_per_key(clone)) == 2 and len(clone) > 800
    assert sorted(ev["usage"]["output_tokens"] for ev in clone)[len(clone) // 2] > 1500
    gsm = sum("\n" not in _user_text(ev) or "?" in _user_text(ev) for ev in clone)
    assert all(ev["params"]["thinking_budget"] == 4096 for ev in clone) and gsm

    sweep = _variant(tmp_path_factory, "broad_sweep", "broad_sweep", "tuning")["by"]["broad_sweep"]
    assert len(_per_key(sweep)) == 1 and 13_000 <= len(sweep) <= 17_000
    first, last = _ms(sweep[0]["ts"]), _ms(sweep[-1]["ts"])
    assert last - first <= 4 * 3_600_000
    assert any(re.search(r"[\u4e00-\u9fff]", _user_text(ev)) for ev in sweep)
    assert any(re.search(r"[\u0400-\u04ff]", _user_text(ev)) for ev in sweep)
