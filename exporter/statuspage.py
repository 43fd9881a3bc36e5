"""The status page at ``/``: what an on-call engineer needs at 3am, as plain server-rendered HTML.

A pure renderer: :func:`render_status_page` turns a :class:`StatusSnapshot` (built by the App)
and the request's query parameters into one HTML5 document. No I/O, no JavaScript, no external
assets (inline CSS only), and every piece of text that comes from configuration, the API or the
request is escaped with ``html.escape(..., quote=True)``: stream names may contain markup.

The streams table can hold 100,000 rows, so only one page of it is rendered: filtering and
ordering touch every row, HTML is built only for the rows shown.
"""

from __future__ import annotations

import html
import math
import urllib.parse
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

__all__ = [
    "DEFAULT_LIMIT",
    "MAX_LIMIT",
    "STATES",
    "ApiErrorRow",
    "BudgetRow",
    "StatusSnapshot",
    "StreamRow",
    "TargetRow",
    "render_status_page",
]

STATES = ("active", "inactive", "forbid", "unknown")
DEFAULT_LIMIT = 200
MAX_LIMIT = 1000
# A defensive cap: the caller already keeps only the latest few dozen errors.
MAX_ERRORS_SHOWN = 500
# Long error messages are cut in the table; the whole text stays in the cell's tooltip.
MAX_MESSAGE_CHARS = 240
# Query values echoed back in notices are cut to this length.
MAX_ECHO_CHARS = 80

_EXPECT_LIVE = ("expect_live", "true")


@dataclass(frozen=True)
class StreamRow:
    account: str
    domain: str
    app: str
    stream: str
    # Extra labels, e.g. (("env", "prod"), ("expect_live", "true")).
    labels: tuple[tuple[str, str], ...]
    state: str  # active | inactive | forbid | unknown
    since: float | None  # unix time of the last state change
    source: str | None  # state_api | online_list | forbid_list | callback | stale
    last_error: str | None  # "Code: message"
    last_error_time: float | None


@dataclass(frozen=True)
class ApiErrorRow:
    time: float
    account: str
    action: str
    code: str
    message: str
    request_id: str


@dataclass(frozen=True)
class BudgetRow:
    account: str
    action: str
    budget: float
    allowed: float  # throttled when allowed < budget
    backoff_seconds: float


@dataclass(frozen=True)
class TargetRow:
    account: str
    target: str
    mode: str
    streams: int
    interval: float
    last_success: float | None


@dataclass(frozen=True)
class StatusSnapshot:
    version: str
    now: float
    started: float
    ready: bool
    streams: Sequence[StreamRow]  # may be 100,000 long: only one page is rendered
    errors: Sequence[ApiErrorRow]  # newest first, already capped by the caller
    budgets: Sequence[BudgetRow]
    targets: Sequence[TargetRow]
    reload_ok: bool
    last_reload: float | None


# -- query parameters ------------------------------------------------------------------------


@dataclass(frozen=True)
class _View:
    """The effective, validated view of the streams table, and what was ignored on the way."""

    state: str | None
    q: str
    page: int
    limit: int
    limit_given: bool
    notices: tuple[str, ...]


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


def _parse_view(query: Mapping[str, str]) -> _View:
    notices: list[str] = []

    state: str | None = None
    raw_state = _param(query, "state")
    if raw_state:
        if raw_state.lower() in STATES:
            state = raw_state.lower()
        else:
            notices.append(f"Ignored state={_echo(raw_state)}: must be one of {', '.join(STATES)}.")

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

    return _View(state, q, page, limit, limit_given, tuple(notices))


def _href(view: _View, **changes: str | int | None) -> str:
    """A query-only link to the page with the current filters and ``changes`` applied.

    Only recognised parameters, with their effective values, are carried over; the result is
    URL-encoded and HTML-escaped, ready for an ``href`` attribute.
    """
    params: dict[str, str | int | None] = {
        "state": view.state,
        "q": view.q or None,
        "limit": view.limit if view.limit_given else None,
        "page": None,
    }
    params.update(changes)
    if params["page"] == 1:
        params["page"] = None
    pairs = [(k, str(v)) for k, v in params.items() if v is not None and v != ""]
    return _esc("?" + urllib.parse.urlencode(pairs) if pairs else "?")


# -- formatting ------------------------------------------------------------------------------


def _esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def _utc(t: float) -> str:
    try:
        return datetime.fromtimestamp(t, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    except (OverflowError, OSError, ValueError):
        return str(t)


def _span(seconds: float) -> str:
    """A duration the way people say it: 42s, 5m, 3h 5m, 2d 4h."""
    if not math.isfinite(seconds):
        return "?"
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m"
    if s < 86400:
        h, m = divmod(s // 60, 60)
        return f"{h}h {m}m" if m else f"{h}h"
    d, h = divmod(s // 3600, 24)
    return f"{d}d {h}h" if h else f"{d}d"


def relative_time(t: float, now: float) -> str:
    """``5m ago`` for a time before ``now``; ``in 5s`` for one after it (clock skew)."""
    delta = now - t
    if not math.isfinite(delta):
        return "?"
    if delta < 0:
        return f"in {_span(-delta)}"
    return f"{_span(delta)} ago"


def _when(t: float | None, now: float, missing: str = "—") -> str:
    """Relative time, with the absolute UTC time underneath (both escaped)."""
    if t is None:
        return f'<span class="muted">{_esc(missing)}</span>'
    return (
        f'<span class="rel">{_esc(relative_time(t, now))}</span>'
        f'<span class="abs">{_esc(_utc(t))}</span>'
    )


def _num(x: float) -> str:
    if not math.isfinite(x):
        return str(x)
    text = f"{x:,.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _seconds(x: float) -> str:
    """An interval or back-off, exactly: 12.5s, 45s, 1m 30s, 2h."""
    if not math.isfinite(x):
        return str(x)
    if x < 60 or x != int(x):
        return f"{_num(x)}s"
    s = int(x)
    parts = [(s // 86400, "d"), (s % 86400 // 3600, "h"), (s % 3600 // 60, "m"), (s % 60, "s")]
    return " ".join(f"{n}{unit}" for n, unit in parts if n)


# -- the streams table -----------------------------------------------------------------------


def _sort_key(row: StreamRow) -> str:
    # Orders like the tuple (account, domain, app, stream), since NUL sorts before any other
    # character, but one string compares several times faster than a tuple: this sort is most
    # of the page's cost at 100,000 streams.
    return f"{row.account}\0{row.domain}\0{row.app}\0{row.stream}"


def _is_problem(row: StreamRow) -> bool:
    state = row.state
    if state == "active":
        return bool(row.last_error)
    if state == "inactive":
        return bool(row.last_error) or _EXPECT_LIVE in row.labels
    return True  # forbid, unknown, and anything unexpected


@dataclass(frozen=True)
class _Selection:
    shown: list[StreamRow]
    matching: int
    first: int  # 1-based index of the first row shown; 0 when none
    page: int
    pages: int
    counts: dict[str, int]
    problems: int  # over all streams, not only the matching ones
    notices: tuple[str, ...]


def _select(streams: Sequence[StreamRow], view: _View) -> _Selection:
    counts = dict.fromkeys(STATES, 0)
    problems_total = 0
    problems: list[StreamRow] = []
    rest: list[StreamRow] = []
    want_state = view.state
    needle = view.q.casefold()
    for row in streams:
        state = row.state
        if state in counts:
            counts[state] += 1
        else:
            counts[state] = 1
        problem = _is_problem(row)
        problems_total += problem
        if want_state is not None and state != want_state:
            continue
        if needle and needle not in f"{row.domain}/{row.app}/{row.stream}".casefold():
            continue
        (problems if problem else rest).append(row)

    matching = len(problems) + len(rest)
    pages = max(1, -(-matching // view.limit))
    page = view.page
    notices = view.notices
    if page > pages:
        notices += (f"Page {page} is past the last page; showing page {pages}.",)
        page = pages
    start = (page - 1) * view.limit
    end = min(start + view.limit, matching)

    # Sort only the group(s) the page falls in. Problems come first.
    shown: list[StreamRow] = []
    n_problems = len(problems)
    if start < n_problems:
        problems.sort(key=_sort_key)
        shown.extend(problems[start : min(end, n_problems)])
    if end > n_problems:
        rest.sort(key=_sort_key)
        shown.extend(rest[max(0, start - n_problems) : end - n_problems])

    return _Selection(
        shown=shown,
        matching=matching,
        first=start + 1 if shown else 0,
        page=page,
        pages=pages,
        counts=counts,
        problems=problems_total,
        notices=notices,
    )


_BADGE_CLASS = {"active": "b-ok", "inactive": "b-off", "forbid": "b-bad", "unknown": "b-warn"}


def _state_badge(row: StreamRow) -> str:
    cls = _BADGE_CLASS.get(row.state, "b-warn")
    if row.state == "inactive" and _EXPECT_LIVE in row.labels:
        cls = "b-bad"
    return f'<span class="badge {cls}">{_esc(row.state)}</span>'


def _labels(labels: Iterable[tuple[str, str]]) -> str:
    chips = []
    for name, value in labels:
        cls = "chip chip-hot" if (name, value) == _EXPECT_LIVE else "chip"
        chips.append(f'<span class="{cls}">{_esc(name)}=<b>{_esc(value)}</b></span>')
    return " ".join(chips)


def _message(text: str) -> str:
    if len(text) <= MAX_MESSAGE_CHARS:
        return _esc(text)
    return f'<span title="{_esc(text)}">{_esc(text[:MAX_MESSAGE_CHARS])}…</span>'


def _last_error(text: str, now: float, t: float | None) -> str:
    code, sep, message = text.partition(": ")
    body = f"<code>{_esc(code)}</code> {_message(message)}" if sep else _message(text)
    when = (
        ""
        if t is None
        else f'<div class="when">{_esc(relative_time(t, now))} · {_esc(_utc(t))}</div>'
    )
    return f'<div class="err">{body}</div>{when}'


def _stream_row(row: StreamRow, now: float, problem: bool) -> str:
    error = _last_error(row.last_error, now, row.last_error_time) if row.last_error else ""
    return (
        f"<tr{' class=problem' if problem else ''}>"
        f"<td>{_esc(row.account)}</td>"
        f'<td class="name"><span class="muted">{_esc(row.domain)}/{_esc(row.app)}/</span>'
        f"<b>{_esc(row.stream)}</b></td>"
        f"<td>{_labels(row.labels)}</td>"
        f"<td>{_state_badge(row)}</td>"
        f'<td class="nowrap">{_when(row.since, now)}</td>'
        f"<td>{_esc(row.source) if row.source else '<span class=muted>—</span>'}</td>"
        f"<td>{error}</td>"
        "</tr>"
    )


def _pager(view: _View, sel: _Selection) -> str:
    def link(label: str, page: int, enabled: bool) -> str:
        if not enabled:
            return f'<span class="off">{label}</span>'
        return f'<a href="{_href(view, page=page)}">{label}</a>'

    last = sel.first + len(sel.shown) - 1
    shown = (
        f"showing {sel.first:,}&ndash;{last:,} of {sel.matching:,}"
        if sel.shown
        else "showing 0 of 0"
    )
    return (
        '<div class="pager">'
        f"{link('&laquo; first', 1, sel.page > 1)} "
        f"{link('&lsaquo; prev', sel.page - 1, sel.page > 1)} "
        f"<span>page {sel.page:,} of {sel.pages:,} · {shown}</span> "
        f"{link('next &rsaquo;', sel.page + 1, sel.page < sel.pages)} "
        f"{link('last &raquo;', sel.pages, sel.page < sel.pages)}"
        "</div>"
    )


def _filter_form(view: _View, total: int) -> str:
    options = ['<option value="">any state</option>']
    for state in STATES:
        selected = " selected" if state == view.state else ""
        options.append(f'<option value="{state}"{selected}>{state}</option>')
    limit = f'<input type="hidden" name="limit" value="{view.limit}">' if view.limit_given else ""
    clear = ' <a href="?">clear filters</a>' if (view.state or view.q or view.limit_given) else ""
    return (
        '<form class="filters" method="get" action="">'
        f'<label>State <select name="state">{"".join(options)}</select></label> '
        '<label>Stream contains <input type="search" name="q" size="32" '
        f'placeholder="domain/app/stream" value="{_esc(view.q)}"></label> '
        f"{limit}<button type=submit>Filter</button>{clear}"
        f' <span class="muted">{total:,} streams configured</span>'
        "</form>"
    )


def _streams_section(snapshot: StatusSnapshot, view: _View, sel: _Selection) -> str:
    now = snapshot.now
    rows = [_stream_row(r, now, _is_problem(r)) for r in sel.shown]
    if not rows:
        what = "No streams match these filters." if snapshot.streams else "No streams configured."
        rows.append(f'<tr><td colspan="7" class="empty">{what}</td></tr>')
    notices = "".join(f'<p class="notice">{_esc(n)}</p>' for n in sel.notices)
    pager = _pager(view, sel)
    return (
        '<section id="streams"><h2>Streams</h2>'
        '<p class="muted">Problems first (forbid, unknown, inactive while expected live, '
        "or with a recent error), then the rest; each by account, domain, app, stream.</p>"
        f"{_filter_form(view, len(snapshot.streams))}{notices}{pager}"
        '<table class="streams"><thead><tr><th>Account</th><th>Stream</th><th>Labels</th>'
        "<th>State</th><th>Since</th><th>Source</th><th>Last error</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>{pager}</section>"
    )


# -- the other sections ----------------------------------------------------------------------


def _summary(view: _View, sel: _Selection) -> str:
    parts = []
    for state in STATES:
        n = sel.counts.get(state, 0)
        cls = _BADGE_CLASS[state] if n or state == "active" else ""
        parts.append(
            f'<a class="count {cls}" href="{_href(view, state=state)}"><b>{n:,}</b> {state}</a>'
        )
    for state, n in sel.counts.items():
        if state not in STATES:
            parts.append(f'<span class="count b-warn"><b>{n:,}</b> {_esc(state)}</span>')
    problems_cls = "b-bad" if sel.problems else "b-ok"
    parts.append(f'<span class="count {problems_cls}"><b>{sel.problems:,}</b> problems</span>')
    return f'<div class="counts">{"".join(parts)}</div>'


def _header(snapshot: StatusSnapshot) -> str:
    now = snapshot.now
    ready = (
        '<span class="badge b-ok">READY</span>'
        if snapshot.ready
        else '<span class="badge b-warn">NOT READY</span>'
    )
    reload_badge = (
        '<span class="badge b-ok">OK</span>'
        if snapshot.reload_ok
        else '<span class="badge b-bad">FAILED</span>'
    )
    reload_when = (
        "never reloaded"
        if snapshot.last_reload is None
        else f"{relative_time(snapshot.last_reload, now)} ({_utc(snapshot.last_reload)})"
    )
    return (
        "<header><h1>Tencent Live Exporter</h1>"
        '<nav><a href="/metrics">Metrics</a> <a href="/-/healthy">Health</a> '
        '<a href="/-/ready">Readiness</a></nav>'
        '<dl class="facts">'
        f"<div><dt>Version</dt><dd>{_esc(snapshot.version)}</dd></div>"
        f"<div><dt>Uptime</dt><dd>{_esc(_span(max(0.0, now - snapshot.started)))}"
        f' <span class="muted">since {_esc(_utc(snapshot.started))}</span></dd></div>'
        f"<div><dt>Ready</dt><dd>{ready}</dd></div>"
        f"<div><dt>Config reload</dt><dd>{reload_badge} "
        f'<span class="muted">{_esc(reload_when)}</span></dd></div>'
        f"<div><dt>Snapshot</dt><dd>{_esc(_utc(now))}</dd></div>"
        "</dl></header>"
    )


def _budgets_section(snapshot: StatusSnapshot) -> str:
    rows = []
    for b in sorted(snapshot.budgets, key=lambda b: (b.account, b.action)):
        throttled = b.allowed < b.budget
        status = (
            '<span class="badge b-bad">THROTTLED</span>'
            if throttled
            else '<span class="badge b-ok">ok</span>'
        )
        backoff = (
            f'<span class="badge b-warn">{_esc(_seconds(b.backoff_seconds))}</span>'
            if b.backoff_seconds > 0
            else '<span class="muted">—</span>'
        )
        rows.append(
            f"<tr{' class=problem' if throttled or b.backoff_seconds > 0 else ''}>"
            f"<td>{_esc(b.account)}</td><td>{_esc(b.action)}</td>"
            f'<td class="num">{_esc(_num(b.budget))}/s</td>'
            f'<td class="num">{_esc(_num(b.allowed))}/s</td>'
            f"<td>{status}</td><td>{backoff}</td></tr>"
        )
    if not rows:
        rows.append('<tr><td colspan="6" class="empty">No accounts.</td></tr>')
    return (
        '<section id="budgets"><h2>Budget &amp; throttling</h2>'
        "<table><thead><tr><th>Account</th><th>Action</th><th>Budget</th><th>Allowed</th>"
        "<th>Status</th><th>Back-off</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table></section>"
    )


def _targets_section(snapshot: StatusSnapshot) -> str:
    now = snapshot.now
    rows = [
        f"<tr><td>{_esc(t.account)}</td><td>{_esc(t.target)}</td><td>{_esc(t.mode)}</td>"
        f'<td class="num">{t.streams:,}</td><td class="num">{_esc(_seconds(t.interval))}</td>'
        f'<td class="nowrap">{_when(t.last_success, now, "never")}</td></tr>'
        for t in sorted(snapshot.targets, key=lambda t: (t.account, t.target))
    ]
    if not rows:
        rows.append('<tr><td colspan="6" class="empty">No targets configured.</td></tr>')
    return (
        '<section id="targets"><h2>Targets</h2>'
        "<table><thead><tr><th>Account</th><th>Target</th><th>Mode</th><th>Streams</th>"
        "<th>Interval</th><th>Last success</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table></section>"
    )


def _errors_section(snapshot: StatusSnapshot) -> str:
    now = snapshot.now
    errors = snapshot.errors[:MAX_ERRORS_SHOWN]
    rows = [
        f'<tr><td class="nowrap">{_when(e.time, now)}</td><td>{_esc(e.account)}</td>'
        f"<td>{_esc(e.action)}</td><td><code>{_esc(e.code)}</code></td>"
        f"<td>{_message(e.message)}</td>"
        f'<td class="rid"><code>{_esc(e.request_id) or "—"}</code></td></tr>'
        for e in errors
    ]
    if not rows:
        rows.append('<tr><td colspan="6" class="empty">No API errors recently.</td></tr>')
    return (
        '<section id="errors"><h2>Recent API errors</h2>'
        f'<p class="muted">Newest first ({len(errors):,} shown).</p>'
        "<table><thead><tr><th>Time</th><th>Account</th><th>Action</th><th>Code</th>"
        "<th>Message</th><th>RequestId</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table></section>"
    )


_CSS = """
:root{--bg:#f6f7f9;--fg:#1d232b;--muted:#5f6b7a;--card:#fff;--line:#dde2e8;--head:#eef1f5;
--ok:#11713a;--ok-bg:#dcf3e4;--bad:#a3161b;--bad-bg:#fde1e1;--warn:#8a5300;--warn-bg:#fff0cc;
--off:#444c56;--off-bg:#e6e9ed;--link:#0b57c5;--hot:#fff6f6}
@media (prefers-color-scheme:dark){:root{--bg:#14171c;--fg:#e6e9ee;--muted:#9aa5b3;
--card:#1c2027;--line:#2f3540;--head:#232832;--ok:#7ee2a0;--ok-bg:#183a26;--bad:#ff9b9b;
--bad-bg:#4a1c1f;--warn:#ffd27a;--warn-bg:#43351a;--off:#c3cad3;--off-bg:#2c323b;
--link:#8ab4ff;--hot:#2a1d20}}
*{box-sizing:border-box}
body{margin:0;padding:16px 24px 40px;background:var(--bg);color:var(--fg);
font:14px/1.45 "DejaVu Sans",system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif}
a{color:var(--link)}
h1{font-size:22px;margin:0 16px 0 0;display:inline-block}
h2{font-size:17px;margin:20px 0 6px}
header nav{display:inline-block}
header nav a{margin-right:14px;font-weight:600}
.facts{display:flex;flex-wrap:wrap;gap:8px 28px;margin:12px 0 0;padding:10px 14px;
background:var(--card);border:1px solid var(--line);border-radius:6px}
.facts div{display:flex;gap:8px;align-items:baseline}
.facts dt{color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.04em}
.facts dd{margin:0;font-weight:600}
.counts{display:flex;flex-wrap:wrap;gap:8px;margin:12px 0 0}
.count{padding:6px 12px;border-radius:6px;text-decoration:none;color:var(--fg);
background:var(--card);border:1px solid var(--line)}
.count b{font-size:17px;margin-right:2px}
.count.b-ok{border-color:var(--ok)}.count.b-bad{border-color:var(--bad)}
.count.b-warn{border-color:var(--warn)}.count.b-off{border-color:var(--off)}
table{border-collapse:collapse;width:100%;background:var(--card);border:1px solid var(--line)}
th,td{text-align:left;vertical-align:top;padding:5px 9px;border-bottom:1px solid var(--line)}
th{background:var(--head);font-size:12px;text-transform:uppercase;letter-spacing:.04em;
color:var(--muted);white-space:nowrap}
tbody tr:hover{background:var(--head)}
tr.problem td:first-child{box-shadow:inset 4px 0 0 var(--bad)}
tr.problem{background:var(--hot)}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.name{overflow-wrap:anywhere;min-width:24em}
td.empty{color:var(--muted);font-style:italic;text-align:center;padding:14px}
td.rid code{white-space:nowrap;font-size:12px}
.nowrap{white-space:nowrap}
.muted{color:var(--muted)}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:700;
letter-spacing:.03em;white-space:nowrap}
.b-ok{color:var(--ok);background:var(--ok-bg)}.b-bad{color:var(--bad);background:var(--bad-bg)}
.b-warn{color:var(--warn);background:var(--warn-bg)}
.b-off{color:var(--off);background:var(--off-bg)}
.count.b-ok,.count.b-bad,.count.b-warn,.count.b-off{background:var(--card)}
.count.b-bad b{color:var(--bad)}.count.b-warn b{color:var(--warn)}.count.b-ok b{color:var(--ok)}
.chip{display:inline-block;margin:1px 2px 1px 0;padding:0 6px;border-radius:4px;font-size:12px;
background:var(--off-bg);color:var(--off);overflow-wrap:anywhere}
.chip-hot{background:var(--warn-bg);color:var(--warn)}
.rel{display:block;font-weight:600}
.abs{display:block;font-size:11px;color:var(--muted)}
.err{color:var(--bad);overflow-wrap:anywhere}
.err code{font-weight:700}
code{font-family:"DejaVu Sans Mono",ui-monospace,Menlo,Consolas,monospace;font-size:12.5px}
.when{margin-top:2px;font-size:11px;color:var(--muted)}
.facts .muted{font-weight:400}
.filters{display:flex;flex-wrap:wrap;gap:8px 14px;align-items:center;margin:8px 0}
.filters input,.filters select,.filters button{font:inherit;padding:3px 6px}
.notice{margin:6px 0;padding:6px 10px;border-left:4px solid var(--warn);
background:var(--warn-bg);color:var(--fg)}
.pager{margin:8px 0;display:flex;gap:12px;align-items:center;flex-wrap:wrap}
.pager .off{color:var(--muted)}
footer{margin-top:28px;color:var(--muted);font-size:12px}
"""


def render_status_page(snapshot: StatusSnapshot, query: Mapping[str, str]) -> str:
    """The whole page for ``snapshot``, with the streams table filtered and paged by ``query``.

    Query parameters: ``state`` (active, inactive, forbid or unknown), ``q`` (case-insensitive
    substring of ``domain/app/stream``), ``page`` (1-based) and ``limit`` (default 200, at
    most 1000). Invalid values are ignored with a notice on the page; this never raises for a
    query.
    """
    view = _parse_view(query)
    sel = _select(snapshot.streams, view)
    title = "Tencent Live Exporter"
    if sel.problems:
        title = f"({sel.problems:,} problems) {title}"
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="color-scheme" content="light dark">'
        f"<title>{_esc(title)}</title><style>{_CSS}</style></head><body>"
        f"{_header(snapshot)}{_summary(view, sel)}"
        f"{_budgets_section(snapshot)}{_targets_section(snapshot)}"
        f"{_streams_section(snapshot, view, sel)}{_errors_section(snapshot)}"
        f"<footer>tencent-live-exporter {_esc(snapshot.version)} · times in UTC</footer>"
        "</body></html>\n"
    )
