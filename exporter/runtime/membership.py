"""Membership: the one owner of which streams are tracked.

Configured streams come from the runtime snapshot; discovered ones are added by list rounds and
push callbacks and dropped after their retention. Both the state store and the exposition must
hold exactly the tracked streams, so every change of membership goes through this owner, which
serialises them: a reload (``apply``) and a discovery never interleave, and a stream discovered
while a reload runs is either kept by it or discovered into the new snapshot's target.

Discovered streams belong to (account, domain, app), not to a runtime: they survive every reload
that keeps a discovering target there, however the target is renamed.

A stream first heard of in a push callback is tracked *provisionally*: shown at once, but it takes
a ``max_streams`` slot only once a list round lists it, and it is dropped when a round or two go
by without that. A flood of pushes for unknown streams (forged with a replayed signature, or
genuine but short-lived) can so neither fill discovery nor grow without bound: at most
``PROVISIONAL_MAX`` per target wait for confirmation.

Lock order: Membership -> StateStore and Membership -> Exposition (both are leaves).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass
from functools import cached_property

from exporter import rounds
from exporter.exposition import Exposition
from exporter.model import StreamKey, StreamState
from exporter.runtime.plan import Plan, StreamSpec, TargetSpec
from exporter.runtime.snapshot import Runtime
from exporter.schedule import phases
from exporter.state import Policy, StateStore

Where = tuple[str, str, str]

# Streams per target known only from push callbacks and waiting for a list round to confirm them.
PROVISIONAL_MAX = 1000

TRACKED = "tracked"
PROVISIONAL = "provisional"
REFUSED = "refused"


@dataclass(frozen=True, eq=False)
class TargetView:
    """The streams one target tracks, at one moment; replaced, never changed.

    A round may iterate it while a callback discovers a stream; it is kept between rounds
    because at 100k streams building the index costs 5 MB and 30 ms.
    """

    target: TargetSpec
    keys: tuple[StreamKey, ...]  # configured, then discovered, then provisional
    index: Mapping[str, StreamKey]
    discovered: int  # confirmed discovered streams (they count against max_streams)

    @cached_property
    def phases(self) -> list[tuple[float, StreamKey]]:
        return phases(self.keys, self.target.interval)

    @cached_property
    def forbid_phases(self) -> list[tuple[float, StreamKey]]:
        return phases(self.keys, self.target.forbid_interval)


class Membership:
    def __init__(self, store: StateStore, exposition: Exposition) -> None:
        self._store = store
        self._exposition = exposition
        self._lock = threading.Lock()
        self._runtime: Runtime | None = None
        self._discovered: dict[Where, dict[StreamKey, float]] = {}  # key -> time added
        self._provisional: dict[Where, dict[StreamKey, float]] = {}  # key -> time heard of
        self._views: dict[str, TargetView] = {}
        self._configured: dict[str, frozenset[str]] = {}  # target -> configured stream names
        # (tracked, discovered) per target, replaced after every change: read without the lock,
        # so a scrape never waits for a reload's membership work (seconds at 100k streams).
        self._counts: Mapping[str, tuple[int, int]] = {}

    def apply(self, runtime: Runtime, plan: Plan) -> None:
        """Make the tracked streams those of ``runtime``: configured ones from ``plan``, plus
        the discovered streams of every target that still discovers."""
        with self._lock:
            wanted: dict[StreamKey, StreamSpec] = dict(plan.specs)
            policies: dict[StreamKey, Policy] = dict(plan.policies)
            discovered: dict[Where, dict[StreamKey, float]] = {}
            provisional: dict[Where, dict[StreamKey, float]] = {}
            for t in runtime.targets:
                if not t.discovers:
                    continue
                spec = StreamSpec(t.labels, None)
                for store, kept in (
                    (self._discovered, discovered),
                    (self._provisional, provisional),
                ):
                    prior = store.get(t.where, {})
                    mine = kept[t.where] = {k: v for k, v in prior.items() if k not in wanted}
                    for key in mine:
                        wanted[key] = spec
                        policies[key] = t.policy
            for key in self._store.tracked_keys():
                if key not in wanted:
                    self._store.remove(key)
                    self._exposition.remove_stream(key)
            self._exposition.set_streams(
                (key, spec.extra, spec.down_after, spec.watch) for key, spec in wanted.items()
            )
            self._store.add_many((key, policies[key]) for key in wanted)
            self._discovered = discovered
            self._provisional = provisional
            self._runtime = runtime
            self._views = {}
            self._configured = {}
            self._publish_counts()

    def view(self, name: str) -> TargetView | None:
        """The streams target ``name`` of the current runtime tracks; None if there is none."""
        with self._lock:
            return self._view(name)

    def _view(self, name: str) -> TargetView | None:
        view = self._views.get(name)
        if view is not None:
            return view
        target = self._runtime.target(name) if self._runtime is not None else None
        if target is None:
            return None
        found = self._discovered.get(target.where, {}) if target.discovers else {}
        waiting = self._provisional.get(target.where, {}) if target.discovers else {}
        keys = (*target.keys, *found, *waiting) if found or waiting else target.keys
        view = TargetView(target, keys, {k.stream: k for k in keys}, len(found))
        self._views[name] = view
        return view

    def discover(
        self, name: str, streams: Sequence[str], now: float
    ) -> tuple[list[StreamKey], int]:
        """Start tracking ``streams`` for target ``name``, within its ``max_streams``: returns
        the keys added and how many more were left out by the cap. A target that does not
        discover (any more) adds nothing."""
        with self._lock:
            target = self._runtime.target(name) if self._runtime is not None else None
            if target is None or not target.discovers:
                return [], 0
            found = self._discovered.setdefault(target.where, {})
            configured = self._configured.get(name)
            if configured is None:
                configured = self._configured[name] = frozenset(k.stream for k in target.keys)
            # Checked against the discovered dict, not a view: a flood of callbacks must not
            # rebuild a 100k-entry index each. A stream another discovery added meanwhile (a
            # callback during a round) is simply kept.
            waiting = self._provisional.get(target.where, {})
            new = [
                key
                for stream in dict.fromkeys(streams)
                if stream not in configured
                and (key := StreamKey(target.account, target.domain, target.app, stream))
                not in found
                and key not in waiting
            ]
            room = max(0, target.max_streams - len(found))
            added, capped = new[:room], len(new) - min(room, len(new))
            for key in added:
                found[key] = now
                self._exposition.set_stream(key, target.labels, None)
                self._store.add(key, target.policy)
            if added:
                self._views.pop(name, None)
                self._publish_counts()
            return added, capped

    def pushed(self, name: str, stream: str, now: float) -> str:
        """A push callback for ``stream`` of target ``name``: TRACKED if it is tracked (or now
        is, provisionally: PROVISIONAL), REFUSED when the target does not discover or too many
        streams already wait for confirmation."""
        with self._lock:
            target = self._runtime.target(name) if self._runtime is not None else None
            if target is None:
                return REFUSED
            key = StreamKey(target.account, target.domain, target.app, stream)
            if key in self._discovered.get(target.where, {}) or key in target.keys:
                return TRACKED
            if not target.discovers:
                return REFUSED
            waiting = self._provisional.setdefault(target.where, {})
            if key in waiting:
                return PROVISIONAL
            if len(waiting) >= PROVISIONAL_MAX:
                return REFUSED
            waiting[key] = now
            self._exposition.set_stream(key, target.labels, None)
            self._store.add(key, target.policy)
            self._views.pop(name, None)
            self._publish_counts()
            return PROVISIONAL

    def settle(self, name: str, listed: Set[str], started: float, grace: float) -> int:
        """After a list round that began at ``started``: provisional streams it listed become
        discovered (within max_streams), those heard of more than ``grace`` before it and not
        listed are dropped. Returns how many listed ones the cap left out (dropped too)."""
        with self._lock:
            target = self._runtime.target(name) if self._runtime is not None else None
            if target is None or not target.discovers:
                return 0
            waiting = self._provisional.get(target.where, {})
            if not waiting:
                return 0
            found = self._discovered.setdefault(target.where, {})
            over = 0
            for key, heard in list(waiting.items()):
                if key.stream in listed:
                    del waiting[key]
                    if len(found) < target.max_streams:
                        found[key] = heard
                        continue
                    over += 1
                elif heard < started - grace:
                    del waiting[key]
                else:
                    continue
                self._store.remove(key)
                self._exposition.remove_stream(key)
            self._views.pop(name, None)
            self._publish_counts()
            return over

    def drop_expired(self, name: str, now: float) -> list[StreamKey]:
        """Stop tracking the discovered streams of ``name`` not seen active for its retention."""
        with self._lock:
            target = self._runtime.target(name) if self._runtime is not None else None
            if target is None or not target.discovers:
                return []
            found = self._discovered.get(target.where, {})
            keys = list(found)
            statuses = self._store.get_many(keys)
            gone = [
                k
                for k, s in zip(keys, statuses, strict=True)
                if s is not None
                and s.state is not StreamState.ACTIVE
                and rounds.expired(s.last_active, found[k], now, target.retention)
            ]
            for key in gone:
                del found[key]
                self._store.remove(key)
                self._exposition.remove_stream(key)
            if gone:
                self._views.pop(name, None)
                self._publish_counts()
            return gone

    def discovered(self, where: Where) -> dict[StreamKey, float]:
        """A copy of the streams discovered for (account, domain, app) (tests, status)."""
        with self._lock:
            return dict(self._discovered.get(where, {}))

    def counts(self, name: str) -> tuple[int, int]:
        """(streams tracked, of which discovered) for target ``name``; never waits."""
        return self._counts.get(name, (0, 0))

    def _publish_counts(self) -> None:
        """Callers hold the lock."""
        counts: dict[str, tuple[int, int]] = {}
        for target in self._runtime.targets if self._runtime is not None else ():
            if not target.discovers:
                counts[target.name] = (len(target.keys), 0)
                continue
            found = len(self._discovered.get(target.where, {}))
            waiting = len(self._provisional.get(target.where, {}))
            counts[target.name] = (len(target.keys) + found + waiting, found)
        self._counts = counts
