"""The internal messages between the stages, as versioned records that name their fields.

Two kinds travel between the stages (``xd-keyed`` and ``xd-summaries`` in live, plain lists in
:mod:`detector.stages.pipeline`):

* :class:`KeyedMessage` -- feature rows of one source partition for one key partition, with the
  source's event-time bookkeeping (see :mod:`detector.stages.ingest`). Rows are flat lists
  (:func:`flat_row`), written and read as they are: the windows read a row's values by position
  without building an :class:`~detector.features.EventFeatures` per row::

      {"v": 1, "s": source, "t0": first ts, "hb": heartbeat, "c": last source offset, "i": 0|1,
       "cols": ["ts_ms", "api_key_id", ...], "rows": [[src offset, index, pre, *values], ...]}

  ``cols`` names the feature values of every row, so a reader maps them by name: a row written
  before a field was added gets that field's default, and a field the reader does not know is an
  error that names it (never a silent shift of every later column).
* :class:`EpochMessage` -- summaries of one closed epoch of one key partition, in chunks; the last
  chunk is the epoch's *marker*: ``{"v": 1, "p": p, "e": epoch end, "m": 0|1, "s": [summary, ...]}``
  (each summary the named-field JSON of :class:`~detector.summary.WindowSummary`).

A message without ``"v"`` is read as version 1 (the layout before the version field). A higher
version than :data:`VERSION` raises :class:`RecordVersionError`: a newer writer is running beside an
older reader, which must be upgraded first.

Cost: encoding is one ``orjson.dumps``; decoding is one ``orjson.loads`` when the columns are the
current ones, otherwise one dict per row.

>>> from detector.features import EventFeatures
>>> f = EventFeatures(1_000, "k", None, None, 1, 2, 3, 0, 0, 1, 5, 2, 9, 1, "m", "", "", 0, 200)
>>> msg = decode_keyed(encode_keyed(KeyedMessage(source=0, t0=1_000, hb=1_000, covered=7, idle=True,
...                                              rows=[flat_row(7, 0, -1, f)])))
>>> msg.rows[0][:3], row_features(msg.rows[0]) == f, msg.covered, msg.idle
([7, 0, -1], True, 7, True)
"""

from __future__ import annotations

import operator
from dataclasses import MISSING, dataclass, field, fields
from typing import Any

import orjson

from detector.features import FEATURE_FIELDS, ROW_HEAD, EventFeatures

VERSION = 1
"""Version of the records this code writes; it reads this one and every older one."""

_DEFAULTS: dict[str, Any] = {f.name: f.default for f in fields(EventFeatures) if f.default is not MISSING}
_REQUIRED = frozenset(FEATURE_FIELDS) - frozenset(_DEFAULTS)
_values_of = operator.attrgetter(*FEATURE_FIELDS)

FlatRow = list[Any]
"""``[source offset, index of the record in its message, pre watermark, *values]``, the values in
:data:`FEATURE_FIELDS` order."""


class RecordVersionError(ValueError):
    """An internal message written by a newer version, or with fields this version cannot read."""


@dataclass(slots=True)
class KeyedMessage:
    """Feature rows of one source partition bound for one key partition (see the module docstring).

    ``covered`` (the last source offset of the batch) and ``idle`` (the source had nothing more to
    read) are set on a batch's final chunk only; ``hb`` is -1 on the other chunks.
    """

    source: int
    t0: int = -1
    hb: int = -1
    covered: int | None = None
    idle: bool = True
    rows: list[FlatRow] = field(default_factory=list)


@dataclass(slots=True)
class EpochMessage:
    """One chunk of an epoch's summaries from key partition ``partition``; ``marker`` on the last."""

    partition: int
    epoch_ms: int
    marker: bool
    summaries: list[dict[str, Any]]


def _version(msg: dict[str, Any], kind: str) -> None:
    v = msg.get("v", 1)
    if type(v) is not int or v > VERSION or v < 1:
        raise RecordVersionError(f"{kind} message version {v!r}; this reader knows versions 1..{VERSION}")


def flat_row(offset: int, index: int, pre: int, f: EventFeatures) -> FlatRow:
    """The row of ``f``, record ``index`` of source offset ``offset``, read at watermark ``pre``."""
    return [offset, index, pre, *_values_of(f)]


def encode_keyed(msg: KeyedMessage) -> bytes:
    """The ``xd-keyed`` bytes of ``msg`` (current version and columns)."""
    out: dict[str, Any] = {"v": VERSION, "s": msg.source, "t0": msg.t0, "hb": msg.hb, "cols": FEATURE_FIELDS,
                           "rows": msg.rows}
    if msg.covered is not None:
        out["c"] = msg.covered
        out["i"] = 1 if msg.idle else 0
    return orjson.dumps(out)


def _flat_rows(cols: list[str] | None, rows: list[FlatRow]) -> list[FlatRow]:
    """``rows`` with their values in :data:`FEATURE_FIELDS` order, mapped by column name."""
    if cols is None:  # the layout before versions: positional, maybe without fields added since
        full = ROW_HEAD + len(FEATURE_FIELDS)
        return [r if len(r) == full else _flat_rows(list(FEATURE_FIELDS[:len(r) - ROW_HEAD]), [r])[0]
                for r in rows]
    if tuple(cols) == FEATURE_FIELDS:
        return rows
    unknown = [c for c in cols if c not in _DEFAULTS and c not in _REQUIRED]
    missing = sorted(_REQUIRED - set(cols))
    if unknown or missing:
        raise RecordVersionError(f"keyed rows with unknown columns {unknown} or without {missing}")
    names = tuple(cols)
    out = []
    for r in rows:
        values = {**_DEFAULTS, **dict(zip(names, r[ROW_HEAD:]))}
        out.append([*r[:ROW_HEAD], *(values[n] for n in FEATURE_FIELDS)])
    return out


def decode_keyed(raw: bytes) -> KeyedMessage:
    """:func:`encode_keyed`'s message back, for every version up to :data:`VERSION`."""
    msg = orjson.loads(raw)
    _version(msg, "keyed")
    covered = msg.get("c")
    return KeyedMessage(source=msg["s"], t0=msg.get("t0", -1), hb=msg.get("hb", -1), covered=covered,
                        idle=bool(msg.get("i", 1)) if covered is not None else False,
                        rows=_flat_rows(msg.get("cols"), msg["rows"]))


def row_features(row: FlatRow) -> EventFeatures:
    """The :class:`~detector.features.EventFeatures` of a decoded row."""
    f = EventFeatures(*row[ROW_HEAD:])
    f.input_samples = tuple(f.input_samples)   # a JSON array on the wire
    return f


def encode_epoch(partition: int, epoch_ms: int, marker: bool, summaries_json: list[bytes]) -> bytes:
    """The ``xd-summaries`` bytes of one chunk; ``summaries_json`` are already serialised summaries."""
    return (b'{"v":%d,"p":%d,"e":%d,"m":%d,"s":[' % (VERSION, partition, epoch_ms, 1 if marker else 0)
            + b",".join(summaries_json) + b"]}")


def decode_epoch(msg: dict[str, Any]) -> EpochMessage:
    """An :class:`EpochMessage` from the decoded JSON object of an ``xd-summaries`` chunk."""
    _version(msg, "summaries")
    return EpochMessage(msg["p"], msg["e"], bool(msg.get("m")), msg["s"])
