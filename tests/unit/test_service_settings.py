"""Settings of the notifier and enforcer: env overrides and the secret webhook URL."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.notifier import SlackPoster
from streams.service_settings import Settings, load_webhook_url

URL = "https://hooks.slack.com/services/T000/B000/s3cr3t"


def test_defaults_and_env_overrides() -> None:
    s = Settings.from_env({
        "DETECTOR_KAFKA_BOOTSTRAP": "k:1",
        "DETECTOR_NOTIFY_MIN_SEVERITY": "high",
        "DETECTOR_ENFORCER_PORT": "9200",
        "DETECTOR_NOTIFY_GATHER_S": "2.5",
    })
    assert (s.kafka_bootstrap, s.notify_min_severity, s.enforcer_port, s.notify_gather_s) == ("k:1", "high", 9200, 2.5)
    assert (s.alerts_topic, s.decisions_topic, s.slack_webhook_url) == ("extraction-alerts", "extraction-decisions", "")


def test_webhook_from_env_or_file_and_never_in_repr(tmp_path: Path) -> None:
    secret_file = tmp_path / "webhook"
    secret_file.write_text(URL + "\n")
    from_file = Settings.from_env({"SLACK_WEBHOOK_URL_FILE": str(secret_file)})
    from_env = Settings.from_env({"SLACK_WEBHOOK_URL": URL})
    assert from_file.slack_webhook_url == from_env.slack_webhook_url == URL
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


@pytest.mark.parametrize("env", [{"DETECTOR_NOTIFY_MIN_SEVERITY": "urgent"}, {"DETECTOR_NOTIFY_OFFSET_RESET": "none"}])
def test_invalid_values_are_rejected(env: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        Settings.from_env(env)
