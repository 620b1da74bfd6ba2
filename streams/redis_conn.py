"""The one place a redis-py client is built: every process (worker store, notifier, enforcer, tools).

What: :func:`redis_client` turns :class:`streams.settings.Settings` into a redis-py client, asyncio
(default) or blocking (``sync=True``): ``DETECTOR_REDIS_URL`` (``rediss://`` = TLS), the CA file
that verifies the server (``DETECTOR_REDIS_CA_FILE``; the system CAs when unset), a client
certificate and key for mutual TLS (``DETECTOR_REDIS_CERT_FILE``, ``DETECTOR_REDIS_KEY_FILE``),
and an ACL user (``DETECTOR_REDIS_USERNAME``) with its password (``DETECTOR_REDIS_PASSWORD`` or
``DETECTOR_REDIS_PASSWORD_FILE``). TLS always verifies the server certificate and its host name,
TLS 1.2 at least. The client never sends ``CLIENT SETINFO``, so the ACL users of
``docs/security.md`` need no command beyond what the detector itself runs.

:func:`check_redis` / :func:`check_redis_sync` are the start-up probe of every service: one
``PING``. A refused login or command raises :class:`RedisAccessError` at once (a few ms: AUTH
is answered, not retried) with a message that says where, as whom and what was refused — never
the password. An unreachable server raises :class:`RedisUnreachable` (a subclass) after the
connect timeout; the worker then waits for Redis as before, the output services exit.

Failure modes: a wrong password or disabled user is not retried anywhere (the worker's store
re-raises it, see :func:`streams.redis_store.retrying`); the Settings checks
(:class:`streams.settings.Settings`) refuse TLS files with a ``redis://`` URL, half a client
key pair, and credentials both in the URL and in the variables.
"""

from __future__ import annotations

import ssl
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import redis
import redis.asyncio as aioredis
from redis.exceptions import (
    AuthenticationError,
    AuthenticationWrongNumberOfArgsError,
    AuthorizationError,
    NoPermissionError,
    RedisError,
)

from streams.settings import Settings

CONNECT_TIMEOUT_S = 5.0
# Errors that retrying cannot fix: wrong credentials, a disabled user, a command or key outside
# the user's ACL. ``AuthenticationError`` subclasses ``ConnectionError`` in redis-py, so retry
# loops must test for these first.
ACCESS_ERRORS: tuple[type[Exception], ...] = (
    AuthenticationError, AuthenticationWrongNumberOfArgsError, AuthorizationError, NoPermissionError)


class RedisAccessError(RuntimeError):
    """Redis refused this process (login or command), or could not be reached. The message names
    the server (URL without credentials), the user and the refusal; never the password."""


class RedisUnreachable(RedisAccessError):
    """Redis did not answer (connection refused, timeout, TLS handshake failure)."""


def redacted_url(url: str) -> str:
    """``url`` without its password (the user name is kept)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def describe(settings: Settings, url: str | None = None) -> str:
    """``rediss://host:port/db as user 'name'`` (no password), for log lines and errors."""
    target = url or settings.redis_url
    user = settings.redis_username or urlsplit(target).username or "default"
    return f"{redacted_url(target)} as user {user!r}"


def redis_options(settings: Settings, url: str | None = None) -> dict[str, Any]:
    """The keyword arguments :func:`redis_client` gives redis-py (credentials and TLS included)."""
    target = url or settings.redis_url
    opts: dict[str, Any] = {"socket_connect_timeout": CONNECT_TIMEOUT_S, "driver_info": None}
    if settings.redis_username:
        opts["username"] = settings.redis_username
    if settings.redis_password:
        opts["password"] = settings.redis_password
    if urlsplit(target).scheme == "rediss":
        opts.update(ssl_cert_reqs="required", ssl_check_hostname=True, ssl_min_version=ssl.TLSVersion.TLSv1_2)
        if settings.redis_ca_file:
            opts["ssl_ca_certs"] = settings.redis_ca_file
        if settings.redis_cert_file:
            opts["ssl_certfile"] = settings.redis_cert_file
            opts["ssl_keyfile"] = settings.redis_key_file
    return opts


def redis_client(settings: Settings, *, sync: bool = False, url: str | None = None, **options: Any) -> Any:
    """A redis-py client for ``settings`` (asyncio, or blocking with ``sync=True``).

    ``url`` replaces ``DETECTOR_REDIS_URL`` (another DB of the same server, as the benchmarks
    lease); credentials and TLS still come from ``settings``. ``options`` are passed to redis-py
    (``decode_responses``, ``socket_timeout``, ``health_check_interval``, ...). Connections open
    lazily, on the first command.
    """
    target = url or settings.redis_url
    kwargs = {**redis_options(settings, target), **options}
    factory = redis.Redis if sync else aioredis.Redis
    return factory.from_url(target, **kwargs)


def access_error(exc: BaseException, settings: Settings, url: str | None = None) -> RedisAccessError:
    """A :class:`RedisAccessError` explaining ``exc`` (the password scrubbed from any text)."""
    where = describe(settings, url)
    detail = str(exc).strip() or type(exc).__name__
    if isinstance(exc, (AuthenticationError, AuthenticationWrongNumberOfArgsError, AuthorizationError)):
        err: RedisAccessError = RedisAccessError(
            f"Redis at {where} refused the login ({type(exc).__name__}: {detail}); check "
            "DETECTOR_REDIS_USERNAME and DETECTOR_REDIS_PASSWORD[_FILE] (password hidden)")
    elif isinstance(exc, NoPermissionError):
        err = RedisAccessError(
            f"Redis at {where} refused a command ({detail}); the user needs the ACL of docs/security.md")
    else:
        err = RedisUnreachable(f"cannot reach Redis at {where} ({type(exc).__name__}: {detail})")
    secrets = [s for s in (settings.redis_password, urlsplit(url or settings.redis_url).password) if s]
    for secret in secrets:
        err.args = (str(err.args[0]).replace(secret, "<hidden>"),)
    return err


async def check_redis(client: Any, settings: Settings, url: str | None = None) -> None:
    """One ``PING`` on an asyncio client; raises :class:`RedisAccessError` (see the module doc)."""
    try:
        await client.ping()
    except (RedisError, OSError) as exc:
        raise access_error(exc, settings, url) from None


def check_redis_sync(settings: Settings, url: str | None = None) -> None:
    """One ``PING`` on a fresh blocking client; raises :class:`RedisAccessError`."""
    client = redis_client(settings, sync=True, url=url, socket_timeout=CONNECT_TIMEOUT_S)
    try:
        client.ping()
    except (RedisError, OSError) as exc:
        raise access_error(exc, settings, url) from None
    finally:
        client.close()
