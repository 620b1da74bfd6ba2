"""Redis TLS and ACL-user settings, and the one client factory every process uses (no server needed).

The live behaviour (TLS handshake, ACL users, wrong passwords) is in
``tests/integration/test_redis_security.py``; here: what the settings accept and refuse, what
redis-py is given, that every process builds its client through :func:`streams.redis_conn.redis_client`,
and that the password never reaches ``repr``, ``to_env``, error text or the docs' ACL drift.
"""

from __future__ import annotations

import os
import re
import ssl
import subprocess
import time
from dataclasses import replace
from pathlib import Path

import pytest
import redis
import redis.asyncio as aioredis
from redis.exceptions import AuthenticationError, NoPermissionError

from streams.redis_conn import (
    RedisAccessError,
    RedisUnreachable,
    access_error,
    check_redis_sync,
    describe,
    redacted_url,
    redis_client,
    redis_options,
)
from streams.settings import Settings

REPO = Path(__file__).resolve().parents[2]
PASSWORD = "pw-" + "7f3a9c" * 4
TLS = {"DETECTOR_REDIS_URL": "rediss://redis.example:6380/0", "DETECTOR_REDIS_USERNAME": "xd-worker",
       "DETECTOR_REDIS_CA_FILE": "/s/ca.crt", "DETECTOR_REDIS_CERT_FILE": "/s/c.crt",
       "DETECTOR_REDIS_KEY_FILE": "/s/c.key"}


def tls_settings(tmp_path: Path) -> Settings:
    path = tmp_path / "redis-password"
    path.write_text(PASSWORD + "\n")
    return Settings.from_env({**TLS, "DETECTOR_REDIS_PASSWORD_FILE": str(path)})


def test_password_from_file_or_env_is_a_secret(tmp_path: Path) -> None:
    s = tls_settings(tmp_path)
    assert (s.redis_username, s.redis_password) == ("xd-worker", PASSWORD)
    assert PASSWORD not in repr(s) and PASSWORD not in "".join(s.to_env().values())
    assert s.secret_env()["DETECTOR_REDIS_PASSWORD"] == ""              # the child reads the file
    assert Settings.from_env(s.to_env()) == s
    direct = Settings.from_env({"DETECTOR_REDIS_PASSWORD": PASSWORD})
    assert direct.redis_password == PASSWORD and PASSWORD not in repr(direct)
    assert direct.secret_env()["DETECTOR_REDIS_PASSWORD"] == PASSWORD   # a child gets it by environment only
    assert "DETECTOR_REDIS_PASSWORD" not in direct.to_env()


@pytest.mark.parametrize(("env", "message"), [
    ({"DETECTOR_REDIS_CA_FILE": "/ca.crt"}, "need a rediss:// DETECTOR_REDIS_URL"),
    ({"DETECTOR_REDIS_URL": "rediss://h:1/0", "DETECTOR_REDIS_CERT_FILE": "/c.crt"}, "DETECTOR_REDIS_KEY_FILE"),
    ({"DETECTOR_REDIS_URL": f"redis://:{PASSWORD}@h:1/0", "DETECTOR_REDIS_PASSWORD": "other"}, "in one place"),
    ({"DETECTOR_REDIS_URL": f"redis://u:{PASSWORD}@h:1/0", "DETECTOR_REDIS_USERNAME": "u"}, "in one place"),
    ({"DETECTOR_REDIS_PASSWORD": PASSWORD, "DETECTOR_REDIS_PASSWORD_FILE": "/x"}, "set only one of"),
    ({"DETECTOR_REDIS_PASSWORD_FILE": "/nonexistent/redis-password"}, "DETECTOR_REDIS_PASSWORD_FILE: cannot read"),
])
def test_inconsistent_redis_settings_are_refused_without_echoing_the_password(env: dict[str, str],
                                                                              message: str) -> None:
    with pytest.raises(ValueError, match=message) as err:
        Settings.from_env(env)
    assert PASSWORD not in str(err.value)


def test_tls_options_given_to_redis_py(tmp_path: Path) -> None:
    s = tls_settings(tmp_path)
    opts = redis_options(s)
    assert opts["ssl_ca_certs"] == "/s/ca.crt"
    assert (opts["ssl_certfile"], opts["ssl_keyfile"]) == ("/s/c.crt", "/s/c.key")
    assert opts["ssl_cert_reqs"] == "required" and opts["ssl_check_hostname"] is True
    assert opts["ssl_min_version"] == ssl.TLSVersion.TLSv1_2
    assert (opts["username"], opts["password"]) == ("xd-worker", PASSWORD)
    assert opts["driver_info"] is None            # no CLIENT SETINFO: nothing outside the ACL
    plain = redis_options(Settings())
    assert not any(k.startswith("ssl_") for k in plain) and "password" not in plain
    # another DB of the same server (benchmark leases) keeps TLS and login
    assert redis_options(s, "rediss://redis.example:6380/3")["ssl_ca_certs"] == "/s/ca.crt"


def test_one_factory_builds_sync_and_asyncio_clients(tmp_path: Path) -> None:
    s = tls_settings(tmp_path)
    sync = redis_client(s, sync=True, url="rediss://redis.example:6380/5", decode_responses=True)
    kwargs = sync.connection_pool.connection_kwargs
    assert isinstance(sync, redis.Redis) and sync.connection_pool.connection_class is redis.SSLConnection
    assert (kwargs["db"], kwargs["username"], kwargs["ssl_ca_certs"], kwargs["decode_responses"]) == \
        (5, "xd-worker", "/s/ca.crt", True)
    sync.close()
    async_client = redis_client(s, socket_timeout=30)
    assert isinstance(async_client, aioredis.Redis)
    assert async_client.connection_pool.connection_class is aioredis.SSLConnection
    assert async_client.connection_pool.connection_kwargs["socket_timeout"] == 30


def test_every_process_builds_its_client_through_the_factory() -> None:
    """No redis-py client is constructed outside streams/redis_conn.py in the shipped code."""
    pattern = re.compile(r"\bfrom_url\(|\bRedis\(|StrictRedis\(")
    offenders = []
    for path in [*REPO.glob("streams/*.py"), *REPO.glob("detector/**/*.py")]:
        if path.name == "redis_conn.py":
            continue
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if pattern.search(line):
                offenders.append(f"{path.relative_to(REPO)}:{n}: {line.strip()}")
    assert offenders == []


def test_descriptions_and_errors_hide_the_password(tmp_path: Path) -> None:
    url = f"rediss://xd-worker:{PASSWORD}@redis.example:6380/0"
    assert redacted_url(url) == "rediss://xd-worker:***@redis.example:6380/0"
    assert redacted_url("redis://127.0.0.1:16379/0") == "redis://127.0.0.1:16379/0"
    s = tls_settings(tmp_path)
    assert describe(s) == "rediss://redis.example:6380/0 as user 'xd-worker'"
    # even a server message that quoted the password would be scrubbed
    err = access_error(AuthenticationError(f"WRONGPASS for {PASSWORD}"), s)
    assert "refused the login" in str(err) and PASSWORD not in str(err)
    denied = access_error(NoPermissionError("this user has no permissions to run the 'keys' command"), s)
    assert "refused a command" in str(denied) and "'keys'" in str(denied) and not isinstance(denied, RedisUnreachable)
    from_url = access_error(AuthenticationError("invalid username-password pair"), Settings(redis_url=url))
    assert "xd-worker:***@" in str(from_url) and PASSWORD not in str(from_url)


def test_unreachable_redis_is_reported_quickly_without_secrets() -> None:
    s = Settings(redis_url="redis://127.0.0.1:1/0", redis_username="xd-worker", redis_password=PASSWORD)
    started = time.monotonic()
    expected = "cannot reach Redis at redis://127.0.0.1:1/0 as user 'xd-worker'"
    with pytest.raises(RedisUnreachable, match=expected) as err:
        check_redis_sync(s)
    assert time.monotonic() - started < 10 and PASSWORD not in str(err.value)
    assert isinstance(err.value, RedisAccessError) and err.value.__cause__ is None


def test_docs_list_the_acl_that_deploy_local_creates(tmp_path: Path) -> None:
    """docs/security.md shows exactly the ACL rules deploy/local/redis-tls.sh gives its users."""
    env = {"PATH": os.environ["PATH"], "LOCAL_CACHE": str(tmp_path)}   # the script's cache: not the repo's
    out = subprocess.run(["bash", str(REPO / "deploy/local/redis-tls.sh"), "acl"], capture_output=True, text=True,
                         check=True, env=env).stdout
    rules = [line for line in out.splitlines() if line.startswith("ACL SETUSER")]
    assert [r.split()[2] for r in rules] == ["xd-worker", "xd-notify", "xd-enforce"]
    doc = (REPO / "docs/security.md").read_text()
    assert "## Redis" in doc
    for rule in rules:
        assert rule in doc, rule


def test_settings_with_tls_survive_replace(tmp_path: Path) -> None:
    s = tls_settings(tmp_path)
    assert replace(s, redis_url="rediss://other:6380/1").redis_password == PASSWORD
    with pytest.raises(ValueError, match="rediss://"):
        replace(s, redis_url="redis://other:6379/1")


def test_k8s_pods_reach_redis_over_tls_as_their_own_acl_user() -> None:
    from tests.unit.test_http_auth import k8s_objects, secret_file_source

    objs = k8s_objects()
    secret = next(o for o in objs if o["kind"] == "Secret")
    users = {"worker": "xd-worker", "notify": "xd-notify", "enforce": "xd-enforce"}
    seen = set()
    for d in (o for o in objs if o["kind"] == "Deployment"):
        (c,) = d["spec"]["template"]["spec"]["containers"]
        role = c["command"][1]
        env = {e["name"]: e.get("value") for e in c["env"]}
        assert env["DETECTOR_REDIS_URL"] == "rediss://$(DETECTOR_REDIS_ADDR)/0"   # TLS, no credentials inside
        assert not any("valueFrom" in e for e in c["env"]), "secrets come as files, not environment variables"
        assert env["DETECTOR_REDIS_USERNAME"] == users[role]
        name, key = secret_file_source(d, c, env["DETECTOR_REDIS_PASSWORD_FILE"])
        assert (name, key) == ("detector-secrets", f"redis-password-{role}") and key in secret["stringData"]
        assert secret_file_source(d, c, env["DETECTOR_REDIS_CA_FILE"]) == ("detector-secrets", "redis-ca.crt")
        seen.add(role)
    assert seen == set(users)


def test_k8s_pods_reach_kafka_over_sasl_ssl_as_their_own_user() -> None:
    """Every Deployment logs in to Kafka with SASL_SSL as its own SCRAM user (the ACL roles of
    streams.kafka_acls), the password and CA mounted from the Secret as files."""
    from streams import kafka_acls
    from tests.unit.test_http_auth import k8s_objects, secret_file_source

    objs = k8s_objects()
    secret = next(o for o in objs if o["kind"] == "Secret")
    config = next(o for o in objs if o["kind"] == "ConfigMap")["data"]
    assert config["DETECTOR_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
    assert config["DETECTOR_KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-512"
    users = {"worker": "worker", "notify": "notifier", "enforce": "enforcer"}
    for d in (o for o in objs if o["kind"] == "Deployment"):
        (c,) = d["spec"]["template"]["spec"]["containers"]
        role = c["command"][1]
        env = {e["name"]: e.get("value") for e in c["env"]}
        assert env["DETECTOR_KAFKA_SASL_USERNAME"] == users[role] and users[role] in kafka_acls.ROLES
        name, key = secret_file_source(d, c, env["DETECTOR_KAFKA_SASL_PASSWORD_FILE"])
        assert (name, key) == ("detector-secrets", f"kafka-password-{role}") and key in secret["stringData"]
        assert secret_file_source(d, c, env["DETECTOR_KAFKA_CA_FILE"]) == ("detector-secrets", "kafka-ca.crt")
