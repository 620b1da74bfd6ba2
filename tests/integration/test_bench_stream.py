"""``detector bench stream`` end to end on a tiny input: every figure present and positive (no timing)."""

from __future__ import annotations

import pytest

from detector.offline.stream_bench import bench_stream

pytestmark = pytest.mark.integration

KEYS = ("bare_events_per_s", "detector_events_per_s", "ratio", "single_record_ratio", "latency_p50_s",
        "latency_p99_s", "redis_bytes_per_key", "workers_1_events_per_s", "workers_2_events_per_s",
        "two_workers_over_one")


def test_bench_stream_reports_every_figure(kafka_bootstrap: str, redis_url: str, redis_db: int) -> None:
    res = bench_stream(n_records=5000, bootstrap=kafka_bootstrap, redis_url=redis_url, redis_db=redis_db,
                       redis_keys=2000)
    assert res["records"] == 5000
    for key in KEYS:
        assert isinstance(res[key], float), key
        assert res[key] > 0, key
    assert res["latency_kind"]
    assert res["latency_p99_s"] >= res["latency_p50_s"]
