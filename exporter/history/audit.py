"""The callback audit's results per account: how many callbacks CSS says it sent were accepted
here, refused (CSS recorded a failed delivery), or never arrived. One owner, one lock (a leaf);
read by the collector at scrape time."""

from __future__ import annotations

import threading
from dataclasses import dataclass

__all__ = ["AUDIT_RESULTS", "DELIVERED", "NOT_RECEIVED", "REFUSED", "AuditCounts", "AuditView"]

DELIVERED = "delivered"
REFUSED = "refused"  # CSS recorded a failed delivery (no 200 in time, a refusal, no connection)
NOT_RECEIVED = "not_received"  # CSS recorded a delivery this exporter never accepted
AUDIT_RESULTS: tuple[str, ...] = (DELIVERED, NOT_RECEIVED, REFUSED)


@dataclass(frozen=True, slots=True)
class AuditView:
    counts: tuple[tuple[str, int], ...]  # (result, count), every result
    audited_until: float | None  # end of the last window audited
    streams: int  # streams asked about in the last round


class AuditCounts:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, dict[str, int]] = {}
        self._until: dict[str, float] = {}
        self._streams: dict[str, int] = {}

    def add(self, account: str, counts: dict[str, int]) -> None:
        with self._lock:
            mine = self._counts.setdefault(account, dict.fromkeys(AUDIT_RESULTS, 0))
            for result, n in counts.items():
                mine[result] = mine.get(result, 0) + n

    def audited(self, account: str, until: float, streams: int) -> None:
        with self._lock:
            self._counts.setdefault(account, dict.fromkeys(AUDIT_RESULTS, 0))
            self._until[account] = until
            self._streams[account] = streams

    def snapshot(self) -> dict[str, AuditView]:
        with self._lock:
            return {
                account: AuditView(
                    tuple(sorted(counts.items())),
                    self._until.get(account),
                    self._streams.get(account, 0),
                )
                for account, counts in self._counts.items()
            }
