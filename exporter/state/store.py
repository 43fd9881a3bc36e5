"""The state store: every stream's status, with one lock; the only writer of statuses.

Lock order: the store's lock is a leaf. Nothing is called while it is held: what changed is only
recorded, and the renderer takes it with :meth:`StateStore.take_changes` (so the store and the
exposition never call each other).
"""

from __future__ import annotations

import heapq
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace

from exporter.courtesy import breathe, slices
from exporter.model import SOURCE_INDEX, Observation, StreamKey, Verdict
from exporter.state.combine import (
    Outcome,
    Policy,
    StreamStatus,
    apply_verdict,
    deadline,
    exposed,
    observe,
    refresh,
    skipped,
)

# Bulk updates release the lock this often so that scrapes and other writers get a turn.
_BULK_CHUNK = 2000


@dataclass(frozen=True, slots=True)
class _Step:
    """One status moving to the next, with what the store must do about it."""

    prev: StreamStatus  # held so that its id() stays unique while the step is memoized
    new: StreamStatus
    due: float | None
    notify: bool


class _Memo:
    """What one bulk update computed, so that streams with the same status share the next one.

    ``steps`` maps id() of a previous status to its step (the step holds that status, so the
    id stays unique). ``shared`` hands out one object per distinct resulting value: streams
    whose histories differed only by verdicts that have gone stale meet again in one status.
    """

    __slots__ = ("_values", "steps")

    def __init__(self) -> None:
        self.steps: dict[int, _Step] = {}
        self._values: dict[StreamStatus, StreamStatus] = {}

    def shared(self, status: StreamStatus) -> StreamStatus:
        return self._values.setdefault(status, status)


# Changes recorded beyond this many (times the streams tracked) mean "everything changed": a
# renderer that fell behind must not make the list grow without bound.
_CHANGES_PER_STREAM = 4
_MIN_CHANGES = 100_000


class StateStore:
    """Thread-safe map of stream statuses.

    Every stream whose exposed fields changed is recorded (in order, duplicates and all: a list
    of 100k references is 0.8 MB where a set would be 4 MB) until the renderer takes the list.
    Staleness is driven by deadlines grouped by time, so a tick touches only streams that are
    due.

    Statuses are immutable values, so streams with the same history share one object: every
    new stream starts from its policy's initial status, and a bulk update (a list round) maps
    each distinct previous status to one next status. At 100k streams in list mode this keeps
    a handful of status objects instead of 100k, which is most of the store's memory.
    """

    def __init__(self, changed: threading.Event | None = None) -> None:
        """``changed`` is set whenever a change is recorded (the renderer waits on it)."""
        self._lock = threading.Lock()
        self._status: dict[StreamKey, StreamStatus] = {}
        self._changes: list[StreamKey] = []
        self._all_changed = False
        self._changed = changed if changed is not None else threading.Event()
        # Inside together(): changes are recorded but the renderer is woken once, at the end.
        self._holds = 0
        self._wake_held = False
        self._initial: dict[Policy, StreamStatus] = {}
        # Deadline -> streams due then; the heap holds each distinct deadline once. Streams
        # renewed by one list round share a deadline, so this costs a pointer per stream.
        self._due: dict[float, list[StreamKey]] = {}
        self._times: list[float] = []
        self._scheduled: dict[StreamKey, float] = {}

    # -- membership ------------------------------------------------------------------------

    def add(self, key: StreamKey, policy: Policy) -> None:
        """Track a stream (or update the policy of a tracked one, keeping its history)."""
        with self._lock:
            self._add(key, policy)

    def add_many(self, streams: Iterable[tuple[StreamKey, Policy]]) -> None:
        """``add`` for each (key, policy), a slice per hold of the lock, waking the renderer
        once: a start or reload adds 100k streams, and a lock and a wake-up check per stream
        were a quarter of building the runtime."""
        with self.together():
            for batch in slices(streams, _BULK_CHUNK):
                breathe()
                with self._lock:
                    for key, policy in batch:
                        self._add(key, policy)

    def _add(self, key: StreamKey, policy: Policy) -> None:
        prev = self._status.get(key)
        if prev is None:
            initial = self._initial.get(policy)
            if initial is None:
                initial = self._initial[policy] = StreamStatus(policy)
            self._status[key] = initial
            self._notify(key)
        elif prev.policy != policy:
            self._status[key] = replace(prev, policy=policy)
            # A shorter window may be due earlier than what is scheduled.
            self._scheduled.pop(key, None)
            self._schedule(key, deadline(self._status[key], prev.last_success or 0.0))

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
        if self._all_changed:
            return
        changes = self._changes
        changes.append(key)
        if len(changes) > max(_MIN_CHANGES, _CHANGES_PER_STREAM * len(self._status)):
            self._all_changed = True
            self._changes = []
        if self._holds:
            self._wake_held = True
        # Event.set takes a lock and notifies: only when it is not set already (100k changes a
        # round otherwise cost a second). The renderer clears it before it takes the changes.
        elif not self._changed.is_set():
            self._changed.set()

    @contextmanager
    def together(self) -> Iterator[None]:
        """Changes made inside (by any thread) wake the renderer once, when the last holder
        leaves. A list round's verdicts for 100k streams take 0.2-0.3 s in slices; a render
        woken by the first slice re-rendered every bucket for the part it saw, then again for
        the rest: two full renders (0.7 s of CPU each) on the way to ready, not one."""
        with self._lock:
            self._holds += 1
        try:
            yield
        finally:
            with self._lock:
                self._holds -= 1
                wake = self._holds == 0 and self._wake_held
                if wake:
                    self._wake_held = False
            if wake:
                self._changed.set()

    def take_changes(self) -> list[StreamKey] | None:
        """The streams whose exposed fields changed since the last call; None for "all of
        them" (more changes piled up than are worth listing)."""
        with self._lock:
            changes, everything = self._changes, self._all_changed
            self._changes, self._all_changed = [], False
        return None if everything else changes

    def _schedule(self, key: StreamKey, due: float | None) -> None:
        if due is None:
            return
        current = self._scheduled.get(key)
        if current is None or due < current:
            self._scheduled[key] = due
            self._enqueue(key, due)

    def _enqueue(self, key: StreamKey, due: float) -> None:
        streams = self._due.get(due)
        if streams is None:
            self._due[due] = [key]
            heapq.heappush(self._times, due)
        else:
            streams.append(key)

    def _reschedule(self, key: StreamKey, due: float | None) -> None:
        """Replace the stream's deadline (the one that just passed)."""
        if due is None:
            del self._scheduled[key]
            return
        self._scheduled[key] = due
        self._enqueue(key, due)

    @staticmethod
    def _step(prev: StreamStatus, new: StreamStatus, now: float) -> _Step:
        return _Step(prev, new, deadline(new, now), exposed(new) != exposed(prev))

    def _store(self, key: StreamKey, step: _Step) -> None:
        if step.new is step.prev:
            return
        self._status[key] = step.new
        self._schedule(key, step.due)
        if step.notify:
            self._notify(key)

    def apply(self, obs: Observation, now: float) -> Outcome:
        with self._lock:
            prev = self._status.get(obs.key)
            if prev is None:
                # Not tracked (never configured, or removed by a reload while in flight).
                return Outcome.UNKNOWN_STREAM
            new, outcome = observe(prev, obs, now)
            self._store(obs.key, self._step(prev, new, now))
            return outcome

    def apply_bulk(self, keys: Iterable[StreamKey], verdict: Verdict, now: float) -> None:
        """One verdict for many streams (a list round); untracked keys are ignored."""
        memo = _Memo()
        with self.together():
            for batch in slices(keys, _BULK_CHUNK):
                self._apply_batch(batch, verdict, now, memo)

    def _apply_batch(
        self, keys: list[StreamKey], verdict: Verdict, now: float, memo: _Memo
    ) -> None:
        slot = SOURCE_INDEX[verdict.source]
        with self._lock:
            for key in keys:
                prev = self._status.get(key)
                if prev is None:
                    continue
                step = memo.steps.get(id(prev))
                if step is None:
                    old = prev.verdicts[slot]
                    if old is not None and verdict.time < old.time:
                        new = prev
                    else:
                        new = memo.shared(apply_verdict(prev, verdict, now))
                    step = memo.steps[id(prev)] = self._step(prev, new, now)
                self._store(key, step)

    def mark_skipped(self, key: StreamKey) -> None:
        with self._lock:
            prev = self._status.get(key)
            if prev is not None and not prev.attempted:
                self._status[key] = skipped(prev)

    def tick(self, now: float) -> int:
        """Re-derive the streams whose verdicts went stale; returns how many changed state."""
        changed = 0
        memo = _Memo()
        with self._lock:
            times = self._times
            while times and times[0] <= now:
                due = heapq.heappop(times)
                for key in self._due.pop(due, ()):
                    if self._scheduled.get(key) != due:
                        continue  # superseded by an earlier deadline, or removed
                    prev = self._status.get(key)
                    if prev is None:
                        continue
                    step = memo.steps.get(id(prev))
                    if step is None:
                        new = memo.shared(refresh(prev, now))
                        step = memo.steps[id(prev)] = self._step(prev, new, now)
                    if step.new.state is not prev.state:
                        changed += 1
                    # A stream whose verdicts were renewed since this deadline was set is
                    # still fresh: it needs its next deadline whether or not anything changed.
                    # Overwritten rather than deleted first: deleting and re-adding 100k keys
                    # a round makes the dict resize, and RSS jump, every few rounds.
                    self._reschedule(key, step.due)
                    self._store(key, step)
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

    def tracked_keys(self) -> list[StreamKey]:
        with self._lock:
            return list(self._status)

    def all_attempted(self, keys: Iterable[StreamKey]) -> bool:
        with self._lock:
            return all(self._status[k].attempted for k in keys if k in self._status)
