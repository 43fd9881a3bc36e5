"""Per-SecretId, per-action request limits over a sliding one-second window."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Mapping

from exporter.cssapi import ACTIONS, DOCUMENTED_LIMITS


class RateLimiter:
    """Admits at most ``limit`` calls of an action per SecretId in any ``window`` seconds.

    Rejected calls do not consume the budget, so a client that backs off recovers as soon as
    its earlier calls leave the window.
    """

    def __init__(
        self,
        limits: Mapping[str, int] | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        window: float = 1.0,
    ) -> None:
        self._clock = clock
        self._window = window
        self._lock = threading.Lock()
        self._limits: dict[str, int] = dict(DOCUMENTED_LIMITS)
        for action, limit in (limits or {}).items():
            self.set_limit(action, limit)
        self._calls: dict[tuple[str, str], deque[float]] = {}

    def set_limit(self, action: str, limit: int) -> None:
        if action not in ACTIONS:
            raise ValueError(f"unknown action {action!r}")
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ValueError(f"limit for {action} must be an integer >= 1, got {limit!r}")
        with self._lock:
            self._limits[action] = limit

    def limits(self) -> dict[str, int]:
        with self._lock:
            return dict(self._limits)

    def now(self) -> float:
        return self._clock()

    def try_acquire(
        self, secret_id: str, action: str, now: float | None = None
    ) -> tuple[bool, int]:
        """(admitted, limit) for one call at ``now`` (its arrival; default: now)."""
        if now is None:
            now = self._clock()
        with self._lock:
            limit = self._limits.get(action, 0)
            if limit <= 0:
                return True, 0
            calls = self._calls.get((secret_id, action))
            if calls is None:
                calls = self._calls[(secret_id, action)] = deque()
            horizon = now - self._window
            while calls and calls[0] <= horizon:
                calls.popleft()
            if len(calls) >= limit:
                return False, limit
            calls.append(now)
            return True, limit

    def reset(self) -> None:
        with self._lock:
            self._calls.clear()
