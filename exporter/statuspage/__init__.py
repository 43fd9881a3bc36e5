"""The status page at ``/``: what an on-call engineer needs at 3am, as plain server-rendered HTML.

A pure renderer: :func:`render_status_page` turns a :class:`StatusSnapshot` (built by the App)
and the request's query parameters into one HTML5 document. No I/O, no JavaScript, no external
assets (inline CSS only), and every piece of text that comes from configuration, the API or the
request is escaped with ``html.escape(..., quote=True)``: stream names may contain markup.

The streams table can hold 100,000 rows, so only one page of it is rendered: filtering and
ordering touch every row, HTML is built only for the rows shown.

- :mod:`.model`: the snapshot and its rows;
- :mod:`.view`: query parameters, filtering, ordering and paging of the streams table;
- :mod:`.format`: escaping, times, numbers;
- :mod:`.render`: the HTML sections and the page; :mod:`.style` its style sheet.
"""

from __future__ import annotations

from exporter.statuspage.format import relative_time
from exporter.statuspage.model import (
    STATES,
    AccountRow,
    ApiErrorRow,
    BudgetRow,
    Interruption,
    StatusSnapshot,
    StreamRow,
    TargetRow,
)
from exporter.statuspage.render import MAX_ERRORS_SHOWN, MAX_MESSAGE_CHARS, render_status_page
from exporter.statuspage.view import DEFAULT_LIMIT, MAX_ECHO_CHARS, MAX_LIMIT

__all__ = [
    "DEFAULT_LIMIT",
    "MAX_ECHO_CHARS",
    "MAX_ERRORS_SHOWN",
    "MAX_LIMIT",
    "MAX_MESSAGE_CHARS",
    "STATES",
    "AccountRow",
    "ApiErrorRow",
    "BudgetRow",
    "Interruption",
    "StatusSnapshot",
    "StreamRow",
    "TargetRow",
    "relative_time",
    "render_status_page",
]
