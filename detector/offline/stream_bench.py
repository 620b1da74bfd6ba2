"""Live throughput benchmark: the full Faust detector against a bare Faust pass-through agent.

:func:`bench_stream` generates data once (like :func:`detector.offline.bench.bench_replay`: a simulated
day, first ``n_records`` lines) and measures, on the local broker and Redis:

1. **bare** records/s: a minimal ``faust.App`` (:func:`streams.app.faust_app`, as the worker uses)
   with one agent taking ``stream.take(500, within=0.5)`` batches and, for NDJSON messages, splitting
   each value into lines -- nothing else. It runs as a subprocess (``python -m detector.offline.stream_bench bare``)
   on a pre-produced topic and writes first-batch arrival/end times and counts and the last batch's
   end to a Redis key after every batch; rate = records after the first batch / (last batch end -
   first batch end), since the first batch's fetch is not seen (all records / (last end - first
   arrival) when there was one batch).
2. **detector** records/s: the real supervised worker (``python -m streams.worker``) with a unique
   topic prefix, group id, metrics port and Redis DB, on the same pre-produced input topic. Signal:
   start = the first ingest batch's start (``xd_last_batch_unixtime{stage="ingest"}`` minus
   ``xd_batch_seconds_sum{stage="ingest"}`` at the first scrape that shows an ingest batch: batches
   run back to back on a pre-filled topic, so this is the first batch's start); done = every record
   counted by ingest (accepted + rejected) and every ``xd-keyed`` partition's Redis ``offset``
   (``xd:{pN}:meta``) at its log end; end = ``xd_last_batch_unixtime{stage="windows"}`` then.
   Both are measured for 100-record NDJSON messages (one partition) and single-record messages
   (keyed by ``api_key_id``); ``ratio``/``single_record_ratio`` = detector / bare.
3. **latency** at half the detector's 100-record rate: the same lines, timestamps shifted so the
   first record is at wall-clock now (event time then runs faster than wall time, so 10-minute
   windows close within seconds), produced paced. For each alert (window end ``e``) the closing
   message is the first whose running max event time reaches ``e + allowed_lateness`` (the
   watermark rule of :meth:`detector.partition.PartitionState.advance`; one input partition, so one
   source); latency = the alert's Kafka CreateTime (set by the worker's producer) - that message's
   send time. With fewer than :data:`MIN_ALERTS` alerts the same is measured on the windows stage's
   epoch markers on ``xd-summaries`` instead, and ``latency_kind`` says so.
4. **scaling**: the same records spread over 8 partitions, one worker, then two workers in one
   consumer group (rate from the earliest first ingest batch to the latest windows batch, counts
   summed over the workers); ``two_workers_over_one`` is their ratio.
5. **Redis bytes per key**: 100k synthetic keys' ``KeyWindows`` (a few events within one hour) written
   in the store's layout (blob string with TTL + key-set member); ``INFO memory`` ``used_memory``
   delta / keys (server-wide: concurrent clients add noise), and ``MEMORY USAGE`` of a sample.

Approximate: rates include Faust's per-batch overhead and the first batch's fetch; the windows-stage
end excludes the scorer's work on the last epochs. Redis DBs are leased like the test fixtures do
(``xdtest:dblease:<n>`` on the highest DB) unless one is given.
"""

from __future__ import annotations

import asyncio
import bisect
import functools
import os
import random
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import orjson

from detector.config import Config
from detector.offline.ports import listen_port
from detector.offline.processes import stop_group

BATCH = 500
WITHIN_S = 0.5
PHASE_TIMEOUT_S = 150.0
LATENCY_SECONDS = 60.0   # at the bench's rates this sends every line: a whole simulated half day
MIN_ALERTS = 10
REDIS_KEYS = 100_000
REDIS_SAMPLE = 200
BARE_KEY = "xdbench:bare"


# ---------------------------------------------------------------------------------------------- helpers
def _with_db(url: str, db: int) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{db}", parts.query, parts.fragment))


def sync_redis(url: str):  # type: ignore[no-untyped-def]
    """A blocking client on ``url`` with the TLS and credentials of the environment's settings."""
    from streams.redis_conn import redis_client
    from streams.settings import Settings

    return redis_client(Settings.from_env(), sync=True, url=url)


class DbLease:
    """A Redis DB leased with ``SET NX`` on the highest DB (the test fixtures' scheme)."""

    def __init__(self, url: str, db: int | None) -> None:
        self.url, self.db, self.owned = url, db, False
        if db is not None:
            return
        probe = sync_redis(url)
        n = int(probe.config_get("databases")["databases"])
        probe.close()
        self.leases = sync_redis(_with_db(url, n - 1))
        self.owner = f"bench:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        deadline = time.monotonic() + 60
        while self.db is None:
            for d in range(1, n - 1):
                if self.leases.set(f"xdtest:dblease:{d}", self.owner, nx=True, ex=1800):
                    self.db, self.owned = d, True
                    break
            else:
                if time.monotonic() > deadline:
                    raise RuntimeError("no free Redis DB to lease within 60 s")
                time.sleep(0.5)

    @property
    def db_url(self) -> str:
        return _with_db(self.url, self.db)  # type: ignore[arg-type]

    def client(self):  # type: ignore[no-untyped-def]
        return sync_redis(self.db_url)

    def release(self) -> None:
        c = self.client()
        c.flushdb()
        c.close()
        if self.owned:
            if self.leases.get(f"xdtest:dblease:{self.db}") == self.owner.encode():
                self.leases.delete(f"xdtest:dblease:{self.db}")
            self.leases.close()


@functools.cache
def _metrics_headers() -> dict[str, str]:
    """The bearer token of the environment's settings (the workers get the same), if any."""
    from streams.settings import Settings

    token = Settings.from_env().http_token
    return {"Authorization": f"Bearer {token}"} if token else {}


def _scrape(port: int) -> dict[str, float]:
    """``name{labels}`` -> value from the worker's ``/metrics`` ({} while it is not up)."""
    try:
        request = urllib.request.Request(f"http://127.0.0.1:{port}/metrics", headers=_metrics_headers())
        with urllib.request.urlopen(request, timeout=2) as r:
            text = r.read().decode()
    except OSError:
        return {}
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            try:
                out[name] = float(value)
            except ValueError:
                pass
    return out


def _sum(m: dict[str, float], prefix: str) -> float:
    return sum(v for k, v in m.items() if k.startswith(prefix))


class Proc:
    """A subprocess in its own session, stopped by SIGTERM to its process group, then SIGKILL."""

    def __init__(self, args: list[str], env: dict[str, str], log_path: Path) -> None:
        self.log = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.p = subprocess.Popen(args, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)

    def check(self) -> None:
        if self.p.poll() is not None:
            raise RuntimeError(f"{self.p.args} exited with {self.p.returncode} (log: {self.log.name})")

    def stop(self) -> None:
        stop_group(self.p, grace_s=15)
        self.log.close()


def _wait(cond: Callable[[], Any], what: str, timeout_s: float = PHASE_TIMEOUT_S, every: float = 0.05,
          proc: Proc | None = None) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        v = cond()
        if v:
            return v
        if proc is not None:
            proc.check()
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not reached within {timeout_s:.0f} s")
        time.sleep(every)


# ---------------------------------------------------------------------------------------------- phases
class Run:
    """Shared state of one ``bench_stream`` invocation: broker, Redis DB, temp dir, topics made."""

    def __init__(self, bootstrap: str, redis_url: str, redis_db: int | None, tmp: Path) -> None:
        self.bootstrap, self.tmp = bootstrap, tmp
        self.lease = DbLease(redis_url, redis_db)
        self.run_id = uuid.uuid4().hex[:8]
        self.prefixes: list[str] = []

    def settings(self, case: str):  # type: ignore[no-untyped-def]
        from streams.settings import Settings

        prefix = f"xdbench-{self.run_id}-{case}-"
        if prefix not in self.prefixes:
            self.prefixes.append(prefix)
        from dataclasses import replace

        return replace(Settings.from_env(), kafka_bootstrap=self.bootstrap, redis_url=self.lease.db_url,
                       topic_prefix=prefix, group_id=f"{prefix}det", metrics_port=listen_port(),
                       datadir=str(self.tmp / f"faust-{case}"), log_level="WARNING")

    def env(self, settings: Any, **extra: str) -> dict[str, str]:
        env = {**os.environ, **settings.to_env(), **settings.secret_env(), **extra}
        env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).resolve().parents[1]), env.get("PYTHONPATH", "")])
        return env

    def cleanup(self) -> None:
        from streams import kafka_security

        try:
            admin = kafka_security.admin(self.bootstrap, request_timeout_ms=15000)   # + the environment's security
            names = [t for t in admin.list_topics() if any(t.startswith(p) for p in self.prefixes)]
            if names:
                admin.delete_topics(names, timeout_ms=15000)
            admin.close()
        except Exception:  # noqa: BLE001 - best effort
            pass
        self.lease.release()


def _bare_rate(run: Run, settings: Any, records: int, split: bool) -> float:
    r = run.lease.client()
    key = f"{BARE_KEY}:{settings.topic_prefix}"
    r.delete(key)
    env = run.env(settings, XDBENCH_TOPIC=settings.topic("input"), XDBENCH_SPLIT="1" if split else "0",
                  XDBENCH_KEY=key, DETECTOR_GROUP_ID=settings.group_id + "-bare",
                  DETECTOR_DATADIR=settings.datadir + "-bare")
    proc = Proc([sys.executable, "-m", "detector.offline.stream_bench", "bare"], env, run.tmp / f"bare-{settings.topic_prefix}.log")
    try:
        def done() -> list[float] | None:
            raw = r.get(key)
            if raw is None:
                return None
            first, first_end, n1, last, n = (float(x) for x in raw.split())
            return [first, first_end, n1, last, n] if n >= records else None
        first, first_end, n1, last, n = _wait(done, "bare agent consuming every record", proc=proc)
    finally:
        proc.stop()
        r.close()
    if n > n1:   # the first batch's fetch is not timed: rate over the batches after it
        return (n - n1) / max(last - first_end, 1e-6)
    return n / max(last - first, 1e-6)


def _detector_rate(run: Run, settings: Any, records: int, workers: int = 1) -> dict[str, Any]:
    """Records/s of ``workers`` detector workers in one consumer group on a pre-filled input topic:
    from the earliest first ingest batch start to the latest windows batch end, once every record is
    counted (summed over the workers) and every ``xd-keyed`` offset is applied in Redis."""
    from kafka import TopicPartition

    from streams import kafka_security
    from streams.redis_store import meta_key

    r = run.lease.client()
    r.flushdb()
    ports = [settings.metrics_port] + [listen_port() for _ in range(workers - 1)]
    procs = [Proc([sys.executable, "-m", "streams.worker"], run.env(settings, DETECTOR_METRICS_PORT=str(port)),
                  run.tmp / f"worker-{settings.topic_prefix}-{i}.log") for i, port in enumerate(ports)]
    try:
        starts: dict[int, float] = {}

        def counted() -> bool:
            total = 0.0
            for port in ports:
                m = _scrape(port)
                if port not in starts and m.get('xd_batch_seconds_count{stage="ingest"}', 0) > 0:
                    starts[port] = (m['xd_last_batch_unixtime{stage="ingest"}']
                                    - m['xd_batch_seconds_sum{stage="ingest"}'])
                total += m.get("xd_events_consumed_total", 0) + _sum(m, "xd_rejected_total")
            for proc in procs:
                proc.check()
            return total >= records
        _wait(counted, "ingest counting every record")
        keyed = settings.topic("keyed")
        c = kafka_security.consumer(settings)
        ends = c.end_offsets([TopicPartition(keyed, p) for p in range(settings.partitions)])
        c.close()
        targets = {tp.partition: off - 1 for tp, off in ends.items() if off > 0}

        def applied() -> bool:
            for p, last in targets.items():
                raw = r.hget(meta_key(p), "offset")
                if raw is None or int(raw) < last:
                    return False
            return True
        _wait(applied, "windows stage applying every xd-keyed message", proc=procs[0])
        scraped = [_scrape(port) for port in ports]
        end = max(m.get('xd_last_batch_unixtime{stage="windows"}', 0.0) for m in scraped)
    finally:
        for proc in procs:
            proc.stop()
        r.close()
    start = min(starts.values())
    return {"events_per_s": records / max(end - start, 1e-6), "seconds": end - start,
            "rejected": int(sum(_sum(m, "xd_rejected_total") for m in scraped)),
            "keyed_messages": sum(t + 1 for t in targets.values())}


def _shifted(lines: list[bytes], now_ms: int) -> tuple[list[bytes], list[int]]:
    """Lines with event times moved so the first is ``now_ms`` (as epoch-ms ints), and each one's ts."""
    from detector.offline.feed import _ts_of

    base = next((t for t in (_ts_of(line)[0] for line in lines) if t >= 0), now_ms)
    out, tss = [], []
    for line in lines:
        ts, _ = _ts_of(line)
        if ts < 0:
            out.append(line)
            tss.append(-1)
            continue
        obj = orjson.loads(line)
        obj["ts"] = ts - base + now_ms
        out.append(orjson.dumps(obj))
        tss.append(obj["ts"])
    return out, tss


def _percentile(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, max(0, round(q * (len(s) - 1))))]


def _latency(run: Run, settings: Any, lines: list[bytes], rate: float, config: Config) -> dict[str, Any]:
    from aiokafka import AIOKafkaProducer

    from streams import kafka_security

    from detector.parse import rfc3339_ms
    from detector.offline.feed import batches
    from streams.topics import ensure_topics

    ensure_topics(settings)
    n = min(len(lines), max(200, int(rate * LATENCY_SECONDS)))
    shifted, tss = _shifted(lines[:n], int(time.time() * 1000))
    groups = list(batches(list(zip(shifted, tss)), 100))
    messages = [b"\n".join(v for v, _ in g) for g in groups]
    runmax: list[int] = []
    top = -1
    for g in groups:
        top = max([top] + [t for _, t in g])
        runmax.append(top)
    sent_at: list[float] = []
    r = run.lease.client()
    r.flushdb()
    port = settings.metrics_port
    proc = Proc([sys.executable, "-m", "streams.worker"], run.env(settings),
                run.tmp / f"worker-{settings.topic_prefix}.log")
    interval = 100 / rate

    async def produce() -> None:
        producer = AIOKafkaProducer(**kafka_security.aiokafka_config(settings), acks="all", linger_ms=0,
                                    max_request_size=settings.max_message_bytes)
        await producer.start()
        try:
            sent_at.append(time.time())
            await (await producer.send(settings.topic("input"), messages[0], partition=0))
            await asyncio.to_thread(_wait, lambda: _scrape(port).get("xd_events_consumed_total", 0) > 0,
                                    "worker consuming the warm-up message", PHASE_TIMEOUT_S, 0.05, proc)
            t0 = time.perf_counter()
            pending = []
            for i, value in enumerate(messages[1:], 1):
                delay = t0 + (i - 1) * interval - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                sent_at.append(time.time())
                pending.append(await producer.send(settings.topic("input"), value, partition=0))
            await asyncio.gather(*pending)
        finally:
            await producer.stop()

    try:
        asyncio.run(produce())
        # let the last windows close and the scorer drain: wait until nothing new arrives for 3 s
        last_change, last_count = time.monotonic(), -1.0
        deadline = time.monotonic() + 60
        while time.monotonic() - last_change < 3 and time.monotonic() < deadline:
            m = _scrape(port)
            count = m.get('xd_messages_consumed_total{stage="scorer"}', 0) + _sum(m, "xd_alerts_total")
            if count != last_count:
                last_change, last_count = time.monotonic(), count
            time.sleep(0.2)
    finally:
        proc.stop()
        r.close()

    lateness = config.allowed_lateness_ms

    def delay_for(end_ms: int, arrived_ms: int) -> float | None:
        i = bisect.bisect_left(runmax, end_ms + lateness)
        return None if i >= len(runmax) else arrived_ms / 1000 - sent_at[i]

    c = kafka_security.consumer(settings, settings.topic("alerts"), settings.topic("summaries"),
                      auto_offset_reset="earliest", enable_auto_commit=False, consumer_timeout_ms=3000,
                      max_partition_fetch_bytes=settings.max_message_bytes)
    alerts: dict[str, float] = {}
    markers: list[float] = []
    for msg in c:
        if msg.value is None:
            continue
        if msg.topic == settings.topic("alerts"):
            a = orjson.loads(msg.value)
            d = delay_for(rfc3339_ms(a["window"]["end"]), msg.timestamp)
            if d is not None and a["alert_id"] not in alerts:
                alerts[a["alert_id"]] = d
        else:
            mm = re.match(rb'\{(?:"v":\d+,)?"p":(\d+),"e":(\d+),"m":1', msg.value)  # stages.records.encode_epoch
            if mm:
                d = delay_for(int(mm.group(2)), msg.timestamp)
                if d is not None:
                    markers.append(d)
    c.close()
    use_alerts = len(alerts) >= MIN_ALERTS
    xs = list(alerts.values()) if use_alerts else markers
    out: dict[str, Any] = {
        "latency_kind": "ingest->alert" if use_alerts else "ingest->epoch-summary (windows stage; too few alerts)",
        "latency_p50_s": _percentile(xs, 0.5) if xs else None,
        "latency_p99_s": _percentile(xs, 0.99) if xs else None,
        "latency_samples": len(xs),
        "latency_alerts": len(alerts),
        "latency_rate_events_per_s": rate,
        "latency_records": n,
    }
    if markers:
        out["summary_latency_p50_s"] = _percentile(markers, 0.5)
        out["summary_latency_p99_s"] = _percentile(markers, 0.99)
    return out


def synthetic_windows(n_keys: int, seed: int = 7, config: Config | None = None) -> dict[str, bytes]:
    """``api_key_id -> KeyWindows.to_bytes()`` for ``n_keys`` keys, 2-8 events each within one hour,
    closed fine buckets folded as the windows stage does."""
    from detector.features import EventFeatures
    from detector.windows import KeyWindows

    cfg = config or Config()
    rnd = random.Random(seed)
    fine = cfg.fine_bucket_ms
    t0 = 1_795_000_000_000 - 1_795_000_000_000 % cfg.coarse_bucket_ms
    out: dict[str, bytes] = {}
    for k in range(n_keys):
        key = f"key_{k:07d}_{rnd.getrandbits(32):08x}"
        kw = KeyWindows(key)
        for ts in sorted(t0 + rnd.randrange(cfg.coarse_bucket_ms) for _ in range(rnd.randint(2, 8))):
            kw.add(EventFeatures(ts_ms=ts, api_key_id=key, account_id=f"acct_{k % 5000}", account_created_ms=None,
                                 prompt_fp=rnd.getrandbits(60), skeleton_fp=rnd.getrandbits(60),
                                 skeleton_sig=rnd.getrandbits(60), system_fp=0, flags=0, script=0,
                                 prompt_chars=rnd.randint(20, 2000), input_tokens=rnd.randint(10, 900),
                                 output_tokens=rnd.randint(10, 900), depth=1, model=f"m{rnd.randint(1, 3)}",
                                 ip_prefix=f"10.{rnd.randint(0, 255)}.{rnd.randint(0, 255)}.0/24",
                                 user_agent="sdk/1", end_user_fp=0, status=200), fine)
        for start in range(t0, t0 + cfg.coarse_bucket_ms - fine, fine):
            kw.close(start, fine, cfg.coarse_bucket_ms, cfg.horizons_ms)
        out[key] = kw.to_bytes()
    return out


def redis_bytes_per_key(run: Run, n_keys: int, config: Config) -> dict[str, Any]:
    """Write ``n_keys`` synthetic key windows in the store's layout; measure memory per key."""
    from streams.redis_store import blob_key, keyset_key

    blobs = synthetic_windows(n_keys, config=config)
    ttl = max(1, -(-config.idle_expiry_ms // 1000))
    r = run.lease.client()
    r.flushdb()
    parts = 4
    try:
        before = int(r.info("memory")["used_memory"])
        pipe = r.pipeline(transaction=False)
        for i, (k, v) in enumerate(blobs.items()):
            p = i % parts
            pipe.set(blob_key(p, k), v, ex=ttl)
            pipe.sadd(keyset_key(p), k)
            if i % 2000 == 1999:
                pipe.execute()
        pipe.execute()
        after = int(r.info("memory")["used_memory"])
        sample = random.Random(1).sample(list(enumerate(blobs)), min(REDIS_SAMPLE, len(blobs)))
        usage = [int(r.memory_usage(blob_key(i % parts, k), samples=0) or 0) for i, k in sample]
        sets = sum(int(r.memory_usage(keyset_key(p), samples=0) or 0) for p in range(parts))
    finally:
        r.flushdb()
        r.close()
    return {"redis_bytes_per_key": (after - before) / n_keys, "redis_keys": n_keys,
            "redis_memory_usage_per_blob": sum(usage) / len(usage), "redis_keyset_bytes_per_key": sets / n_keys,
            "redis_blob_payload_bytes": sum(len(v) for v in blobs.values()) / n_keys}


# ---------------------------------------------------------------------------------------------- entry
SCALING_PARTITIONS = 8


def _scaling(run: Run, data: list[bytes], say: Callable[[str], None]) -> dict[str, Any]:
    """One worker, then two in one group, over :data:`SCALING_PARTITIONS` partitions (100-record
    messages spread round-robin): their rates and the ratio two / one."""
    from dataclasses import replace

    from detector.offline.feed import feed_lines
    from streams.topics import ensure_topics

    out: dict[str, Any] = {}
    for workers in (1, 2):
        s = replace(run.settings(f"w{workers}"), partitions=SCALING_PARTITIONS)
        ensure_topics(s)
        feed_lines(s, s.topic("input"), data, 100, spread=True)
        say(f"{workers} worker(s) over {SCALING_PARTITIONS} partitions")
        out[f"workers_{workers}_events_per_s"] = _detector_rate(run, s, len(data), workers)["events_per_s"]
    out["two_workers_over_one"] = out["workers_2_events_per_s"] / out["workers_1_events_per_s"]
    return out


def bench_stream(*, n_records: int = 100_000, seed: int = 7, bootstrap: str | None = None,
                 redis_url: str | None = None, redis_db: int | None = None, redis_keys: int = REDIS_KEYS,
                 lines: list[bytes] | None = None, progress: Callable[[str], None] | None = None,
                 scaling: bool = True) -> dict[str, Any]:
    """Run every phase (see the module docstring) and return one flat dict of figures."""
    from detector.offline.bench import _generated_lines, cpu_model
    from detector.offline.feed import feed_lines
    from streams.settings import Settings
    from streams.topics import ensure_topics

    say = progress or (lambda _m: None)
    env = Settings.from_env()
    bootstrap = bootstrap or env.kafka_bootstrap
    redis_url = redis_url or env.redis_url
    config = Config.from_env()
    say("generating data")
    data = lines if lines is not None else _generated_lines(n_records, seed)
    if not data:
        raise ValueError("no records to benchmark")
    report: dict[str, Any] = {"records": len(data)}
    with tempfile.TemporaryDirectory(prefix="xdbench-") as tmpdir:
        run = Run(bootstrap, redis_url, redis_db, Path(tmpdir))
        try:
            for case, per_msg in (("b100", 100), ("b1", 1)):
                s = run.settings(case)
                ensure_topics(s)
                say(f"producing {len(data)} records, {per_msg} per message")
                feed_lines(s, s.topic("input"), data, per_msg)
                say(f"bare agent, {per_msg} per message")
                bare = _bare_rate(run, s, len(data), split=per_msg > 1)
                say(f"detector worker, {per_msg} per message")
                det = _detector_rate(run, s, len(data))
                sfx = "" if per_msg > 1 else "single_record_"
                report[f"{sfx}bare_events_per_s"] = bare
                report[f"{sfx}detector_events_per_s"] = det["events_per_s"]
                report[f"{sfx}ratio"] = det["events_per_s"] / bare
                report[f"{sfx}detector_seconds"] = det["seconds"]
                report[f"{sfx}rejected"] = det["rejected"]
            if scaling:
                report.update(_scaling(run, data, say))
            rate = report["detector_events_per_s"] / 2
            say(f"latency at {rate:,.0f} records/s")
            report.update(_latency(run, run.settings("lat"), data, rate, config))
            say(f"redis bytes per key ({redis_keys} keys)")
            report.update(redis_bytes_per_key(run, redis_keys, config))
        finally:
            run.cleanup()
    report.update({
        "detector_signal": "start: first ingest batch start (metrics); end: last windows batch once every "
                           "xd-keyed partition's Redis offset is at its log end",
        "batch_size": BATCH, "partitions": env.partitions, "source": f"simulated (seed {seed})",
        "python": f"{sys.implementation.name} {sys.version.split()[0]}", "cpu": cpu_model(),
        "cpus": os.cpu_count(),
    })
    return report


def _bare_main() -> None:
    """The bare pass-through worker (``python -m detector.offline.stream_bench bare``), configured by environment."""
    import faust
    from streams.app import faust_app
    from streams.settings import Settings

    s = Settings.from_env()
    topic, key, split = os.environ["XDBENCH_TOPIC"], os.environ["XDBENCH_KEY"], os.environ["XDBENCH_SPLIT"] == "1"
    app = faust_app(s)
    source = app.topic(topic, key_serializer="raw", value_serializer="raw")
    from streams.redis_conn import redis_client

    client = redis_client(s)
    state = {"first": 0.0, "first_end": 0.0, "n1": 0, "n": 0}

    @app.agent(source, concurrency=1)
    async def passthrough(stream: faust.StreamT) -> None:
        async for values in stream.take(BATCH, within=WITHIN_S):
            if not state["first"]:
                state["first"] = time.time()
            state["n"] += sum(len(v.split(b"\n")) for v in values) if split else len(values)
            now = time.time()
            if not state["first_end"]:
                state["first_end"], state["n1"] = now, state["n"]
            await client.set(key, f'{state["first"]} {state["first_end"]} {state["n1"]} {now} {state["n"]}')

    faust.Worker(app, loglevel="warning", quiet=True).execute_from_commandline()


if __name__ == "__main__":
    if sys.argv[1:] == ["bare"]:
        sys.argv[1:] = []
        _bare_main()
    else:
        sys.exit("usage: python -m detector.offline.stream_bench bare")
