"""Per-stream state: pure functions that combine sources, and the store that applies them.

Each stream keeps the latest verdict of every source (state API, online list, forbid list, CSS
callbacks). Its state is derived from them by :func:`combine`, the seed page's rule made exact:

1. A verdict counts while it is fresh: younger than the target's ``stale_after`` (the forbid
   list, checked at a slower cadence, has its own window). With no fresh verdict the state is
   ``unknown``.
2. The newest fresh verdict leads; verdicts within ``AGREE_WINDOW`` seconds before it count as
   simultaneous, and among simultaneous verdicts ``active`` wins ("online if any source says
   so": the online list and the state API lag each other and CSS by a few seconds).
3. A callback is an event, not a sample: nothing older than the newest callback takes part, so
   an interrupt makes the stream inactive at once and the next poll confirms or corrects it.
4. A stream that is not active is ``forbid`` when the newest word on bans (the state API or the
   forbid list) says so.

API faults are not verdicts: they are counted and never make a stream inactive. Every function
takes the time as an argument, so the rules are tested without threads or sleeps.
"""

from __future__ import annotations

import enum
import heapq
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

from exporter.model import (
    SOURCE_INDEX,
    Observation,
    Source,
    StreamKey,
    StreamState,
    Verdict,
)

AGREE_WINDOW = 10.0
STALE = "stale"  # change source when a state turns unknown because nothing confirmed it

_SA, _OL, _FL, _CB = (SOURCE_INDEX[s] for s in Source)
_NO_VERDICTS: tuple[Verdict | None, ...] = (None,) * len(Source)


@dataclass(frozen=True, slots=True)
class Policy:
    """How long each source's verdicts stay fresh for a stream (shared by a target's streams)."""

    stale_after: float
    forbid_stale_after: float

    def window(self, source: Source) -> float:
        return self.forbid_stale_after if source is Source.FORBID_LIST else self.stale_after


class Outcome(str, enum.Enum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"
    OUT_OF_ORDER = "out_of_order"
    UNKNOWN_STREAM = "unknown_stream"


@dataclass(frozen=True, slots=True)
class StreamStatus:
    policy: Policy
    state: StreamState = StreamState.UNKNOWN
    last_change: float | None = None
    change_source: str | None = None  # a Source value, or STALE
    verdicts: tuple[Verdict | None, ...] = _NO_VERDICTS
    # (event_time, sequence, rank) of the last applied callback: retries never go back in time.
    callback_mark: tuple[float, str, int] | None = None
    last_active: float | None = None
    # Sorted (code, count) pairs: a tuple keeps the status immutable and the output ordered.
    errors_by_code: tuple[tuple[str, int], ...] = ()
    consecutive_errors: int = 0
    last_error_code: str | None = None
    last_error_message: str | None = None
    last_error_time: float | None = None
    attempted: bool = False

    @property
    def last_success(self) -> float | None:
        times = [v.time for v in self.verdicts if v is not None]
        return max(times) if times else None

    def verdict(self, source: Source) -> Verdict | None:
        return self.verdicts[SOURCE_INDEX[source]]


def _newest(verdicts: Iterable[Verdict]) -> Verdict | None:
    best = None
    for v in verdicts:
        if best is None or v.time > best.time:
            best = v
    return best


def combine(
    verdicts: tuple[Verdict | None, ...], policy: Policy, now: float
) -> tuple[StreamState, Source | None]:
    """The stream's state from its sources' latest verdicts (rules in the module docstring)."""
    fresh = [v for v in verdicts if v is not None and now - v.time < policy.window(v.source)]
    activity = [v for v in fresh if v.source is not Source.FORBID_LIST]
    ban = _newest(v for v in fresh if v.source in (Source.STATE_API, Source.FORBID_LIST))
    banned = ban is not None and ban.state is StreamState.FORBID
    lead = _newest(activity)
    if lead is None:
        return (StreamState.FORBID, ban.source) if banned and ban else (StreamState.UNKNOWN, None)
    cutoff = lead.time - AGREE_WINDOW
    callback = verdicts[_CB]
    if callback is not None and callback in fresh:
        cutoff = max(cutoff, callback.time)
    active = _newest(v for v in activity if v.time >= cutoff and v.state is StreamState.ACTIVE)
    if active is not None:
        return StreamState.ACTIVE, active.source
    if banned and ban:
        return StreamState.FORBID, ban.source
    return StreamState.INACTIVE, lead.source


def _settle(prev: StreamStatus, new: StreamStatus, now: float) -> StreamStatus:
    state, source = combine(new.verdicts, new.policy, now)
    if state is prev.state:
        return new
    return replace(
        new,
        state=state,
        last_change=now,
        change_source=source.value if source is not None else STALE,
    )


def _bump(errors: tuple[tuple[str, int], ...], code: str) -> tuple[tuple[str, int], ...]:
    counts = dict(errors)
    counts[code] = counts.get(code, 0) + 1
    return tuple(sorted(counts.items()))


def callback_newer(
    time: float, sequence: str, rank: int, mark: tuple[float, str, int] | None
) -> bool | None:
    """True if newer than ``mark``, False if older, None if the same event (a retry).

    Events order by event_time (whole seconds). A push and its interrupt share the sequence
    and, for a push under a second, the event_time too: the interrupt (rank 1) comes after the
    push (rank 0). Two sessions in the same second cannot be ordered from their bodies (the
    sequence is an id, not a counter): the later arrival wins; CSS retries come a minute apart,
    so an older event retried shows an older event_time, and the next poll corrects the rest.
    """
    if mark is None:
        return True
    if time != mark[0]:
        return time > mark[0]
    if sequence != mark[1]:
        return True
    if rank == mark[2]:
        return None
    return rank > mark[2]


def observe(prev: StreamStatus, obs: Observation, now: float) -> tuple[StreamStatus, Outcome]:
    """Fold one observation into a stream's status, at wall time ``now``."""
    if obs.error is not None:
        err = obs.error
        return replace(
            prev,
            consecutive_errors=prev.consecutive_errors + 1,
            errors_by_code=_bump(prev.errors_by_code, err.code),
            last_error_code=err.code,
            last_error_message=err.message,
            last_error_time=obs.time,
            attempted=True,
        ), Outcome.APPLIED
    if obs.state is None:
        raise ValueError("an observation needs a state or an error")
    mark = prev.callback_mark
    if obs.source is Source.CALLBACK:
        rank = 0 if obs.state is StreamState.ACTIVE else 1
        newer = callback_newer(obs.time, obs.sequence, rank, mark)
        if newer is None:
            return prev, Outcome.DUPLICATE
        if not newer:
            return prev, Outcome.OUT_OF_ORDER
        mark = (obs.time, obs.sequence, rank)
    slot = SOURCE_INDEX[obs.source]
    old = prev.verdicts[slot]
    if old is not None and obs.time < old.time:
        # An answer older than one already applied (a slow call overtaken by a newer one)
        # must not move the stream back in time.
        return replace(prev, attempted=True), Outcome.OUT_OF_ORDER
    verdict = Verdict(obs.state, obs.time, obs.source)
    return apply_verdict(replace(prev, callback_mark=mark), verdict, now), Outcome.APPLIED


def apply_verdict(prev: StreamStatus, verdict: Verdict, now: float) -> StreamStatus:
    slot = SOURCE_INDEX[verdict.source]
    verdicts = (*prev.verdicts[:slot], verdict, *prev.verdicts[slot + 1 :])
    new = replace(
        prev,
        verdicts=verdicts,
        consecutive_errors=0 if verdict.source is Source.STATE_API else prev.consecutive_errors,
        last_active=verdict.time if verdict.state is StreamState.ACTIVE else prev.last_active,
        attempted=True,
    )
    return _settle(prev, new, now)


def refresh(prev: StreamStatus, now: float) -> StreamStatus:
    """Re-derive the state as time passes (verdicts going stale)."""
    return _settle(prev, prev, now)


def deadline(status: StreamStatus, now: float) -> float | None:
    """The next time after ``now`` at which a verdict goes stale (the state may change)."""
    window = status.policy.window
    times = [v.time + window(v.source) for v in status.verdicts if v is not None]
    later = [t for t in times if t > now]
    return min(later) if later else None


def skipped(prev: StreamStatus) -> StreamStatus:
    """A poll that was deliberately not sent (account in back-off) still completes a round."""
    return prev if prev.attempted else replace(prev, attempted=True)


def _exposed(s: StreamStatus) -> tuple[object, ...]:
    return (s.state, s.last_change, s.change_source, s.errors_by_code)


Listener = Callable[[StreamKey], None]

# Bulk updates release the lock this often so that scrapes and other writers get a turn.
_BULK_CHUNK = 2000


class StateStore:
    """Thread-safe map of stream statuses.

    The listener (the exposition) is told, under the lock so that it never sees changes out of
    order, about every stream whose exposed fields changed; it only marks the stream dirty.
    Staleness is driven by a heap of deadlines, so a tick touches only streams that are due.
    """

    def __init__(self, listener: Listener | None = None) -> None:
        self._lock = threading.Lock()
        self._status: dict[StreamKey, StreamStatus] = {}
        self._listener = listener
        self._heap: list[tuple[float, StreamKey]] = []
        self._scheduled: dict[StreamKey, float] = {}

    # -- membership ------------------------------------------------------------------------

    def add(self, key: StreamKey, policy: Policy) -> None:
        """Track a stream (or update the policy of a tracked one, keeping its history)."""
        with self._lock:
            prev = self._status.get(key)
            if prev is None:
                self._status[key] = StreamStatus(policy)
                self._notify(key)
            elif prev.policy != policy:
                self._status[key] = replace(prev, policy=policy)
                # A shorter window may be due earlier than what is scheduled.
                self._scheduled.pop(key, None)
                self._schedule(key, self._status[key], prev.last_success or 0.0)

    def remove(self, key: StreamKey) -> None:
        with self._lock:
            if self._status.pop(key, None) is not None:
                self._scheduled.pop(key, None)
                self._notify(key)

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._status

    def __len__(self) -> int:
        with self._lock:
            return len(self._status)

    # -- updates ---------------------------------------------------------------------------

    def _notify(self, key: StreamKey) -> None:
        if self._listener is not None:
            self._listener(key)

    def _schedule(self, key: StreamKey, status: StreamStatus, now: float) -> None:
        due = deadline(status, now)
        if due is None:
            return
        current = self._scheduled.get(key)
        if current is None or due < current:
            self._scheduled[key] = due
            heapq.heappush(self._heap, (due, key))

    def _store(self, key: StreamKey, prev: StreamStatus, new: StreamStatus, now: float) -> None:
        if new is prev:
            return
        self._status[key] = new
        self._schedule(key, new, now)
        if _exposed(new) != _exposed(prev):
            self._notify(key)

    def apply(self, obs: Observation, now: float) -> Outcome:
        with self._lock:
            prev = self._status.get(obs.key)
            if prev is None:
                # Not tracked (never configured, or removed by a reload while in flight).
                return Outcome.UNKNOWN_STREAM
            new, outcome = observe(prev, obs, now)
            self._store(obs.key, prev, new, now)
            return outcome

    def apply_bulk(self, keys: Iterable[StreamKey], verdict: Verdict, now: float) -> None:
        """One verdict for many streams (a list round); untracked keys are ignored."""
        batch: list[StreamKey] = []
        for key in keys:
            batch.append(key)
            if len(batch) >= _BULK_CHUNK:
                self._apply_batch(batch, verdict, now)
                batch = []
        if batch:
            self._apply_batch(batch, verdict, now)

    def _apply_batch(self, keys: list[StreamKey], verdict: Verdict, now: float) -> None:
        slot = SOURCE_INDEX[verdict.source]
        with self._lock:
            for key in keys:
                prev = self._status.get(key)
                if prev is None:
                    continue
                old = prev.verdicts[slot]
                if old is not None and verdict.time < old.time:
                    continue
                self._store(key, prev, apply_verdict(prev, verdict, now), now)

    def mark_skipped(self, key: StreamKey) -> None:
        with self._lock:
            prev = self._status.get(key)
            if prev is not None and not prev.attempted:
                self._status[key] = skipped(prev)

    def tick(self, now: float) -> int:
        """Re-derive the streams whose verdicts went stale; returns how many changed state."""
        changed = 0
        with self._lock:
            heap = self._heap
            while heap and heap[0][0] <= now:
                due, key = heapq.heappop(heap)
                if self._scheduled.get(key) != due:
                    continue  # superseded by an earlier deadline, or removed
                del self._scheduled[key]
                prev = self._status.get(key)
                if prev is None:
                    continue
                new = refresh(prev, now)
                if new.state is not prev.state:
                    changed += 1
                self._store(key, prev, new, now)
                # A stream whose verdicts were renewed since this deadline was set is still
                # fresh: it needs its next deadline whether or not anything changed.
                self._schedule(key, new, now)
        return changed

    # -- reads -----------------------------------------------------------------------------

    def get(self, key: StreamKey) -> StreamStatus | None:
        with self._lock:
            return self._status.get(key)

    def get_many(self, keys: Iterable[StreamKey]) -> list[StreamStatus | None]:
        with self._lock:
            get = self._status.get
            return [get(k) for k in keys]

    def snapshot(self) -> dict[StreamKey, StreamStatus]:
        with self._lock:
            return dict(self._status)

    def keys(self) -> list[StreamKey]:
        with self._lock:
            return list(self._status)

    def all_attempted(self, keys: Iterable[StreamKey]) -> bool:
        with self._lock:
            return all(self._status[k].attempted for k in keys if k in self._status)
