"""Replay HTML report: plots exist and are valid PNGs, alerts are listed, ids are escaped, output is reproducible."""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib.image
import orjson
import pytest

from detector.offline.replay import ReplayResult, replay_lines
from detector.offline.report import SIGNAL_HELP, write_report

T0 = 1_795_651_200_000          # 2026-11-26T00:00:00Z
PROBER = "key_probe"
HOSTILE = "<script>alert('$x^$')</script>"
CANARY = "CANARY-prompt-text-7f3a9"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
COMMAND = "detector replay events.jsonl --report 'out dir'"


def _record(ts_ms: int, key: str, i: int, **fields: object) -> dict[str, object]:
    return {"ts": ts_ms, "api_key_id": key, "request_id": f"{key}-{i}", "account_id": f"acct-{key}",
            "model": "claude-x-1", "endpoint": "/v1/chat/completions", "status": 200, **fields}


def _records() -> list[bytes]:
    """Two keys probing the projection layer over an hour (a few prompts, each read again under
    other logit_bias maps, logprobs, 1-token outputs), among three benign chat keys."""
    out = []
    for key in (PROBER, HOSTILE):
        for i in range(200):
            params = {"logit_bias_size": 20 + i % 40, "logprobs": True, "top_logprobs": 5, "max_tokens": 1}
            out.append(_record(T0 + i * 18_000, key, i, usage={"input_tokens": 12, "output_tokens": 1}, params=params,
                               messages=[{"role": "user", "content": f"{CANARY} prompt {i % 4}"}],
                               finish_reason="length"))
    for k in range(3):
        for i in range(30):
            out.append(_record(T0 + i * 120_000 + k * 7_000, f"key_benign_{k}", i,
                               usage={"input_tokens": 80 + i, "output_tokens": 300 + 7 * i},
                               params={"temperature": 0.7, "max_tokens": 1024},
                               messages=[{"role": "user", "content": f"{CANARY} question {k}-{i} about cooking"}],
                               finish_reason="stop"))
    out.sort(key=lambda r: (r["ts"], r["request_id"]))
    return [orjson.dumps(r) for r in out]


@pytest.fixture(scope="module")
def result() -> ReplayResult:
    res = replay_lines(_records())
    assert {a["subject_id"] for a in res.alerts} >= {PROBER, HOSTILE}, "the probing keys should be alerted"
    return res


def _pngs(out: Path) -> list[Path]:
    return sorted((out / "plots").glob("*.png"))


def test_report_links_valid_plots_and_lists_alerts(result: ReplayResult, tmp_path: Path) -> None:
    index = write_report(result, tmp_path, title="Probe <replay>", command=COMMAND)
    assert index == tmp_path / "index.html"
    page = index.read_text(encoding="utf-8")

    referenced = set(re.findall(r'src="(plots/[^"]+\.png)"', page))
    assert {p.relative_to(tmp_path).as_posix() for p in _pngs(tmp_path)} == referenced
    subjects = {(a["kind"], a["subject_id"]) for a in result.alerts}
    assert len(referenced) == 1 + len(subjects)          # overview + one timeline per alerted subject
    for png in _pngs(tmp_path):
        assert png.read_bytes()[:8] == PNG_MAGIC
        image = matplotlib.image.imread(png)
        assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100

    for alert in result.alerts:
        assert alert["alert_id"] in page
    assert PROBER in page and "logit_probe" in page
    assert "Probe &lt;replay&gt;" in page
    assert "detector replay events.jsonl --report &#x27;out dir&#x27;" in page
    for name in SIGNAL_HELP:
        assert f"<dt>{name}</dt>" in page


def test_report_escapes_ids_and_carries_no_prompt_text(result: ReplayResult, tmp_path: Path) -> None:
    page = write_report(result, tmp_path, title="t", command="c").read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(&#x27;$x^$&#x27;)&lt;/script&gt;" in page   # "$x^$" is also bad mathtext
    assert "<script" not in page.lower()
    assert CANARY not in page
    assert not re.search(r"(src|href)=\"(https?:)?//", page)     # nothing external


def test_report_is_byte_identical_when_written_twice(result: ReplayResult, tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    write_report(result, a, title="t", command=COMMAND)
    write_report(result, b, title="t", command=COMMAND)
    files_a = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert files_a == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    for rel in files_a:
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel


def test_max_subjects_limits_the_plotted_subjects(result: ReplayResult, tmp_path: Path) -> None:
    page = write_report(result, tmp_path, title="t", command="c", max_subjects=1).read_text(encoding="utf-8")
    assert len(_pngs(tmp_path)) == 2
    for alert in result.alerts:                           # the alerts table still lists every alert
        assert alert["alert_id"] in page


def test_report_without_alerts(tmp_path: Path) -> None:
    benign = [line for line in _records() if b"key_benign_" in line]
    page = write_report(replay_lines(benign), tmp_path, title="t", command="c").read_text(encoding="utf-8")
    assert "<p>No alerts.</p>" in page
    assert [p.name for p in _pngs(tmp_path)] == ["overview.png"]
