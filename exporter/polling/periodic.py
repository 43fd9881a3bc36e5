"""Account-wide rounds that come back at a fixed interval (the forbid list, and any other round
that covers a whole account rather than one target's streams).

Each kind is one ``Periodic`` entry in ``PERIODIC``: its interval for an account (None: not
for this account), whether the account can make it right now, and the job that does it. The
schedule (when each (account, kind) is next due) has one owner, ``PeriodicSchedule``; the tick
asks it what is due. A new kind of account round is a job module and one entry here.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from exporter.client.playback import Caller
from exporter.polling.audit_round import AuditRound
from exporter.polling.context import Context
from exporter.polling.dispatch import AccountLanes
from exporter.polling.event_round import EventRound
from exporter.polling.forbid_round import ForbidRound
from exporter.polling.lanes import Job
from exporter.polling.playback_book import book_of, existing_book
from exporter.polling.playback_rounds import CertRound, DomainRound, ErrorCodeRound, PackageRound
from exporter.polling.playback_viewers import CLEANUP_INTERVAL, ViewerRound
from exporter.runtime.plan import AccountSpec, TargetSpec
from exporter.runtime.playback import PlaybackSpec
from exporter.runtime.snapshot import Runtime


@dataclass(frozen=True)
class Periodic:
    kind: str
    interval: Callable[[AccountSpec], float | None]  # None: this account does not make it
    make: Callable[[Context, str, tuple[TargetSpec, ...]], Job]
    usable: Callable[[AccountLanes], bool] = lambda acc: True  # e.g. not once unavailable


FORBID = Periodic(
    "forbid",
    interval=lambda spec: spec.forbid_interval,
    make=ForbidRound,
    usable=lambda acc: acc.guard.forbid_supported is not False,
)


def _playback(
    kind: str,
    interval: Callable[[PlaybackSpec], float | None],
    make: Callable[[Context, str, tuple[TargetSpec, ...]], Job],
    action: str,
) -> Periodic:
    """An account-wide playback round (polling/playback_*.py): only for accounts with play
    domains, and not once the account answered that it cannot make the call."""
    return Periodic(
        kind,
        interval=lambda spec: interval(spec.playback) if spec.playback is not None else None,
        make=make,
        usable=lambda acc: book_of(acc.guard).available(action, acc.spec.connection),
    )


def _viewers_usable(acc: AccountLanes) -> bool:
    """The account's viewer call may go out; or, with its viewers off, it still had viewer data
    a reload left behind (the round then drops it, without a call)."""
    spec = acc.spec.playback
    if spec is None or spec.viewers_interval is None:
        book = existing_book(acc.guard)
        return book is not None and book.viewer_minute() is not None
    return book_of(acc.guard).available(ViewerRound.action, acc.spec.connection)


VIEWERS = Periodic(
    "viewers",
    interval=lambda spec: (
        (spec.playback.viewers_interval if spec.playback else None) or CLEANUP_INTERVAL
    ),
    make=ViewerRound,
    usable=_viewers_usable,
)

PLAYBACK: tuple[Periodic, ...] = (
    VIEWERS,
    _playback("play_domains", lambda p: p.domains_interval, DomainRound, DomainRound.action),
    _playback("play_errors", lambda p: p.errors_interval, ErrorCodeRound, ErrorCodeRound.action),
    _playback("certificates", lambda p: p.certs_interval, CertRound, CertRound.action),
    _playback("packages", lambda p: p.packages_interval, PackageRound, PackageRound.action),
)

# Why streams stopped (the event list) and whether callbacks arrive (the callback audit):
# account-wide rounds at the account's event_history / callback_audit intervals.
EVENTS = Periodic(
    "events",
    interval=lambda spec: spec.history.events_interval if spec.history else None,
    make=EventRound,
    usable=lambda acc: isinstance(acc.client, Caller),
)
CALLBACK_AUDIT = Periodic(
    "callback_audit",
    interval=lambda spec: spec.history.audit_interval if spec.history else None,
    make=AuditRound,
    usable=lambda acc: isinstance(acc.client, Caller),
)

PERIODIC: tuple[Periodic, ...] = (FORBID, *PLAYBACK, EVENTS, CALLBACK_AUDIT)


class PeriodicSchedule:
    """When each account's periodic rounds are next due. A round is due at once the first time;
    a reload keeps the schedule of accounts that stay (brought forward if the interval got
    shorter)."""

    def __init__(self, kinds: tuple[Periodic, ...] = PERIODIC) -> None:
        self._kinds = kinds
        self._lock = threading.Lock()
        self._next: dict[tuple[str, str], float] = {}

    def apply(self, runtime: Runtime, now: float) -> None:
        with self._lock:
            kept: dict[tuple[str, str], float] = {}
            for name, spec in runtime.accounts.items():
                for p in self._kinds:
                    interval = p.interval(spec)
                    due = self._next.get((name, p.kind))
                    if interval is not None and due is not None:
                        kept[(name, p.kind)] = min(due, now + interval)
            self._next = kept

    def reschedule_now(self, account: str, now: float) -> None:
        with self._lock:
            for key in list(self._next):
                if key[0] == account:
                    self._next[key] = now

    def take_due(
        self, runtime: Runtime, accounts: dict[str, AccountLanes], now: float
    ) -> list[tuple[str, Periodic]]:
        """(account, kind) for every round due at ``now``; each is scheduled one interval on."""
        due: list[tuple[str, Periodic]] = []
        with self._lock:
            for name, acc in accounts.items():
                spec = runtime.accounts.get(name)
                if spec is None:
                    continue
                for p in self._kinds:
                    interval = p.interval(spec)
                    if interval is None or not p.usable(acc):
                        continue
                    at = self._next.get((name, p.kind), now)
                    if now < at:
                        continue
                    self._next[(name, p.kind)] = max(at + interval, now)
                    due.append((name, p))
        return due
