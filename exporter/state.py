"""Per-stream state: pure transition functions and the store that applies them.

The transition functions take the clock as an argument so that every rule (an API fault never
makes a stream inactive, staleness turns into ``unknown``) is tested without threads or sleeps.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

from exporter.model import ApiError, Observation, Source, StreamKey, StreamState


@dataclass(frozen=True, slots=True)
class StreamStatus:
    state: StreamState = StreamState.UNKNOWN
    last_change: float | None = None
    last_success: float | None = None
    consecutive_errors: int = 0
    # Sorted (code, count) pairs: a tuple keeps the status immutable and the output ordered.
    errors_by_code: tuple[tuple[str, int], ...] = ()
    last_error: ApiError | None = None
    last_error_time: float | None = None
    source: Source | None = None
    attempted: bool = False


def _bump(errors: tuple[tuple[str, int], ...], code: str) -> tuple[tuple[str, int], ...]:
    counts = dict(errors)
    counts[code] = counts.get(code, 0) + 1
    return tuple(sorted(counts.items()))


def next_status(prev: StreamStatus, obs: Observation) -> StreamStatus:
    """Fold one observation into a stream's status.

    An error is an observation about the API, not about the stream: it is counted, and the last
    known state is kept (the seed page: treat timeouts and parse errors as online). Staleness is
    handled separately by :func:`expire`.
    """
    if obs.error is not None:
        return replace(
            prev,
            consecutive_errors=prev.consecutive_errors + 1,
            errors_by_code=_bump(prev.errors_by_code, obs.error.code),
            last_error=obs.error,
            last_error_time=obs.time,
            attempted=True,
        )
    if obs.state is None:
        raise ValueError("an observation needs a state or an error")
    if prev.last_success is not None and obs.time < prev.last_success:
        # An answer older than one already applied (e.g. a slow call overtaken by a newer
        # one) must not move the stream back in time.
        return replace(prev, attempted=True)
    changed = obs.state != prev.state
    return replace(
        prev,
        state=obs.state,
        last_change=obs.time if changed else prev.last_change,
        last_success=obs.time,
        consecutive_errors=0,
        source=obs.source if changed else prev.source,
        attempted=True,
    )


def expire(prev: StreamStatus, now: float, stale_after: float) -> StreamStatus:
    """Turn a state nobody has confirmed for ``stale_after`` seconds into ``unknown``."""
    if prev.state is StreamState.UNKNOWN or prev.last_success is None:
        return prev
    if now - prev.last_success < stale_after:
        return prev
    return replace(prev, state=StreamState.UNKNOWN, last_change=now, source=None)


def _expire_with(prev: StreamStatus, *, now: float, stale_after: float) -> StreamStatus:
    return expire(prev, now, stale_after)


def skipped(prev: StreamStatus) -> StreamStatus:
    """A poll that was deliberately not sent (account in back-off) still completes a round."""
    return prev if prev.attempted else replace(prev, attempted=True)


Listener = Callable[[StreamKey, StreamStatus], None]


class StateStore:
    """Thread-safe map of stream statuses.

    Writers (poll workers) hold the lock only for a dict update; listeners (the exposition) are
    told about every status that actually changed, outside the lock.
    """

    def __init__(self, keys: Iterable[StreamKey] = (), listener: Listener | None = None) -> None:
        self._lock = threading.Lock()
        self._status: dict[StreamKey, StreamStatus] = {k: StreamStatus() for k in keys}
        self._listener = listener
        if listener is not None:
            for key, status in self._status.items():
                listener(key, status)

    def _update(self, key: StreamKey, fn: Callable[[StreamStatus], StreamStatus]) -> StreamStatus:
        with self._lock:
            prev = self._status.get(key)
            if prev is None:
                # A stream removed by a reload while its poll was in flight.
                return StreamStatus()
            new = fn(prev)
            if new is prev:
                return new
            self._status[key] = new
        if self._listener is not None and new != prev:
            self._listener(key, new)
        return new

    def apply(self, obs: Observation) -> StreamStatus:
        return self._update(obs.key, lambda prev: next_status(prev, obs))

    def mark_skipped(self, key: StreamKey) -> StreamStatus:
        return self._update(key, skipped)

    def expire(self, now: float, stale_after: Callable[[StreamKey], float]) -> int:
        """Apply staleness to every stream; returns how many turned ``unknown``."""
        with self._lock:
            items = list(self._status.items())
        count = 0
        for key, status in items:
            if status.state is StreamState.UNKNOWN or status.last_success is None:
                continue
            limit = stale_after(key)
            if now - status.last_success >= limit:
                self._update(key, functools.partial(_expire_with, now=now, stale_after=limit))
                count += 1
        return count

    def get(self, key: StreamKey) -> StreamStatus | None:
        with self._lock:
            return self._status.get(key)

    def snapshot(self) -> dict[StreamKey, StreamStatus]:
        with self._lock:
            return dict(self._status)

    def all_attempted(self, keys: Iterable[StreamKey]) -> bool:
        with self._lock:
            return all(self._status[k].attempted for k in keys if k in self._status)

    def __len__(self) -> int:
        with self._lock:
            return len(self._status)
