"""Linkage joins harvest-shaped keys that agree on two kinds of attribute, or share a clock or a card."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from detector.linkage import Linkage
from detector.profiles import AccountProfile, ProfileBook
from detector.summary import WindowSummary

DAY = {"n": 25.0, "distinct_prompt_ratio": 1.0, "distinct_prompts": 25.0, "conversations": 25.0, "out_new_in_ratio": 6.0,
       "out_tokens_mean": 2000.0}


def summ(key: str, skeletons: list[tuple[int, int]], ip: str, ua: str = "httpx/0", created: int | None = None,
         epoch: int = 3_600_000) -> WindowSummary:
    return WindowSummary(api_key_id=key, epoch_ms=epoch, account_id="a-" + key, account_created_ms=created,
                         stats={"24h": DAY}, skeletons=skeletons, ip_prefix=ip, user_agent=ua)


def test_shared_skeleton_and_ip_link_keys_into_one_cluster() -> None:
    lk = Linkage(min_keys=5)
    for i in range(8):
        lk.update(summ(f"h{i}", [(0xABC, 10), (i + 100, 1)], "203.0.113.0/24"))
    clusters = lk.clusters(3_600_000)
    assert len(clusters) == 1 and clusters[0].members == [f"h{i}" for i in range(8)]
    assert clusters[0].stats["keys"] == 8.0 and clusters[0].stats["n"] == 200.0


def test_same_ip_alone_or_a_common_frame_do_not_link() -> None:
    lk = Linkage(min_keys=2)
    for i in range(6):   # a proxy: same /24 and SDK, different prompts
        lk.update(summ(f"p{i}", [(i + 1, 10)], "198.51.100.0/24"))
    chatty = dict(DAY, out_tokens_mean=100.0, out_new_in_ratio=1.0)
    for i in range(6):   # a popular frame, used by unrelated networks, SDKs and short-answer users alike
        lk.update(summ(f"t{i}", [(0xFEED, 10)], f"192.0.{i}.0/24", ua=f"sdk{i}/1"))
        lk.update(WindowSummary(api_key_id=f"u{i}", epoch_ms=3_600_000, account_id=f"a-u{i}",
                                account_created_ms=None, stats={"24h": chatty}, skeletons=[(0xFEED, 10)]))
    assert lk.clusters(3_600_000) == []


def test_a_factory_template_links_harvest_shaped_keys_that_behave_alike() -> None:
    lk = Linkage(min_keys=5)
    for i in range(6):   # own networks and SDK versions, accounts months apart: only the template and behaviour
        lk.update(summ(f"t{i}", [(0xFEED, 10)], f"192.0.{i}.0/24", ua=f"sdk{i}/1", created=i * 30 * 86_400_000))
    assert [c.members for c in lk.clusters(3_600_000)] == [[f"t{i}" for i in range(6)]]


def test_account_creation_burst_on_shared_infrastructure_links() -> None:
    lk = Linkage(min_keys=3)
    for i in range(4):
        lk.update(summ(f"f{i}", [], "203.0.113.0/24", created=1_000_000 + i * 60_000))
    assert [c.members for c in lk.clusters(3_600_000)] == [["f0", "f1", "f2", "f3"]]


def test_cluster_id_is_deterministic_and_idle_keys_leave() -> None:
    def ids() -> list[str]:
        lk = Linkage(min_keys=3)
        for i in range(5):
            lk.update(summ(f"h{i}", [(7, 5)], "203.0.113.0/24"))
        return [c.cluster_id for c in lk.clusters(3_600_000)]
    assert ids() == ids() and ids()[0].startswith("xc_")
    lk = Linkage(min_keys=3)
    for i in range(5):
        lk.update(summ(f"h{i}", [(7, 5)], "203.0.113.0/24"))
    assert lk.clusters(3_600_000 + 25 * 3_600_000) == []


def rounds(offset_slots: int = 0, every: int = 11, n: int = 24) -> str:
    """Hex activity of a key fired by a scheduler every ``every`` 5-minute slots."""
    return f"{sum(1 << (offset_slots + every * i) for i in range(n)):x}"


def keyed(key: str, activity: str = "0", ip: str = "", ua: str = "", account: str | None = None,
          created: int | None = None, stats: dict[str, float] | None = None,
          signatures: list[tuple[int, int]] | None = None) -> WindowSummary:
    return WindowSummary(api_key_id=key, epoch_ms=3_600_000, account_id=account or "a-" + key,
                         account_created_ms=created, stats={"24h": stats or DAY}, ip_prefix=ip, user_agent=ua,
                         activity=activity, signatures=signatures or [])


def test_coactivity_alone_links_keys_with_their_own_ips_and_wording() -> None:
    lk = Linkage(min_keys=5)
    for i in range(8):
        lk.update(keyed(f"h{i}", rounds(), ip=f"100.{i}.7.0/24", ua=f"sdk{i}/1"))
    for i in range(8):   # benign light users with their own rhythm
        lk.update(keyed(f"b{i}", rounds(offset_slots=i + 1, every=13, n=20), ip=f"50.{i}.0.0/24"))
    clusters = lk.clusters(3_600_000)
    assert [c.members for c in clusters] == [[f"h{i}" for i in range(8)]]
    assert clusters[0].stats["coactivity"] > 0.9


def test_a_continuous_stream_is_no_evidence_of_a_shared_clock() -> None:
    lk = Linkage(min_keys=3)
    busy = f"{(1 << 288) - 1:x}"
    for i in range(5):
        lk.update(keyed(f"c{i}", busy, ip=f"100.{i}.7.0/24", ua=f"sdk{i}/1"))
    assert lk.clusters(3_600_000) == []


def test_shared_payment_links_and_near_duplicate_templates_need_a_second_kind() -> None:
    lk = Linkage(min_keys=4)
    book = ProfileBook()
    for i in range(5):
        book.apply(AccountProfile(account_id=f"acct{i}", payment_fp="card-1"))
        lk.update(keyed(f"p{i}", account=f"acct{i}", ip=f"100.{i}.7.0/24"), book)
    sig = 0x0123_4567_89AB_CDEF
    for i in range(5):   # a rotated system prompt: signatures 2 bits apart, each key on its own network
        lk.update(keyed(f"n{i}", signatures=[(sig ^ (3 << (i * 5)), 10)], ip=f"60.{i}.0.0/24"))
    assert [c.members for c in lk.clusters(3_600_000)] == [[f"p{i}" for i in range(5)]]
    for i in range(5):   # ... the same near template from one /24 links
        lk.update(keyed(f"n{i}", signatures=[(sig ^ (3 << (i * 5)), 10)], ip="60.1.0.0/24"))
    assert sorted(len(c.members) for c in lk.clusters(3_600_000)) == [5, 5]


def test_a_near_template_counts_only_when_the_key_repeats_it() -> None:
    """Light users behind a shared proxy each send a few one-off prompts; one of them can land
    within a few SimHash bits of a campaign's template by chance. Only a signature the key itself
    sent twice is a template it runs."""
    sig = 0x0123_4567_89AB_CDEF
    for count, clustered in ((1, False), (2, True)):
        lk = Linkage(min_keys=4)
        for i in range(5):
            lk.update(keyed(f"n{i}", signatures=[(sig ^ (3 << (i * 5)), count)], ip="60.1.0.0/24"))
        assert bool(lk.clusters(3_600_000)) is clustered


def test_short_answer_keys_are_never_candidates() -> None:
    lk = Linkage(min_keys=3)
    chatty = dict(DAY, out_tokens_mean=120.0, out_new_in_ratio=1.0)
    for i in range(6):
        lk.update(keyed(f"u{i}", rounds(), ip="198.51.100.0/24", ua="sdk/1", stats=chatty))
    assert lk.clusters(3_600_000) == []


def test_cluster_id_carries_over_as_the_cluster_grows() -> None:
    lk = Linkage(min_keys=3)
    for i in range(4):
        lk.update(keyed(f"h{i}", rounds()))
    first = lk.clusters(3_600_000)[0].cluster_id
    for i in range(4, 12):
        lk.update(keyed(f"h{i}", rounds()))
    grown = lk.clusters(3_600_000)
    assert len(grown) == 1 and grown[0].cluster_id == first and len(grown[0].members) == 12


def test_allow_listed_keys_are_never_candidates() -> None:
    lk = Linkage(min_keys=3)
    for i in range(5):
        lk.update(keyed(f"s{i}", rounds()), allowed=True)
    assert lk.clusters(3_600_000) == []


def test_linkage_pickles_to_the_same_bytes_under_any_hash_seed() -> None:
    """The scorer checkpoints its linkage; set-ordered state would make the bytes depend on the
    process's string hash seed, so two replays of one input would checkpoint differently."""
    code = ("import hashlib, pickle; from tests.unit.test_linkage import summ; from detector.linkage import Linkage\n"
            "lk = Linkage(min_keys=5)\n"
            "for i in range(40): lk.update(summ(f'h{i}', [(0xABC, 10), (i + 100, 1)], '203.0.113.0/24'))\n"
            "assert len(lk.clusters(3_600_000)[0].members) == 40\n"
            "print(hashlib.sha256(pickle.dumps(lk, protocol=5)).hexdigest())")
    outs = {subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONHASHSEED": seed},
                           capture_output=True, text=True, check=True,
                           cwd=Path(__file__).resolve().parents[2]).stdout for seed in ("1", "2", "3")}
    assert len(outs) == 1, outs
