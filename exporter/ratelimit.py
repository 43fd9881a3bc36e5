"""Request pacing within an account's API budget, and back-off for failures retrying cannot fix.

Tencent's limits are per account and counted over a sliding one-second window that the
customer's own services share. So the pacer spaces calls evenly (no bursts that a window could
catch) with a small safety margin, and adapts: it cuts its rate when the API says
``RequestLimitExceeded`` and creeps back up while the API stays quiet (AIMD).
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable

# Spacing is this much wider than 1/rate so that scheduling jitter between taking a slot and the
# request reaching Tencent does not push a full-budget second over the limit.
SAFETY_MARGIN = 0.03
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
        """Take the next slot; returns the time at which the caller may send."""
        self._recover(now)
        slot = max(now, self._next_free)
        self._next_free = slot + (1.0 + SAFETY_MARGIN) / self.rate
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


class SlidingWindow:
    """At most ``limit`` sends in any window of ``length`` seconds, the way the API counts.

    The pacer spaces slots evenly, but threads reach the network a little late by varying
    amounts, which bunches real sends; this check runs on the actual send time.
    """

    def __init__(self, limit: int, length: float = 1.0) -> None:
        self.limit = max(1, limit)
        self.length = length
        self._sends: deque[float] = deque()

    def delay(self, now: float) -> float:
        """Seconds until a send at ``now`` would fit; 0 when it fits now."""
        while self._sends and self._sends[0] <= now - self.length:
            self._sends.popleft()
        if len(self._sends) < self.limit:
            return 0.0
        return self._sends[0] + self.length - now

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
        # The same margin as the pacer's spacing, applied to any one second of real sends: a
        # stall followed by a catch-up then still leaves the API's window room for jitter.
        self._window = SlidingWindow(math.floor(max_rate / (1.0 + SAFETY_MARGIN)))
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
