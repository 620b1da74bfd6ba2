"""``detector notify``: extraction alerts from Kafka to a Slack incoming webhook.

What: consumes ``extraction-alerts`` (aiokafka, group ``extraction-notifier``), filters and groups
the alerts with :class:`detector.slack.NotifyPolicy`, renders them with :func:`detector.slack.render`
and posts them with :class:`SlackPoster`. Offsets are committed only once every alert read so far
has been posted, dropped by the policy, or refused permanently by Slack (at-least-once).

Assumptions: one notifier replica per webhook (the token bucket is per process); the webhook URL
is a secret — it is read from ``SLACK_WEBHOOK_URL`` or the file named by
``SLACK_WEBHOOK_URL_FILE``, is hidden from ``repr`` and is never logged (log lines say
"webhook configured (host hidden)"; errors log only the exception class or Slack's error code).

Cost: one HTTP POST per notification, at most ``rate_per_s`` (default 1/s) per webhook; policy
state is O(subjects notified within the cooldown).

Failure modes:
* HTTP 429: waits ``Retry-After`` (capped at ``max_retry_after_s``, default 120 s) before the next post.
* 5xx, timeouts, connection errors: retried with exponential backoff and bounded, seeded jitter
  (delay in [d/2, d], d = min(cap, base·2^(attempt-1))). After ``max_attempts`` the notifier raises
  :class:`SlackUnavailable` *without committing*, so the alerts are redelivered after a restart.
* Other 4xx/3xx (``invalid_payload``, ``channel_not_found``, ``channel_is_archived``,
  ``action_prohibited``, ``no_service``, ``invalid_token``, …): permanent, not retried, counted in
  ``extdet_slack_posts_total{status="permanent"}`` and logged with Slack's error code only.
* Alerts that do not match ``extraction.alert/v1`` are counted and skipped (unknown extra fields
  are tolerated, as the contract requires).
* Policy state (dedupe, cooldown) is in memory: a restart can repost an alert once.

Settings: :class:`streams.service_settings.Settings` (``DETECTOR_KAFKA_BOOTSTRAP``,
``DETECTOR_ALERTS_TOPIC=extraction-alerts``, ``DETECTOR_NOTIFY_GROUP=extraction-notifier``,
``DETECTOR_NOTIFY_OFFSET_RESET=latest``, ``DETECTOR_NOTIFY_MIN_SEVERITY=medium``,
``DETECTOR_NOTIFY_COOLDOWN_S=900``, ``DETECTOR_NOTIFY_GATHER_S=10``,
``DETECTOR_NOTIFY_DIGEST_OVER=5``, ``DETECTOR_NOTIFY_REPLAY_SOURCE=--topic gateway-logs``,
``DETECTOR_NOTIFY_RATE_PER_S=1``, ``DETECTOR_NOTIFY_MAX_ATTEMPTS=8``,
``DETECTOR_NOTIFY_METRICS_PORT=0`` (0 = no /metrics server), ``SLACK_WEBHOOK_URL`` or
``SLACK_WEBHOOK_URL_FILE``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from importlib.resources import files
from types import TracebackType
from typing import Any, Literal

import aiohttp
import jsonschema
import orjson
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError
from prometheus_client import Counter, start_http_server
from yarl import URL

from detector.slack import NotifyPolicy, TokenBucket, enforce_limits, render
from streams.service_settings import Settings

log = logging.getLogger(__name__)

SLACK_POSTS = Counter(
    "extdet_slack_posts",
    "Slack webhook HTTP attempts by outcome (ok, rate_limited, transient, permanent) and posts given up",
    ["status"],
)
NOTIFY_ALERTS = Counter(
    "extdet_notify_alerts",
    "Alerts read by the notifier, by policy verdict (queued, below_threshold, duplicate, cooldown, invalid)",
    ["verdict"],
)
# Documented plain-string webhook errors; any other non-429 4xx is treated the same way.
PERMANENT_ERRORS = frozenset(
    {"invalid_payload", "channel_not_found", "channel_is_archived", "action_prohibited", "no_service", "invalid_token"}
)
_ERROR_CODE = re.compile(r"[a-z_]{1,64}")
_ALERT_VALIDATOR = jsonschema.Draft202012Validator(
    json.loads(files("detector").joinpath("schemas/alert.v1.json").read_text())
)


class SlackUnavailable(RuntimeError):
    """Slack kept failing transiently for ``max_attempts`` attempts; nothing was committed."""


@dataclass(frozen=True, slots=True)
class PostResult:
    """Outcome of :meth:`SlackPoster.post`: ``error`` is Slack's error code or an exception class."""

    status: Literal["ok", "permanent", "gave_up"]
    attempts: int
    error: str | None = None


class SlackPoster:
    """Posts Block Kit payloads to one webhook: paced, 429-aware, retrying transient failures.

    Use as ``async with SlackPoster(url) as poster: await poster.post(payload)``. Every payload
    goes through :func:`detector.slack.enforce_limits` first. ``seed`` makes the backoff jitter
    reproducible; ``max_retry_after_s`` bounds how long one 429 can stall the notifier (kept
    below Kafka's ``max.poll.interval.ms``). The URL is parsed once, so a malformed one fails here
    with a message that does not echo it.
    """

    def __init__(
        self,
        webhook_url: str,
        *,
        rate_per_s: float = 1.0,
        max_attempts: int = 8,
        backoff_base_s: float = 1.0,
        backoff_cap_s: float = 30.0,
        max_retry_after_s: float = 120.0,
        timeout_s: float = 10.0,
        seed: int = 0,
    ) -> None:
        try:
            self._url = URL(webhook_url)
        except ValueError:
            self._url = URL()
        if self._url.scheme not in ("http", "https") or not self._url.host:
            raise ValueError("invalid Slack webhook URL (value hidden)")
        self._bucket = TokenBucket(rate_per_s=rate_per_s, capacity=1.0)
        self._max_attempts = max_attempts
        self._backoff_base_s = backoff_base_s
        self._backoff_cap_s = backoff_cap_s
        self._max_retry_after_s = max_retry_after_s
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._rng = random.Random(seed)
        self._session: aiohttp.ClientSession | None = None

    def __repr__(self) -> str:
        return "SlackPoster(webhook=<hidden>)"

    async def __aenter__(self) -> SlackPoster:
        self._session = aiohttp.ClientSession(timeout=self._timeout)
        log.info("webhook configured (host hidden)")
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def backoff_s(self, attempt: int) -> float:
        """Delay after failed attempt ``attempt`` (1-based): equal jitter in [d/2, d]."""
        d: float = min(self._backoff_cap_s, self._backoff_base_s * 2.0 ** (attempt - 1))
        return d * (0.5 + 0.5 * self._rng.random())

    def _retry_after_s(self, header: str | None) -> float:
        try:
            seconds = float(header) if header is not None else 1.0
        except ValueError:
            seconds = 1.0
        return min(max(seconds, 0.0), self._max_retry_after_s)

    async def _pace(self) -> None:
        wait = self._bucket.wait_s(time.monotonic())
        if wait > 0:
            await asyncio.sleep(wait)
        self._bucket.take(time.monotonic())

    async def post(self, payload: Mapping[str, Any]) -> PostResult:
        """Post one payload; returns after success, a permanent error, or ``max_attempts`` failures."""
        if self._session is None:
            raise RuntimeError("use SlackPoster as an async context manager")
        body = orjson.dumps(enforce_limits(payload))
        error: str | None = None
        for attempt in range(1, self._max_attempts + 1):
            await self._pace()
            try:
                async with self._session.post(
                    self._url, data=body, headers={"Content-Type": "application/json"}, allow_redirects=False
                ) as resp:
                    status, text = resp.status, (await resp.text())[:200].strip()
                    retry_after = resp.headers.get("Retry-After")
            except (aiohttp.ClientError, TimeoutError) as exc:
                error = type(exc).__name__
                SLACK_POSTS.labels("transient").inc()
                log.warning("slack post attempt %d/%d failed: %s", attempt, self._max_attempts, error)
            else:
                error = text if _ERROR_CODE.fullmatch(text) else f"http_{status}"
                if 200 <= status < 300:
                    SLACK_POSTS.labels("ok").inc()
                    return PostResult("ok", attempt)
                if status == 429:
                    wait = self._retry_after_s(retry_after)
                    SLACK_POSTS.labels("rate_limited").inc()
                    log.warning("slack rate limited (429); waiting %.1fs as Retry-After asks", wait)
                    self._bucket.pause_until(time.monotonic() + wait)
                    continue
                if status < 500:
                    SLACK_POSTS.labels("permanent").inc()
                    kind = "documented" if error in PERMANENT_ERRORS else "undocumented"
                    log.error("slack refused the message permanently: HTTP %d %s (%s); not retried",
                              status, error, kind)
                    return PostResult("permanent", attempt, error)
                SLACK_POSTS.labels("transient").inc()
                log.warning("slack post attempt %d/%d failed: HTTP %d %s", attempt, self._max_attempts, status, error)
            if attempt < self._max_attempts:
                await asyncio.sleep(self.backoff_s(attempt))
        SLACK_POSTS.labels("gave_up").inc()
        log.error("slack post given up after %d attempts (last error: %s)", self._max_attempts, error)
        return PostResult("gave_up", self._max_attempts, error)


def _alert_from(record: ConsumerRecord[Any, Any]) -> dict[str, Any] | None:
    """The alert in a Kafka record, or ``None`` (logged by position only) when it breaks the contract."""
    try:
        alert = orjson.loads(record.value) if record.value is not None else None
    except orjson.JSONDecodeError:
        alert = None
    valid = isinstance(alert, dict) and not any(
        e.validator != "additionalProperties" for e in _ALERT_VALIDATOR.iter_errors(alert)
    )
    if not valid:
        log.warning("skipping invalid alert at %s[%d]@%d", record.topic, record.partition, record.offset)
        return None
    return alert


async def _consume(consumer: AIOKafkaConsumer, policy: NotifyPolicy, poster: SlackPoster, replay_hint: str) -> None:
    processed: dict[TopicPartition, int] = {}
    while True:
        due = policy.next_flush_at()
        timeout_s = 1.0 if due is None else min(1.0, max(due - time.monotonic(), 0.0))
        batches = await consumer.getmany(timeout_ms=int(timeout_s * 1000), max_records=500)
        for tp, records in batches.items():
            for record in records:
                alert = _alert_from(record)
                verdict = "invalid" if alert is None else policy.offer(alert, time.monotonic())
                NOTIFY_ALERTS.labels(verdict).inc()
                processed[tp] = record.offset + 1
        for notification in policy.flush(time.monotonic()):
            result = await poster.post(render(notification, replay_hint=replay_hint))
            if result.status == "gave_up":
                raise SlackUnavailable(f"Slack unreachable after {result.attempts} attempts ({result.error})")
        if processed and policy.pending == 0:
            try:
                await consumer.commit(dict(processed))
            except CommitFailedError:
                log.warning("offset commit failed after a rebalance; those alerts may be delivered again")
            processed.clear()


async def run_notifier(settings: Settings) -> None:
    """Run the notifier until cancelled; raises :class:`SlackUnavailable` on a lasting Slack outage."""
    if not settings.slack_webhook_url:
        raise ValueError("no Slack webhook configured: set SLACK_WEBHOOK_URL or SLACK_WEBHOOK_URL_FILE")
    if settings.notify_metrics_port:
        start_http_server(settings.notify_metrics_port, addr=settings.bind_host)
    policy = NotifyPolicy(
        min_severity=settings.notify_min_severity,
        cooldown_s=settings.notify_cooldown_s,
        gather_s=settings.notify_gather_s,
        digest_over=settings.notify_digest_over,
    )
    consumer = AIOKafkaConsumer(
        settings.alerts_topic,
        bootstrap_servers=settings.kafka_bootstrap,
        group_id=settings.notify_group,
        enable_auto_commit=False,
        auto_offset_reset=settings.notify_offset_reset,
    )
    poster = SlackPoster(
        settings.slack_webhook_url, rate_per_s=settings.notify_rate_per_s, max_attempts=settings.notify_max_attempts
    )
    async with poster:
        await consumer.start()
        try:
            await _consume(consumer, policy, poster, settings.notify_replay_source)
        finally:
            await consumer.stop()
