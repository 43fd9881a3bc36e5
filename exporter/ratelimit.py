"""Request pacing within an account's API budget, and back-off for failures retrying cannot fix.

Tencent's limits are per account and counted over a sliding one-second window that the
customer's own services share. So the pacer spaces calls evenly at exactly the budget (no bursts
that a window could catch, and no hidden margin: a schedule stretched to the budget keeps up),
and adapts: it cuts its rate when the API says ``RequestLimitExceeded`` (or a gateway answers 429
or 503) and creeps back up while the API stays quiet (AIMD).

Where sends bunch, measured with benchmarks/poll_throughput.py at 300/s on a loaded 2-core
machine: between the pacer releasing a call and its request leaving the socket (a worker waking
up, the GIL, the process descheduled) by up to 15 calls in one second, and by a few more in the
simulator's own count. A :class:`SendGate` at the socket (exporter.client.transport, on when the
client is given the budgets in ``ClientSettings.send_limits``) takes the first out; the headroom
between the budget and the API's limit (``budget_fraction``, 0.25 by default) is for the rest.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable

# Slots a hair (1 ns) more than exactly 1/rate apart, and a send leaving the window a hair after
# exactly one second: how the API counts sends one second apart is not documented, and float
# rounding must never put rate + 1 of them into one second.
EDGE = 1e-9
# A pacer that wakes up late (waiting for the GIL can take a 5 ms switch interval, longer than
# the 3.3 ms between slots at 300/s) sends the overdue slots at once rather than losing them, if
# it is at most this far behind; beyond that (an idle lane, a stall) it starts afresh from now,
# so that it never saves up a burst. With the GIL waits modelled in tests/test_ratelimit_pacer.py,
# 10 ms keeps 0.99 of the budget where none keeps under 0.98; in benchmarks/poll_throughput.py,
# 100 ms let bursts of 30 through that bunched into throttles.
CATCH_UP_SECONDS = 0.01
# Gentler than TCP's halving: a lone throttled answer at the edge of the budget should not cost
# a quarter of the throughput for the next half minute; repeated ones still cut fast (0.7^3).
DECREASE_FACTOR = 0.7
# After a decrease, throttling answers already in flight must not cut the rate again.
DECREASE_COOLDOWN = 1.0
# Full rate is regained in about this many seconds after the API stops throttling.
RECOVERY_SECONDS = 60.0


class Pacer:
    """Pure pacing logic: callers ask for a slot at time ``now`` and are told when to send."""

    def __init__(self, max_rate: float, now: float, min_rate: float | None = None) -> None:
        if max_rate <= 0:
            raise ValueError("max_rate must be positive")
        self.max_rate = max_rate
        self.min_rate = min_rate if min_rate is not None else min(1.0, max_rate)
        self.rate = max_rate
        self._next_free = now
        self._last_adjust = now
        self._last_decrease = float("-inf")

    def _recover(self, now: float) -> None:
        # Recovery only begins once the cooldown after the last decrease is over.
        start = max(self._last_adjust, self._last_decrease + DECREASE_COOLDOWN)
        if self.rate < self.max_rate and now > start:
            step = self.max_rate / RECOVERY_SECONDS * (now - start)
            self.rate = min(self.max_rate, self.rate + step)
        self._last_adjust = max(self._last_adjust, now)

    def current_rate(self, now: float) -> float:
        """The allowed rate at ``now``, with any recovery since the last call applied."""
        self._recover(now)
        return self.rate

    def reserve(self, now: float) -> float:
        """Take the next slot; returns the time at which the caller may send (at once if it
        is not after ``now``: an overdue slot of a pacer catching up)."""
        self._recover(now)
        slot = self._next_free
        if now - slot > CATCH_UP_SECONDS:
            slot = now  # idle or stalled: no saved-up burst
        self._next_free = slot + 1.0 / self.rate + EDGE
        return slot

    def throttled(self, now: float) -> None:
        if now - self._last_decrease < DECREASE_COOLDOWN:
            return
        self._recover(now)
        self.rate = max(self.min_rate, self.rate * DECREASE_FACTOR)
        self._last_decrease = now
        self._last_adjust = now
        # Slots already handed out at the old spacing stay; new ones follow the new rate.

    def set_max_rate(self, max_rate: float) -> None:
        self.max_rate = max_rate
        self.rate = min(self.rate, max_rate)


def window_limit(rate: float) -> int:
    """Sends allowed in any one second at ``rate``: what evenly spaced slots can put there.

    A whole rate (a budget of the whole limit) gives the limit itself; a fractional one rounds
    up, which never exceeds the API's limit, a whole number at least as large as the budget.
    """
    return max(1, math.ceil(rate - 1e-9))


class SlidingWindow:
    """At most ``limit`` sends in any window of ``length`` seconds, the way the API counts.

    The pacer spaces slots evenly, but a caller that wakes up late and the catch-up after it
    bunch them; this check runs when the caller is released, and keeps every second within the
    budget.
    """

    def __init__(self, limit: int, length: float = 1.0) -> None:
        self.limit = max(1, limit)
        self.length = length
        self._sends: deque[float] = deque()

    def delay(self, now: float) -> float:
        """Seconds until a send at ``now`` would fit; 0 when it fits now."""
        while self._sends and self._sends[0] < now - self.length - EDGE:
            self._sends.popleft()
        if len(self._sends) < self.limit:
            return 0.0
        return self._sends[0] + self.length + 2 * EDGE - now

    def record(self, now: float) -> None:
        self._sends.append(now)


class RateLimiter:
    """Thread-safe blocking wrapper around :class:`Pacer` and :class:`SlidingWindow`."""

    def __init__(
        self,
        max_rate: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], bool] | None = None,
    ) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._pacer = Pacer(max_rate, clock())
        self._window = SlidingWindow(window_limit(max_rate))
        self._stop = threading.Event()
        self._sleep = sleep if sleep is not None else self._stop.wait

    @property
    def rate(self) -> float:
        with self._lock:
            return self._pacer.current_rate(self._clock())

    @property
    def max_rate(self) -> float:
        return self._pacer.max_rate

    def acquire(self) -> bool:
        """Block until this caller's slot; False when the limiter was closed meanwhile."""
        with self._lock:
            slot = self._pacer.reserve(self._clock())
        delay = slot - self._clock()
        if delay > 0 and self._sleep(delay):
            return False
        while True:
            with self._lock:
                now = self._clock()
                wait = self._window.delay(now)
                if wait <= 0:
                    self._window.record(now)
                    break
            if self._sleep(wait):
                return False
        return not self._stop.is_set()

    def throttled(self) -> None:
        with self._lock:
            self._pacer.throttled(self._clock())

    def close(self) -> None:
        self._stop.set()


class SendGate:
    """At most ``window_limit(rate)`` requests in any second, counted as they go out.

    The pacer releases calls evenly, but a call reaches the socket later by a varying amount;
    checked right before the request is written, this keeps every second of real sends within
    the budget. It waits only while sends bunch, for the few milliseconds until one second has
    room again. Thread-safe: every thread of one account's client shares an action's gate.
    """

    def __init__(
        self,
        rate: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], object] = time.sleep,
    ) -> None:
        self.rate = rate
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._window = SlidingWindow(window_limit(rate))

    def wait(self) -> float:
        """Block until a send fits and count it; returns the seconds waited."""
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                delay = self._window.delay(now)
                if delay <= 0:
                    self._window.record(now)
                    return waited
            self._sleep(delay)
            waited += delay


class Backoff:
    """Exponential back-off for an account whose credentials or service state are failing.

    While backing off, polls are not sent at all (retrying fast never helps and burns the
    customer's shared limit); once the delay has passed one probe is let through, and its
    result either clears the back-off or doubles the delay.
    """

    def __init__(self, initial: float = 15.0, maximum: float = 300.0) -> None:
        self.initial = initial
        self.maximum = maximum
        self._lock = threading.Lock()
        self.delay = 0.0
        self._until = 0.0
        self._probe_out = False

    def allow(self, now: float) -> bool:
        with self._lock:
            if self.delay == 0.0:
                return True
            if now < self._until or self._probe_out:
                return False
            self._probe_out = True
            return True

    def failure(self, now: float) -> None:
        with self._lock:
            if self.delay and now < self._until:
                # Calls that were in flight when the back-off began must not escalate it.
                return
            self.delay = self.initial if self.delay == 0.0 else min(self.maximum, self.delay * 2)
            self._until = now + self.delay
            self._probe_out = False

    def success(self) -> None:
        with self._lock:
            self.delay = 0.0
            self._probe_out = False

    def neutral(self) -> None:
        """A probe that failed for another reason (e.g. a timeout) proves nothing."""
        with self._lock:
            self._probe_out = False
