"""Account profiles: parsing and validation, the book, apply timing in the scorer, checkpoints, replay."""

from __future__ import annotations

import doctest
import gzip
import pickle
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

import detector.profiles as profiles_module
import detector.stages.profiles as stream_profiles_module
from detector.cli import app as cli_app
from detector.config import Config
from detector.parse import rfc3339_ms
from detector.pipeline import Detector
from detector.profiles import (
    MAX_PROFILE_BYTES,
    AccountProfile,
    ProfileBook,
    ProfileTombstone,
    load_profiles,
    parse_profile,
)
from detector.record import Rejection
from detector.offline.replay import alerts_jsonl, parse_lines, replay_lines
from detector.scorer import Scorer
from detector.stages.profiles import profile_message, profile_update, route_profiles
from streams.settings import Settings
from streams.topics import topic_specs
from tests.unit.test_scorer import PROBE, summ

MIN = 60_000
FULL = {"account_id": "acct_1", "created_at": "2026-11-01T00:00:00Z", "org_id": "org_9", "tier": "free",
        "payment_fp": "pfp_1a2b", "country": "fr", "verified": False, "allowlisted": True,
        "updated_at": "2026-11-20T03:00:00.250+01:00", "plan_notes": {"anything": [1, 2]}}


def prof(account: str = "acct", *, updated: int | None = None, **kw: object) -> AccountProfile:
    return AccountProfile(account, updated_ms=updated, **kw)  # type: ignore[arg-type]


def test_doctests() -> None:
    assert doctest.testmod(profiles_module).failed == 0
    assert doctest.testmod(stream_profiles_module).failed == 0


# ------------------------------------------------------------------------------------ parsing


def test_a_full_profile_parses_and_round_trips() -> None:
    p = parse_profile(orjson.dumps(FULL))
    assert p == AccountProfile("acct_1", created_ms=rfc3339_ms("2026-11-01T00:00:00Z"), org_id="org_9", tier="free",
                               payment_fp="pfp_1a2b", country="FR", verified=False, allowlisted=True,
                               updated_ms=rfc3339_ms("2026-11-20T02:00:00.250Z"))
    assert parse_profile(p.to_json()) == p                      # unknown fields dropped, times normalised
    assert "plan_notes" not in p.to_dict()


def test_nulls_are_absent_and_only_account_id_is_required() -> None:
    p = parse_profile(b'{"account_id": "a", "tier": null, "created_at": null, "allowlisted": null}')
    assert p == AccountProfile("a")
    assert p.to_dict() == {"account_id": "a", "allowlisted": False}


@pytest.mark.parametrize(("raw", "reason", "detail"), [
    (b'{"tier": "free"}', "missing_field", "account_id: missing"),
    (b'{"account_id": 7}', "wrong_type", "account_id: expected a string"),
    (b'{"account_id": ""}', "out_of_range", "account_id: length outside 1..256"),
    (b'{"account_id": "a", "allowlisted": "yes"}', "wrong_type", "allowlisted: expected a boolean"),
    (b'{"account_id": "a", "verified": 1}', "wrong_type", "verified: expected a boolean"),
    (b'{"account_id": "a", "org_id": ["o"]}', "wrong_type", "org_id: expected a string"),
    (b'{"account_id": "a", "created_at": 1764000000000}', "wrong_type", "created_at: expected an RFC 3339 string"),
    (b'{"account_id": "a", "created_at": "last tuesday"}', "bad_timestamp",
     "created_at: not an RFC 3339 timestamp"),
    (b'{"account_id": "a", "updated_at": "2026-11-20T03:00:00"}', "bad_timestamp",
     "updated_at: timestamp has no UTC offset"),
    (b'{"account_id": "a", "created_at": "1999-01-01T00:00:00Z"}', "out_of_range",
     "created_at: outside 2015-01-01 .. 2100-01-01"),
    (b'{"account_id": "a", "country": "FRA"}', "out_of_range", "country: length outside 1..2"),
    (b'{"account_id": "a", "country": "1\\u00e9"}', "out_of_range", "country: not an ISO 3166-1 alpha-2 code"),
    (b'{"account_id": "a", "tier": ""}', "out_of_range", "tier: length outside 1..64"),
    (b"not json", "not_json", "invalid JSON near byte 0"),
    (b"\xff\xfe{}", "not_utf8", "invalid UTF-8 at byte 0"),
    (b'"acct"', "not_object", "record is not a JSON object"),
    (b"[]", "not_object", "expected one profile object, found 0"),
    (b'[{"account_id": "a"}, {"account_id": "b"}]', "not_object", "expected one profile object, found 2"),
    (b'{"account_id": "a"}\n{"account_id": "b"}', "not_object", "expected one profile object, found 2"),
])
def test_bad_profiles_are_rejected_with_a_reason(raw: bytes, reason: str, detail: str) -> None:
    r = parse_profile(raw)
    assert isinstance(r, Rejection) and (r.reason, r.detail) == (reason, detail)
    assert r.raw == raw


def test_rejections_keep_the_bytes_but_never_quote_values() -> None:
    secret = "pfp-CANARY-9911"
    raw = orjson.dumps({"account_id": "a", "payment_fp": secret, "tier": 5})
    r = parse_profile(raw)
    assert isinstance(r, Rejection) and r.raw == raw and secret not in r.detail
    big = orjson.dumps({"account_id": "a", "org_id": "x" * MAX_PROFILE_BYTES})
    assert parse_profile(big).reason == "oversize"  # type: ignore[union-attr]


def test_the_message_key_must_name_the_account() -> None:
    assert parse_profile(b'{"account_id": "a"}', key="a") == AccountProfile("a")
    r = parse_profile(b'{"account_id": "a"}', key="b")
    assert isinstance(r, Rejection) and r.reason == "key_mismatch"


def test_load_profiles_keeps_good_lines_and_numbers_bad_ones(tmp_path: Path) -> None:
    lines = [b'{"account_id": "a1", "tier": "paid"}', b"", b'{"account_id": "a2", "tier": 3}', b"{oops",
             b'{"account_id": "a3", "allowlisted": true}']
    for path, data in ((tmp_path / "p.jsonl", b"\n".join(lines) + b"\n"),
                       (tmp_path / "p.jsonl.gz", gzip.compress(b"\r\n".join(lines)))):
        path.write_bytes(data)
        good, bad = load_profiles(path)
        assert [p.account_id for p in good] == ["a1", "a3"]
        assert [(r.reason, r.detail.split(":")[0]) for r in bad] == [("wrong_type", "line 2"),
                                                                      ("not_json", "line 3")]


# --------------------------------------------------------------------------------------- book


def test_book_reads_and_helpers() -> None:
    book = ProfileBook()
    assert book.get("a") is None and book.get(None) is None and not book.is_allowlisted(None)
    assert book.created_ms("a", 123) == 123 and book.created_ms(None, None) is None
    book.apply(prof("a", created_ms=50, org_id="o", payment_fp="f", tier="free", allowlisted=True))
    book.apply(prof("b"))
    assert book.created_ms("a", 123) == 50          # the profile wins over the request's account_created_at
    assert book.created_ms("b", 123) == 123         # a profile without created_at keeps the request's
    assert (book.org_of("a"), book.payment_of("a"), book.tier_of("a")) == ("o", "f", "free")
    assert (book.org_of("b"), book.payment_of("zz"), book.tier_of(None)) == (None, None, None)
    assert book.is_allowlisted("a") and not book.is_allowlisted("b") and len(book) == 2
    book.apply(prof("a", tier="paid"))              # newest wins, whole profile replaced
    assert book.tier_of("a") == "paid" and not book.is_allowlisted("a")
    book.tombstone("a")
    book.tombstone("never-there")
    assert book.get("a") is None and len(book) == 1


def test_queued_updates_apply_at_their_time_in_order() -> None:
    book = ProfileBook()
    book.queue(prof("a", updated=30 * MIN, tier="t30"))
    book.queue(prof("a", updated=50 * MIN, tier="t50"))     # history: both kept, applied in turn
    book.queue(prof("b", tier="now"))                       # no updated_at: the next epoch
    assert book.pending == 3
    assert book.apply_due(10 * MIN) == 1 and book.tier_of("b") == "now" and book.get("a") is None
    assert book.apply_due(30 * MIN) == 1 and book.tier_of("a") == "t30"
    assert book.apply_due(40 * MIN) == 0 and book.tier_of("a") == "t30"
    assert book.apply_due(60 * MIN) == 1 and book.tier_of("a") == "t50" and book.pending == 0


def test_a_newer_message_overtakes_queued_updates_due_after_it() -> None:
    book = ProfileBook()
    book.queue(prof("a", updated=50 * MIN, tier="late"))
    book.queue(prof("b", updated=50 * MIN, tier="other"))
    book.queue(prof("a", updated=20 * MIN, tier="newer-message"))   # arrived later: "late" must not win
    book.apply_due(60 * MIN)
    assert book.tier_of("a") == "newer-message" and book.tier_of("b") == "other"
    book.queue(prof("c", updated=90 * MIN, allowlisted=True))
    book.queue(ProfileTombstone("c"))                               # deletion: drops the queued profile
    book.queue(ProfileTombstone("a"))
    assert book.apply_due(70 * MIN) == 2 and book.pending == 0
    book.apply_due(100 * MIN)
    assert book.get("a") is None and book.get("c") is None and book.tier_of("b") == "other"


def test_book_bytes_are_canonical_and_survive_pickle() -> None:
    one, two = ProfileBook(), ProfileBook()
    for p in (prof("a", tier="x"), prof("b", country="DE"), prof("c", allowlisted=True)):
        one.apply(p)
    for p in (prof("c", allowlisted=True), prof("a", tier="x"), prof("b", country="DE")):
        two.apply(p)
    one.queue(prof("d", updated=5))
    two.queue(prof("d", updated=5))
    one.queue(ProfileTombstone("a"))
    two.queue(ProfileTombstone("a"))
    assert one.to_bytes() == two.to_bytes() and one == two
    back = ProfileBook.from_bytes(one.to_bytes())
    assert back == one and back.pending == 2
    blob = pickle.dumps(one, protocol=5)
    assert one.to_bytes() in blob                    # the scorer's pickle holds the book's orjson form
    assert pickle.loads(blob) == one  # noqa: S301 - our own bytes
    for corrupt in (b'{"profiles": [{"tier": "x"}], "pending": []}', b'{"profiles": []}', b"[]", b"{"):
        with pytest.raises(ValueError):
            ProfileBook.from_bytes(corrupt)


# ------------------------------------------------------------------------------------- scorer


def _probe_lines(account: str, n: int = 1500) -> list[bytes]:
    """About two hours of an obvious logit-probing key (``probe-key``) on ``account``."""
    return [orjson.dumps({"ts": 1_764_000_000_000 + i * 5000, "api_key_id": "probe-key", "account_id": account,
                          "params": {"logit_bias_size": 40, "logprobs": True, "max_tokens": 1},
                          "messages": [{"role": "user", "content": "step by step"}]}) for i in range(n)]


def test_an_allowlisted_profile_applies_from_its_updated_at() -> None:
    lines = _probe_lines("partner")
    plain = replay_lines(lines, Config())
    assert plain.alerts, "an obvious probing key must be actioned without a profile"
    first_ms = rfc3339_ms(plain.alerts[0]["detected_at"])
    before = replay_lines(lines, Config(), profiles=[prof("partner", updated=first_ms - 1, allowlisted=True)])
    assert before.alerts == [] and before.decisions == []
    after = replay_lines(lines, Config(), profiles=[prof("partner", updated=first_ms + 1, allowlisted=True)])
    assert after.alerts[0] == plain.alerts[0]          # the first alert came before the profile was in force
    assert len(after.alerts) <= len(plain.alerts)


def test_config_allowlist_still_counts_and_a_tombstone_lifts_the_profile() -> None:
    lines = _probe_lines("partner")
    assert replay_lines(lines, Config().with_allowlist(["partner"])).alerts == []
    det = Detector(profiles=[prof("partner", allowlisted=True)])
    items = list(parse_lines(lines))
    silent = list(det.feed(items[:len(items) // 2]))
    assert not any(r.alerts for r in silent) and det.scorer.profiles.is_allowlisted("partner")
    det.scorer.add_profile(ProfileTombstone("partner"))
    lifted = list(det.feed(items[len(items) // 2:])) + list(det.finish())
    assert any(r.alerts for r in lifted) and det.scorer.profiles.get("partner") is None


def test_scorer_checkpoint_keeps_the_book_and_its_queue() -> None:
    a = Scorer(Config())
    a.add_profile(prof("partner", org_id="o1"))
    a.add_profile(prof("partner", updated=30 * MIN, allowlisted=True))
    a.close_epoch(10 * MIN, [])
    b = Scorer.from_bytes(a.to_bytes(), Config())
    assert b.profiles == a.profiles and b.profiles.pending == 1 and b.profiles.org_of("partner") == "o1"
    for e in (20, 30, 40):
        nxt = [summ("k", e * MIN, PROBE, account="partner")]
        assert a.close_epoch(e * MIN, nxt).alerts == b.close_epoch(e * MIN, nxt).alerts
    assert b.profiles.is_allowlisted("partner")


# ------------------------------------------------------------------------------------- replay


def test_replay_with_an_allowlisted_profile_does_not_action_the_key() -> None:
    lines = _probe_lines("acct_lab")
    plain = replay_lines(lines, Config())
    assert any("probe-key" in a["api_key_ids"] for a in plain.alerts)
    allowed = replay_lines(lines, Config(), profiles=[prof("acct_lab", allowlisted=True)])
    assert allowed.alerts == [] and allowed.decisions == []
    other = replay_lines(lines, Config(), profiles=[prof("acct_other", allowlisted=True)])
    assert alerts_jsonl(other.alerts) == alerts_jsonl(plain.alerts)
    det = Detector(profiles=[prof("acct_lab", allowlisted=True)])
    assert det.scorer.profiles.pending == 1


def test_cli_replay_accounts_file(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    events.write_bytes(b"\n".join(_probe_lines("acct_lab")) + b"\n")
    accounts = tmp_path / "accounts.jsonl"
    accounts.write_bytes(b'{"account_id": "acct_lab", "allowlisted": true}\n{"account_id": 5}\n')
    out = tmp_path / "alerts.jsonl"
    res = CliRunner().invoke(cli_app, ["replay", str(events), "--accounts", str(accounts), "--alerts-out", str(out)])
    assert res.exit_code == 0, res.output
    assert out.read_bytes() == b""
    assert "wrong_type" in res.output and "line 2" in res.output


# ------------------------------------------------------------------------------ live plumbing


def test_profiles_topic_is_compacted_and_prefixed() -> None:
    s = Settings(topic_prefix="t1.")
    spec = next(t for t in topic_specs(s) if t.name == "t1.account-profiles")
    assert spec.partitions == 1 and spec.configs["cleanup.policy"] == "compact"
    assert Settings.from_env({"DETECTOR_PROFILES_TOPIC": "acct"}).topic("profiles") == "acct"


def test_route_profiles_forwards_updates_and_dead_letters_the_rest() -> None:
    good = orjson.dumps({"account_id": "a1", "tier": "paid", "extra": 1})
    msgs = [(0, 1, b"a1", good), (0, 2, b"a2", None), (0, 3, b"a3", b'{"account_id": "other"}'),
            (0, 4, None, good), (0, 5, b"\xff", good), (0, 6, b"a6", b"{nope"), (0, 7, b"", None)]
    batch = route_profiles(msgs, "t.account-profiles")  # type: ignore[arg-type]
    updates = [profile_update(orjson.loads(v)) for v in batch.forward]
    assert updates == [AccountProfile("a1", tier="paid"), ProfileTombstone("a2")]
    assert batch.rejected == {"key_mismatch": 1, "missing_field": 2, "not_utf8": 1, "not_json": 1}
    assert [h["x-source-offset"] for _, h in batch.dlq] == [b"3", b"4", b"5", b"6", b"7"]
    assert all(h["x-source-topic"] == b"t.account-profiles" for _, h in batch.dlq)
    assert batch.dlq[0][0] == b'{"account_id": "other"}'


def test_profile_messages_round_trip_and_malformed_ones_raise() -> None:
    p = prof("a", created_ms=rfc3339_ms("2026-01-01T00:00:00Z"), updated=rfc3339_ms("2026-02-01T00:00:00Z"))
    for u in (p, ProfileTombstone("a")):
        assert profile_update(orjson.loads(profile_message(u))) == u
    for bad in ({"profile": None}, {"profile": {"tier": "x"}}, {"profile_tombstone": ""}, {"profile_tombstone": 3}):
        with pytest.raises(ValueError):
            profile_update(bad)
