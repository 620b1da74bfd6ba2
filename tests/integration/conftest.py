"""Fixtures of the integration tests that start their own secured services."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration import secure_services
from tests.integration.secure_services import SecureBroker, TlsRedis


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureBroker]:
    """A SASL_SSL-only broker with ACLs, for this module."""
    with secure_services.secure_broker(tmp_path_factory.mktemp("kafka-secure")) as b:
        yield b


@pytest.fixture(scope="module")
def tls_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsRedis]:
    """A TLS-only Redis with one ACL user per process, for this module."""
    with secure_services.tls_redis(tmp_path_factory.mktemp("redis-tls")) as server:
        yield server
