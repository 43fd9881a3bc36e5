"""What ``expect_live`` accepts besides true and false (a broadcast schedule), and the named
schedules. A stream's push-quality thresholds are in ``quality.py``.

A schedule is weekly windows (days, a start and an end time of day, an IANA time zone; an end
not after the start crosses midnight) and dated one-off windows (``once``). Times of day are
strings: YAML reads an unquoted ``19:00`` as the number 1140 (base 60), which is refused with
that hint rather than guessed at.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Collection, Hashable, Mapping
from functools import cache
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationInfo,
    field_validator,
    model_validator,
)

from exporter.broadcast import DAY_NAMES
from exporter.config.fields import Duration, invalid
from exporter.config.quality import Quality
from exporter.problems import show

__all__ = [
    "EXPECT_TAGS",
    "DatedWindow",
    "ExpectLive",
    "ExpectSchedule",
    "Quality",  # in quality.py now; still here for importers from before the move
    "ScheduleName",
    "ScheduleSpec",
    "WeeklyWindow",
    "schedule_problems",
    "zone_problem",
]

_CLOCK_RE = re.compile(r"(?P<h>[0-9]{1,2}):(?P<m>[0-9]{2})(?::(?P<s>[0-9]{2}))?")
_DAY_ALIASES = {name: i for i, name in enumerate(DAY_NAMES)}
_DAY_ALIASES.update(
    {
        full: i
        for i, full in enumerate(
            ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
        )
    }
)
_DAY_GROUPS = {
    "daily": frozenset(range(7)),
    "weekdays": frozenset(range(5)),
    "weekends": frozenset({5, 6}),
}
_DAY_HINT = (
    "use mon, tue, wed, thu, fri, sat, sun, a range like mon-fri, daily, weekdays or weekends"
)
SCHEDULE_NAME_RE = re.compile(r"[A-Za-z0-9_.-]{1,64}")


@cache
def _known_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def zone_problem(name: str) -> str | None:
    """Why ``name`` is not a usable IANA time zone, or None."""
    if _known_zone(name):
        return None
    return f"unknown time zone {show(name)} (an IANA name such as Europe/Berlin or Asia/Shanghai)"


def _check_zone(value: str | None) -> str | None:
    if value is not None:
        problem = zone_problem(value)
        if problem is not None:
            raise invalid(problem)
    return value


def _clock(value: object, *, end: bool) -> int:
    if isinstance(value, bool) or not isinstance(value, str):
        if isinstance(value, int):
            raise invalid(
                'must be a time of day in quotes, like "19:00" (unquoted, YAML reads 19:00 as'
                " the number {value})",
                str(value),
            )
        raise invalid('must be a time of day like "19:00", got {value}', show(value))
    match = _CLOCK_RE.fullmatch(value.strip())
    if match is None:
        raise invalid('must be a time of day like "19:00" or "19:00:30", got {value}', show(value))
    h, m, s = int(match["h"]), int(match["m"]), int(match["s"] or 0)
    seconds = h * 3600 + m * 60 + s
    top = 24 * 3600 if end else 24 * 3600 - 1
    if m > 59 or s > 59 or seconds > top:
        most = "24:00" if end else "23:59:59"
        raise invalid(f"{{value}} is not a time of day (00:00 to {most})", show(value))
    return seconds


def _start_clock(value: object) -> int:
    return _clock(value, end=False)


def _end_clock(value: object) -> int:
    return _clock(value, end=True)


def _days(value: object) -> list[int]:
    items: list[object]
    if isinstance(value, str):
        items = [part for part in value.replace(",", " ").split() if part]
    elif isinstance(value, list):
        items = value
    else:
        raise invalid(f"must be a list of days ({_DAY_HINT}), got {{value}}", show(value))
    days: set[int] = set()
    for item in items:
        days |= _day_set(item)
    if not days:
        raise invalid(f"at least one day is required ({_DAY_HINT})")
    return sorted(days)


def _day_set(item: object) -> frozenset[int]:
    if not isinstance(item, str):
        raise invalid(f"unknown day {{value}} ({_DAY_HINT})", show(item))
    text = item.strip().lower()
    if text in _DAY_GROUPS:
        return _DAY_GROUPS[text]
    first, sep, last = text.partition("-")
    if first in _DAY_ALIASES and (not sep or last in _DAY_ALIASES):
        a = _DAY_ALIASES[first]
        b = _DAY_ALIASES[last] if sep else a
        # mon-fri; a wrapping range like fri-mon runs through the weekend.
        return frozenset((a + i) % 7 for i in range((b - a) % 7 + 1))
    raise invalid(f"unknown day {{value}} ({_DAY_HINT})", show(item))


ClockStart = Annotated[int, BeforeValidator(_start_clock)]
ClockEnd = Annotated[int, BeforeValidator(_end_clock)]
Days = Annotated[list[int], BeforeValidator(_days)]


def _check_name(value: str) -> str:
    if not SCHEDULE_NAME_RE.fullmatch(value):
        raise invalid(
            'invalid schedule name {value} (use 1-64 letters, digits, "_", "." or "-")',
            show(value),
        )
    return value


def _name(value: object) -> object:
    return _check_name(value) if isinstance(value, str) else value


ScheduleName = Annotated[str, BeforeValidator(_name)]


class WeeklyWindow(BaseModel):
    """Every week on ``days``, from ``start`` to ``end`` in the time zone."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    days: Days
    start: ClockStart
    end: ClockEnd
    time_zone: str | None = None  # overrides the schedule's

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        return _check_zone(value)

    @field_validator("end")
    @classmethod
    def _not_empty(cls, value: int, info: ValidationInfo) -> int:
        if value == info.data.get("start"):
            raise invalid("equals start: an empty window (for a whole day write 00:00 to 24:00)")
        return value


def _instant(value: object) -> object:
    """A dated window's bound: an ISO 8601 date-time (YAML may already have made it one)."""
    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, dt.date):
        raise invalid(
            "must be a date and time like 2026-12-20T19:00:00+08:00, got the date {value}",
            value.isoformat(),
        )
    if isinstance(value, str):
        try:
            return dt.datetime.fromisoformat(value.strip())
        except ValueError:
            pass
    raise invalid(
        "must be a date and time like 2026-12-20T19:00:00+08:00, got {value}", show(value)
    )


Instant = Annotated[dt.datetime, BeforeValidator(_instant)]


class DatedWindow(BaseModel):
    """One window on a date: a match, a special. Naive times are in the schedule's zone."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    start: Instant
    end: Instant
    time_zone: str | None = None

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        return _check_zone(value)

    @field_validator("end")
    @classmethod
    def _after_start(cls, value: dt.datetime, info: ValidationInfo) -> dt.datetime:
        start = info.data.get("start")
        if start is None or (start.tzinfo is None) != (value.tzinfo is None):
            return value
        if value <= start:
            raise invalid(
                "{value} is not after start ({start}): a dated window does not cross midnight"
                " on its own, give the end's date",
                value.isoformat(),
                start=start.isoformat(),
            )
        return value


class ScheduleSpec(BaseModel):
    """A schedule: weekly and dated windows, the zone they are in, the start grace."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    time_zone: str | None = None
    weekly: list[WeeklyWindow] = Field(default_factory=list)
    once: list[DatedWindow] = Field(default_factory=list)
    # How long after a window opens the stream may still be starting (StreamDidNotStart);
    # None: the stream's down_after.
    start_grace: Duration | None = None

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        return _check_zone(value)

    @field_validator("start_grace")
    @classmethod
    def _positive(cls, value: float | None) -> float | None:
        if value is not None and value <= 0:
            raise invalid("must be greater than 0s")
        return value

    @model_validator(mode="after")
    def _zones_and_windows(self) -> ScheduleSpec:
        if self.time_zone is None:
            for i, w in enumerate(self.weekly):
                if w.time_zone is None:
                    raise invalid(
                        f"weekly[{i}] needs a time zone: set time_zone on the schedule or the"
                        " window"
                    )
            for i, d in enumerate(self.once):
                if d.time_zone is None and (d.start.tzinfo is None or d.end.tzinfo is None):
                    raise invalid(
                        f"once[{i}] has a time without a UTC offset: write it like"
                        " 2026-12-20T19:00:00+08:00, or set time_zone"
                    )
        self._more_windows()
        return self

    def _more_windows(self) -> None:
        if not self.weekly and not self.once:
            raise invalid("a schedule needs at least one window (weekly or once)")


class ExpectSchedule(ScheduleSpec):
    """What ``expect_live`` takes besides true/false: a schedule written in place, or the name
    of one (``schedule``, from the config's ``schedules`` or ``schedules_file``)."""

    schedule: ScheduleName | None = None

    def _more_windows(self) -> None:
        if self.schedule is not None:
            if self.weekly or self.once or self.time_zone is not None:
                raise invalid(
                    "give either schedule (a named schedule) or windows (weekly, once), not both"
                )
            return
        if not self.weekly and not self.once:
            raise invalid(
                "a schedule needs at least one window (weekly or once), or schedule: NAME"
            )


def _flag(value: object) -> object:
    if isinstance(value, str) and value.strip().lower() not in _BOOL_WORDS:
        raise invalid(
            "must be true, false, or a schedule (a mapping with weekly/once windows, or"
            " schedule: NAME), got {value}",
            show(value),
        )
    return value


_BOOL_WORDS = frozenset({"true", "false", "yes", "no", "on", "off", "1", "0", "t", "f", "y", "n"})

# The tags pydantic puts in an error's loc for the branch it validated; errors.locate drops them.
_FLAG, _SCHEDULE = "<flag>", "<schedule>"
EXPECT_TAGS = frozenset({_FLAG, _SCHEDULE})


def _branch(value: Any) -> str:
    return _SCHEDULE if isinstance(value, dict | ExpectSchedule) else _FLAG


ExpectLive = Annotated[
    Annotated[bool, BeforeValidator(_flag), Tag(_FLAG)] | Annotated[ExpectSchedule, Tag(_SCHEDULE)],
    Discriminator(_branch),
]


def schedule_problems(
    data: Mapping[Any, Any], extra_names: Collection[str] = ()
) -> list[tuple[tuple[Hashable, ...], str]]:
    """References to schedules that are not defined, on the raw tree, at the key to change.

    ``extra_names``: names a schedules file defines that could not be read (their problems are
    reported on their own, and a reference to them is not a second problem).
    """
    defined = data.get("schedules")
    names = set(defined) if isinstance(defined, Mapping) else set()
    names.update(extra_names)
    known = ", ".join(sorted(str(n) for n in names)) or "none defined"
    problems: list[tuple[tuple[Hashable, ...], str]] = []

    def check(expect: object, loc: tuple[Hashable, ...]) -> None:
        if not isinstance(expect, Mapping):
            return
        name = expect.get("schedule")
        if isinstance(name, str) and SCHEDULE_NAME_RE.fullmatch(name) and name not in names:
            where = (*loc, "expect_live", "schedule")
            problems.append(
                (
                    where,
                    f"unknown schedule {show(name)} (known: {known}; schedules are defined"
                    " under schedules or in schedules_file)",
                )
            )

    targets = data.get("targets")
    for t_index, target in enumerate(targets if isinstance(targets, list) else []):
        if not isinstance(target, Mapping):
            continue
        check(target.get("expect_live"), ("targets", t_index))
        streams = target.get("streams")
        for s_index, stream in enumerate(streams if isinstance(streams, list) else []):
            if isinstance(stream, Mapping):
                check(stream.get("expect_live"), ("targets", t_index, "streams", s_index))
    return problems
