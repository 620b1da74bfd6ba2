"""The CLI's Kafka commands honour DETECTOR_TOPIC_PREFIX on their own, like the workers (real broker)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import orjson
import pytest
from kafka import KafkaProducer
from typer.testing import CliRunner

from detector.cli import app
from detector.offline.kafka_range import read_records
from streams.settings import Settings
from streams.topics import ensure_topics, topic_specs
from tests.unit.test_slack import make_alert

pytestmark = pytest.mark.integration


@pytest.fixture
def prefixed(kafka_bootstrap: str, kafka_admin) -> Iterator[Settings]:  # type: ignore[no-untyped-def]
    """Settings with a fresh topic prefix, its topics created, deleted at teardown."""
    settings = Settings(kafka_bootstrap=kafka_bootstrap, topic_prefix=f"it-cli-{uuid.uuid4().hex[:12]}.", partitions=1)
    ensure_topics(settings)
    yield settings
    kafka_admin.delete_topics([s.name for s in topic_specs(settings)], timeout_ms=15000, raise_errors=False)


def test_label_publishes_to_the_prefixed_labels_topic(prefixed: Settings) -> None:
    result = CliRunner().invoke(app, ["label", "--key", "key_1", "--verdict", "confirmed"], env=prefixed.to_env())
    assert result.exit_code == 0, result.output
    (record,) = list(read_records(prefixed.kafka_bootstrap, prefixed.topic("labels")))
    assert record.key == b"key:key_1" and orjson.loads(record.value)["verdict"] == "confirmed"


def test_watch_reads_the_prefixed_alerts_topic(prefixed: Settings) -> None:
    alert = make_alert(7, severity="high")
    producer = KafkaProducer(bootstrap_servers=prefixed.kafka_bootstrap)
    producer.send(prefixed.topic("alerts"), key=alert["subject_id"].encode(), value=orjson.dumps(alert)).get(timeout=30)
    producer.close()
    result = CliRunner().invoke(app, ["watch", "--from-beginning", "--idle", "1"], env=prefixed.to_env())
    assert result.exit_code == 0, result.output
    assert "key_7_0000" in result.output and "throttle" in result.output
