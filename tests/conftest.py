"""Fixtures for tests that need the real local Kafka broker and Redis.

The services come from ``deploy/local`` (``make test`` runs ``deploy/local/with-services.sh``, which starts
them and exports ``DETECTOR_KAFKA_BOOTSTRAP`` and ``DETECTOR_REDIS_URL``). Without those variables the
tests here FAIL rather than skip: a skipped integration suite must never look green.

Fixtures:
    kafka_bootstrap   "host:port" of the broker (session)
    redis_url         ``redis://`` URL of DB 0 (session)
    kafka_admin       a kafka-python ``KafkaAdminClient`` (session)
    make_topic        ``make_topic(partitions=4, prefix="t", config=None) -> name``: a fresh, uniquely
                      named topic, deleted at teardown
    redis_db          a Redis DB number leased to this test alone (safe across concurrent runs),
                      flushed before and after
    redis_db_url      ``redis://`` URL of that DB
    redis_client      a ``redis.Redis`` on that DB (``decode_responses=True``)
    service_ctl       ``service_ctl("restart", "redis")``: runs ``deploy/local/ctl.sh`` for fault tests
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
CTL = REPO_ROOT / "deploy" / "local" / "ctl.sh"
RUN_HINT = (
    "run the suite via `make test` (or `bash deploy/local/with-services.sh .venv/bin/pytest ...`), "
    "which starts the local Kafka and Redis and exports it; or `make up` then `source deploy/local/env.sh`"
)


def _required_env(name: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        pytest.fail(f"{name} is not set: integration tests need the local services; {RUN_HINT}", pytrace=False)
    return value


def _reachable(host: str, port: int, what: str, value: str) -> None:
    try:
        with socket.create_connection((host, port), timeout=3):
            pass
    except OSError as exc:
        pytest.fail(f"{what} at {value} is not reachable ({exc}); {RUN_HINT}", pytrace=False)


@pytest.fixture(scope="session")
def kafka_bootstrap() -> str:
    value = _required_env("DETECTOR_KAFKA_BOOTSTRAP")
    first = value.split(",")[0].strip()
    host, _, port = first.rpartition(":")
    _reachable(host or "127.0.0.1", int(port), "Kafka (DETECTOR_KAFKA_BOOTSTRAP)", value)
    return value


@pytest.fixture(scope="session")
def redis_url() -> str:
    value = _required_env("DETECTOR_REDIS_URL")
    parts = urlsplit(value)
    _reachable(parts.hostname or "127.0.0.1", parts.port or 6379, "Redis (DETECTOR_REDIS_URL)", value)
    return value


@pytest.fixture(scope="session")
def kafka_admin(kafka_bootstrap: str) -> Iterator[object]:
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap, client_id="pytest-admin", request_timeout_ms=15000)
    try:
        yield admin
    finally:
        admin.close()


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def make_topic(kafka_admin) -> Iterator[Callable[..., str]]:  # type: ignore[no-untyped-def]
    """Factory for fresh topics; waits until their metadata is visible; deletes them at teardown."""
    from kafka.admin import NewTopic

    created: list[str] = []

    def _make(partitions: int = 4, prefix: str = "t", config: dict[str, str] | None = None) -> str:
        name = _unique(f"it-{prefix}")
        topic = NewTopic(name=name, num_partitions=partitions, replication_factor=1, topic_configs=config or {})
        kafka_admin.create_topics([topic], timeout_ms=15000)
        created.append(name)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            meta = kafka_admin.describe_topics([name])
            if meta and not meta[0].get("error_code") and len(meta[0].get("partitions") or []) == partitions:
                return name
            time.sleep(0.1)
        raise AssertionError(f"topic {name} did not show {partitions} partitions within 15 s")

    yield _make
    if created:
        try:
            kafka_admin.delete_topics(created, timeout_ms=15000, raise_errors=False)
        except Exception:  # noqa: BLE001 - teardown must not mask the test's own result
            pass


# Redis DBs: DB 0 is what DETECTOR_REDIS_URL names (shared); the highest DB holds the leases; the rest are
# handed out one per test with SET NX + TTL, so concurrent pytest runs against one server never share a DB.
_LEASE_TTL_S = 900


def _with_db(url: str, db: int) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{db}", parts.query, parts.fragment))


@pytest.fixture(scope="session")
def redis_test_leases(redis_url: str):  # type: ignore[no-untyped-def]
    import redis

    probe = redis.Redis.from_url(redis_url)
    try:
        databases = int(probe.config_get("databases")["databases"])
    finally:
        probe.close()
    if databases < 4:
        pytest.fail(f"Redis at {redis_url} has only {databases} databases; the tests need at least 4")
    client = redis.Redis.from_url(_with_db(redis_url, databases - 1), decode_responses=True)
    client.databases = databases  # type: ignore[attr-defined]
    client.base_url = redis_url  # type: ignore[attr-defined]
    yield client
    client.close()


@pytest.fixture
def redis_db(redis_test_leases, request) -> Iterator[int]:  # type: ignore[no-untyped-def]
    import redis

    leases = redis_test_leases
    owner = f"{os.getpid()}:{request.node.nodeid}:{uuid.uuid4().hex[:6]}"
    deadline = time.monotonic() + 60
    db = None
    while db is None:
        for n in range(1, leases.databases - 1):
            if leases.set(f"xdtest:dblease:{n}", owner, nx=True, ex=_LEASE_TTL_S):
                db = n
                break
        else:
            if time.monotonic() > deadline:
                pytest.fail("no free Redis test DB within 60 s (all leased by concurrent runs)")
            time.sleep(0.5)
    conn = redis.Redis.from_url(_with_db(leases.base_url, db))
    conn.flushdb()
    try:
        yield db
    finally:
        try:
            conn.flushdb()
        finally:
            conn.close()
            if leases.get(f"xdtest:dblease:{db}") == owner:
                leases.delete(f"xdtest:dblease:{db}")


@pytest.fixture
def redis_db_url(redis_url: str, redis_db: int) -> str:
    return _with_db(redis_url, redis_db)


@pytest.fixture
def redis_client(redis_db_url: str):  # type: ignore[no-untyped-def]
    import redis

    client = redis.Redis.from_url(redis_db_url, decode_responses=True)
    yield client
    client.close()


@pytest.fixture(scope="session")
def service_ctl() -> Callable[..., subprocess.CompletedProcess[str]]:
    """``service_ctl(action, service)`` -> runs ``bash deploy/local/ctl.sh action service``; raises on failure."""

    def _ctl(action: str, service: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(["bash", str(CTL), action, service], capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0 and action != "status":
            raise AssertionError(f"ctl.sh {action} {service} failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}")
        return proc

    return _ctl
