"""The local services themselves work: Kafka produce/consume, a Faust worker, Redis + Lua, Redis restart.

These guard the ground every other integration and e2e test stands on; if one fails, look at
``.cache/local/logs`` before looking at the detector.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections import defaultdict
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

N_MESSAGES = 1000


def test_kafka_produce_and_consume_1000_messages(kafka_bootstrap: str, make_topic) -> None:  # type: ignore[no-untyped-def]
    from kafka import KafkaConsumer, KafkaProducer

    topic = make_topic(partitions=4, prefix="svc")
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all", linger_ms=5)
    keys = [f"key-{k}".encode() for k in range(40)]
    futures = [
        producer.send(topic, key=keys[i % len(keys)], value=f"{i}".encode()) for i in range(N_MESSAGES)
    ]
    producer.flush(timeout=30)
    sent_partitions = {f.get(timeout=10).partition for f in futures}
    producer.close()
    assert sent_partitions == {0, 1, 2, 3}

    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=kafka_bootstrap,
        group_id=f"it-svc-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    seen: dict[bytes, list[int]] = defaultdict(list)
    partition_of: dict[bytes, set[int]] = defaultdict(set)
    total = 0
    deadline = time.monotonic() + 30
    try:
        while total < N_MESSAGES and time.monotonic() < deadline:
            for tp, records in consumer.poll(timeout_ms=500).items():
                for r in records:
                    seen[r.key].append(int(r.value))
                    partition_of[r.key].add(tp.partition)
                    total += 1
        consumer.commit()
    finally:
        consumer.close()

    assert total == N_MESSAGES
    assert sorted(v for vs in seen.values() for v in vs) == list(range(N_MESSAGES))
    for key, values in seen.items():
        assert values == sorted(values), f"per-key order broken for {key!r}"
        assert len(partition_of[key]) == 1, f"{key!r} landed in several partitions"


FAUST_APP = textwrap.dedent(
    """
    import os
    import faust

    app = faust.App(
        os.environ["IT_APP_ID"],
        broker="kafka://" + os.environ["IT_BOOTSTRAP"],
        store="memory://",
        topic_partitions=4,
        web_enabled=False,
        datadir=os.environ["IT_DATADIR"],
    )
    source = app.topic(os.environ["IT_TOPIC"], value_serializer="raw", key_serializer="raw")
    out_path = os.environ["IT_COUNT_FILE"]
    counted = 0

    @app.agent(source)
    async def count(stream):
        global counted
        async for batch in stream.take(100, within=0.5):
            counted += len(batch)
            tmp = out_path + ".tmp"
            with open(tmp, "w") as fh:
                fh.write(str(counted))
            os.replace(tmp, out_path)

    if __name__ == "__main__":
        app.main()
    """
)


@pytest.mark.timeout(120)
def test_faust_worker_consumes_what_was_produced(kafka_bootstrap: str, make_topic, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from kafka import KafkaProducer

    n = 300
    topic = make_topic(partitions=4, prefix="faust")
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all", linger_ms=5)
    for i in range(n):
        producer.send(topic, key=f"k{i % 16}".encode(), value=f"v{i}".encode())
    producer.flush(timeout=30)
    producer.close()

    app_file = tmp_path / "faust_smoke.py"
    app_file.write_text(FAUST_APP)
    count_file = tmp_path / "count"
    env = {
        **os.environ,
        "IT_APP_ID": f"it-faust-{uuid.uuid4().hex[:8]}",
        "IT_BOOTSTRAP": kafka_bootstrap,
        "IT_TOPIC": topic,
        "IT_COUNT_FILE": str(count_file),
        "IT_DATADIR": str(tmp_path / "data"),
    }
    log_path = tmp_path / "worker.log"
    with open(log_path, "w") as log:
        worker = subprocess.Popen(
            [sys.executable, str(app_file), "worker", "--loglevel", "warn"],
            cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
    counted = 0
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and worker.poll() is None:
            if count_file.exists():
                counted = int(count_file.read_text() or 0)
                if counted >= n:
                    break
            time.sleep(0.2)
    finally:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(timeout=20)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait(timeout=5)
    tail = log_path.read_text()[-3000:]
    assert counted == n, f"faust agent counted {counted} of {n}; worker log tail:\n{tail}"


OFFSET_GUARDED_WRITE = """
-- KEYS[1] = applied-offset key, KEYS[2] = counter hash; ARGV[1] = batch offset, ARGV[2..] = field/incr pairs
local applied = tonumber(redis.call('GET', KEYS[1]) or '-1')
local offset = tonumber(ARGV[1])
if offset <= applied then return 0 end
for i = 2, #ARGV, 2 do redis.call('HINCRBY', KEYS[2], ARGV[i], ARGV[i + 1]) end
redis.call('SET', KEYS[1], offset)
return 1
"""


def test_redis_set_get_and_lua(redis_client) -> None:  # type: ignore[no-untyped-def]
    r = redis_client
    assert r.set("xd:{p0}:hello", "world")
    assert r.get("xd:{p0}:hello") == "world"

    keys = ["xd:{p0}:offset", "xd:{p0}:counts"]
    assert r.eval(OFFSET_GUARDED_WRITE, 2, *keys, 10, "a", 2, "b", 3) == 1
    # the same batch redelivered changes nothing (at-least-once delivery, exactly-once effect)
    assert r.eval(OFFSET_GUARDED_WRITE, 2, *keys, 10, "a", 2, "b", 3) == 0
    sha = r.script_load(OFFSET_GUARDED_WRITE)
    assert r.evalsha(sha, 2, *keys, 11, "a", 5) == 1
    assert r.hgetall(keys[1]) == {"a": "7", "b": "3"}
    assert r.get(keys[0]) == "11"


@pytest.mark.timeout(90)
def test_redis_restart_keeps_data_through_aof(redis_client, service_ctl) -> None:  # type: ignore[no-untyped-def]
    r = redis_client
    pid_before = r.info("server")["process_id"]
    r.set("xd:{p1}:durable", "yes")
    r.hset("xd:{p1}:h", mapping={"x": "1", "y": "2"})
    r.pfadd("xd:{p1}:hll", *[f"u{i}" for i in range(1000)])

    service_ctl("restart", "redis")

    deadline = time.monotonic() + 15
    while True:
        try:
            info = r.info("server")
            break
        except Exception:  # noqa: BLE001 - reconnecting after the restart
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    assert info["process_id"] != pid_before, "ctl.sh restart redis did not restart the server"
    assert r.get("xd:{p1}:durable") == "yes"
    assert r.hgetall("xd:{p1}:h") == {"x": "1", "y": "2"}
    assert abs(r.pfcount("xd:{p1}:hll") - 1000) < 30
    assert service_ctl("status", "redis").returncode == 0
