"""The simulated account: streams, their states over time, and indices for the list APIs.

Single-stream reads (``state_of``) evaluate the pure model directly and take no lock. The list
APIs read indices (active streams per domain, forbidden streams) that are brought up to date by
``advance()``, which pops due transitions off a heap of next-change times; the same call is what
the background ticker uses to emit state changes to listeners (callbacks), so a world of 100k
streams costs nothing per tick unless something actually changes.
"""

from __future__ import annotations

import bisect
import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, NamedTuple

from exporter.simulator.generate import GenerateSpec, generate_specs
from exporter.simulator.history import SimHistory
from exporter.simulator.model import (
    ACTIVE,
    BOUNDARY_EPSILON,
    FORBID,
    INACTIVE,
    ForbidInfo,
    Phase,
    Quality,
    StreamKey,
    StreamSpec,
    next_change,
    run_start,
    state_at,
)

if TYPE_CHECKING:
    from exporter.simulator.scenario import Scenario

log = logging.getLogger(__name__)

Clock = Callable[[], float]

# When the clock jumps far ahead (fake clocks, a suspended laptop) only the net change of each
# stream is reported instead of replaying every missed transition.
MAX_REPLAY_LAG = 300.0

FORBID_DEFAULT_SECONDS = 90 * 86400  # ForbidLiveStream forbids for 90 days by default


class StreamStatus(NamedTuple):
    domain: str
    app: str
    stream: str
    state: str


class StateChange(NamedTuple):
    """One stream changing state; ``previous_since`` is when the ended run began."""

    domain: str
    app: str
    stream: str
    old: str
    new: str
    at: float
    previous_since: float
    quality: Quality
    # Why a push ended (an interrupt callback's errcode, the event list's StopReason): 1 is
    # the encoder's own stop (simulator/history.py has the table).
    errcode: int = 1


class OnlineStream(NamedTuple):
    # A tuple, not a frozen dataclass: a 20k-stream page builds 20k of them, and a frozen
    # dataclass's __init__ was a third of the page.
    domain: str
    app: str
    stream: str
    since: float
    quality: Quality


@dataclass(frozen=True)
class ForbiddenStream:
    domain: str
    app: str
    stream: str
    create_time: float
    expire_time: float


class _Entry:
    __slots__ = ("anchor", "since", "spec", "state", "version")

    def __init__(self, spec: StreamSpec, anchor: float, version: int) -> None:
        self.spec = spec
        self.anchor = anchor
        self.version = version
        self.state = state_at(spec, anchor, anchor)
        self.since = run_start(spec, anchor, anchor)


Listener = Callable[[list[StateChange]], None]


class World:
    """Streams of one simulated account. Thread-safe."""

    def __init__(
        self,
        specs: Iterable[StreamSpec] = (),
        clock: Clock = time.time,
        *,
        scenario: Scenario | None = None,
    ) -> None:
        self._clock = clock
        self.scenario = scenario
        self._lock = threading.RLock()
        self._entries: dict[StreamKey, _Entry] = {}
        self._domains: dict[str, int] = {}
        self._active: dict[str, list[tuple[str, str]]] = {}
        self._forbid: list[StreamKey] = []
        self._heap: list[tuple[float, int, StreamKey, int]] = []
        self._seq = itertools.count()
        self._versions = itertools.count(1)
        self._listeners: list[Listener] = []
        # Push sessions and the callbacks sent (DescribeLiveStreamEventList and
        # DescribeCallbackRecordsList): recorded from the changes, in order.
        self.history = SimHistory()
        self.started = clock()
        self._bulk_load(specs, self.started)

    # construction -------------------------------------------------------------------------

    @classmethod
    def from_scenario(cls, scenario: Scenario, clock: Clock = time.time) -> World:
        specs: list[StreamSpec] = []
        if scenario.generate is not None:
            specs.extend(generate_specs(scenario.generate))
        specs.extend(scenario.streams)  # explicit streams win over generated ones
        return cls(specs, clock, scenario=scenario)

    @classmethod
    def generate(
        cls,
        n: int,
        seed: int = 0,
        clock: Clock = time.time,
        *,
        domains: Sequence[str] | None = None,
        timeline_fraction: float = 0.1,
    ) -> World:
        spec = GenerateSpec(count=n, seed=seed, timeline_fraction=timeline_fraction)
        if domains:
            spec = replace(spec, domains=tuple(domains))
        return cls(generate_specs(spec), clock)

    def _bulk_load(self, specs: Iterable[StreamSpec], now: float) -> None:
        for spec in specs:
            self._entries[spec.key] = _Entry(spec, now, next(self._versions))
        for key, entry in self._entries.items():
            self._domains[key[0]] = self._domains.get(key[0], 0) + 1
            if entry.state == ACTIVE:
                self._active.setdefault(key[0], []).append((key[1], key[2]))
            elif entry.state == FORBID:
                self._forbid.append(key)
            nxt = next_change(entry.spec, now, now)
            if nxt is not None:
                self._heap.append((nxt, next(self._seq), key, entry.version))
        for names in self._active.values():
            names.sort()
        self._forbid.sort()
        heapq.heapify(self._heap)

    # clock and listeners ------------------------------------------------------------------

    @property
    def clock(self) -> Clock:
        return self._clock

    def now(self) -> float:
        return self._clock()

    def subscribe(self, listener: Listener) -> None:
        """Call ``listener`` with every batch of state changes.

        Listeners run under the world lock (so batches arrive in order) and must be quick and
        must not block: hand the changes to a queue.
        """
        with self._lock:
            self._listeners.append(listener)

    def unsubscribe(self, listener: Listener) -> None:
        with self._lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    def _notify(self, changes: list[StateChange]) -> None:
        if not changes:
            return
        self.history.on_changes(changes)
        for listener in self._listeners:
            try:
                listener(changes)
            except Exception:
                log.exception("state-change listener failed")

    # time ---------------------------------------------------------------------------------

    def advance(self, now: float | None = None) -> list[StateChange]:
        """Apply every timeline transition due by ``now``; returns (and notifies) the changes."""
        with self._lock:
            changes: list[StateChange] = []
            self._advance_locked(self._clock() if now is None else now, changes)
            self._notify(changes)
            return changes

    def _advance_locked(self, now: float, changes: list[StateChange]) -> None:
        heap = self._heap
        while heap and heap[0][0] <= now:
            due, _, key, version = heapq.heappop(heap)
            entry = self._entries.get(key)
            if entry is None or entry.version != version:
                continue
            if due < now - MAX_REPLAY_LAG:
                due = now
            probe = due + BOUNDARY_EPSILON
            new = state_at(entry.spec, entry.anchor, probe)
            if new != entry.state:
                since = min(run_start(entry.spec, entry.anchor, probe), due)
                self._transition(entry, key, new, due, since, changes)
            nxt = next_change(entry.spec, entry.anchor, probe)
            if nxt is not None:
                heapq.heappush(heap, (nxt, next(self._seq), key, version))

    def _transition(
        self,
        entry: _Entry,
        key: StreamKey,
        new: str,
        at: float,
        since: float,
        changes: list[StateChange],
    ) -> None:
        old = entry.state
        self._index_remove(key, old)
        self._index_add(key, new)
        changes.append(StateChange(*key, old, new, at, entry.since, entry.spec.quality))
        entry.state = new
        entry.since = since

    # indices ------------------------------------------------------------------------------

    def _index_add(self, key: StreamKey, state: str) -> None:
        if state == ACTIVE:
            bisect.insort(self._active.setdefault(key[0], []), (key[1], key[2]))
        elif state == FORBID:
            bisect.insort(self._forbid, key)

    def _index_remove(self, key: StreamKey, state: str) -> None:
        if state == ACTIVE:
            names = self._active.get(key[0], [])
            item = (key[1], key[2])
            i = bisect.bisect_left(names, item)
            if i < len(names) and names[i] == item:
                del names[i]
        elif state == FORBID:
            i = bisect.bisect_left(self._forbid, key)
            if i < len(self._forbid) and self._forbid[i] == key:
                del self._forbid[i]

    # mutation -----------------------------------------------------------------------------

    def put(self, spec: StreamSpec, errcode: int = 1) -> StreamStatus:
        """Add or replace a stream; its timeline restarts now. ``errcode``: why a push this
        ends stopped."""
        with self._lock:
            now = self._clock()
            changes: list[StateChange] = []
            self._advance_locked(now, changes)
            key = spec.key
            old = self._entries.get(key)
            entry = _Entry(spec, now, next(self._versions))
            if old is None:
                self._domains[key[0]] = self._domains.get(key[0], 0) + 1
                old_state, old_since = INACTIVE, now
            else:
                old_state, old_since = old.state, old.since
                self._index_remove(key, old_state)
            if entry.state == old_state and old is not None:
                entry.since = old_since  # same run continues: keep push start / sequence
            self._entries[key] = entry
            self._index_add(key, entry.state)
            if entry.state != old_state:
                changes.append(
                    StateChange(*key, old_state, entry.state, now, old_since, spec.quality, errcode)
                )
            nxt = next_change(spec, now, now)
            if nxt is not None:
                heapq.heappush(self._heap, (nxt, next(self._seq), key, entry.version))
            self._notify(changes)
            return StreamStatus(*key, entry.state)

    def add_stream(
        self,
        domain: str,
        app: str,
        stream: str,
        *,
        state: str | None = None,
        timeline: Sequence[tuple[str, float]] | None = None,
        repeat: bool = True,
        offset: float = 0.0,
        quality: Quality | None = None,
        forbid: ForbidInfo | None = None,
    ) -> StreamStatus:
        """Add or replace a stream with a fixed ``state`` (default active) or a ``timeline``."""
        phases = tuple(Phase(s, float(d)) for s, d in timeline) if timeline else ()
        spec = StreamSpec(
            domain,
            app,
            stream,
            state=state or ACTIVE,
            timeline=phases,
            repeat=repeat,
            offset=offset,
            quality=quality or Quality(),
            forbid=forbid,
        )
        return self.put(spec)

    def set_state(
        self, domain: str, app: str, stream: str, state: str, errcode: int = 1
    ) -> StreamStatus:
        """Fix a known stream's state from now on (drops its timeline); KeyError if unknown.
        ``errcode``: why its push stopped, if it was on air (1: the encoder stopped it)."""
        with self._lock:
            entry = self._entries.get((domain, app, stream))
            if entry is None:
                raise KeyError(f"unknown stream {domain}/{app}/{stream}")
            spec = replace(entry.spec, state=state, timeline=(), offset=0.0)
            return self.put(spec, errcode)

    def remove_stream(self, domain: str, app: str, stream: str) -> None:
        """Remove a stream (it stops pushing if it was active); KeyError if unknown."""
        key = (domain, app, stream)
        with self._lock:
            now = self._clock()
            changes: list[StateChange] = []
            self._advance_locked(now, changes)
            entry = self._entries.pop(key, None)
            if entry is None:
                raise KeyError(f"unknown stream {domain}/{app}/{stream}")
            self._index_remove(key, entry.state)
            remaining = self._domains[domain] - 1
            if remaining:
                self._domains[domain] = remaining
            else:
                del self._domains[domain]
                self._active.pop(domain, None)
            if entry.state != INACTIVE:
                changes.append(
                    StateChange(*key, entry.state, INACTIVE, now, entry.since, entry.spec.quality)
                )
            self._notify(changes)

    # queries ------------------------------------------------------------------------------

    def state_of(self, domain: str, app: str, stream: str) -> str:
        """State now; a stream the world does not know is ``inactive``, as with the real API."""
        entry = self._entries.get((domain, app, stream))
        if entry is None:
            return INACTIVE
        return state_at(entry.spec, entry.anchor, self._clock())

    def spec_of(self, domain: str, app: str, stream: str) -> StreamSpec | None:
        entry = self._entries.get((domain, app, stream))
        return entry.spec if entry is not None else None

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def domains(self) -> list[str]:
        with self._lock:
            return sorted(self._domains)

    def streams(self) -> list[StreamStatus]:
        with self._lock:
            changes: list[StateChange] = []
            self._advance_locked(self._clock(), changes)
            self._notify(changes)
            return [StreamStatus(*key, self._entries[key].state) for key in sorted(self._entries)]

    def counts(self) -> dict[str, int]:
        """Number of streams per state (from the indices; cheap at any size)."""
        with self._lock:
            active = sum(len(names) for names in self._active.values())
            forbid = len(self._forbid)
            return {
                ACTIVE: active,
                FORBID: forbid,
                INACTIVE: len(self._entries) - active - forbid,
            }

    def online(
        self,
        domain: str | None,
        app: str | None,
        start: int,
        stop: int,
        stream: str | None = None,
    ) -> tuple[int, list[OnlineStream]]:
        """Active streams ordered by (domain, app, stream): total and the ``[start:stop]`` slice."""
        with self._lock:
            changes: list[StateChange] = []
            self._advance_locked(self._clock(), changes)
            self._notify(changes)
            domains = [domain] if domain is not None else sorted(self._active)
            ranges: list[tuple[str, list[tuple[str, str]], int, int]] = []
            for d in domains:
                names = self._active.get(d, [])
                if app is not None:
                    lo = bisect.bisect_left(names, (app,))
                    hi = bisect.bisect_left(names, (app + "\x00",))
                else:
                    lo, hi = 0, len(names)
                if stream is not None:
                    hits = [i for i in range(lo, hi) if names[i][1] == stream]
                    for i in hits:
                        ranges.append((d, names, i, i + 1))
                elif hi > lo:
                    ranges.append((d, names, lo, hi))
            total = sum(hi - lo for _, _, lo, hi in ranges)
            out: list[OnlineStream] = []
            skip = start
            for d, names, lo, hi in ranges:
                if len(out) >= stop - start:
                    break
                size = hi - lo
                if skip >= size:
                    skip -= size
                    continue
                take = min(hi, lo + skip + (stop - start - len(out)))
                for a, s in names[lo + skip : take]:
                    entry = self._entries[(d, a, s)]
                    out.append(OnlineStream(d, a, s, entry.since, entry.spec.quality))
                skip = 0
            return total, out

    def forbidden(
        self, stream: str | None, start: int, stop: int
    ) -> tuple[int, list[ForbiddenStream]]:
        """Forbidden streams ordered by (domain, app, stream): total and a slice."""
        with self._lock:
            changes: list[StateChange] = []
            self._advance_locked(self._clock(), changes)
            self._notify(changes)
            keys = self._forbid if stream is None else [k for k in self._forbid if k[2] == stream]
            out: list[ForbiddenStream] = []
            for key in keys[start:stop]:
                entry = self._entries[key]
                info = entry.spec.forbid or ForbidInfo()
                created = info.create_time if info.create_time is not None else entry.since
                expires = (
                    info.expire_time
                    if info.expire_time is not None
                    else created + FORBID_DEFAULT_SECONDS
                )
                out.append(ForbiddenStream(*key, created, expires))
            return len(keys), out
