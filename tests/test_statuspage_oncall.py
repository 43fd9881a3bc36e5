"""The status page answers "what do I do now": problems link to their filter, expected-live
streams that are down come first, each row says why it stopped, its down_after and when
StreamDown pages, scheduled streams say until when they are expected or when the next window
is, a label filter, and an auto-refresh without JavaScript."""

from __future__ import annotations

import html
import re
from typing import Any

from prometheus_client import CollectorRegistry

from exporter.broadcast import Once, Schedule, Watch, Weekly
from exporter.exposition import Exposition
from exporter.history import CALLBACK, Interrupt
from exporter.model import Observation, Source, StreamKey, StreamState
from exporter.state import Policy, StateStore
from exporter.status import stream_rows
from exporter.statuspage import Interruption, StatusSnapshot, StreamRow, render_status_page

NOW = 1_767_605_400.0  # 2026-01-05 09:30:00 UTC
EXPECT = ("expect_live", "true")
SCHEDULED = ("expect_live", "scheduled")


def row(stream: str, state: str = "active", **extra: Any) -> StreamRow:
    values: dict[str, Any] = {
        "labels": (("team", "studio"),),
        "since": NOW - 600,
        "source": "state_api",
        "last_error": None,
        "last_error_time": None,
    }
    values.update(extra)
    return StreamRow(
        "main",
        "push.example.com",
        "live",
        stream,
        values.pop("labels"),
        state,
        values.pop("since"),
        values.pop("source"),
        values.pop("last_error"),
        values.pop("last_error_time"),
        **values,
    )


def snap(streams: list[StreamRow]) -> StatusSnapshot:
    return StatusSnapshot("1.0", NOW, NOW - 3600, True, streams, [], [], [], True, None)


def shown(page: str) -> list[str]:
    return [html.unescape(m) for m in re.findall(r'<td class="name">.*?<b>(.*?)</b></td>', page)]


STREAMS = [
    row("a-fine"),
    row("b-banned", "forbid", labels=(("team", "news"),)),
    row(
        "c-news",
        "inactive",
        labels=(("team", "studio"), SCHEDULED),
        expected=True,
        schedule="news: mon-fri 09:00-10:00 UTC",
        window=(NOW - 1800, NOW + 1800),
        down_after=300.0,
        since=NOW - 1200,
        interrupt=Interruption(
            NOW - 1200, "network", 12, "Network error for the push client.", "callback"
        ),
    ),
    row(
        "d-late",
        "inactive",
        labels=(("team", "studio"), SCHEDULED),
        expected=True,
        schedule="late: daily 09:25-11:00 UTC",
        window=(NOW - 300, NOW + 5400),
        down_after=300.0,
        start_grace=120.0,
        since=NOW - 86400,
    ),
    row(
        "e-tonight",
        "inactive",
        labels=(("team", "studio"), SCHEDULED),
        expected=False,
        schedule="tonight: daily 20:00-22:00 UTC",
        window=(NOW + 37800, NOW + 45000),
        down_after=300.0,
    ),
    row("f-always", "inactive", labels=(("team", "news"), EXPECT), down_after=300.0,
        since=NOW - 120),
]  # fmt: skip


def test_expected_live_and_down_first_with_when_it_pages() -> None:
    page = render_status_page(snap(STREAMS), {})
    assert shown(page) == ["c-news", "d-late", "f-always", "b-banned", "a-fine", "e-tonight"]
    # c-news went down 20 minutes ago: StreamDown has paged since down_after + its for: 1m.
    assert "StreamDown firing since 2026-01-05 09:16:00 UTC" in page
    # d-late never started in its window (opened 5 minutes ago): StreamDidNotStart's grace.
    assert "StreamDidNotStart fires 2026-01-05 09:28:00 UTC" not in page
    assert "StreamDidNotStart firing since 2026-01-05 09:28:00 UTC" in page
    # f-always went down 2 minutes ago: it pages in 4 minutes.
    assert "StreamDown fires 2026-01-05 09:34:00 UTC (in 4m)" in page
    assert page.count("down after 5m") == 4
    # The schedule and until when / when next.
    assert "expected live until</b> 2026-01-05 10:00:00 UTC (in 30m)" in page
    assert "next window at 2026-01-05 20:00:00 UTC (in 10h 30m)" in page
    assert "news: mon-fri 09:00-10:00 UTC" in page
    # Why it stopped: the reason, the raw code and the message.
    assert (
        ">network</span> <code>errcode 12</code><div>Network error for the push client.</div>"
        in page
    )
    # A scheduled stream outside its window is no problem.
    assert "4</b> problems" in page


def test_problems_link_to_their_filter_and_it_works() -> None:
    page = render_status_page(snap(STREAMS), {})
    assert '<a class="count b-bad" href="?state=problems"><b>4</b> problems</a>' in page
    problems = render_status_page(snap(STREAMS), {"state": "problems"})
    assert shown(problems) == ["c-news", "d-late", "f-always", "b-banned"]
    assert '<option value="problems" selected>' in problems


def test_label_filter_and_label_links() -> None:
    page = render_status_page(snap(STREAMS), {"label": "team:news"})
    assert shown(page) == ["f-always", "b-banned"]
    assert 'value="team:news"' in page
    assert 'href="?label=team%3Astudio"' in render_status_page(snap(STREAMS), {})
    bad = render_status_page(snap(STREAMS), {"label": "team"})
    assert "Ignored label=&#x27;team&#x27;: write it as name:value" in bad
    # Filters combine and are carried by the pager's and the counts' links.
    both = render_status_page(snap(STREAMS), {"label": "team:studio", "state": "problems"})
    assert shown(both) == ["c-news", "d-late"]


def test_auto_refresh_without_javascript() -> None:
    page = render_status_page(snap(STREAMS), {"refresh": "30"})
    assert '<meta http-equiv="refresh" content="30">' in page
    assert "<script" not in page
    assert 'href="?state=problems&amp;refresh=30"' in page  # links keep refreshing
    assert 'content="5"' in render_status_page(snap(STREAMS), {"refresh": "1"})  # at least 5 s
    assert "http-equiv" not in render_status_page(snap(STREAMS), {})
    assert "Ignored refresh=" in render_status_page(snap(STREAMS), {"refresh": "soon"})


def test_rows_from_the_owners_evaluate_the_schedule_and_carry_the_history() -> None:
    store = StateStore()
    expo = Exposition(CollectorRegistry(), wall=lambda: NOW)
    news = Schedule((Weekly(frozenset(range(7)), 9 * 3600, 10 * 3600, "UTC"),), name="news")
    match = Schedule(once=(Once(NOW + 3600, NOW + 7200),))
    keys = {n: StreamKey("main", "push.example.com", "live", n) for n in ("news", "match", "plain")}
    expo.set_streams(
        [
            (keys["news"], (SCHEDULED,), 300.0, Watch(schedule=news, start_grace=60.0)),
            (keys["match"], (SCHEDULED,), 300.0, Watch(schedule=match)),
            (keys["plain"], (), None, None),
        ]
    )
    for key in keys.values():
        store.add(key, Policy(300.0, 900.0))
        store.apply(Observation(key, NOW - 60, Source.STATE_API, state=StreamState.INACTIVE), NOW)
    expo.history.interrupted(
        keys["news"],
        Interrupt(NOW - 60, "auth_or_ban", 304, "The stream is disabled.", CALLBACK, 42.0),
    )
    rows = {r.stream: r for r in stream_rows(store, expo, NOW)}
    assert (rows["news"].expected, rows["news"].window) == (True, (NOW - 1800, NOW + 1800))
    assert rows["news"].schedule == "news: daily 09:00-10:00 UTC"
    assert (rows["news"].down_after, rows["news"].start_grace) == (300.0, 60.0)
    assert rows["news"].interrupt == Interruption(
        NOW - 60, "auth_or_ban", 304, "The stream is disabled.", "callback"
    )
    assert (rows["match"].expected, rows["match"].window) == (False, (NOW + 3600, NOW + 7200))
    assert rows["match"].schedule == "1 dated window"
    assert (rows["plain"].expected, rows["plain"].schedule, rows["plain"].interrupt) == (
        None,
        None,
        None,
    )
