"""Signals from the first instant: SIGTERM and SIGINT stop, SIGHUP reloads, never fatal.

The handlers are installed before any slow start-up work (parsing a 100,000-stream config takes
seconds), because the default action of SIGHUP ends the process: a `systemctl reload` right
after a start would kill it. A SIGHUP that comes before the app can reload is remembered and
runs once, as soon as it can; a SIGTERM before then makes start-up stop at its next step.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from types import FrameType

log = logging.getLogger(__name__)

_HANDLED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
_early: list[int] = []  # signals that came before Signals.install()


def _remember(signum: int, frame: FrameType | None) -> None:
    _early.append(signum)


def early() -> None:
    """Remember SIGTERM, SIGINT and SIGHUP from the interpreter's first instant (the entry
    points call this before importing anything slow); ``Signals.install`` then acts on them."""
    for signum in _HANDLED:
        signal.signal(signum, _remember)


class Signals:
    def __init__(self) -> None:
        self.stop = threading.Event()
        self._lock = threading.Lock()
        self._reload: Callable[[], object] | None = None
        self._queued = False

    def install(self) -> None:
        signal.signal(signal.SIGTERM, self._on_stop)
        signal.signal(signal.SIGINT, self._on_stop)
        signal.signal(signal.SIGHUP, self._on_hup)
        pending, _early[:] = list(_early), []
        for signum in pending:
            (self._on_hup if signum == signal.SIGHUP else self._on_stop)(signum, None)

    def _on_stop(self, signum: int, frame: FrameType | None) -> None:
        log.info("received %s, shutting down", signal.Signals(signum).name)
        self.stop.set()

    def _on_hup(self, signum: int, frame: FrameType | None) -> None:
        with self._lock:
            reload = self._reload
            if reload is None:
                self._queued = True
        if reload is None:
            log.info("received SIGHUP during start-up; the configuration is reloaded once started")
            return
        self._spawn(reload)

    @staticmethod
    def _spawn(reload: Callable[[], object]) -> None:
        # Outside the signal handler: the reload takes locks the interrupted code may hold.
        threading.Thread(target=reload, name="reload", daemon=True).start()

    def ready(self, reload: Callable[[], object]) -> None:
        """The app can reload from now on; a SIGHUP that came during start-up runs now."""
        with self._lock:
            self._reload = reload
            queued, self._queued = self._queued, False
        if queued:
            self._spawn(reload)

    def wait(self) -> None:
        """Until SIGTERM or SIGINT. Python runs handlers in the main thread, and a signal the
        kernel hands to another thread does not wake a main thread blocked on a lock: wake up
        to look for one."""
        while not self.stop.wait(0.2):
            pass
