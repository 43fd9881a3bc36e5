"""Polling: APScheduler ticks dispatch due streams to per-account worker pools.

The tick only decides what is due (pure arithmetic in schedule.py) and queues it; workers take
a slot from the account's pacer, call the API and hand the observation to the store. Nothing
here blocks a scrape, and a stream whose previous poll has not finished is skipped, not queued
twice, so a slow API shows up as lag and skips instead of unbounded queues.
"""

from __future__ import annotations

import functools
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from apscheduler.schedulers.background import BackgroundScheduler

from exporter import cssapi
from exporter.client import CssClient
from exporter.metrics import ExporterMetrics
from exporter.model import ApiError, ErrorClass, Observation, Source, StreamKey
from exporter.ratelimit import Backoff, RateLimiter
from exporter.schedule import due_between, phases
from exporter.state import StateStore

log = logging.getLogger(__name__)

TICK_SECONDS = 1.0


@dataclass
class TargetPlan:
    name: str
    account: str
    keys: list[StreamKey]
    interval: float  # effective, after stretching to fit the budget
    configured_interval: float
    stale_after: float
    phases: list[tuple[float, StreamKey]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.phases:
            self.phases = phases(self.keys, self.interval)


@dataclass
class AccountRuntime:
    name: str
    client: CssClient
    limiter: RateLimiter
    backoff: Backoff
    workers: int


_STOP = object()


def _getter(obj: object, attr: str) -> Callable[[], float]:
    return lambda: float(getattr(obj, attr))


class Poller:
    def __init__(
        self,
        plans: Sequence[TargetPlan],
        accounts: dict[str, AccountRuntime],
        store: StateStore,
        metrics: ExporterMetrics,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.plans = list(plans)
        self.accounts = accounts
        self.store = store
        self.metrics = metrics
        self._clock = clock
        self._wall = wall
        self._queues: dict[str, queue.SimpleQueue[object]] = {
            a: queue.SimpleQueue() for a in accounts
        }
        self._pending: set[StreamKey] = set()
        self._last_dispatch: dict[StreamKey, float] = {}
        self._pending_lock = threading.Lock()
        self._queued: dict[str, int] = dict.fromkeys(accounts, 0)
        self._threads: list[threading.Thread] = []
        self._scheduler: BackgroundScheduler | None = None
        self._last_tick: float | None = None
        self._stale_after = {k: p.stale_after for p in plans for k in p.keys}
        self._ready = False
        self._account_failing: dict[str, str | None] = dict.fromkeys(accounts)
        self._wire_metrics()

    def _wire_metrics(self) -> None:
        m = self.metrics
        for name, acc in self.accounts.items():
            m.budget.labels(name, cssapi.STATE).set(acc.limiter.max_rate)
            m.allowed_rate.labels(name, cssapi.STATE).set_function(_getter(acc.limiter, "rate"))
            m.backoff.labels(name).set_function(_getter(acc.backoff, "delay"))
            m.queue.labels(name).set_function(functools.partial(self._queued.__getitem__, name))
            m.workers.labels(name).set(acc.workers)
        for plan in self.plans:
            m.target_streams.labels(plan.account, plan.name).set(len(plan.keys))
            m.target_interval.labels(plan.account, plan.name).set(plan.interval)
            m.target_configured_interval.labels(plan.account, plan.name).set(
                plan.configured_interval
            )
            m.poll_lag.labels(plan.account, plan.name).set(0)
            for reason in ("pending", "backoff"):
                m.polls_skipped.labels(plan.account, plan.name, reason)
        m.ready.set_function(lambda: 1 if self.ready() else 0)

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        for name, acc in self.accounts.items():
            for i in range(acc.workers):
                t = threading.Thread(
                    target=self._worker, args=(name,), name=f"poll-{name}-{i}", daemon=True
                )
                t.start()
                self._threads.append(t)
        now = self._clock()
        # The first round goes out at once (paced by the budget) so that the exporter is
        # ready as soon as the budget allows; later rounds follow each stream's phase.
        for plan in self.plans:
            for key in plan.keys:
                self._dispatch(plan, key, now)
        self._last_tick = now
        self._scheduler = BackgroundScheduler(daemon=True)
        self._scheduler.add_job(
            self.tick,
            "interval",
            seconds=TICK_SECONDS,
            id="tick",
            max_instances=1,
            coalesce=True,
            misfire_grace_time=None,
        )
        self._scheduler.start()

    def stop(self, timeout: float = 2.0) -> None:
        """Stop dispatching, wake workers waiting for a slot, and wait briefly for in-flight
        calls; workers are daemons, so a call stuck in its timeout cannot hold up exit."""
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None
        for acc in self.accounts.values():
            acc.limiter.close()
        for name, q in self._queues.items():
            for _ in range(self.accounts[name].workers):
                q.put(_STOP)
        deadline = self._clock() + timeout
        for t in self._threads:
            t.join(max(0.0, deadline - self._clock()))

    # -- scheduling ------------------------------------------------------------------------

    def tick(self) -> None:
        now = self._clock()
        prev = self._last_tick if self._last_tick is not None else now
        self._last_tick = now
        for plan in self.plans:
            min_gap = plan.interval / 2
            for key in due_between(plan.phases, plan.interval, prev, now):
                # The first round went out at start, off-phase: a slot soon after it would
                # poll the stream twice in a row. Later gaps are exactly one interval.
                last = self._last_dispatch.get(key)
                if last is not None and now - last < min_gap:
                    continue
                self._dispatch(plan, key, now)
        self.store.expire(self._wall(), self._stale_after.__getitem__)

    def _dispatch(self, plan: TargetPlan, key: StreamKey, due_at: float) -> None:
        with self._pending_lock:
            if key in self._pending:
                self.metrics.polls_skipped.labels(plan.account, plan.name, "pending").inc()
                return
            self._pending.add(key)
            self._last_dispatch[key] = due_at
            self._queued[plan.account] += 1
        self._queues[plan.account].put((plan, key, due_at))

    def _worker(self, account: str) -> None:
        q = self._queues[account]
        while True:
            item = q.get()
            if item is _STOP:
                return
            assert isinstance(item, tuple)
            plan: TargetPlan = item[0]
            key: StreamKey = item[1]
            due_at: float = item[2]
            try:
                self._poll(plan, key, due_at)
            except Exception:  # a bug in one poll must not kill the worker
                log.exception("poll of %s failed unexpectedly", key)
            finally:
                with self._pending_lock:
                    self._pending.discard(key)
                    self._queued[account] -= 1

    def _poll(self, plan: TargetPlan, key: StreamKey, due_at: float) -> None:
        acc = self.accounts[plan.account]
        if not acc.backoff.allow(self._clock()):
            self.metrics.polls_skipped.labels(plan.account, plan.name, "backoff").inc()
            self.store.mark_skipped(key)
            return
        if not acc.limiter.acquire():
            return  # stopping
        started_wall = self._wall()
        self.metrics.poll_lag.labels(plan.account, plan.name).set(max(0.0, self._clock() - due_at))
        result = acc.client.stream_state(key)
        if isinstance(result, ApiError):
            self._on_error(acc, result)
            obs = Observation(key, started_wall, Source.STATE_API, error=result)
        else:
            self._on_success(acc)
            obs = Observation(key, started_wall, Source.STATE_API, state=result)
        self.store.apply(obs)

    def _on_error(self, acc: AccountRuntime, err: ApiError) -> None:
        if err.error_class is ErrorClass.THROTTLED:
            acc.limiter.throttled()
        if err.error_class in (ErrorClass.AUTH, ErrorClass.ACCOUNT):
            acc.backoff.failure(self._clock())
            if self._account_failing[acc.name] != err.code:
                self._account_failing[acc.name] = err.code
                log.warning(
                    "account %s: %s (%s); backing off %.0fs between attempts",
                    acc.name,
                    err.code,
                    err.message,
                    acc.backoff.delay,
                )
        else:
            acc.backoff.neutral()
            if err.error_class is ErrorClass.CLIENT:
                log.error("account %s: request rejected: %s %s", acc.name, err.code, err.message)
            else:
                log.debug("account %s: %s %s", acc.name, err.code, err.message)

    def _on_success(self, acc: AccountRuntime) -> None:
        acc.backoff.success()
        if self._account_failing[acc.name] is not None:
            log.info("account %s: API calls succeed again", acc.name)
            self._account_failing[acc.name] = None

    def ready(self) -> bool:
        if not self._ready:
            self._ready = all(self.store.all_attempted(p.keys) for p in self.plans)
        return self._ready
