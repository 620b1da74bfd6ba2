"""Kafka connection security for every process: one place that turns :class:`Settings` into clients.

What: every Kafka client of the project (kafka-python admin/producer/consumer, aiokafka
producer/consumer/admin, the Faust app) is built from the same settings
(``DETECTOR_KAFKA_BOOTSTRAP`` plus the ``DETECTOR_KAFKA_SECURITY_PROTOCOL`` / ``_SASL_*`` /
``_CA_FILE`` / ``_CERT_FILE`` / ``_KEY_FILE`` / ``_CHECK_HOSTNAME`` variables of
:mod:`streams.settings`) through this module, never from a host:port alone:

==========================  =============================================================
:func:`kafka_python_config` keyword arguments for ``kafka.KafkaAdminClient/Producer/Consumer``
:func:`aiokafka_config`     keyword arguments for ``aiokafka.AIOKafkaProducer/Consumer/AdminClient``
:func:`faust_config`        ``broker`` and ``broker_credentials`` for ``faust.App``
:func:`admin`, :func:`producer`, :func:`consumer`   kafka-python clients, checked first
:func:`check` / :func:`check_async`   fail fast with a clear error on refused credentials or TLS
:func:`check_topics`        a clear error when ACLs hide a topic (instead of a silent wait)
==========================  =============================================================

Library functions that take ``kafka: Settings | str`` accept a bare bootstrap string too: it means
those servers *with the security settings of the environment* (:func:`resolve`), so a
``--bootstrap`` option never drops the credentials.

Failing fast: kafka-python retries a refused SASL login until its bootstrap timeout (30 s) and then
reports only "Unable to bootstrap"; aiokafka logs the reason and raises a generic connection error.
So before the first client of a secured connection (SSL or SASL) is made, :func:`check` opens one
connection to a bootstrap server (aiokafka's connection: TLS handshake, SASL handshake and
authentication) and raises :class:`KafkaAuthenticationError` or :class:`KafkaTLSError` naming
what was refused, e.g. ``Kafka refused SASL authentication for user 'x' (SCRAM-SHA-512) at
127.0.0.1:19094``. Unreachable servers raise :class:`KafkaUnreachableError` (an ``OSError``, so
callers that retry while a broker starts keep doing so). A successful check is remembered for the
process. PLAINTEXT is never checked (nothing to refuse; no extra connection).

Secrets: the SASL password lives only in :class:`Settings` (``repr=False``) and in the clients'
options; errors name the user, mechanism and server, never the password. :func:`redact_logs`
masks given secrets in every log record of the process (aiokafka and kafka-python log SASL request
payloads at DEBUG, and a PLAIN payload carries the password in the clear).

Assumptions: client keys are unencrypted PEM files (mounted Secrets); one TLS context is built per
distinct file set and reused. Cost: one extra connection per process and security setting.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import ssl
import threading
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from streams.settings import Settings

log = logging.getLogger(__name__)

SECURITY_EXIT_CODE = 78          # EX_CONFIG: what a process exits with when Kafka refuses its setup
CHECK_TIMEOUT_S = 8.0            # the whole check, all bootstrap servers
TOPIC_AUTHORIZATION_FAILED = 29


class KafkaSecurityError(RuntimeError):
    """Kafka refused this process's credentials or TLS setup: retrying will not help."""


class KafkaAuthenticationError(KafkaSecurityError):
    """SASL authentication refused (wrong user/password, mechanism not enabled)."""


class KafkaTLSError(KafkaSecurityError):
    """TLS handshake failed (unknown CA, hostname mismatch, client certificate refused)."""


class KafkaAuthorizationError(KafkaSecurityError):
    """The broker's ACLs deny this user an operation it needs (``docs/kafka-security.md``)."""


class KafkaUnreachableError(ConnectionError):
    """No bootstrap server answered (refused, timed out): may be transient."""


# ------------------------------------------------------------------------------------- settings

def resolve(kafka: Settings | str) -> Settings:
    """``kafka`` itself, or for a bootstrap string the environment's settings with those servers."""
    if isinstance(kafka, Settings):
        return kafka
    return Settings.from_env(kafka_bootstrap=kafka)


def servers(s: Settings) -> list[str]:
    """The bootstrap servers as a list of ``host:port``."""
    return [h.strip() for h in s.kafka_bootstrap.split(",") if h.strip()]


def uses_tls(s: Settings) -> bool:
    return s.kafka_security_protocol in ("SSL", "SASL_SSL")


def uses_sasl(s: Settings) -> bool:
    return s.kafka_security_protocol in ("SASL_PLAINTEXT", "SASL_SSL")


def describe(s: Settings) -> str:
    """How this process connects, for logs and errors: never the password."""
    how = s.kafka_security_protocol
    if uses_sasl(s):
        how += f" as {s.kafka_sasl_username!r} ({s.kafka_sasl_mechanism})"
    if uses_tls(s) and s.kafka_cert_file:
        how += " with a client certificate"
    return f"{how} at {s.kafka_bootstrap}"


def who(s: Settings) -> str:
    """The principal a broker sees, for messages: ``user 'x'``, or how an unnamed client connects."""
    if uses_sasl(s):
        return f"user {s.kafka_sasl_username!r}"
    if uses_tls(s):
        return "this client's certificate" if s.kafka_cert_file else "this (anonymous TLS) client"
    return "this (anonymous PLAINTEXT) client"


@lru_cache(maxsize=16)
def _context(cafile: str, certfile: str, keyfile: str, check_hostname: bool) -> ssl.SSLContext:
    try:
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=cafile or None)
        if certfile:
            ctx.load_cert_chain(certfile, keyfile or None)
    except (OSError, ssl.SSLError) as exc:
        raise KafkaTLSError(f"cannot load the Kafka TLS files (DETECTOR_KAFKA_CA_FILE={cafile or '-'}, "
                            f"DETECTOR_KAFKA_CERT_FILE={certfile or '-'}, DETECTOR_KAFKA_KEY_FILE={keyfile or '-'}): "
                            f"{exc}") from None
    ctx.check_hostname = check_hostname   # the certificate is verified either way
    return ctx


def ssl_context(s: Settings) -> ssl.SSLContext | None:
    """The TLS context of SSL/SASL_SSL settings (CA file or the system CAs, client certificate for
    mutual TLS, hostname check as configured); ``None`` without TLS."""
    if not uses_tls(s):
        return None
    return _context(s.kafka_ca_file, s.kafka_cert_file, s.kafka_key_file, s.kafka_check_hostname)


def _sasl(s: Settings) -> dict[str, Any]:
    if not uses_sasl(s):
        return {}
    redact_settings_secrets(s)   # a process that holds the password masks it in its logs
    return {"sasl_mechanism": s.kafka_sasl_mechanism, "sasl_plain_username": s.kafka_sasl_username,
            "sasl_plain_password": s.kafka_sasl_password}


def kafka_python_config(s: Settings) -> dict[str, Any]:
    """Keyword arguments for kafka-python's ``KafkaAdminClient``, ``KafkaProducer`` and
    ``KafkaConsumer``: bootstrap servers, ``security_protocol``, SASL and ``ssl_*`` options."""
    cfg: dict[str, Any] = {"bootstrap_servers": servers(s), "security_protocol": s.kafka_security_protocol}
    if uses_tls(s):
        cfg.update(ssl_check_hostname=s.kafka_check_hostname, ssl_cafile=s.kafka_ca_file or None,
                   ssl_certfile=s.kafka_cert_file or None, ssl_keyfile=s.kafka_key_file or None)
    cfg.update(_sasl(s))
    return cfg


def aiokafka_config(s: Settings) -> dict[str, Any]:
    """Keyword arguments for aiokafka's ``AIOKafkaProducer``, ``AIOKafkaConsumer`` and
    ``AIOKafkaAdminClient``: bootstrap servers, ``security_protocol``, ``ssl_context``, SASL."""
    cfg: dict[str, Any] = {"bootstrap_servers": servers(s), "security_protocol": s.kafka_security_protocol}
    if uses_tls(s):
        cfg["ssl_context"] = ssl_context(s)
    cfg.update(_sasl(s))
    return cfg


def faust_config(s: Settings) -> dict[str, Any]:
    """``broker`` and ``broker_credentials`` for ``faust.App``: ``SASLCredentials`` (with the TLS
    context for SASL_SSL), ``SSLCredentials`` for SSL, none for PLAINTEXT."""
    import faust

    creds: Any = None
    if uses_sasl(s):
        creds = faust.SASLCredentials(username=s.kafka_sasl_username, password=s.kafka_sasl_password,
                                      ssl_context=ssl_context(s), mechanism=s.kafka_sasl_mechanism)
    elif uses_tls(s):
        creds = faust.SSLCredentials(ssl_context(s))
    return {"broker": [f"kafka://{h}" for h in servers(s)], "broker_credentials": creds}


# ----------------------------------------------------------------------------------- fail fast

_checked: set[str] = set()
_checked_lock = threading.Lock()


def _check_key(s: Settings) -> str:
    parts = (s.kafka_bootstrap, s.kafka_security_protocol, s.kafka_sasl_mechanism, s.kafka_sasl_username,
             hashlib.sha256(s.kafka_sasl_password.encode()).hexdigest(), s.kafka_ca_file, s.kafka_cert_file,
             s.kafka_key_file, str(s.kafka_check_hostname))
    return "\0".join(parts)


def _split(server: str) -> tuple[str, int]:
    host, _, port = server.rpartition(":")
    return host.strip("[]") or "127.0.0.1", int(port)


def _mask(s: Settings, text: str) -> str:
    return text.replace(s.kafka_sasl_password, "***") if s.kafka_sasl_password else text


def _refused(s: Settings, server: str, exc: BaseException) -> KafkaSecurityError | None:
    """The clear error for an exception of one connection attempt, or None if it is not a refusal."""
    from aiokafka import errors as ae

    reason = _mask(s, str(exc))
    if isinstance(exc, ae.SaslAuthenticationFailed):
        return KafkaAuthenticationError(
            f"Kafka refused SASL authentication for user {s.kafka_sasl_username!r} ({s.kafka_sasl_mechanism}) "
            f"at {server}: {reason}")
    if isinstance(exc, ae.UnsupportedSaslMechanismError):
        return KafkaAuthenticationError(
            f"Kafka at {server} does not accept SASL mechanism {s.kafka_sasl_mechanism} "
            f"(DETECTOR_KAFKA_SASL_MECHANISM): {reason}")
    if isinstance(exc, ae.IllegalSaslStateError):
        return KafkaAuthenticationError(f"Kafka at {server} refused the SASL handshake for user "
                                        f"{s.kafka_sasl_username!r} ({s.kafka_sasl_mechanism}): {reason}")
    tls = exc if isinstance(exc, ssl.SSLError) else exc.__cause__ if isinstance(exc.__cause__, ssl.SSLError) else None
    if tls is not None:
        hint = ""
        if isinstance(tls, ssl.SSLCertVerificationError):
            hint = (f" (the broker certificate is checked against "
                    f"{s.kafka_ca_file or 'the system CAs'}; DETECTOR_KAFKA_CA_FILE / DETECTOR_KAFKA_CHECK_HOSTNAME)")
        elif "CERTIFICATE_REQUIRED" in str(tls).upper() or "BAD_CERTIFICATE" in str(tls).upper():
            hint = " (the broker wants a client certificate it trusts: DETECTOR_KAFKA_CERT_FILE / KEY_FILE)"
        detail = tls.reason or str(tls)
        if getattr(tls, "verify_message", None):
            detail += f": {tls.verify_message}"
        return KafkaTLSError(f"TLS handshake with Kafka at {server} failed: {detail}{hint}")
    return None


async def check_async(kafka: Settings | str, timeout_s: float = CHECK_TIMEOUT_S) -> None:
    """Open one authenticated connection to a bootstrap server (see the module docstring).

    Raises :class:`KafkaAuthenticationError` / :class:`KafkaTLSError` at once on a refusal and
    :class:`KafkaUnreachableError` when no server answered within ``timeout_s``.
    """
    s = resolve(kafka)
    if s.kafka_security_protocol == "PLAINTEXT":
        return
    key = _check_key(s)
    if key in _checked:
        return
    from aiokafka.conn import create_conn

    cfg = aiokafka_config(s)
    cfg.pop("bootstrap_servers")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    failures: list[str] = []
    for server in servers(s):
        host, port = _split(server)
        left = deadline - loop.time()
        if left <= 0:
            break
        try:
            conn = await asyncio.wait_for(
                create_conn(host, port, client_id="xd-security-check", request_timeout_ms=int(left * 1000), **cfg),
                timeout=left)
        except asyncio.TimeoutError:
            failures.append(f"{server}: no answer within {timeout_s:g} s")
            continue
        except Exception as exc:  # noqa: BLE001 - sorted below into refusals and unreachable servers
            refused = _refused(s, server, exc)
            if refused is not None:
                raise refused from None
            failures.append(f"{server}: {type(exc).__name__}: {_mask(s, str(exc))}")
            continue
        conn.close()
        with _checked_lock:
            _checked.add(key)
        log.info("kafka: connected %s", describe(s))
        return
    raise KafkaUnreachableError(f"no Kafka bootstrap server answered ({describe(s)}): {'; '.join(failures)}")


def check(kafka: Settings | str, timeout_s: float = CHECK_TIMEOUT_S) -> None:
    """:func:`check_async` from synchronous code (in a helper thread when a loop is running here)."""
    s = resolve(kafka)
    if s.kafka_security_protocol == "PLAINTEXT" or _check_key(s) in _checked:
        return
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(check_async(s, timeout_s))
        return
    error: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(check_async(s, timeout_s))
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            error.append(exc)

    t = threading.Thread(target=run, name="kafka-security-check", daemon=True)
    t.start()
    t.join()
    if error:
        raise error[0]


# ------------------------------------------------------------------------------- client factories

def admin(kafka: Settings | str, **kwargs: Any) -> Any:
    """A checked kafka-python ``KafkaAdminClient`` (``kwargs``: client id, timeouts, ...)."""
    from kafka import KafkaAdminClient

    s = resolve(kafka)
    check(s)
    return KafkaAdminClient(**kafka_python_config(s), **kwargs)


def producer(kafka: Settings | str, **kwargs: Any) -> Any:
    """A checked kafka-python ``KafkaProducer``."""
    from kafka import KafkaProducer

    s = resolve(kafka)
    check(s)
    return KafkaProducer(**kafka_python_config(s), **kwargs)


def consumer(kafka: Settings | str, *topics: str, **kwargs: Any) -> Any:
    """A checked kafka-python ``KafkaConsumer`` (subscribed to ``topics`` if any)."""
    from kafka import KafkaConsumer

    s = resolve(kafka)
    check(s)
    return KafkaConsumer(*topics, **kafka_python_config(s), **kwargs)


def check_topics(kafka: Settings | str, topics: Iterable[str]) -> None:
    """Raise :class:`KafkaAuthorizationError` when the broker's ACLs hide any of ``topics`` from this
    user (secured connections only: kafka-python's consumer would otherwise wait on such a topic
    in silence). A topic that does not exist passes (it may be created later)."""
    s = resolve(kafka)
    names = sorted(set(topics))
    if s.kafka_security_protocol == "PLAINTEXT" or not names:
        return
    client = admin(s, client_id="xd-topic-check", request_timeout_ms=15000)
    try:
        described = client.describe_topics(names)
    finally:
        client.close()
    denied = sorted(t["name"] for t in described if t.get("error_code") == TOPIC_AUTHORIZATION_FAILED)
    if denied:
        raise KafkaAuthorizationError(f"Kafka at {s.kafka_bootstrap} denied {who(s)} access to topic "
                                      f"{', '.join(denied)} (TOPIC_AUTHORIZATION_FAILED): grant the ACLs of "
                                      "docs/kafka-security.md")


# ------------------------------------------------------------------------------------- secrets

class _Redactor:
    """Log-record factory wrapper that masks secrets in the formatted message."""

    def __init__(self, previous: Any) -> None:
        self.previous = previous
        self.secrets: set[str] = set()

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record = self.previous(*args, **kwargs)
        if self.secrets:
            try:
                message = record.getMessage()
            except Exception:  # noqa: BLE001 - a broken format string is the logging module's business
                return record
            masked = message
            for secret in self.secrets:
                masked = masked.replace(secret, "***")
            if masked != message:
                record.msg, record.args = masked, None
        return record


_redactor_lock = threading.Lock()


def redact_logs(secrets: Iterable[str]) -> None:
    """Mask each of ``secrets`` (non-empty, 4+ characters) as ``***`` in every log message of this
    process from now on, whichever library logs it. Idempotent; secrets accumulate."""
    wanted = {x for x in secrets if x and len(x) >= 4}
    if not wanted:
        return
    with _redactor_lock:
        factory = logging.getLogRecordFactory()
        if not isinstance(factory, _Redactor):
            factory = _Redactor(factory)
            logging.setLogRecordFactory(factory)
        factory.secrets |= wanted


def redact_settings_secrets(s: Settings) -> None:
    """:func:`redact_logs` for the Kafka SASL password of ``s`` (the one secret this module handles)."""
    redact_logs([s.kafka_sasl_password])
