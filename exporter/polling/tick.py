"""The tick: once a second, decide what is due and hand it to the dispatcher.

Why a tick and not one APScheduler job per stream: 100,000 streams would be 100,000 jobs, each
with its own trigger arithmetic and wake-up, and a reload would have to reschedule all of them.
Instead APScheduler runs this one job every second (what it is good at), and the due
arithmetic is pure (``schedule.due_between`` over each target's sorted phases, ``Progress``'s
next round times), so it is tested with a fake clock.

The ticker owns one piece of state: when each stream's scheduled poll was last dispatched, so
that a stream polled off-phase (at start, or as a new stream after a reload) does not get its
next slot right after. Everything else it reads from its owners.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence

from exporter.model import StreamKey, StreamState
from exporter.polling.context import Context
from exporter.polling.list_round import ListRound
from exporter.polling.periodic import PeriodicSchedule
from exporter.polling.push_round import PushRound
from exporter.polling.state_poll import StatePoll
from exporter.runtime.plan import TargetSpec
from exporter.runtime.snapshot import Runtime
from exporter.schedule import due_between

TICK_SECONDS = 1.0


class Ticker:
    def __init__(self, periodic: PeriodicSchedule | None = None) -> None:
        self.periodic = periodic or PeriodicSchedule()
        self._lock = threading.Lock()
        self._last_dispatch: dict[StreamKey, float] = {}
        self._prev: float | None = None

    def forget(self, keys: Iterable[StreamKey]) -> None:
        with self._lock:
            for key in keys:
                self._last_dispatch.pop(key, None)

    def apply(self, ctx: Context, runtime: Runtime, now: float) -> None:
        """Start, or continue after a reload: streams polled before keep their slot; the rest
        of the state-mode streams are polled at once, then whatever rounds are due."""
        tracked: set[StreamKey] = set()
        for t in runtime.targets:
            view = ctx.membership.view(t.name)
            if view is not None:
                tracked.update(view.keys)
        with self._lock:
            self._last_dispatch = {k: v for k, v in self._last_dispatch.items() if k in tracked}
            if self._prev is None:
                # At start only: a reload must not move the window the next tick looks at, or
                # the slots since the last tick would be skipped (a reload loop would starve
                # polling).
                self._prev = now
        for t in runtime.targets:
            if ctx.progress.mode(t.name) == "state":
                with self._lock:
                    fresh = [k for k in t.keys if k not in self._last_dispatch]
                self._dispatch_states(ctx, t, fresh, now)
        self._dispatch_rounds(ctx, runtime, now)

    def tick(self, ctx: Context, runtime: Runtime, now: float) -> None:
        with self._lock:
            prev = self._prev if self._prev is not None else now
            self._prev = now
        for t in runtime.targets:
            mode = ctx.progress.mode(t.name)
            view = ctx.membership.view(t.name)
            if view is None or mode is None:
                continue
            if mode == "state":
                self._due_states(ctx, t, view.phases, t.interval, prev, now)
                continue
            acc = ctx.account(t.account)
            if acc is not None and acc.guard.forbid_supported is False:
                # No forbid list for this account: ban checks fall back to state polls of the
                # streams that are not online, at the (slow) forbid-check cadence.
                self._due_states(
                    ctx, t, view.forbid_phases, t.forbid_interval, prev, now, only_offline=True
                )
        self._dispatch_rounds(ctx, runtime, now)
        wall = ctx.wall()
        ctx.store.tick(wall)
        # Schedules change with time: re-render the streams whose window opened or closed.
        ctx.exposition.schedule_tick(wall)

    def _due_states(
        self,
        ctx: Context,
        t: TargetSpec,
        slots: Sequence[tuple[float, StreamKey]],
        interval: float,
        prev: float,
        now: float,
        only_offline: bool = False,
    ) -> None:
        min_gap = interval / 2
        with self._lock:
            last = self._last_dispatch
            due = [
                key
                for key in due_between(slots, interval, prev, now)
                # The first round went out at start, off-phase: a slot soon after it would
                # poll the stream twice in a row. Later gaps are exactly one interval.
                if now - last.get(key, -min_gap) >= min_gap
            ]
        if only_offline and due:
            statuses = ctx.store.get_many(due)
            due = [
                k
                for k, s in zip(due, statuses, strict=True)
                if s is not None and s.state is not StreamState.ACTIVE
            ]
        self._dispatch_states(ctx, t, due, now)

    def _dispatch_states(
        self, ctx: Context, t: TargetSpec, keys: Iterable[StreamKey], now: float
    ) -> None:
        for key in keys:
            if ctx.dispatcher.dispatch(StatePoll(ctx, t, key, now, scheduled=True)):
                with self._lock:
                    self._last_dispatch[key] = now

    def _dispatch_rounds(self, ctx: Context, runtime: Runtime, now: float) -> None:
        for t, kind in ctx.progress.take_due(now):
            job = ListRound(ctx, t, now) if kind == "round" else PushRound(ctx, t)
            ctx.dispatcher.dispatch(job)
        for name, periodic in self.periodic.take_due(runtime, dict(ctx.dispatcher.accounts), now):
            targets = tuple(t for t in runtime.targets if t.account == name)
            ctx.dispatcher.dispatch(periodic.make(ctx, name, targets))
