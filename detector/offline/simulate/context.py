"""What a persona or campaign builder receives (:class:`SimContext`) and returns (:class:`Actor`).

An actor is a group of keys with one ground-truth label (a benign persona or an attack campaign)
and one or more *streams*: lazy iterators of :data:`~.records.Emitted` tuples, each sorted by
``(ts, request_id)``. The world merges all streams, so a builder never holds its events in memory;
it only plans timestamps up front (a few integers per request) and renders records on demand.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .clock import Span
from .corpora import TextBank
from .identity import KeyIdentity, rngs
from .records import Emitted, RecordFactory
from .wording import CLASSIC, Wording


@dataclass(frozen=True)
class SimContext:
    """The shared, read-only world: seed, time span, prompt text, the record factory, and which
    variant (:mod:`.variants`) and campaign wording family (:mod:`.wording`) are simulated."""

    seed: int
    span: Span
    bank: TextBank
    factory: RecordFactory
    scale: float
    variant: str = "default"
    wording: Wording = CLASSIC

    def rngs(self, *parts: object) -> tuple[random.Random, np.random.Generator]:
        """RNGs private to one labelled thing (persona/campaign + index), independent of others."""
        return rngs(self.seed, *parts)

    def n_keys(self, base: int, minimum: int) -> int:
        """``base`` keys at scale 1, scaled, never fewer than ``minimum``."""
        return max(minimum, int(round(base * self.scale)))


@dataclass
class Actor:
    """Keys sharing one label, and the lazy streams that produce their requests."""

    name: str
    kind: str  # "benign" | "attack"
    campaign: str | None
    keys: list[KeyIdentity] = field(default_factory=list)
    streams: list[Iterator[Emitted]] = field(default_factory=list)
    allowlisted_accounts: tuple[str, ...] = ()
    # account_id -> profile fields that differ from the defaults of :mod:`.accounts`
    profiles: dict[str, dict[str, Any]] = field(default_factory=dict)
