"""Pure decisions for list-based polling: mode choice, paging consistency, what a round means.

Nothing here does I/O; the poller feeds it the pages it fetched and applies the result.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence, Set
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
    names: frozenset[str]
    consistent: bool
    pages: int


def assemble(pages: Sequence[Page], app: str) -> ListResult:
    """Join a round's pages; a round is consistent when paging saw a steady list.

    Streams starting or stopping while pages are fetched shift entries between pages, so one can
    be seen twice or not at all. Such a round shows as a changed TotalNum or a union that does
    not add up to it, and is counted as inconsistent; :func:`plan_round` says why its absences
    are still safe to use.
    """
    names: set[str] = set()
    listed = 0
    for page in pages:
        for item in page.items:
            _, item_app, stream = item
            listed += 1
            if item_app in ("", app):
                names.add(stream)
    totals = {page.total for page in pages}
    consistent = len(totals) <= 1 and listed == (pages[0].total if pages else 0)
    consistent = consistent and listed == len({(i[1], i[2]) for p in pages for i in p.items})
    return ListResult(frozenset(names), consistent, len(pages))


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
    believed_active: Set[str],
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
    """
    listed = result.names
    new = sorted(listed - tracked) if discovers else []
    discover = new[: max(0, room)]
    active = sorted((listed & tracked) | set(discover))
    absent: list[str] = []
    confirm: list[str] = []
    for name in sorted(tracked - listed):
        (confirm if name in believed_active else absent).append(name)
    return RoundPlan(active, absent, confirm, discover, len(new) - len(discover))


def forbidden_in(items: Iterable[tuple[str, str, str]], domain: str, app: str) -> frozenset[str]:
    """Stream names the forbid list bans for one domain/app (entries may omit domain or app)."""
    return frozenset(
        stream
        for item_domain, item_app, stream in items
        if item_domain in ("", domain) and item_app in ("", app)
    )


def expired(last_active: float | None, added: float, now: float, retention: float) -> bool:
    """A discovered stream is dropped once it has not been seen active for ``retention``."""
    seen = last_active if last_active is not None else added
    return now - seen >= retention
