"""Quality gate: a small held-out matrix (heldout wording, held-out seeds) against the committed
baseline. Fails when a campaign-variant the baseline detected is missed, a multi-key campaign's
named-key share drops by more than 0.1, more benign keys are throttled, or any benign key is
blocked. Rewrite the baseline after a deliberate change with the command in ``REWRITE``.

Cost: 24 runs (12 variants, 2 seeds) of 12 h at scale 0.05 over 2 processes, one to two minutes.
"""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from detector.offline.matrix import Settings, baseline_of, cells, regressions, run_matrix, summarise

BASELINE = Path(__file__).with_name("heldout_baseline.json")
CORPORA = Path(__file__).resolve().parents[3] / "shared" / "corpora"
REWRITE = ("detector eval --matrix --split heldout --hours {hours:g} --scale {scale:g} --seeds {seeds} "
           "--no-independent --write-baseline tests/quality/heldout_baseline.json")


def test_heldout_matrix_does_not_regress(tmp_path: Path) -> None:
    if not CORPORA.is_dir():
        pytest.fail(f"corpora missing at {CORPORA}: the held-out matrix needs them")
    base = orjson.loads(BASELINE.read_bytes())
    m = base["matrix"]
    todo = cells("heldout", m["variants"], m["seeds"])
    settings = Settings(m["hours"], m["scale"], CORPORA, tmp_path, jobs=2)
    current = baseline_of(summarise(run_matrix(todo, settings)), settings, todo)
    problems = regressions(current, base)
    rewrite = REWRITE.format(hours=m["hours"], scale=m["scale"], seeds=",".join(map(str, m["seeds"])))
    assert not problems, "\n".join(problems) + f"\n(after a deliberate change: {rewrite})"
