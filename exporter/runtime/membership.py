"""Membership: the one owner of which streams are tracked.

Configured streams come from the runtime snapshot; discovered ones are added by list rounds and
push callbacks and dropped after their retention. Both the state store and the exposition must
hold exactly the tracked streams, so every change of membership goes through this owner, which
serialises them: a reload (``apply``) and a discovery never interleave, and a stream discovered
while a reload runs is either kept by it or discovered into the new snapshot's target.

Discovered streams belong to (account, domain, app), not to a runtime: they survive every reload
that keeps a discovering target there, however the target is renamed.

Lock order: Membership -> StateStore and Membership -> Exposition (both are leaves).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
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


@dataclass(frozen=True, eq=False)
class TargetView:
    """The streams one target tracks, at one moment; replaced, never changed.

    A round may iterate it while a callback discovers a stream; it is kept between rounds
    because at 100k streams building the index costs 5 MB and 30 ms.
    """

    target: TargetSpec
    keys: tuple[StreamKey, ...]  # configured, then discovered
    index: Mapping[str, StreamKey]
    discovered: int

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
        self._views: dict[str, TargetView] = {}
        self._configured: dict[str, frozenset[str]] = {}  # target -> configured stream names

    def apply(self, runtime: Runtime, plan: Plan) -> None:
        """Make the tracked streams those of ``runtime``: configured ones from ``plan``, plus
        the discovered streams of every target that still discovers."""
        with self._lock:
            wanted: dict[StreamKey, StreamSpec] = dict(plan.specs)
            policies: dict[StreamKey, Policy] = dict(plan.policies)
            discovered: dict[Where, dict[StreamKey, float]] = {}
            for t in runtime.targets:
                if not t.discovers:
                    continue
                prior = self._discovered.get(t.where, {})
                kept = discovered[t.where] = {k: v for k, v in prior.items() if k not in wanted}
                spec = StreamSpec(t.labels, None)
                for key in kept:
                    wanted[key] = spec
                    policies[key] = t.policy
            for key in self._store.tracked_keys():
                if key not in wanted:
                    self._store.remove(key)
                    self._exposition.remove_stream(key)
            self._exposition.set_streams(
                (key, spec.extra, spec.down_after) for key, spec in wanted.items()
            )
            for key in wanted:
                self._store.add(key, policies[key])
            self._discovered = discovered
            self._runtime = runtime
            self._views = {}
            self._configured = {}

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
        keys = (*target.keys, *found) if found else target.keys
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
            new = [
                key
                for stream in dict.fromkeys(streams)
                if stream not in configured
                and (key := StreamKey(target.account, target.domain, target.app, stream))
                not in found
            ]
            room = max(0, target.max_streams - len(found))
            added, capped = new[:room], len(new) - min(room, len(new))
            for key in added:
                found[key] = now
                self._exposition.set_stream(key, target.labels, None)
                self._store.add(key, target.policy)
            if added:
                self._views.pop(name, None)
            return added, capped

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
            return gone

    def discovered(self, where: Where) -> dict[StreamKey, float]:
        """A copy of the streams discovered for (account, domain, app) (tests, status)."""
        with self._lock:
            return dict(self._discovered.get(where, {}))

    def counts(self, name: str) -> tuple[int, int]:
        """(streams tracked, of which discovered) for target ``name``, without building a view."""
        with self._lock:
            target = self._runtime.target(name) if self._runtime is not None else None
            if target is None:
                return 0, 0
            found = len(self._discovered.get(target.where, {})) if target.discovers else 0
            return len(target.keys) + found, found
