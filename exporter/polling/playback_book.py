"""The playback book of one account: the one owner of what its playback rounds learnt.

Per-stream viewers live in the exposition (``Exposition.set_playback``); everything else the
playback rounds learn is the account's, not a stream's, and is kept here: the minute the viewer
figures are from, the sums of untracked streams per play domain, the per-domain playback, the
error-code counters, certificates, packages, how each round went, and which playback actions the
account cannot make at all. The collector reads it at scrape time (``view``).

A book lives beside the account's guard and as long as it (``book_of``): the polling context
has no slot for it, and the guard is the per-account object that outlives reloads. An action
marked unavailable is tried again once the account's credentials or endpoint change.

Lock order: the book's lock is a leaf.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from exporter.client.playback import Certificate, DomainMinute, Package
from exporter.model import ApiError
from exporter.polling.guard import FORBID_UNAVAILABLE, AccountGuard

log = logging.getLogger(__name__)

# Answers meaning "this account cannot make this call": not on its site, retired, or denied by
# CAM (the forbid list's, polling/guard.py). They turn the call off for the account instead of
# backing the whole account off.
UNAVAILABLE = FORBID_UNAVAILABLE

# Round kinds, as the ``round`` label says them.
VIEWERS = "viewers"
DOMAINS = "domain_stats"
ERRORS = "error_codes"
CERTS = "certificates"
PACKAGES = "packages"
KINDS = (VIEWERS, DOMAINS, ERRORS, CERTS, PACKAGES)

# Packages shown: not refunded, and not expired longer ago than this; at most MAX_PACKAGES.
PACKAGE_EXPIRED_SHOWN = 7 * 86_400.0
MAX_PACKAGES = 100


@dataclass(frozen=True, slots=True)
class Untracked:
    """Streams of one play domain that no tracked stream matched, summed."""

    streams: int
    viewers: float
    bytes_per_second: float
    requests: float


@dataclass(frozen=True)
class BookView:
    """An immutable copy of a book, for one scrape."""

    viewer_minute: float | None
    untracked: Mapping[str, Untracked]
    missed_minutes: int
    domains: DomainMinute | None
    errors: Mapping[tuple[str, str], float]  # (play domain, class) -> responses so far
    certs: Mapping[str, Certificate]
    packages: tuple[Package, ...]
    rounds: Mapping[tuple[str, str], int]  # (kind, result) -> rounds
    last_success: Mapping[str, float]  # kind -> Unix time
    unavailable: Mapping[str, str]  # action -> the code that said so


@dataclass
class _ErrorCounter:
    total: float = 0.0
    seen: dict[float, float] = field(default_factory=dict)  # minute -> count read


class PlaybackBook:
    def __init__(self, account: str) -> None:
        self.account = account
        self._lock = threading.Lock()
        self._viewer_minute: float | None = None
        self._viewers_seen = False  # a minute with any playback was read
        self._last_empty = False  # the last answer had no playback at all
        self._untracked: dict[str, Untracked] = {}
        self._missed = 0
        self._domains: DomainMinute | None = None
        self._errors: dict[tuple[str, str], _ErrorCounter] = {}
        self._certs: dict[str, Certificate] = {}
        self._packages: dict[int, tuple[Package, ...]] = {}
        self._rounds: Counter[tuple[str, str]] = Counter()
        self._last_success: dict[str, float] = {}
        self._unavailable: dict[str, tuple[str, object]] = {}  # action -> (code, connection)

    # -- availability --------------------------------------------------------------------------

    def available(self, action: str, connection: object) -> bool:
        with self._lock:
            entry = self._unavailable.get(action)
            if entry is None:
                return True
            if entry[1] != connection:
                # New credentials or endpoint: they may be allowed what the old ones were not.
                del self._unavailable[action]
                return True
            return False

    def mark_unavailable(self, action: str, err: ApiError, connection: object) -> None:
        with self._lock:
            known = action in self._unavailable
            self._unavailable[action] = (err.code, connection)
        if not known:
            log.warning(
                "account %s: %s answers %s (%s); not calling it again until the credentials"
                " or the endpoint change",
                self.account,
                action,
                err.code,
                err.message,
            )

    # -- rounds --------------------------------------------------------------------------------

    def counted(self, kind: str, result: str, wall: float | None = None) -> None:
        with self._lock:
            self._rounds[(kind, result)] += 1
            if result == "ok" and wall is not None:
                self._last_success[kind] = wall

    # -- viewers -------------------------------------------------------------------------------

    def viewer_minute(self) -> float | None:
        with self._lock:
            return self._viewer_minute

    def hold_empty(self) -> bool:
        """An answer without any playback came: whether to hold it back. One such answer after
        minutes with playback is held (Tencent may not have finished the minute: a false zero
        would page); a second in a row is believed."""
        with self._lock:
            hold = self._viewers_seen and not self._last_empty
            self._last_empty = True
            return hold

    def viewers_applied(
        self, minute: float, untracked: Mapping[str, Untracked] | None, playing: bool, wall: float
    ) -> None:
        with self._lock:
            last = self._viewer_minute
            if last is not None and minute > last + 60:
                self._missed += int((minute - last) // 60) - 1
            self._viewer_minute = minute
            if playing:
                self._viewers_seen = True
                self._last_empty = False
            self._untracked = dict(untracked) if untracked is not None else {}
            self._rounds[(VIEWERS, "ok")] += 1
            self._last_success[VIEWERS] = wall

    def viewers_off(self) -> None:
        """The account's viewers were turned off: forget the minute and the sums."""
        with self._lock:
            self._viewer_minute = None
            self._viewers_seen = self._last_empty = False
            self._untracked = {}

    # -- per play domain -----------------------------------------------------------------------

    def domains_applied(self, minute: DomainMinute, wall: float) -> None:
        with self._lock:
            self._domains = minute
            self._rounds[(DOMAINS, "ok")] += 1
            self._last_success[DOMAINS] = wall

    def errors_applied(
        self, play_domain: str, counts: Mapping[str, Mapping[float, float]], since: float
    ) -> None:
        """One read of a play domain's error codes: each minute's count only ever adds what it
        grew by since it was last read, so a counter never goes back when a minute is reread."""
        with self._lock:
            for cls in ("4xx", "5xx"):
                counter = self._errors.setdefault((play_domain, cls), _ErrorCounter())
                for minute, count in counts.get(cls, {}).items():
                    before = counter.seen.get(minute, 0.0)
                    if count > before:
                        counter.total += count - before
                        counter.seen[minute] = count
                # Minutes before the window are never read again.
                for minute in [m for m in counter.seen if m < since]:
                    del counter.seen[minute]

    def certs_applied(self, found: Mapping[str, Certificate], asked: Iterable[str]) -> None:
        with self._lock:
            for name in asked:
                cert = found.get(name)
                if cert is None:
                    self._certs.pop(name, None)  # no certificate bound (HTTP only)
                else:
                    self._certs[name] = cert

    def packages_applied(self, package_type: int, packages: Iterable[Package], wall: float) -> None:
        shown = tuple(
            p
            for p in packages
            if p.status != "refunded" and p.expires > wall - PACKAGE_EXPIRED_SHOWN
        )
        with self._lock:
            self._packages[package_type] = shown

    def keep_play_domains(self, names: Iterable[str]) -> None:
        """Forget what a reload removed (play domains no longer configured)."""
        keep = set(names)
        with self._lock:
            self._errors = {k: v for k, v in self._errors.items() if k[0] in keep}
            self._certs = {k: v for k, v in self._certs.items() if k in keep}
            self._untracked = {k: v for k, v in self._untracked.items() if k in keep}

    def view(self) -> BookView:
        with self._lock:
            packages = tuple(p for ps in self._packages.values() for p in ps)[:MAX_PACKAGES]
            return BookView(
                viewer_minute=self._viewer_minute,
                untracked=dict(self._untracked),
                missed_minutes=self._missed,
                domains=self._domains,
                errors={k: v.total for k, v in self._errors.items()},
                certs=dict(self._certs),
                packages=packages,
                rounds=dict(self._rounds),
                last_success=dict(self._last_success),
                unavailable={a: code for a, (code, _) in self._unavailable.items()},
            )


_books: weakref.WeakKeyDictionary[AccountGuard, PlaybackBook] = weakref.WeakKeyDictionary()
_books_lock = threading.Lock()


def book_of(guard: AccountGuard) -> PlaybackBook:
    """The playback book of the account whose guard this is (made on first use)."""
    with _books_lock:
        book = _books.get(guard)
        if book is None:
            book = _books[guard] = PlaybackBook(guard.name)
        return book


def existing_book(guard: AccountGuard) -> PlaybackBook | None:
    """The account's playback book if it has one (no book is made)."""
    with _books_lock:
        return _books.get(guard)
