"""The one settings loader of every process: env overrides, the topic map, loopback defaults, the webhook secret."""

from __future__ import annotations

import doctest
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest
import yaml

import streams.settings
from detector.outputs.notifier import SlackPoster
from streams.settings import TOPICS, Settings, load_webhook_url

URL = "https://hooks.slack.com/services/T000/B000/s3cr3t"
REPO = Path(__file__).resolve().parents[2]
BIND_VARIABLE = {"worker": "DETECTOR_METRICS_HOST", "notify": "DETECTOR_BIND_HOST", "enforce": "DETECTOR_BIND_HOST"}


def test_module_docstring_example_and_table_cover_every_variable() -> None:
    assert doctest.testmod(streams.settings).failed == 0
    doc = streams.settings.__doc__ or ""
    for f in fields(Settings):
        if f.name != "slack_webhook_url":
            assert f"DETECTOR_{f.name.upper()} " in doc, f"DETECTOR_{f.name.upper()} missing from the table"
    assert "SLACK_WEBHOOK_URL " in doc and "SLACK_WEBHOOK_URL_FILE " in doc


def test_env_overrides_worker_and_service_fields_alike() -> None:
    s = Settings.from_env({
        "DETECTOR_KAFKA_BOOTSTRAP": "k:1",
        "DETECTOR_PARTITIONS": "8",
        "DETECTOR_BATCH_WITHIN_S": "0.25",
        "DETECTOR_NOTIFY_MIN_SEVERITY": "high",
        "DETECTOR_ENFORCER_PORT": "9200",
        "DETECTOR_NOTIFY_GATHER_S": "2.5",
        "DETECTOR_LOG_LEVEL": "",  # empty means the default
    })
    assert (s.kafka_bootstrap, s.partitions, s.batch_within_s) == ("k:1", 8, 0.25)
    assert (s.notify_min_severity, s.enforcer_port, s.notify_gather_s, s.log_level) == ("high", 9200, 2.5, "INFO")
    assert s.slack_webhook_url == ""
    assert Settings.from_env({"DETECTOR_PARTITIONS": "8"}, partitions=2).partitions == 2  # keywords win


def test_one_prefix_applies_to_every_topic_and_the_replay_hint() -> None:
    s = Settings.from_env({"DETECTOR_TOPIC_PREFIX": "t1.", "DETECTOR_ALERTS_TOPIC": "alerts"})
    names = {which: s.topic(which) for which in TOPICS}
    assert names["alerts"] == "t1.alerts" and names["decisions"] == "t1.extraction-decisions"
    assert all(name.startswith("t1.") for name in names.values()) and len(set(names.values())) == len(TOPICS)
    assert s.replay_source == "--topic t1.gateway-logs"
    assert Settings(notify_replay_source="--format kong x.jsonl").replay_source == "--format kong x.jsonl"
    with pytest.raises(ValueError, match="unknown topic"):
        s.topic("extraction-alerts")


def test_every_bind_address_defaults_to_loopback() -> None:
    hosts = {f.name: f.default for f in fields(Settings) if f.name.endswith("_host")}
    assert hosts == {"metrics_host": "127.0.0.1", "bind_host": "127.0.0.1"}


def _k8s_env(path: Path, configmap: dict[str, str]) -> dict[str, str]:
    (deployment,) = [d for d in yaml.safe_load_all(path.read_text()) if d and d["kind"] == "Deployment"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return {**configmap, **{e["name"]: e.get("value") for e in container.get("env", [])}, "_cmd": container["command"][1]}


def test_deployed_services_listen_on_all_interfaces() -> None:
    configmap = yaml.safe_load((REPO / "deploy/k8s/10-configmap.yaml").read_text())["data"]
    pods = [_k8s_env(REPO / f"deploy/k8s/{name}.yaml", configmap) for name in ("20-worker", "30-notifier", "40-enforcer")]
    compose: dict[str, Any] = yaml.safe_load((REPO / "deploy/compose/docker-compose.yml").read_text())["services"]
    containers = [*pods, *({**compose[n]["environment"], "_cmd": compose[n]["command"][1]}
                           for n in ("worker", "notifier", "enforcer"))]
    for env in containers:
        assert env.get(BIND_VARIABLE[env["_cmd"]]) == "0.0.0.0", f"`detector {env['_cmd']}` binds loopback only"


def test_to_env_round_trips_without_the_secret() -> None:
    s = Settings(topic_prefix="p.", partitions=3, notify_cooldown_s=60.0, datadir="/d", slack_webhook_url=URL)
    env = s.to_env()
    assert all(k.startswith("DETECTOR_") for k in env) and "s3cr3t" not in "".join(env.values())
    assert Settings.from_env(env) == Settings(topic_prefix="p.", partitions=3, notify_cooldown_s=60.0, datadir="/d")


def test_webhook_from_env_or_file_and_never_in_repr(tmp_path: Path) -> None:
    secret_file = tmp_path / "webhook"
    secret_file.write_text(URL + "\n")
    from_file = Settings.from_env({"SLACK_WEBHOOK_URL_FILE": str(secret_file)})
    from_env = Settings.from_env({"SLACK_WEBHOOK_URL": URL})
    assert from_file.slack_webhook_url == from_env.slack_webhook_url == URL
    assert Settings.from_env({"DETECTOR_SLACK_WEBHOOK_URL": URL}).slack_webhook_url == ""  # not a DETECTOR_ variable
    assert "s3cr3t" not in repr(from_env) and "s3cr3t" not in repr(SlackPoster(URL))


@pytest.mark.parametrize(
    "env",
    [{"SLACK_WEBHOOK_URL": URL, "SLACK_WEBHOOK_URL_FILE": "/x"}, {"SLACK_WEBHOOK_URL": "ftp://s3cr3t"}],
)
def test_bad_webhook_config_fails_without_echoing_it(env: dict[str, str]) -> None:
    with pytest.raises(ValueError) as err:
        load_webhook_url(env)
    assert "s3cr3t" not in str(err.value)


def test_malformed_url_is_rejected_without_echoing_it() -> None:
    with pytest.raises(ValueError) as err:
        SlackPoster("http://[s3cr3t")
    assert "s3cr3t" not in str(err.value) and err.value.__context__ is None


@pytest.mark.parametrize(("env", "message"), [
    ({"DETECTOR_NOTIFY_MIN_SEVERITY": "urgent"}, "DETECTOR_NOTIFY_MIN_SEVERITY"),
    ({"DETECTOR_NOTIFY_OFFSET_RESET": "none"}, "DETECTOR_NOTIFY_OFFSET_RESET"),
    ({"DETECTOR_PARTITIONS": "0"}, "DETECTOR_PARTITIONS"),
    ({"DETECTOR_BATCH_SIZE": "many"}, "DETECTOR_BATCH_SIZE: expected int"),
    ({"DETECTOR_NOTIFY_COOLDOWN_S": "7200", "DETECTOR_NOTIFY_DEDUPE_TTL_S": "3600"}, "DEDUPE_TTL_S"),
])
def test_invalid_values_are_rejected_naming_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Settings.from_env(env)
