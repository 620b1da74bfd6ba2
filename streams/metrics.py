"""Prometheus metrics of the live workers and the small HTTP server exposing them.

``GET /metrics`` (Prometheus text format) and ``GET /healthz`` (200, or 503 once Redis or Kafka
calls have kept failing for longer than a minute; the body says which, and how long ago each stage
last finished a batch) on ``DETECTOR_METRICS_PORT``; with ``DETECTOR_HTTP_TOKEN_FILE`` set,
``/metrics`` needs the bearer token and ``/healthz`` shows its detail only with it
(:func:`start_http`).
Labels carry stage names, partition numbers, reject reasons, severities and actions: never an API
key, an account, or text.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

_LATENCY = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

MESSAGES = Counter("xd_messages_consumed_total", "Kafka messages consumed", ["stage"])
EVENTS = Counter("xd_events_consumed_total", "Gateway records accepted by ingest")
REJECTED = Counter("xd_rejected_total", "Gateway records rejected to the dead-letter topic", ["reason"])
PROFILE_UPDATES = Counter("xd_profile_updates_total", "Account profile updates forwarded to the scorer")
REJECTED_PROFILES = Counter("xd_profiles_rejected_total", "Account profiles rejected to the dead-letter topic",
                            ["reason"])
WATERMARKS = Counter("xd_watermark_messages_total", "Watermark control messages on the input topic")
LATE = Counter("xd_late_events_total", "Events dropped because their bucket had closed")
DUPLICATE_ROWS = Counter("xd_duplicate_rows_total", "Redelivered feature rows skipped by the high-water marks")
SKIPPED_MESSAGES = Counter("xd_skipped_messages_total", "Redelivered messages at or below the stored offset",
                           ["stage"])
EPOCHS = Counter("xd_epochs_total", "Epochs closed", ["stage"])
SUMMARIES = Counter("xd_summaries_total", "Window summaries sent to the scorer")
ALERTS = Counter("xd_alerts_total", "Alerts published", ["severity", "action"])
DECISIONS = Counter("xd_decisions_total", "Decisions published (set or lifted)", ["change"])
BATCH_SECONDS = Histogram("xd_batch_seconds", "Processing time of one agent batch", ["stage"], buckets=_LATENCY)
REDIS_WRITE_SECONDS = Histogram("xd_redis_write_seconds", "Time of one atomic Redis batch write", ["stage"],
                                buckets=_LATENCY)
REDIS_RETRIES = Counter("xd_redis_retries_total", "Redis calls retried after a connection error")
SEND_RETRIES = Counter("xd_kafka_send_retries_total", "Kafka sends retried after an error")
RELOADS = Counter("xd_state_reloads_total", "State (re)loads from Redis", ["stage"])
REWINDS = Counter("xd_rewinds_total", "Seeks back to the Redis offset: the committed offset had run ahead of Redis",
                  ["stage"])
LOST_MESSAGES = Counter("xd_lost_messages_total", "Messages between the Redis offset and the log start (retention)",
                        ["stage"])
ACTIVE_KEYS = Gauge("xd_active_keys", "Keys with window state in memory", ["partition"])
WATERMARK = Gauge("xd_watermark_ms", "Event-time watermark of a window partition (epoch ms)", ["partition"])
SCORER_EPOCH = Gauge("xd_scorer_epoch_ms", "Last epoch processed by the scorer (epoch ms)")
SCORER_PENDING = Gauge("xd_scorer_buffered_epochs", "Epochs buffered by the scorer, waiting for markers")
CONSUMER_LAG = Gauge("xd_consumer_lag", "Messages behind the partition's high-water mark", ["stage", "partition"])
LAST_BATCH = Gauge("xd_last_batch_unixtime", "Wall time of the last processed batch", ["stage"])


DEPENDENCY_DOWN = Gauge("xd_dependency_failing", "1 while calls to a dependency keep failing", ["dependency"])
_failing_since: dict[str, float] = {}

# Restarts of the worker process by its supervisor (streams.worker): the supervisor passes the count
# and the previous exit code to each new process in these variables, and the new process exports
# them, so a restart shows as an increase of the counter across processes (same scrape target).
WORKER_RESTARTS = Counter("xd_worker_restarts_total",
                          "Times the supervisor restarted the worker process after it exited abnormally")
WORKER_LAST_EXIT = Gauge("xd_worker_last_exit_code",
                         "Exit code of the previous worker process (0: first start; negative: killed by that signal)")
RESTARTS_ENV = "XD_WORKER_RESTARTS"
LAST_EXIT_ENV = "XD_WORKER_LAST_EXIT_CODE"


def carry_restarts(env: Mapping[str, str]) -> int:
    """Export the restart count and last exit code the supervisor passed in ``env``; returns the count."""
    try:
        restarts = max(0, int(env.get(RESTARTS_ENV, "0") or 0))
        last_exit = int(env.get(LAST_EXIT_ENV, "0") or 0)
    except ValueError:
        return 0
    if restarts:
        WORKER_RESTARTS.inc(restarts)
    WORKER_LAST_EXIT.set(last_exit)
    return restarts


def failing(dependency: str) -> None:
    """A call to ``dependency`` (redis, kafka) failed and is being retried."""
    if dependency not in _failing_since:
        _failing_since[dependency] = time.monotonic()
        DEPENDENCY_DOWN.labels(dependency).set(1)


def recovered(dependency: str) -> None:
    """A call to ``dependency`` succeeded."""
    if _failing_since.pop(dependency, None) is not None:
        DEPENDENCY_DOWN.labels(dependency).set(0)


def failing_for() -> dict[str, float]:
    """Seconds each currently failing dependency has been failing."""
    now = time.monotonic()
    return {d: round(now - t, 1) for d, t in _failing_since.items()}


def render() -> tuple[bytes, str]:
    """The metrics page and its content type."""
    return generate_latest(), CONTENT_TYPE_LATEST


def mark_batch(stage: str, started: float) -> None:
    """Record one finished batch of ``stage`` that started at ``time.perf_counter()`` ``started``."""
    BATCH_SECONDS.labels(stage).observe(time.perf_counter() - started)
    LAST_BATCH.labels(stage).set(time.time())


class MetricsPortInUse(OSError):
    """The metrics endpoint's address is taken: a process restarted on it would fail the same way."""


def check_port_free(host: str, port: int) -> None:
    """Raise :class:`MetricsPortInUse` when ``host:port`` cannot be bound for listening.

    Binds with ``SO_REUSEADDR``, as the endpoint does, so a port only lingering in ``TIME_WAIT``
    after the previous process counts as free.

    >>> import socket
    >>> with socket.socket() as s:
    ...     s.bind(("127.0.0.1", 0)); s.listen()
    ...     check_port_free("127.0.0.1", s.getsockname()[1])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    streams.metrics.MetricsPortInUse: 127.0.0.1:... is in use (...; DETECTOR_METRICS_PORT, 0 disables the endpoint)
    """
    import socket

    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise MetricsPortInUse(f"{host}:{port} is in use ({exc.strerror}; DETECTOR_METRICS_PORT, 0 "
                                   f"disables the endpoint)") from None


async def start_http(host: str, port: int, health: object, *, token: str = "") -> object:
    """Serve ``/metrics`` and ``/healthz`` (``health()`` returns (ok, detail)) with aiohttp.

    With a ``token`` (``DETECTOR_HTTP_TOKEN_FILE``) every request needs ``Authorization: Bearer
    <token>`` (401 otherwise), except ``/healthz``: Kubernetes probes cannot send a token, so it
    answers everyone with its status code and ``status``, and gives the ``detail`` only to a caller
    with the token (:func:`streams.http_auth.start_metrics_server`). Returns the aiohttp runner
    (call ``await runner.cleanup()`` to stop).
    """
    from streams.http_auth import start_metrics_server

    return await start_metrics_server(host, port, token=token, health=health)  # type: ignore[arg-type]
