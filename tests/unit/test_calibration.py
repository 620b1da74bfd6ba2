"""Calibration: quantile sketches, the file format, and floors from a benign population."""

from __future__ import annotations

import doctest
import random
from pathlib import Path

import orjson
import pytest

import detector.calibration as calibration_module
from detector.offline.calibrate import Recording, calibrate
from detector.calibration import Calibration, CalibrationBuilder, QuantileSketch
from detector.config import Config
from detector.evidence import Evidence
from detector.scorer import Scorer
from detector.offline.simulate import simulate

CORPORA = Path(__file__).resolve().parents[3] / "shared" / "corpora"


def test_doctests() -> None:
    assert doctest.testmod(calibration_module).failed == 0


def test_quantile_sketch_is_mergeable_and_close() -> None:
    rng = random.Random(7)
    xs = [rng.lognormvariate(5, 2) for _ in range(5000)] + [0.0] * 100
    whole, a, b = QuantileSketch(), QuantileSketch(), QuantileSketch()
    for i, x in enumerate(xs):
        whole.add(x)
        (a if i % 2 else b).add(x)
    a.merge(b)
    assert a == whole and a.count == len(xs)
    exact = sorted(xs)[int(0.99 * (len(xs) - 1))]
    assert exact <= whole.quantile(0.99) <= exact * 1.05
    assert QuantileSketch().quantile(0.5) == 0.0


def test_file_round_trip_and_wrong_format() -> None:
    cal = Calibration("cal-x", {"harvest": 0.3}, {"1h": {"n": {"0.999": 1000.0}}}, {"events": 5})
    back = Calibration.from_json(cal.to_json())
    assert back == cal and back.feature_quantile("1h", "n", 0.999, 1.0) == 1000.0
    assert back.feature_quantile("24h", "n", 0.999, 7.0) == 7.0
    with pytest.raises(ValueError, match="not a calibration file"):
        Calibration.from_json(b'{"format": "something-else"}')


def test_packaged_default_loads() -> None:
    cal = Calibration.default()
    assert cal.version and all(0.0 <= f <= 0.9 for f in cal.floors.values())


def test_builder_floors_come_from_benign_keys_only() -> None:
    b = CalibrationBuilder()
    for i in range(2000):
        strength = 0.2 if i == 7 else 0.01 * (i % 5)
        b.observe(f"k{i}", [Evidence("harvest", strength, 0, 0, "1h")], {"1h": {"n": float(i), "out_tokens_sum": 10.0}})
    b.observe("attacker", [Evidence("harvest", 1.0, 0, 0, "1h")], {"1h": {"n": 9e6}})
    benign = {f"k{i}" for i in range(2000)}
    cal = b.build("v", {}, benign)
    assert 0.04 <= cal.floor("harvest") <= 0.21      # the 99.9th percentile of benign keys, not the attacker
    assert cal.feature_quantile("1h", "n", 0.999, 0.0) < 2100
    assert b.build("v", {}).feature_quantile("1h", "n", 0.999, 0.0) < 9e6   # one key cannot move the tail
    assert cal.source["subjects"] == 2000


@pytest.fixture(scope="module")
def recordings(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    out = []
    for seed in (3, 4):
        d = tmp_path_factory.mktemp(f"cal{seed}")
        simulate(d, seed=seed, scenario="all", hours=3, corpora=CORPORA, scale=0.05)
        out.append(d)
    return out


def test_calibrate_uses_benign_keys_of_every_recording(recordings: list[Path]) -> None:
    cal = calibrate([Recording.of(d) for d in recordings])
    benign = allowed = 0
    for d in recordings:
        rows = [orjson.loads(line) for line in (d / "labels.jsonl").read_bytes().splitlines()]
        benign += sum(r["kind"] == "benign" for r in rows)
        allowed += len(orjson.loads((d / "allowlist.json").read_bytes())["accounts"])
    assert 0 < cal.source["subjects"] <= benign
    assert cal.version.startswith("cal-") and len(cal.source["recordings"]) == 2
    assert all(0.0 < f <= 0.9 for f in cal.floors.values())
    # the campaigns in the recordings (bulk distillation: harvest 1.0) did not set the harvest floor
    assert cal.floor("harvest") < 0.9
    one = calibrate([Recording.of(recordings[0])])
    assert one.version != cal.version


def test_the_scorer_loads_the_configured_calibration(tmp_path: Path) -> None:
    path = tmp_path / "cal.json"
    path.write_bytes(Calibration("cal-test", {"harvest": 0.5}).to_json())
    sc = Scorer(Config.from_env({"DETECTOR_CALIBRATION_FILE": str(path)}))
    assert sc.calibration.floor("harvest") == 0.5 and sc.model_version.endswith("+cal-test")
    assert Scorer(Config()).model_version.endswith("+" + Calibration.default().version)
