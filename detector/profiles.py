"""Account profiles: the side input from the provider's account system, and the book that holds them.

Gateways do not know an account's age, organisation or payment instrument; the account or billing
system does. It publishes one JSON object per account (``gateway-log-schema.md``, "Account
profiles"): live on the compacted topic ``account-profiles`` (message key = ``account_id``, newest
wins, a null value deletes), for replay as a JSONL file (``detector replay --accounts FILE``).

* :func:`parse_profile` turns one value into an :class:`AccountProfile` or a
  :class:`~detector.record.Rejection` with the reason codes of :mod:`detector.parse`
  (``not_utf8``, ``not_json``, ``not_object``, ``missing_field``, ``wrong_type``,
  ``out_of_range``, ``oversize``, ``bad_timestamp``) plus ``key_mismatch`` (the Kafka key names
  another account). ``account_id`` is required; every other field is optional and ``null`` means
  absent; times are RFC 3339 strings with an offset; ``country`` is two ASCII letters (stored
  upper-case); unknown fields are ignored. The detail names the field, never a value.
* :func:`load_profiles` reads a JSONL file (gzip or not) and returns the good profiles in file
  order and the rejections (detail prefixed with the line number): a bad line never hides a good one.
* :class:`ProfileBook` keeps the newest profile per account and the updates not yet in force. The
  scorer queues every update (:meth:`ProfileBook.queue`) and applies it at the first epoch at or
  after its ``updated_at`` (without one, or for a deletion: at the next epoch), exactly as it
  applies analyst labels, so live and replay decide the same. A later update for an account
  drops that account's queued updates due after it (the newer message wins, as on the compacted
  topic); updates due in order form the account's history.

A request's own ``account_created_at`` still counts; the profile wins where both exist
(:meth:`ProfileBook.created_ms`). An account is never actioned when its profile says
``allowlisted`` (or when it is in ``DETECTOR_ALLOWLIST_ACCOUNTS``, checked by the scorer).

Cost: parsing is one ``orjson.loads`` and a dozen type checks per profile; the book is one dict
entry per account (a few hundred bytes) and its checkpoint is orjson, sorted by account, so equal
books give equal bytes. ``payment_fp`` is already a pseudonymous fingerprint; nothing here holds
card data or prompt text.

>>> p = parse_profile(b'{"account_id": "acct_1", "created_at": "2026-11-01T00:00:00Z", '
...                   b'"tier": "free", "allowlisted": true, "updated_at": "2026-11-20T03:00:00Z"}')
>>> p.account_id, p.created_ms, p.tier, p.allowlisted
('acct_1', 1793491200000, 'free', True)
>>> parse_profile(b'{"tier": "free"}').detail
'account_id: missing'
>>> book = ProfileBook()
>>> book.queue(p)
>>> book.apply_due(p.updated_ms - 1), book.is_allowlisted("acct_1")
(0, False)
>>> book.apply_due(p.updated_ms), book.is_allowlisted("acct_1"), book.created_ms("acct_1", None)
(1, True, 1793491200000)
>>> ProfileBook.from_bytes(book.to_bytes()).to_bytes() == book.to_bytes()
True
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import orjson

from detector.alerts import rfc3339
from detector.parse import TS_MAX_MS, TS_MIN_MS, RecordError, raw_of, rfc3339_ms, split_message
from detector.record import Rejection

MAX_PROFILE_BYTES = 64 * 1024
"""A profile larger than this is rejected with reason ``oversize`` before it is decoded."""

MAX_ACCOUNT_ID_CHARS = 256
MAX_FIELD_CHARS = 1024


@dataclass(frozen=True, slots=True)
class AccountProfile:
    """One account as the account system describes it. Times are epoch milliseconds (UTC)."""

    account_id: str
    created_ms: int | None = None
    org_id: str | None = None
    tier: str | None = None
    payment_fp: str | None = None
    country: str | None = None
    verified: bool | None = None
    allowlisted: bool = False
    updated_ms: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """The schema's JSON object (absent fields left out); :func:`parse_profile` reads it back."""
        out: dict[str, Any] = {"account_id": self.account_id}
        for key, dest, check in _FIELDS:
            value = getattr(self, dest)
            if value is not None:
                out[key] = rfc3339(value) if check is _time else value
        return out

    def to_json(self) -> bytes:
        """:meth:`to_dict` as bytes (the value published on ``account-profiles``)."""
        return orjson.dumps(self.to_dict())


@dataclass(frozen=True, slots=True)
class ProfileTombstone:
    """A deletion of an account's profile (a null value on the compacted topic)."""

    account_id: str


ProfileUpdate = AccountProfile | ProfileTombstone

# ----------------------------------------------------------------------------------- validation

Check = Callable[[object, str], object]


def _string(limit: int) -> Check:
    def check(value: object, path: str) -> str:
        if type(value) is not str:
            raise RecordError("wrong_type", f"{path}: expected a string")
        if not 1 <= len(value) <= limit:
            raise RecordError("out_of_range", f"{path}: length outside 1..{limit}")
        return value

    return check


_two_chars = _string(2)


def _country(value: object, path: str) -> str:
    code = _two_chars(value, path)
    if len(code) != 2 or not (code.isascii() and code.isalpha()):
        raise RecordError("out_of_range", f"{path}: not an ISO 3166-1 alpha-2 code")
    return code.upper()


def _boolean(value: object, path: str) -> bool:
    if type(value) is not bool:
        raise RecordError("wrong_type", f"{path}: expected a boolean")
    return value


def _time(value: object, path: str) -> int:
    if type(value) is not str:
        raise RecordError("wrong_type", f"{path}: expected an RFC 3339 string")
    try:
        ms = rfc3339_ms(value)
    except ValueError as exc:
        raise RecordError("bad_timestamp", f"{path}: {exc}") from None
    if not TS_MIN_MS <= ms < TS_MAX_MS:
        raise RecordError("out_of_range", f"{path}: outside 2015-01-01 .. 2100-01-01")
    return ms


# schema key, AccountProfile field, check
_FIELDS: tuple[tuple[str, str, Check], ...] = (
    ("created_at", "created_ms", _time),
    ("org_id", "org_id", _string(MAX_FIELD_CHARS)),
    ("tier", "tier", _string(64)),
    ("payment_fp", "payment_fp", _string(MAX_FIELD_CHARS)),
    ("country", "country", _country),
    ("verified", "verified", _boolean),
    ("allowlisted", "allowlisted", _boolean),
    ("updated_at", "updated_ms", _time),
)


def check_profile(obj: dict[str, Any]) -> AccountProfile:
    """Validate one decoded profile object; raise :class:`~detector.parse.RecordError` if unusable."""
    account = obj.get("account_id")
    if account is None:
        raise RecordError("missing_field", "account_id: missing")
    fields: dict[str, Any] = {"account_id": _string(MAX_ACCOUNT_ID_CHARS)(account, "account_id")}
    for key, dest, check in _FIELDS:
        value = obj.get(key)
        if value is not None:
            fields[dest] = check(value, key)
    return AccountProfile(**fields)


def parse_profile(raw: bytes, *, key: str | None = None) -> AccountProfile | Rejection:
    """Decode and validate one profile value; ``key`` (the Kafka message key) must name its account.

    >>> parse_profile(b'{"account_id": "a", "country": "France"}').reason
    'out_of_range'
    >>> parse_profile(b'{"account_id": "a"}', key="b").reason
    'key_mismatch'
    """
    units = split_message(raw, max_bytes=MAX_PROFILE_BYTES)
    if len(units) != 1:
        return Rejection("not_object", f"expected one profile object, found {len(units)}", raw)
    unit = units[0]
    if type(unit) is Rejection:
        return unit
    obj, own = unit  # type: ignore[misc]
    try:
        profile = check_profile(obj)
    except RecordError as err:
        return Rejection(err.reason, err.detail, raw_of(obj, own))
    if key is not None and key != profile.account_id:
        return Rejection("key_mismatch", "account_id: differs from the message key", raw_of(obj, own))
    return profile


def load_profiles(path: Path) -> tuple[list[AccountProfile], list[Rejection]]:
    """Profiles of a JSONL file (gzip or not) in file order, and its rejected lines.

    Blank lines are skipped; a rejection's detail starts with its line number among the non-blank
    lines (``line 3: tier: expected a string``). Raises ``OSError`` when the file cannot be read.
    """
    from detector.offline.replay import open_lines  # replay imports this module through the scorer

    profiles: list[AccountProfile] = []
    rejected: list[Rejection] = []
    for n, line in enumerate(open_lines(path), 1):
        item = parse_profile(line)
        if type(item) is Rejection:
            rejected.append(Rejection(item.reason, f"line {n}: {item.detail}", item.raw))
        else:
            profiles.append(item)  # type: ignore[arg-type]
    return profiles, rejected


# ----------------------------------------------------------------------------------------- book


def _due_ms(update: ProfileUpdate) -> int:
    """Event time from which an update applies; -1 (the next epoch) without ``updated_at``."""
    if type(update) is AccountProfile and update.updated_ms is not None:
        return update.updated_ms
    return -1


class ProfileBook:
    """Newest profile per account, plus the queued updates not yet in force."""

    __slots__ = ("_profiles", "_pending")

    def __init__(self) -> None:
        self._profiles: dict[str, AccountProfile] = {}
        self._pending: list[ProfileUpdate] = []   # by due time; arrival order among equals

    def __len__(self) -> int:
        return len(self._profiles)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ProfileBook) and self.to_bytes() == other.to_bytes()

    __hash__ = None  # type: ignore[assignment]

    def __reduce__(self) -> tuple[Callable[[bytes], ProfileBook], tuple[bytes]]:
        # the scorer pickles its attributes: keep the book's own orjson form inside that pickle
        return ProfileBook.from_bytes, (self.to_bytes(),)

    # ------------------------------------------------------------------ updates
    def apply(self, profile: AccountProfile) -> None:
        """Put ``profile`` in force now (it replaces the account's previous one)."""
        self._profiles[profile.account_id] = profile

    def tombstone(self, account_id: str) -> None:
        """Delete an account's profile now (absent is fine)."""
        self._profiles.pop(account_id, None)

    def queue(self, update: ProfileUpdate) -> None:
        """Queue an update for :meth:`apply_due`; it drops the account's queued updates due after it."""
        due = _due_ms(update)
        self._pending = [u for u in self._pending if u.account_id != update.account_id or _due_ms(u) <= due]
        self._pending.append(update)
        self._pending.sort(key=_due_ms)  # stable: arrival order among equal due times

    def apply_due(self, epoch_ms: int) -> int:
        """Apply the queued updates due at or before ``epoch_ms``, in order; returns how many."""
        n = 0
        while n < len(self._pending) and _due_ms(self._pending[n]) <= epoch_ms:
            update = self._pending[n]
            if type(update) is AccountProfile:
                self.apply(update)
            else:
                self.tombstone(update.account_id)
            n += 1
        del self._pending[:n]
        return n

    @property
    def pending(self) -> int:
        """How many updates wait for their time."""
        return len(self._pending)

    # ------------------------------------------------------------------ reads
    def get(self, account_id: str | None) -> AccountProfile | None:
        """The profile in force for ``account_id``, if any."""
        return None if account_id is None else self._profiles.get(account_id)

    def created_ms(self, account_id: str | None, fallback: int | None) -> int | None:
        """Account creation time: the profile's where it has one, else ``fallback`` (the request's)."""
        p = self.get(account_id)
        return p.created_ms if p is not None and p.created_ms is not None else fallback

    def is_allowlisted(self, account_id: str | None) -> bool:
        """True when the account's profile says it may generate training data."""
        p = self.get(account_id)
        return p is not None and p.allowlisted

    def org_of(self, account_id: str | None) -> str | None:
        """The organisation owning the account, if known."""
        p = self.get(account_id)
        return None if p is None else p.org_id

    def payment_of(self, account_id: str | None) -> str | None:
        """The account's payment fingerprint, if known."""
        p = self.get(account_id)
        return None if p is None else p.payment_fp

    def tier_of(self, account_id: str | None) -> str | None:
        """The account's tier, if known."""
        p = self.get(account_id)
        return None if p is None else p.tier

    # ------------------------------------------------------------- persistence
    def to_bytes(self) -> bytes:
        """Checkpoint (orjson, field names and epoch ms as in the dataclasses): profiles sorted by
        account, queued updates in order; a tombstone is ``{"account_id": ..., "deleted": true}``."""
        return orjson.dumps({
            "profiles": [asdict(self._profiles[a]) for a in sorted(self._profiles)],
            "pending": [asdict(u) if type(u) is AccountProfile else {"account_id": u.account_id, "deleted": True}
                        for u in self._pending],
        })

    @classmethod
    def from_bytes(cls, data: bytes) -> ProfileBook:
        """Restore :meth:`to_bytes` (raises ``ValueError`` on a corrupt checkpoint)."""
        book = cls()
        try:
            state = orjson.loads(data)
            book._profiles = {d["account_id"]: AccountProfile(**d) for d in state["profiles"]}
            book._pending = [ProfileTombstone(d["account_id"]) if d.get("deleted") else AccountProfile(**d)
                             for d in state["pending"]]
        except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"not a ProfileBook checkpoint ({type(exc).__name__})") from None
        return book
