"""The operations files: Prometheus rules, their unit tests, the Grafana dashboard and the runbook.

* ``promtool check rules`` accepts ``deploy/prometheus/rules.yml`` and ``promtool test rules``
  passes ``deploy/prometheus/rules_test.yml``, in which every alerting rule fires at least once
  (with its exact labels and rendered annotations). ``promtool`` comes from Debian's
  ``prometheus`` package, installed by ``deploy/local/install.sh``; without it these tests fail.
* Every metric name the rules and the dashboard's ``expr``s read is one the code exports
  (``streams.metrics``, the notifier's and enforcer's metrics, and prometheus_client's default
  process collectors, by family name with the ``_total``/``_bucket``/``_sum``/``_count`` suffixes
  their samples carry), and every dashboard ``expr`` is valid PromQL (checked by promtool).
* Every rule has ``summary``/``description`` and a ``runbook_url`` whose anchor is a heading of
  ``docs/runbook.md``; the runbook covers every signal the detector emits and the failure modes.
"""

from __future__ import annotations

import importlib
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
RULES = REPO / "deploy" / "prometheus" / "rules.yml"
RULES_TEST = REPO / "deploy" / "prometheus" / "rules_test.yml"
DASHBOARD = REPO / "deploy" / "grafana" / "detector-dashboard.json"
RUNBOOK = REPO / "docs" / "runbook.md"

# Series Prometheus makes itself, not the code.
PROMETHEUS_SERIES = {"up"}


def _promtool() -> str:
    path = shutil.which("promtool")
    assert path, "promtool is missing: run deploy/local/install.sh (it installs Debian's prometheus package)"
    return path


def exported_metric_names() -> set[str]:
    """Every sample name the processes can export, including metrics with no children yet."""
    from prometheus_client import REGISTRY

    for module in ("streams.metrics", "detector.outputs.notifier", "detector.outputs.enforcer"):
        importlib.import_module(module)
    suffixes = {"counter": ("_total", "_created"), "histogram": ("_bucket", "_sum", "_count", "_created"),
                "summary": ("", "_sum", "_count", "_created"), "info": ("_info",), "gaugehistogram":
                ("_bucket", "_gsum", "_gcount")}
    names: set[str] = set()
    for family in REGISTRY.collect():
        names.update(family.name + s for s in suffixes.get(family.type, ("",)))
        names.update(sample.name for sample in family.samples)
    return names


_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless",
             "offset", "inf", "nan"}


def metric_names(expr: str) -> set[str]:
    """Metric names a PromQL expression selects (not functions, keywords, label names or strings)."""
    s = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`', '""', expr)
    s = re.sub(r"\{[^}]*\}", " ", s)                       # label matchers
    s = re.sub(r"\[[^\]]*\]", " ", s)                      # ranges and subqueries
    s = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", s)
    names = set()
    for m in re.finditer(r"\d+(?:\.\d+)?(?:[eE][+-]?\d+)?[a-zA-Z]*|([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?", s):
        if m.group(1) and not m.group(2) and m.group(1).lower() not in _KEYWORDS:
            names.add(m.group(1))
    return names


def test_metric_name_extraction() -> None:
    assert metric_names('sum by (le, stage) (rate(xd_batch_seconds_bucket{job=~"$job"}[$__rate_interval]))') \
        == {"xd_batch_seconds_bucket"}
    assert metric_names("time() - max by (partition) (xd_watermark_ms > 0) / 1000 > 3600") == {"xd_watermark_ms"}
    assert metric_names('(up == 0) and on (job, instance) group by (job, instance) (last_over_time(a_total[1h]))') \
        == {"up", "a_total"}
    assert metric_names("x:y:z > 3 * avg_over_time(x:y:z[7d]) and x offset 7d > 1e3") == {"x:y:z", "x"}


def _rules() -> list[dict[str, Any]]:
    return [r for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]]


def _alerts() -> list[dict[str, Any]]:
    return [r for r in _rules() if "alert" in r]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=120, cwd=REPO)


def test_promtool_check_rules() -> None:
    proc = _run(_promtool(), "check", "rules", str(RULES))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"SUCCESS: {len(_rules())} rules found" in proc.stdout


def test_promtool_unit_tests_pass() -> None:
    proc = _run(_promtool(), "test", "rules", str(RULES_TEST))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS" in proc.stdout


def test_every_alert_fires_in_the_unit_tests() -> None:
    fired: set[str] = set()
    for case in yaml.safe_load(RULES_TEST.read_text())["tests"]:
        for t in case.get("alert_rule_test", []):
            if t.get("exp_alerts"):
                fired.add(t["alertname"])
    assert {a["alert"] for a in _alerts()} <= fired


def _github_anchor(heading: str) -> str:
    """The fragment GitHub gives a Markdown heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _runbook_anchors() -> set[str]:
    return {_github_anchor(m.group(1)) for m in re.finditer(r"^#{1,6}\s+(.+)$", RUNBOOK.read_text(), re.M)}


def test_rules_have_annotations_and_runbook_anchors() -> None:
    anchors = _runbook_anchors()
    for rule in _alerts():
        name, ann = rule["alert"], rule.get("annotations", {})
        assert ann.get("summary") and ann.get("description"), name
        assert rule.get("labels", {}).get("severity") in ("warning", "critical"), name
        url, _, anchor = ann.get("runbook_url", "").partition("#")
        assert url.endswith("/docs/runbook.md"), (name, url)
        assert anchor == name.lower(), (name, anchor)
        assert anchor in anchors, f"{name}: no heading for #{anchor} in docs/runbook.md"


def test_runbook_internal_links_resolve() -> None:
    anchors = _runbook_anchors()
    links = set(re.findall(r"\]\(#([^)]+)\)", RUNBOOK.read_text()))
    assert links, "the runbook cross-links its sections"
    assert links <= anchors, links - anchors


def test_runbook_covers_signals_kinds_actions_and_failure_modes() -> None:
    text = RUNBOOK.read_text()
    report = importlib.import_module("detector.offline.report")
    missing = [s for s in report.SIGNAL_HELP if f"`{s}`" not in text]
    assert not missing, f"signals without a runbook entry: {missing}"
    for word in ("**observe**", "**throttle**", "**block**", "**key**", "**cluster**", "detector replay",
                 "--compare-live", "detector label"):
        assert word in text, word
    anchors = _runbook_anchors()
    for mode in ("kafka-down", "redis-down", "dlq-flood", "scorer-stuck-waiting-for-an-epoch-marker"):
        assert mode in anchors, mode


def test_rules_read_only_exported_metrics() -> None:
    exported = exported_metric_names()
    records = {r["record"] for r in _rules() if "record" in r}
    used: set[str] = set()
    for rule in _rules():
        used |= metric_names(rule["expr"])
    unknown = used - exported - records - PROMETHEUS_SERIES
    assert not unknown, f"rules read metrics nothing exports: {sorted(unknown)}"
    assert records <= used, "every recording rule is used by an alert"
    assert {"xd_consumer_lag", "xd_rejected_total", "xd_events_consumed_total", "xd_watermark_ms",
            "xd_scorer_epoch_ms", "xd_scorer_buffered_epochs", "xd_redis_retries_total", "xd_dependency_failing",
            "xd_worker_restarts_total", "xd_alerts_total"} <= used


def _dashboard_panels() -> list[dict[str, Any]]:
    dash = json.loads(DASHBOARD.read_text())
    out = []
    for p in dash["panels"]:
        out.append(p)
        out.extend(p.get("panels", []))
    return out


def _dashboard_exprs() -> list[str]:
    return [t["expr"] for p in _dashboard_panels() for t in p.get("targets", [])]


def test_dashboard_is_well_formed() -> None:
    dash = json.loads(DASHBOARD.read_text())
    assert dash["uid"] and dash["title"]
    panels = _dashboard_panels()
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids))
    for p in panels:
        g = p["gridPos"]
        assert 0 <= g["x"] and g["x"] + g["w"] <= 24, p["title"]
        if p["type"] != "row":
            assert p["targets"] and all(t["expr"].strip() for t in p["targets"]), p["title"]
            refs = [t["refId"] for t in p["targets"]]
            assert len(refs) == len(set(refs)), p["title"]


def test_dashboard_reads_only_exported_metrics_and_covers_the_pipeline() -> None:
    exported = exported_metric_names()
    used: set[str] = set()
    for expr in _dashboard_exprs():
        used |= metric_names(expr)
    unknown = used - exported - PROMETHEUS_SERIES
    assert not unknown, f"the dashboard reads metrics nothing exports: {sorted(unknown)}"
    assert {"xd_messages_consumed_total", "xd_events_consumed_total", "xd_consumer_lag", "xd_rejected_total",
            "xd_watermark_ms", "xd_scorer_epoch_ms", "xd_batch_seconds_bucket", "xd_redis_write_seconds_bucket",
            "xd_alerts_total", "xd_decisions_total", "xd_active_keys"} <= used
    exprs = "\n".join(_dashboard_exprs())
    assert "sum by (reason) (rate(xd_rejected_total" in exprs            # DLQ rate by reason
    assert "sum by (severity, action) (increase(xd_alerts_total" in exprs  # alerts by severity/action
    assert "sum by (change) (increase(xd_decisions_total" in exprs        # decisions set/lifted
    for q in ("0.5", "0.95", "0.99"):
        assert f"histogram_quantile({q}, sum by (le, stage) (rate(xd_batch_seconds_bucket" in exprs


def test_dashboard_exprs_are_valid_promql(tmp_path: Path) -> None:
    """Each expr (Grafana's $__ variables given values) as a recording rule through promtool."""
    grafana_vars = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h"}
    rules = []
    for i, expr in enumerate(_dashboard_exprs()):
        for var, value in grafana_vars.items():
            expr = expr.replace(var, value)
        assert "$__" not in expr, expr
        rules.append({"record": f"dashboard:expr{i}", "expr": expr})
    path = tmp_path / "dashboard-exprs.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    proc = _run(_promtool(), "check", "rules", str(path))
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize(("env", "restarts", "last_exit"), [
    ({"XD_WORKER_RESTARTS": "2", "XD_WORKER_LAST_EXIT_CODE": "-9"}, 2, -9),
    ({}, 0, 0),
    ({"XD_WORKER_RESTARTS": "junk"}, 0, None),
])
def test_worker_restart_metrics_carry_over(env: dict[str, str], restarts: int, last_exit: int | None) -> None:
    from prometheus_client import REGISTRY

    from streams import metrics

    before = REGISTRY.get_sample_value("xd_worker_restarts_total") or 0.0
    gauge_before = REGISTRY.get_sample_value("xd_worker_last_exit_code")
    assert metrics.RESTARTS_ENV == "XD_WORKER_RESTARTS" and metrics.LAST_EXIT_ENV == "XD_WORKER_LAST_EXIT_CODE"
    assert metrics.carry_restarts(env) == restarts
    assert REGISTRY.get_sample_value("xd_worker_restarts_total") == before + restarts
    assert REGISTRY.get_sample_value("xd_worker_last_exit_code") == (gauge_before if last_exit is None else last_exit)
