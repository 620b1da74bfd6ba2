"""Account profiles into the scorer (a stage, pure logic): the compacted ``account-profiles`` topic -> ``xd-summaries``.

Pure logic, no I/O. The profiles agent hands :func:`route_profiles` one batch of
``(partition, offset, key, value)`` messages; each becomes, in order, either a scorer input on
``xd-summaries`` (so a profile reaches the scorer in stream order and its effect is checkpointed
with the scorer, exactly like an analyst label) or a dead letter:

* a value that :func:`detector.profiles.parse_profile` accepts (its ``account_id`` equal to the
  message key) -> ``{"profile": {...}}`` (the profile's normalised schema object);
* a null value (a tombstone) with a key -> ``{"profile_tombstone": "<account_id>"}``;
* anything else -> the dead-letter topic with ``x-reject-*`` and ``x-source-*`` headers and the
  original value (reasons as in :mod:`detector.profiles`; ``missing_field`` for a message
  without a key, ``not_utf8`` for a key that is not UTF-8).

:func:`profile_update` turns a forwarded message back into the update the scorer queues.

>>> batch = route_profiles([(0, 5, b"acct_1", b'{"account_id": "acct_1", "allowlisted": true}'),
...                         (0, 6, b"acct_2", None), (0, 7, b"acct_3", b'{"tier": 3}')], "account-profiles")
>>> [profile_update(orjson.loads(v)) for v in batch.forward]  # doctest: +NORMALIZE_WHITESPACE
[AccountProfile(account_id='acct_1', created_ms=None, org_id=None, tier=None, payment_fp=None, country=None,
                verified=None, allowlisted=True, updated_ms=None), ProfileTombstone(account_id='acct_2')]
>>> batch.rejected
{'missing_field': 1}
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from detector.parse import RecordError
from detector.profiles import AccountProfile, ProfileTombstone, ProfileUpdate, check_profile, parse_profile
from detector.record import Rejection
from detector.stages.ingest import DLQ_HEADROOM, dead_letter

TOMBSTONE_FIELD = "profile_tombstone"


@dataclass(slots=True)
class ProfileBatch:
    """What one batch of profile messages sends: scorer inputs in order, and dead letters."""

    forward: list[bytes] = field(default_factory=list)
    dlq: list[tuple[bytes, dict[str, bytes]]] = field(default_factory=list)
    rejected: dict[str, int] = field(default_factory=dict)


def profile_message(update: ProfileUpdate) -> bytes:
    """The ``xd-summaries`` message carrying one profile update to the scorer."""
    if type(update) is AccountProfile:
        return orjson.dumps({"profile": update.to_dict()})
    return orjson.dumps({TOMBSTONE_FIELD: update.account_id})


def profile_update(msg: dict[str, Any]) -> ProfileUpdate:
    """The update a decoded :func:`profile_message` carries (raises ``ValueError`` if malformed)."""
    if TOMBSTONE_FIELD in msg:
        account = msg[TOMBSTONE_FIELD]
        if type(account) is not str or not account:
            raise ValueError("profile tombstone without an account id")
        return ProfileTombstone(account)
    value = msg.get("profile")
    if type(value) is not dict:
        raise ValueError("profile message without a profile object")
    try:
        return check_profile(value)
    except RecordError as err:
        raise ValueError(err.detail) from None


def is_profile_message(msg: dict[str, Any]) -> bool:
    """True for a decoded ``xd-summaries`` message that carries a profile update."""
    return "profile" in msg or TOMBSTONE_FIELD in msg


def route_profiles(messages: list[tuple[int, int, bytes | None, bytes | None]], source_topic: str, *,
                   max_dlq_bytes: int = 8 * 1024 * 1024) -> ProfileBatch:
    """One batch of ``account-profiles`` messages ``(partition, offset, key, value)`` -> what to send."""
    out = ProfileBatch()
    topic = source_topic.encode()
    max_value = max(1024, max_dlq_bytes - DLQ_HEADROOM)
    for partition, offset, key, value in messages:
        item = _update_of(key, value)
        if type(item) is Rejection:
            out.rejected[item.reason] = out.rejected.get(item.reason, 0) + 1
            out.dlq.append(dead_letter(item.reason, item.detail, item.raw, topic, partition, offset, max_value))
        else:
            out.forward.append(profile_message(item))  # type: ignore[arg-type]
    return out


def _update_of(key: bytes | None, value: bytes | None) -> ProfileUpdate | Rejection:
    raw = value or b""
    if key is None:
        return Rejection("missing_field", "message key (account_id): missing", raw)
    try:
        account = key.decode("utf-8")
    except UnicodeDecodeError:
        return Rejection("not_utf8", "message key (account_id): invalid UTF-8", raw)
    if value is None:
        return ProfileTombstone(account) if account else Rejection("missing_field", "message key: empty", raw)
    return parse_profile(value, key=account)
