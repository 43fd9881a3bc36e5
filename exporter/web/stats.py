"""What the web server counts: closed connections by reason, refused requests, accept errors,
web config reloads. The server's event loop writes; a scrape reads a snapshot under the lock."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric

__all__ = ["CLOSE_REASONS", "REFUSE_REASONS", "Snapshot", "WebStats"]

# Why the server closed a connection itself (clients closing is not counted).
CLOSE_REASONS = (
    "evicted",  # over the connection cap: the quietest one made room
    "rejected",  # over the cap with nothing to evict: the new one was closed
    "handshake_timeout",
    "read_header_timeout",
    "read_timeout",
    "idle_timeout",
    "write_timeout",
    "tls_error",  # failed handshake, refused client certificate, plain HTTP on the TLS port
    "bad_request",  # framing or syntax the server cannot go on after
)
# Why a request was answered without reaching its handler, or with 503.
REFUSE_REASONS = (
    "bad_request",
    "header_too_large",
    "body_too_large",
    "unauthorized",
    "lifecycle_disabled",
    "handlers_busy",
    "auth_busy",
)


@dataclass(frozen=True, slots=True)
class Snapshot:
    open_connections: int
    connection_cap: int
    closed: dict[str, int]
    refused: dict[str, int]
    fd_exhausted: int
    accept_errors: int
    config_reload_ok: bool
    config_reload_failures: int


class WebStats:
    def __init__(self) -> None:
        self._lock = threading.Condition()
        self.open_connections = 0
        self.connection_cap = 0
        self._closed = dict.fromkeys(CLOSE_REASONS, 0)
        self._refused = dict.fromkeys(REFUSE_REASONS, 0)
        self._fd_exhausted = 0
        self._accept_errors = 0
        self._reload_ok = True
        self._reload_failures = 0

    def closed(self, reason: str) -> None:
        with self._lock:
            self._closed[reason] += 1
            self._lock.notify_all()

    def refused(self, reason: str) -> None:
        with self._lock:
            self._refused[reason] += 1
            self._lock.notify_all()

    def accept_failed(self, fd_exhausted: bool) -> None:
        with self._lock:
            if fd_exhausted:
                self._fd_exhausted += 1
            else:
                self._accept_errors += 1
            self._lock.notify_all()

    def reloaded(self, ok: bool) -> None:
        with self._lock:
            self._reload_ok = ok
            if not ok:
                self._reload_failures += 1
            self._lock.notify_all()

    def set_open(self, count: int) -> None:
        with self._lock:
            self.open_connections = count
            self._lock.notify_all()

    def wait_for(self, predicate: Callable[[Snapshot], bool], timeout: float) -> bool:
        """Wait until the counts satisfy ``predicate`` (for tests and the attack harness)."""
        with self._lock:
            return self._lock.wait_for(lambda: predicate(self._snapshot()), timeout)

    def snapshot(self) -> Snapshot:
        with self._lock:
            return self._snapshot()

    def _snapshot(self) -> Snapshot:
        return Snapshot(
            self.open_connections,
            self.connection_cap,
            dict(self._closed),
            dict(self._refused),
            self._fd_exhausted,
            self._accept_errors,
            self._reload_ok,
            self._reload_failures,
        )


class WebCollector:
    """The counts as Prometheus families, for the app to register on its registry."""

    def __init__(self, stats: WebStats) -> None:
        self._stats = stats

    def collect(self) -> Iterator[Metric]:
        s = self._stats.snapshot()
        prefix = "tencent_live_exporter_web_"
        yield GaugeMetricFamily(
            prefix + "connections", "Open client connections.", value=s.open_connections
        )
        yield GaugeMetricFamily(
            prefix + "connections_max",
            "The connection cap (--web.max-connections, lowered to fit the open files limit).",
            value=s.connection_cap,
        )
        closed = CounterMetricFamily(
            prefix + "connections_closed",
            "Connections the server closed itself, by reason.",
            labels=["reason"],
        )
        for reason in sorted(s.closed):
            closed.add_metric([reason], s.closed[reason])
        yield closed
        refused = CounterMetricFamily(
            prefix + "requests_refused",
            "Requests answered without reaching their handler (or 503), by reason.",
            labels=["reason"],
        )
        for reason in sorted(s.refused):
            refused.add_metric([reason], s.refused[reason])
        yield refused
        accept = CounterMetricFamily(
            prefix + "accept_errors",
            "Failed accept() calls; fd_exhausted means the open files limit was reached.",
            labels=["reason"],
        )
        accept.add_metric(["fd_exhausted"], s.fd_exhausted)
        accept.add_metric(["other"], s.accept_errors)
        yield accept
        yield GaugeMetricFamily(
            prefix + "config_last_reload_successful",
            "Whether the last reload of the web config file worked (1) or kept the old one (0).",
            value=1 if s.config_reload_ok else 0,
        )
        yield CounterMetricFamily(
            prefix + "config_reload_failures",
            "Reloads of the web config file that failed and kept the previous one.",
            value=s.config_reload_failures,
        )
