"""The open client connections under the connection cap, and which of them make room over it.

Over the cap, the connections least worth keeping are closed (as nginx reuses idle keep-alive
connections), so that a flood of slow or idle clients cannot lock a scraper out.
"""

from __future__ import annotations

import heapq
from typing import TYPE_CHECKING

from exporter.web.connection import Connection

if TYPE_CHECKING:
    from exporter.web.stats import WebStats

__all__ = ["OpenConnections"]

# States whose connection may be closed to make room: all but one whose handler is running.
_EVICTABLE = frozenset(
    ("handshake", "new", "head", "body", "idle", "queued", "write", "linger", "closing")
)


class OpenConnections:
    """OWNER of the open connections and the cap; used from the event loop thread only."""

    def __init__(self, stats: WebStats) -> None:
        self._stats = stats
        self._conns: set[Connection] = set()
        self._cap = 0

    @property
    def cap(self) -> int:
        return self._cap

    def set_cap(self, cap: int) -> None:
        self._cap = cap
        self._stats.connection_cap = cap

    def __len__(self) -> int:
        return len(self._conns)

    def room(self) -> bool:
        """Whether one more fits: under the cap, or once some were closed to make room."""
        return len(self._conns) < self._cap or self.evict()

    def add(self, conn: Connection) -> None:
        self._conns.add(conn)
        self._stats.set_open(len(self._conns))

    def lost(self, conn: Connection) -> None:
        self._conns.discard(conn)
        self._stats.set_open(len(self._conns))

    def abort_all(self) -> None:
        for conn in list(self._conns):
            conn.expire_now("")

    def evict(self) -> bool:
        """Make room: close the connections least worth keeping; True if any was closed.

        A sixteenth of the cap goes at once, so that a flood of new connections costs one scan
        of the open ones per sixteenth, not one per connection accepted.
        """
        candidates = [
            c
            for c in self._conns
            if c.state in _EVICTABLE and c.transport is not None and not c.closed
        ]
        if not candidates:
            return False
        # Connections that never got an answer (slowloris, stalled handshakes, silent ones) go
        # first, then those not reading their answers, then the ones quiet longest: a scraper's
        # kept-alive connection, idle between scrapes, is not what a flood pushes out.
        count = max(1, self._cap // 16)
        for victim in heapq.nsmallest(count, candidates, key=Connection.eviction_rank):
            self._conns.discard(victim)
            victim.expire_now("evicted")
        self._stats.set_open(len(self._conns))
        return True
