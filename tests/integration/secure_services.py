"""The secured services the security tests start for themselves, on free loopback ports.

* :class:`SecureBroker` / :func:`secure_broker` -- a second KRaft broker with only a SASL_SSL
  listener, client certificates required, SCRAM users and ACLs enforced (``deploy/local/up-secure.sh``).
* :class:`TlsRedis` / :func:`tls_redis` -- a redis-server with TLS only, client certificates
  required and one ACL user per process (``deploy/local/redis-tls.sh``).

The module-scoped fixtures in ``tests/integration/conftest.py`` start each at most once per module.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis

from detector.offline.ports import listen_port
from streams.redis_conn import redis_client
from streams.settings import Settings

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "deploy" / "local" / "redis-tls.sh"


@dataclass
class SecureBroker:
    """A running secure broker: its files (``home``: certificates, user passwords) and address."""

    home: Path
    bootstrap: str

    def env(self, user: str) -> dict[str, str]:
        """The DETECTOR_KAFKA_* variables of ``user`` (password from its file)."""
        tls = self.home / "tls"
        return {"DETECTOR_KAFKA_BOOTSTRAP": self.bootstrap, "DETECTOR_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
                "DETECTOR_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512", "DETECTOR_KAFKA_SASL_USERNAME": user,
                "DETECTOR_KAFKA_SASL_PASSWORD_FILE": str(self.home / "users" / f"{user}.password"),
                "DETECTOR_KAFKA_CA_FILE": str(tls / "ca.pem"), "DETECTOR_KAFKA_CERT_FILE": str(tls / "client.pem"),
                "DETECTOR_KAFKA_KEY_FILE": str(tls / "client.key")}

    def settings(self, user: str, **overrides: Any) -> Settings:
        return Settings.from_env(self.env(user), **overrides)

    def password(self, user: str) -> str:
        return (self.home / "users" / f"{user}.password").read_text().strip()


@contextlib.contextmanager
def secure_broker(base: Path) -> Iterator[SecureBroker]:
    """Start a secure broker under ``base`` and stop it afterwards."""
    home = base / "home"
    env = {**os.environ, "KAFKA_SECURE_HOME": str(home), "KAFKA_SASL_PORT": str(listen_port()),
           "KAFKA_SECURE_CONTROLLER_PORT": str(listen_port())}
    up = subprocess.run(["bash", str(REPO / "deploy/local/up-secure.sh")], env=env, capture_output=True,
                        text=True, timeout=180)
    try:
        assert up.returncode == 0, f"up-secure.sh failed:\n{up.stdout}\n{up.stderr}"
        printed = dict(line.split("=", 1) for line in up.stdout.splitlines() if "=" in line)
        assert printed["DETECTOR_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
        yield SecureBroker(home, printed["DETECTOR_KAFKA_BOOTSTRAP"])
    finally:
        subprocess.run(["bash", str(REPO / "deploy/local/down-secure.sh")], env=env, capture_output=True,
                       text=True, timeout=120)


@dataclass
class TlsRedis:
    """A running TLS Redis: its files (``home``: certificates, passwords) and port."""

    home: Path
    port: int

    def env(self, role: str) -> dict[str, str]:
        """The ``DETECTOR_REDIS_*`` variables of ``role`` as ``redis-tls.sh env`` prints them."""
        out = subprocess.run(["bash", str(SCRIPT), "env", role], env=self.script_env(), check=True,
                             capture_output=True, text=True).stdout
        pairs = [shlex.split(line)[1].split("=", 1) for line in out.splitlines() if line.startswith("export ")]
        return dict(pairs)

    def script_env(self) -> dict[str, str]:
        return dict(os.environ, REDIS_TLS_HOME=str(self.home), REDIS_TLS_PORT=str(self.port))

    def settings(self, role: str, **overrides: Any) -> Settings:
        return Settings.from_env(self.env(role), **overrides)

    def admin(self) -> redis.Redis:
        return redis_client(self.settings("admin"), sync=True)


@contextlib.contextmanager
def tls_redis(base: Path) -> Iterator[TlsRedis]:
    """Start a TLS Redis under ``base`` and stop it afterwards."""
    server = TlsRedis(base, listen_port())
    started = subprocess.run(["bash", str(SCRIPT), "start"], env=server.script_env(), capture_output=True,
                             text=True, timeout=60)
    assert started.returncode == 0, started.stderr
    try:
        yield server
    finally:
        subprocess.run(["bash", str(SCRIPT), "stop"], env=server.script_env(), capture_output=True, timeout=60)
