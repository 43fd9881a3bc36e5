"""Pacing, AIMD, back-off and scheduling arithmetic, all with explicit times."""

from __future__ import annotations

import math

import pytest

from exporter.model import StreamKey
from exporter.ratelimit import (
    CATCH_UP_SECONDS,
    DECREASE_COOLDOWN,
    DECREASE_FACTOR,
    EDGE,
    RECOVERY_SECONDS,
    Backoff,
    Pacer,
    RateLimiter,
    SlidingWindow,
    window_limit,
)
from exporter.schedule import default_workers, due_between, phase_fraction, phases, stretch_factor


def sends_in_window(slots: list[float], window: float = 1.0) -> int:
    """Largest number of slots in any window of the given length (the API's sliding window)."""
    best = 0
    j = 0
    for i, s in enumerate(slots):
        while slots[j] <= s - window:
            j += 1
        best = max(best, i - j + 1)
    return best


def test_pacer_never_exceeds_budget_in_any_sliding_second() -> None:
    pacer = Pacer(300, now=0.0)
    slots = [pacer.reserve(0.0) for _ in range(3000)]
    assert sends_in_window(slots) <= 300
    achieved = len(slots) / (slots[-1] - slots[0])
    assert achieved == pytest.approx(300, rel=1e-3)  # the whole budget, no hidden margin


def test_pacer_has_no_burst_after_idle() -> None:
    pacer = Pacer(10, now=0.0)
    first = [pacer.reserve(100.0) for _ in range(3)]
    assert first[0] == 100.0
    assert first[1] - first[0] == pytest.approx(1 / 10)


def test_aimd_decreases_once_per_cooldown_and_recovers() -> None:
    pacer = Pacer(100, now=0.0)
    pacer.throttled(10.0)
    pacer.throttled(10.0 + DECREASE_COOLDOWN / 2)  # same burst: no second decrease
    assert pacer.rate == pytest.approx(100 * DECREASE_FACTOR)
    pacer.throttled(10.0 + DECREASE_COOLDOWN)
    low = 100 * DECREASE_FACTOR**2
    assert pacer.rate == pytest.approx(low)
    # Additive recovery once the cooldown is over, linear at max_rate / RECOVERY_SECONDS...
    recovery_start = 10.0 + 2 * DECREASE_COOLDOWN
    pacer.reserve(recovery_start + RECOVERY_SECONDS * 0.1)
    assert pacer.rate == pytest.approx(low + 10)
    # ...until back at the full rate, never above it.
    t = recovery_start + RECOVERY_SECONDS * (100 - low) / 100
    pacer.reserve(t)
    assert pacer.rate == pytest.approx(100)
    pacer.reserve(t + 1000)
    assert pacer.rate == 100  # never above the budget


def test_aimd_floor() -> None:
    pacer = Pacer(4, now=0.0)
    for i in range(20):
        pacer.throttled(i * 2.0)
    assert pacer.rate == 1.0


def test_rate_limiter_sleeps_until_slot_with_fake_clock() -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(d: float) -> bool:
        slept.append(d)
        now[0] += d
        return False

    lim = RateLimiter(5, clock=lambda: now[0], sleep=sleep)
    for _ in range(5):
        assert lim.acquire()
    gap = 1 / 5
    # Four paced sleeps; five calls in the first second are the window's window_limit(5) = 5.
    assert slept == pytest.approx([gap] * 4)
    lim.close()
    assert not lim.acquire()


def test_sliding_window_absorbs_bunched_sends() -> None:
    w = SlidingWindow(3, length=1.0)
    for t in (0.0, 0.01, 0.02):
        assert w.delay(t) == 0
        w.record(t)
    assert w.delay(0.5) == pytest.approx(0.5)  # a fourth send waits for the first to age out
    assert w.delay(0.995) == pytest.approx(0.005)
    assert 0 < w.delay(1.0) <= 2 * EDGE + 1e-15  # it leaves a hair after one second
    assert w.delay(1.0 + 2 * EDGE) == 0  # the send at 0.0 has left the window


def test_rate_limiter_window_holds_late_slots_back() -> None:
    """Slots taken on time but sent late bunch up; the window keeps every second clean."""
    now = [0.0]
    late = CATCH_UP_SECONDS * 0.9
    overshoot = [0.0, late]  # the first sleeper wakes up late, within the catch-up

    def sleep(d: float) -> bool:
        now[0] += d + (overshoot.pop() if overshoot else 0.0)
        return False

    lim = RateLimiter(100, clock=lambda: now[0], sleep=sleep)
    limit = window_limit(100)
    gap = 1 / 100
    sends = []
    for _ in range(300):
        assert lim.acquire()
        sends.append(now[0])
    # Slot 1 went out late; the slots due meanwhile go at once (the pacer catches up), so
    # the pacer alone would put more than 100 calls into the second after the first.
    assert sends[1] == pytest.approx(gap + late)
    overdue = math.floor(late / gap)
    pacer_only = (
        [0.0] + [gap + late] * (overdue + 1) + [(i + 1) * gap for i in range(overdue + 1, 299)]
    )
    assert sends_in_window(pacer_only) > limit
    assert sends_in_window(sends) <= limit == 100


def test_backoff_probe_cycle() -> None:
    b = Backoff(initial=10, maximum=40)
    assert b.allow(0)
    b.failure(0)
    b.failure(0.5)  # in-flight failure from before the back-off: no escalation
    assert b.delay == 10
    assert not b.allow(5)
    assert b.allow(10)  # one probe
    assert not b.allow(10.1)  # only one
    b.failure(11)
    assert b.delay == 20
    assert b.allow(31)
    b.failure(31)
    assert b.allow(71)
    b.failure(71)
    assert b.delay == 40  # capped
    assert b.allow(111)
    b.neutral()  # the probe timed out: proves nothing, another may go
    assert b.allow(111)
    b.success()
    assert b.delay == 0 and b.allow(112) and b.allow(112)


KEYS = [StreamKey("a", "d", "live", f"s{i}") for i in range(600)]


def test_phases_are_stable_and_spread() -> None:
    assert phase_fraction(KEYS[0]) == phase_fraction(StreamKey("a", "d", "live", "s0"))
    p = phases(KEYS, 60)
    per_second = [0] * 60
    for offset, _ in p:
        per_second[int(offset)] += 1
    # 600 streams over 60 s: about 10 a second, never a burst.
    assert max(per_second) <= 25


def test_due_between_covers_each_key_once_per_interval() -> None:
    p = phases(KEYS, 60)
    seen: list[StreamKey] = []
    t = 1000.3
    for _ in range(60):
        seen += due_between(p, 60, t, t + 1)
        t += 1
    assert sorted(seen) == sorted(KEYS)


def test_due_between_wraps_and_handles_long_gaps() -> None:
    p = phases(KEYS, 60)
    wrapped = due_between(p, 60, 59.5, 60.5)
    expected = [k for off, k in p if off > 59.5 or off <= 0.5]
    assert sorted(wrapped) == sorted(expected)
    assert len(due_between(p, 60, 0, 120)) == len(KEYS)
    assert due_between(p, 60, 5, 5) == []


def test_stretch_and_workers() -> None:
    assert stretch_factor([(3000, 60)], 300) == 1.0
    assert stretch_factor([(3000, 10)], 300) == 1.0
    assert stretch_factor([(6000, 10), (0, 60)], 300) == 2.0
    assert stretch_factor([(10, 10)], 0) == math.inf
    assert default_workers(300) == 75
    assert default_workers(1) == 4
    assert default_workers(10_000) == 128


def test_plan_stretches_intervals_that_do_not_fit_the_budget() -> None:
    from exporter.config import parse_config
    from exporter.runtime.plan import plan

    streams = "\n".join(f"      - s{i}" for i in range(1000))
    config = parse_config(
        f"""
accounts:
  - name: a
    budget_fraction: 1
    api_limits: {{DescribeLiveStreamState: 50}}
targets:
  - domain: d.example.com
    mode: state
    interval: 10s
    streams:
{streams}
  - domain: e.example.com
    interval: 1m
    streams: [x, y]
  - domain: f.example.com
    mode: online_list
    interval: 10s
    streams: [z]
"""
    )
    p = plan(config)
    # 1000/10 + 2/60 State calls/s against a budget of 50: every per-stream interval of the
    # account doubles; list rounds cost the same however many streams there are.
    factor = (1000 / 10 + 2 / 60) / 50
    assert p.stretch == {"a": pytest.approx(factor)}
    assert [t.mode for t in p.targets] == ["state", "state", "online_list"]
    assert [t.interval for t in p.targets] == pytest.approx([10 * factor, 60 * factor, 10])
    assert [t.configured_interval for t in p.targets] == [10, 60, 10]
    assert p.targets[0].policy.stale_after == pytest.approx(30 * factor)
