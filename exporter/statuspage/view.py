"""The streams table's view: query parameters validated, then the one page of rows to show.

Filtering and ordering touch every row (there may be 100,000); the caller builds HTML only for
the rows selected.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from exporter.statuspage.format import esc
from exporter.statuspage.model import EXPECT_LIVE, PROBLEMS, STATES, StreamRow

__all__ = [
    "DEFAULT_LIMIT",
    "MAX_ECHO_CHARS",
    "MAX_LIMIT",
    "MAX_REFRESH",
    "MIN_REFRESH",
    "Selection",
    "View",
    "expected_down",
    "href",
    "is_problem",
    "parse_view",
    "select",
]

DEFAULT_LIMIT = 200
MAX_LIMIT = 1000
# Query values echoed back in notices are cut to this length.
MAX_ECHO_CHARS = 80
# ?refresh=N reloads the page every N seconds (a meta refresh: no JavaScript).
MIN_REFRESH = 5
MAX_REFRESH = 3600


@dataclass(frozen=True)
class View:
    """The effective, validated view of the streams table, and what was ignored on the way."""

    state: str | None  # one of STATES, or PROBLEMS
    q: str
    page: int
    limit: int
    limit_given: bool
    notices: tuple[str, ...]
    label: tuple[str, str] | None = None  # ?label=name:value
    refresh: int | None = None  # ?refresh=seconds


def _echo(value: str) -> str:
    """A query value for a notice (escaped later, with the rest of the notice)."""
    if len(value) > MAX_ECHO_CHARS:
        value = value[:MAX_ECHO_CHARS] + "…"
    return repr(value)


def _parse_int(value: str) -> int | None:
    text = value.strip()
    # int() also takes "1_000", "+3" and non-ASCII digits; keep to what a person types.
    if not text or not text.isascii() or not text.isdigit():
        return None
    # Huge numbers only ever get clamped: no need to convert thousands of digits.
    return int(text) if len(text) <= 18 else 10**18


def _param(query: Mapping[str, str], name: str) -> str:
    value = query.get(name)
    if not isinstance(value, str):
        return ""
    # Lone surrogates cannot be encoded, in a link or in the response: replace them.
    return value.encode("utf-8", "surrogatepass").decode("utf-8", "replace").strip()


def parse_view(query: Mapping[str, str]) -> View:
    notices: list[str] = []

    state: str | None = None
    raw_state = _param(query, "state")
    if raw_state:
        if raw_state.lower() in (*STATES, PROBLEMS):
            state = raw_state.lower()
        else:
            choices = ", ".join((*STATES, PROBLEMS))
            notices.append(f"Ignored state={_echo(raw_state)}: must be one of {choices}.")

    label: tuple[str, str] | None = None
    raw_label = _param(query, "label")
    if raw_label:
        name, sep, value = raw_label.partition(":")
        if sep and name.strip() and value.strip():
            label = (name.strip(), value.strip())
        else:
            notices.append(
                f"Ignored label={_echo(raw_label)}: write it as name:value, e.g. team:studio."
            )

    refresh: int | None = None
    raw_refresh = _param(query, "refresh")
    if raw_refresh:
        parsed_refresh = _parse_int(raw_refresh)
        if parsed_refresh is None or parsed_refresh < 1:
            notices.append(
                f"Ignored refresh={_echo(raw_refresh)}: not a positive number of seconds."
            )
        else:
            refresh = min(MAX_REFRESH, max(MIN_REFRESH, parsed_refresh))

    q = _param(query, "q")

    limit = DEFAULT_LIMIT
    limit_given = False
    raw_limit = _param(query, "limit")
    if raw_limit:
        parsed = _parse_int(raw_limit)
        if parsed is None or parsed < 1:
            notices.append(
                f"Ignored limit={_echo(raw_limit)}: not a positive integer; "
                f"showing {DEFAULT_LIMIT} per page."
            )
        elif parsed > MAX_LIMIT:
            notices.append(f"limit={parsed} is above the maximum; showing {MAX_LIMIT} per page.")
            limit, limit_given = MAX_LIMIT, True
        else:
            limit, limit_given = parsed, True

    page = 1
    raw_page = _param(query, "page")
    if raw_page:
        parsed = _parse_int(raw_page)
        if parsed is None or parsed < 1:
            notices.append(f"Ignored page={_echo(raw_page)}: not a positive integer.")
        else:
            page = parsed

    return View(state, q, page, limit, limit_given, tuple(notices), label, refresh)


def href(view: View, **changes: str | int | None) -> str:
    """A query-only link to the page with the current filters and ``changes`` applied.

    Only recognised parameters, with their effective values, are carried over; the result is
    URL-encoded and HTML-escaped, ready for an ``href`` attribute.
    """
    params: dict[str, str | int | None] = {
        "state": view.state,
        "label": f"{view.label[0]}:{view.label[1]}" if view.label else None,
        "q": view.q or None,
        "limit": view.limit if view.limit_given else None,
        "refresh": view.refresh,
        "page": None,
    }
    params.update(changes)
    if params["page"] == 1:
        params["page"] = None
    pairs = [(k, str(v)) for k, v in params.items() if v is not None and v != ""]
    return esc("?" + urllib.parse.urlencode(pairs) if pairs else "?")


def _sort_key(row: StreamRow) -> str:
    # Orders like the tuple (account, domain, app, stream), since NUL sorts before any other
    # character, but one string compares several times faster than a tuple: this sort is most
    # of the page's cost at 100,000 streams.
    return f"{row.account}\0{row.domain}\0{row.app}\0{row.stream}"


def _expected_now(row: StreamRow) -> bool:
    return row.expected if row.expected is not None else EXPECT_LIVE in row.labels


def expected_down(row: StreamRow) -> bool:
    """Expected live now, and not on air: what pages first."""
    return row.state in ("inactive", "forbid") and _expected_now(row)


def is_problem(row: StreamRow) -> bool:
    state = row.state
    if state == "active":
        return bool(row.last_error)
    if state == "inactive":
        return bool(row.last_error) or _expected_now(row)
    return True  # forbid, unknown, and anything unexpected


@dataclass(frozen=True)
class Selection:
    shown: list[StreamRow]
    matching: int
    first: int  # 1-based index of the first row shown; 0 when none
    page: int
    pages: int
    counts: dict[str, int]
    problems: int  # over all streams, not only the matching ones
    notices: tuple[str, ...]


def select(streams: Sequence[StreamRow], view: View) -> Selection:
    counts = dict.fromkeys(STATES, 0)
    problems_total = 0
    urgent: list[StreamRow] = []  # expected live and down: these page
    problems: list[StreamRow] = []
    rest: list[StreamRow] = []
    want_state = view.state
    needle = view.q.casefold()
    label = view.label
    for row in streams:
        state = row.state
        if state in counts:
            counts[state] += 1
        else:
            counts[state] = 1
        problem = is_problem(row)
        problems_total += problem
        wanted = want_state is None or state == want_state or (want_state == PROBLEMS and problem)
        if not wanted:
            continue
        if needle and needle not in f"{row.domain}/{row.app}/{row.stream}".casefold():
            continue
        if label is not None and label not in row.labels:
            continue
        if not problem:
            rest.append(row)
        elif expected_down(row):
            urgent.append(row)
        else:
            problems.append(row)
    # Expected live and down first, then the other problems, then the rest.
    groups = (urgent, problems, rest)
    matching = sum(len(g) for g in groups)
    pages = max(1, -(-matching // view.limit))
    page = view.page
    notices = view.notices
    if page > pages:
        notices += (f"Page {page} is past the last page; showing page {pages}.",)
        page = pages
    start = (page - 1) * view.limit
    end = min(start + view.limit, matching)

    # Sort only the group(s) the page falls in.
    shown: list[StreamRow] = []
    offset = 0
    for group in groups:
        if start < offset + len(group) and end > offset:
            group.sort(key=_sort_key)
            shown.extend(group[max(0, start - offset) : end - offset])
        offset += len(group)

    return Selection(
        shown=shown,
        matching=matching,
        first=start + 1 if shown else 0,
        page=page,
        pages=pages,
        counts=counts,
        problems=problems_total,
        notices=notices,
    )
