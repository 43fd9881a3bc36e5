"""The web server's bounds: connections, threads, timeouts and buffers, with their defaults.

The timeouts are Go's ``http.Server`` ones (read-header, read, write, idle), which Go exporters
set; the connection cap is Prometheus' own ``--web.max-connections`` (512). Go leaves all four
timeouts off by default; here each has a default, because this server also faces the internet
(the CSS callback receiver) and a missing timeout is a thread, a buffer or a descriptor that a
slow client can hold for ever.
"""

from __future__ import annotations

import logging
import resource
from dataclasses import dataclass

__all__ = ["Limits", "raise_nofile_limit"]

log = logging.getLogger(__name__)

# Descriptors kept for everything but client connections (the poller's API connections, the
# log, files a reload reads): the connection cap is lowered to fit under the limit with these.
FD_RESERVE = 128


@dataclass(frozen=True, slots=True)
class Limits:
    # Open client connections. Over it, the ones least worth keeping are closed to make room
    # (never answered, then not reading their answers, then quiet longest: OpenConnections).
    max_connections: int = 512
    # The request line and header fields, from the first byte (Go: ReadHeaderTimeout).
    read_header_timeout: float = 10.0
    # The whole request, head and body (Go: ReadTimeout).
    read_timeout: float = 30.0
    # Writing one answer, from its first byte to its last (Go: WriteTimeout).
    write_timeout: float = 60.0
    # A keep-alive connection waiting for its next request (Go: IdleTimeout).
    idle_timeout: float = 120.0
    # The TLS handshake, from the connection's first byte.
    tls_handshake_timeout: float = 10.0
    # The request line and header fields together (Go: MaxHeaderBytes, default 1 MB).
    max_header_bytes: int = 32 * 1024
    # Bytes read from one client and not yet used (a pipelined next request, say): over it the
    # server stops reading from that client until it has caught up.
    max_unread_bytes: int = 64 * 1024
    # Threads per kind of request (scrapes and health checks; the status page; CSS callbacks):
    # each kind has its own, so that a flood of one cannot starve another.
    handler_threads: int = 4
    # Requests of one kind waiting for a thread; more are answered 503 at once. Each connection
    # has at most one request in flight, so the connection cap bounds the queue anyway: waiting
    # is cheap (a request head, a body of at most 64 KiB) and a flood of requests of one kind
    # then delays a real scraper of that kind by the queue's length instead of refusing it.
    handler_queue: int = 1024
    # bcrypt checks waiting for the one bcrypt thread; more are answered 503 at once.
    bcrypt_queue: int = 16
    # After an answer to a request whose body was not read: how long the rest is read and
    # dropped before closing, so that the client sees the answer and not a reset.
    linger_timeout: float = 2.0

    def problems(self) -> list[str]:
        """What is wrong with these values, one line each, naming the flag."""
        found = []
        for flag, value in (
            ("--web.read-header-timeout", self.read_header_timeout),
            ("--web.read-timeout", self.read_timeout),
            ("--web.write-timeout", self.write_timeout),
            ("--web.idle-timeout", self.idle_timeout),
        ):
            if not value > 0:
                found.append(f"{flag}: must be above 0")
        if self.read_timeout < self.read_header_timeout:
            found.append("--web.read-timeout: must not be below --web.read-header-timeout")
        if self.max_connections < 1:
            found.append("--web.max-connections: must be at least 1")
        if self.handler_threads < 1:
            found.append("--web.handler-threads: must be at least 1")
        if self.max_header_bytes < 1024:
            found.append("--web.max-header-bytes: must be at least 1024")
        return found

    def connection_cap(self) -> int:
        """``max_connections``, lowered to fit under the process's file limit."""
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft == resource.RLIM_INFINITY:
            return self.max_connections
        room = max(16, int(soft) - FD_RESERVE)
        if room < self.max_connections:
            log.warning(
                "--web.max-connections %d lowered to %d to fit the open files limit of %d"
                " (raise LimitNOFILE / ulimit -n to allow more)",
                self.max_connections,
                room,
                soft,
            )
            return room
        return self.max_connections


def raise_nofile_limit() -> tuple[int, int]:
    """Raise the soft RLIMIT_NOFILE to the hard limit, as Go's runtime does at start.

    Returns (soft, hard) as they are afterwards. Never fails: a limit that cannot be raised
    stays as it is.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError) as exc:
            log.debug("cannot raise the open files limit from %d to %d: %s", soft, hard, exc)
    return int(soft), int(hard)
