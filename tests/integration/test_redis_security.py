"""Redis over TLS as the minimal ACL users of docs/security.md; wrong passwords; bearer tokens of real servers.

A second redis-server is started by ``deploy/local/redis-tls.sh`` in a temporary directory on a free
loopback port (TLS only, client certificates required, default user off, one ACL user per process;
certificates and passwords made at start). The shared local Redis is never touched; Kafka is the shared
local broker (fresh topics per test).

* The live stages (``streams/runner.py`` + ``RedisStore``) make exactly replay's alerts and decisions
  through TLS as ``xd-worker``, across a ``SCRIPT FLUSH`` (the store reloads its Lua scripts).
* A real supervised worker, the real enforcer and the real notifier run against it as their users,
  with a bearer token on their HTTP endpoints (401 without it or with a wrong one, 200 with it,
  ``/healthz`` open with its status only).
* After each run, Redis's ACL LOG holds no refusal: the ACL is enough. Commands and keys outside
  each user's ACL are refused, and so are clients without a certificate or password.
* A wrong password stops ``detector worker|notify|enforce`` within 10 s with exit code 2 and a
  message naming the server, the user and the refusal; the planted password appears in no output,
  log or exception text.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
import redis

from detector.offline.processes import stop_group
from detector.config import Config
from detector.offline.feed import batches, end_watermark
from detector.offline.replay import open_lines, replay_lines
from detector.stages.ingest import watermark_message
from streams.redis_conn import RedisAccessError, RedisUnreachable, check_redis_sync, redis_client
from streams.redis_store import SCORER_KEY, RedisStore, meta_key
from streams.settings import TOPICS
from detector.offline.ports import listen_port
from tests.integration.secure_services import TlsRedis
from tests.integration.test_streams import P, Live, alert_view, feed

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
USERS = {"worker": "xd-worker", "notify": "xd-notify", "enforce": "xd-enforce"}
TOKEN = "tok-" + uuid.uuid4().hex
PLANTED = "planted-" + uuid.uuid4().hex   # a wrong password that must never be echoed


@pytest.fixture
def admin(tls_redis: TlsRedis) -> Iterator[redis.Redis]:
    """The TLS server's admin, on an empty DB with an empty ACL LOG."""
    client = tls_redis.admin()
    client.flushall()
    client.acl_log_reset()
    yield client
    client.close()


def refusals(admin: redis.Redis) -> list[tuple[str, str, str]]:
    """(user, reason, object) of every ACL LOG entry."""
    return [(str(e["username"]), str(e["reason"]), str(e["object"])) for e in admin.acl_log()]


def http_get(port: int, path: str, token: str | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}")
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=5) as resp:  # noqa: S310 - loopback only
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def assert_token_enforced(port: int, path: str) -> bytes:
    """No header and a wrong token: 401; the right token: 200. Returns the 200 body."""
    assert http_get(port, path)[0] == 401
    assert http_get(port, path, "wrong-" + TOKEN)[0] == 401
    status, body = http_get(port, path, TOKEN)
    assert status == 200, body
    return body


def wait_for(what: str, check: Callable[[], Any], timeout_s: float, log: Path | None = None) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, redis.RedisError):
            result = check()
            if result:
                return result
        time.sleep(0.1)
    tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
    pytest.fail(f"timed out after {timeout_s:.0f} s waiting for {what}\n{tail}")


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Two hours of mixed traffic (the simulation of test_streams), as 100-record messages."""
    from detector.offline.simulate import simulate
    from detector.parse import parse_line

    res = simulate(tmp_path_factory.mktemp("sim"), seed=11, scenario="all", hours=2, scale=0.04)
    lines = list(open_lines(res.events_path))
    messages = [b"\n".join(b) for b in batches(lines, 100)]
    max_ts = max(parse_line(line).ts_ms for line in lines)  # type: ignore[union-attr]
    config = Config().with_allowlist(orjson.loads(Path(res.allowlist_path).read_bytes())["accounts"])
    return {"lines": lines, "messages": messages, "max_ts": max_ts, "config": config,
            "replay": replay_lines(messages, config)}


# ------------------------------------------------------------------ the worker's stages as xd-worker


def test_live_stages_equal_replay_over_tls_as_the_worker_user(tls_redis: TlsRedis, admin: redis.Redis,
                                                              sim: dict[str, Any]) -> None:
    settings = tls_redis.settings("worker")
    assert settings.redis_url.startswith("rediss://") and settings.redis_username == "xd-worker"
    messages = sim["messages"] + [watermark_message(end_watermark(sim["max_ts"], sim["config"]))]
    half = len(messages) // 2

    async def body() -> Live:
        store = RedisStore.from_settings(settings)
        try:
            live = Live(store, sim["config"])
            feed(live, messages[:half], batch=7)
            await live.drain()
            admin.script_flush()   # as after a Redis restart: the store must SCRIPT LOAD again
            feed(live, messages[half:], batch=7, start_offset=half)
            await live.drain()
            # a fresh runner (another worker after a rebalance) loads everything back
            restarted = live.new_windows()
            for p in range(P):
                mem = await restarted.io.load(p)
                assert mem.offset == live.windows.memory[p].offset
            # the delete branch of the partition script (idle keys dropped): DEL + SREM inside Lua
            stored = await store.load_partition(0)
            gone = sorted(stored.blobs)[0]
            assert await store.save_partition(0, stored.offset + 1, ttl_s=60, fields={}, set_blobs={},
                                              del_ids=[gone])
            assert gone not in (await store.load_partition(0)).blobs
            return live
        finally:
            await store.close()

    live = asyncio.run(body())
    replay = sim["replay"]
    assert replay.alerts
    assert alert_view(live.alerts) == alert_view(replay.alerts)
    assert live.decisions == replay.decisions
    assert admin.exists(SCORER_KEY, *(meta_key(p) for p in range(P))) == 1 + P
    assert int(admin.info("commandstats")["cmdstat_script|load"]["calls"]) >= 2
    assert refusals(admin) == []


def test_commands_and_keys_outside_each_acl_are_refused(tls_redis: TlsRedis, admin: redis.Redis) -> None:
    admin.set("xd:enf:key:k1", b"{}")
    admin.hset(SCORER_KEY, "offset", 1)
    clients = {role: redis_client(tls_redis.settings(role), sync=True) for role in USERS}
    try:
        for role, client in clients.items():
            assert client.ping()
            for command in (("FLUSHALL",), ("KEYS", "*"), ("CONFIG", "GET", "dir"), ("PUBLISH", "c", "m"),
                            ("ACL", "LIST"), ("EVAL", "return 1", "0")):
                with pytest.raises(redis.exceptions.NoPermissionError, match="no permissions"):
                    client.execute_command(*command)
        # each user's own commands on another process's keys
        with pytest.raises(redis.exceptions.NoPermissionError, match="no permissions to access one of the keys"):
            clients["worker"].mget(["xd:enf:key:k1"])
        with pytest.raises(redis.exceptions.NoPermissionError, match="no permissions to access one of the keys"):
            clients["enforce"].get(SCORER_KEY)
        with pytest.raises(redis.exceptions.NoPermissionError, match="no permissions to access one of the keys"):
            clients["notify"].set("xd:enf:key:k1", b"{}")
        with pytest.raises(redis.exceptions.NoPermissionError, match="'hset' command"):
            clients["enforce"].hset("xd:enf:x", "a", 1)
        with pytest.raises(redis.exceptions.NoPermissionError, match="'del' command"):
            clients["notify"].delete("xd:notify:x")
    finally:
        for client in clients.values():
            client.close()
    assert admin.get("xd:enf:key:k1") == b"{}"
    users = {u for u, _, _ in refusals(admin)}
    assert users == set(USERS.values())


def test_clients_without_certificate_or_login_are_refused(tls_redis: TlsRedis) -> None:
    worker = tls_redis.settings("worker")
    no_cert = replace(worker, redis_cert_file="", redis_key_file="")
    with pytest.raises(RedisUnreachable, match="cannot reach Redis at rediss://127.0.0.1"):
        check_redis_sync(no_cert)
    plain = replace(no_cert, redis_url=worker.redis_url.replace("rediss://", "redis://"), redis_ca_file="")
    with pytest.raises(RedisUnreachable):
        check_redis_sync(plain)
    anonymous = replace(worker, redis_username="", redis_password="", redis_password_file="")
    with pytest.raises(RedisAccessError, match="as user 'default' refused the login"):
        check_redis_sync(anonymous)
    check_redis_sync(worker)   # the same settings with their certificate and login pass


# ------------------------------------------------------------------ wrong password: fail fast, say why, hide it


def test_wrong_password_stops_every_service_within_10s_without_echoing_it(tls_redis: TlsRedis,
                                                                          tmp_path: Path) -> None:
    wrong = tmp_path / "wrong.pass"
    wrong.write_text(PLANTED + "\n")
    procs = {}
    started = time.monotonic()
    for command, role in (("worker", "worker"), ("notify", "notify"), ("enforce", "enforce")):
        env = {**os.environ, **tls_redis.env(role), "DETECTOR_REDIS_PASSWORD_FILE": str(wrong),
               "DETECTOR_KAFKA_BOOTSTRAP": "127.0.0.1:9", "SLACK_WEBHOOK_URL": "http://127.0.0.1:9/hook",
               "DETECTOR_METRICS_PORT": "0", "DETECTOR_ENFORCER_PORT": "0", "PYTHONUNBUFFERED": "1"}
        procs[command] = subprocess.Popen([sys.executable, "-m", "detector.cli", command], cwd=REPO, env=env,
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for command, proc in procs.items():
        out, err = proc.communicate(timeout=30)
        elapsed = time.monotonic() - started
        assert proc.returncode == 2, (command, out, err)
        assert elapsed < 10, f"`detector {command}` took {elapsed:.1f}s to give up"
        user = USERS[command]
        assert f"Redis at rediss://127.0.0.1:{tls_redis.port}/0 as user '{user}' refused the login" in err
        assert "invalid username-password pair" in err and "Traceback" not in err
        assert PLANTED not in out + err


def test_wrong_password_is_not_retried_by_the_store_nor_logged(tls_redis: TlsRedis,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    settings = replace(tls_redis.settings("worker"), redis_password=PLANTED, redis_password_file="")
    in_url = replace(settings, redis_username="", redis_password="",
                     redis_url=settings.redis_url.replace("rediss://", f"rediss://xd-worker:{PLANTED}@"))

    async def body() -> None:
        store = RedisStore.from_settings(settings)
        try:
            with pytest.raises(redis.exceptions.AuthenticationError) as err:
                await asyncio.wait_for(store.partition_offset(0), 10)
            assert PLANTED not in repr(err.value) + str(err.value)
        finally:
            await store.close()

    asyncio.run(body())
    for s in (settings, in_url):
        with pytest.raises(RedisAccessError) as err:
            check_redis_sync(s)
        text = str(err.value)
        assert "refused the login" in text and PLANTED not in text and err.value.__cause__ is None
    assert "rediss://xd-worker:***@127.0.0.1" in text
    assert PLANTED not in repr(settings) + repr(in_url).replace(in_url.redis_url, "")
    assert PLANTED not in caplog.text + "".join(repr(r.args) for r in caplog.records)


# ------------------------------------------------------------------ the real services over TLS, with tokens


def test_worker_process_over_tls_as_acl_user_with_token(tls_redis: TlsRedis, admin: redis.Redis, sim: dict[str, Any],
                                                       kafka_bootstrap: str, kafka_admin: Any, tmp_path: Path) -> None:
    from detector.offline.feed import feed_lines, send_watermark
    from streams.topics import ensure_topics

    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    run = f"xdsec-{uuid.uuid4().hex[:8]}"
    port = listen_port()
    settings = tls_redis.settings("worker", kafka_bootstrap=kafka_bootstrap, topic_prefix=f"{run}.",
                                  group_id=run, partitions=1, metrics_port=port, datadir=str(tmp_path / "faust"),
                                  batch_within_s=0.2, session_timeout_s=6.0, http_token_file=str(token_file))
    ensure_topics(settings)
    env = dict(os.environ, **settings.to_env(), **settings.secret_env(), PYTHONUNBUFFERED="1")
    log = tmp_path / "worker.log"
    with log.open("ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "streams.worker"], cwd=REPO, env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        lines = sim["lines"][:1500]
        stats = feed_lines(kafka_bootstrap, settings.topic("input"), lines, 100)
        send_watermark(kafka_bootstrap, settings.topic("input"), end_watermark(stats.max_ts_ms, sim["config"]))
        consumed = f"xd_events_consumed_total {float(len(lines))}"
        wait_for("every record ingested and the windows and scorer checkpoints in the TLS Redis",
                 lambda: consumed in http_get(port, "/metrics", TOKEN)[1].decode()
                 and admin.hget(meta_key(0), "offset") is not None and admin.hget(SCORER_KEY, "offset"),
                 90, log)
        assert consumed in assert_token_enforced(port, "/metrics").decode()
        status, body = http_get(port, "/healthz")          # open to probes: status only
        assert status == 200 and orjson.loads(body) == {"status": "ok"}
        status, body = http_get(port, "/healthz", TOKEN)   # with the token: the detail too
        assert status == 200 and "last_batch_age_s" in orjson.loads(body)["detail"]
        assert orjson.loads(body)["detail"]["compiled_kernels"] is True
        assert http_get(port, "/nowhere")[0] == 401        # no route is revealed without the token
        assert refusals(admin) == []
    finally:
        stop_group(proc, grace_s=30)
        with contextlib.suppress(Exception):
            kafka_admin.delete_topics([settings.topic(t) for t in TOPICS], timeout_ms=15000, raise_errors=False)
    assert TOKEN not in log.read_text(errors="replace")


def test_enforcer_over_tls_as_acl_user_with_token(tls_redis: TlsRedis, admin: redis.Redis, kafka_bootstrap: str,
                                                  make_topic: Callable[..., str]) -> None:
    from aiokafka import AIOKafkaProducer

    from detector.outputs.enforcer import Enforcer
    from tests.integration.test_enforcer import decision

    topic = make_topic(partitions=1, prefix="decisions", config={"cleanup.policy": "compact"})
    settings = tls_redis.settings("enforce", kafka_bootstrap=kafka_bootstrap, decisions_topic=topic,
                                  enforcer_port=0, http_token=TOKEN)
    admin.set("xd:enf:key:stale", b"{}")   # a leftover the rebuild must delete (SCAN + DEL)

    async def body() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
        await producer.start()
        enf = Enforcer(settings)
        try:
            await producer.send_and_wait(topic, decision("key:k1", ["k1"]), key=b"key:k1")
            await enf.start()
            await asyncio.wait_for(enf.ready.wait(), 30)
            base = f"http://127.0.0.1:{enf.port}"
            async with aiohttp.ClientSession() as http:
                auth = {"Authorization": f"Bearer {TOKEN}"}
                for path in ("/v1/decisions/k1", "/metrics"):
                    async with http.get(base + path) as r:
                        assert r.status == 401 and r.headers["WWW-Authenticate"].startswith("Bearer")
                    async with http.get(base + path, headers={"Authorization": "Bearer nope"}) as r:
                        assert r.status == 401
                async with http.get(base + "/v1/decisions/k1", headers=auth) as r:
                    assert r.status == 200 and (await r.json())["action"] == "block"
                async with http.get(base + "/metrics", headers=auth) as r:
                    assert r.status == 200 and "extdet_decisions_active" in await r.text()
                async with http.get(base + "/healthz") as r:
                    assert r.status == 200 and await r.json() == {"status": "ok"}
                async with http.get(base + "/healthz", headers=auth) as r:
                    assert (await r.json())["decisions"] == 1
                await producer.send_and_wait(topic, None, key=b"key:k1")   # lifted: DEL
                deadline = time.monotonic() + 10
                while admin.exists("xd:enf:key:k1"):
                    assert time.monotonic() < deadline, "the lift did not reach Redis"
                    await asyncio.sleep(0.05)
        finally:
            await enf.stop()
            await producer.stop()

    asyncio.run(body())
    assert admin.keys("xd:enf:*") == []
    assert refusals(admin) == []


def test_notifier_over_tls_as_acl_user_with_token(tls_redis: TlsRedis, admin: redis.Redis, kafka_bootstrap: str,
                                                  make_topic: Callable[..., str]) -> None:
    from tests.integration.test_notifier import _all_committed, _produce, _wait_for, fake_slack, running
    from tests.unit.test_slack import make_alert

    topic, group = make_topic(partitions=1, prefix="alerts"), f"xdsec-notify-{uuid.uuid4().hex[:8]}"
    port = listen_port()
    alerts = [make_alert(1, severity="high"), make_alert(2, severity="critical"), make_alert(1, severity="high")]

    async def body() -> int:
        async with fake_slack() as slack:
            settings = tls_redis.settings("notify", kafka_bootstrap=kafka_bootstrap, alerts_topic=topic,
                                          notify_group=group, notify_offset_reset="earliest", notify_gather_s=0.3,
                                          notify_rate_per_s=50.0, notify_metrics_port=port, http_token=TOKEN,
                                          slack_webhook_url=slack.url)
            async with running(settings) as task:
                await _produce(kafka_bootstrap, topic, alerts)
                await _wait_for(lambda: _all_committed(kafka_bootstrap, group, topic, 1, len(alerts)), 60, task)
                body = await asyncio.to_thread(assert_token_enforced, port, "/metrics")
                assert b"extdet_notify_alerts_total" in body
            return len(slack.received)

    assert asyncio.run(body()) == 2   # the repeated alert is a duplicate (EXISTS on its seen key)
    assert len(admin.keys("xd:notify:seen:*")) == 2 and len(admin.keys("xd:notify:cool:*")) == 2
    assert refusals(admin) == []
