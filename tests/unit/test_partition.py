"""Watermark, lateness, epoch closing and idle expiry of the key-window stage."""

from __future__ import annotations

from detector.config import Config
from detector.partition import PartitionState
from tests.unit.helpers import feat

CFG = Config()
MIN = 60_000


def test_buckets_close_when_watermark_passes_and_summaries_are_sorted() -> None:
    p = PartitionState(CFG)
    for key in ("kb", "ka", "kc"):
        assert p.add(feat(1 * MIN, key))
    assert p.advance() == []                      # watermark still inside the first bucket
    p.add(feat(13 * MIN, "ka"))
    epochs = p.advance()
    assert [e.end_ms for e in epochs] == [10 * MIN]
    assert [s.api_key_id for s in epochs[0].summaries] == ["ka", "kb", "kc"]
    assert epochs[0].summaries[0].stats["10m"]["n"] == 1.0


def test_late_records_within_lateness_count_and_later_ones_drop() -> None:
    p = PartitionState(CFG)
    p.add(feat(9 * MIN, "k"))
    p.add(feat(11 * MIN, "k"))
    p.advance()
    assert p.add(feat(9 * MIN + 30_000, "k"))    # bucket [0,10) still open: watermark is 9 min
    p.add(feat(30 * MIN, "k"))
    p.advance()
    assert not p.add(feat(5 * MIN, "k"))          # its bucket closed long ago
    assert p.late == 1


def test_heartbeat_advances_an_idle_partition() -> None:
    p = PartitionState(CFG)
    p.add(feat(MIN, "k"))
    epochs = p.advance(heartbeat_ms=45 * MIN)
    assert [e.end_ms for e in epochs] == [10 * MIN, 20 * MIN, 30 * MIN, 40 * MIN]
    assert [len(e.summaries) for e in epochs] == [1, 0, 0, 0]


def test_idle_keys_expire() -> None:
    p = PartitionState(CFG)
    p.add(feat(MIN, "old"))
    p.advance(heartbeat_ms=CFG.idle_expiry_ms + 30 * MIN)
    assert "old" not in p.keys
    assert "old" in p.dirty


def test_restore_round_trip() -> None:
    p = PartitionState(CFG)
    for i in range(50):
        p.add(feat(i * 20_000, f"k{i % 5}", prompt=i))
    p.advance()
    q = PartitionState.restore(CFG, p.meta_bytes(), {k: kw.to_bytes() for k, kw in p.keys.items()})
    for ts in (30 * MIN, 60 * MIN):
        p.add(feat(ts, "k1"))
        q.add(feat(ts, "k1"))
    a, b = p.advance(), q.advance()
    assert [(e.end_ms, [s.to_json() for s in e.summaries]) for e in a] == \
        [(e.end_ms, [s.to_json() for s in e.summaries]) for e in b]


def test_a_retried_request_id_counts_once() -> None:
    p = PartitionState(CFG)
    assert p.add(feat(MIN, "k", request=11))
    assert not p.add(feat(MIN + 500, "k", request=11))     # a router retry of the same client request
    assert p.add(feat(MIN + 900, "k", request=12)) and p.add(feat(MIN + 950, "k2", request=11))
    assert p.add(feat(MIN + 990, "k"))                        # no request id: never a duplicate
    assert p.duplicates == 1
    p.add(feat(13 * MIN, "k", request=13))
    assert p.advance()[0].summaries[0].stats["10m"]["n"] == 3.0


def test_summaries_carry_activity_slots_and_linkage_signatures() -> None:
    p = PartitionState(CFG)
    for m in (1, 3, 31):
        p.add(feat(m * MIN, "k"))
    p.add(feat(2 * 60 * MIN, "other"))
    last = [s for e in p.advance() for s in e.summaries if s.api_key_id == "k"][-1]
    activity = int(last.activity, 16)
    assert activity.bit_count() == 2 and activity >> (288 - 12) == 0b1000001   # slots 0 and 6 of hour 0
    assert last.signatures == [(2, 3)]
