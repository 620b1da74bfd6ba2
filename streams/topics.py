"""The topology's topics: names, partition counts, configs; created explicitly and idempotently.

==================  ==========  ===========================================================
topic               partitions  what
==================  ==========  ===========================================================
gateway-logs        P           input: one record, a JSON array or NDJSON per message, plus
                                control messages ``{"__watermark__": <epoch ms>}``
gateway-logs-dlq    1           rejected records (original bytes) with ``x-reject-*`` headers
xd-keyed            P           internal: feature rows (no text) by partition of api_key_id
xd-summaries        1           internal: window summaries and epoch markers, in order
extraction-alerts   1           alert JSON, key = subject id
extraction-decisions 1          compacted; key ``key:<id>``/``cluster:<id>``, null = lifted
extraction-labels   1           input: analyst verdicts (``detector label``)
account-profiles    1           input, compacted: account profiles, key = account_id, null = deleted
==================  ==========  ===========================================================

Names are unprefixed here: each is ``DETECTOR_TOPIC_PREFIX`` plus its ``DETECTOR_<WHICH>_TOPIC``
name (:meth:`streams.settings.Settings.topic`); partition counts of ``P`` are ``DETECTOR_PARTITIONS``.
Topics are created at worker start with the admin client (an existing topic is left alone; a
partition-count mismatch of an internal topic is an error, since the key -> partition mapping and
the epoch barrier depend on it; the input topic may have any number of partitions). Broker
auto-creation is never relied on.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from streams.settings import TOPICS, Settings

log = logging.getLogger(__name__)

TOPIC_ALREADY_EXISTS = 36
TOPIC_AUTHORIZATION_FAILED = 29


@dataclass(frozen=True, slots=True)
class TopicSpec:
    """One topic to create."""

    name: str
    partitions: int
    configs: dict[str, str] = field(default_factory=dict)


def topic_specs(settings: Settings) -> list[TopicSpec]:
    """Every topic of :data:`streams.settings.TOPICS` with its partitions and configs, in that order."""
    p = settings.partitions
    big = {"max.message.bytes": str(settings.max_message_bytes)}
    compact = {"cleanup.policy": "compact", "min.compaction.lag.ms": "0", "segment.ms": "600000"}
    layout: dict[str, tuple[int, dict[str, str]]] = {
        "input": (p, big), "dlq": (1, big), "keyed": (p, big), "summaries": (1, big),
        "alerts": (1, {}), "decisions": (1, compact), "labels": (1, {}), "profiles": (1, compact),
    }
    return [TopicSpec(settings.topic(which), layout[which][0], dict(layout[which][1])) for which in TOPICS]


def ensure_topics(settings: Settings, *, timeout_s: float = 120.0) -> list[str]:
    """Create the missing topics; return the names created. Retries while the broker is unreachable.

    Raises ``RuntimeError`` when an existing topic has the wrong partition count, and
    :class:`streams.kafka_security.KafkaSecurityError` at once when Kafka refuses the login or TLS
    setup, or its ACLs deny CREATE on a topic that does not exist yet (topics an admin made are
    fine without CREATE).
    """
    from kafka.errors import KafkaError

    from streams import kafka_security

    specs = topic_specs(settings)
    internal = [settings.topic("keyed"), settings.topic("summaries")]
    deadline = time.monotonic() + timeout_s
    delay = 0.5
    while True:
        try:
            # refused credentials/TLS raise KafkaSecurityError at once (not retried)
            admin = kafka_security.admin(settings, client_id=f"{settings.group_id}-admin", request_timeout_ms=15000)
            denied_by = f"Kafka at {settings.kafka_bootstrap} denied {kafka_security.who(settings)}"
            try:
                return _create(admin, specs, settings.topic_replication, internal, denied_by)
            finally:
                admin.close()
        except (KafkaError, OSError) as exc:
            if time.monotonic() > deadline:
                raise
            log.warning("kafka admin not ready (%s); retrying in %.1fs", type(exc).__name__, delay)
            time.sleep(delay)
            delay = min(delay * 2, 5.0)


def _create(admin, specs: list[TopicSpec], replication: int,  # type: ignore[no-untyped-def]
            internal: list[str], denied_by: str = "") -> list[str]:
    request = {s.name: {"num_partitions": s.partitions, "replication_factor": replication, "configs": s.configs}
               for s in specs}
    result = admin.create_topics(request, raise_errors=False, wait_for_metadata=False)
    created: list[str] = []
    denied: list[str] = []   # no CREATE permission: fine if the topic exists (an admin made it)
    for t in result["topics"]:
        code = t["error_code"]
        if code == 0:
            created.append(t["name"])
        elif code == TOPIC_AUTHORIZATION_FAILED:
            denied.append(t["name"])
        elif code != TOPIC_ALREADY_EXISTS:
            raise RuntimeError(f"cannot create topic {t['name']}: error {code} {t.get('error_message')}")
    if created:
        admin.wait_for_topics(created, timeout_ms=30000)
        log.info("created topics: %s", ", ".join(created))
    topics = admin.describe_topics([s.name for s in specs])
    missing = sorted(t["name"] for t in topics if t["name"] in denied and t["error_code"] != 0)
    if missing:
        from streams.kafka_security import KafkaAuthorizationError

        raise KafkaAuthorizationError(
            f"{denied_by or 'Kafka denied this client'} CREATE on topics {', '.join(missing)}, which are missing or "
            "not visible to it (TOPIC_AUTHORIZATION_FAILED): create them with an admin user, or grant the ACLs "
            "of docs/kafka-security.md")
    described = {t["name"]: len(t["partitions"]) for t in topics if t["error_code"] == 0}
    for s in specs:  # the internal topics must match; the input may have any partition count
        have = described.get(s.name)
        if s.name in internal and have is not None and have != s.partitions:
            raise RuntimeError(f"topic {s.name} has {have} partitions, expected {s.partitions}; "
                               "set DETECTOR_PARTITIONS to match or recreate the topic")
    return created
