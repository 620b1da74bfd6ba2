"""The live stages (ingest, key windows, scorer) as plain classes against the real Redis, without Faust.

Kafka is replaced by in-memory logs (a list per partition: offset = index), so these tests pin the
logic that makes live equal replay (record-by-record watermarks, per-source high-water marks, the
epoch barrier), persistence round trips, the offset guard, and reloads after another writer.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis.asyncio as aioredis

from detector.config import Config
from detector.offline.replay import open_lines, replay_lines
from detector.offline.feed import batches, end_watermark
from detector.stages.ingest import Ingest, watermark_message
from streams.redis_store import SCORER_KEY, RedisStore, blob_key, meta_key
from streams.runner import SCORER_PARTITION, REWIND_PATIENCE_S, Rewind, Runner, ScorerIO, WindowsIO

pytestmark = pytest.mark.integration

P = 3


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Two hours of mixed traffic, as 100-record NDJSON messages plus the closing watermark."""
    from detector.offline.simulate import simulate

    out = tmp_path_factory.mktemp("sim")
    res = simulate(out, seed=11, scenario="all", hours=2, scale=0.04)
    lines = list(open_lines(res.events_path))
    messages = [b"\n".join(b) for b in batches(lines, 100)]
    from detector.parse import parse_line

    max_ts = max(parse_line(line).ts_ms for line in lines)  # type: ignore[union-attr]
    accounts = orjson.loads(Path(res.allowlist_path).read_bytes())["accounts"]
    config = Config().with_allowlist(accounts)
    return {"messages": messages, "max_ts": max_ts, "config": config,
            "replay": replay_lines(messages, config)}


class Live:
    """The three stages wired through in-memory logs; every ``run_*`` call is one agent batch."""

    def __init__(self, store: RedisStore, config: Config, *, rows_per_message: int = 500) -> None:
        self.config = config
        self.store = store
        self.ingest = Ingest(P, rows_per_message=rows_per_message)
        self.windows = self.new_windows()
        self.scoring = self.new_scoring()
        self.keyed: dict[int, list[bytes]] = {p: [] for p in range(P)}
        self.summaries: list[bytes] = []
        self.alerts: list[dict[str, Any]] = []
        self.decisions: list[tuple[str, Any]] = []
        self.dlq: list[tuple[bytes, dict[str, bytes]]] = []

    def new_windows(self, **kwargs: Any) -> Runner:
        """A window-stage runner on the same store (a restarted or second worker)."""
        return Runner(WindowsIO(self.config, self.store, self._send_summaries, summaries_per_message=7), **kwargs)

    def new_scoring(self) -> Runner:
        return Runner(ScorerIO(self.config, self.store, P, self._send_outputs))

    @property
    def scorer_memory(self) -> Any:
        return self.scoring.memory.get(SCORER_PARTITION)

    def run_ingest(self, msgs: list[tuple[int, int, bytes]]) -> None:
        out = self.ingest.process(msgs)
        for p, v in out.keyed:
            self.keyed[p].append(v)
        self.dlq += out.dlq

    async def _send_summaries(self, values: list[bytes]) -> None:
        self.summaries += values

    async def _send_outputs(self, alerts: list[dict[str, Any]], decisions: list[tuple[str, Any]]) -> None:
        self.alerts += alerts
        self.decisions += decisions

    async def run_windows(self, p: int, start: int, end: int, stage: Runner | None = None) -> Any:
        msgs = list(enumerate(self.keyed[p]))[start:end]
        return await (stage or self.windows).process(p, msgs)

    async def run_scoring(self, start: int, end: int, stage: Runner | None = None) -> Any:
        msgs = list(enumerate(self.summaries))[start:end]
        return await (stage or self.scoring).process(SCORER_PARTITION, msgs)

    async def drain(self, batch: int = 5) -> None:
        """Process everything left in every log, in batches."""
        for p in range(P):
            done = self.windows.memory[p].offset + 1 if p in self.windows.memory else 0
            while done < len(self.keyed[p]):
                await self.run_windows(p, done, done + batch)
                done += batch
        done = self.scorer_memory.offset + 1 if self.scorer_memory else 0
        while done < len(self.summaries):
            await self.run_scoring(done, done + batch * 3)
            done += batch * 3


def feed(live: Live, messages: list[bytes], batch: int, start_offset: int = 0) -> None:
    for i in range(0, len(messages), batch):
        live.run_ingest([(0, start_offset + i + j, m) for j, m in enumerate(messages[i:i + batch])])


def run_with_store(url: str, body: Any) -> Any:
    """Run ``body(store)`` in a fresh event loop with a store on the test's Redis DB."""
    async def main() -> Any:
        store = RedisStore(aioredis.from_url(url))
        try:
            return await body(store)
        finally:
            await store.close()
    return asyncio.run(main())


def redis_state(url: str) -> dict[str, Any]:
    """Every key of the DB with its value; hash ``offset`` fields (batching-dependent) left out."""
    import redis

    r = redis.Redis.from_url(url)
    out: dict[str, Any] = {}
    try:
        for key in r.scan_iter(count=1000):
            kind = r.type(key)
            if kind == b"string":
                out[key.decode()] = r.get(key)
            elif kind == b"hash":
                out[key.decode()] = {k: v for k, v in r.hgetall(key).items() if k != b"offset"}
            elif kind == b"set":
                out[key.decode()] = sorted(r.smembers(key))
    finally:
        r.close()
    return out


def flatten(summary_messages: list[bytes]) -> list[tuple[int, int, Any]]:
    """(partition, epoch, summary) of ``xd-summaries`` messages, whatever their chunking."""
    out = []
    for m in summary_messages:
        d = orjson.loads(m)
        out += [(d["p"], d["e"], s) for s in d["s"]]
    return out


def alert_view(alerts: list[dict[str, Any]]) -> dict[str, tuple[Any, ...]]:
    return {a["alert_id"]: (a["subject_id"], tuple(a["api_key_ids"]), a["severity"], a["action"]) for a in alerts}


def test_live_stages_equal_replay(sim: dict[str, Any], redis_db_url: str) -> None:
    """Ingest -> key windows (3 partitions) -> scorer via Redis makes exactly replay's decisions."""
    messages = sim["messages"] + [watermark_message(end_watermark(sim["max_ts"], sim["config"]))]

    async def body(store: RedisStore) -> Live:
        live = Live(store, sim["config"])
        feed(live, messages, batch=7)
        await live.drain()
        return live

    live = run_with_store(redis_db_url, body)
    replay = sim["replay"]
    assert replay.alerts, "the simulation should raise alerts"
    assert alert_view(live.alerts) == alert_view(replay.alerts)
    assert live.decisions == replay.decisions
    assert not live.dlq
    # every epoch was scored once, in order, including empty ones
    assert live.scorer_memory is not None and live.scorer_memory.scorer.epochs == replay.counts["epochs"]
    state = redis_state(redis_db_url)
    assert SCORER_KEY in state and all(meta_key(p) in state for p in range(P))


def test_batching_and_duplicates_do_not_change_state(sim: dict[str, Any], redis_db_url: str) -> None:
    """Other batch sizes, redelivered ingest output (an ingest restart) and redelivered internal
    messages leave the same Redis state and alerts as a clean run."""
    config = sim["config"]
    messages = sim["messages"] + [watermark_message(end_watermark(sim["max_ts"], config))]

    async def clean(store: RedisStore) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        live = Live(store, config)
        feed(live, messages, batch=5)
        await live.drain(batch=3)
        return redis_state(redis_db_url), live.alerts

    async def messy(store: RedisStore) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        await store.client.flushdb()
        live = Live(store, config, rows_per_message=37)
        half = len(messages) // 2
        feed(live, messages[:half], batch=11)
        await live.drain(batch=4)
        # ingest "crashes" and restarts 8 messages back with other batch boundaries: duplicate rows
        feed(live, messages[half - 8:], batch=9, start_offset=half - 8)
        # a restarted window stage is handed messages it already applied (Faust commit lag)
        for p in range(P):
            await live.run_windows(p, 0, 4, stage=live.new_windows())
        await live.drain(batch=6)
        return redis_state(redis_db_url), live.alerts

    ref_state, ref_alerts = run_with_store(redis_db_url, clean)
    state, alerts = run_with_store(redis_db_url, messy)
    assert alert_view(alerts) == alert_view(ref_alerts) == alert_view(sim["replay"].alerts)
    assert state.keys() == ref_state.keys()
    for key in sorted(ref_state):
        if key == SCORER_KEY:
            assert state[key][b"meta"] == ref_state[key][b"meta"]
            assert state[key][b"buffer"] == ref_state[key][b"buffer"]
        else:
            assert state[key] == ref_state[key], key


def test_partition_state_round_trips_through_redis(sim: dict[str, Any], redis_db_url: str) -> None:
    """What one stage persisted, a fresh stage loads back identically (windows, meta, marks)."""
    config = sim["config"]

    async def body(store: RedisStore) -> None:
        live = Live(store, config)
        feed(live, sim["messages"][: len(sim["messages"]) // 2], batch=6)
        await live.drain()
        for p in range(P):
            before = live.windows.memory[p]
            after = await live.new_windows().io.load(p)
            assert after.offset == before.offset == len(live.keyed[p]) - 1
            assert after.hw == before.hw
            assert after.state.meta_bytes() == before.state.meta_bytes()
            assert sorted(after.state.keys) == sorted(before.state.keys)
            for k, kw in before.state.keys.items():
                assert after.state.keys[k].to_bytes() == kw.to_bytes()
            assert await store.client.ttl(blob_key(p, next(iter(before.state.keys)))) > 24 * 3600

    run_with_store(redis_db_url, body)


def test_offset_guard_makes_a_replayed_batch_a_no_op(sim: dict[str, Any], redis_db_url: str) -> None:
    config = sim["config"]

    async def body(store: RedisStore) -> None:
        live = Live(store, config)
        feed(live, sim["messages"], batch=8)
        res = await live.run_windows(0, 0, 6)
        assert res.applied == 6 and res.persisted
        snapshot = redis_state(redis_db_url)
        sent = len(live.summaries)
        # the same batch again, on a fresh stage (a restarted worker): skipped by offset
        again = await live.run_windows(0, 0, 6, stage=live.new_windows())
        assert again.applied == 0 and again.skipped == 6 and len(live.summaries) == sent
        assert redis_state(redis_db_url) == snapshot
        # the script itself refuses an older offset, whatever the payload
        refused = await store.save_partition(0, 3, ttl_s=60, fields={"state": b"x"}, set_blobs={"k": b"y"},
                                             del_ids=[])
        assert refused is False and redis_state(redis_db_url) == snapshot
        # and the scorer's guard likewise
        assert await store.save_scorer(10, {"meta": b"{}"})
        assert not await store.save_scorer(10, {"meta": b"changed"})
        assert (await store.client.hget(SCORER_KEY, "meta")) == b"{}"

    run_with_store(redis_db_url, body)


def test_reload_after_another_writer_advanced(sim: dict[str, Any], redis_db_url: str) -> None:
    """Worker A, then B (after a rebalance), then A again: A notices B's offset and reloads."""
    config = sim["config"]

    async def split(store: RedisStore) -> tuple[dict[str, Any], list[bytes]]:
        live = Live(store, config)
        feed(live, sim["messages"], batch=8)
        n = len(live.keyed[1])
        a, b = live.new_windows(), live.new_windows()
        await live.run_windows(1, 0, n // 3, stage=a)
        await live.run_windows(1, n // 3, 2 * n // 3, stage=b)
        res = await live.run_windows(1, n // 3, n, stage=a)  # A resumes from its stale position
        assert res.skipped == 2 * n // 3 - n // 3 and res.persisted
        return redis_state(redis_db_url), live.summaries

    async def single(store: RedisStore) -> tuple[dict[str, Any], list[bytes]]:
        await store.client.flushdb()
        live = Live(store, config)
        feed(live, sim["messages"], batch=8)
        await live.run_windows(1, 0, len(live.keyed[1]))
        return redis_state(redis_db_url), live.summaries

    split_state, split_summaries = run_with_store(redis_db_url, split)
    single_state, single_summaries = run_with_store(redis_db_url, single)
    assert single_state == split_state
    assert flatten(single_summaries) == flatten(split_summaries)


def test_scorer_checkpoint_round_trip(sim: dict[str, Any], redis_db_url: str) -> None:
    """A scorer restarted from Redis mid-stream continues exactly like the one that never stopped."""
    config = sim["config"]
    messages = sim["messages"] + [watermark_message(end_watermark(sim["max_ts"], config))]

    async def body(store: RedisStore) -> Live:
        live = Live(store, config)
        feed(live, messages, batch=10)
        for p in range(P):
            await live.run_windows(p, 0, len(live.keyed[p]))
        half = len(live.summaries) // 2
        await live.run_scoring(0, half)
        restarted = live.new_scoring()
        await live.run_scoring(0, len(live.summaries), stage=restarted)  # redelivers the first half too
        assert restarted.memory[SCORER_PARTITION].offset == len(live.summaries) - 1
        return live

    live = run_with_store(redis_db_url, body)
    assert alert_view(live.alerts) == alert_view(sim["replay"].alerts)


def test_summary_encoding_matches_to_json(sim: dict[str, Any], redis_db_url: str) -> None:
    """The window stage's fast summary encoding gives exactly ``WindowSummary.to_json()``."""
    from detector.partition import PartitionState
    from detector.features import extract
    from detector.parse import parse_message
    from detector.stages.keyed_windows import summary_json

    st = PartitionState(sim["config"])
    n = 0
    for m in sim["messages"][:40]:
        for ev in parse_message(m):
            st.add(extract(ev))  # type: ignore[arg-type]
        for ep in st.advance():
            for s in ep.summaries:
                assert summary_json(s) == s.to_json()
                n += 1
    assert n > 10


def test_ingest_rejects_into_dead_letters_without_text_in_rows() -> None:
    canary = "CANARY-ingest-7d1e"
    good = orjson.dumps({"ts": 1_795_701_787_412, "api_key_id": "k1",
                         "messages": [{"role": "user", "content": f"tell me {canary}"}]})
    bad = [b"\xff\xfenot utf8", b"{not json", b'[{"ts": 1795701787412}, 3, "x"]',
           orjson.dumps({"ts": 1_795_701_787_412, "api_key_id": 7, "messages": [{"role": "user", "content": canary}]})]
    out = Ingest(2).process([(0, i, m) for i, m in enumerate([good, *bad])])
    reasons = sorted(h["x-reject-reason"].decode() for _, h in out.dlq)
    assert reasons == sorted(["not_utf8", "not_json", "missing_field", "not_object", "not_object", "wrong_type"])
    assert all(h["x-source-partition"] == b"0" and h["x-source-offset"].isdigit() for _, h in out.dlq)
    assert out.events == 1
    assert all(canary.encode() not in v for _, v in out.keyed)
    assert all(canary.encode() not in h["x-reject-detail"] for _, h in out.dlq)


def test_allowlisted_profile_reaches_the_scorer_like_replay(sim: dict[str, Any], redis_db_url: str) -> None:
    """A profile forwarded on the scorer's input (as the profiles agent does) silences its account's
    keys, and the live stages decide exactly what replay with the same profile decides."""
    from detector.profiles import AccountProfile
    from detector.stages.profiles import profile_message

    actioned = [a for a in sim["replay"].alerts if a["kind"] == "key" and a["account_ids"]
                and a["action"] in ("throttle", "block")]
    assert actioned, "the simulation should action some key"
    account = actioned[0]["account_ids"][0]
    profile = AccountProfile(account, tier="enterprise", allowlisted=True)
    replay = replay_lines(sim["messages"], sim["config"], profiles=[profile])
    messages = sim["messages"] + [watermark_message(end_watermark(sim["max_ts"], sim["config"]))]

    async def body(store: RedisStore) -> Live:
        live = Live(store, sim["config"])
        live.summaries.append(profile_message(profile))   # published before the traffic
        feed(live, messages, batch=7)
        await live.drain()
        return live

    live = run_with_store(redis_db_url, body)
    assert not any(account in a["account_ids"] for a in replay.alerts if a["kind"] == "key")
    assert alert_view(live.alerts) == alert_view(replay.alerts) != alert_view(sim["replay"].alerts)
    assert live.decisions == replay.decisions
    assert live.scorer_memory is not None and live.scorer_memory.scorer.profiles.is_allowlisted(account)


def test_a_partition_whose_committed_offset_ran_ahead_of_redis_is_rewound(sim: dict[str, Any],
                                                                          redis_db_url: str) -> None:
    """Redis lost the last writes (or a worker died between a Kafka commit and its Redis write):
    the consumer hands the window stage a batch past Redis's offset. The runner applies nothing and
    asks for a seek back to Redis's offset + 1; reading on from there gives the state of a run that
    never skipped. A gap that outlives the patience (records deleted by retention) is applied."""
    config = sim["config"]

    async def body(store: RedisStore) -> None:
        live = Live(store, config)
        feed(live, sim["messages"], batch=8)
        n = len(live.keyed[0])
        await live.run_windows(0, 0, n // 2)
        res = await live.run_windows(0, n // 2 + 3, n)              # committed offset ran ahead
        assert res == Rewind(0, n // 2) and await store.partition_offset(0) == n // 2 - 1
        again = await live.run_windows(0, n // 2 + 5, n)            # already fetched past the gap
        assert again == Rewind(0, n // 2)
        await live.run_windows(0, n // 2, n)                        # after the seek
        rewound = redis_state(redis_db_url)
        await store.client.flushdb()
        straight = Live(store, config)
        feed(straight, sim["messages"], batch=8)
        await straight.run_windows(0, 0, n)
        assert redis_state(redis_db_url) == rewound

        now = [0.0]
        patient = live.new_windows(clock=lambda: now[0])
        await store.client.flushdb()
        await live.run_windows(0, 0, 4, stage=patient)
        assert await live.run_windows(0, 9, n, stage=patient) == Rewind(0, 4)
        now[0] = REWIND_PATIENCE_S + 1                              # offsets 4..8 never come back
        res = await live.run_windows(0, 9, n, stage=patient)
        assert not isinstance(res, Rewind) and res.applied == n - 9 and res.persisted

    run_with_store(redis_db_url, body)
