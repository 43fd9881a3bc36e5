"""Cyclic garbage collection in a process that holds 100,000 streams.

CPython's collector walks every object of the generations it collects in one go, holding the
GIL: no scrape is answered meanwhile. At 100,000 streams a reload used to build half a million
objects, and they drove the collector through its generations into a full collection of the
whole heap, 80-100 ms (measured on the 2-core machine, benchmarks/startup.py), the worst stall
of a scrape during a reload. Two rules keep the collector away from what is long-lived:

- ``paused()``: no cyclic collection while a big structure is built (a YAML parse, a reload).
  None of what is built is garbage, and reference counting still frees whatever is dropped.
- ``settle()``: once start-up or a reload is done, what is alive is the runtime, which lives
  until the next reload: it goes to the permanent generation (``gc.freeze``), which no later
  collection walks. What the poller allocates from then on is collected as usual, and costs
  the collector only its own size.

Freezing is the process's choice, made by the command line (``freeze_long_lived``) as it makes
glibc's (exporter/malloc.py): a test process that builds apps must keep its collector as it is.

The price of freezing is that a frozen object in a reference cycle is never collected when it
becomes garbage. The runtime snapshot and the owners' tables are free of cycles, so a reload frees
the snapshot before it by reference counting alone (tests/test_heap.py). Should a cycle creep
in anyway, ``settle`` runs one full collection whenever the frozen set has grown by a quarter
since the last one (CPython's own rule for full collections): the leak stays bounded, and the
stall comes at most once per reload that grows the heap by that much.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

log = logging.getLogger(__name__)

# CPython's collector runs a full collection when objects waiting for one exceed a quarter of
# the oldest generation (Modules/gcmodule.c, long_lived_pending); the frozen set follows suit.
GROWTH_BEFORE_FULL_COLLECTION = 1.25

_lock = threading.Lock()
_depth = 0
_was_enabled = False
_frozen_after_full = 0
_freezing = False


@contextmanager
def paused() -> Iterator[None]:
    """No cyclic garbage collection inside (re-entrant, any thread); collection resumes when
    the outermost pause ends, unless it was off before.

    Building 100,000 streams allocates millions of objects and none of them is garbage, yet
    each 700 allocations start a collection that walks them all: half the CPU of a parse.
    """
    global _depth, _was_enabled
    with _lock:
        if _depth == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _was_enabled:
                gc.enable()


def freeze_long_lived() -> None:
    """From now on ``settle`` freezes: for the exporter's own process (cli.main)."""
    global _freezing
    _freezing = True


def settle() -> bool:
    """Move every object alive now to the permanent generation; returns whether a full
    collection ran first (the frozen set had grown by a quarter since the last one).

    Called at the end of a reload, inside its ``paused()``: were collection on, the first
    allocation after the work would start a collection of everything the work built. Called
    once at start-up too, where the first call collects everything anyway.
    """
    global _frozen_after_full
    if not _freezing:
        return False
    with _lock:
        gc.freeze()
        full = gc.get_freeze_count() > GROWTH_BEFORE_FULL_COLLECTION * _frozen_after_full
        if full:
            started = time.perf_counter()
            gc.unfreeze()
            unreachable = gc.collect()
            gc.freeze()
            _frozen_after_full = gc.get_freeze_count()
            log.debug(
                "full garbage collection: %d unreachable objects in %.0f ms",
                unreachable,
                1000 * (time.perf_counter() - started),
            )
        return full
