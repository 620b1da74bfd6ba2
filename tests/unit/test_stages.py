"""The pure stages (ingest, keyed windows, epoch scorer) wired in memory, and their versioned records.

No Kafka, no Redis: each stage takes a batch and returns its outputs, and a checkpoint it can be
restored from. Wired through plain lists with checkpoints taken and restored between batches,
they make exactly replay's decisions.
"""

from __future__ import annotations

import doctest
from pathlib import Path
from typing import Any

import orjson
import pytest

import detector.adapters
import detector.config
import detector.scorer
import detector.stages.epoch_scorer
import detector.stages.ingest
import detector.stages.keyed_windows
import detector.stages.records
from detector.config import Config
from detector.features import EventFeatures
from detector.record import Event
from detector.offline.replay import open_lines, parse_lines, replay_lines
from detector.stages.epoch_scorer import EpochScorer
from detector.stages.ingest import Ingest, watermark_message
from detector.stages.keyed_windows import KeyedWindows
from detector.stages.records import (FEATURE_FIELDS, KeyedMessage, RecordVersionError, decode_epoch, decode_keyed,
                                     encode_keyed, flat_row, row_features)

P = 3
SAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "samples"


@pytest.mark.parametrize("module", [detector.stages.records, detector.stages.ingest, detector.stages.keyed_windows,
                                    detector.stages.epoch_scorer, detector.scorer, detector.config,
                                    detector.adapters])
def test_docstring_examples(module: Any) -> None:
    assert doctest.testmod(module).failed == 0


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Three hours of mixed traffic as 50-record NDJSON messages, the closing watermark, replay's output."""
    from detector.offline.simulate import simulate
    from detector.offline.feed import end_watermark

    res = simulate(tmp_path_factory.mktemp("sim"), seed=5, scenario="all", hours=3, scale=0.03)
    lines = list(open_lines(res.events_path))
    messages = [b"\n".join(lines[i:i + 50]) for i in range(0, len(lines), 50)]
    config = Config().with_allowlist(orjson.loads(Path(res.allowlist_path).read_bytes())["accounts"])
    max_ts = max(e.ts_ms for e in parse_lines(lines) if isinstance(e, Event))
    return {"messages": messages + [watermark_message(end_watermark(max_ts, config))], "config": config,
            "replay": replay_lines(messages, config)}


def run_in_memory(messages: list[bytes], config: Config, *, batch: int, restart_every: int) -> dict[str, Any]:
    """Ingest -> P keyed-window partitions -> epoch scorer through lists; every ``restart_every``
    batches each stateful stage is rebuilt from its checkpoint, as a restarted worker would be."""
    ingest, windows, scorer = Ingest(P, rows_per_message=300), KeyedWindows(config, summaries_per_message=9), \
        EpochScorer(config, P)
    keyed: dict[int, list[bytes]] = {p: [] for p in range(P)}
    for i in range(0, len(messages), batch):
        for p, value in ingest.process([(0, i + j, m) for j, m in enumerate(messages[i:i + batch])]).keyed:
            keyed[p].append(value)
    summaries: list[bytes] = []
    for p in range(P):
        slot = windows.restore(-1, {}, {})
        blobs: dict[str, bytes] = {}
        for n, start in enumerate(range(0, len(keyed[p]), batch)):
            summaries += windows.apply(p, slot, list(enumerate(keyed[p]))[start:start + batch]).messages
            cp = windows.checkpoint(slot)
            blobs = {k: v for k, v in {**blobs, **cp.set_blobs}.items() if k not in cp.del_ids}
            windows.saved(slot)
            if n % restart_every == restart_every - 1:
                slot = windows.restore(slot.offset, cp.fields, blobs)
    mem = scorer.restore(-1, {})
    alerts, decisions, stored = [], [], {}
    for n, start in enumerate(range(0, len(summaries), batch)):
        out = scorer.apply(mem, list(enumerate(summaries))[start:start + batch])
        alerts += out.alerts
        decisions += out.decisions
        stored.update(scorer.checkpoint(mem))
        scorer.saved(mem)
        if n % restart_every == restart_every - 1:
            mem = scorer.restore(mem.offset, stored)
    return {"alerts": alerts, "decisions": decisions, "epochs": mem.scorer.epochs}


def test_stages_wired_in_memory_make_replays_decisions(sim: dict[str, Any]) -> None:
    replay = sim["replay"]
    assert replay.alerts, "the simulation should raise alerts"
    for batch, restart_every in ((4, 3), (11, 1)):
        out = run_in_memory(sim["messages"], sim["config"], batch=batch, restart_every=restart_every)
        assert out["alerts"] == replay.alerts
        assert out["decisions"] == replay.decisions
        assert out["epochs"] == replay.counts["epochs"]


def test_a_restored_scorer_decides_with_the_running_configuration(sim: dict[str, Any]) -> None:
    """The checkpoint holds no configuration: restored under a lower throttle threshold, the scorer
    throttles where the original would not, and it says the configuration changed."""
    from detector.stages.ingest import Ingest

    config = sim["config"]
    keyed: dict[int, list[bytes]] = {p: [] for p in range(P)}
    for p, value in Ingest(P).process([(0, i, m) for i, m in enumerate(sim["messages"])]).keyed:
        keyed[p].append(value)
    windows = KeyedWindows(config)
    summaries = [m for p in range(P) for m in windows.apply(p, windows.restore(-1, {}, {}),
                                                            list(enumerate(keyed[p]))).messages]
    first = EpochScorer(config, P)
    mem = first.restore(-1, {})
    first.apply(mem, list(enumerate(summaries[:5])))
    fields = first.checkpoint(mem)
    assert b"throttle_threshold" not in fields["scorer"] and b"allowlist" not in fields["scorer"]
    same = first.restore(mem.offset, fields)
    lower = EpochScorer(Config(**{**config.to_dict(), "allowlist_accounts": config.allowlist_accounts,
                                  "throttle_threshold": 0.3}), P).restore(mem.offset, fields)
    assert not same.config_changed and lower.config_changed
    assert lower.scorer.config.throttle_threshold == 0.3
    rest = list(enumerate(summaries))
    throttled = [a for a in EpochScorer(lower.scorer.config, P).apply(lower, rest).alerts if a["action"] == "throttle"]
    baseline = [a for a in first.apply(same, rest).alerts if a["action"] == "throttle"]
    assert len(throttled) > len(baseline)


def feature_row(**changes: Any) -> EventFeatures:
    base = EventFeatures(1_000, "k", None, None, 1, 2, 3, 0, 0, 1, 5, 2, 9, 1, "m", "", "", 0, 200, bias_fp=4,
                         head_fp=5, request_fp=6, input_chunks=7, input_samples=(3, 9))
    return EventFeatures(**{**{n: getattr(base, n) for n in FEATURE_FIELDS}, **changes})


def test_keyed_records_map_columns_by_name() -> None:
    f = feature_row()
    msg = orjson.loads(encode_keyed(KeyedMessage(source=2, t0=1_000, hb=1_000, covered=9, idle=False,
                                                 rows=[flat_row(9, 0, -1, f)])))
    assert msg["v"] == 1 and msg["cols"] == list(FEATURE_FIELDS)
    # a writer that did not have the last field yet: it gets its default, nothing shifts
    older = dict(msg, cols=msg["cols"][:-1], rows=[msg["rows"][0][:-1]])
    assert row_features(decode_keyed(orjson.dumps(older)).rows[0]) == feature_row(input_samples=())
    # reordered columns read by name
    order = list(reversed(range(len(FEATURE_FIELDS))))
    shuffled = dict(msg, cols=[msg["cols"][i] for i in order], rows=[msg["rows"][0][:3] + [msg["rows"][0][3 + i]
                                                                                           for i in order]])
    assert row_features(decode_keyed(orjson.dumps(shuffled)).rows[0]) == f
    # the layout before versions (positional, no "v", no "cols") still reads
    legacy = {k: v for k, v in msg.items() if k not in ("v", "cols")}
    assert row_features(decode_keyed(orjson.dumps(legacy)).rows[0]) == f
    # ... also from before the last field was added
    shorter = dict(legacy, rows=[msg["rows"][0][:-1]])
    assert decode_keyed(orjson.dumps(shorter)).rows[0] == [*msg["rows"][0][:-1], ()]
    with pytest.raises(RecordVersionError, match="unknown columns"):
        decode_keyed(orjson.dumps(dict(msg, cols=[*msg["cols"], "new_field"], rows=[[*msg["rows"][0], 1]])))
    with pytest.raises(RecordVersionError, match="without"):
        decode_keyed(orjson.dumps(dict(msg, cols=msg["cols"][1:], rows=[msg["rows"][0][:3] + msg["rows"][0][4:]])))
    with pytest.raises(RecordVersionError, match="version 2"):
        decode_keyed(orjson.dumps(dict(msg, v=2)))
    with pytest.raises(RecordVersionError):
        decode_epoch({"v": 9, "p": 0, "e": 1, "m": 1, "s": []})


def test_ingest_reads_every_format_by_topic_or_by_message() -> None:
    """Live ingest accepts LiteLLM, OTel and Kong as well as canonical records: the stage's format,
    or the one a message names; an unknown format is a dead letter, not a crash."""
    raw = (SAMPLES / "litellm-shapes" / "litellm_slp.jsonl").read_bytes().strip()
    by_topic = Ingest(1, fmt="litellm").process([(0, 1, raw)])
    by_message = Ingest(1).process([(0, 1, raw, "litellm")])
    as_canonical = Ingest(1).process([(0, 1, raw)])
    assert by_topic.events == by_message.events > 0
    assert by_topic.keyed == by_message.keyed
    assert as_canonical.events < by_topic.events or as_canonical.keyed != by_topic.keyed
    unknown = Ingest(1).process([(0, 1, raw, "splunk"), (0, 2, b'{"ts": 1795701787412, "api_key_id": "k"}')])
    assert [h["x-reject-reason"] for _, h in unknown.dlq] == [b"unknown_format"] and unknown.events == 1
    with pytest.raises(ValueError, match="unknown input format"):
        Ingest(1, fmt="splunk")
