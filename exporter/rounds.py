"""Pure decisions for list-based polling: mode choice, paging consistency, what a round means.

Nothing here does I/O; the poller feeds it the pages it fetched and applies the result.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Iterable, Sequence, Set
from dataclasses import dataclass

from exporter.client import Page

# A target with at most this many configured streams and no discovery is polled per stream by
# `auto`: one round of the list costs at least one call, and state polls give per-stream errors.
AUTO_STATE_MAX_STREAMS = 10


def choose_mode(mode: str, streams: int, discovers: bool) -> str:
    """The poll mode for a target; ``auto`` resolves to ``state`` or ``online_list``."""
    if mode != "auto":
        return mode
    if discovers or streams > AUTO_STATE_MAX_STREAMS:
        return "online_list"
    return "state"


def list_costs_more(pages: int, streams: int, round_interval: float, interval: float) -> bool:
    """After a round: would per-stream polling be cheaper than paging this domain's list?

    `auto` switches a configured (non-discovery) target to ``state`` when the domain has so many
    other streams online that listing it costs more calls per hour than polling each stream.
    """
    return pages / round_interval > streams / interval


@dataclass(frozen=True)
class ListResult:
    names: Set[str]  # the streams listed for the target's app (read-only)
    consistent: bool
    pages: int


class Assembler:
    """Joins a round's pages as they arrive; a round is consistent when paging saw a steady list.

    Streams starting or stopping while pages are fetched shift entries between pages, so one can
    be seen twice or not at all. Such a round shows as a changed TotalNum or a union that does
    not add up to it, and is counted as inconsistent; :func:`plan_round` says why its absences
    are still safe to use.

    Pages are folded in one at a time and not kept: a 100-page round of a 100k-stream domain
    would otherwise hold 100k parsed tuples until its last page, a transient peak that leaves the
    allocator's arenas fragmented around whatever long-lived objects were made meanwhile.
    ``canonical`` maps a listed name to an equal string the caller already holds, so the names
    kept for the round are not new objects either.
    """

    def __init__(self, app: str, canonical: Callable[[str], str] | None = None) -> None:
        self._app = app
        self._canonical = canonical
        # stream -> which of (this app, no app) listed it: each (app, stream) pair counts once.
        self._names: dict[str, int] = {}
        self._others: set[tuple[str, str]] = set()
        self._unique = 0
        self._listed = 0
        self._totals: set[int] = set()
        self._first_total: int | None = None
        self._pages = 0

    def add(self, page: Page) -> None:
        self._pages += 1
        self._totals.add(page.total)
        if self._first_total is None:
            self._first_total = page.total
        names = self._names
        for _, item_app, stream in page.items:
            self._listed += 1
            if item_app == self._app or item_app == "":
                bit = 1 if item_app else 2
                had = names.get(stream, 0)
                if not had & bit:
                    self._unique += 1
                    if not had and self._canonical is not None:
                        stream = self._canonical(stream)
                    names[stream] = had | bit
            elif (item_app, stream) not in self._others:
                self._unique += 1
                self._others.add((item_app, stream))

    def result(self) -> ListResult:
        expected = self._first_total if self._first_total is not None else 0
        consistent = len(self._totals) <= 1 and self._listed == expected == self._unique
        # The assembler's own keys, not a copy: at 100k streams a frozenset is 4 MB more per
        # round, and the assembler is dropped with the round anyway.
        return ListResult(self._names.keys(), consistent, self._pages)


def assemble(pages: Iterable[Page], app: str) -> ListResult:
    """Join a round's pages at once (see :class:`Assembler`)."""
    assembler = Assembler(app)
    for page in pages:
        assembler.add(page)
    return assembler.result()


@dataclass(frozen=True)
class RoundPlan:
    active: list[str]  # listed: active
    absent: list[str]  # not listed and not believed active: inactive (unless banned)
    confirm: list[str]  # not listed but believed active: ask the state API before saying so
    discover: list[str]  # listed, untracked, within the cap: start tracking
    capped: int  # listed, untracked, over the cap


def plan_round(
    result: ListResult,
    tracked: Set[str],
    believed_active: Container[str],
    discovers: bool,
    room: int,
) -> RoundPlan:
    """What one list round says about each stream.

    A stream believed active and missing from the list is confirmed with the state API instead
    of being reported inactive: paging can miss a stream that moved between pages, in a way
    that no count always reveals, and a false "down" pages someone. A stream not believed
    active that is missing stays or becomes inactive: if paging missed it just as it came
    online, it shows active one round late, never falsely down. So the rule is the same whether
    or not the round was consistent; in a busy domain (100 pages, thousands of streams going on
    and off air) almost no round is, and distrusting every absence would freeze the domain.

    ``believed_active`` is asked only about tracked streams missing from the list, so it can be
    a lookup rather than a set built for the round. Only lists are built here: at 100k streams
    each set operation of the round would be another 4 MB.
    """
    listed = result.names
    new = sorted(n for n in listed if n not in tracked) if discovers else []
    discover = new[: max(0, room)]
    active = [n for n in listed if n in tracked]
    active += discover
    active.sort()
    absent: list[str] = []
    confirm: list[str] = []
    for name in sorted(n for n in tracked if n not in listed):
        (confirm if name in believed_active else absent).append(name)
    return RoundPlan(active, absent, confirm, discover, len(new) - len(discover))


def forbidden_in(items: Iterable[tuple[str, str, str]], domain: str, app: str) -> frozenset[str]:
    """Stream names the forbid list bans for one domain/app (entries may omit domain or app)."""
    return frozenset(
        stream
        for item_domain, item_app, stream in items
        if item_domain in ("", domain) and item_app in ("", app)
    )


@dataclass(frozen=True)
class Bans:
    banned: dict[int, set[str]]  # target (by position) -> stream names banned there
    unsure: list[tuple[int, str]]  # (target, stream): a ban that may be this stream's


def assign_bans(
    items: Iterable[tuple[str, str, str]], targets: Sequence[tuple[str, str, Container[str]]]
) -> Bans:
    """Which tracked streams the forbid list's entries ban.

    ``targets`` holds (domain, app, tracked names) per target. Entries may come without
    DomainName or AppName (the China site's example has neither; the international model says
    "may return null"): such an entry is applied where exactly one tracked stream matches it,
    and where several do (the same name on two domains) none is taken as banned: each is
    ``unsure`` and left to a state poll, which knows.
    """
    banned: dict[int, set[str]] = {}
    unsure: list[tuple[int, str]] = []
    for domain, app, stream in items:
        matches = [
            i
            for i, (t_domain, t_app, names) in enumerate(targets)
            if domain in ("", t_domain) and app in ("", t_app) and stream in names
        ]
        if len(matches) == 1:
            banned.setdefault(matches[0], set()).add(stream)
        else:
            unsure.extend((i, stream) for i in matches)
    return Bans(banned, unsure)


def expired(last_active: float | None, added: float, now: float, retention: float) -> bool:
    """A discovered stream is dropped once it has not been seen active for ``retention``."""
    seen = last_active if last_active is not None else added
    return now - seen >= retention
