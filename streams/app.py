"""The Faust app: topics and the three agents, wired.

::

    gateway-logs ──ingest──▶ xd-keyed (P) ──windows──▶ xd-summaries (1) ──scorer──▶ extraction-alerts
         │                   feature rows               summaries + markers          extraction-decisions
         └──────────▶ gateway-logs-dlq                                                (compacted)
    extraction-labels ──labels──▶ xd-summaries (in stream order, for the scorer)
    account-profiles (compacted) ──profiles──▶ xd-summaries; bad profiles ──▶ gateway-logs-dlq

Every agent has ``concurrency=1`` (Faust bug #606) and takes batches with ``take_events`` so it
knows each message's partition and offset. The logic lives in the pure stages of
:mod:`detector.stages` (ingest with every input format, keyed windows, epoch scorer, profiles);
the stateful ones run under :class:`streams.runner.Runner` (load, offset check, send, persist);
this module only moves bytes. A batch is acknowledged (and later committed) only after its sends
are acknowledged and its state written, so an unexpected error exits the process (the supervisor
in :mod:`streams.worker` restarts it) rather than letting Faust ack a half-done batch. When the
runner finds that the consumer group's committed offset ran ahead of the offset stored in Redis,
the agent seeks the partition back to Redis's offset (:class:`streams.runner.Rewind`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import tempfile
import time
from collections.abc import Iterable, Mapping
from typing import Any

import faust
import orjson
from faust.types import TP

from detector import compiled
from detector.config import Config
from detector.stages.ingest import Ingest
from detector.stages.profiles import route_profiles
from streams import metrics
from streams.redis_store import RedisStore
from streams.runner import SCORER_PARTITION, Rewind, Runner, ScorerIO, WindowsIO
from streams.settings import Settings

log = logging.getLogger(__name__)


def faust_app(s: Settings) -> faust.App:
    """A Faust app with the project's broker, commit and session settings, and no agents yet.

    The worker and the bare pass-through agent of ``detector bench stream`` both start from it, so
    the benchmark compares the detector with Faust configured identically.
    """
    from streams.kafka_security import faust_config

    return faust.App(
        s.group_id,
        **faust_config(s),   # broker URLs + broker_credentials (SASL/TLS) from the settings
        datadir=s.datadir or os.path.join(tempfile.gettempdir(), f"xd-faust-{s.group_id}"),
        web_enabled=False, topic_disable_leader=True, topic_allow_declare=False,
        producer_acks=-1, producer_max_request_size=s.max_message_bytes,
        consumer_max_fetch_size=s.max_message_bytes, broker_commit_interval=1.0,
        broker_session_timeout=s.session_timeout_s, broker_heartbeat_interval=min(3.0, s.session_timeout_s / 4),
        consumer_auto_offset_reset="earliest",
    )


def create_app(settings: Settings | None = None, config: Config | None = None) -> faust.App:
    """The worker app for ``settings`` (plumbing) and ``config`` (deciding knobs)."""
    s = settings or Settings.from_env()
    config = config or Config.from_env()
    app = faust_app(s)
    raw = {"key_serializer": "raw", "value_serializer": "raw"}
    input_topic = app.topic(s.topic("input"), **raw)
    keyed_topic = app.topic(s.topic("keyed"), partitions=s.partitions, **raw)
    summaries_topic = app.topic(s.topic("summaries"), partitions=1, **raw)

    store = RedisStore.from_settings(s)
    ingest = Ingest(s.partitions, source_topic=s.topic("input"), rows_per_message=s.rows_per_message,
                    max_dlq_bytes=s.max_message_bytes, fmt=s.input_format)
    out = Sender(app)

    async def send_summaries(values: list[bytes]) -> None:
        await out.ordered(s.topic("summaries"), [(0, None, v, None) for v in values])

    async def send_outputs(alerts: list[dict[str, Any]], decisions: list[tuple[str, Any]]) -> None:
        await asyncio.gather(
            out.unordered(s.topic("alerts"), [(0, a["subject_id"].encode(), orjson.dumps(a), None) for a in alerts]),
            out.ordered(s.topic("decisions"),
                        [(0, k.encode(), None if d is None else orjson.dumps(d), None) for k, d in decisions]))

    windows = Runner(WindowsIO(config, store, send_summaries, summaries_per_message=s.summaries_per_message))
    scorer = Runner(ScorerIO(config, store, s.partitions, send_outputs))

    @app.agent(input_topic, concurrency=1)
    async def ingest_agent(stream: faust.StreamT) -> None:
        async for events in stream.take_events(s.batch_size, within=s.batch_within_s):
            async with guarded("ingest", events, app):
                started = time.perf_counter()
                batch = ingest.process([(e.message.partition, e.message.offset, e.value, input_format(e))
                                        for e in events], caught_up(app, events))
                await asyncio.gather(
                    out.ordered(s.topic("keyed"), [(p, None, v, None) for p, v in batch.keyed]),
                    out.unordered(s.topic("dlq"), [(0, None, v, h) for v, h in batch.dlq]))
                metrics.EVENTS.inc(batch.events)
                metrics.WATERMARKS.inc(batch.watermarks)
                for reason, n in batch.rejected.items():
                    metrics.REJECTED.labels(reason).inc(n)
                metrics.mark_batch("ingest", started)

    @app.agent(keyed_topic, concurrency=1)
    async def windows_agent(stream: faust.StreamT) -> None:
        async for events in stream.take_events(s.batch_size, within=s.batch_within_s):
            async with guarded("windows", events, app):
                for p, msgs in by_partition(events).items():
                    await rewind_if_asked(app, s.topic("keyed"), await windows.process(p, msgs))

    @app.agent(summaries_topic, concurrency=1)
    async def scorer_agent(stream: faust.StreamT) -> None:
        async for events in stream.take_events(s.batch_size, within=s.batch_within_s):
            async with guarded("scorer", events, app):
                for _p, msgs in by_partition(events).items():
                    await rewind_if_asked(app, s.topic("summaries"), await scorer.process(SCORER_PARTITION, msgs))

    @app.agent(app.topic(s.topic("labels"), **raw), concurrency=1)
    async def labels_agent(stream: faust.StreamT) -> None:
        """Analyst verdicts join the scorer's input in order, so their effect is checkpointed with it."""
        async for events in stream.take_events(s.batch_size, within=s.batch_within_s):
            async with guarded("labels", events, app):
                await out.ordered(s.topic("summaries"), [(0, None, orjson.dumps({"label": e.value.decode()}), None)
                                                         for e in events if e.value])

    @app.agent(app.topic(s.topic("profiles"), **raw), concurrency=1)
    async def profiles_agent(stream: faust.StreamT) -> None:
        """Account profiles join the scorer's input in order, like labels; bad ones are dead letters."""
        async for events in stream.take_events(s.batch_size, within=s.batch_within_s):
            async with guarded("profiles", events, app):
                batch = route_profiles([(e.message.partition, e.message.offset, e.key, e.value) for e in events],
                                       s.topic("profiles"), max_dlq_bytes=s.max_message_bytes)
                await asyncio.gather(
                    out.ordered(s.topic("summaries"), [(0, None, v, None) for v in batch.forward]),
                    out.unordered(s.topic("dlq"), [(0, None, v, h) for v, h in batch.dlq]))
                metrics.PROFILE_UPDATES.inc(len(batch.forward))
                for reason, n in batch.rejected.items():
                    metrics.REJECTED_PROFILES.labels(reason).inc(n)

    @app.task
    async def announce_kernels() -> None:  # a task runs once Faust has set up logging
        log.info("compiled per-record kernels: %s", "on" if compiled.built() else "off (Python references; slower)")

    @app.timer(interval=LAG_REFRESH_S)
    async def refresh_lag() -> None:
        await refresh_consumer_lag(app)

    if s.metrics_port:
        @app.task
        async def serve_metrics() -> None:
            app.metrics_runner = await metrics.start_http(  # type: ignore[attr-defined]
                s.metrics_host, s.metrics_port, health, token=s.http_token)

    return app


INPUT_FORMAT_HEADER = "x-input-format"


def input_format(event: Any) -> str | None:
    """The format a message names in its ``x-input-format`` header (None: the topic's format)."""
    headers = event.message.headers or ()
    for name, value in headers.items() if isinstance(headers, Mapping) else headers:
        if name == INPUT_FORMAT_HEADER and value:
            return bytes(value).decode("utf-8", "replace").strip()
    return None


async def rewind_if_asked(app: faust.App, topic: str, result: Any) -> None:
    """Seek ``topic``'s partition back when the runner asked for it (see :class:`streams.runner.Rewind`)."""
    if isinstance(result, Rewind):
        await app.consumer.seek(TP(topic, result.partition), result.offset)


def by_partition(events: Iterable[Any]) -> dict[int, list[tuple[int, bytes]]]:
    """Group a batch's events as partition -> [(offset, value)] in arrival (= offset) order."""
    out: dict[int, list[tuple[int, bytes]]] = {}
    for e in events:
        out.setdefault(e.message.partition, []).append((e.message.offset, e.value))
    return out


def caught_up(app: faust.App, events: list[Any]) -> dict[int, bool]:
    """Per source partition of a batch: was its last message the last one in the log?"""
    last: dict[Any, int] = {}
    for e in events:
        last[e.message.tp] = max(last.get(e.message.tp, -1), e.message.offset)
    out: dict[int, bool] = {}
    for tp, offset in last.items():
        try:
            high = app.consumer.highwater(tp)
        except Exception:  # noqa: BLE001 - unknown: assume more is coming (never makes records late)
            high = None
        out[tp.partition] = high is not None and offset + 1 >= high
    return out


def health() -> tuple[bool, dict[str, Any]]:
    """Unhealthy once Redis or Kafka calls have kept failing for over a minute; the detail also
    gives the seconds since each stage's last batch (-1: none yet; a stage without input is quiet)."""
    now = time.time()
    ages = {}
    for stage in ("ingest", "windows", "scorer"):
        last = metrics.LAST_BATCH.labels(stage)._value.get()  # noqa: SLF001 - prometheus_client has no getter
        ages[stage] = round(now - last, 1) if last else -1.0
    failing = metrics.failing_for()
    return all(t < 60 for t in failing.values()), {"last_batch_age_s": ages, "failing_s": failing,
                                                   "compiled_kernels": compiled.built()}


FAILED_EXIT_CODE = 70        # EX_SOFTWARE: a batch raised; the supervisor restarts the worker
INTERRUPTED_EXIT_CODE = 75   # EX_TEMPFAIL: a batch was cancelled by shutdown before its ack


class guarded:  # noqa: N801 - used as a context manager, reads as a clause
    """Run one batch; if it raises or is cancelled, exit the process at once (the error logged by
    type and traceback, never with payload), so Faust cannot ack and commit a batch whose sends and
    Redis write did not finish. Also updates the consumer-lag gauge (and records what the stage
    finished, for :func:`refresh_consumer_lag`)."""

    def __init__(self, stage: str, events: list[Any], app: faust.App) -> None:
        self.stage, self.events, self.app = stage, events, app

    async def __aenter__(self) -> None:
        metrics.MESSAGES.labels(self.stage).inc(len(self.events))

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> bool:
        if exc_type is None:
            self._lag()
            return False
        if issubclass(exc_type, asyncio.CancelledError):
            # Faust's take_events acks a batch in a ``finally`` even when its body was cancelled
            # (shutdown): leave before that ack, like a crash; the batch is redelivered.
            log.warning("%s batch interrupted by shutdown; exiting without acking it", self.stage)
            code = INTERRUPTED_EXIT_CODE
        else:
            log.critical("%s batch failed with %s; exiting so the batch is redelivered", self.stage,
                         exc_type.__name__, exc_info=(exc_type, exc, tb))
            code = FAILED_EXIT_CODE
        logging.shutdown()
        os._exit(code)

    def _lag(self) -> None:
        last: dict[Any, int] = {}
        for e in self.events:
            last[e.message.tp] = max(last.get(e.message.tp, -1), e.message.offset)
        for tp, offset in last.items():
            PROCESSED[(self.stage, tp)] = offset
            try:
                high = self.app.consumer.highwater(tp)
            except Exception:  # noqa: BLE001 - best effort
                continue
            set_lag(self.stage, tp, high, offset)


def set_lag(stage: str, tp: TP, high: int | None, offset: int) -> None:
    """The lag gauge of ``stage`` on ``tp``: messages after ``offset`` below the high-water mark."""
    if high is not None:
        metrics.CONSUMER_LAG.labels(stage, str(tp.partition)).set(max(0, high - offset - 1))


LAG_REFRESH_S = 15.0
"""How often the consumer-lag gauge is recomputed from the broker's end offsets between batches."""

PROCESSED: dict[tuple[str, TP], int] = {}
"""(stage, partition) -> the last offset that stage finished in this process."""


async def refresh_consumer_lag(app: faust.App) -> None:
    """Recompute the consumer-lag gauge from the broker's end offsets for the partitions each stage
    has processed and still holds. The per-batch update runs only when a batch finishes, so without
    this a stalled stage would show its last lag for ever. Partitions no longer assigned to this
    worker (a rebalance) leave the gauge. Best effort: a failed broker call changes nothing."""
    try:
        assigned = app.consumer.assignment()
        for key in [key for key in PROCESSED if key[1] not in assigned]:
            del PROCESSED[key]
            try:
                metrics.CONSUMER_LAG.remove(key[0], str(key[1].partition))
            except KeyError:
                pass
        if not PROCESSED:
            return
        highs = await app.consumer.highwaters(*{tp for _, tp in PROCESSED})
    except Exception as exc:  # noqa: BLE001 - best effort, like the per-batch update
        log.debug("lag refresh failed: %s", type(exc).__name__)
        return
    for (stage, tp), offset in list(PROCESSED.items()):
        high = highs.get(tp)
        set_lag(stage, tp, high, offset)


class Sender:
    """Kafka sends that survive broker restarts: ``ordered`` sends one message at a time per
    destination partition (each acknowledged before the next, retried until it is), so a later
    message never lands before an earlier one; ``unordered`` sends all at once, then retries."""

    def __init__(self, app: faust.App) -> None:
        self.app = app

    async def _send_once(self, topic: str, item: tuple[int, bytes | None, bytes | None, Any]) -> None:
        partition, key, value, headers = item
        fut = await self.app.producer.send(topic, key, value, partition, None, headers)
        await fut

    async def _send(self, topic: str, item: tuple[int, bytes | None, bytes | None, Any]) -> None:
        delay = 0.1
        while True:
            try:
                await self._send_once(topic, item)
                if delay > 0.1:
                    metrics.recovered("kafka")
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - any producer error: retry the same message
                metrics.SEND_RETRIES.inc()
                metrics.failing("kafka")
                log.warning("send to %s[%d] failed (%s); retrying in %.1fs", topic, item[0],
                            type(exc).__name__, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def ordered(self, topic: str, items: list[tuple[int, bytes | None, bytes | None, Any]]) -> None:
        groups: dict[int, list[tuple[int, bytes | None, bytes | None, Any]]] = {}
        for item in items:
            groups.setdefault(item[0], []).append(item)

        async def one_partition(group: list[tuple[int, bytes | None, bytes | None, Any]]) -> None:
            for item in group:
                await self._send(topic, item)

        await asyncio.gather(*(one_partition(g) for g in groups.values()))

    async def unordered(self, topic: str, items: list[tuple[int, bytes | None, bytes | None, Any]]) -> None:
        await asyncio.gather(*(self._send(topic, item) for item in items))
