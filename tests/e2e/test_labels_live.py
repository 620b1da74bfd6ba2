"""An analyst label travels ``detector label`` -> Kafka -> labels agent -> live scorer, and takes effect.

A real ``detector worker`` on the local broker and Redis gets the first part of a simulated
recording; once a key's first alert is on the alerts topic, a reviewer dismisses that key with
``detector label`` (the CLI, with the run's ``DETECTOR_*`` settings, so the prefixed labels topic),
effective at the next epoch; then the rest of the traffic follows. The control is the same
recording without the label: an in-process replay, which the live pipeline reproduces id for id
(``tests/e2e/test_live.py``). Expected live output = the control's, minus the dismissed key's
alerts and decisions from the label's epoch on; and the control must have some there, so the test
fails if the labels agent or the scorer ignored the label.

The label is effective at an epoch the first part cannot close (its watermark stays below it) and
the rest is fed only after the label is on the scorer's input (``xd-summaries``), so the scorer
meets it before that epoch, whatever the timing: the outcome is deterministic.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis

from detector.offline.processes import stop_group
from detector.alerts import rfc3339
from detector.config import Config
from detector.parse import parse_line, rfc3339_ms
from detector.offline.replay import open_lines, replay_lines
from detector.offline.feed import batches, end_watermark, feed_messages, send_watermark
from detector.offline.kafka_range import live_alerts, read_records
from streams.settings import Settings
from streams.topics import ensure_topics, topic_specs

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

REPO = Path(__file__).resolve().parents[2]
P = 4
TIMEOUT_S = 240


@dataclass
class Plan:
    """The recording, its control replay, the key to dismiss and where to cut the input."""

    messages: list[bytes]
    config: Config
    allowlist: list[str]
    watermark: int
    control: Any
    key: str
    first_alert: dict[str, Any]
    label_ms: int            # effective time of the dismissal = the epoch after the key's first alert
    cut: int                 # messages[:cut] go before the label


def key_to_dismiss(alerts: list[dict[str, Any]], fine_ms: int) -> tuple[str, dict[str, Any]] | None:
    """A key alerted at some epoch E1 and again at E2 >= E1 + one fine bucket (so a dismissal
    effective at E1 + fine bucket suppresses that later alert); the first such key by id."""
    by_key: dict[str, list[dict[str, Any]]] = {}
    for a in alerts:
        if a["kind"] == "key":
            by_key.setdefault(a["subject_id"], []).append(a)
    for key in sorted(by_key):
        firsts = sorted(by_key[key], key=lambda a: rfc3339_ms(a["detected_at"]))
        e1 = rfc3339_ms(firsts[0]["detected_at"])
        if any(rfc3339_ms(a["detected_at"]) >= e1 + fine_ms for a in firsts[1:]):
            return key, firsts[0]
    return None


@pytest.fixture(scope="module")
def plan(tmp_path_factory: pytest.TempPathFactory) -> Plan:
    from detector.offline.simulate import simulate

    res = simulate(tmp_path_factory.mktemp("labels-sim"), seed=5, scenario="all", hours=3, scale=0.05)
    lines = list(open_lines(res.events_path))
    messages = [b"\n".join(b) for b in batches(lines, 100)]
    allow = orjson.loads(Path(res.allowlist_path).read_bytes())["accounts"]
    config = Config().with_allowlist(allow)
    control = replay_lines(messages, config)
    chosen = key_to_dismiss(control.alerts, config.fine_bucket_ms)
    assert chosen is not None, "the recording should alert some key twice, an epoch or more apart"
    key, first = chosen
    e1 = rfc3339_ms(first["detected_at"])
    label_ms = e1 + config.fine_bucket_ms
    # cut after the first message that closes epoch E1 (watermark = max ts - allowed lateness >= E1,
    # with a minute to spare); the part before the label must not close the label's epoch
    top, cut = -1, 0
    for i, m in enumerate(messages):
        top = max([top] + [parse_line(line).ts_ms for line in m.split(b"\n")])  # type: ignore[union-attr]
        if top >= e1 + config.allowed_lateness_ms + 60_000:
            cut = i + 1
            break
    assert cut and top - config.allowed_lateness_ms < label_ms, "no message closes E1 without closing the next epoch"
    max_ts = max(parse_line(line).ts_ms for line in lines)  # type: ignore[union-attr]
    return Plan(messages, config, allow, end_watermark(max_ts, config), control, key, first, label_ms, cut)


@contextlib.contextmanager
def worker(settings: Settings, allowlist: list[str], log_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``detector worker`` (the supervised live worker) in its own process group."""
    env = dict(os.environ, **settings.to_env(), PYTHONUNBUFFERED="1",
               DETECTOR_ALLOWLIST_ACCOUNTS=",".join(allowlist))
    with log_path.open("ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", "detector.cli", "worker"], cwd=REPO, env=env,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            yield proc
        finally:
            stop_group(proc)


def wait_for(cond: Any, what: str, proc: subprocess.Popen[bytes], log_path: Path) -> Any:
    deadline = time.monotonic() + TIMEOUT_S
    while True:
        value = cond()
        if value:
            return value
        if proc.poll() is not None or time.monotonic() > deadline:
            tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-60:])
            raise AssertionError(f"timed out or worker exited waiting for {what}\n{tail}")
        time.sleep(0.3)


def view(alerts: list[dict[str, Any]]) -> dict[str, tuple[Any, ...]]:
    """alert id -> what it says; live duplicates (at-least-once) collapse."""
    return {a["alert_id"]: (a["kind"], a["subject_id"], tuple(a["api_key_ids"]), a["severity"], a["action"],
                            a["detected_at"]) for a in alerts}


def distinct(values: list[Any]) -> list[Any]:
    """``values`` without repeats (at-least-once delivery), first occurrences in order."""
    seen: set[bytes] = set()
    out = []
    for v in values:
        b = orjson.dumps(v, option=orjson.OPT_SORT_KEYS)
        if b not in seen:
            seen.add(b)
            out.append(v)
    return out


def last_values(decisions: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in decisions:
        out[k] = v
    return out


def test_dismissal_from_detector_label_silences_the_key_in_the_live_scorer(
        plan: Plan, kafka_bootstrap: str, redis_db_url: str, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from detector.cli import app as cli
    from detector.offline.chaos import Progress

    key, subject = plan.key, f"key:{plan.key}"
    after = [a for a in plan.control.alerts if a["subject_id"] == key and rfc3339_ms(a["detected_at"]) >= plan.label_ms]
    before = [a for a in plan.control.alerts if a["subject_id"] == key and rfc3339_ms(a["detected_at"]) < plan.label_ms]
    control_later = [d for k, d in plan.control.decisions
                     if k == subject and d is not None and rfc3339_ms(d["decided_at"]) >= plan.label_ms]
    assert after and control_later, "without the label the key is alerted and decided on again after it"

    tag = uuid.uuid4().hex[:8]
    settings = Settings(kafka_bootstrap=kafka_bootstrap, redis_url=redis_db_url, partitions=P,
                        group_id=f"xdt-labels-{tag}", topic_prefix=f"xdt-labels-{tag}.", batch_size=50,
                        batch_within_s=0.2, log_level="INFO", session_timeout_s=8.0, metrics_port=0,
                        datadir=str(tmp_path / "faust"))
    ensure_topics(settings)
    log_path = tmp_path / "worker.log"
    topic = settings.topic
    try:
        feed_messages(kafka_bootstrap, topic("input"), plan.messages[:plan.cut])
        with worker(settings, plan.allowlist, log_path) as proc:
            # 1. the key's first alert comes out of the live scorer
            wait_for(lambda: plan.first_alert["alert_id"] in {a["alert_id"] for a in live_alerts(kafka_bootstrap,
                                                                                                 topic("alerts"))},
                     f"the first alert of {key}", proc, log_path)
            # 2. a reviewer dismisses it with the CLI, effective at the next epoch
            published = CliRunner().invoke(
                cli, ["label", "--key", key, "--verdict", "dismissed", "--ttl", "7d",
                      "--at", rfc3339(plan.label_ms), "--note", "e2e: reviewed, benign"],
                env=settings.to_env())
            assert published.exit_code == 0, published.output
            assert [r.key for r in read_records(kafka_bootstrap, topic("labels"))] == [subject.encode()]
            # 3. the labels agent forwards it onto the scorer's input, in stream order
            wait_for(lambda: any(b'"label"' in (r.value or b"") and key.encode() in r.value
                                 for r in read_records(kafka_bootstrap, topic("summaries"))),
                     "the label on xd-summaries", proc, log_path)
            # 4. the rest of the traffic, then the end of input
            feed_messages(kafka_bootstrap, topic("input"), plan.messages[plan.cut:])
            send_watermark(kafka_bootstrap, topic("input"), plan.watermark)
            r = redis.Redis.from_url(redis_db_url)
            progress = Progress(settings, r)
            try:
                wait_for(lambda: progress.done(progress.offsets()), "the end of input to be scored", proc, log_path)
            finally:
                progress.close()
                r.close()
            live = live_alerts(kafka_bootstrap, topic("alerts"))
            decisions = [(rec.key.decode(), None if rec.value is None else orjson.loads(rec.value))
                         for rec in read_records(kafka_bootstrap, topic("decisions"))]
        log = log_path.read_text(errors="replace")
    finally:
        from kafka import KafkaAdminClient

        with contextlib.suppress(Exception):
            admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap.split(","), request_timeout_ms=15000)
            admin.delete_topics([s.name for s in topic_specs(settings)])
            admin.close()

    assert "exited with" not in log and "malformed label" not in log, log[-5000:]
    # the key: alerted before the label exactly as without it, never after it
    mine = [a for a in live if a["subject_id"] == key]
    assert view(mine) == view(before)
    assert all(rfc3339_ms(a["detected_at"]) < plan.label_ms for a in mine)
    later = [d for k, d in decisions if k == subject and d is not None and rfc3339_ms(d["decided_at"]) >= plan.label_ms]
    assert later == [], f"decisions for the dismissed key after its label: {later}"
    assert distinct([d for k, d in decisions if k == subject and d is not None]) == \
        [d for k, d in plan.control.decisions if k == subject and d is not None
         and rfc3339_ms(d["decided_at"]) < plan.label_ms]
    # everything else exactly as the control decided it
    suppressed = {a["alert_id"] for a in after}
    assert view(live) == {i: v for i, v in view(plan.control.alerts).items() if i not in suppressed}
    others = {k: v for k, v in last_values(decisions).items() if k != subject}
    assert others == {k: v for k, v in last_values(plan.control.decisions).items() if k != subject}
