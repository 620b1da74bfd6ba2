"""Connection and plumbing settings of the live workers (``DETECTOR_*`` environment variables).

These are the knobs that move bytes: where Kafka and Redis are, topic names, partition count,
batch sizes, the metrics port. The knobs that *decide* (window sizes, thresholds, ...) live in
:class:`detector.config.Config` and are read by :meth:`Config.from_env`, so live and replay share them.

===============================  ===============================  =============================================
variable                          default                          meaning
===============================  ===============================  =============================================
DETECTOR_KAFKA_BOOTSTRAP          127.0.0.1:19092                  Kafka bootstrap servers (comma list)
DETECTOR_REDIS_URL                redis://127.0.0.1:16379/0        Redis URL (``rediss://`` for TLS, AUTH in URL)
DETECTOR_PARTITIONS               4                                partitions of the input and ``xd-keyed`` topics
DETECTOR_GROUP_ID                 extraction-detector              Faust app id = Kafka consumer group
DETECTOR_TOPIC_PREFIX             (empty)                          prepended to every topic name (tests, tenants)
DETECTOR_INPUT_TOPIC              gateway-logs                     gateway records (one, JSON array or NDJSON)
DETECTOR_DLQ_TOPIC                gateway-logs-dlq                 rejected records, original bytes + headers
DETECTOR_KEYED_TOPIC              xd-keyed                         internal: feature rows by key partition
DETECTOR_SUMMARIES_TOPIC          xd-summaries                     internal: window summaries + epoch markers
DETECTOR_ALERTS_TOPIC             extraction-alerts                alert JSON, key = subject id
DETECTOR_DECISIONS_TOPIC          extraction-decisions             compacted; key = ``key:<id>``/``cluster:<id>``
DETECTOR_LABELS_TOPIC             extraction-labels                analyst verdicts (``detector label``), input
DETECTOR_PROFILES_TOPIC           account-profiles                 compacted; account profiles, key = account_id
DETECTOR_TOPIC_REPLICATION        1                                replication factor of created topics
DETECTOR_BATCH_SIZE               500                              Kafka messages per agent batch (``take_events``)
DETECTOR_BATCH_WITHIN_S           0.5                              max seconds to wait filling a batch
DETECTOR_ROWS_PER_MESSAGE         2000                             max feature rows per ``xd-keyed`` message
DETECTOR_SUMMARIES_PER_MESSAGE    400                              max summaries per ``xd-summaries`` message
DETECTOR_MAX_MESSAGE_BYTES        8388608                          max.message.bytes of input/DLQ, producer limit
DETECTOR_SESSION_TIMEOUT_S        30                               group session timeout (crash -> takeover)
DETECTOR_METRICS_HOST             0.0.0.0                          bind address of ``/metrics`` and ``/healthz``
DETECTOR_METRICS_PORT             9108                             0 disables the HTTP endpoint
DETECTOR_LOG_LEVEL                INFO                             worker log level
DETECTOR_DATADIR                  <tmp>/xd-faust-<group id>        Faust's local data directory (no tables kept)
===============================  ===============================  =============================================

>>> s = Settings.from_env({"DETECTOR_PARTITIONS": "8", "DETECTOR_TOPIC_PREFIX": "t1."})
>>> s.partitions, s.topic("input")
(8, 't1.gateway-logs')
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace

_TOPIC_FIELDS = ("input", "dlq", "keyed", "summaries", "alerts", "decisions", "labels", "profiles")


@dataclass(frozen=True, slots=True)
class Settings:
    """Plumbing settings of a live worker; see the module docstring for the variables."""

    kafka_bootstrap: str = "127.0.0.1:19092"
    redis_url: str = "redis://127.0.0.1:16379/0"
    partitions: int = 4
    group_id: str = "extraction-detector"
    topic_prefix: str = ""
    input_topic: str = "gateway-logs"
    dlq_topic: str = "gateway-logs-dlq"
    keyed_topic: str = "xd-keyed"
    summaries_topic: str = "xd-summaries"
    alerts_topic: str = "extraction-alerts"
    decisions_topic: str = "extraction-decisions"
    labels_topic: str = "extraction-labels"
    profiles_topic: str = "account-profiles"
    topic_replication: int = 1
    batch_size: int = 500
    batch_within_s: float = 0.5
    rows_per_message: int = 2000
    summaries_per_message: int = 400
    max_message_bytes: int = 8 * 1024 * 1024
    session_timeout_s: float = 30.0
    metrics_host: str = "0.0.0.0"
    metrics_port: int = 9108
    log_level: str = "INFO"
    datadir: str = ""

    def topic(self, which: str) -> str:
        """Full name of a topic: ``which`` is one of input, dlq, keyed, summaries, alerts, decisions,
        labels or profiles."""
        if which not in _TOPIC_FIELDS:
            raise ValueError(f"unknown topic {which!r}; expected one of {', '.join(_TOPIC_FIELDS)}")
        return self.topic_prefix + getattr(self, f"{which}_topic")

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides: object) -> Settings:
        """Defaults, overridden by ``DETECTOR_<FIELD>`` variables, then by keyword arguments."""
        env = dict(os.environ if env is None else env)
        values: dict[str, object] = {}
        for f in fields(cls):
            raw = env.get(f"DETECTOR_{f.name.upper()}")
            if raw is None:
                continue
            default = f.default
            try:
                values[f.name] = type(default)(raw) if not isinstance(default, str) else raw
            except ValueError:
                raise ValueError(f"DETECTOR_{f.name.upper()}: expected {type(default).__name__}") from None
        settings = replace(cls(), **values, **overrides)  # type: ignore[arg-type]
        if settings.partitions < 1:
            raise ValueError("DETECTOR_PARTITIONS must be at least 1")
        return settings

    def to_env(self) -> dict[str, str]:
        """The ``DETECTOR_*`` variables that reproduce these settings (for a worker subprocess)."""
        return {f"DETECTOR_{f.name.upper()}": str(getattr(self, f.name)) for f in fields(self)}
