"""The status page's HTML: the header, the counts, and one section per table.

Every piece of text that comes from configuration, the API or the request is escaped with
``html.escape(..., quote=True)`` (:func:`~exporter.statuspage.format.esc`): stream names may
contain markup.
"""

from __future__ import annotations

from collections.abc import Mapping

from exporter.statuspage.format import (
    duration,
    esc,
    number,
    relative_time,
    span,
    time_cell,
    utc,
)
from exporter.statuspage.model import PROBLEMS, STATES, StatusSnapshot
from exporter.statuspage.streams import BADGE_CLASS, MAX_MESSAGE_CHARS, message, streams_section
from exporter.statuspage.style import CSS
from exporter.statuspage.view import Selection, View, href, parse_view, select

__all__ = ["MAX_ERRORS_SHOWN", "MAX_MESSAGE_CHARS", "render_status_page"]

# A defensive cap: the caller already keeps only the latest few dozen errors.
MAX_ERRORS_SHOWN = 500


# -- the other sections ----------------------------------------------------------------------


def _summary(view: View, sel: Selection) -> str:
    parts = []
    for state in STATES:
        n = sel.counts.get(state, 0)
        cls = BADGE_CLASS[state] if n or state == "active" else ""
        parts.append(
            f'<a class="count {cls}" href="{href(view, state=state)}"><b>{n:,}</b> {state}</a>'
        )
    for state, n in sel.counts.items():
        if state not in STATES:
            parts.append(f'<span class="count b-warn"><b>{n:,}</b> {esc(state)}</span>')
    problems_cls = "b-bad" if sel.problems else "b-ok"
    # The problems count is the filter that shows them.
    link = href(view, state=PROBLEMS)
    parts.append(
        f'<a class="count {problems_cls}" href="{link}"><b>{sel.problems:,}</b> problems</a>'
    )
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
        else f"{relative_time(snapshot.last_reload, now)} ({utc(snapshot.last_reload)})"
    )
    return (
        "<header><h1>Tencent Live Exporter</h1>"
        '<nav><a href="/metrics">Metrics</a> <a href="/-/healthy">Health</a> '
        '<a href="/-/ready">Readiness</a></nav>'
        '<dl class="facts">'
        f"<div><dt>Version</dt><dd>{esc(snapshot.version)}</dd></div>"
        f"<div><dt>Uptime</dt><dd>{esc(span(max(0.0, now - snapshot.started)))}"
        f' <span class="muted">since {esc(utc(snapshot.started))}</span></dd></div>'
        f"<div><dt>Ready</dt><dd>{ready}</dd></div>"
        f"<div><dt>Config reload</dt><dd>{reload_badge} "
        f'<span class="muted">{esc(reload_when)}</span></dd></div>'
        f"<div><dt>Snapshot</dt><dd>{esc(utc(now))}</dd></div>"
        "</dl>"
        f"{_plain_http_warning(snapshot)}</header>"
    )


def _plain_http_warning(snapshot: StatusSnapshot) -> str:
    count, last = snapshot.plain_http_callbacks
    if not count:
        return ""
    when = relative_time(last, snapshot.now) if last is not None else "?"
    return (
        '<p class="problem" id="plain-http-callbacks"><span class="badge b-warn">HTTP</span> '
        f"{count:,} CSS callbacks came over plain HTTP from outside this host (last {esc(when)}):"
        " their signature can be read on the way and replayed. Point the callback URL at"
        " HTTPS.</p>"
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
            f'<span class="badge b-warn">{esc(duration(b.backoff_seconds))}</span>'
            if b.backoff_seconds > 0
            else '<span class="muted">—</span>'
        )
        rows.append(
            f"<tr{' class=problem' if throttled or b.backoff_seconds > 0 else ''}>"
            f"<td>{esc(b.account)}</td><td>{esc(b.action)}</td>"
            f'<td class="num">{esc(number(b.budget))}/s</td>'
            f'<td class="num">{esc(number(b.allowed))}/s</td>'
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


def _problem(text: str | None) -> str:
    if text is None:
        return '<span class="muted">—</span>'
    return f'<span class="badge b-bad">{esc(text)}</span>'


def _targets_section(snapshot: StatusSnapshot) -> str:
    now = snapshot.now
    rows = [
        f"<tr{' class=problem' if t.problem else ''}><td>{esc(t.account)}</td>"
        f"<td>{esc(t.target)}</td><td>{esc(t.mode)}</td>"
        f'<td class="num">{t.streams:,}</td><td class="num">{esc(duration(t.interval))}</td>'
        f'<td class="nowrap">{time_cell(t.last_success, now, "never")}</td>'
        f"<td>{_problem(t.problem)}</td></tr>"
        for t in sorted(snapshot.targets, key=lambda t: (t.account, t.target))
    ]
    if not rows:
        rows.append('<tr><td colspan="7" class="empty">No targets configured.</td></tr>')
    return (
        '<section id="targets"><h2>Targets</h2>'
        "<table><thead><tr><th>Account</th><th>Target</th><th>Mode</th><th>Streams</th>"
        "<th>Interval</th><th>Last success</th><th>Problem</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table></section>"
    )


def _accounts_section(snapshot: StatusSnapshot) -> str:
    now = snapshot.now
    rows = []
    for a in sorted(snapshot.accounts, key=lambda a: a.account):
        if a.answered is None:
            api = '<span class="muted">no call yet</span>'
        elif a.answered:
            api = '<span class="badge b-ok">answers</span>'
        else:
            api = f'<span class="badge b-bad">not answering: {esc(a.cause or "?")}</span>'
        denied = ", ".join(f"{d}: {code}" for d, code in a.denied)
        bad = a.answered is False or bool(a.denied) or a.forbid.startswith("unavailable")
        rows.append(
            f"<tr{' class=problem' if bad else ''}><td>{esc(a.account)}</td>"
            f"<td><code>{esc(a.endpoint)}</code></td><td>{esc(a.site)}</td><td>{api}</td>"
            f'<td class="nowrap">{time_cell(a.last_success, now, "never")}</td>'
            f"<td>{esc(a.forbid)}</td><td>{_problem(denied or None)}</td></tr>"
        )
    if not rows:
        rows.append('<tr><td colspan="7" class="empty">No accounts.</td></tr>')
    return (
        '<section id="accounts"><h2>Accounts</h2>'
        "<table><thead><tr><th>Account</th><th>Endpoint</th><th>Site</th><th>API</th>"
        "<th>Last success</th><th>Forbid list</th><th>Domains denied</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table></section>"
    )


def _errors_section(snapshot: StatusSnapshot) -> str:
    now = snapshot.now
    errors = snapshot.errors[:MAX_ERRORS_SHOWN]
    rows = [
        f'<tr><td class="nowrap">{time_cell(e.time, now)}</td><td>{esc(e.account)}</td>'
        f"<td>{esc(e.action)}</td><td><code>{esc(e.code)}</code></td>"
        f"<td>{message(e.message)}</td>"
        f'<td class="rid"><code>{esc(e.request_id) or "—"}</code></td></tr>'
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


def render_status_page(snapshot: StatusSnapshot, query: Mapping[str, str]) -> str:
    """The whole page for ``snapshot``, with the streams table filtered and paged by ``query``.

    Query parameters: ``state`` (active, inactive, forbid, unknown, or problems: every row that
    needs attention), ``label`` (``name:value``, e.g. ``team:studio``), ``q`` (case-insensitive
    substring of ``domain/app/stream``), ``page`` (1-based), ``limit`` (default 200, at most
    1000) and ``refresh`` (reload every so many seconds, 5 to 3600; a meta refresh, no
    JavaScript). Invalid values are ignored with a notice on the page; this never raises for a
    query.
    """
    view = parse_view(query)
    sel = select(snapshot.streams, view)
    refresh = (
        f'<meta http-equiv="refresh" content="{view.refresh}">' if view.refresh is not None else ""
    )
    title = "Tencent Live Exporter"
    if sel.problems:
        title = f"({sel.problems:,} problems) {title}"
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="color-scheme" content="light dark">'
        f"{refresh}<title>{esc(title)}</title><style>{CSS}</style></head><body>"
        f"{_header(snapshot)}{_summary(view, sel)}"
        f"{_accounts_section(snapshot)}{_budgets_section(snapshot)}{_targets_section(snapshot)}"
        f"{streams_section(snapshot, view, sel)}{_errors_section(snapshot)}"
        f"<footer>tencent-live-exporter {esc(snapshot.version)} · times in UTC</footer>"
        "</body></html>\n"
    )
