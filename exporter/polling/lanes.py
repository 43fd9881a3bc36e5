"""Lanes: per account and per API action, a queue, a pacer and a pool of workers.

Every action of every account has its own lane, so a throttled, backed-off or slow action
delays only its own work: a storm of RequestLimitExceeded on DescribeLiveStreamState cannot
hold up the online-list rounds of the same account. In a lane, the pacer takes the next job,
waits for an idle worker, asks the account guard whether a call may go out and waits for the
action's rate limiter; only then does a worker get the job. So no worker ever waits for a
limiter: workers only make calls, and a lane needs as many as its calls' latency takes.

A job makes one API call per run. A paged round is a chain of jobs (one per page), and a list
round continues with its push-info round on the push-info lane: each continuation goes to the
front of its lane, so rounds that have begun finish first. A chain is one entry of the
dispatcher's pending set from its first page to its last, so the same round is never queued
twice; a poll or round dispatched again while pending is skipped and counted.

Without started threads, ``Dispatcher.run_pending`` runs everything queued in the calling thread
(tests drive polling with a fake clock this way).

Lock order: Dispatcher -> nothing (it calls lanes after releasing its lock); a lane's lock is a
leaf; jobs run with no lock held.
"""

from __future__ import annotations

import collections
import logging
import math
import queue
import threading
from collections.abc import Callable, Hashable
from typing import Protocol

from exporter.polling.guard import AccountGuard
from exporter.ratelimit import RateLimiter

log = logging.getLogger(__name__)


class Job(Protocol):
    """One API call's worth of polling work."""

    ident: Hashable  # the same for every step of one chain; dispatched once at a time
    account: str
    action: str
    target: str | None  # for the skip counters
    domain: str | None  # the push domain the call is about (per-domain permissions)

    def run(self) -> Job | None:
        """Make the call and apply its answer; the next step of the chain, if any."""
        ...

    def not_sent(self, reason: str) -> None:
        """The call was not made: "backoff" (the account guard said no) or "stopped"."""
        ...


def lane_workers(budget: float, expected_latency: float = 0.25) -> int:
    """Workers a lane needs to keep its budget in flight (Little's law), 2 to 8 for the list
    actions; state polls are sized by the account (schedule.default_workers)."""
    return max(2, min(8, math.ceil(budget * expected_latency)))


_STOP = object()


class Lane:
    def __init__(
        self,
        account: str,
        action: str,
        limiter: RateLimiter,
        guard: AccountGuard,
        workers: int,
        clock: Callable[[], float],
        route: Callable[[Job], None],
        done: Callable[[Job], None],
        failed: Callable[[], None] | None = None,
    ) -> None:
        self.account = account
        self.action = action
        self.limiter = limiter
        self.guard = guard
        self.workers = workers
        self._clock = clock
        self._route = route
        self._done = done
        self._failed = failed
        self._cv = threading.Condition(threading.Lock())
        self._jobs: collections.deque[Job] = collections.deque()
        self._idle = workers
        self._handoff: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._stopping = False
        self._threaded = False  # start() was called: threads run the lane from its first job

    def put(self, job: Job, front: bool = False) -> None:
        with self._cv:
            if self._stopping:
                stopped = True
            else:
                stopped = False
                (self._jobs.appendleft if front else self._jobs.append)(job)
                self._cv.notify()
                if self._threaded and not self._threads:
                    self._spawn()
        if stopped:
            job.not_sent("stopped")
            self._done(job)

    def queued(self) -> int:
        with self._cv:
            return len(self._jobs)

    # -- one step ----------------------------------------------------------------------------

    def _admit(self, job: Job) -> bool:
        """Guard and limiter for one call; a job that may not go out is finished here."""
        if not self.guard.admit(self._clock(), job.domain):
            job.not_sent("backoff")
            self._done(job)
            return False
        if not self.limiter.acquire():
            job.not_sent("stopped")
            self._done(job)
            return False
        return True

    def _execute(self, job: Job) -> None:
        try:
            nxt = job.run()
        except Exception:  # a bug in one job must not kill the worker
            log.exception("%s job for account %s failed unexpectedly", self.action, self.account)
            if self._failed is not None:
                self._failed()
            nxt = None
        if nxt is None:
            self._done(job)
        else:
            self._route(nxt)

    def run_pending(self) -> int:
        """Run what is queued in the calling thread; returns how many steps ran."""
        count = 0
        while True:
            with self._cv:
                if not self._jobs:
                    return count
                job = self._jobs.popleft()
            if self._admit(job):
                self._execute(job)
            count += 1

    # -- threads -----------------------------------------------------------------------------

    def start(self) -> None:
        """Run the lane on threads from now on. They are started with the lane's first job:
        an action an account never uses (no play domains, say) costs no thread."""
        with self._cv:
            self._threaded = True
            if self._jobs and not self._threads:
                self._spawn()

    def _spawn(self) -> None:
        """Callers hold the lock."""
        name = f"{self.account}-{self.action.removeprefix('DescribeLive')}"
        self._threads = [threading.Thread(target=self._pace, name=f"pace-{name}", daemon=True)]
        self._threads += [
            threading.Thread(target=self._work, name=f"poll-{name}-{i}", daemon=True)
            for i in range(self.workers)
        ]
        for thread in self._threads:
            thread.start()

    def _pace(self) -> None:
        while True:
            with self._cv:
                while not self._stopping and not (self._jobs and self._idle > 0):
                    self._cv.wait()
                if self._stopping:
                    return
                job = self._jobs.popleft()
                self._idle -= 1
            try:
                admitted = self._admit(job)
            except Exception:  # a bug in admission must not stop the lane
                log.exception("admitting a %s job for account %s failed", self.action, self.account)
                if self._failed is not None:
                    self._failed()
                job.not_sent("stopped")
                self._done(job)
                admitted = False
            if admitted:
                self._handoff.put(job)
            else:
                self._release()

    def _release(self) -> None:
        with self._cv:
            self._idle += 1
            self._cv.notify()

    def _work(self) -> None:
        while True:
            item = self._handoff.get()
            if item is _STOP:
                return
            job: Job = item  # type: ignore[assignment]
            try:
                with self._cv:
                    stopping = self._stopping
                if stopping:
                    job.not_sent("stopped")
                    self._done(job)
                else:
                    self._execute(job)
            finally:
                self._release()

    def alive(self) -> bool:
        """The pacer and the workers run (True before start and once stopped)."""
        with self._cv:
            stopping = self._stopping
        return stopping or all(thread.is_alive() for thread in self._threads)

    def stop(self) -> list[Job]:
        """Stop taking work and wake every thread; returns the jobs that were still queued
        (finished as not sent). Threads are joined by ``join``."""
        with self._cv:
            self._stopping = True
            left = list(self._jobs)
            self._jobs.clear()
            self._cv.notify_all()
        self.limiter.close()
        for _ in range(self.workers):
            self._handoff.put(_STOP)
        for job in left:
            job.not_sent("stopped")
            self._done(job)
        return left

    def join(self, deadline: float, clock: Callable[[], float]) -> None:
        """Wait for the threads until ``deadline``; workers are daemons, so a call stuck in its
        own timeout cannot hold up the exit."""
        for thread in self._threads:
            thread.join(max(0.0, deadline - clock()))
