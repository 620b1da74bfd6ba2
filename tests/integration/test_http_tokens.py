"""A real Prometheus scrapes a token-protected ``/metrics`` with the job of ``deploy/prometheus/scrape.yml``.

Debian's ``prometheus`` runs on a loopback port with three static jobs against one detector metrics
server (:func:`streams.http_auth.start_metrics_server`, the worker's and notifier's server) that has
a bearer token: the ``authorization`` block of ``deploy/prometheus/scrape.yml`` with the right token
file (``up`` = 1), the same with a wrong token (``up`` = 0, HTTP 401), and no authorization (``up``
= 0). The Kubernetes service discovery of that job is not exercised (Debian builds Prometheus without
it); the token handling is.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from streams.http_auth import start_metrics_server
from detector.offline.ports import listen_port

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
TOKEN = "prom-token-5b1d0c7e9a"


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=3) as resp:  # noqa: S310 - loopback only
        return json.loads(resp.read())


def test_prometheus_scrapes_with_the_token_file_and_is_refused_without(tmp_path: Path) -> None:
    binary = shutil.which("prometheus")
    assert binary, "the prometheus binary is missing: run deploy/local/install.sh (apt package prometheus)"
    (job,) = yaml.safe_load((REPO / "deploy/prometheus/scrape.yml").read_text())["scrape_configs"]
    assert job["authorization"]["type"] == "Bearer" and job["authorization"]["credentials_file"]
    (tmp_path / "right").write_text(TOKEN + "\n")
    (tmp_path / "wrong").write_text("not-" + TOKEN + "\n")

    async def main() -> dict[str, tuple[float, str]]:
        server = await start_metrics_server("127.0.0.1", 0, token=TOKEN)
        target = f"127.0.0.1:{server.addresses[0][1]}"

        def scrape_job(name: str, token_file: str | None) -> dict[str, Any]:
            out: dict[str, Any] = {"job_name": name, "static_configs": [{"targets": [target]}]}
            if token_file:
                out["authorization"] = {**job["authorization"], "credentials_file": str(tmp_path / token_file)}
            return out

        config = {"global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
                  "scrape_configs": [scrape_job("right", "right"), scrape_job("wrong", "wrong"),
                                     scrape_job("none", None)]}
        (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
        port = listen_port()
        log = (tmp_path / "prometheus.log").open("ab")
        proc = subprocess.Popen([binary, f"--config.file={tmp_path / 'prometheus.yml'}",
                                 f"--storage.tsdb.path={tmp_path / 'tsdb'}", f"--web.listen-address=127.0.0.1:{port}",
                                 "--log.level=warn"], stdout=log, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                assert proc.poll() is None, (tmp_path / "prometheus.log").read_text()
                try:
                    targets = (await asyncio.to_thread(_get, base + "/api/v1/targets"))["data"]["activeTargets"]
                except OSError:
                    targets = []
                seen = {t["labels"]["job"]: (t["health"], t["lastError"]) for t in targets}
                if len(seen) == 3 and all(h != "unknown" for h, _ in seen.values()):
                    break
                assert time.monotonic() < deadline, f"targets not scraped within 60 s: {seen}"
                await asyncio.sleep(0.25)
            query = base + "/api/v1/query?" + urllib.parse.urlencode({"query": "up"})
            ups = {r["metric"]["job"]: float(r["value"][1])
                   for r in (await asyncio.to_thread(_get, query))["data"]["result"]}
            return {name: (ups[name], error) for name, (_, error) in seen.items()}
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
            log.close()
            await server.cleanup()

    result = asyncio.run(main())
    assert result["right"] == (1.0, "")
    for job_name in ("wrong", "none"):
        up, error = result[job_name]
        assert up == 0.0 and "401" in error, (job_name, error)
