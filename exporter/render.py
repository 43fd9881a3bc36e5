"""The renderer: takes what changed from the state store and re-renders it in the exposition.

The store and the exposition do not know each other: the store records which streams changed,
the exposition which buckets need rendering, and both set the renderer's wake-up event. The
render thread is the only caller of ``sync`` but for reloads and tests, which call it to see
their changes at once (the exposition's flush lock serialises them).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from exporter import malloc
from exporter.exposition import Exposition
from exporter.state import StateStore

log = logging.getLogger(__name__)

# Let a burst of changes (a list round) settle into one render.
SETTLE_SECONDS = 0.05
IDLE_WAKE_SECONDS = 0.5
# A loop that has not turned for this long is stuck (a render of 100k streams takes seconds).
STUCK_SECONDS = 120.0


class Renderer:
    def __init__(
        self,
        store: StateStore,
        exposition: Exposition,
        wake: threading.Event,
        failed: Callable[[], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._exposition = exposition
        self._wake = wake
        self._failed = failed
        self._clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._beat = clock()  # the loop's last turn
        # One render at a time (the loop, a reload, a test), numbered for tickets: a ticket is
        # served by a render begun after it was taken, which saw every change made before.
        self._one = threading.RLock()  # re-entered by sync() inside held()
        self._turns = threading.Lock()  # a leaf: guards the two counters only
        self._begun = 0
        self._ended = 0

    def sync(self) -> int:
        """Render every change made so far; returns how many buckets were rendered."""
        with self._one:
            with self._turns:
                self._begun += 1
                turn = self._begun
            changes = self._store.take_changes()
            if changes is None:
                self._exposition.mark_all()
            else:
                self._exposition.mark(changes)
            rendered = self._exposition.flush(self._store.get_many)
            with self._turns:
                self._ended = turn
            return rendered

    @contextmanager
    def held(self) -> Iterator[None]:
        """No render but the holder's own ``sync`` calls inside: a reload marks 100k streams a
        slice at a time, and a render begun after the first slice would be done again."""
        with self._one:
            yield

    def ticket(self) -> int:
        """A ticket for a render that begins from now on (and wake the thread for it): see
        ``served``. Readiness takes one so that /-/ready never runs ahead of /metrics."""
        with self._turns:
            ticket = self._begun + 1
        self._wake.set()
        return ticket

    def served(self, ticket: int) -> bool:
        """Whether a render begun after ``ticket`` was taken has ended."""
        with self._turns:
            return self._ended >= ticket

    def _loop(self) -> None:
        trim = malloc.Trimmer()
        while not self._stop.is_set():
            self._beat = self._clock()
            if not self._wake.wait(IDLE_WAKE_SECONDS):
                continue
            self._wake.clear()  # before the work: a change made meanwhile wakes us again
            self._stop.wait(SETTLE_SECONDS)
            try:
                self.sync()
                trim()
            except Exception:  # one bad render must not freeze /metrics for good
                log.exception("rendering the exposition failed; retrying on the next change")
                if self._failed is not None:
                    self._failed()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="render", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def alive(self) -> bool:
        """Running and turning (a render stuck for minutes counts as dead); True before start."""
        if self._thread is None or self._stop.is_set():
            return True
        return self._thread.is_alive() and self._clock() - self._beat < STUCK_SECONDS
