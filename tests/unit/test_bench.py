"""Replay benchmark: every reported figure is present and positive (no timing assertions)."""

from __future__ import annotations

from pathlib import Path

import pytest

from detector.offline import bench
from detector.offline.bench import bench_replay
from detector.offline.simulate import simulate

POSITIVE = ("events", "events_per_s", "raw_parse_events_per_s", "ratio", "state_bytes_per_key", "keys", "alerts",
            "events_per_s_python_reference", "compiled_speedup")


def _check(report: dict[str, object], n_max: int) -> None:
    for key in POSITIVE:
        value = report[key]
        assert isinstance(value, int | float) and value > 0, (key, value)
    assert report["events"] <= n_max
    assert report["best_of"] == 2
    assert report["kernels"] == "compiled"
    assert isinstance(report["python"], str) and report["python"]
    assert isinstance(report["cpu"], str) and report["cpu"]


def test_bench_on_a_file(tmp_path: Path) -> None:
    sim = simulate(tmp_path / "sim", seed=3, scenario="all", hours=1.0, scale=0.02)
    report = bench_replay(sim.events_path, n_events=2_000, profile=True)
    _check(report, 2_000)
    assert report["events"] == min(2_000, sim.events)
    assert "cumulative" in report["profile"]


def test_bench_generates_data_without_a_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bench, "SIM_HOURS", 1.0)
    report = bench_replay(None, n_events=1_500, seed=5)
    _check(report, 1_500)
    assert report["source"] == "simulated (seed 5)"


def test_bench_epoch_times_every_key_and_the_rebuild() -> None:
    """Every active key goes through the scorer in each timed epoch, and the scorer really decides
    (the harvest-shaped keys among them raise alerts)."""
    from detector.offline.bench import EPOCH_RUNS, bench_epoch

    res = bench_epoch(600, hydra=30)
    assert res["active_keys"] == 630 and res["epochs"] == EPOCH_RUNS
    assert 0 < res["fastest_epoch_s"] <= res["slowest_epoch_s"]
    assert res["us_per_key"] == pytest.approx(res["fastest_epoch_s"] / 630 * 1e6)
    assert res["alerts"] >= 1
