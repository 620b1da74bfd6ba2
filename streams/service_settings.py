"""Settings of the two output services, ``detector notify`` and ``detector enforce``.

What: one frozen :class:`Settings` dataclass; :meth:`Settings.from_env` overrides each default
with ``DETECTOR_<FIELD NAME IN CAPITALS>`` (e.g. ``DETECTOR_KAFKA_BOOTSTRAP``,
``DETECTOR_NOTIFY_MIN_SEVERITY``, ``DETECTOR_ENFORCER_PORT``) and reads the Slack webhook from
``SLACK_WEBHOOK_URL`` or the file named by ``SLACK_WEBHOOK_URL_FILE``.

Defaults (loopback, matching ``deploy/local``): Kafka ``127.0.0.1:19092``, Redis
``redis://127.0.0.1:16379/0``, topics ``extraction-alerts`` / ``extraction-decisions``, HTTP
and metrics servers bound to ``127.0.0.1`` (set ``DETECTOR_BIND_HOST=0.0.0.0`` in a pod).

Assumptions: the webhook URL is a secret; it never appears in ``repr`` and errors never echo it.
Cost: none at run time. Failure modes: ``ValueError`` on an unparsable number, an unknown
severity, both or a non-http(s) webhook source; a missing webhook is an error only for the
notifier (:func:`streams.notifier.run_notifier`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from detector.slack import DEFAULT_REPLAY_SOURCE, SEVERITY_RANK


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


@dataclass(frozen=True, slots=True)
class Settings:
    """Configuration of the notifier and the enforcer (fields map to ``DETECTOR_<NAME>``)."""

    kafka_bootstrap: str = "127.0.0.1:19092"
    redis_url: str = "redis://127.0.0.1:16379/0"
    alerts_topic: str = "extraction-alerts"
    decisions_topic: str = "extraction-decisions"
    bind_host: str = "127.0.0.1"
    # notifier
    notify_group: str = "extraction-notifier"
    notify_offset_reset: str = "latest"  # where a brand-new consumer group starts
    notify_min_severity: str = "medium"
    notify_cooldown_s: float = 900.0
    notify_gather_s: float = 10.0
    notify_digest_over: int = 5
    notify_replay_source: str = DEFAULT_REPLAY_SOURCE
    notify_rate_per_s: float = 1.0
    notify_max_attempts: int = 8
    notify_metrics_port: int = 0  # 0 = no /metrics server
    slack_webhook_url: str = field(default="", repr=False)
    # enforcer
    enforcer_port: int = 9109
    enforcer_redis_prefix: str = "xd:enf:"

    def __post_init__(self) -> None:
        if self.notify_min_severity not in SEVERITY_RANK:
            raise ValueError(f"notify_min_severity must be one of {sorted(SEVERITY_RANK)}")
        if self.notify_offset_reset not in ("earliest", "latest"):
            raise ValueError("notify_offset_reset must be 'earliest' or 'latest'")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Defaults overridden by ``DETECTOR_<FIELD>`` variables and the Slack webhook variables."""
        env = os.environ if env is None else env
        defaults = cls()
        overrides: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(f"DETECTOR_{f.name.upper()}")
            if raw and f.name != "slack_webhook_url":
                overrides[f.name] = type(getattr(defaults, f.name))(raw)
        return replace(defaults, slack_webhook_url=load_webhook_url(env), **overrides)
