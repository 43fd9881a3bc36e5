"""The dispatcher: every account's lanes, and the set of chains that are pending.

It owns which lanes exist (they follow the runtime's accounts across reloads: an account whose
spec is unchanged keeps its lanes, queues and rate limiters; a changed one gets new ones, and
the old lanes' queued work is dropped and dispatched again by the next tick) and which chains of
work are pending, so that the same poll or round is never queued twice.

Lock order: the dispatcher's lock is never held while a lane is called.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass

from exporter import cssapi
from exporter.client import ApiClient
from exporter.polling.guard import AccountGuard
from exporter.polling.lanes import Job, Lane, lane_workers
from exporter.ratelimit import RateLimiter
from exporter.runtime.plan import AccountSpec


@dataclass(frozen=True)
class AccountLanes:
    spec: AccountSpec
    client: ApiClient
    guard: AccountGuard
    lanes: Mapping[str, Lane]  # by action

    def limiter(self, action: str) -> RateLimiter:
        return self.lanes[action].limiter

    @property
    def workers(self) -> int:
        return self.lanes[cssapi.STATE].workers

    def queued(self) -> int:
        return sum(lane.queued() for lane in self.lanes.values())


class Dispatcher:
    def __init__(
        self,
        on_skip: Callable[[str | None, str], None],
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], bool] | None = None,
        failed: Callable[[], None] | None = None,
    ) -> None:
        self._on_skip = on_skip
        self._failed = failed
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._pending: set[Hashable] = set()
        self._accounts: Mapping[str, AccountLanes] = {}  # replaced, never changed
        self._started = False

    # -- accounts ----------------------------------------------------------------------------

    def account(self, name: str) -> AccountLanes | None:
        return self._accounts.get(name)

    @property
    def accounts(self) -> Mapping[str, AccountLanes]:
        return self._accounts

    def set_accounts(
        self,
        specs: Mapping[str, AccountSpec],
        guards: Mapping[str, AccountGuard],
        client: Callable[[AccountSpec], ApiClient],
    ) -> None:
        """Lanes for ``specs``: kept where the spec is unchanged, new elsewhere; lanes of
        removed or changed accounts are stopped (their in-flight calls finish on their own)."""
        old = self._accounts
        new: dict[str, AccountLanes] = {}
        retired: list[AccountLanes] = []
        for name, spec in specs.items():
            prior = old.get(name)
            if prior is not None and prior.spec == spec and prior.guard is guards[name]:
                new[name] = prior
                continue
            if prior is not None:
                retired.append(prior)
            new[name] = self._lanes(spec, guards[name], client(spec))
        retired += [acc for name, acc in old.items() if name not in specs]
        with self._lock:
            self._accounts = new
            started = self._started
        if started:
            for name, acc in new.items():
                if old.get(name) is not acc:
                    for lane in acc.lanes.values():
                        lane.start()
        for acc in retired:
            for lane in acc.lanes.values():
                lane.stop()

    def _lanes(self, spec: AccountSpec, guard: AccountGuard, client: ApiClient) -> AccountLanes:
        lanes = {}
        for action in cssapi.ACTIONS:
            budget = spec.budgets[action]
            workers = spec.workers if action == cssapi.STATE else lane_workers(budget)
            limiter = RateLimiter(budget, clock=self._clock, sleep=self._sleep)
            lanes[action] = Lane(
                spec.name,
                action,
                limiter,
                guard,
                workers,
                self._clock,
                self.route,
                self.done,
                self._failed,
            )
        return AccountLanes(spec, client, guard, lanes)

    # -- work --------------------------------------------------------------------------------

    def dispatch(self, job: Job) -> bool:
        """Queue a chain unless the same one is pending (then count a skip)."""
        acc = self._accounts.get(job.account)
        if acc is None:
            return False
        with self._lock:
            duplicate = job.ident in self._pending
            if not duplicate:
                self._pending.add(job.ident)
        if duplicate:
            self._on_skip(job.target, "pending")
            return False
        acc.lanes[job.action].put(job)
        return True

    def route(self, job: Job) -> None:
        """The next step of a pending chain: to the front of its lane."""
        acc = self._accounts.get(job.account)
        if acc is None:
            job.not_sent("stopped")
            self.done(job)
            return
        acc.lanes[job.action].put(job, front=True)

    def done(self, job: Job) -> None:
        with self._lock:
            self._pending.discard(job.ident)

    def pending(self) -> int:
        with self._lock:
            return len(self._pending)

    def run_pending(self) -> int:
        """Run every queued step, continuations included, in the calling thread (tests)."""
        total = 0
        while True:
            ran = sum(
                lane.run_pending() for acc in self._accounts.values() for lane in acc.lanes.values()
            )
            if not ran:
                return total
            total += ran

    # -- lifecycle ---------------------------------------------------------------------------

    def alive(self) -> bool:
        """Every started lane's pacer and workers still run."""
        return all(lane.alive() for acc in self._accounts.values() for lane in acc.lanes.values())

    def start(self) -> None:
        with self._lock:
            self._started = True
            accounts = self._accounts
        for acc in accounts.values():
            for lane in acc.lanes.values():
                lane.start()

    def stop(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        accounts = self._accounts
        for acc in accounts.values():
            for lane in acc.lanes.values():
                lane.stop()
        for acc in accounts.values():
            for lane in acc.lanes.values():
                lane.join(deadline, time.monotonic)
