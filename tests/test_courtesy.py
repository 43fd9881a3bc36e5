"""A long job rests a moment after each few milliseconds of work (exporter/courtesy.py)."""

from __future__ import annotations

import threading

import pytest

from exporter import courtesy
from exporter.courtesy import Breather


def test_a_breather_rests_once_per_stretch_of_work_and_never_in_between() -> None:
    now = [100.0]
    rests: list[float] = []

    def sleep(seconds: float) -> None:
        rests.append(seconds)
        now[0] += seconds

    breather = Breather(
        work=0.004, rest=0.0005, clock=lambda: now[0], sleep=sleep, wanted=lambda: True
    )
    for _ in range(3):
        breather.breathe()  # no time has passed: no rest
    assert rests == []
    now[0] += 0.0039
    breather.breathe()
    assert rests == []
    now[0] += 0.0001
    breather.breathe()
    assert rests == [0.0005]
    # The next stretch is counted from the end of the rest, not from the call before it.
    now[0] += 0.0039
    breather.breathe()
    assert rests == [0.0005]
    now[0] += 0.0001
    breather.breathe()
    assert rests == [0.0005, 0.0005] and breather.rests == 2


def test_each_thread_breathes_on_its_own_clock() -> None:
    courtesy.breathe()
    mine = courtesy._local.breather
    theirs: list[Breather] = []

    def other() -> None:
        courtesy.breathe()
        theirs.append(courtesy._local.breather)

    worker = threading.Thread(target=other)
    worker.start()
    worker.join(10)
    assert theirs and theirs[0] is not mine
    assert courtesy._local.breather is mine


def test_with_no_request_being_answered_a_breather_does_not_rest() -> None:
    now = [0.0]
    rests: list[float] = []
    breather = Breather(clock=lambda: now[0], sleep=rests.append)
    assert not courtesy.wanted()
    now[0] += 1.0
    breather.breathe()
    assert rests == []
    with courtesy.demand():
        assert courtesy.wanted()
        breather.breathe()  # the stretch was counted anew after the skipped rest
        now[0] += 1.0
        breather.breathe()
    assert rests == [courtesy.REST_SECONDS] and not courtesy.wanted()


def test_paced_yields_every_item_and_looks_at_the_clock_once_per_pace(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    looks: list[int] = []
    items = list(range(2 * courtesy.PACE_ITEMS + 1))
    monkeypatch.setattr(courtesy, "breathe", lambda: looks.append(len(seen)))
    seen: list[int] = []
    for item in courtesy.paced(items):
        seen.append(item)
    assert seen == items
    assert looks == [0, courtesy.PACE_ITEMS, 2 * courtesy.PACE_ITEMS]


def test_slices_hold_every_item_in_order_and_none_is_empty() -> None:
    assert list(courtesy.slices(iter(range(7)), 3)) == [[0, 1, 2], [3, 4, 5], [6]]
    assert list(courtesy.slices(range(6), 3)) == [[0, 1, 2], [3, 4, 5]]
    assert list(courtesy.slices([], 3)) == []
