"""Broadcast schedule evaluation (exporter/broadcast/schedule.py), table-driven, at given
instants: time zones with and without daylight saving, midnight crossings, the week's wrap,
dated windows and overlaps. No clock: every case names its instant."""

from __future__ import annotations

import datetime as dt

import pytest

from exporter.broadcast import Expectation, Once, Schedule, Weekly, expectation

MON_FRI = frozenset(range(5))
SAT = frozenset({5})
SUN = frozenset({6})


def hm(text: str) -> int:
    h, m = text.split(":")
    return int(h) * 3600 + int(m) * 60


def utc(text: str) -> float:
    """ "2026-03-29 01:30" read as UTC."""
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC).timestamp()


def weekly(days: frozenset[int], start: str, end: str, zone: str) -> Schedule:
    return Schedule((Weekly(days, hm(start), hm(end), zone),))


EVENING_BERLIN = weekly(MON_FRI, "19:00", "22:00", "Europe/Berlin")
LATE_SAT_NY = weekly(SAT, "22:00", "02:00", "America/New_York")
NIGHT_SHANGHAI = weekly(SUN, "23:00", "01:00", "Asia/Shanghai")  # Sunday into Monday
# 01:00-03:00 on Sundays in Berlin: the spring-forward (02:00 -> 03:00) and fall-back
# (03:00 -> 02:00) nights are both Sundays.
DST_NIGHT_BERLIN = weekly(SUN, "01:00", "03:00", "Europe/Berlin")
GAP_START_BERLIN = weekly(SUN, "02:30", "04:00", "Europe/Berlin")
MATCH = Schedule(
    once=(Once(utc("2026-12-20 11:00"), utc("2026-12-20 14:00")),),  # 19:00-22:00 +08:00
)
OVERLAPPING = Schedule(
    (
        Weekly(MON_FRI, hm("19:00"), hm("21:00"), "UTC"),
        Weekly(MON_FRI, hm("20:30"), hm("22:00"), "UTC"),
    ),
    (Once(utc("2026-06-01 21:59"), utc("2026-06-01 23:00")),),  # Monday: extends the chain
)

# (id, schedule, instant (UTC), expected now, window start (UTC), window end (UTC))
CASES: list[tuple[str, Schedule, str, bool, str | None, str | None]] = [
    # Berlin in winter is UTC+1: 19:00-22:00 is 18:00-21:00 UTC.
    ("berlin-winter-before", EVENING_BERLIN,
     "2026-01-12 17:59", False, "2026-01-12 18:00", "2026-01-12 21:00"),
    ("berlin-winter-start-is-inside", EVENING_BERLIN,
     "2026-01-12 18:00", True, "2026-01-12 18:00", "2026-01-12 21:00"),
    ("berlin-winter-end-is-outside", EVENING_BERLIN,
     "2026-01-12 21:00", False, "2026-01-13 18:00", "2026-01-13 21:00"),
    # Summer is UTC+2: the same wall-clock window is an hour earlier in UTC.
    ("berlin-summer-inside", EVENING_BERLIN,
     "2026-07-06 17:30", True, "2026-07-06 17:00", "2026-07-06 20:00"),
    ("berlin-summer-after", EVENING_BERLIN,
     "2026-07-06 20:00", False, "2026-07-07 17:00", "2026-07-07 20:00"),
    # Friday evening: the next window is Monday's.
    ("berlin-weekend-skipped", EVENING_BERLIN,
     "2026-01-16 21:30", False, "2026-01-19 18:00", "2026-01-19 21:00"),
    # The Monday after the spring change (29 March 2026) is on summer time already.
    ("berlin-after-spring-change", EVENING_BERLIN,
     "2026-03-27 21:00", False, "2026-03-30 17:00", "2026-03-30 20:00"),
    # New York, Saturday 22:00 to Sunday 02:00 (EST, UTC-5): Sunday 03:00-07:00 UTC.
    ("ny-crossing-midnight-before", LATE_SAT_NY,
     "2026-01-11 02:59", False, "2026-01-11 03:00", "2026-01-11 07:00"),
    ("ny-crossing-midnight-after-midnight", LATE_SAT_NY,
     "2026-01-11 06:00", True, "2026-01-11 03:00", "2026-01-11 07:00"),
    ("ny-crossing-midnight-over", LATE_SAT_NY,
     "2026-01-11 07:00", False, "2026-01-18 03:00", "2026-01-18 07:00"),
    # On 1 Nov 2026 New York falls back at 02:00 EDT to 01:00 EST: Sat 22:00 EDT (02:00 UTC) to
    # Sun 02:00 EST (07:00 UTC) is five hours long.
    ("ny-fall-back-night-is-longer", LATE_SAT_NY,
     "2026-11-01 06:30", True, "2026-11-01 02:00", "2026-11-01 07:00"),
    # On 8 March 2026 it springs forward at 02:00 EST to 03:00 EDT: Sunday 02:00 does not exist,
    # so the window ends at the jump (07:00 UTC), and the next one is on summer time.
    ("ny-spring-ends-at-the-jump", LATE_SAT_NY,
     "2026-03-08 06:59", True, "2026-03-08 03:00", "2026-03-08 07:00"),
    ("ny-spring-next-on-summer-time", LATE_SAT_NY,
     "2026-03-08 07:00", False, "2026-03-15 02:00", "2026-03-15 06:00"),
    # Shanghai has no daylight saving (UTC+8): Sunday 23:00 to Monday 01:00 local is Sunday
    # 15:00-17:00 UTC, and the week wraps from Sunday to Monday.
    ("shanghai-sunday-into-monday", NIGHT_SHANGHAI,
     "2026-01-11 16:59", True, "2026-01-11 15:00", "2026-01-11 17:00"),
    ("shanghai-next-week", NIGHT_SHANGHAI,
     "2026-01-11 17:00", False, "2026-01-18 15:00", "2026-01-18 17:00"),
    # Berlin, 29 March 2026, 02:00 CET becomes 03:00 CEST: 01:00 CET (00:00 UTC) to 03:00 CEST
    # (01:00 UTC) is one hour.
    ("berlin-spring-night-one-hour", DST_NIGHT_BERLIN,
     "2026-03-29 00:59", True, "2026-03-29 00:00", "2026-03-29 01:00"),
    ("berlin-spring-night-over", DST_NIGHT_BERLIN,
     "2026-03-29 01:00", False, "2026-04-04 23:00", "2026-04-05 01:00"),
    # 25 October 2026, 03:00 CEST becomes 02:00 CET: 01:00 CEST (23:00 UTC the day before) to
    # 03:00 CET (02:00 UTC) is three hours.
    ("berlin-fall-night-three-hours", DST_NIGHT_BERLIN,
     "2026-10-25 01:30", True, "2026-10-24 23:00", "2026-10-25 02:00"),
    # A start inside the spring-forward gap (02:30 does not exist) starts after the jump,
    # at 03:30 CEST = 01:30 UTC.
    ("berlin-start-in-the-gap", GAP_START_BERLIN,
     "2026-03-29 01:00", False, "2026-03-29 01:30", "2026-03-29 02:00"),
    # A dated window: 2026-12-20 19:00-22:00 +08:00.
    ("match-before", MATCH, "2026-12-19 12:00", False, "2026-12-20 11:00", "2026-12-20 14:00"),
    ("match-during", MATCH, "2026-12-20 13:59", True, "2026-12-20 11:00", "2026-12-20 14:00"),
    ("match-over-no-next", MATCH, "2026-12-20 14:00", False, None, None),
    ("match-far-ahead", MATCH, "2026-01-01 00:00", False, "2026-12-20 11:00", "2026-12-20 14:00"),
    # Overlaps and touching windows are one: 19:00-21:00 and 20:30-22:00, and on Monday 1 June a
    # dated window from 21:59 to 23:00.
    ("overlap-merged", OVERLAPPING,
     "2026-06-02 20:45", True, "2026-06-02 19:00", "2026-06-02 22:00"),
    ("overlap-with-dated", OVERLAPPING,
     "2026-06-01 22:30", True, "2026-06-01 19:00", "2026-06-01 23:00"),
]  # fmt: skip


def _when(text: str | None) -> float | None:
    return None if text is None else utc(text)


@pytest.mark.parametrize(
    ("schedule", "at", "expected", "start", "end"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
def test_expectation(
    schedule: Schedule, at: str, expected: bool, start: str | None, end: str | None
) -> None:
    got = expectation(schedule, utc(at))
    assert got == Expectation(expected, _when(start), _when(end)), (
        got,
        [None if v is None else dt.datetime.fromtimestamp(v, dt.UTC) for v in (got.start, got.end)],
    )


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_the_answer_holds_until_its_edge(
    case: tuple[str, Schedule, str, bool, str | None, str | None],
) -> None:
    """What is asked between now and the edge gives the same window: re-evaluating at edges
    only (what the exposition does) never misses a change."""
    _, schedule, at, expected, _, _ = case
    now = utc(at)
    got = expectation(schedule, now)
    edge = got.edge
    if edge is None:
        assert expectation(schedule, now + 30 * 86400) == got
        return
    for t in (now + (edge - now) / 3, edge - 1):
        assert expectation(schedule, t) == got
    after = expectation(schedule, edge)
    assert after.expected is not expected or after.start != got.start


def test_a_window_chain_longer_than_the_horizon_keeps_its_start() -> None:
    """Forty touching day-long dated windows are one window, whose start and end do not move
    as time passes through it (the look-ahead and look-back grow to cover it)."""
    first = utc("2026-05-01 00:00")
    days = tuple(Once(first + i * 86400, first + (i + 1) * 86400) for i in range(40))
    chain = Schedule(once=days)
    seen = {expectation(chain, first + k * 86400 + 3600) for k in range(0, 40, 3)}
    assert seen == {Expectation(True, first, first + 40 * 86400)}


def test_describe() -> None:
    assert EVENING_BERLIN.describe() == "mon-fri 19:00-22:00 Europe/Berlin"
    named = Schedule(LATE_SAT_NY.weekly, MATCH.once, name="late")
    assert named.describe() == "late: sat 22:00-02:00 America/New_York; 1 dated window"


def test_equal_schedules_share_a_hash() -> None:
    assert hash(weekly(SAT, "22:00", "02:00", "America/New_York")) == hash(LATE_SAT_NY)
    assert weekly(SAT, "22:00", "02:00", "America/New_York") == LATE_SAT_NY
