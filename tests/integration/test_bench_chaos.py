"""``detector bench chaos`` on the local broker and Redis: a small run end to end (20k events, 3
SIGKILLs of the worker process), and the Redis comparison it rests on, against planted differences."""

from __future__ import annotations

import pickle

import orjson
import pytest
import redis

from detector.offline.stream_bench import DbLease
from detector.offline.chaos import compare_redis
from streams.redis_store import SCORER_KEY, blob_key, keyset_key, meta_key

pytestmark = pytest.mark.integration


def _write_state(client: redis.Redis, offsets: tuple[int, int], scorer: object) -> None:
    client.flushdb()
    for p, off in enumerate(offsets):
        for k in (f"key_{p}_a", f"key_{p}_b"):
            client.set(blob_key(p, k), f"windows of {k}".encode(), ex=3600 + p)
            client.sadd(keyset_key(p), k)
        client.hset(meta_key(p), mapping={"offset": off, "state": b'{"watermark_ms": 5}', "hw": b'{"0": [9, 1]}'})
    client.hset(SCORER_KEY, mapping={"offset": 40 + offsets[0], "meta": b'{"next_epoch": 7}',
                                     "scorer": pickle.dumps(scorer)})


def test_redis_comparison_ignores_only_offsets_and_pickle_order(redis_url: str, redis_db_url: str) -> None:
    lease = DbLease(redis_url, None)
    a, b = redis.Redis.from_url(redis_db_url), lease.client()
    try:
        _write_state(a, (10, 20), {"x": 1, "y": [1, 2]})
        _write_state(b, (13, 25), {"y": [1, 2], "x": 1})     # other offsets; the same scorer, pickled in another order
        same = compare_redis(a, b)
        assert same.identical, same.examples
        assert same.keys_ref == same.keys_chaos == 2 * 4 + 1
        assert same.categories["window blob"].identical == 4
        assert same.categories["scorer checkpoint"].identical_by_content == 1
        assert same.not_compared[f"{meta_key(1)} offset"] == ("20", "25")

        b.set(blob_key(0, "key_0_a"), b"other windows")     # a blob differs
        b.delete(blob_key(1, "key_1_b"))                     # a blob is missing
        b.set(blob_key(1, "key_1_c"), b"extra")              # an extra one
        b.hset(meta_key(0), "state", b'{"watermark_ms": 6}')  # partition metadata differs
        b.hset(SCORER_KEY, "scorer", pickle.dumps({"x": 2, "y": [1, 2]}))
        diff = compare_redis(a, b)
        assert not diff.identical
        blobs = diff.categories["window blob"]
        assert (blobs.different, blobs.only_ref, blobs.only_chaos) == (1, 1, 1)
        assert diff.categories["partition meta"].different == 1
        assert diff.categories["scorer checkpoint"].different == 1
        assert any("field state differs" in e for e in diff.examples)
    finally:
        a.close()
        b.close()
        lease.release()


def test_bench_chaos_small_run_matches_the_uninterrupted_run(kafka_bootstrap: str, redis_url: str) -> None:
    """The CLI as users run it: 20k events, 3 SIGKILLs; every kill followed by a new worker process
    that continued; same Redis state, same alert ids, exit 0, one JSON object."""
    from typer.testing import CliRunner

    from detector.cli import app as cli

    res = CliRunner().invoke(cli, ["bench", "chaos", "--events", "20000", "--kills", "3", "--json"],
                             env={"DETECTOR_KAFKA_BOOTSTRAP": kafka_bootstrap, "DETECTOR_REDIS_URL": redis_url,
                                  "DETECTOR_BATCH_SIZE": "20"})
    assert res.exit_code == 0, res.output[-5000:]
    fig = orjson.loads(res.stdout.strip().splitlines()[-1])
    assert fig["identical"] is True
    assert fig["events"] == 20_000 and fig["batch_size"] == 20
    assert fig["kills"] == fig["kills_requested"] == fig["restarts_continued"] == 3
    assert fig["worker_processes_chaos"] >= 4
    assert fig["wall_s_reference"] > 0 and fig["wall_s_chaos"] > 0
    assert fig["redis_keys_reference"] == fig["redis_keys_chaos"] > 0
    assert fig["window_blobs_compared"] == fig["window_blobs_identical"] > 0
    assert fig["partition_metas_identical"] == 4 and fig["scorer_checkpoints_identical"] == 1
    assert fig["alert_ids_reference"] == fig["alert_ids_chaos"] > 0
    assert fig["alert_ids_only_reference"] == fig["alert_ids_only_chaos"] == fig["alert_ids_same_id_other_content"] == 0
    assert fig["alert_records_chaos"] == fig["alert_ids_chaos"] + fig["alert_duplicates_chaos"]
    assert fig["final_decisions_different"] == 0
    assert "offset" in fig["not_compared_offsets"]
