"""The consumer-lag gauge between batches: recomputed from the broker's end offsets, so a stalled
stage shows growing lag; partitions that left this worker leave the gauge."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from faust.types import TP

from streams import app as app_module
from streams import metrics

T0, T1 = TP("gateway-logs", 0), TP("xd-keyed", 1)


class FakeConsumer:
    """What refresh_consumer_lag asks of Faust's consumer: its assignment and the end offsets."""

    def __init__(self, assigned: set[TP], highs: dict[TP, int]) -> None:
        self.assigned, self.highs, self.fail = assigned, highs, False

    def assignment(self) -> set[TP]:
        return self.assigned

    async def highwaters(self, *tps: TP) -> dict[TP, int]:
        if self.fail:
            raise ConnectionError("broker unreachable")
        return {tp: self.highs[tp] for tp in tps}


class FakeApp:
    def __init__(self, consumer: FakeConsumer) -> None:
        self.consumer = consumer


def lag(stage: str, partition: int) -> float | None:
    for sample in metrics.CONSUMER_LAG.collect()[0].samples:
        if sample.labels == {"stage": stage, "partition": str(partition)}:
            return sample.value
    return None


@pytest.fixture(autouse=True)
def clean() -> Iterator[None]:
    app_module.PROCESSED.clear()
    metrics.CONSUMER_LAG.clear()
    yield
    app_module.PROCESSED.clear()
    metrics.CONSUMER_LAG.clear()


def refresh(consumer: FakeConsumer) -> None:
    asyncio.run(app_module.refresh_consumer_lag(FakeApp(consumer)))  # type: ignore[arg-type]


def test_a_stalled_stage_shows_growing_lag() -> None:
    app_module.PROCESSED.update({("ingest", T0): 99, ("windows", T1): 10})
    consumer = FakeConsumer({T0, T1}, {T0: 500, T1: 11})
    refresh(consumer)
    assert (lag("ingest", 0), lag("windows", 1)) == (400, 0)
    consumer.highs[T0] = 900            # input keeps arriving; ingest finishes nothing
    refresh(consumer)
    assert lag("ingest", 0) == 800


def test_partitions_that_left_the_worker_leave_the_gauge() -> None:
    app_module.PROCESSED.update({("ingest", T0): 99, ("windows", T1): 10})
    consumer = FakeConsumer({T0, T1}, {T0: 100, T1: 50})
    refresh(consumer)
    assert lag("windows", 1) == 39
    consumer.assigned = {T0}            # a rebalance moved xd-keyed[1] to another worker
    refresh(consumer)
    assert lag("windows", 1) is None and ("windows", T1) not in app_module.PROCESSED
    assert lag("ingest", 0) == 0


def test_a_failed_broker_call_changes_nothing() -> None:
    app_module.PROCESSED.update({("ingest", T0): 99})
    consumer = FakeConsumer({T0}, {T0: 200})
    refresh(consumer)
    consumer.fail, consumer.highs[T0] = True, 10_000
    refresh(consumer)
    assert lag("ingest", 0) == 100
