"""Supervision of the long-lived threads: they survive a failing item, and a dead one is seen.

Every loop (the render thread, the tick, each lane's pacer and workers, reloads) catches what
one item raises, logs it and counts it here, and goes on. If a thread dies anyway (a bug in the
loop itself, an exception the loop cannot catch), its liveness check fails: ``/-/healthy``
answers 503 naming it, and ``tencent_live_exporter_thread_up{thread}`` is 0, so that a process
that still serves HTTP but no longer polls or renders is restarted rather than trusted.

Lock order: the supervisor's lock is a leaf.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

RENDER = "render"
TICK = "tick"
LANES = "lanes"
RELOAD = "reload"
THREADS = (RENDER, TICK, LANES, RELOAD)


class Supervisor(Collector):
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._checks: dict[str, Callable[[], bool]] = {}
        self._errors: dict[str, int] = dict.fromkeys(THREADS, 0)

    def watch(self, thread: str, alive: Callable[[], bool]) -> None:
        """``alive()`` says whether ``thread`` still does its job (it must be quick)."""
        with self._lock:
            self._checks[thread] = alive

    def failed(self, thread: str) -> None:
        """One item of ``thread`` raised; the thread goes on (the caller logged it)."""
        with self._lock:
            self._errors[thread] = self._errors.get(thread, 0) + 1

    def status(self) -> dict[str, bool]:
        with self._lock:
            checks = dict(self._checks)
        out = {}
        for thread, alive in checks.items():
            try:
                out[thread] = bool(alive())
            except Exception:  # a check that cannot tell is a failed check
                out[thread] = False
        return out

    def healthy(self) -> tuple[bool, str]:
        dead = sorted(t for t, ok in self.status().items() if not ok)
        if dead:
            return False, f"thread not running: {', '.join(dead)}"
        return True, "Healthy"

    def collect(self) -> Iterable[Metric]:
        up = GaugeMetricFamily(
            "tencent_live_exporter_thread_up",
            "1 while the exporter's thread (render, tick, lanes) does its job, 0 once it died; "
            "/-/healthy then answers 503.",
            labels=["thread"],
        )
        for thread, ok in sorted(self.status().items()):
            up.add_metric([thread], 1.0 if ok else 0.0)
        errors = CounterMetricFamily(
            "tencent_live_exporter_thread_errors",
            "Items a long-lived thread failed on and survived (logged with the error).",
            labels=["thread"],
        )
        with self._lock:
            counts = sorted(self._errors.items())
        for thread, count in counts:
            errors.add_metric([thread], float(count))
        yield up
        yield errors
