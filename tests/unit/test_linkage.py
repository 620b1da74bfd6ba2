"""Linkage joins keys that share a prompt factory *and* infrastructure, nothing less."""

from __future__ import annotations

from detector.linkage import Linkage
from detector.summary import WindowSummary

DAY = {"n": 25.0, "distinct_prompt_ratio": 1.0, "out_in_ratio": 6.0}


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


def test_same_ip_alone_or_same_skeleton_alone_do_not_link() -> None:
    lk = Linkage(min_keys=2)
    for i in range(6):   # a proxy: same /24 and SDK, different prompts
        lk.update(summ(f"p{i}", [(i + 1, 10)], "198.51.100.0/24"))
    for i in range(6):   # a popular template from unrelated networks and SDKs
        lk.update(summ(f"t{i}", [(0xFEED, 10)], f"192.0.{i}.0/24", ua=f"sdk{i}/1"))
    assert lk.clusters(3_600_000) == []


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
