"""Reliability benchmark: the live pipeline uninterrupted vs. SIGKILLed ``K`` times (``detector bench chaos``).

:func:`bench_chaos` simulates traffic once (``detector.offline.simulate``: a day of all scenarios, scaled to
``n_events``, streamed to a gzip file and read back line by line, so memory stays bounded whatever
``n_events``) and runs the live pipeline on it twice, on the local broker and Redis, each run with
its own topic prefix, consumer group, Faust data directory and leased Redis DB:

1. **reference**: the input fed first (100-record NDJSON messages on one partition, closed by the
   end-of-input watermark, as ``tests/e2e/test_live.py`` does), then one supervised worker
   (``streams.worker.run_worker``, what ``detector worker`` runs) until done;
2. **chaos**: the same input, the same worker, but the Faust worker process (the supervisor's child,
   ``python -m streams.worker --child``) is SIGKILLed ``kills`` times. Kill ``i`` is due once the
   run's progress (:meth:`Progress.fraction`: the mean share done of the three stages, from the
   group's committed input offsets and the stored ``xd-keyed``/``xd-summaries`` offsets against the
   reference run's totals) passed ``i / (kills + 1)`` *and* the worker process then holding the
   partitions (the consumer group stable with it as its only member; Kafka lists a killed member
   until its session times out) has stored work of its own; it comes 0-0.3 s (seeded) later, so
   kills land in every phase of a batch. After each kill the supervisor starts a new process; the
   bench waits until it holds the partitions (else fails), and the last one finishes the run. The
   supervisor's restart backoff is capped at ``max_backoff_s`` (the policy is not what is measured;
   ``detector worker`` caps it at 30 s).

Both runs use agent batches of :data:`BENCH_BATCH` messages (``DETECTOR_BATCH_SIZE`` overrides): a
pre-fed backlog fills every batch, and at the worker's default of 500 (50,000 events per ingest
batch) a million events are only 20 ingest batches, too few to spread 20 kills over.

**Done** (both runs, no internals of the stages): the consumer group's committed input offsets are
at the input's log end, every ``xd-keyed`` partition's stored offset (``xd:{pN}:meta`` ``offset``)
is at its log end, and the scorer's stored offset (``xd:{scorer}:state`` ``offset``) is at the end
of ``xd-summaries`` -- twice in a row with unchanged log ends. Wall time = worker start to done
(also given from the moment the first worker got its partitions, without Faust's start-up).

**Compared** (:func:`compare_redis`, :func:`summarize_alerts`):

* every Redis key of the two DBs by name, type and content: per-key window blobs (byte for byte),
  per-partition key sets, partition metadata hashes and the scorer checkpoint, field by field. A
  pickled field (the scorer) whose bytes differ is compared by content (sets in a pickle follow the
  per-process string hash seed, so equal states may pickle differently). Not compared, and printed:
  the hash fields ``offset`` (offsets in the internal topics ``xd-keyed``/``xd-summaries``, which
  depend on how ingest batches were cut and on rows re-sent after a crash), and key TTLs (set
  from wall time at the last write).
* the alerts topic: distinct alert ids of each run (at-least-once output: redeliveries are counted
  as duplicates, not as differences), and for ids in both runs their content;
* the decisions topic: each subject's last decision (what the compacted topic converges to);
* the dead-letter topic: record counts.

``identical`` is true when all of those agree; the CLI exits 1 otherwise.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import os
import pickle
import random
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import orjson

from detector.config import Config
from detector.offline.processes import stop_group

SIM_HOURS = 24.0
SIM_EVENTS_AT_SCALE_1 = 290_000     # a simulated day at scale 1.0 (as detector.offline.bench); a first guess only
RECORDS_PER_MESSAGE = 100
POLL_S = 0.1
DONE_EVERY_S = 0.5                  # completion needs Kafka admin calls: checked less often
JITTER_S = 0.3                      # a kill comes 0-0.3 s (seeded) after it is due: every phase of a batch
KEEPALIVE_S = 60.0                  # how often the Redis DB leases are extended during a run
LEASE_TTL_S = 1800
BENCH_BATCH = 50                    # Kafka messages per agent batch in both runs (unless DETECTOR_BATCH_SIZE)
STALL_S = 300.0                     # no stored offset moved for this long (and not done): fail
RESTART_TIMEOUT_S = 240.0           # a killed worker has no successor persisting work after this: fail
EXAMPLES = 10                       # differing keys/ids listed per category
LEGIT_FIELDS = ("offset",)          # hash fields that are internal-topic offsets (batching-dependent)


# ---------------------------------------------------------------------------------------------- pure parts
def kill_thresholds(kills: int) -> list[float]:
    """Progress fractions at which the kills are due, evenly spread over the run.

    >>> kill_thresholds(3)
    [0.25, 0.5, 0.75]
    """
    return [(i + 1) / (kills + 1) for i in range(kills)]


def canonical(obj: Any, depth: int = 0) -> Any:
    """A comparable form of an unpickled object graph: sets sorted, objects as their attributes,
    nested pickles (the anomaly model) unpickled, extension objects as their reduced state."""
    if depth > 60:
        return repr(type(obj))
    if isinstance(obj, (str, int, float, bool, type(None))):
        return obj
    if isinstance(obj, type) or callable(obj) and not hasattr(obj, "__dict__"):
        return getattr(obj, "__qualname__", repr(type(obj)))
    if isinstance(obj, bytes):
        if obj[:1] == b"\x80":
            try:
                return canonical(pickle.loads(obj), depth + 1)  # noqa: S301 - our own checkpoint
            except Exception:  # noqa: BLE001 - not a pickle after all
                return obj
        return obj
    if isinstance(obj, dict):
        return sorted(((repr(canonical(k, depth + 1)), canonical(v, depth + 1)) for k, v in obj.items()),
                      key=lambda kv: kv[0])
    if isinstance(obj, (set, frozenset)):
        return sorted((canonical(v, depth + 1) for v in obj), key=repr)
    if isinstance(obj, (list, tuple)):
        return [canonical(v, depth + 1) for v in obj]
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if hasattr(obj, "__dict__") or hasattr(obj, "__slots__"):
        attrs = dict(getattr(obj, "__dict__", {}))
        for cls in type(obj).__mro__:
            for s in getattr(cls, "__slots__", ()):
                if hasattr(obj, s):
                    attrs[s] = getattr(obj, s)
        if attrs:
            return [type(obj).__name__, canonical(attrs, depth + 1)]
    try:  # an extension object (River's Rust sketches): its pickled state
        reduced = obj.__reduce_ex__(5)
        return [type(obj).__name__, canonical(list(reduced[1:]), depth + 1)]
    except Exception:  # noqa: BLE001
        return repr(obj)


def same_value(a: bytes, b: bytes) -> tuple[bool, bool]:
    """(equal, equal only by content): bytes equal, or both pickles with equal :func:`canonical` forms."""
    if a == b:
        return True, False
    if a[:1] == b[:1] == b"\x80":
        try:
            equal = canonical(pickle.loads(a)) == canonical(pickle.loads(b))  # noqa: S301 - ours
            return equal, equal
        except Exception:  # noqa: BLE001 - not both loadable: they differ
            return False, False
    return False, False


def category(key: str) -> str:
    """What a Redis key of the store's layout (:mod:`streams.redis_store`) holds."""
    from streams.redis_store import SCORER_KEY

    if key == SCORER_KEY:
        return "scorer checkpoint"
    if key.startswith("xd:{p") and ":k:" in key:
        return "window blob"
    if key.startswith("xd:{p") and key.endswith(":keys"):
        return "key set"
    if key.startswith("xd:{p") and key.endswith(":meta"):
        return "partition meta"
    return "other"


@dataclass(slots=True)
class AlertSummary:
    """One run's alerts topic: distinct ids with a digest of their content, and redeliveries."""

    records: int = 0
    digests: dict[str, str] = field(default_factory=dict)
    conflicting: set[str] = field(default_factory=set)     # one id, two contents within the run

    @property
    def distinct(self) -> int:
        return len(self.digests)

    @property
    def duplicates(self) -> int:
        return self.records - len(self.digests)


def summarize_alerts(values: Iterable[bytes | None]) -> AlertSummary:
    """Alert ids and content digests of alert message values (tombstones skipped).

    >>> s = summarize_alerts([b'{"alert_id": "a", "x": 1}', b'{"x": 1, "alert_id": "a"}', b'{"alert_id": "b"}'])
    >>> s.records, s.distinct, s.duplicates, sorted(s.digests), s.conflicting
    (3, 2, 1, ['a', 'b'], set())
    """
    out = AlertSummary()
    for v in values:
        if v is None:
            continue
        a = orjson.loads(v)
        digest = hashlib.sha256(orjson.dumps(a, option=orjson.OPT_SORT_KEYS)).hexdigest()
        aid = str(a["alert_id"])
        out.records += 1
        if aid in out.digests and out.digests[aid] != digest:
            out.conflicting.add(aid)
        out.digests.setdefault(aid, digest)
    return out


def final_decisions(items: Iterable[tuple[bytes | None, bytes | None]]) -> dict[str, str]:
    """Subject -> digest of its last decision (lifted ones removed), as a compacted topic converges.

    >>> final_decisions([(b"key:a", b'{"v": 1}'), (b"key:b", b'{"v": 2}'), (b"key:a", None)]).keys()
    dict_keys(['key:b'])
    """
    last: dict[str, bytes | None] = {}
    for k, v in items:
        last[(k or b"").decode()] = v
    return {k: hashlib.sha256(orjson.dumps(orjson.loads(v), option=orjson.OPT_SORT_KEYS)).hexdigest()
            for k, v in last.items() if v is not None}


# ---------------------------------------------------------------------------------------------- Redis comparison
@dataclass(slots=True)
class CategoryCount:
    compared: int = 0
    identical: int = 0
    identical_by_content: int = 0   # bytes differ, unpickled content equal
    different: int = 0
    only_ref: int = 0
    only_chaos: int = 0


@dataclass(slots=True)
class RedisDiff:
    """Result of :func:`compare_redis`."""

    keys_ref: int = 0
    keys_chaos: int = 0
    categories: dict[str, CategoryCount] = field(default_factory=dict)
    examples: list[str] = field(default_factory=list)
    not_compared: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)  # "key field" -> values

    @property
    def identical(self) -> bool:
        return all(c.different == c.only_ref == c.only_chaos == 0 for c in self.categories.values())

    def note(self, text: str) -> None:
        if len(self.examples) < EXAMPLES * 3:
            self.examples.append(text)


def _scan_names(client: Any) -> set[str]:
    return {k.decode("utf-8", "surrogateescape") for k in client.scan_iter(count=1000)}


def _fetch(client: Any, names: list[str]) -> list[tuple[bytes, Any]]:
    """(type, value) of each key: bytes for strings, {field: bytes} for hashes, sorted members for
    sets, lists and sorted sets as lists."""
    pipe = client.pipeline(transaction=False)
    for n in names:
        pipe.type(n)
    kinds = pipe.execute()
    pipe = client.pipeline(transaction=False)
    for n, kind in zip(names, kinds):
        if kind == b"string":
            pipe.get(n)
        elif kind == b"hash":
            pipe.hgetall(n)
        elif kind == b"set":
            pipe.smembers(n)
        elif kind == b"list":
            pipe.lrange(n, 0, -1)
        elif kind == b"zset":
            pipe.zrange(n, 0, -1, withscores=True)
        else:
            pipe.exists(n)
    values = pipe.execute()
    out = []
    for kind, v in zip(kinds, values):
        if kind == b"hash":
            v = {f.decode(): x for f, x in v.items()}
        elif kind == b"set":
            v = sorted(v)
        out.append((kind, v))
    return out


def compare_redis(ref: Any, chaos: Any, *, chunk: int = 500) -> RedisDiff:
    """Compare every key of two Redis DBs (clients with bytes responses) by content; see the module
    docstring for what is compared and what is not. Memory: key names plus ``chunk`` values."""
    diff = RedisDiff()
    a_names, b_names = _scan_names(ref), _scan_names(chaos)
    diff.keys_ref, diff.keys_chaos = len(a_names), len(b_names)
    for name in sorted(a_names - b_names):
        diff.categories.setdefault(category(name), CategoryCount()).only_ref += 1
        diff.note(f"only in reference: {name}")
    for name in sorted(b_names - a_names):
        diff.categories.setdefault(category(name), CategoryCount()).only_chaos += 1
        diff.note(f"only in chaos run: {name}")
    common = sorted(a_names & b_names)
    for i in range(0, len(common), chunk):
        names = common[i:i + chunk]
        for name, (ka, va), (kb, vb) in zip(names, _fetch(ref, names), _fetch(chaos, names)):
            c = diff.categories.setdefault(category(name), CategoryCount())
            c.compared += 1
            equal, by_content = False, False
            if ka != kb:
                diff.note(f"{name}: type {ka.decode()} vs {kb.decode()}")
            elif ka == b"hash":
                equal, by_content, why = _compare_hash(name, va, vb, diff)
                if not equal:
                    diff.note(f"{name}: {why}")
            elif va == vb:
                equal = True
            elif ka == b"string" and va is not None and vb is not None:
                equal, by_content = same_value(va, vb)
                if not equal:
                    diff.note(f"{name}: {len(va)} bytes vs {len(vb)} bytes, content differs")
            else:
                diff.note(f"{name}: {ka.decode()} content differs")
            if equal:
                c.identical += 1
                c.identical_by_content += int(by_content)
            else:
                c.different += 1
    return diff


def _compare_hash(name: str, a: dict[str, bytes], b: dict[str, bytes], diff: RedisDiff) -> tuple[bool, bool, str]:
    by_content = False
    bad: list[str] = []
    for f in sorted(a.keys() | b.keys()):
        if f in LEGIT_FIELDS:
            va, vb = a.get(f), b.get(f)
            diff.not_compared[f"{name} {f}"] = (None if va is None else va.decode(errors="replace"),
                                                None if vb is None else vb.decode(errors="replace"))
            continue
        if f not in a or f not in b:
            bad.append(f"field {f} only in {'reference' if f in a else 'chaos run'}")
            continue
        equal, content = same_value(a[f], b[f])
        by_content |= content and equal
        if not equal:
            bad.append(f"field {f} differs ({len(a[f])} vs {len(b[f])} bytes)")
    return not bad, by_content, "; ".join(bad)


# ---------------------------------------------------------------------------------------------- processes
def _children(pid: int) -> list[int]:
    """Pids whose parent is ``pid`` (from ``/proc``)."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2:].split()
        if len(fields) > 1 and int(fields[1]) == pid and fields[0] not in (b"Z", b"X"):
            out.append(int(entry))
    return sorted(out)


def worker_child(supervisor_pid: int) -> int | None:
    """The Faust worker process (``streams.worker --child``) of a supervisor, if one is running."""
    for pid in _children(supervisor_pid):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                argv = fh.read().split(b"\0")
        except OSError:
            continue
        if b"--child" in argv:
            return pid
    return None


class Supervisor:
    """``python -m detector.offline.chaos worker``: the worker's supervisor (``run_worker``) in its own
    process group, output to a log file; stopped with SIGTERM (graceful), then SIGKILL."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.log_path = log_path
        self.log = log_path.open("ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "detector.offline.chaos", "worker"], env=env,
                                     stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def check(self) -> None:
        if self.proc.poll() is not None:
            raise RuntimeError(f"the worker supervisor exited with {self.proc.returncode}\n{self.tail()}")

    def tail(self, n: int = 40) -> str:
        self.log.flush()
        lines = self.log_path.read_text(errors="replace").splitlines()[-n:]
        return f"--- {self.log_path}\n" + "\n".join(lines)

    def stop(self) -> None:
        stop_group(self.proc)
        self.log.close()


# ---------------------------------------------------------------------------------------------- one run
@dataclass(slots=True)
class Input:
    """The simulated input, on disk."""

    path: Path
    events: int
    min_ts: int = -1
    max_ts: int = -1
    allowlist: list[str] = field(default_factory=list)


@dataclass(slots=True)
class RunResult:
    name: str
    wall_s: float
    work_s: float
    kills: int
    restarts: int
    restart_s: list[float]
    worker_pids: int
    alerts: AlertSummary
    decisions: dict[str, str]
    dlq: int
    totals: tuple[int, int]
    log: str
    progress_at_kills: list[float] = field(default_factory=list)


class Progress:
    """Reads a run's progress and completion from Redis (stored offsets) and Kafka (log ends, the
    group's committed input offsets and members)."""

    def __init__(self, settings: Any, redis_client: Any, ref_totals: tuple[int, int] | None = None) -> None:
        from kafka import TopicPartition

        from streams import kafka_security

        self.s, self.r = settings, redis_client
        self.ref_totals = ref_totals
        self.consumer = kafka_security.consumer(settings, group_id=None, enable_auto_commit=False)
        self.admin = kafka_security.admin(settings, request_timeout_ms=15000)
        parts = self.consumer.partitions_for_topic(settings.topic("input")) or set()
        self.input_tps = [TopicPartition(settings.topic("input"), p) for p in sorted(parts)]
        self.keyed_tps = [TopicPartition(settings.topic("keyed"), p) for p in range(settings.partitions)]
        self.summaries_tp = TopicPartition(settings.topic("summaries"), 0)
        self._last_done: tuple[int, ...] | None = None
        self._last_offsets: tuple[int, ...] = (-1,) * (settings.partitions + 1)
        self._last_fraction = 0.0
        self.last_error = ""        # the latest failed Kafka/Redis read (they are retried at the next poll)

    def close(self) -> None:
        self.consumer.close()
        self.admin.close()

    def _failed(self, what: str, exc: Exception) -> None:
        self.last_error = f"{what}: {type(exc).__name__}: {exc}"

    def offsets(self) -> tuple[int, ...]:
        """Stored offsets: each ``xd-keyed`` partition's, then the scorer's (-1: none yet); the last
        ones read if Redis does not answer."""
        from streams.redis_store import SCORER_KEY, meta_key

        try:
            pipe = self.r.pipeline(transaction=False)
            for p in range(self.s.partitions):
                pipe.hget(meta_key(p), "offset")
            pipe.hget(SCORER_KEY, "offset")
            self._last_offsets = tuple(-1 if v is None else int(v) for v in pipe.execute())
        except Exception as exc:  # noqa: BLE001 - a Redis restart or timeout: ask again next poll
            self._failed("redis offsets", exc)
        return self._last_offsets

    def fraction(self, offsets: tuple[int, ...]) -> float:
        """0..1: the mean of the three stages' shares done -- input records committed by ingest, and
        ``xd-keyed`` / ``xd-summaries`` messages applied (stored offsets) against the reference run's
        totals (a crashed ingest re-sends rows, so the chaos run may have a few more)."""
        if not self.ref_totals:
            return 0.0
        try:
            ends = self.consumer.end_offsets(self.input_tps)
            committed = self._committed()
        except Exception as exc:  # noqa: BLE001 - transient broker trouble: the last value
            self._failed("progress", exc)
            return self._last_fraction
        done_in = sum(min(ends[tp], getattr(committed.get(tp), "offset", 0) or 0) for tp in self.input_tps)
        shares = [done_in / max(1, sum(ends.values())),
                  sum(o + 1 for o in offsets[:-1]) / max(1, self.ref_totals[0]),
                  (offsets[-1] + 1) / max(1, self.ref_totals[1])]
        self._last_fraction = sum(min(1.0, x) for x in shares) / 3
        return self._last_fraction

    def totals(self) -> tuple[int, int]:
        """Messages in ``xd-keyed`` (all partitions) and ``xd-summaries``."""
        for attempt in range(10):
            try:
                ends = self.consumer.end_offsets(self.keyed_tps + [self.summaries_tp])
                return sum(ends[tp] for tp in self.keyed_tps), ends[self.summaries_tp]
            except Exception as exc:  # noqa: BLE001 - transient: retry
                self._failed("totals", exc)
                time.sleep(0.5 * (attempt + 1))
        raise RuntimeError(f"cannot read the internal topics' log ends ({self.last_error})")

    def sole_member(self) -> str | None:
        """The member id when the group is stable with exactly one member, else None."""
        try:
            info = self.admin.describe_groups([self.s.group_id])
        except Exception:  # noqa: BLE001 - coordinator moving, group not there yet: ask again
            return None
        if isinstance(info, dict):   # kafka-python 3.x
            g = info.get(self.s.group_id) or {}
            state, members = g.get("group_state"), [m.get("member_id") for m in g.get("members") or []]
        else:                        # kafka-python 2.x: [GroupInformation]
            g = info[0] if info else None
            state = getattr(g, "state", None)
            members = [m.member_id for m in getattr(g, "members", None) or []]
        return members[0] if state == "Stable" and len(members) == 1 else None

    def _committed(self) -> dict[Any, Any]:
        """The group's committed offsets on the input topic (kafka-python 2.x and 3.x admin APIs)."""
        if hasattr(self.admin, "list_group_offsets"):
            return self.admin.list_group_offsets({self.s.group_id: self.input_tps}).get(self.s.group_id, {})
        return self.admin.list_consumer_group_offsets(self.s.group_id, partitions=self.input_tps)

    def done(self, offsets: tuple[int, ...]) -> bool:
        """Every input record consumed (committed), every ``xd-keyed`` and ``xd-summaries`` message
        applied (stored offsets at the log ends); true on the second consecutive identical check."""
        tps = self.input_tps + self.keyed_tps + [self.summaries_tp]
        try:
            ends = self.consumer.end_offsets(tps)
            committed = self._committed()
        except Exception as exc:  # noqa: BLE001 - transient broker trouble: not done yet, ask again
            self._failed("completion check", exc)
            self._last_done = None
            return False
        for tp in self.input_tps:
            c = committed.get(tp)
            if ends[tp] > 0 and (c is None or c.offset < ends[tp]):
                self._last_done = None
                return False
        stored = list(offsets)
        for tp, off in zip(self.keyed_tps + [self.summaries_tp], stored):
            if off < ends[tp] - 1:
                self._last_done = None
                return False
        signature = tuple(ends[tp] for tp in tps) + tuple(stored)
        ok = self._last_done == signature
        self._last_done = signature
        return ok


def _consume(kafka: Any, topic: str) -> Iterator[Any]:
    from detector.offline.kafka_range import read_records

    return read_records(kafka, topic)


def run_once(name: str, *, inp: Input, bootstrap: str, db_url: str, tmp: Path, kills: int, seed: int,
             partitions: int, session_timeout_s: float, max_backoff_s: float, batch_size: int | None,
             ref_totals: tuple[int, int] | None, prefixes: list[str],
             say: Callable[[str], None], keepalive: Callable[[], None] = lambda: None) -> RunResult:
    """Feed the input to fresh topics, run a supervised worker until done (killing its Faust process
    ``kills`` times on the way), and summarise the run's outputs. Redis state stays in ``db_url``."""
    from detector.offline.feed import end_watermark, feed_lines, send_watermark
    from detector.offline.stream_bench import sync_redis
    from streams.settings import Settings
    from streams.topics import ensure_topics

    tag = uuid.uuid4().hex[:8]
    prefix = f"xdchaos-{tag}-{name}."
    prefixes.append(prefix)
    settings = replace(Settings.from_env(), kafka_bootstrap=bootstrap, redis_url=db_url, partitions=partitions,
                       topic_prefix=prefix, group_id=f"{prefix}det", metrics_port=0, log_level="INFO",
                       session_timeout_s=session_timeout_s, datadir=str(tmp / f"faust-{name}"))
    if batch_size:
        settings = replace(settings, batch_size=batch_size)
    config = Config.from_env()
    ensure_topics(settings)
    say(f"{name}: producing {inp.events:,} events to {settings.topic('input')}")
    from detector.offline.replay import open_lines

    stats = feed_lines(settings, settings.topic("input"), itertools.islice(open_lines(inp.path), inp.events),
                       RECORDS_PER_MESSAGE, max_request_size=settings.max_message_bytes)
    inp.min_ts, inp.max_ts = stats.min_ts_ms, stats.max_ts_ms
    send_watermark(settings, settings.topic("input"), end_watermark(stats.max_ts_ms, config))

    env = {**os.environ, **settings.to_env(), **settings.secret_env(), "PYTHONUNBUFFERED": "1",
           "DETECTOR_ALLOWLIST_ACCOUNTS": ",".join(inp.allowlist), "XDCHAOS_MAX_BACKOFF_S": str(max_backoff_s)}
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).resolve().parents[1]), env.get("PYTHONPATH", "")])
    r = sync_redis(db_url)
    rnd = random.Random(seed)
    thresholds = kill_thresholds(kills)
    sup = Supervisor(env, tmp / f"worker-{name}.log")
    prog = Progress(settings, r, ref_totals)
    say(f"{name}: worker started{f'; {kills} kills planned' if kills else ''}")
    started = time.monotonic()
    killed, restart_s, at_kill = 0, [], []
    pids: set[int] = set()
    member: str | None = None          # the group member that holds the partitions now
    assigned_at: float | None = None   # ... since when
    assigned_offsets: tuple[int, ...] = ()
    first_assigned: float | None = None
    dead: set[str] = set()             # members we killed (the group lists them until their session expires)
    t_kill: float | None = None        # last kill, until a successor holds the partitions
    last_move, last_offsets, next_done_check, last_keepalive = time.monotonic(), (-2,), 0.0, time.monotonic()
    try:
        while True:
            sup.check()
            offsets = prog.offsets()
            now = time.monotonic()
            if offsets != last_offsets:
                last_move, last_offsets = now, offsets
            child = worker_child(sup.pid)
            if child is not None:
                pids.add(child)
            if assigned_at is None and child is not None:
                holder = prog.sole_member()
                if holder is not None and holder not in dead:
                    member, assigned_at, assigned_offsets = holder, now, offsets
                    first_assigned = first_assigned or now
                    if t_kill is not None:
                        restart_s.append(now - t_kill)
                        t_kill = None
            if t_kill is not None and now - t_kill > RESTART_TIMEOUT_S:
                raise RuntimeError(f"{name}: no new worker took the partitions within {RESTART_TIMEOUT_S:.0f} s "
                                   f"of kill {killed}\n{sup.tail()}")
            # kill i: once the progress passed its threshold and the current worker has stored work of its own
            if killed < kills and assigned_at is not None and child is not None and offsets != assigned_offsets \
                    and prog.fraction(offsets) >= thresholds[killed]:
                time.sleep(rnd.uniform(0.0, JITTER_S))
                with contextlib.suppress(ProcessLookupError):
                    os.kill(child, signal.SIGKILL)
                now = time.monotonic()
                killed += 1
                t_kill, assigned_at = now, None
                dead.add(member or "")
                at_kill.append(prog.fraction(prog.offsets()))
                say(f"{name}: SIGKILL {killed}/{kills} to worker pid {child}, {now - started:.1f} s in "
                    f"(progress {at_kill[-1]:.0%})")
                continue
            if now >= next_done_check:
                next_done_check = now + DONE_EVERY_S
                if prog.done(offsets):
                    if t_kill is not None:   # killed after its last write: a successor must still take over
                        time.sleep(POLL_S)
                        continue
                    break
            if now - last_keepalive > KEEPALIVE_S:
                keepalive()
                last_keepalive = now
            if now - last_move > STALL_S:
                raise RuntimeError(f"{name}: no progress for {STALL_S:.0f} s; stored offsets {offsets}; last read "
                                   f"error: {prog.last_error or 'none'}\n{sup.tail()}")
            time.sleep(POLL_S)
        done_at = time.monotonic()
        totals = prog.totals()
        wall = done_at - started
        work = done_at - (first_assigned or started)
        say(f"{name}: done in {wall:.1f} s ({work:.1f} s after the first worker got its partitions)")
    finally:
        sup.stop()
        prog.close()
        r.close()
    if killed < kills:
        raise RuntimeError(f"{name}: only {killed} of {kills} kills happened before the run ended")
    alerts = summarize_alerts(rec.value for rec in _consume(settings, settings.topic("alerts")))
    decisions = final_decisions((rec.key, rec.value) for rec in _consume(settings, settings.topic("decisions")))
    dlq = sum(1 for _ in _consume(settings, settings.topic("dlq")))
    return RunResult(name, wall, work, killed, len(restart_s), restart_s, len(pids), alerts, decisions, dlq,
                     totals, str(sup.log_path), at_kill)


# ---------------------------------------------------------------------------------------------- entry
def simulate_input(n_events: int, seed: int, out: Path, hours: float = SIM_HOURS) -> Input:
    """A simulated day (all scenarios) with at least ``n_events`` events (re-simulated once, larger,
    if the first guess fell short); the first ``n_events`` lines are used."""
    from detector.offline.simulate import simulate

    scale = max(0.01, n_events / SIM_EVENTS_AT_SCALE_1 * SIM_HOURS / hours)
    sim = simulate(out, seed=seed, scenario="all", hours=hours, scale=scale)
    if sim.events < n_events:
        sim = simulate(out, seed=seed, scenario="all", hours=hours, scale=scale * 1.2 * n_events / max(sim.events, 1))
    allow = orjson.loads(Path(sim.allowlist_path).read_bytes()).get("accounts", [])
    return Input(sim.events_path, min(n_events, sim.events), allowlist=allow)


def _renew(leases: list[Any]) -> None:
    """Extend our Redis DB leases (``xdtest:dblease:<n>``, 30 min) while a long run goes on."""
    for lease in leases:
        if getattr(lease, "owned", False):
            with contextlib.suppress(Exception):
                if lease.leases.get(f"xdtest:dblease:{lease.db}") == lease.owner.encode():
                    lease.leases.expire(f"xdtest:dblease:{lease.db}", LEASE_TTL_S)


def _delete_topics(bootstrap: str, prefixes: list[str]) -> None:
    from streams import kafka_security

    with contextlib.suppress(Exception):
        admin = kafka_security.admin(bootstrap, request_timeout_ms=15000)   # + the environment's security
        try:
            names = [t for t in admin.list_topics() if any(t.startswith(p) for p in prefixes)]
            if names:
                admin.delete_topics(names, timeout_ms=15000)
        finally:
            admin.close()


def bench_chaos(*, n_events: int = 1_000_000, kills: int = 20, seed: int = 7, bootstrap: str | None = None,
                redis_url: str | None = None, partitions: int | None = None, session_timeout_s: float = 10.0,
                max_backoff_s: float = 2.0, batch_size: int | None = None, hours: float = SIM_HOURS,
                events_file: Path | None = None, work_dir: Path | None = None, progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run the reference and the chaos run (see the module docstring); return one flat dict of figures.

    ``events_file``: use this JSONL file (its first ``n_events`` lines; an ``allowlist.json`` beside it
    applies) instead of simulating. ``work_dir``: keep the simulation, Faust data and worker logs
    there (default: a temporary directory, removed at the end).
    """
    from detector.offline.stream_bench import DbLease, sync_redis
    from streams.settings import Settings

    say = progress or (lambda _m: None)
    env = Settings.from_env()
    bootstrap = bootstrap or env.kafka_bootstrap
    redis_url = redis_url or env.redis_url
    partitions = partitions or env.partitions
    batch_size = batch_size or (env.batch_size if "DETECTOR_BATCH_SIZE" in os.environ else BENCH_BATCH)
    started = time.monotonic()
    with contextlib.ExitStack() as stack:
        if work_dir is None:
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="xdchaos-")))
        else:
            work_dir.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix="xdchaos-", dir=work_dir))
        if events_file is not None:
            from detector.offline.replay import open_lines

            count = sum(1 for _ in itertools.islice(open_lines(events_file), n_events))
            inp = Input(events_file, count)
            allow_path = events_file.parent / "allowlist.json"
            if allow_path.exists():
                inp.allowlist = orjson.loads(allow_path.read_bytes()).get("accounts", [])
            source = str(events_file)
        else:
            say(f"simulating {n_events:,} events (seed {seed})")
            inp = simulate_input(n_events, seed, tmp / "sim", hours)
            source = f"simulated (seed {seed}, {hours:g} h, all scenarios)"
        if inp.events < n_events:
            say(f"only {inp.events:,} events available")
        prefixes: list[str] = []
        leases = [DbLease(redis_url, None), DbLease(redis_url, None)]
        common = dict(inp=inp, bootstrap=bootstrap, tmp=tmp, seed=seed, partitions=partitions,
                      session_timeout_s=session_timeout_s, max_backoff_s=max_backoff_s, batch_size=batch_size,
                      prefixes=prefixes, say=say, keepalive=lambda: _renew(leases))
        try:
            for lease in leases:
                lease.client().flushdb()
            ref = run_once("reference", db_url=leases[0].db_url, kills=0, ref_totals=None,
                           **common)  # type: ignore[arg-type]
            _delete_topics(bootstrap, [prefixes[0]])   # free the broker's disk before the second run
            chaos = run_once("chaos", db_url=leases[1].db_url, kills=kills, ref_totals=ref.totals,
                             **common)  # type: ignore[arg-type]
            say("comparing Redis state and outputs")
            a = sync_redis(leases[0].db_url)
            b = sync_redis(leases[1].db_url)
            try:
                rdiff = compare_redis(a, b)
            finally:
                a.close()
                b.close()
        finally:
            _delete_topics(bootstrap, prefixes)
            for lease in leases:
                with contextlib.suppress(Exception):
                    lease.release()
    return report(inp, ref, chaos, rdiff, kills=kills, partitions=partitions, source=source, kept=work_dir is not None,
                  batch_size=batch_size,
                  session_timeout_s=session_timeout_s, max_backoff_s=max_backoff_s,
                  total_s=time.monotonic() - started)


def report(inp: Input, ref: RunResult, chaos: RunResult, rdiff: RedisDiff, **extra: Any) -> dict[str, Any]:
    """The flat figures dict of :func:`bench_chaos`."""
    ra, ca = ref.alerts, chaos.alerts
    only_ref = sorted(ra.digests.keys() - ca.digests.keys())
    only_chaos = sorted(ca.digests.keys() - ra.digests.keys())
    content = sorted(k for k in ra.digests.keys() & ca.digests.keys() if ra.digests[k] != ca.digests[k])
    dec_diff = sorted(k for k in ref.decisions.keys() | chaos.decisions.keys()
                      if ref.decisions.get(k) != chaos.decisions.get(k))
    alerts_same = not (only_ref or only_chaos or content or ra.conflicting or ca.conflicting)
    out: dict[str, Any] = {
        "identical": rdiff.identical and alerts_same and not dec_diff and ref.dlq == chaos.dlq,
        "events": inp.events,
        "kills_requested": extra["kills"],
        "kills": chaos.kills,
        "restarts_continued": chaos.restarts,
        "progress_at_kills": " ".join(f"{f:.0%}" for f in chaos.progress_at_kills),
        "worker_processes_chaos": chaos.worker_pids,
        "restart_s_mean": sum(chaos.restart_s) / len(chaos.restart_s) if chaos.restart_s else 0.0,
        "restart_s_max": max(chaos.restart_s, default=0.0),
        "wall_s_reference": ref.wall_s,
        "wall_s_chaos": chaos.wall_s,
        "wall_s_from_partitions_reference": ref.work_s,
        "wall_s_from_partitions_chaos": chaos.work_s,
        "redis_keys_reference": rdiff.keys_ref,
        "redis_keys_chaos": rdiff.keys_chaos,
    }
    for name, c in sorted(rdiff.categories.items()):
        tag = name.replace(" ", "_")
        out[f"{tag}s_compared"] = c.compared
        out[f"{tag}s_identical"] = c.identical
        if c.identical_by_content:
            out[f"{tag}s_identical_by_content_not_bytes"] = c.identical_by_content
        out[f"{tag}s_different"] = c.different
        out[f"{tag}s_only_reference"] = c.only_ref
        out[f"{tag}s_only_chaos"] = c.only_chaos
    out.update({
        "alert_ids_reference": ra.distinct,
        "alert_ids_chaos": ca.distinct,
        "alert_records_reference": ra.records,
        "alert_records_chaos": ca.records,
        "alert_duplicates_reference": ra.duplicates,
        "alert_duplicates_chaos": ca.duplicates,
        "alert_ids_only_reference": len(only_ref),
        "alert_ids_only_chaos": len(only_chaos),
        "alert_ids_same_id_other_content": len(content),
        "final_decisions_reference": len(ref.decisions),
        "final_decisions_chaos": len(chaos.decisions),
        "final_decisions_different": len(dec_diff),
        "dlq_records_reference": ref.dlq,
        "dlq_records_chaos": chaos.dlq,
    })
    if rdiff.examples:
        out["redis_differences"] = " | ".join(rdiff.examples)
    if only_ref or only_chaos or content:
        out["alert_differences"] = " | ".join(
            [f"only reference {a}" for a in only_ref[:EXAMPLES]] + [f"only chaos {a}" for a in only_chaos[:EXAMPLES]]
            + [f"content differs {a}" for a in content[:EXAMPLES]])
    if dec_diff:
        out["decision_differences"] = " | ".join(dec_diff[:EXAMPLES])
    legit = sorted(rdiff.not_compared.items())
    out["not_compared_offsets"] = "; ".join(f"{k}: reference {a} chaos {b}" for k, (a, b) in legit) or "none"
    out["compared"] = ("every Redis key of both DBs by name, type and content (window blobs byte for byte, key "
                       "sets, partition meta and scorer checkpoint field by field, pickles by content); distinct "
                       "alert ids and their content; each subject's final decision; dead-letter counts")
    out["not_compared"] = ("hash fields 'offset' (xd-keyed/xd-summaries offsets: depend on ingest batching and "
                           "rows re-sent after a crash; listed in not_compared_offsets); key TTLs (wall clock)")
    out.update({
        "partitions": extra["partitions"],
        "batch_size": extra["batch_size"],
        "session_timeout_s": extra["session_timeout_s"],
        "max_restart_backoff_s": extra["max_backoff_s"],
        "source": extra["source"],
        "worker_logs": f"{ref.log}, {chaos.log}" + ("" if extra["kept"] else " (removed; keep with --work-dir)"),
        "total_s": extra["total_s"],
        "python": f"{sys.implementation.name} {sys.version.split()[0]}",
        "cpus": os.cpu_count(),
    })
    return out


def _worker_main() -> None:
    """``python -m detector.offline.chaos worker``: ``run_worker`` (what ``detector worker`` runs) with the
    restart backoff capped at ``XDCHAOS_MAX_BACKOFF_S``."""
    from streams.settings import Settings
    from streams.worker import run_worker

    run_worker(Settings.from_env(), max_backoff_s=float(os.environ.get("XDCHAOS_MAX_BACKOFF_S", "2")))


if __name__ == "__main__":
    if sys.argv[1:] == ["worker"]:
        _worker_main()
    else:
        sys.exit("usage: python -m detector.offline.chaos worker")
