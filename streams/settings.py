"""Settings of every live process (``DETECTOR_*`` environment variables), with one topic map.

What: one frozen :class:`Settings` that the worker, ``detector notify``, ``detector enforce``,
``detector watch``, ``detector label``, ``detector profiles publish``, ``python -m detector.offline.feed``
and topic creation (:mod:`streams.topics`) all load with :meth:`Settings.from_env`. Every topic
name goes through :meth:`Settings.topic`, so ``DETECTOR_TOPIC_PREFIX`` applies to every process
alike. These are the knobs that move bytes; the knobs that *decide* (windows, thresholds, ...)
live in :class:`detector.config.Config` (:meth:`Config.from_env`), shared by live and replay.

Every address defaults to loopback: nothing listens on other interfaces unless asked. A pod or
container sets ``DETECTOR_METRICS_HOST=0.0.0.0`` (worker) and ``DETECTOR_BIND_HOST=0.0.0.0``
(notifier, enforcer) explicitly, as ``deploy/k8s`` and ``deploy/compose`` do.

==============================  ==============================  ==============================================
variable                        default                         meaning
==============================  ==============================  ==============================================
*connections*
DETECTOR_KAFKA_BOOTSTRAP        127.0.0.1:19092                 Kafka bootstrap servers (comma list)
DETECTOR_REDIS_URL              redis://127.0.0.1:16379/0       Redis URL (``rediss://`` for TLS); credentials
                                                                go in the variables below, not in the URL
DETECTOR_REDIS_USERNAME         (empty: ``default``)            Redis ACL user (``docs/security.md``)
DETECTOR_REDIS_PASSWORD         (empty)                         its password (secret), or:
DETECTOR_REDIS_PASSWORD_FILE    (empty)                         a file holding it (a mounted Secret)
DETECTOR_REDIS_CA_FILE          (empty: system CAs)             PEM CA bundle that verifies the Redis server
DETECTOR_REDIS_CERT_FILE        (empty)                         client certificate (PEM) for mutual TLS ...
DETECTOR_REDIS_KEY_FILE         (empty)                         ... and its private key (PEM)
DETECTOR_KAFKA_SECURITY_PROTOCOL PLAINTEXT                      PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL
DETECTOR_KAFKA_SASL_MECHANISM   SCRAM-SHA-512                   SCRAM-SHA-512, SCRAM-SHA-256 or PLAIN (SASL_*)
DETECTOR_KAFKA_SASL_USERNAME    (empty)                         SASL user (required with SASL_*)
DETECTOR_KAFKA_SASL_PASSWORD    (empty)                         its password (secret), or:
DETECTOR_KAFKA_SASL_PASSWORD_FILE (empty)                       a file holding it (a mounted Secret)
DETECTOR_KAFKA_CA_FILE          (empty: system CAs)             PEM CA bundle that verifies the brokers (TLS)
DETECTOR_KAFKA_CERT_FILE        (empty)                         client certificate (PEM) for mutual TLS ...
DETECTOR_KAFKA_KEY_FILE         (empty)                         ... and its unencrypted private key (PEM)
DETECTOR_KAFKA_CHECK_HOSTNAME   true                            check the broker certificate names the host
*topics* (full name = DETECTOR_TOPIC_PREFIX + name)
DETECTOR_TOPIC_PREFIX           (empty)                         prepended to every topic name (tests, tenants)
DETECTOR_INPUT_TOPIC            gateway-logs                    gateway records (one, JSON array or NDJSON)
DETECTOR_DLQ_TOPIC              gateway-logs-dlq                rejected records, original bytes + headers
DETECTOR_KEYED_TOPIC            xd-keyed                        internal: feature rows by key partition
DETECTOR_SUMMARIES_TOPIC        xd-summaries                    internal: window summaries + epoch markers
DETECTOR_ALERTS_TOPIC           extraction-alerts               alert JSON, key = subject id
DETECTOR_DECISIONS_TOPIC        extraction-decisions            compacted; key = ``key:<id>``/``cluster:<id>``
DETECTOR_LABELS_TOPIC           extraction-labels               analyst verdicts (``detector label``), input
DETECTOR_PROFILES_TOPIC         account-profiles                compacted; account profiles, key = account_id
DETECTOR_INPUT_FORMAT           canonical                       format of the input topic's records: canonical,
                                                                litellm, otel or kong (a message's own
                                                                ``x-input-format`` header overrides it)
DETECTOR_PARTITIONS             4                               partitions of the input and ``xd-keyed`` topics
DETECTOR_TOPIC_REPLICATION      1                               replication factor of created topics
DETECTOR_MAX_MESSAGE_BYTES      8388608                         max.message.bytes of input/DLQ, producer limit
*worker* (``detector worker``)
DETECTOR_GROUP_ID               extraction-detector             Faust app id = Kafka consumer group
DETECTOR_BATCH_SIZE             500                             Kafka messages per agent batch (``take_events``)
DETECTOR_BATCH_WITHIN_S         0.5                             max seconds to wait filling a batch
DETECTOR_ROWS_PER_MESSAGE       2000                            max feature rows per ``xd-keyed`` message
DETECTOR_SUMMARIES_PER_MESSAGE  400                             max summaries per ``xd-summaries`` message
DETECTOR_SESSION_TIMEOUT_S      30                              group session timeout (crash -> takeover)
DETECTOR_METRICS_HOST           127.0.0.1                       bind address of ``/metrics`` and ``/healthz``
DETECTOR_METRICS_PORT           9108                            0 disables the HTTP endpoint
DETECTOR_LOG_LEVEL              INFO                            worker log level
DETECTOR_DATADIR                <tmp>/xd-faust-<group id>       Faust's local data directory (no tables kept)
*output services* (``detector notify``, ``detector enforce``)
DETECTOR_BIND_HOST              127.0.0.1                       bind address of the notifier's ``/metrics``
                                                                and the enforcer's HTTP API
DETECTOR_NOTIFY_GROUP           extraction-notifier             notifier consumer group
DETECTOR_NOTIFY_OFFSET_RESET    latest                          where a brand-new group starts (or earliest)
DETECTOR_NOTIFY_MIN_SEVERITY    medium                          low, medium, high or critical
DETECTOR_NOTIFY_COOLDOWN_S      900                             quiet time per subject after a notification
DETECTOR_NOTIFY_DEDUPE_TTL_S    86400                           how long a handled alert id is remembered
                                                                (at least the cooldown)
DETECTOR_NOTIFY_REDIS_PREFIX    xd:notify:                      Redis keys of the notifier's dedupe/cooldowns
DETECTOR_NOTIFY_GATHER_S        10                              gather window before posting (digest or not)
DETECTOR_NOTIFY_DIGEST_OVER     5                               more alerts than this in a window: one digest
DETECTOR_NOTIFY_REPLAY_SOURCE   ``--topic <input topic>``       log source in the Slack replay command
DETECTOR_NOTIFY_RATE_PER_S      1                               Slack posts per second per webhook
DETECTOR_NOTIFY_MAX_ATTEMPTS    8                               transient Slack failures before giving up
DETECTOR_NOTIFY_METRICS_PORT    0                               notifier ``/metrics`` port; 0 = none
SLACK_WEBHOOK_URL               (empty)                         Slack incoming webhook (secret), or:
SLACK_WEBHOOK_URL_FILE          (empty)                         a file holding it (a mounted Secret)
DETECTOR_ENFORCER_PORT          9109                            enforcer HTTP port (0 = any free port)
DETECTOR_ENFORCER_REDIS_PREFIX  xd:enf:                         Redis keys of the enforcer's decisions
*HTTP endpoints* (worker ``/metrics`` + ``/healthz``, notifier ``/metrics``, enforcer API + ``/metrics``)
DETECTOR_HTTP_TOKEN_FILE        (empty: no token)               a file holding a bearer token: requests without
                                                                ``Authorization: Bearer <token>`` get 401;
                                                                ``/healthz`` stays open (status only)
DETECTOR_HTTP_TOKEN             (empty)                         the token itself (secret; prefer the file)
==============================  ==============================  ==============================================

Assumptions: an unset or empty variable means the default. The webhook URL is a secret: it is
not a ``DETECTOR_*`` variable, never appears in ``repr`` or :meth:`Settings.to_env`, and errors
never echo it. Cost: none at run time (the webhook file is read once, in ``from_env``).

Failure modes: ``ValueError`` naming the variable on an unparsable number, ``DETECTOR_PARTITIONS``
below 1, an unknown severity or offset reset, a dedupe TTL shorter than the cooldown, both or a
non-http(s) webhook source; ``OSError`` on an unreadable webhook file. A missing webhook is an
error only for the notifier (:func:`detector.outputs.notifier.run_notifier`).

Redis password and HTTP token: secrets like the webhook (``repr=False``, left out of
:meth:`Settings.to_env`; :meth:`Settings.secret_env` hands them to a child process), read once in
``from_env`` from ``DETECTOR_<NAME>`` or, better, the file named by ``DETECTOR_<NAME>_FILE``
(surrounding whitespace ignored). ``ValueError`` naming the variable (never the value) when both are
set, the file is unreadable or empty, a TLS file is given with a ``redis://`` URL, only one of the
client certificate and key is given, or credentials are both in the URL and in the variables.

Kafka security: every Kafka client of every process is built from these settings by
:mod:`streams.kafka_security` (kafka-python, aiokafka and Faust options, the TLS context). The SASL
password is a secret like the Redis password (``DETECTOR_KAFKA_SASL_PASSWORD`` or, better,
``DETECTOR_KAFKA_SASL_PASSWORD_FILE``). ``ValueError`` naming the variable, never the value: an unknown
protocol or mechanism, SASL without user or password, a user or password without SASL, TLS files
without SSL/SASL_SSL, only one of the client certificate and key.

>>> s = Settings.from_env({"DETECTOR_PARTITIONS": "8", "DETECTOR_TOPIC_PREFIX": "t1."})
>>> s.partitions, s.topic("input"), s.topic("alerts"), s.replay_source
(8, 't1.gateway-logs', 't1.extraction-alerts', '--topic t1.gateway-logs')
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from detector.outputs.slack import SEVERITY_RANK

TOPICS: tuple[str, ...] = ("input", "dlq", "keyed", "summaries", "alerts", "decisions", "labels", "profiles")
_SECRET_FIELDS = frozenset({"slack_webhook_url"})


def load_webhook_url(env: Mapping[str, str]) -> str:
    """The webhook URL from ``SLACK_WEBHOOK_URL`` or the file named by ``SLACK_WEBHOOK_URL_FILE``.

    Returns ``""`` when neither is set. Raises ``ValueError`` (never echoing the value) when both
    are set or the value is not an http(s) URL.
    """
    direct = env.get("SLACK_WEBHOOK_URL", "").strip()
    path = env.get("SLACK_WEBHOOK_URL_FILE", "").strip()
    if direct and path:
        raise ValueError("set only one of SLACK_WEBHOOK_URL or SLACK_WEBHOOK_URL_FILE")
    url = direct or (Path(path).read_text().strip() if path else "")
    if url and not url.startswith(("https://", "http://")):
        raise ValueError("the Slack webhook URL must start with https:// (value hidden)")
    return url


# Secrets read from DETECTOR_<NAME> or the file named by DETECTOR_<NAME>_FILE (field <name>_file).
_FILE_SECRETS = {"redis_password": "DETECTOR_REDIS_PASSWORD", "http_token": "DETECTOR_HTTP_TOKEN"}
_SECRET_FIELDS = _SECRET_FIELDS | frozenset(_FILE_SECRETS)
# The Kafka SASL password: the same kind of secret (streams/kafka_security.py uses it).
_FILE_SECRETS["kafka_sasl_password"] = "DETECTOR_KAFKA_SASL_PASSWORD"
_SECRET_FIELDS = _SECRET_FIELDS | {"kafka_sasl_password"}


def load_secret(env: Mapping[str, str], variable: str, path: str = "") -> str:
    """The secret in ``variable`` or in the file ``path`` (from ``<variable>_FILE``); ``""`` if neither.

    Raises ``ValueError`` naming the variable, never the value: both set, file unreadable or empty.
    """
    direct = env.get(variable, "").strip()
    if direct and path:
        raise ValueError(f"set only one of {variable} or {variable}_FILE")
    if not path:
        return direct
    try:
        value = Path(path).read_text().strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"{variable}_FILE: cannot read {path} ({type(exc).__name__})") from None
    if not value:
        raise ValueError(f"{variable}_FILE: {path} is empty")
    return value


def _check_redis(s: Settings) -> None:
    """Settings of Redis TLS/credentials that cannot work together (see the module docstring)."""
    from urllib.parse import urlsplit

    tls_files = [s.redis_ca_file, s.redis_cert_file, s.redis_key_file]
    if any(tls_files) and not s.redis_url.startswith("rediss://"):
        raise ValueError("DETECTOR_REDIS_CA_FILE/CERT_FILE/KEY_FILE need a rediss:// DETECTOR_REDIS_URL")
    if bool(s.redis_cert_file) != bool(s.redis_key_file):
        raise ValueError("set both DETECTOR_REDIS_CERT_FILE and DETECTOR_REDIS_KEY_FILE (mutual TLS), or neither")
    try:
        url = urlsplit(s.redis_url)
        in_url = bool(url.username or url.password)
    except ValueError:
        raise ValueError("DETECTOR_REDIS_URL is not a valid URL (value hidden)") from None
    if in_url and (s.redis_username or s.redis_password or s.redis_password_file):
        raise ValueError("Redis credentials are both in DETECTOR_REDIS_URL and in DETECTOR_REDIS_USERNAME/"
                         "PASSWORD[_FILE]; set them in one place (values hidden)")


KAFKA_PROTOCOLS: tuple[str, ...] = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
KAFKA_SASL_MECHANISMS: tuple[str, ...] = ("SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN")


def _check_kafka_security(s: Settings) -> None:
    """Kafka security settings that cannot work (see the module docstring); never echoes a secret."""
    protocol = s.kafka_security_protocol
    if protocol not in KAFKA_PROTOCOLS:
        raise ValueError(f"DETECTOR_KAFKA_SECURITY_PROTOCOL must be one of {', '.join(KAFKA_PROTOCOLS)}")
    if s.kafka_sasl_mechanism not in KAFKA_SASL_MECHANISMS:
        raise ValueError(f"DETECTOR_KAFKA_SASL_MECHANISM must be one of {', '.join(KAFKA_SASL_MECHANISMS)}")
    sasl = protocol.startswith("SASL_")
    if sasl and not (s.kafka_sasl_username and s.kafka_sasl_password):
        raise ValueError(f"DETECTOR_KAFKA_SECURITY_PROTOCOL={protocol} needs DETECTOR_KAFKA_SASL_USERNAME and "
                         "DETECTOR_KAFKA_SASL_PASSWORD or DETECTOR_KAFKA_SASL_PASSWORD_FILE")
    if not sasl and (s.kafka_sasl_username or s.kafka_sasl_password or s.kafka_sasl_password_file):
        raise ValueError("DETECTOR_KAFKA_SASL_USERNAME/PASSWORD[_FILE] are set but DETECTOR_KAFKA_SECURITY_PROTOCOL "
                         f"is {protocol}: use SASL_SSL (or SASL_PLAINTEXT) so they are used (values hidden)")
    if not protocol.endswith("SSL") and (s.kafka_ca_file or s.kafka_cert_file or s.kafka_key_file):
        raise ValueError(f"DETECTOR_KAFKA_CA_FILE/CERT_FILE/KEY_FILE need DETECTOR_KAFKA_SECURITY_PROTOCOL SSL or "
                         f"SASL_SSL, not {protocol}")
    if bool(s.kafka_cert_file) != bool(s.kafka_key_file):
        raise ValueError("set both DETECTOR_KAFKA_CERT_FILE and DETECTOR_KAFKA_KEY_FILE (mutual TLS), or neither")


def _parse_bool(name: str, raw: str) -> bool:
    """``true/false``, ``1/0``, ``yes/no``, ``on/off`` (any case) of variable ``name``."""
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{name}: expected true or false")


@dataclass(frozen=True, slots=True)
class Settings:
    """Settings of every live process; field ``x`` is ``DETECTOR_X`` (see the module docstring)."""

    # connections
    kafka_bootstrap: str = "127.0.0.1:19092"
    redis_url: str = "redis://127.0.0.1:16379/0"
    redis_username: str = ""
    redis_password: str = field(default="", repr=False)
    redis_password_file: str = ""
    redis_ca_file: str = ""
    redis_cert_file: str = ""
    redis_key_file: str = ""
    kafka_security_protocol: str = "PLAINTEXT"
    kafka_sasl_mechanism: str = "SCRAM-SHA-512"
    kafka_sasl_username: str = ""
    kafka_sasl_password: str = field(default="", repr=False)
    kafka_sasl_password_file: str = ""
    kafka_ca_file: str = ""
    kafka_cert_file: str = ""
    kafka_key_file: str = ""
    kafka_check_hostname: bool = True
    # topics
    topic_prefix: str = ""
    input_topic: str = "gateway-logs"
    dlq_topic: str = "gateway-logs-dlq"
    keyed_topic: str = "xd-keyed"
    summaries_topic: str = "xd-summaries"
    alerts_topic: str = "extraction-alerts"
    decisions_topic: str = "extraction-decisions"
    labels_topic: str = "extraction-labels"
    profiles_topic: str = "account-profiles"
    input_format: str = "canonical"
    partitions: int = 4
    topic_replication: int = 1
    max_message_bytes: int = 8 * 1024 * 1024
    # worker
    group_id: str = "extraction-detector"
    batch_size: int = 500
    batch_within_s: float = 0.5
    rows_per_message: int = 2000
    summaries_per_message: int = 400
    session_timeout_s: float = 30.0
    metrics_host: str = "127.0.0.1"
    metrics_port: int = 9108
    log_level: str = "INFO"
    datadir: str = ""
    # output services
    bind_host: str = "127.0.0.1"
    notify_group: str = "extraction-notifier"
    notify_offset_reset: str = "latest"
    notify_min_severity: str = "medium"
    notify_cooldown_s: float = 900.0
    notify_dedupe_ttl_s: float = 86400.0
    notify_redis_prefix: str = "xd:notify:"
    notify_gather_s: float = 10.0
    notify_digest_over: int = 5
    notify_replay_source: str = ""
    notify_rate_per_s: float = 1.0
    notify_max_attempts: int = 8
    notify_metrics_port: int = 0
    slack_webhook_url: str = field(default="", repr=False)
    enforcer_port: int = 9109
    enforcer_redis_prefix: str = "xd:enf:"
    # HTTP endpoints
    http_token: str = field(default="", repr=False)
    http_token_file: str = ""

    def __post_init__(self) -> None:
        if self.partitions < 1:
            raise ValueError("DETECTOR_PARTITIONS must be at least 1")
        if self.notify_min_severity not in SEVERITY_RANK:
            raise ValueError(f"DETECTOR_NOTIFY_MIN_SEVERITY must be one of {sorted(SEVERITY_RANK)}")
        if self.notify_offset_reset not in ("earliest", "latest"):
            raise ValueError("DETECTOR_NOTIFY_OFFSET_RESET must be 'earliest' or 'latest'")
        if not 0 <= self.notify_cooldown_s <= self.notify_dedupe_ttl_s:
            raise ValueError("need 0 <= DETECTOR_NOTIFY_COOLDOWN_S <= DETECTOR_NOTIFY_DEDUPE_TTL_S")
        _check_redis(self)
        _check_kafka_security(self)

    def topic(self, which: str) -> str:
        """Full name of a topic: the prefix plus the name of ``which``, one of :data:`TOPICS`."""
        if which not in TOPICS:
            raise ValueError(f"unknown topic {which!r}; expected one of {', '.join(TOPICS)}")
        return self.topic_prefix + getattr(self, f"{which}_topic")

    @property
    def replay_source(self) -> str:
        """The log source of the replay command in Slack messages (default: the input topic)."""
        return self.notify_replay_source or f"--topic {shlex.quote(self.topic('input'))}"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Defaults, overridden by non-empty ``DETECTOR_<FIELD>`` variables (and the Slack webhook
        variables), then by keyword arguments."""
        env = os.environ if env is None else env
        values: dict[str, object] = {}
        for f in fields(cls):
            name = f"DETECTOR_{f.name.upper()}"
            raw = env.get(name, "")
            if not raw or f.name in _SECRET_FIELDS:
                continue
            kind = type(f.default)
            try:
                values[f.name] = raw if kind is str else _parse_bool(name, raw) if kind is bool else kind(raw)
            except ValueError:
                raise ValueError(f"{name}: expected {kind.__name__}") from None
        if "slack_webhook_url" not in overrides:
            values["slack_webhook_url"] = load_webhook_url(env)
        for name, variable in _FILE_SECRETS.items():
            if name not in overrides:
                path = overrides.get(f"{name}_file", values.get(f"{name}_file", ""))
                values[name] = load_secret(env, variable, str(path))
        return replace(cls(), **{**values, **overrides})  # type: ignore[arg-type]

    def to_env(self) -> dict[str, str]:
        """The ``DETECTOR_*`` variables that reproduce these settings (for a subprocess); the
        webhook secret is left out."""
        return {f"DETECTOR_{f.name.upper()}": str(getattr(self, f.name))
                for f in fields(self) if f.name not in _SECRET_FIELDS}

    def secret_env(self) -> dict[str, str]:
        """The Redis password and HTTP token for a child process's environment: empty when they come
        from a file (the child reads the file named in :meth:`to_env`), the value otherwise."""
        return {variable: "" if getattr(self, f"{name}_file") else getattr(self, name)
                for name, variable in _FILE_SECRETS.items()}
