"""End to end through the real broker, Redis and worker subprocesses (``python -m streams.worker``).

One simulated traffic file (all scenarios) is replayed in-process once and fed through Kafka in
100-record NDJSON messages, closed by a ``{"__watermark__": ...}`` control message that closes
exactly the epochs replay's end-of-input flush closes. The uninterrupted run (module fixture) is
the reference; the other tests disturb a run (SIGKILL, a second worker, Redis/Kafka restarts,
hostile input, planted canaries) and compare with it. Each run has its own consumer group, topic
prefix and Redis DB.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import pickle
import signal
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import orjson
import pytest
import redis

from detector.offline.ports import listen_port
from detector.offline.processes import stop_group
from detector.config import Config
from detector.parse import parse_message
from detector.profiles import load_profiles
from detector.record import Rejection
from detector.offline.replay import open_lines, replay_lines
from detector.offline.feed import batches, end_watermark, feed_messages, send_watermark
from detector.offline.kafka_range import compare_with_live, live_alerts, read_records, read_time_range
from detector.offline.chaos import canonical
from streams.redis_store import SCORER_KEY, meta_key
from streams.settings import Settings
from streams.topics import ensure_topics, topic_specs

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

REPO = Path(__file__).resolve().parents[2]
P = 4
DONE_TIMEOUT_S = 240


# ------------------------------------------------------------------------------------ fixtures


@dataclass
class Sim:
    path: Path
    messages: list[bytes]
    max_ts: int
    watermark: int
    final_epoch: int
    config: Config
    allowlist: list[str]
    labels: dict[str, str]
    replay: Any
    events: int


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Sim:
    from detector.parse import parse_line
    from detector.offline.simulate import simulate

    out = tmp_path_factory.mktemp("live-sim")
    res = simulate(out, seed=5, scenario="all", hours=3, scale=0.05)
    lines = list(open_lines(res.events_path))
    messages = [b"\n".join(b) for b in batches(lines, 100)]
    max_ts = max(parse_line(line).ts_ms for line in lines)  # type: ignore[union-attr]
    allow = orjson.loads(Path(res.allowlist_path).read_bytes())["accounts"]
    config = Config().with_allowlist(allow)
    labels = {}
    for row in Path(res.labels_path).read_bytes().splitlines():
        d = orjson.loads(row)
        labels[d["api_key_id"]] = d.get("campaign") or ""
    wm = end_watermark(max_ts, config)
    final = wm - config.allowed_lateness_ms
    return Sim(res.events_path, messages, max_ts, wm, final, config, allow, labels,
               replay_lines(messages, config), len(lines))


@contextlib.contextmanager
def leased_db(redis_url: str) -> Iterator[str]:
    """A Redis DB of its own (same lease protocol as tests/integration/conftest.py)."""
    base = redis.Redis.from_url(redis_url)
    databases = int(base.config_get("databases")["databases"])
    base.close()
    parts = urlsplit(redis_url)

    def url(db: int) -> str:
        return urlunsplit((parts.scheme, parts.netloc, f"/{db}", parts.query, parts.fragment))

    leases = redis.Redis.from_url(url(databases - 1))
    owner = f"{os.getpid()}:e2e:{uuid.uuid4().hex[:6]}"
    deadline = time.monotonic() + 60
    db = None
    while db is None:
        for n in range(1, databases - 1):
            if leases.set(f"xdtest:dblease:{n}", owner, nx=True, ex=900):
                db = n
                break
        else:
            assert time.monotonic() < deadline, "no free Redis test DB"
            time.sleep(0.5)
    conn = redis.Redis.from_url(url(db))
    conn.flushdb()
    try:
        yield url(db)
    finally:
        with contextlib.suppress(Exception):
            conn.flushdb()
            conn.close()
            if leases.get(f"xdtest:dblease:{db}") == owner.encode():
                leases.delete(f"xdtest:dblease:{db}")
            leases.close()


class Worker:
    """One supervised worker subprocess (its own process group), output captured to a file."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.log_path = log_path
        self.log = log_path.open("ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "streams.worker"], cwd=REPO, env=env,
                                     stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)

    def kill(self) -> None:
        """SIGKILL the supervisor and the Faust child: a crash."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        stop_group(self.proc)
        self.log.close()


@dataclass
class Run:
    name: str
    settings: Settings
    sim: Sim
    tmp: Path
    workers: list[Worker] = field(default_factory=list)

    @property
    def bootstrap(self) -> str:
        return self.settings.kafka_bootstrap

    def env(self, metrics_port: int = 0) -> dict[str, str]:
        env = dict(os.environ, **self.settings.to_env())
        env["DETECTOR_METRICS_PORT"] = str(metrics_port)
        env["DETECTOR_ALLOWLIST_ACCOUNTS"] = ",".join(self.sim.allowlist)
        env["PYTHONUNBUFFERED"] = "1"
        env["DETECTOR_DATADIR"] = str(self.tmp / f"{self.name}-faust-data")
        return env

    def start_worker(self, metrics_port: int = 0) -> Worker:
        w = Worker(self.env(metrics_port), self.tmp / f"{self.name}-worker{len(self.workers)}.log")
        self.workers.append(w)
        return w

    def feed(self, messages: list[bytes]) -> None:
        feed_messages(self.bootstrap, self.settings.topic("input"), messages)

    def feed_paced(self, messages: list[bytes], seconds: float) -> threading.Thread:
        """Feed in the background, spread over ``seconds``, then the closing watermark."""
        def run() -> None:
            step = max(1, len(messages) // 20)
            for i in range(0, len(messages), step):
                self.feed(messages[i:i + step])
                time.sleep(seconds / 20)
            self.close_input()
        t = threading.Thread(target=run, daemon=True)
        t.start()
        return t

    def close_input(self) -> None:
        send_watermark(self.bootstrap, self.settings.topic("input"), self.sim.watermark)

    def redis(self) -> redis.Redis:
        return redis.Redis.from_url(self.settings.redis_url)

    def progress(self) -> dict[str, int]:
        """Scorer's next epoch and the smallest stage-2 watermark (-1 when unknown)."""
        r = self.redis()
        try:
            meta = r.hget(SCORER_KEY, "meta")
            nxt = orjson.loads(meta)["next_epoch"] if meta else -1
            wms = []
            for p in range(P):
                state = r.hget(meta_key(p), "state")
                wms.append(orjson.loads(state)["watermark_ms"] if state else -1)
            return {"next_epoch": nxt, "watermark": min(wms), "scorer_offset": int(r.hget(SCORER_KEY, "offset") or -1)}
        except redis.ConnectionError:
            return {"next_epoch": -1, "watermark": -1, "scorer_offset": -1}
        finally:
            r.close()

    def wait(self, cond: Callable[[dict[str, int]], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if cond(self.progress()):
                return
            time.sleep(0.25)
        raise AssertionError(f"{self.name}: timed out waiting for {what}; progress {self.progress()}\n"
                             + self.log_tail())

    def wait_done(self, timeout: float = DONE_TIMEOUT_S) -> float:
        started = time.monotonic()
        fine = self.sim.config.fine_bucket_ms
        last_wm = self.sim.watermark - self.sim.config.allowed_lateness_ms
        self.wait(lambda pr: pr["next_epoch"] >= self.sim.final_epoch + fine and pr["watermark"] >= last_wm,
                  timeout, "the final epoch")
        return time.monotonic() - started

    def log_tail(self, n: int = 60) -> str:
        out = []
        for w in self.workers:
            lines = w.log_path.read_text(errors="replace").splitlines()[-n:]
            out.append(f"--- {w.log_path.name}\n" + "\n".join(lines))
        return "\n".join(out)

    def alerts(self) -> list[dict[str, Any]]:
        return live_alerts(self.bootstrap, self.settings.topic("alerts"))

    def decisions(self) -> list[tuple[str, Any]]:
        return [(r.key.decode(), None if r.value is None else orjson.loads(r.value))
                for r in read_records(self.bootstrap, self.settings.topic("decisions"))]

    def stop(self) -> None:
        for w in self.workers:
            w.stop()


@contextlib.contextmanager
def live_run(name: str, kafka_bootstrap: str, redis_url: str, sim: Sim, tmp: Path) -> Iterator[Run]:
    tag = uuid.uuid4().hex[:8]
    with leased_db(redis_url) as db_url:
        settings = Settings(kafka_bootstrap=kafka_bootstrap, redis_url=db_url, partitions=P,
                            group_id=f"xdt-{name}-{tag}", topic_prefix=f"xdt-{name}-{tag}.",
                            batch_size=50, batch_within_s=0.2, log_level="INFO", session_timeout_s=8.0)
        ensure_topics(settings)
        run = Run(name, settings, sim, tmp)
        try:
            yield run
        finally:
            run.stop()
            _delete_topics(kafka_bootstrap, [s.name for s in topic_specs(settings)])


def _delete_topics(bootstrap: str, names: list[str]) -> None:
    from kafka import KafkaAdminClient

    with contextlib.suppress(Exception):
        admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15000)
        try:
            admin.delete_topics(names, raise_errors=False)
        finally:
            admin.close()


def redis_state(url: str) -> dict[str, Any]:
    """All keys and values; the ``offset`` fields (internal-topic offsets, which depend on batching)
    left out; the scorer checkpoint compared by content (pickled sets have no canonical order)."""
    r = redis.Redis.from_url(url)
    out: dict[str, Any] = {}
    try:
        for key in sorted(r.scan_iter(count=1000)):
            kind = r.type(key)
            if kind == b"string":
                out[key.decode()] = r.get(key)
            elif kind == b"hash":
                fields = {k.decode(): v for k, v in r.hgetall(key).items() if k != b"offset"}
                if "scorer" in fields:
                    fields["scorer"] = canonical(pickle.loads(fields["scorer"]))  # noqa: S301 - our checkpoint
                out[key.decode()] = fields
            elif kind == b"set":
                out[key.decode()] = sorted(r.smembers(key))
    finally:
        r.close()
    return out


def alert_view(alerts: list[dict[str, Any]]) -> dict[str, tuple[Any, ...]]:
    """alert id -> (subject, keys, severity, action); live duplicates collapse."""
    return {a["alert_id"]: (a["kind"], a["subject_id"], tuple(a["api_key_ids"]), a["severity"], a["action"])
            for a in alerts}


def final_decisions(decisions: list[tuple[str, Any]]) -> dict[str, Any]:
    """Subject -> its last decision (what a compacted topic converges to); lifted ones removed."""
    out: dict[str, Any] = {}
    for k, v in decisions:
        out[k] = v
    return {k: v for k, v in out.items() if v is not None}


def metrics_text(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:  # noqa: S310
        return resp.read().decode()


@dataclass
class Outcome:
    alerts: list[dict[str, Any]]
    decisions: list[tuple[str, Any]]
    state: dict[str, Any]
    seconds: float
    metrics: str
    health: int


@pytest.fixture(scope="module")
def reference(sim: Sim, kafka_bootstrap: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Outcome:
    """The uninterrupted run: everything fed first, one worker, timed."""
    tmp = tmp_path_factory.mktemp("ref")
    with live_run("ref", kafka_bootstrap, redis_url, sim, tmp) as run:
        run.feed(sim.messages)
        run.close_input()
        port = listen_port()
        run.start_worker(metrics_port=port)
        seconds = run.wait_done()
        text = metrics_text(port)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as resp:  # noqa: S310
            health = resp.status
        assert "exited with" not in run.log_tail(10_000), run.log_tail()
        return Outcome(run.alerts(), run.decisions(), redis_state(run.settings.redis_url), seconds, text, health)


# -------------------------------------------------------------------------------------- tests


def test_live_equals_replay(sim: Sim, reference: Outcome, kafka_bootstrap: str) -> None:
    replay = sim.replay
    assert replay.alerts, "the simulated campaigns should raise alerts in replay"
    assert alert_view(reference.alerts) == alert_view(replay.alerts)
    # decisions: the compacted topic converges to exactly replay's final decisions
    assert final_decisions(reference.decisions) == final_decisions(replay.decisions)
    assert {k for k, _ in reference.decisions} == {k for k, _ in replay.decisions}
    # campaigns: live detects what replay detects (bulk single-key and hydra clusters)
    detected = {k for a in replay.alerts for k in a["api_key_ids"]}
    live_detected = {k for a in reference.alerts for k in a["api_key_ids"]}
    for campaign in ("bulk_distill", "hydra"):
        keys = {k for k, c in sim.labels.items() if c == campaign}
        assert bool(keys & detected) == bool(keys & live_detected), campaign
    assert reference.health == 200
    assert "xd_events_consumed_total" in reference.metrics and "xd_batch_seconds_bucket" in reference.metrics
    events = next(float(line.split()[-1]) for line in reference.metrics.splitlines()
                  if line.startswith("xd_events_consumed_total"))
    assert events == sim.events
    print(f"\nreference run: {sim.events} events, {len(sim.messages)} messages, done {reference.seconds:.1f}s "
          f"after worker start; replay {replay.seconds:.2f}s; alerts {len(alert_view(reference.alerts))}")


def test_campaigns_detected(sim: Sim, reference: Outcome) -> None:
    """Bulk single-key distillation and the hydra cluster are alerted (when replay detects them:
    the detector's tuning is owned elsewhere; equality with replay is asserted above)."""
    detected = {k for a in reference.alerts for k in a["api_key_ids"]}
    replay_detected = {k for a in sim.replay.alerts for k in a["api_key_ids"]}
    missing = []
    for campaign in ("bulk_distill", "hydra"):
        keys = {k for k, c in sim.labels.items() if c == campaign}
        if keys & replay_detected:
            assert keys & detected, campaign
        else:
            missing.append(campaign)
    if missing:
        print(f"\nnote: replay does not detect {missing} on this simulation yet")


def test_read_time_range_and_compare_with_live(sim: Sim, reference: Outcome, kafka_bootstrap: str,
                                               redis_url: str, tmp_path: Path) -> None:
    """Reading a time range back gives the fed messages in order (without control messages), and
    replaying it gives the live alerts; compare_with_live reports equality and a difference."""
    from kafka import KafkaProducer

    with live_run("range", kafka_bootstrap, redis_url, sim, tmp_path) as run:
        since = int(time.time() * 1000) - 1000
        run.feed(sim.messages)
        run.close_input()
        until = int(time.time() * 1000) + 1000
        values = list(read_time_range(kafka_bootstrap, run.settings.topic("input"), since, until))
        assert values == sim.messages
        assert list(read_time_range(kafka_bootstrap, run.settings.topic("input"), until, None)) == []
        replayed = replay_lines(values, sim.config)
        # the reference run's topics are gone: publish its alerts (with duplicates) to this run's topic
        prod = KafkaProducer(bootstrap_servers=kafka_bootstrap)
        for a in reference.alerts + reference.alerts[:3]:
            prod.send(run.settings.topic("alerts"), key=a["subject_id"].encode(), value=orjson.dumps(a))
        prod.flush()
        prod.close()
        alerts_topic = run.settings.topic("alerts")
        diff = compare_with_live(kafka_bootstrap, replayed.alerts, None, None, topic=alerts_topic)
        assert diff.equal, diff.describe()
        if replayed.alerts:
            first = replayed.alerts[0]
            t = first["detected_at"]
            from detector.parse import rfc3339_ms

            window = compare_with_live(kafka_bootstrap, replayed.alerts, rfc3339_ms(t), rfc3339_ms(t) + 1,
                                       topic=alerts_topic)
            assert window.equal and window.common >= 1
            changed = compare_with_live(kafka_bootstrap, replayed.alerts[1:], None, None, topic=alerts_topic)
            assert not changed.equal and "only live" in changed.describe()


def test_crash_restart_gives_the_same_state(sim: Sim, reference: Outcome, kafka_bootstrap: str, redis_url: str,
                                            tmp_path: Path) -> None:
    """SIGKILL the worker three times during a run; the final Redis state and alert ids equal the
    uninterrupted run's."""
    with live_run("crash", kafka_bootstrap, redis_url, sim, tmp_path) as run:
        feeder = run.feed_paced(sim.messages, seconds=12)
        worker = run.start_worker()
        kills = 0
        for cond, what in (
            (lambda pr: pr["watermark"] > 0, "first stage-2 state"),
            (lambda pr: pr["next_epoch"] > 0, "first scored epoch"),
            (lambda pr: pr["next_epoch"] >= sim.final_epoch - 6 * sim.config.fine_bucket_ms, "late epochs"),
        ):
            run.wait(cond, DONE_TIMEOUT_S, what)
            worker.kill()
            kills += 1
            worker = run.start_worker()
        feeder.join(timeout=120)
        run.wait_done()
        assert kills == 3
        assert alert_view(run.alerts()) == alert_view(reference.alerts)
        assert final_decisions(run.decisions()) == final_decisions(reference.decisions)
        state = redis_state(run.settings.redis_url)
    assert_same_state(state, reference.state)


def assert_same_state(state: dict[str, Any], ref: dict[str, Any]) -> None:
    assert sorted(state) == sorted(ref)
    for key in sorted(ref):
        assert state[key] == ref[key], f"{key} differs"


def test_second_worker_mid_run_rebalances(sim: Sim, reference: Outcome, kafka_bootstrap: str, redis_url: str,
                                          tmp_path: Path) -> None:
    with live_run("rebal", kafka_bootstrap, redis_url, sim, tmp_path) as run:
        feeder = run.feed_paced(sim.messages, seconds=14)
        run.start_worker()
        run.wait(lambda pr: pr["next_epoch"] > 0, DONE_TIMEOUT_S, "first scored epoch")
        second = run.start_worker()
        feeder.join(timeout=120)
        run.wait_done()
        assert alert_view(run.alerts()) == alert_view(reference.alerts)
        assert final_decisions(run.decisions()) == final_decisions(reference.decisions)
        state = redis_state(run.settings.redis_url)
        second_log = second.log_path.read_text(errors="replace")
    assert "loaded" in second_log, "the second worker never took over a partition"
    assert_same_state(state, reference.state)


def ctl(action: str, service: str) -> None:
    """``deploy/local/ctl.sh action service`` (restarts the shared local service)."""
    proc = subprocess.run(["bash", str(REPO / "deploy" / "local" / "ctl.sh"), action, service],
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, f"ctl.sh {action} {service} failed:\n{proc.stdout}{proc.stderr}"


def test_redis_and_kafka_restarts_mid_run(sim: Sim, reference: Outcome, kafka_bootstrap: str, redis_url: str,
                                          tmp_path: Path) -> None:
    """The workers recover by themselves from a Redis restart and a Kafka restart."""
    n = len(sim.messages)
    with live_run("restart", kafka_bootstrap, redis_url, sim, tmp_path) as run:
        run.feed(sim.messages[: n // 3])
        run.start_worker()
        run.wait(lambda pr: pr["next_epoch"] > 0, DONE_TIMEOUT_S, "first scored epoch")
        run.feed(sim.messages[n // 3: 2 * n // 3])
        ctl("restart", "redis")
        run.wait(lambda pr: pr["watermark"] > 0 and pr["scorer_offset"] >= 0, DONE_TIMEOUT_S, "progress after redis")
        run.feed(sim.messages[2 * n // 3: 5 * n // 6])
        ctl("restart", "kafka")
        run.feed(sim.messages[5 * n // 6:])
        run.close_input()
        run.wait_done(timeout=420)
        assert alert_view(run.alerts()) == alert_view(reference.alerts)
        assert final_decisions(run.decisions()) == final_decisions(reference.decisions)
        state = redis_state(run.settings.redis_url)
    assert_same_state(state, reference.state)


HOSTILE_TS = 1_795_000_000_000


def hostile_messages(sim: Sim) -> list[bytes]:
    """Messages that must all end in the dead-letter topic (none of their records is valid)."""
    ts = orjson.loads(sim.messages[0].split(b"\n")[0])["ts"]
    big = "x" * (1024 * 1024)
    return [
        b"\xff\xfe\x00 not utf-8 \xc3\x28",
        b"this is not json {",
        b"[1, \"two\", null, {\"ts\": \"yesterday\", \"api_key_id\": \"k\"}]",
        b"{\"api_key_id\": \"key_missing_ts\"}\n{\"ts\": 1795700000000}\n",
        orjson.dumps({"ts": ts, "api_key_id": 12345}),
        orjson.dumps({"ts": ts, "api_key_id": "key_bad_usage", "usage": {"input_tokens": "many"}}),
        orjson.dumps({"ts": ts, "api_key_id": "key_big_bad", "params": {"n": True},
                      "messages": [{"role": "user", "content": big}]}),
        orjson.dumps({"ts": ts, "api_key_id": "key_oversize", "messages": [{"role": "user", "content": big * 3}]}),
        b"[]",
        b"\"just a string\"",
        orjson.dumps({"ts": ts, "api_key_id": "key_bad_role", "messages": [{"role": "wizard", "content": "hi"}]}),
        gzip.compress(b"{\"ts\": 1}"),
    ]


def test_hostile_input_goes_to_the_dlq(sim: Sim, reference: Outcome, kafka_bootstrap: str, redis_url: str,
                                       tmp_path: Path) -> None:
    hostile = hostile_messages(sim)
    expected: list[str] = []
    for m in hostile:
        results = parse_message(m)
        assert all(isinstance(r, Rejection) for r in results)
        expected += [r.reason for r in results]  # type: ignore[union-attr]
    mixed: list[bytes] = []
    step = max(1, len(sim.messages) // len(hostile))
    for i, m in enumerate(sim.messages):
        mixed.append(m)
        if i % step == 0 and hostile:
            mixed.append(hostile[(i // step) % len(hostile)])
    inserted = [m for m in mixed if m not in sim.messages]
    expected = [r.reason for m in inserted for r in parse_message(m)]  # type: ignore[union-attr]
    with live_run("hostile", kafka_bootstrap, redis_url, sim, tmp_path) as run:
        run.feed(mixed)
        run.close_input()
        run.start_worker()
        run.wait_done()
        assert alert_view(run.alerts()) == alert_view(reference.alerts)
        dlq = list(read_records(kafka_bootstrap, run.settings.topic("dlq")))
        log = run.log_tail(100_000)
    assert "exited with" not in log, log[-5000:]
    assert sorted(dict(r.headers)["x-reject-reason"].decode() for r in dlq) == sorted(expected)
    for r in dlq:
        h = dict(r.headers)
        assert {"x-reject-reason", "x-reject-detail", "x-source-topic", "x-source-partition",
                "x-source-offset"} <= h.keys()
        assert h["x-source-topic"].decode().endswith("gateway-logs")
    # original bytes are kept (the non-UTF-8 one byte for byte)
    assert hostile[0] in [r.value for r in dlq]


CANARY = "CANARYq7x3zv"


def canary_records(sim: Sim) -> tuple[list[bytes], list[bytes]]:
    """(valid records with canaries in their prompts, one rejected record with a canary)."""
    first = orjson.loads(sim.messages[len(sim.messages) // 2].split(b"\n")[0])
    ts = first["ts"]
    good = []
    for i in range(30):
        good.append(orjson.dumps({
            "ts": ts, "api_key_id": f"key_canary_{i % 3}", "request_id": f"req_canary_{i}",
            "model": "claude-x-1", "system": f"You are {CANARY}-system helper",
            "usage": {"input_tokens": 40, "output_tokens": 300},
            "messages": [{"role": "user", "content": f"Please repeat {CANARY}-user-{i} and {CANARY.lower()} now"},
                         {"role": "assistant", "content": f"{CANARY}-assistant"}],
        }))
    good.append(orjson.dumps({"ts": ts, "api_key_id": "key_canary_big",
                              "messages": [{"role": "user", "content": (CANARY + " ") * 90_000}]}))
    bad = [orjson.dumps({"ts": ts, "api_key_id": "key_canary_bad", "status": "oops",
                         "messages": [{"role": "user", "content": f"secret {CANARY}"}]})]
    return good, bad


def test_canaries_never_leave_ingest(sim: Sim, kafka_bootstrap: str, redis_url: str, tmp_path: Path) -> None:
    good, bad = canary_records(sim)
    half = len(sim.messages) // 2
    messages = sim.messages[:half] + [b"\n".join(good)] + bad + sim.messages[half:]
    needle = CANARY.lower().encode()

    def leaks(blob: bytes | str | None) -> bool:
        if blob is None:
            return False
        data = blob.encode() if isinstance(blob, str) else blob
        return needle in data.lower()

    with live_run("privacy", kafka_bootstrap, redis_url, sim, tmp_path) as run:
        run.feed(messages)
        run.close_input()
        port = listen_port()
        run.start_worker(metrics_port=port)
        run.wait_done()
        page = metrics_text(port)
        found: list[str] = []
        # Redis: every key name and every value
        r = run.redis()
        try:
            keys = list(r.scan_iter(count=1000))
            assert any(b"key_canary_big" in k for k in keys), "the canary records were not processed"
            for key in keys:
                kind = r.type(key)
                values: list[bytes] = [key]
                if kind == b"string":
                    values.append(r.get(key) or b"")
                elif kind == b"hash":
                    for f, v in r.hgetall(key).items():
                        values += [f, v]
                elif kind == b"set":
                    values += list(r.smembers(key))
                if any(leaks(v) for v in values):
                    found.append(f"redis {key!r}")
        finally:
            r.close()
        # Kafka: every topic but the input and the dead-letter topic
        for which in ("keyed", "summaries", "alerts", "decisions"):
            for rec in read_records(kafka_bootstrap, run.settings.topic(which)):
                if leaks(rec.value) or leaks(rec.key) or any(leaks(v) for _, v in rec.headers or []):
                    found.append(f"topic {which} offset {rec.offset}")
        dlq = [rec.value for rec in read_records(kafka_bootstrap, run.settings.topic("dlq"))]
        assert any(leaks(v) for v in dlq), "the rejected canary record should be in the DLQ"
        if leaks(page):
            found.append("/metrics")
        run.stop()
        for w in run.workers:
            if leaks(w.log_path.read_bytes()):
                found.append(f"log {w.log_path.name}")
    assert not found, f"canary leaked to: {found}"


def test_allowlisted_profile_is_not_actioned_live_or_in_replay(sim: Sim, reference: Outcome, kafka_bootstrap: str,
                                                               redis_url: str, tmp_path: Path) -> None:
    """An account profile with ``allowlisted: true``, published with ``detector profiles publish``
    for the account behind an actioned extraction key, reaches the scorer through the compacted
    profiles topic: the live pipeline never actions that account's keys, bad profile messages end in
    the dead-letter topic, and ``detector replay --accounts`` of the same file decides the same."""
    from typer.testing import CliRunner

    from detector.cli import app as cli
    from detector.offline.feed import produce

    actioned = [a for a in reference.alerts if a["kind"] == "key" and a["account_ids"]
                and a["action"] in ("throttle", "block")]
    assert actioned, "the reference run should action an extraction key"
    account = actioned[0]["account_ids"][0]
    accounts = tmp_path / "accounts.jsonl"
    accounts.write_bytes(orjson.dumps({"account_id": account, "tier": "enterprise", "allowlisted": True,
                                       "updated_at": "2020-01-01T00:00:00Z"}) + b"\n"
                         + orjson.dumps({"account_id": "acct_unrelated", "org_id": "org_x", "verified": True}) + b"\n")
    runner = CliRunner()
    allow_env = {"DETECTOR_ALLOWLIST_ACCOUNTS": ",".join(sim.allowlist)}
    alerts_out = tmp_path / "replay-alerts.jsonl"
    replayed = runner.invoke(cli, ["replay", str(sim.path), "--accounts", str(accounts),
                                   "--alerts-out", str(alerts_out)], env=allow_env)
    assert replayed.exit_code == 0, replayed.output
    replay_alerts = [orjson.loads(line) for line in alerts_out.read_bytes().splitlines()]
    assert not any(account in a["account_ids"] for a in replay_alerts if a["kind"] == "key")
    with live_run("profiles", kafka_bootstrap, redis_url, sim, tmp_path) as run:
        published = runner.invoke(cli, ["profiles", "publish", str(accounts)], env=run.settings.to_env())
        assert published.exit_code == 0, published.output
        topic = run.settings.topic("profiles")
        produce(kafka_bootstrap, topic, [(b'{"account_id": "acct_a"}', b"acct_b", None),
                                         (b"{not json", b"acct_c", None), (None, b"acct_unrelated", None)])
        run.start_worker()
        # the profiles are on the scorer's input before any traffic, as replay has them before the first epoch
        deadline = time.monotonic() + DONE_TIMEOUT_S
        while sum(b"profile" in (r.value or b"")
                  for r in read_records(kafka_bootstrap, run.settings.topic("summaries"))) < 3:
            assert time.monotonic() < deadline, "profiles never reached the scorer's input\n" + run.log_tail()
            time.sleep(0.25)
        run.feed(sim.messages)
        run.close_input()
        run.wait_done()
        live = run.alerts()
        decisions = run.decisions()
        dlq = list(read_records(kafka_bootstrap, run.settings.topic("dlq")))
        assert "exited with" not in run.log_tail(10_000), run.log_tail()
    assert not any(account in a["account_ids"] for a in live if a["kind"] == "key")
    assert alert_view(live) == alert_view(replay_alerts) != alert_view(reference.alerts)
    assert final_decisions(decisions) == final_decisions(
        replay_lines(sim.messages, sim.config, profiles=load_profiles(accounts)[0]).decisions)
    assert sorted(dict(r.headers)["x-reject-reason"].decode() for r in dlq) == ["key_mismatch", "not_json"]
    assert all(dict(r.headers)["x-source-topic"].decode() == topic for r in dlq)
