"""What poll jobs work with: every owner they read or write, and how a call's outcome is taken.

Jobs never hold state that another thread changes: they write through the owners named here
(the state store, the exposition's push values, membership, progress, the dispatcher, the
account guard), each of which serialises its own writes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from exporter.exposition import Exposition
from exporter.model import ApiError, ErrorClass, StreamKey
from exporter.polling.dispatch import AccountLanes, Dispatcher
from exporter.polling.progress import Progress
from exporter.runtime.membership import Membership
from exporter.state import StateStore


@dataclass(frozen=True)
class Context:
    store: StateStore
    exposition: Exposition
    membership: Membership
    progress: Progress
    dispatcher: Dispatcher
    clock: Callable[[], float]  # monotonic: schedules, back-offs, lag
    wall: Callable[[], float]  # Unix time: verdicts and timestamps
    forget: Callable[[Iterable[StreamKey]], None]  # streams dropped: forget their poll slots

    def account(self, name: str) -> AccountLanes | None:
        """The account's lanes now (a reload may have replaced them since a chain began)."""
        return self.dispatcher.account(name)

    def report(
        self, acc: AccountLanes, action: str, error: ApiError | None, domain: str | None = None
    ) -> None:
        """One call's outcome: AIMD on the action's limiter, health on the account's guard
        (``domain``: the push domain the call was about, for per-domain permissions)."""
        if error is None:
            acc.guard.succeeded(self.wall(), domain)
            return
        if error.error_class is ErrorClass.THROTTLED:
            acc.limiter(action).throttled()
        acc.guard.failed(action, error, self.clock(), domain)
