"""Broadcast schedules: when a stream is expected to be live, evaluated at an instant.

Pure: no clock of its own (every function takes ``t``, Unix seconds), no I/O but the system's
time zone database through ``zoneinfo``. A schedule is weekly windows in an IANA time zone (a
window whose end is not after its start ends the next day: it crosses midnight) and dated
one-off windows (instants). Overlapping and touching windows count as one: a stream expected
from 19:00 to 21:00 and from 20:30 to 22:00 is expected from 19:00 to 22:00.

Local times are read the way ``zoneinfo`` reads them with ``fold=0``: a wall time that does
not exist (in a spring-forward gap) is the instant the clock shows it after the jump (02:30 in
Berlin on the last Sunday of March is 03:30 CEST), and one that exists twice (fall back) is its
first occurrence. So a window 01:00-03:00 is one hour long on the spring-forward day and three
on the fall-back day, as a wall clock would have it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from functools import cache
from zoneinfo import ZoneInfo

__all__ = [
    "DAY_NAMES",
    "Expectation",
    "Once",
    "Schedule",
    "Weekly",
    "expectation",
]

DAY_NAMES: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY = 86400

# How far ahead a window is looked for, and how far a chain of touching windows is followed.
_HORIZON_DAYS = 8
_MAX_HORIZON_DAYS = 400


@dataclass(frozen=True, slots=True)
class Weekly:
    """A window on each of ``days`` (0 = Monday), from ``start`` to ``end`` seconds after local
    midnight in ``zone``. ``end`` may be 86400 (24:00); an ``end`` not after ``start`` is on the
    next day."""

    days: frozenset[int]
    start: int
    end: int
    zone: str

    @property
    def crosses_midnight(self) -> bool:
        return self.end <= self.start


@dataclass(frozen=True, slots=True)
class Once:
    """A dated window: from ``start`` to ``end`` (Unix seconds, ``end > start``)."""

    start: float
    end: float


@dataclass(frozen=True)
class Schedule:
    """The windows of one schedule. Streams share one object per distinct schedule, so that a
    window edge is evaluated once for all of them."""

    weekly: tuple[Weekly, ...] = ()
    once: tuple[Once, ...] = ()
    name: str | None = None  # a named schedule's name, for the status page
    _sorted_once: tuple[Once, ...] = field(init=False, repr=False, compare=False)
    _hash: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        ordered = tuple(sorted(self.once, key=lambda w: (w.start, w.end)))
        object.__setattr__(self, "_sorted_once", ordered)
        # Streams' metadata is keyed by it (100k lookups at a reload): hash it once.
        object.__setattr__(self, "_hash", hash((self.weekly, self.once, self.name)))

    def __hash__(self) -> int:
        return self._hash

    def windows(self, begin: float, end: float) -> list[tuple[float, float]]:
        """Every window (merged) that overlaps [begin, end), in order."""
        raw: list[tuple[float, float]] = []
        for weekly in self.weekly:
            raw.extend(_occurrences(weekly, begin, end))
        raw.extend((w.start, w.end) for w in self._sorted_once if w.end > begin and w.start < end)
        return _merge(sorted(raw))

    def describe(self) -> str:
        """A short human description: "mon-fri 19:00-22:00 Europe/Berlin; 2 dated windows"."""
        parts = [f"{_days(w.days)} {_clock(w.start)}-{_clock(w.end)} {w.zone}" for w in self.weekly]
        if self.once:
            parts.append(f"{len(self.once)} dated window{'s' if len(self.once) > 1 else ''}")
        text = "; ".join(parts) or "no windows"
        return f"{self.name}: {text}" if self.name else text


@dataclass(frozen=True, slots=True)
class Expectation:
    """What a schedule says at one instant.

    ``expected``: inside a window. ``start``/``end``: the current window while expected, else
    the next one (None when there is none). ``edge``: when this answer next changes (the
    current window's end, or the next window's start).
    """

    expected: bool
    start: float | None
    end: float | None

    @property
    def edge(self) -> float | None:
        return self.end if self.expected else self.start


def expectation(schedule: Schedule, t: float) -> Expectation:
    """The schedule at ``t``: a window [start, end) contains ``t`` when start <= t < end."""
    back, ahead = 2, _HORIZON_DAYS
    while True:
        begin, stop = t - back * DAY, t + ahead * DAY
        windows = schedule.windows(begin, stop)
        found = next(((s, e) for s, e in windows if e > t), None)
        if found is None:
            # Weekly windows recur within a week: only dated ones further ahead are left.
            return _later_once(schedule, t)
        start, end = found
        # A chain of touching windows may run past what was looked at: look further, so that
        # a window's start and end do not depend on when it is asked about.
        longer = False
        if start < begin + DAY and back < _MAX_HORIZON_DAYS:
            back, longer = back * 4, True
        if end > stop - DAY and ahead < _MAX_HORIZON_DAYS:
            ahead, longer = ahead * 4, True
        if not longer:
            return Expectation(start <= t, start, end)


def _later_once(schedule: Schedule, t: float) -> Expectation:
    """The next dated window beyond the horizon (with those it overlaps), if any."""
    later = [(w.start, w.end) for w in schedule._sorted_once if w.end > t]
    if not later:
        return Expectation(False, None, None)
    start, end = _merge(later)[0]
    return Expectation(start <= t, start, end)


def _merge(windows: list[tuple[float, float]]) -> list[tuple[float, float]]:
    merged: list[tuple[float, float]] = []
    for start, end in windows:
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


@cache
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def _instant(day: dt.date, seconds: int, zone: ZoneInfo) -> float:
    """Unix time of local wall time ``seconds`` after midnight of ``day`` (fold=0)."""
    if seconds >= DAY:
        day, seconds = day + dt.timedelta(days=1), seconds - DAY
    hours, rest = divmod(seconds, 3600)
    wall = dt.datetime.combine(day, dt.time(hours, rest // 60, rest % 60), tzinfo=zone)
    # Normalise through UTC: a wall time in a gap becomes the instant after the jump.
    return wall.astimezone(dt.UTC).timestamp()


def _occurrences(weekly: Weekly, begin: float, end: float) -> list[tuple[float, float]]:
    zone = _zone(weekly.zone)
    first = dt.datetime.fromtimestamp(begin, zone).date() - dt.timedelta(days=1)
    last = dt.datetime.fromtimestamp(end, zone).date()
    out = []
    day = first
    while day <= last:
        if day.weekday() in weekly.days:
            start = _instant(day, weekly.start, zone)
            stop_day = day + dt.timedelta(days=1) if weekly.crosses_midnight else day
            stop = _instant(stop_day, weekly.end, zone)
            if stop > start and stop > begin and start < end:
                out.append((start, stop))
        day += dt.timedelta(days=1)
    return out


def _clock(seconds: int) -> str:
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours:02d}:{minutes:02d}" + (f":{secs:02d}" if secs else "")


def _days(days: frozenset[int]) -> str:
    if len(days) == 7:
        return "daily"
    ordered = sorted(days)
    if len(ordered) > 2 and ordered == list(range(ordered[0], ordered[-1] + 1)):
        return f"{DAY_NAMES[ordered[0]]}-{DAY_NAMES[ordered[-1]]}"
    return ",".join(DAY_NAMES[d] for d in ordered)
