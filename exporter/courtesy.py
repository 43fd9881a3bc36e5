"""Long jobs that leave the GIL free now and then, so that scrapes get through.

A reload or a render of 100,000 streams computes for seconds in one thread. Meanwhile a scrape
needs the GIL some sixty times (each system call and zlib call gives it up), and each time waits
for the busy thread to be made to give it back: CPython asks after the switch interval, and
a scrape of 7 ms took 20-36 ms during a reload, 70-80 ms at p99 (benchmarks/startup.py). A job
that rests a moment after each few milliseconds of work leaves gaps in which a waiting thread
gets the GIL at once, for a few percent of the job's own time. Only while a request is being
answered (``demand``): with nobody waiting, a rest would only make the job late (a start-up
of 100k streams is half a second longer resting throughout).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

# Work this long, then rest this long (a sleep gives up the GIL at once).
WORK_SECONDS = 0.004
REST_SECONDS = 0.0005
# Items of a per-item loop between two looks at the clock (a few hundred microseconds of work).
PACE_ITEMS = 512

T = TypeVar("T")


_demand = 0  # requests being answered; written by the web server's event loop thread only


@contextmanager
def demand() -> Iterator[None]:
    """Around the answer to one request: long jobs rest meanwhile."""
    global _demand
    _demand += 1
    try:
        yield
    finally:
        _demand -= 1


def wanted() -> bool:
    """Whether a request is being answered now."""
    return _demand > 0


class Breather:
    """Call ``breathe()`` often from one long job (cheap: one clock read); it rests when due."""

    def __init__(
        self,
        work: float = WORK_SECONDS,
        rest: float = REST_SECONDS,
        clock: Callable[[], float] = time.perf_counter,
        sleep: Callable[[float], None] = time.sleep,
        wanted: Callable[[], bool] = wanted,
    ) -> None:
        self._wanted = wanted
        self._work = work
        self._rest = rest
        self._clock = clock
        self._sleep = sleep
        self._since = clock()
        self.rests = 0

    def breathe(self) -> None:
        if self._clock() - self._since >= self._work:
            if self._wanted():
                self._sleep(self._rest)
                self.rests += 1
            self._since = self._clock()


_local = threading.local()


def breathe() -> None:
    """``Breather.breathe`` for the calling thread's own breather: for loops deep in a job
    (a parse, a relabelling) that cannot be handed one."""
    breather: Breather | None = getattr(_local, "breather", None)
    if breather is None:
        breather = _local.breather = Breather()
    breather.breathe()


def paced(items: Iterable[T]) -> Iterator[T]:
    """``items``, breathing every PACE_ITEMS of them: for a long loop over streams."""
    for n, item in enumerate(items):
        if not n % PACE_ITEMS:
            breathe()
        yield item


def slices(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """``items`` in lists of ``size``, the last one shorter, none empty: for bulk work done a
    slice per hold of a lock (callers breathe between slices where that is wanted)."""
    batch: list[T] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
