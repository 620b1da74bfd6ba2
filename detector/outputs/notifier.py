"""``detector notify``: extraction alerts from Kafka to a Slack incoming webhook.

What: consumes the alerts topic (``settings.topic("alerts")``, aiokafka, group
``DETECTOR_NOTIFY_GROUP``), filters and groups the alerts with :class:`detector.outputs.slack.NotifyPolicy`,
renders them with :func:`detector.outputs.slack.render` and posts them with :class:`SlackPoster`. Offsets are
committed only once every alert read so far has been posted, dropped by the policy, or refused
permanently by Slack (at-least-once). The policy's dedupe and cooldown state is kept in Redis by
:class:`NotifyMemory`, so a restarted notifier does not post again what it already posted.

Assumptions: one notifier replica per webhook and per ``DETECTOR_NOTIFY_REDIS_PREFIX`` (the token
bucket and the policy are per process); the webhook URL is a secret — it is read from
``SLACK_WEBHOOK_URL`` or the file named by ``SLACK_WEBHOOK_URL_FILE``, is hidden from ``repr`` and
is never logged (log lines say "webhook configured (host hidden)"; errors log only the exception
class or Slack's error code). Policy times are wall-clock epoch seconds (they outlive the process).

Cost: one HTTP POST per notification, at most ``rate_per_s`` (default 1/s) per webhook; per fetched
batch one pipelined Redis read, per notification one pipelined write, and one more write before
each commit. Memory: O(subjects notified within the cooldown) plus a bounded LRU of alert ids;
Redis: one key per handled alert id (``DETECTOR_NOTIFY_DEDUPE_TTL_S``) and per subject in cooldown.

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
* Redis errors end :func:`run_notifier` with the exception, without committing (a restart
  redelivers; the worker cannot produce alerts without Redis either). A crash between a Slack post
  and its Redis write (one round trip) can still repost that one notification.

Settings: :class:`streams.settings.Settings` (``DETECTOR_KAFKA_BOOTSTRAP``, ``DETECTOR_REDIS_URL``,
``DETECTOR_TOPIC_PREFIX``, ``DETECTOR_ALERTS_TOPIC``, ``DETECTOR_BIND_HOST``, ``DETECTOR_NOTIFY_*``,
``SLACK_WEBHOOK_URL`` or ``SLACK_WEBHOOK_URL_FILE``); the table is in that module's docstring.
Redis through :func:`streams.redis_conn.redis_client` (TLS, ACL user ``xd-notify`` of
``docs/security.md``); a refused login ends :func:`run_notifier` at start with
:class:`streams.redis_conn.RedisAccessError`. ``/metrics`` (``DETECTOR_NOTIFY_METRICS_PORT``) needs
the bearer token of ``DETECTOR_HTTP_TOKEN_FILE`` when one is set.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib.resources import files
from types import TracebackType
from typing import Any, Literal

import aiohttp
import jsonschema
import orjson
import redis.asyncio as redis
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError
from prometheus_client import Counter
from yarl import URL

from detector.outputs.slack import Notification, NotifyPolicy, TokenBucket, Verdict, enforce_limits, render
from streams.http_auth import start_metrics_server
from streams.redis_conn import check_redis, redis_client
from streams import kafka_security
from streams.settings import Settings

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
    goes through :func:`detector.outputs.slack.enforce_limits` first. ``seed`` makes the backoff jitter
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


class NotifyMemory:
    """The notifier's dedupe and cooldown state in Redis: alert ids, subject ids and times only.

    Keys (``prefix`` is ``DETECTOR_NOTIFY_REDIS_PREFIX``, default ``xd:notify:``):

    * ``<prefix>seen:<alert_id>`` -> ``1`` for an alert posted (or refused permanently), dropped
      for its subject's cooldown, or replaced by a more severe one; expires ``dedupe_ttl_s`` after
      the write (at least the cooldown).
    * ``<prefix>cool:<subject_id>`` -> ``"<epoch s> <severity rank>"`` of the subject's last
      notification; expires exactly when that cooldown ends (``PXAT``).

    Use: :meth:`recall` before offering a fetched batch to the policy, :meth:`note` for each
    verdict, :meth:`posted` after each post, :meth:`save` before committing offsets. A restarted
    notifier then gives redelivered alerts the verdicts the old one gave (``duplicate`` or
    ``cooldown``), whatever its in-memory LRU or the process lifetime. Single-key commands only, in
    non-transactional pipelines. Redis errors propagate.
    """

    def __init__(self, client: redis.Redis, *, prefix: str, cooldown_s: float, dedupe_ttl_s: float) -> None:
        self._redis = client
        self._prefix = prefix
        self._cooldown_s = cooldown_s
        self._dedupe_ttl_ms = int(dedupe_ttl_s * 1000)
        self._unsaved: dict[str, None] = {}  # alert ids final once the policy has nothing pending

    def _seen_key(self, alert_id: str) -> str:
        return f"{self._prefix}seen:{alert_id}"

    def _cool_key(self, subject: str) -> str:
        return f"{self._prefix}cool:{subject}"

    async def recall(self, policy: NotifyPolicy, alerts: Sequence[Mapping[str, Any]]) -> None:
        """Load into ``policy`` what Redis knows about these alerts' ids and subjects."""
        if not alerts:
            return
        ids = list(dict.fromkeys(a["alert_id"] for a in alerts))
        subjects = list(dict.fromkeys(a["subject_id"] for a in alerts))
        pipe = self._redis.pipeline(transaction=False)
        for alert_id in ids:
            pipe.exists(self._seen_key(alert_id))
        for subject in subjects:
            pipe.get(self._cool_key(subject))
        replies = await pipe.execute()
        seen = [i for i, hit in zip(ids, replies[: len(ids)], strict=True) if hit]
        last: dict[str, tuple[float, int]] = {}
        for subject, raw in zip(subjects, replies[len(ids):], strict=True):
            if raw is not None:
                at, rank = raw.split()
                last[subject] = (float(at), int(rank))
        policy.restore(seen, last)

    def note(self, alert: Mapping[str, Any], verdict: Verdict) -> None:
        """Remember to save the id of an alert the policy queued or dropped for cooldown."""
        if verdict in ("queued", "cooldown"):
            self._unsaved[alert["alert_id"]] = None

    async def posted(self, policy: NotifyPolicy, notification: Notification) -> None:
        """Save a posted notification: its alert ids and its subjects' cooldowns."""
        pipe = self._redis.pipeline(transaction=False)
        for alert in notification.alerts:
            pipe.set(self._seen_key(alert["alert_id"]), b"1", px=self._dedupe_ttl_ms)
            self._unsaved.pop(alert["alert_id"], None)
            last = policy.last_notified(alert["subject_id"])
            if last is not None and self._cooldown_s > 0:
                pipe.set(self._cool_key(alert["subject_id"]), f"{last[0]!r} {last[1]}",
                         pxat=int((last[0] + self._cooldown_s) * 1000))
        await pipe.execute()

    async def save(self) -> None:
        """Save the ids noted since the last save that no post saved (call before committing)."""
        if not self._unsaved:
            return
        pipe = self._redis.pipeline(transaction=False)
        for alert_id in self._unsaved:
            pipe.set(self._seen_key(alert_id), b"1", px=self._dedupe_ttl_ms)
        await pipe.execute()
        self._unsaved.clear()


async def _consume(consumer: AIOKafkaConsumer, policy: NotifyPolicy, memory: NotifyMemory, poster: SlackPoster,
                   replay_hint: str) -> None:
    processed: dict[TopicPartition, int] = {}
    while True:
        due = policy.next_flush_at()
        timeout_s = 1.0 if due is None else min(1.0, max(due - time.time(), 0.0))
        batches = await consumer.getmany(timeout_ms=int(timeout_s * 1000), max_records=500)
        read = [(tp, record, _alert_from(record)) for tp, records in batches.items() for record in records]
        await memory.recall(policy, [alert for _, _, alert in read if alert is not None])
        now = time.time()
        for tp, record, alert in read:
            if alert is None:
                NOTIFY_ALERTS.labels("invalid").inc()
            else:
                verdict = policy.offer(alert, now)
                NOTIFY_ALERTS.labels(verdict).inc()
                memory.note(alert, verdict)
            processed[tp] = record.offset + 1
        for notification in policy.flush(time.time()):
            result = await poster.post(render(notification, replay_hint=replay_hint))
            if result.status == "gave_up":
                raise SlackUnavailable(f"Slack unreachable after {result.attempts} attempts ({result.error})")
            await memory.posted(policy, notification)
        if processed and policy.pending == 0:
            await memory.save()
            try:
                await consumer.commit(dict(processed))
            except CommitFailedError:
                log.warning("offset commit failed after a rebalance; those alerts may be delivered again")
            processed.clear()


async def run_notifier(settings: Settings) -> None:
    """Run the notifier until cancelled; raises :class:`SlackUnavailable` on a lasting Slack outage
    and Redis errors as they come (nothing is committed then), and
    :class:`streams.redis_conn.RedisAccessError` at start when Redis refuses the login."""
    if not settings.slack_webhook_url:
        raise ValueError("no Slack webhook configured: set SLACK_WEBHOOK_URL or SLACK_WEBHOOK_URL_FILE")
    policy = NotifyPolicy(
        min_severity=settings.notify_min_severity,
        cooldown_s=settings.notify_cooldown_s,
        gather_s=settings.notify_gather_s,
        digest_over=settings.notify_digest_over,
    )
    poster = SlackPoster(
        settings.slack_webhook_url, rate_per_s=settings.notify_rate_per_s, max_attempts=settings.notify_max_attempts
    )
    client = redis_client(settings, decode_responses=True)
    metrics_server = None
    try:
        await check_redis(client, settings)   # a refused login fails here, before Kafka
        if settings.notify_metrics_port:
            metrics_server = await start_metrics_server(settings.bind_host, settings.notify_metrics_port,
                                                        token=settings.http_token)
        memory = NotifyMemory(client, prefix=settings.notify_redis_prefix, cooldown_s=settings.notify_cooldown_s,
                              dedupe_ttl_s=settings.notify_dedupe_ttl_s)
        await kafka_security.check_async(settings)   # refused credentials/TLS: a clear error, at once
        consumer = AIOKafkaConsumer(
            settings.topic("alerts"),
            **kafka_security.aiokafka_config(settings),   # servers + SASL/TLS (streams/kafka_security.py)
            group_id=settings.notify_group,
            enable_auto_commit=False,
            auto_offset_reset=settings.notify_offset_reset,
        )
        async with poster:
            await consumer.start()
            try:
                await _consume(consumer, policy, memory, poster, settings.replay_source)
            finally:
                await consumer.stop()
    finally:
        await client.aclose()
        if metrics_server is not None:
            await metrics_server.cleanup()
