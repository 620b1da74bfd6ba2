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

Topics are created at worker start with the admin client (an existing topic is left alone; a
partition-count mismatch of an internal topic is an error, since the key -> partition mapping and
the epoch barrier depend on it; the input topic may have any number of partitions). Broker
auto-creation is never relied on.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from streams.settings import Settings

log = logging.getLogger(__name__)

TOPIC_ALREADY_EXISTS = 36


@dataclass(frozen=True, slots=True)
class TopicSpec:
    """One topic to create."""

    name: str
    partitions: int
    configs: dict[str, str] = field(default_factory=dict)


def topic_specs(settings: Settings) -> list[TopicSpec]:
    """Every topic of the topology, in creation order."""
    p = settings.partitions
    big = {"max.message.bytes": str(settings.max_message_bytes)}
    compact = {"cleanup.policy": "compact", "min.compaction.lag.ms": "0", "segment.ms": "600000"}
    return [
        TopicSpec(settings.topic("input"), p, dict(big)),
        TopicSpec(settings.topic("dlq"), 1, dict(big)),
        TopicSpec(settings.topic("keyed"), p, dict(big)),
        TopicSpec(settings.topic("summaries"), 1, dict(big)),
        TopicSpec(settings.topic("alerts"), 1),
        TopicSpec(settings.topic("decisions"), 1, dict(compact)),
        TopicSpec(settings.topic("labels"), 1),
        TopicSpec(settings.topic("profiles"), 1, dict(compact)),
    ]


def ensure_topics(settings: Settings, *, timeout_s: float = 120.0) -> list[str]:
    """Create the missing topics; return the names created. Retries while the broker is unreachable.

    Raises ``RuntimeError`` when an existing topic has the wrong partition count.
    """
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    specs = topic_specs(settings)
    deadline = time.monotonic() + timeout_s
    delay = 0.5
    while True:
        try:
            admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap.split(","),
                                     client_id=f"{settings.group_id}-admin", request_timeout_ms=15000)
            try:
                return _create(admin, specs, settings.topic_replication)
            finally:
                admin.close()
        except (KafkaError, OSError) as exc:
            if time.monotonic() > deadline:
                raise
            log.warning("kafka admin not ready (%s); retrying in %.1fs", type(exc).__name__, delay)
            time.sleep(delay)
            delay = min(delay * 2, 5.0)


def _create(admin, specs: list[TopicSpec], replication: int) -> list[str]:  # type: ignore[no-untyped-def]
    request = {s.name: {"num_partitions": s.partitions, "replication_factor": replication, "configs": s.configs}
               for s in specs}
    result = admin.create_topics(request, raise_errors=False, wait_for_metadata=False)
    created: list[str] = []
    for t in result["topics"]:
        code = t["error_code"]
        if code == 0:
            created.append(t["name"])
        elif code != TOPIC_ALREADY_EXISTS:
            raise RuntimeError(f"cannot create topic {t['name']}: error {code} {t.get('error_message')}")
    if created:
        admin.wait_for_topics(created, timeout_ms=30000)
        log.info("created topics: %s", ", ".join(created))
    described = {t["name"]: len(t["partitions"]) for t in admin.describe_topics([s.name for s in specs])}
    for s in specs[2:4]:  # the internal topics; the input may have any partition count
        have = described.get(s.name)
        if have is not None and have != s.partitions:
            raise RuntimeError(f"topic {s.name} has {have} partitions, expected {s.partitions}; "
                               "set DETECTOR_PARTITIONS to match or recreate the topic")
    return created
