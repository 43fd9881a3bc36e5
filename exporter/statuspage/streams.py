"""The streams table: one row per stream of the page shown, with what an on-call engineer asks
first: is it expected live (its schedule, until when, or the next window), why did it stop (the
reason, the errcode, the message), and when does StreamDown page (or since when it pages).

Every piece of text from configuration, the API or the request is escaped.
"""

from __future__ import annotations

from collections.abc import Iterable

from exporter.statuspage.format import duration, esc, relative_time, time_cell, utc
from exporter.statuspage.model import EXPECT_LIVE, PROBLEMS, STATES, StatusSnapshot, StreamRow
from exporter.statuspage.view import Selection, View, expected_down, href, is_problem

__all__ = ["BADGE_CLASS", "MAX_MESSAGE_CHARS", "message", "streams_section"]

BADGE_CLASS = {"active": "b-ok", "inactive": "b-off", "forbid": "b-bad", "unknown": "b-warn"}
# Long error messages are cut in the table; the whole text stays in the cell's tooltip.
MAX_MESSAGE_CHARS = 240
# The rules' `for:` of StreamDown and StreamDidNotStart (prometheus/alerts.yml).
ALERT_FOR = 60.0
_REASON_CLASS = {"clean_stop": "b-off", "network": "b-bad", "auth_or_ban": "b-bad"}


def message(text: str) -> str:
    if len(text) <= MAX_MESSAGE_CHARS:
        return esc(text)
    return f'<span title="{esc(text)}">{esc(text[:MAX_MESSAGE_CHARS])}…</span>'


def _state_badge(row: StreamRow) -> str:
    cls = BADGE_CLASS.get(row.state, "b-warn")
    if expected_down(row):
        cls = "b-bad"
    return f'<span class="badge {cls}">{esc(row.state)}</span>'


def _labels(labels: Iterable[tuple[str, str]], view: View) -> str:
    chips = []
    for name, value in labels:
        hot = (name, value) == EXPECT_LIVE or (name == "expect_live" and value == "scheduled")
        cls = "chip chip-hot" if hot else "chip"
        # Each label filters the table by itself (?label=name:value).
        link = href(view, label=f"{name}:{value}", page=None)
        chips.append(f'<a class="{cls}" href="{link}">{esc(name)}=<b>{esc(value)}</b></a>')
    return " ".join(chips)


def _last_error(text: str, now: float, t: float | None) -> str:
    code, sep, rest = text.partition(": ")
    body = f"<code>{esc(code)}</code> {message(rest)}" if sep else message(text)
    when = (
        "" if t is None else f'<div class="when">{esc(relative_time(t, now))} · {esc(utc(t))}</div>'
    )
    return f'<div class="err">{body}</div>{when}'


def _when(t: float, now: float) -> str:
    return f"{utc(t)} ({relative_time(t, now)})"


def _expected(row: StreamRow, now: float) -> str:
    """Expected now, until when or from when, the schedule, and when the alert pages."""
    if row.expected is None and EXPECT_LIVE not in row.labels:
        return '<span class="muted">—</span>'
    parts = []
    if row.schedule is None:
        parts.append("<b>always</b>" if row.expected is not False else "<b>never</b>")
    elif row.window is None:
        parts.append('<span class="muted">no window left</span>')
    elif row.expected:
        parts.append(f"<b>expected live until</b> {esc(_when(row.window[1], now))}")
    else:
        parts.append(f"next window at {esc(_when(row.window[0], now))}")
    if row.schedule is not None:
        parts.append(f'<span class="muted">{esc(row.schedule)}</span>')
    if row.down_after is not None:
        parts.append(f'<span class="muted">down after {esc(duration(row.down_after))}</span>')
    pages = _pages(row, now)
    if pages:
        parts.append(pages)
    return "<br>".join(parts)


def _pages(row: StreamRow, now: float) -> str:
    """When StreamDown (or StreamDidNotStart) fires for a stream expected live and inactive."""
    expected = row.expected if row.expected is not None else EXPECT_LIVE in row.labels
    if row.state != "inactive" or row.since is None or not expected:
        return ""
    alert, at = "StreamDown", None
    if row.down_after is not None:
        at = row.since + row.down_after + ALERT_FOR
    if row.window is not None and row.since < row.window[0]:  # not on air in this window yet
        grace = row.start_grace if row.start_grace is not None else row.down_after
        if grace is not None:
            alert, at = "StreamDidNotStart", row.window[0] + grace + ALERT_FOR
    if at is None:
        return ""
    if at <= now:
        return f'<span class="badge b-bad">{alert} firing since {esc(utc(at))}</span>'
    return f'<span class="badge b-warn">{alert} fires {esc(_when(at, now))}</span>'


def _why(row: StreamRow, now: float) -> str:
    stop = row.interrupt
    if stop is None:
        return '<span class="muted">—</span>'
    cls = _REASON_CLASS.get(stop.reason, "b-warn")
    code = f" <code>errcode {stop.code}</code>" if stop.code is not None else ""
    text = f"<div>{message(stop.message)}</div>" if stop.message else ""
    source = "callback" if stop.source == "callback" else "event list"
    return (
        f'<span class="badge {cls}">{esc(stop.reason)}</span>{code}{text}'
        f'<div class="when">{esc(relative_time(stop.time, now))} · {esc(utc(stop.time))}'
        f" · {esc(source)}</div>"
    )


def _stream_row(row: StreamRow, now: float, view: View) -> str:
    error = _last_error(row.last_error, now, row.last_error_time) if row.last_error else ""
    return (
        f"<tr{' class=problem' if is_problem(row) else ''}>"
        f"<td>{esc(row.account)}</td>"
        f'<td class="name"><span class="muted">{esc(row.domain)}/{esc(row.app)}/</span>'
        f"<b>{esc(row.stream)}</b></td>"
        f"<td>{_labels(row.labels, view)}</td>"
        f"<td>{_state_badge(row)}</td>"
        f'<td class="nowrap">{time_cell(row.since, now)}</td>'
        f"<td>{esc(row.source) if row.source else '<span class=muted>—</span>'}</td>"
        f"<td>{_expected(row, now)}</td>"
        f"<td>{_why(row, now)}</td>"
        f"<td>{error}</td>"
        "</tr>"
    )


def _pager(view: View, sel: Selection) -> str:
    def link(label: str, page: int, enabled: bool) -> str:
        if not enabled:
            return f'<span class="off">{label}</span>'
        return f'<a href="{href(view, page=page)}">{label}</a>'

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


def _filter_form(view: View, total: int) -> str:
    options = ['<option value="">any state</option>']
    for state in (*STATES, PROBLEMS):
        selected = " selected" if state == view.state else ""
        options.append(f'<option value="{state}"{selected}>{state}</option>')
    hidden = f'<input type="hidden" name="limit" value="{view.limit}">' if view.limit_given else ""
    if view.refresh is not None:
        hidden += f'<input type="hidden" name="refresh" value="{view.refresh}">'
    label = f"{view.label[0]}:{view.label[1]}" if view.label else ""
    filtered = view.state or view.q or view.limit_given or view.label
    clear = ' <a href="?">clear filters</a>' if filtered else ""
    return (
        '<form class="filters" method="get" action="">'
        f'<label>State <select name="state">{"".join(options)}</select></label> '
        '<label>Stream contains <input type="search" name="q" size="28" '
        f'placeholder="domain/app/stream" value="{esc(view.q)}"></label> '
        '<label>Label <input type="search" name="label" size="16" '
        f'placeholder="team:studio" value="{esc(label)}"></label> '
        f"{hidden}<button type=submit>Filter</button>{clear}"
        f' <span class="muted">{total:,} streams configured</span>'
        "</form>"
    )


def streams_section(snapshot: StatusSnapshot, view: View, sel: Selection) -> str:
    now = snapshot.now
    rows = [_stream_row(r, now, view) for r in sel.shown]
    if not rows:
        what = "No streams match these filters." if snapshot.streams else "No streams configured."
        rows.append(f'<tr><td colspan="9" class="empty">{what}</td></tr>')
    notices = "".join(f'<p class="notice">{esc(n)}</p>' for n in sel.notices)
    pager = _pager(view, sel)
    return (
        '<section id="streams"><h2>Streams</h2>'
        '<p class="muted">Expected live and down first (these page), then the other problems '
        "(forbid, unknown, inactive while expected live, or with a recent error), then the rest; "
        "each by account, domain, app, stream. A label filters by itself.</p>"
        f"{_filter_form(view, len(snapshot.streams))}{notices}{pager}"
        '<table class="streams"><thead><tr><th>Account</th><th>Stream</th><th>Labels</th>'
        "<th>State</th><th>Since</th><th>Source</th><th>Expected live</th>"
        "<th>Why it stopped</th><th>Last error</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>{pager}</section>"
    )
