"""Bounded thread pools for the work the event loop must not do: handlers and bcrypt.

Each kind of request has its own pool, so a flood of one kind (callbacks, say) queues behind
itself while scrapes go on in theirs. A pool holds at most ``threads`` running and ``queue``
waiting; past that `run` raises `Busy` at once, and the request is answered 503.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable
from typing import TypeVar

__all__ = ["Busy", "Pool"]

T = TypeVar("T")


class Busy(Exception):
    """The pool's queue is full."""


class Pool:
    """Used from the event loop thread only (its counter needs no lock)."""

    def __init__(self, name: str, threads: int, queue: int) -> None:
        self.name = name
        self.threads = threads
        self._limit = threads + queue
        self._in_flight = 0
        self._executor = concurrent.futures.ThreadPoolExecutor(threads, thread_name_prefix=name)

    @property
    def in_flight(self) -> int:
        return self._in_flight

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        if self._in_flight >= self._limit:
            raise Busy(self.name)
        self._in_flight += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)
        finally:
            self._in_flight -= 1

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
