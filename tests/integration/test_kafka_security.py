"""Kafka security end to end: a private SASL_SSL broker with ACLs, the worker and the CLI against it.

The module starts its own broker with ``deploy/local/up-secure.sh`` (a temporary
``KAFKA_SECURE_HOME``, free loopback ports: it never touches the shared PLAINTEXT broker) with a
fresh CA, client certificates required (mutual TLS), SCRAM-SHA-512/256 and PLAIN users, and the
``StandardAuthorizer`` denying whatever no ACL allows; it stops it at the end. Redis is the shared
one (``with-services.sh``).

* the worker, as user ``worker`` holding exactly the ACLs of :func:`streams.kafka_acls.grants`
  (topics created by ``admin``), turns fed records into the same alert ids an in-process replay
  gives; ``detector watch`` (``analyst``) prints them; the enforcer (``enforcer``, aiokafka) rebuilds
  from the decisions; the password appears in no log line and not on ``/metrics``;
* a wrong password ends ``detector worker`` and ``detector label`` within 10 s with one line naming
  user, mechanism and server, and exit code 2 -- with the planted password nowhere in the output,
  even at DEBUG with PLAIN (whose login carries the password in the clear);
* a user with a valid login but no ACLs is refused with a clear error, fast.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest

from detector.offline.processes import stop_group
from detector.config import Config
from detector.offline.feed import batches, end_watermark, feed_messages, send_watermark
from detector.offline.kafka_range import live_alerts, read_records
from detector.offline.replay import open_lines, replay_lines
from streams import kafka_acls, kafka_security
from streams.settings import Settings
from streams.topics import ensure_topics
from detector.offline.ports import listen_port
from tests.integration.secure_services import SecureBroker, TlsRedis

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
DETECTOR = str(Path(sys.executable).with_name("detector"))
FAIL_FAST_S = 10.0
PLANTED = "planted-Pa55word-" + uuid.uuid4().hex[:10]   # a wrong password that must never be echoed


@dataclass
class Sim:
    messages: list[bytes]
    watermark: int
    allowlist: list[str]
    alerts: list[dict[str, Any]]


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Sim:
    """A small simulation (2 h, every scenario) and its in-process replay."""
    from detector.offline.simulate import simulate
    from detector.parse import parse_line

    res = simulate(tmp_path_factory.mktemp("sec-sim"), seed=5, scenario="all", hours=2, scale=0.02)
    lines = list(open_lines(res.events_path))
    allow = orjson.loads(Path(res.allowlist_path).read_bytes())["accounts"]
    config = Config().with_allowlist(allow)
    messages = [b"\n".join(b) for b in batches(lines, 100)]
    max_ts = max(parse_line(line).ts_ms for line in lines)  # type: ignore[union-attr]
    replay = replay_lines(messages, config)
    assert replay.alerts, "the simulated campaigns should raise alerts in replay"
    return Sim(messages, end_watermark(max_ts, config), allow, replay.alerts)


def alert_view(alerts: list[dict[str, Any]]) -> dict[str, tuple[Any, ...]]:
    return {a["alert_id"]: (a["kind"], a["subject_id"], tuple(a["api_key_ids"]), a["severity"], a["action"])
            for a in alerts}


def run_cli(args: list[str], env: dict[str, str], timeout: float = 60) -> tuple[int, str, float]:
    """Run a ``detector`` command; (exit code, stdout + stderr, seconds)."""
    t0 = time.monotonic()
    proc = subprocess.run([DETECTOR, *args], env=env, capture_output=True, text=True, timeout=timeout, cwd=REPO)
    return proc.returncode, proc.stdout + proc.stderr, time.monotonic() - t0


def wait_for(cond: Callable[[], bool], timeout: float, what: str, detail: Callable[[], str] = str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}\n{detail()}")


def fresh_env(broker: SecureBroker, user: str, prefix: str, **extra: str) -> dict[str, str]:
    """A subprocess environment: the test's, minus other DETECTOR_KAFKA_* values, plus ``user``'s."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DETECTOR_KAFKA_")}
    env.update(broker.env(user), DETECTOR_TOPIC_PREFIX=prefix, DETECTOR_METRICS_PORT="0", PYTHONUNBUFFERED="1")
    env.update(extra)
    return env


# ------------------------------------------------------------------------------------------ tests


def test_worker_over_sasl_ssl_with_only_its_acls_matches_replay(
        broker: SecureBroker, tls_redis: TlsRedis, sim: Sim, tmp_path: Path) -> None:
    """End to end over SASL_SSL Kafka (SCRAM-SHA-512, client certificates, ACLs enforced) and TLS
    Redis (client certificates, each process its own ACL user): live alerts equal replay's."""
    tag = uuid.uuid4().hex[:8]
    prefix = f"sec-{tag}."
    common = dict(partitions=2, topic_prefix=prefix, group_id=f"xd-sec-{tag}", batch_size=50, batch_within_s=0.2,
                  session_timeout_s=8.0, log_level="INFO", datadir=str(tmp_path / "faust"))
    with contextlib.closing(tls_redis.admin()) as r:
        r.flushall()

    def settings(user: str, redis_role: str, **extra: Any) -> Settings:
        return Settings.from_env({**broker.env(user), **tls_redis.env(redis_role)}, **common, **extra)

    admin = settings("admin", "admin")
    worker = settings("worker", "worker", metrics_port=listen_port())
    assert worker.redis_url.startswith("rediss://") and worker.redis_username == "xd-worker"
    assert broker.password("worker") not in repr(worker) and "worker" in kafka_security.describe(worker)
    ensure_topics(admin)   # the admin makes the topics; the worker may not create any
    for user, role in (("worker", "worker"), ("gateway", "gateway"), ("analyst", "analyst"),
                       ("enforcer", "enforcer")):
        assert kafka_acls.apply(admin, role, f"User:{user}") == len(kafka_acls.grants(admin, role))

    gateway = broker.settings("gateway", **common)
    feed_messages(gateway, gateway.topic("input"), sim.messages)
    send_watermark(gateway, gateway.topic("input"), sim.watermark)

    log_path = tmp_path / "worker.log"
    env = {**fresh_env(broker, "worker", prefix), **worker.to_env(), **worker.secret_env(),
           "DETECTOR_ALLOWLIST_ACCOUNTS": ",".join(sim.allowlist)}
    with log_path.open("wb") as log:
        proc = subprocess.Popen([DETECTOR, "worker"], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO,
                                start_new_session=True)
    try:
        want = alert_view(sim.alerts)

        def done() -> bool:
            assert proc.poll() is None, f"the worker exited with {proc.returncode}:\n{log_path.read_text()[-4000:]}"
            return alert_view(live_alerts(admin, admin.topic("alerts"))) == want
        wait_for(done, 150, "the live alerts to equal replay's",
                 lambda: f"live {sorted(alert_view(live_alerts(admin, admin.topic('alerts'))))}\n"
                         f"replay {sorted(want)}\n{log_path.read_text()[-4000:]}")
        with urllib.request.urlopen(f"http://127.0.0.1:{worker.metrics_port}/metrics", timeout=5) as resp:  # noqa: S310
            metrics = resp.read().decode()
        assert "xd_events_consumed_total" in metrics
    finally:
        stop_group(proc)
    text = log_path.read_text(errors="replace")
    assert "kafka: connected SASL_SSL as 'worker' (SCRAM-SHA-512)" in text   # the check ran, as 'worker'
    assert "Authorization failed" not in text and "AUTHORIZATION_FAILED" not in text
    for secret in (broker.password("worker"), broker.password("admin")):
        assert secret not in text and secret not in metrics

    # the analyst's CLI reads the alerts over SASL_SSL (kafka-python) with its READ ACL only
    rc, out, _ = run_cli(["watch", "--from-beginning", "--idle", "3", "--json"], fresh_env(broker, "analyst", prefix))
    assert rc == 0, out
    assert {orjson.loads(line)["alert_id"] for line in out.splitlines() if line.startswith("{")} == set(want)

    # the enforcer (aiokafka consumer + admin) rebuilds from every decision with its READ ACL only
    decisions = list(read_records(admin, admin.topic("decisions")))
    assert decisions

    async def enforce() -> float:
        from detector.outputs.enforcer import DECISIONS_APPLIED, Enforcer

        def total() -> float:
            return sum(s.value for m in DECISIONS_APPLIED.collect() for s in m.samples if s.name.endswith("_total"))
        before = total()
        enf = Enforcer(settings("enforcer", "enforce", enforcer_port=0))
        await enf.start()
        try:
            await asyncio.wait_for(enf.ready.wait(), 60)
        finally:
            await enf.stop()
        return total() - before
    assert asyncio.run(enforce()) == len(decisions)


@pytest.mark.parametrize("command", [["worker"], ["label", "--key", "key_1", "--verdict", "confirmed"]],
                         ids=["worker", "label"])
def test_wrong_password_fails_fast_and_says_what_was_refused(
        broker: SecureBroker, redis_url: str, command: list[str]) -> None:
    prefix = f"sec-bad-{uuid.uuid4().hex[:8]}."
    env = fresh_env(broker, "worker", prefix, DETECTOR_KAFKA_SASL_PASSWORD=PLANTED, DETECTOR_REDIS_URL=redis_url)
    del env["DETECTOR_KAFKA_SASL_PASSWORD_FILE"]
    rc, out, seconds = run_cli(command, env)
    assert rc == 2, out
    assert seconds < FAIL_FAST_S, f"took {seconds:.1f} s:\n{out}"
    assert f"Kafka refused SASL authentication for user 'worker' (SCRAM-SHA-512) at {broker.bootstrap}" in out
    assert "Traceback" not in out
    assert PLANTED not in out and PLANTED[:12] not in out


def test_planted_password_is_masked_even_in_debug_logs_of_a_plain_login(
        broker: SecureBroker, redis_url: str) -> None:
    """PLAIN sends ``\\0user\\0password``; the client libraries log request payloads at DEBUG."""
    env = fresh_env(broker, "worker", f"sec-dbg-{uuid.uuid4().hex[:8]}.", DETECTOR_KAFKA_SASL_MECHANISM="PLAIN",
                    DETECTOR_KAFKA_SASL_PASSWORD=PLANTED, DETECTOR_LOG_LEVEL="DEBUG", DETECTOR_REDIS_URL=redis_url)
    del env["DETECTOR_KAFKA_SASL_PASSWORD_FILE"]
    rc, out, seconds = run_cli(["worker"], env)
    assert rc == 2 and seconds < FAIL_FAST_S, out
    assert f"Kafka refused SASL authentication for user 'worker' (PLAIN) at {broker.bootstrap}" in out
    assert "SaslAuthenticateRequest" in out and "\\x00***" in out   # aiokafka logged the login payload ...
    assert PLANTED not in out                                        # ... with the password masked
    # the same holds for the exception text and the settings' repr
    settings = broker.settings("worker", kafka_sasl_password=PLANTED)
    with pytest.raises(kafka_security.KafkaAuthenticationError) as err:
        kafka_security.check(settings)
    assert PLANTED not in str(err.value) and PLANTED not in repr(err.value) and PLANTED not in repr(settings)


def test_valid_login_without_acls_is_refused_fast(broker: SecureBroker, redis_url: str) -> None:
    prefix = f"sec-noacl-{uuid.uuid4().hex[:8]}."
    ensure_topics(broker.settings("admin", topic_prefix=prefix, partitions=1))
    env = fresh_env(broker, "outsider", prefix, DETECTOR_REDIS_URL=redis_url, DETECTOR_PARTITIONS="1")
    rc, out, seconds = run_cli(["worker"], env)
    assert rc == 2 and seconds < FAIL_FAST_S, out
    assert f"Kafka at {broker.bootstrap} denied user 'outsider' CREATE on topics {prefix}" in out, out
    rc, out, seconds = run_cli(["watch", "--from-beginning", "--idle", "1"], env)
    assert rc == 2 and seconds < FAIL_FAST_S, out
    assert f"Kafka at {broker.bootstrap} denied user 'outsider' access to topic {prefix}extraction-alerts" in out, out
