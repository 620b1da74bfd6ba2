"""A real Prometheus scrapes a real worker and evaluates ``deploy/prometheus/rules.yml``.

Debian's ``prometheus`` binary (installed by ``deploy/local/install.sh``) is started on a loopback
port with a temporary config and data directory, a 1 s scrape and evaluation interval, and a copy
of the rules whose expressions are verbatim and whose ``for:`` durations are cut to 1 s (the
durations themselves are covered by ``promtool test rules`` in ``tests/unit/test_ops_files.py``).
A supervised worker (``python -m streams.worker``) runs against the local Kafka and Redis with its
own topics, group and Redis DB.

1. Invalid records fed to the input topic raise the dead-letter alerts for real: the test waits
   until Prometheus reports ``DetectorDeadLetterFlood`` and ``DetectorDeadLetterRateHigh`` firing
   (``/api/v1/alerts``), and checks through ``/api/v1/rules`` that every rule of the file evaluated
   without error against the worker's series and that nothing else fired.
2. The Faust child is SIGKILLed; the supervisor restarts it and the new process exports
   ``xd_worker_restarts_total`` 1 and ``xd_worker_last_exit_code`` -9, so the restart shows as an
   ``increase()`` over the series Prometheus scraped from both processes.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from detector.offline.ports import listen_port
from detector.offline.processes import stop_group

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
RULES = REPO / "deploy" / "prometheus" / "rules.yml"
JOB = "detector-worker"


def wait_for(what: str, check: Callable[[], Any], timeout: float, logs: tuple[Path, ...] = ()) -> Any:
    """Poll ``check`` until it returns something truthy; fail with the logs' tails after ``timeout``."""
    deadline = time.monotonic() + timeout
    last_exc: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = check()
            if result:
                return result
        except Exception as exc:  # noqa: BLE001 - retried until the deadline
            last_exc = exc
        time.sleep(0.25)
    tails = "\n".join(f"--- {p.name}:\n{p.read_text(errors='replace')[-3000:]}" for p in logs if p.exists())
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what} (last error: {last_exc!r})\n{tails}")


class Prom:
    """Client of the test's Prometheus HTTP API."""

    def __init__(self, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}"

    def get(self, path: str, **params: str) -> Any:
        url = self.base + path + ("?" + urllib.parse.urlencode(params) if params else "")
        with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310 - loopback only
            body = json.loads(resp.read())
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        return self.get("/api/v1/query", query=expr)["result"]  # type: ignore[no-any-return]

    def value(self, expr: str) -> float | None:
        """The value of a one-element instant vector, None when empty."""
        result = self.query(expr)
        assert len(result) <= 1, result
        return float(result[0]["value"][1]) if result else None

    def alerts(self) -> dict[str, str]:
        """alertname -> state (pending/firing) of the active alerts."""
        return {a["labels"]["alertname"]: a["state"] for a in self.get("/api/v1/alerts")["alerts"]}

    def rules(self) -> list[dict[str, Any]]:
        return [r for g in self.get("/api/v1/rules")["groups"] for r in g["rules"]]


@pytest.fixture
def worker(kafka_bootstrap: str, redis_db_url: str, kafka_admin,  # type: ignore[no-untyped-def]
           tmp_path: Path) -> Iterator[dict[str, Any]]:
    """A supervised worker with its own topics (1 partition), group and Redis DB, serving /metrics."""
    from streams.settings import TOPICS, Settings

    run = f"prom-{uuid.uuid4().hex[:10]}"
    port = listen_port()
    settings = Settings.from_env({}, kafka_bootstrap=kafka_bootstrap, redis_url=redis_db_url,
                                 topic_prefix=f"{run}.", group_id=f"xd-{run}", partitions=1,
                                 metrics_port=port, datadir=str(tmp_path / "faust"), batch_within_s=0.2,
                                 session_timeout_s=6.0)   # the restarted child rejoins in seconds
    env = dict(os.environ, **settings.to_env(), PYTHONUNBUFFERED="1")
    log_path = tmp_path / "worker.log"
    with log_path.open("ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", "streams.worker"], cwd=REPO, env=env, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield {"proc": proc, "port": port, "settings": settings, "log": log_path}
    finally:
        stop_group(proc, grace_s=30)   # the group this test started (supervisor + child)
        with contextlib.suppress(Exception):
            kafka_admin.delete_topics([settings.topic(t) for t in TOPICS], timeout_ms=15000, raise_errors=False)


@pytest.fixture
def prometheus(worker: dict[str, Any], tmp_path: Path) -> Iterator[tuple[Prom, Path]]:
    """Debian's Prometheus scraping the worker every second, with rules.yml (``for:`` cut to 1 s)."""
    binary = shutil.which("prometheus")
    assert binary, "the prometheus binary is missing: run deploy/local/install.sh (apt package prometheus)"
    rules = yaml.safe_load(RULES.read_text())
    for group in rules["groups"]:
        group.pop("interval", None)
        for rule in group["rules"]:
            if "for" in rule:
                rule["for"] = "1s"
    (tmp_path / "rules.yml").write_text(yaml.safe_dump(rules, sort_keys=False))
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(tmp_path / "rules.yml")],
        "scrape_configs": [{"job_name": JOB, "static_configs": [{"targets": [f"127.0.0.1:{worker['port']}"]}]}],
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = listen_port()
    log_path = tmp_path / "prometheus.log"
    with log_path.open("ab") as log:
        proc = subprocess.Popen([binary, f"--config.file={tmp_path / 'prometheus.yml'}",
                                 f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                                 f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
                                stdout=log, stderr=subprocess.STDOUT)
    prom = Prom(port)
    try:
        def ready() -> bool:
            assert proc.poll() is None, f"prometheus exited with {proc.returncode}"
            with urllib.request.urlopen(prom.base + "/-/ready", timeout=2) as resp:  # noqa: S310
                return resp.status == 200
        wait_for("prometheus to be ready", ready, 30, (log_path,))
        yield prom, log_path
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def _children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                stat = (entry / "stat").read_text()
                if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                    out.append(int(entry.name))
    return out


def test_real_prometheus_fires_dead_letter_alerts_and_sees_a_worker_restart(
        worker: dict[str, Any], prometheus: tuple[Prom, Path]) -> None:
    from kafka import KafkaProducer

    prom, prom_log = prometheus
    logs = (worker["log"], prom_log)
    up = f'up{{job="{JOB}"}}'
    wait_for("Prometheus to scrape the worker's /metrics", lambda: prom.value(up) == 1.0, 60, logs)

    settings = worker["settings"]
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap.split(","), linger_ms=5)
    try:
        # One rejection first, so the counter series exists before the flood (rate() needs a sample
        # from before the increase; a series born at N counts as no increase).
        producer.send(settings.topic("input"), b"{not json").get(timeout=30)
        wait_for("two scrapes of xd_rejected_total in Prometheus",
                 lambda: (prom.value("max(count_over_time(xd_rejected_total[1m]))") or 0) >= 2, 60, logs)
        for _ in range(600):
            producer.send(settings.topic("input"), b"{not json")
        producer.flush(timeout=30)
    finally:
        producer.close()
    wait_for("all 601 rejections scraped", lambda: prom.value("sum(xd_rejected_total)") == 601.0, 60, logs)

    def dlq_firing() -> bool:
        alerts = prom.alerts()
        return all(alerts.get(name) == "firing" for name in ("DetectorDeadLetterFlood", "DetectorDeadLetterRateHigh"))
    wait_for("DetectorDeadLetterFlood and DetectorDeadLetterRateHigh firing", dlq_firing, 30, logs)

    rules = prom.rules()
    file_rules = yaml.safe_load(RULES.read_text())
    names = {r.get("alert") or r.get("record") for g in file_rules["groups"] for r in g["rules"]}
    assert {r["name"] for r in rules} == names
    broken = {r["name"]: r.get("lastError") for r in rules if r["health"] != "ok"}
    assert not broken, f"rules that failed to evaluate against the worker's series: {broken}"
    firing = {r["name"] for r in rules if r["type"] == "alerting" and r["state"] == "firing"}
    assert firing == {"DetectorDeadLetterFlood", "DetectorDeadLetterRateHigh"}
    flood = next(a for a in prom.get("/api/v1/alerts")["alerts"]
                 if a["labels"]["alertname"] == "DetectorDeadLetterFlood")
    assert flood["labels"]["severity"] == "critical"
    assert flood["annotations"]["runbook_url"].endswith("docs/runbook.md#detectordeadletterflood")
    assert float(flood["value"]) > 0.99   # every record of the flood was rejected

    # A crash of the Faust child: the supervisor restarts it, and the new process tells Prometheus.
    assert prom.value(f'xd_worker_restarts_total{{job="{JOB}"}}') == 0.0
    children = _children(worker["proc"].pid)
    assert len(children) == 1, children
    os.kill(children[0], signal.SIGKILL)
    wait_for("the restarted worker's xd_worker_restarts_total == 1",
             lambda: prom.value(f'xd_worker_restarts_total{{job="{JOB}"}}') == 1.0, 60, logs)
    assert prom.value(f'xd_worker_last_exit_code{{job="{JOB}"}}') == -9.0
    assert (prom.value(f'increase(xd_worker_restarts_total{{job="{JOB}"}}[5m])') or 0.0) >= 1.0
    assert _children(worker["proc"].pid) not in ([], children)
