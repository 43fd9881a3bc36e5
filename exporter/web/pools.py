"""Bounded thread pools for the work the event loop must not do: handlers and bcrypt.

Each kind of request has its own pool, so a flood of one kind (callbacks, say) queues behind
itself while scrapes go on in theirs. A pool runs at most ``threads`` jobs and holds at most
``queue`` waiting; past that `run` raises `Busy` at once, and the request is answered 503.
Waiting jobs go by priority, then in order: within one kind, a client that has been served
before and takes its answers (Prometheus) goes ahead of new connections and of clients that
leave their answers unread.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import heapq
import itertools
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["Busy", "Pool"]

T = TypeVar("T")


class Busy(Exception):
    """The pool's queue is full."""


class Pool:
    """Used from the event loop thread only (its counters and queue need no lock)."""

    def __init__(self, name: str, threads: int, queue: int) -> None:
        self.name = name
        self.threads = threads
        self._limit = threads + queue
        self._running = 0
        self._waiting: list[tuple[int, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self._executor = concurrent.futures.ThreadPoolExecutor(threads, thread_name_prefix=name)

    @property
    def in_flight(self) -> int:
        return self._running + len(self._waiting)

    async def run(
        self,
        fn: Callable[..., T],
        *args: Any,
        priority: int = 0,
        started: Callable[[], None] | None = None,
    ) -> T:
        """``fn(*args)`` in a thread of the pool; lower ``priority`` values wait less.

        ``started`` is called when the job leaves the queue for a thread."""
        if self.in_flight >= self._limit:
            raise Busy(self.name)
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiting, (priority, next(self._order), turn))
        self._next()
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                self._running -= 1  # our turn had come: pass it on
                self._next()
            raise
        if started is not None:
            started()
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)
        finally:
            self._running -= 1
            self._next()

    def _next(self) -> None:
        """Give turns while threads are free; a turn counts as running from when it is given,
        and a cancelled waiter's entry is dropped here."""
        while self._waiting and self._running < self.threads:
            _, _, turn = heapq.heappop(self._waiting)
            if turn.done():
                continue
            self._running += 1
            turn.set_result(None)

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
