"""Simulated time: the span, timestamp formatting, and arrival-time models.

Assumptions:

* All times are integer epoch milliseconds (UTC). A simulated key's "local" time is UTC plus a
  fixed offset in hours (no daylight-saving changes inside a simulation).
* Arrivals are inhomogeneous Poisson processes: the expected count per UTC hour is a daily rate
  shaped by a 24-value profile indexed by *local* hour (humans sleep, schools close, machines do
  not). Within an hour, arrival instants are uniform.
* A single stream never emits two events in the same millisecond (:func:`strictly_increasing`), so
  the ``(ts, request_id)`` merge order of the whole simulation is total and deterministic.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

import numpy as np

SECOND_MS = 1_000
MINUTE_MS = 60_000
HOUR_MS = 3_600_000
DAY_MS = 86_400_000

# Relative activity per local hour of day (index 0 = 00:00–01:00 local time).
PROFILE_FLAT: tuple[float, ...] = (1.0,) * 24
# People chatting with an assistant: quiet 01–06, busy through the day, peak in the evening.
PROFILE_HUMAN: tuple[float, ...] = (
    0.35, 0.18, 0.09, 0.05, 0.05, 0.08, 0.2, 0.45, 0.75, 0.95, 1.0, 1.0,
    1.0, 1.0, 1.0, 0.95, 0.95, 1.0, 1.1, 1.2, 1.25, 1.1, 0.85, 0.55,
)
# Students: school hours plus an evening homework peak, nearly nothing at night.
PROFILE_SCHOOL: tuple[float, ...] = (
    0.04, 0.02, 0.01, 0.01, 0.01, 0.02, 0.05, 0.3, 0.9, 1.2, 1.3, 1.2,
    1.0, 1.2, 1.3, 1.2, 1.0, 1.0, 1.3, 1.5, 1.4, 1.0, 0.4, 0.1,
)
# Software work that also runs unattended: busier in office hours, never silent.
PROFILE_AROUND_THE_CLOCK: tuple[float, ...] = (
    0.6, 0.55, 0.5, 0.5, 0.5, 0.55, 0.65, 0.8, 1.1, 1.35, 1.45, 1.45,
    1.3, 1.4, 1.45, 1.45, 1.35, 1.2, 1.0, 0.9, 0.85, 0.8, 0.7, 0.65,
)
# Office work: weekdays 09:00–18:00 local, nothing outside (use with :func:`weekdays_only`).
PROFILE_OFFICE: tuple[float, ...] = (0.0,) * 9 + (1.0,) * 9 + (0.0,) * 6


@dataclass(frozen=True, slots=True)
class Span:
    """The simulated interval ``[start_ms, end_ms)`` and the moment ``claude-x-2`` is released."""

    start_ms: int
    end_ms: int
    release_ms: int

    @classmethod
    def of(cls, start: str, hours: float) -> Span:
        start_ms = parse_rfc3339(start)
        end_ms = start_ms + int(round(hours * HOUR_MS))
        return cls(start_ms, end_ms, start_ms + (end_ms - start_ms) // 2)

    @property
    def length_ms(self) -> int:
        return self.end_ms - self.start_ms

    @property
    def days(self) -> float:
        return self.length_ms / DAY_MS

    def at(self, fraction: float) -> int:
        """The instant ``fraction`` of the way through the span."""
        return self.start_ms + int(self.length_ms * fraction)


def parse_rfc3339(text: str) -> int:
    """Epoch milliseconds of an RFC 3339 timestamp (``Z`` or numeric offset required)."""
    dt = datetime.fromisoformat(text)
    if dt.tzinfo is None:
        raise ValueError(f"timestamp without a UTC offset: {text!r}")
    return int(round(dt.timestamp() * 1000))


_DAY_PREFIX: dict[int, str] = {}


def iso_ms(ts_ms: int) -> str:
    """``2026-11-20T14:03:07.412Z``: RFC 3339, UTC, millisecond precision."""
    day, rem = divmod(ts_ms, DAY_MS)
    prefix = _DAY_PREFIX.get(day)
    if prefix is None:
        prefix = datetime.fromtimestamp(day * 86_400, UTC).strftime("%Y-%m-%dT")
        _DAY_PREFIX[day] = prefix
    h, rem = divmod(rem, HOUR_MS)
    m, rem = divmod(rem, MINUTE_MS)
    s, ms = divmod(rem, SECOND_MS)
    return f"{prefix}{h:02d}:{m:02d}:{s:02d}.{ms:03d}Z"


def iso_s(ts_ms: int) -> str:
    """``2026-11-20T14:03:07Z``: RFC 3339, UTC, whole seconds (account creation times)."""
    return datetime.fromtimestamp(ts_ms // 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def poisson_times(
    rng: np.random.Generator,
    start_ms: int,
    end_ms: int,
    per_day: float,
    profile: tuple[float, ...] = PROFILE_FLAT,
    tz_hours: float = 0.0,
) -> list[int]:
    """Sorted arrival instants in ``[start_ms, end_ms)`` at ``per_day`` on average.

    The rate in each UTC hour is ``per_day / 24`` scaled by ``profile[local hour]`` relative to the
    profile's mean, so a day with the profile averages ``per_day`` arrivals.
    """
    if end_ms <= start_ms or per_day <= 0:
        return []
    first = start_ms - start_ms % HOUR_MS
    bucket_starts = np.arange(first, end_ms, HOUR_MS, dtype=np.int64)
    lo = np.maximum(bucket_starts, start_ms)
    hi = np.minimum(bucket_starts + HOUR_MS, end_ms)
    weights = np.asarray(profile, dtype=np.float64)
    weights = weights / weights.mean()
    local_hour = ((bucket_starts + int(tz_hours * HOUR_MS)) // HOUR_MS) % 24
    lam = per_day / 24.0 * weights[local_hour] * (hi - lo) / HOUR_MS
    counts = rng.poisson(lam)
    total = int(counts.sum())
    if total == 0:
        return []
    base = np.repeat(lo, counts)
    width = np.repeat(hi - lo, counts)
    times = base + (rng.random(total) * width).astype(np.int64)
    times.sort()
    return times.tolist()


def uniform_times(rng: np.random.Generator, start_ms: int, end_ms: int, n: int) -> list[int]:
    """``n`` sorted instants uniform in ``[start_ms, end_ms)`` (a burst of known size)."""
    if end_ms <= start_ms or n <= 0:
        return []
    times = start_ms + (rng.random(n) * (end_ms - start_ms)).astype(np.int64)
    times.sort()
    return times.tolist()


def local_days(span: Span, tz_hours: float) -> list[int]:
    """UTC epoch ms of every local midnight from the day before the span to its last day."""
    offset = int(tz_hours * HOUR_MS)
    first = (span.start_ms + offset) // DAY_MS * DAY_MS - offset - DAY_MS
    return list(range(first, span.end_ms, DAY_MS))


def weekdays_only(times: list[int], tz_hours: float) -> list[int]:
    """The instants of ``times`` that fall on Monday–Friday in local time (UTC + ``tz_hours``)."""
    offset = int(tz_hours * HOUR_MS)
    # 1970-01-01 was a Thursday: weekday index (Monday = 0) is (days + 3) % 7
    return [t for t in times if ((t + offset) // DAY_MS + 3) % 7 < 5]


def strictly_increasing(times: list[int]) -> list[int]:
    """Sorted copy of ``times`` in which equal instants are pushed 1 ms apart."""
    out = sorted(times)
    for i in range(1, len(out)):
        if out[i] <= out[i - 1]:
            out[i] = out[i - 1] + 1
    return out


_Planned = TypeVar("_Planned", bound=tuple)   # a plan entry: (instant, *what happens then)


def in_time_order(plan: list[_Planned]) -> list[tuple[int, _Planned]]:
    """The entries of ``plan`` (tuples led by an instant) sorted, each paired with its instant
    pushed 1 ms after the one before where they tie (:func:`strictly_increasing`)."""
    ordered = sorted(plan)
    return list(zip(strictly_increasing([p[0] for p in ordered]), ordered))


# (ts_ms, session index, turn index within the session, is the session's last turn)
Turn = tuple[int, int, int, bool]


def session_plan(
    rng: np.random.Generator,
    span: Span,
    sessions_per_day: float,
    turns: Callable[[], int],
    gap_ms: Callable[[], int],
    profile: tuple[float, ...] = PROFILE_FLAT,
    tz_hours: float = 0.0,
    first_session: int = 0,
) -> list[Turn]:
    """Sessions arriving as a Poisson process, each a run of turns separated by ``gap_ms()``.

    Sessions may overlap (two tabs, parallel agents); turns are returned in time order with
    strictly increasing timestamps, turn order within a session preserved. Turns falling after the
    span are dropped.
    """
    plan: list[Turn] = []
    starts = poisson_times(rng, span.start_ms, span.end_ms, sessions_per_day, profile, tz_hours)
    for s, t in enumerate(starts, first_session):
        n = turns()
        for k in range(n):
            if t >= span.end_ms:
                break
            plan.append((t, s, k, k == n - 1))
            t += gap_ms()
    return [(t, s, k, last) for t, (_, s, k, last) in in_time_order(plan)]
