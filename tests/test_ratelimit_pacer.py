"""The pacer delivers its whole budget when the work needs it, even when its thread wakes up late,
and no second of releases or sends goes over the budget. Fake clocks throughout: the lateness of
each wake-up is drawn from a seeded RNG, so every run sees the same."""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable

import pytest

import exporter.ratelimit as rl
from exporter.ratelimit import CATCH_UP_SECONDS, RateLimiter, SendGate, window_limit

Lateness = Callable[[random.Random], float]


def gil(rng: random.Random) -> float:
    """One wake-up in five waits for the GIL, up to a 5 ms switch interval."""
    return rng.uniform(0, 0.0005) if rng.random() < 0.8 else rng.uniform(0.0005, 0.005)


def busiest_second(times: list[float]) -> int:
    best, j = 0, 0
    for i, t in enumerate(times):
        while times[j] <= t - 1.0:
            j += 1
        best = max(best, i - j + 1)
    return best


def run_busy(rate: float, late: Lateness, seconds: float = 60.0) -> tuple[float, int]:
    """Acquire back to back for ``seconds`` (the work needs the whole budget): the share of
    the budget delivered, and the most releases in any one second."""
    rng = random.Random(7)
    now = [0.0]

    def sleep(d: float) -> bool:
        now[0] += d + late(rng)
        return False

    lim = RateLimiter(rate, clock=lambda: now[0], sleep=sleep)
    released = []
    while now[0] < seconds:
        assert lim.acquire()
        released.append(now[0])
        now[0] += rng.uniform(0, 0.0005)  # handing the call to a worker
    return len(released) / now[0] / rate, busiest_second(released)


@pytest.mark.parametrize("rate", [300.0, 75.0, 2.0])
def test_delivers_the_whole_budget_on_time(rate: float) -> None:
    share, busiest = run_busy(rate, lambda rng: 0.0, seconds=120)
    assert share >= 0.999
    assert busiest <= window_limit(rate)


@pytest.mark.parametrize("rate", [300.0, 75.0])
def test_delivers_99_percent_when_woken_late(rate: float) -> None:
    share, busiest = run_busy(rate, gil)
    assert share >= 0.99, share
    assert busiest <= window_limit(rate)


def test_without_catching_up_late_wakes_lose_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    """Why the pacer catches up: at 300/s a slot is 3.3 ms, less than one GIL switch."""
    monkeypatch.setattr(rl, "CATCH_UP_SECONDS", 0.0)
    share, _ = run_busy(300.0, gil)
    assert share < 0.98


def test_a_stall_longer_than_the_catch_up_is_not_made_up_in_a_burst() -> None:
    now = [0.0]

    def sleep(d: float) -> bool:
        now[0] += d
        return False

    lim = RateLimiter(100, clock=lambda: now[0], sleep=sleep)
    for _ in range(10):
        lim.acquire()
    now[0] += 0.5  # the caller had nothing to send, or stalled
    released = []
    for _ in range(5):
        lim.acquire()
        released.append(now[0])
    gaps = [b - a for a, b in itertools.pairwise(released)]
    assert gaps == pytest.approx([0.01] * 4)
    assert CATCH_UP_SECONDS < 0.5


@pytest.mark.parametrize(
    ("rate", "limit"), [(300, 300), (291.0, 291), (2.5, 3), (0.5, 1), (300.0000000001, 300)]
)
def test_window_limit(rate: float, limit: int) -> None:
    assert window_limit(rate) == limit


def test_send_gate_keeps_every_second_within_the_budget() -> None:
    now = [0.0]
    waits: list[float] = []

    def sleep(d: float) -> None:
        waits.append(d)
        now[0] += d

    gate = SendGate(5, clock=lambda: now[0], sleep=sleep)
    sent = []
    for burst_at in (0.0, 0.1, 2.5):  # bunched sends: 8, then 8 more, then 8
        now[0] = max(now[0], burst_at)
        for _ in range(8):
            gate.wait()
            sent.append(now[0])
    assert busiest_second(sent) == 5
    assert sent[:5] == [0.0] * 5  # room for five at once: no wait
    assert sent[5] == pytest.approx(1.0, abs=1e-6)  # the sixth waits for the first to age out
    assert len(waits) >= 3 and all(w > 0 for w in waits)
