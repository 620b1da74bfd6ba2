"""Bearer tokens on every HTTP endpoint (worker, notifier, enforcer), on real loopback ports.

With a token configured: no ``Authorization`` header, another scheme or a wrong token -> 401 (with
``WWW-Authenticate: Bearer``), the right token -> 200. ``/healthz`` stays open for the kubelet and
shows its detail only with the token. Without a token, everything answers as before. The token
comes from ``DETECTOR_HTTP_TOKEN_FILE`` and never shows in ``repr``, ``to_env`` or a response.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from streams.http_auth import start_metrics_server, token_matches
from streams.settings import Settings

TOKEN = "s3cr3t-token-0123456789abcdef"


async def fetch(port: int, path: str, header: str | None = None) -> tuple[int, dict[str, str], str]:
    headers = {} if header is None else {"Authorization": header}
    async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}{path}", headers=headers) as r:
        return r.status, dict(r.headers), await r.text()


async def assert_guarded(port: int, path: str) -> str:
    """401 without the header, with a wrong token or another scheme; 200 with the token."""
    status, headers, body = await fetch(port, path)
    assert (status, headers.get("WWW-Authenticate")) == (401, 'Bearer realm="extraction-detector"')
    assert TOKEN not in body
    for wrong in (f"Bearer {TOKEN}x", "Bearer ", f"Basic {TOKEN}", TOKEN, f"Bearer {TOKEN[:-1]}"):
        assert (await fetch(port, path, wrong))[0] == 401, wrong
    status, _, body = await fetch(port, path, f"Bearer {TOKEN}")
    assert status == 200
    return body


def serve(token: str, health: Callable[[], tuple[bool, Any]] | None,
          body: Callable[[int], Awaitable[None]]) -> None:
    async def main() -> None:
        runner = await start_metrics_server("127.0.0.1", 0, token=token, health=health)
        try:
            await body(runner.addresses[0][1])
        finally:
            await runner.cleanup()

    asyncio.run(main())


def test_token_matches_only_the_exact_bearer_token() -> None:
    assert token_matches(f"Bearer {TOKEN}", TOKEN) and token_matches(f"bearer  {TOKEN} ", TOKEN)
    for header in (None, "", f"Basic {TOKEN}", f"Bearer {TOKEN}0", f"Bearer{TOKEN}", "Bearer"):
        assert not token_matches(header, TOKEN)
    assert not token_matches(f"Bearer {TOKEN}", "")   # no token configured: nothing matches


@pytest.mark.parametrize("ok", [True, False])
def test_worker_metrics_and_healthz_with_a_token(ok: bool) -> None:
    from streams import metrics

    async def body(port: int) -> None:
        metrics.EVENTS.inc(0)
        assert "xd_events_consumed_total" in await assert_guarded(port, "/metrics")
        status, _, text = await fetch(port, "/healthz")          # a probe: no token, status only
        assert status == (200 if ok else 503) and "detail" not in text and "redis" not in text
        status, _, text = await fetch(port, "/healthz", "Bearer wrong")
        assert status == (200 if ok else 503) and "detail" not in text
        status, _, text = await fetch(port, "/healthz", f"Bearer {TOKEN}")
        assert status == (200 if ok else 503) and '"failing_s": {"redis": 61' in text
        assert (await fetch(port, "/nowhere"))[0] == 401           # routes are not revealed either
        assert (await fetch(port, "/nowhere", f"Bearer {TOKEN}"))[0] == 404

    async def main() -> None:
        runner: Any = await metrics.start_http("127.0.0.1", 0, lambda: (ok, {"failing_s": {"redis": 61.0}}),
                                               token=TOKEN)
        try:
            await body(runner.addresses[0][1])
        finally:
            await runner.cleanup()

    asyncio.run(main())


def test_metrics_without_a_token_answer_everyone() -> None:
    async def body(port: int) -> None:
        for header in (None, "Bearer anything"):
            status, _, text = await fetch(port, "/metrics", header)
            assert status == 200 and "# HELP" in text
            status, _, text = await fetch(port, "/healthz", header)
            assert status == 200 and '"detail": {"x": 1}' in text

    serve("", lambda: (True, {"x": 1}), body)


def test_notifier_metrics_server_with_a_token() -> None:
    async def body(port: int) -> None:
        await assert_guarded(port, "/metrics")

    serve(TOKEN, None, body)


class FakeRedis:
    """Stands in for the enforcer's Redis client (no server in unit tests)."""

    async def get(self, key: str) -> bytes | None:
        return b'{"action": "block", "rate_limit_rpm": 0, "expires_at": "x", "subject": "key:k1"}' \
            if key.endswith("key:k1") else None

    async def ping(self) -> bool:
        return True

    async def aclose(self) -> None:
        return None


def enforcer_http(token: str, body: Callable[[int], Awaitable[None]], *, ready: bool = True) -> None:
    from aiohttp import web

    from detector.outputs.enforcer import Enforcer

    async def main() -> None:
        enf = Enforcer(Settings(enforcer_port=0, http_token=token))
        enf._redis = FakeRedis()  # noqa: SLF001 - the HTTP layer alone
        if ready:
            enf.ready.set()
        runner = web.AppRunner(enf.app(), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        try:
            await body(runner.addresses[0][1])
        finally:
            await runner.cleanup()

    asyncio.run(main())


def test_enforcer_api_and_metrics_with_a_token() -> None:
    async def body(port: int) -> None:
        assert '"action":"block"' in await assert_guarded(port, "/v1/decisions/k1")
        assert '"action":"allow"' in await assert_guarded(port, "/v1/decisions/k2")
        assert "# HELP" in await assert_guarded(port, "/metrics")
        status, _, text = await fetch(port, "/healthz")
        assert status == 200 and text == '{"status": "ok"}'
        status, _, text = await fetch(port, "/healthz", f"Bearer {TOKEN}")
        assert status == 200 and '"decisions": 0' in text

    enforcer_http(TOKEN, body)


def test_enforcer_healthz_stays_a_readiness_probe_with_a_token() -> None:
    async def body(port: int) -> None:
        status, _, text = await fetch(port, "/healthz")
        assert status == 503 and text == '{"status": "rebuilding"}'

    enforcer_http(TOKEN, body, ready=False)


def test_enforcer_without_a_token_answers_everyone() -> None:
    async def body(port: int) -> None:
        status, _, text = await fetch(port, "/v1/decisions/k1")
        assert status == 200 and '"action":"block"' in text
        assert (await fetch(port, "/metrics"))[0] == 200
        status, _, text = await fetch(port, "/healthz")
        assert status == 200 and '"keys": 0' in text

    enforcer_http("", body)


def test_token_from_file_is_a_secret(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text(f"  {TOKEN}\n")
    s = Settings.from_env({"DETECTOR_HTTP_TOKEN_FILE": str(path)})
    assert s.http_token == TOKEN and s.http_token_file == str(path)
    assert TOKEN not in repr(s) and TOKEN not in "".join(s.to_env().values())
    assert s.to_env()["DETECTOR_HTTP_TOKEN_FILE"] == str(path)            # a child reads the same file
    assert s.secret_env()["DETECTOR_HTTP_TOKEN"] == ""
    assert Settings.from_env(s.to_env()).http_token == TOKEN
    assert Settings.from_env({}).http_token == ""                          # no token: endpoints open


@pytest.mark.parametrize(("content", "message"), [("", "is empty"), (" \n", "is empty"), (None, "cannot read")])
def test_a_configured_token_file_must_hold_a_token(tmp_path: Path, content: str | None, message: str) -> None:
    path = tmp_path / "token"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ValueError, match=f"DETECTOR_HTTP_TOKEN_FILE: .*{message}"):
        Settings.from_env({"DETECTOR_HTTP_TOKEN_FILE": str(path)})


def test_token_in_both_places_is_refused_without_echoing_it(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text(TOKEN)
    with pytest.raises(ValueError, match="set only one of DETECTOR_HTTP_TOKEN or DETECTOR_HTTP_TOKEN_FILE") as err:
        Settings.from_env({"DETECTOR_HTTP_TOKEN_FILE": str(path), "DETECTOR_HTTP_TOKEN": TOKEN})
    assert TOKEN not in str(err.value)


# ------------------------------------------------------------------ deploy/k8s wiring


def secret_file_source(deployment: dict[str, Any], container: dict[str, Any], path: str) -> tuple[str, str]:
    """(Secret name, key) that the file ``path`` of ``container`` is mounted from."""
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    for mount in container.get("volumeMounts", []):
        prefix = mount["mountPath"].rstrip("/") + "/"
        if path.startswith(prefix) and "secret" in volumes[mount["name"]]:
            secret = volumes[mount["name"]]["secret"]
            relative = path[len(prefix):]
            for item in secret.get("items", []):
                if item["path"] == relative:
                    return secret["secretName"], item["key"]
            return secret["secretName"], relative
    raise AssertionError(f"{path} is not mounted from a Secret")


def k8s_objects() -> list[dict[str, Any]]:
    import yaml

    root = Path(__file__).resolve().parents[2] / "deploy" / "k8s"
    return [d for p in sorted([*root.glob("*.yaml"), *root.glob("*/*.yaml")]) for d in yaml.safe_load_all(p.read_text())
            if d]


def test_k8s_pods_mount_the_token_and_prometheus_sends_it() -> None:
    objs = k8s_objects()
    secret = next(o for o in objs if o["kind"] == "Secret")
    assert "http-token" in secret["stringData"]
    ports: set[str] = set()
    for d in (o for o in objs if o["kind"] == "Deployment"):
        (c,) = d["spec"]["template"]["spec"]["containers"]
        env = {e["name"]: e.get("value") for e in c["env"]}
        assert secret_file_source(d, c, env["DETECTOR_HTTP_TOKEN_FILE"]) == ("detector-secrets", "http-token")
        for probe in ("readinessProbe", "livenessProbe"):   # probes send no token: /healthz stays open
            assert c.get(probe, {}).get("httpGet", {}).get("path", "/healthz") == "/healthz"
        annotations = d["spec"]["template"]["metadata"]["annotations"]
        ports |= {p["name"] for p in c["ports"] if str(p["containerPort"]) == annotations["prometheus.io/port"]}
    (monitor,) = [o for o in objs if o["kind"] == "PodMonitor"]
    assert {e["port"] for e in monitor["spec"]["podMetricsEndpoints"]} == ports == {"metrics", "http"}
    for endpoint in monitor["spec"]["podMetricsEndpoints"]:
        assert endpoint["authorization"] == {"type": "Bearer",
                                             "credentials": {"name": "detector-secrets", "key": "http-token"}}
