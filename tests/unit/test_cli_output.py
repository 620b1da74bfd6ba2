"""What ``detector replay``, ``watch``, ``eval`` and the benchmarks print reads well when piped.

Run with ``COLUMNS=40`` and output captured (not a terminal, as in ``detector replay ... | grep``):
every alert is exactly one line on stdout, summary tables keep every cell whole (no ``…``, no
wrapped cell), and ``--json`` prints one full alert record per line (full ids). On a narrow
terminal alert lines still never wrap and table cells fold rather than being cut.
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import orjson
import pytest
from rich.console import Console
from rich.table import Table
from typer.testing import CliRunner

from detector import cli
from detector.cli import app

NARROW = {"COLUMNS": "40", "LINES": "20"}
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from detector.offline.simulate import simulate

    out = tmp_path_factory.mktemp("cli-output-sim")
    simulate(out, seed=3, scenario="all", hours=3, scale=0.05)
    return out


@pytest.fixture(scope="module")
def replayed(sim: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One plain and one --json replay of the simulation, narrow and piped; the alerts file."""
    alerts_out = tmp_path_factory.mktemp("cli-output") / "alerts.jsonl"
    runner = CliRunner()
    plain = runner.invoke(app, ["replay", str(sim / "events.jsonl.gz"), "--alerts-out", str(alerts_out)], env=NARROW)
    assert plain.exit_code == 0, plain.output
    as_json = runner.invoke(app, ["replay", str(sim / "events.jsonl.gz"), "--json"], env=NARROW)
    assert as_json.exit_code == 0, as_json.output
    alerts = [orjson.loads(line) for line in alerts_out.read_bytes().splitlines()]
    assert len(alerts) >= 5, "the simulation should raise a few alerts"
    return {"plain": plain, "json": as_json, "alerts": alerts}


def _assert_one_line_per_alert(stdout: str, alerts: list[dict[str, Any]]) -> None:
    lines = stdout.splitlines()
    assert len(lines) == len(alerts), stdout
    for line, a in zip(lines, alerts, strict=True):
        assert line.startswith(a["detected_at"]), line
        for part in (a["action"], a["severity"], a["kind"], a["subject_id"], a["alert_id"][:11],
                     a["reasons"][0]["signal"]):
            assert part in line, (part, line)
        assert len(line) > 40    # longer than the terminal width it was not wrapped to
        assert a["alert_id"] not in line   # humans get the short id


def _assert_table_whole(text: str, cells: list[str]) -> None:
    assert "…" not in text and "..." not in text, text
    for cell in cells:
        assert any(cell in line for line in text.splitlines()), f"{cell!r} cut or wrapped:\n{text}"


def test_replay_prints_one_line_per_alert_when_piped_narrow(replayed: dict[str, Any]) -> None:
    _assert_one_line_per_alert(replayed["plain"].stdout, replayed["alerts"])


def test_replay_summary_table_is_whole_when_piped_narrow(replayed: dict[str, Any]) -> None:
    stderr = replayed["plain"].stderr
    _assert_table_whole(stderr, ["state bytes per active key", "late (dropped)", "events/s"])
    rows = [line for line in stderr.splitlines() if line.startswith("│")]
    assert len(rows) == 9 and len({len(r) for r in rows}) == 1    # one line per figure, none wrapped


def test_replay_json_prints_full_alert_records(replayed: dict[str, Any]) -> None:
    records = [orjson.loads(line) for line in replayed["json"].stdout.splitlines()]
    assert records == replayed["alerts"]
    assert all(re.fullmatch(r"xa_[0-9a-f]{32}", a["alert_id"]) for a in records)
    assert "state bytes per active key" in replayed["json"].stderr   # the summary still goes to stderr


def test_eval_tables_are_whole_when_piped_narrow(sim: Path) -> None:
    res = CliRunner().invoke(app, ["eval", str(sim)], env=NARROW)
    assert res.exit_code == 0, res.output
    _assert_table_whole(res.output, ["requests to detect", "baseline keys named", "bulk_distill",
                                     "benign flagged (any, incl. observe)", "benign share throttled/blocked"])


def test_bench_figures_table_is_whole_when_piped_narrow(monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("COLUMNS", "40")
    figures = {"replay events per second on one core": 12345.678, "raw orjson parse events per second": 2.5e6,
               "state bytes per key": 2852}
    cli._print_figures("bench replay", figures, False, "{:,.2f}")
    _assert_table_whole(capsys.readouterr().out, ["replay events per second on one core", "12,345.68",
                                                  "2,500,000.00"])


class FakeMessage:
    def __init__(self, value: bytes | None) -> None:
        self.value = value


class FakeConsumer:
    """Stands in for kafka.KafkaConsumer: yields the given alerts once (one twice, as redelivered)."""

    messages: list[bytes | None] = []

    def __init__(self, *_args: Any, **_kwargs: Any) -> None:
        self.pending = list(self.messages)

    def __iter__(self):  # type: ignore[no-untyped-def]
        out, self.pending = self.pending, []
        return iter([FakeMessage(v) for v in out])

    def close(self) -> None:
        pass


def test_watch_prints_one_line_per_alert_and_full_json(replayed: dict[str, Any],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    import kafka

    alerts = replayed["alerts"]
    FakeConsumer.messages = [orjson.dumps(a) for a in alerts] + [None, orjson.dumps(alerts[0])]
    monkeypatch.setattr(kafka, "KafkaConsumer", FakeConsumer)
    runner = CliRunner()
    plain = runner.invoke(app, ["watch", "--idle", "0.3"], env=NARROW)
    assert plain.exit_code == 0, plain.output
    _assert_one_line_per_alert(plain.stdout, alerts)     # the redelivered one printed once
    as_json = runner.invoke(app, ["watch", "--idle", "0.3", "--json"], env=NARROW)
    assert as_json.exit_code == 0, as_json.output
    assert [orjson.loads(line) for line in as_json.stdout.splitlines()] == alerts


def _alert(subject: str) -> dict[str, Any]:
    return {"alert_id": "xa_" + "0123456789abcdef" * 2, "kind": "cluster", "subject_id": subject,
            "api_key_ids": [f"key_{i}" for i in range(12)], "action": "block", "severity": "critical",
            "score": 0.987, "detected_at": "2026-11-20T03:10:00.000Z",
            "reasons": [{"signal": "cluster_harvest", "value": 0.93456, "baseline": 0.25, "horizon": "24h"}]}


def test_alert_lines_never_wrap_on_a_narrow_terminal() -> None:
    buf = io.StringIO()
    out = Console(file=buf, force_terminal=True, width=40, soft_wrap=True, highlight=False)
    alerts = [_alert("xc_0123456789abcdef"), _alert("key_[bold]not-markup[/bold]"), _alert("k" * 100)]
    cli._print_alerts(alerts, False, out)
    lines = ANSI.sub("", buf.getvalue()).splitlines()
    assert len(lines) == 3, lines
    assert "xc_0123456789abcdef (12 keys)" in lines[0] and "cluster_harvest=0.935 (24h)" in lines[0]
    assert "key_[bold]not-markup[/bold]" in lines[1]          # ids are text, never Rich markup
    assert "k" * 29 + "…" + "k" * 10 in lines[2]             # a very long id shortened for humans
    assert "xa_01234567 " not in lines[0] and lines[0].endswith("xa_01234567")


def test_tables_fold_instead_of_cutting_on_a_narrow_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    tty = Tty()
    monkeypatch.setattr("sys.stderr", tty)
    monkeypatch.setenv("COLUMNS", "30")
    t = Table(title="figures")
    t.add_column("figure")
    t.add_column("value", justify="right")
    t.add_row("state_bytes_per_active_key_in_the_window", "1,234,567,890")
    cli._print_table(t)
    text = ANSI.sub("", tty.getvalue())
    assert "…" not in text
    assert max(len(line) for line in text.splitlines()) <= 30            # the terminal's width
    rows = [line.split("│")[1:3] for line in text.splitlines() if line.startswith("│")]
    assert len(rows) > 1                                                # folded over several lines
    assert "".join(r[0].strip() for r in rows) == "state_bytes_per_active_key_in_the_window"
    assert "".join(r[1].strip() for r in rows) == "1,234,567,890"
