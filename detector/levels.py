"""The closed vocabularies of the detector's decisions: actions, severities and window horizons.

Each is a :class:`~enum.StrEnum`, so a member *is* its name as the alert and decision contracts
spell it (``"throttle"``, ``"high"``, ``"24h"``): it compares and hashes like that string, and
orjson and the JSON schemas see the plain string. One exception: orjson refuses enum members as
*dict keys*, so a dict that is serialised keeps ``Horizon.DAY.value`` (a plain ``str``) as its key.

Actions and severities are declared from the mildest to the strongest; :attr:`Action.rank` and
:attr:`Severity.rank` are that position.

>>> Action.THROTTLE == "throttle", Action("block").rank, max(Severity, key=lambda s: s.rank)
(True, 3, <Severity.CRITICAL: 'critical'>)
>>> {"24h": 1}[Horizon.DAY]
1
"""

from __future__ import annotations

from enum import StrEnum


class Action(StrEnum):
    """What a decision asks the gateway to do (``none``: nothing, the subject is not flagged)."""

    NONE = "none"
    OBSERVE = "observe"
    THROTTLE = "throttle"
    BLOCK = "block"

    @property
    def rank(self) -> int:
        """0 for ``none`` up to 3 for ``block``."""
        return _ACTION_RANK[self]


ENFORCED: tuple[Action, ...] = (Action.OBSERVE, Action.THROTTLE, Action.BLOCK)
"""Actions a decision can carry, mildest first."""

ACTIONED: tuple[Action, ...] = (Action.THROTTLE, Action.BLOCK)
"""Actions that change what the caller gets (``observe`` only records)."""


class Severity(StrEnum):
    """How urgently a person should look at an alert."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        """0 for ``low`` up to 3 for ``critical``."""
        return _SEVERITY_RANK[self]


class Horizon(StrEnum):
    """The sliding windows every key is summarised over."""

    MINUTES_10 = "10m"
    HOUR = "1h"
    DAY = "24h"


_ACTION_RANK = {a: i for i, a in enumerate(Action)}
_SEVERITY_RANK = {s: i for i, s in enumerate(Severity)}
