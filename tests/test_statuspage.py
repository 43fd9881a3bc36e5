"""The status page renderer as a pure function: escaping, filters, paging, ordering, bad input."""

from __future__ import annotations

import html
import random
import re
import urllib.parse
from dataclasses import replace
from html.parser import HTMLParser

import pytest

from exporter.statuspage import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    ApiErrorRow,
    BudgetRow,
    StatusSnapshot,
    StreamRow,
    TargetRow,
    relative_time,
    render_status_page,
)
from exporter.statuspage import streams as page_streams
from exporter.statuspage.view import View

NOW = 1_717_243_200.0  # 2024-06-01 12:00:00 UTC
EVIL = "<script>alert(1)</script>\"'&"
EXPECT = ("expect_live", "true")


def row(
    stream: str,
    state: str = "active",
    *,
    account: str = "main",
    domain: str = "push.example.com",
    app: str = "live",
    labels: tuple[tuple[str, str], ...] = (),
    since: float | None = NOW - 300,
    source: str | None = "state_api",
    last_error: str | None = None,
    last_error_time: float | None = None,
) -> StreamRow:
    return StreamRow(
        account, domain, app, stream, labels, state, since, source, last_error, last_error_time
    )


def snap(streams: list[StreamRow] | None = None, **changes: object) -> StatusSnapshot:
    base = StatusSnapshot(
        version="1.2.3",
        now=NOW,
        started=NOW - 3 * 3600 - 120,
        ready=True,
        streams=streams or [],
        errors=[],
        budgets=[],
        targets=[],
        reload_ok=True,
        last_reload=None,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def shown_streams(page: str) -> list[str]:
    """Stream names in the streams table, in page order (unescaped)."""
    return [html.unescape(m) for m in re.findall(r'<td class="name">.*?<b>(.*?)</b></td>', page)]


def showing(page: str) -> str:
    """The pager's text, with its en dash as a plain "-"."""
    match = re.search(r"page [\d,]+ of [\d,]+ · showing [^<]*", page)
    assert match, page
    return html.unescape(match.group(0)).replace("\N{EN DASH}", "-")


def hrefs(page: str) -> dict[str, str]:
    """Link text (its words only: "next", "prev") -> unescaped href."""
    return {
        re.sub(r"[^\w ]", "", html.unescape(label)).strip(): html.unescape(href)
        for href, label in re.findall(r'<a href="([^"]*)">([^<]*)</a>', page)
    }


class _TagBalance(HTMLParser):
    VOID = {"meta", "input", "br", "img", "link", "hr"}

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack[-1] == tag, (tag, self.stack[-5:])
        self.stack.pop()


def parse(page: str) -> _TagBalance:
    parser = _TagBalance()
    parser.feed(page)
    parser.close()
    assert parser.stack == [], parser.stack
    return parser


# -- structure -------------------------------------------------------------------------------


def test_empty_snapshot_renders_a_complete_page() -> None:
    page = render_status_page(snap(), {})
    assert page.startswith("<!DOCTYPE html>")
    assert '<meta charset="utf-8">' in page
    parsed = parse(page)
    assert parsed.tags.count("table") == 5  # accounts, budgets, targets, streams, errors
    for text in (
        "No streams configured.",
        "No API errors recently.",
        "No targets configured.",
        "No accounts.",
        "showing 0 of 0",
        "page 1 of 1",
        "never reloaded",
    ):
        assert text in page, text
    for link in ('href="/metrics"', 'href="/-/healthy"', 'href="/-/ready"'):
        assert link in page


def test_no_javascript_and_no_external_assets() -> None:
    page = render_status_page(snap([row("a", "forbid")]), {})
    lowered = page.lower()
    assert "<script" not in lowered
    assert not re.search(r"<[^>]+\son\w+=", lowered)  # no event handler attributes
    for needle in ("src=", "<link", "@import", "url(", "http://", "https://", "//fonts"):
        assert needle not in lowered, needle


def test_header() -> None:
    page = render_status_page(
        snap(version="<b>9</b>", ready=False, reload_ok=False, last_reload=NOW - 600), {}
    )
    assert "&lt;b&gt;9&lt;/b&gt;" in page
    assert "NOT READY" in page
    assert "FAILED" in page
    assert "10m ago (2024-06-01 11:50:00 UTC)" in page
    assert "3h 2m" in page  # uptime
    assert "2024-06-01 12:00:00 UTC" in page  # snapshot time
    ok = render_status_page(snap(last_reload=NOW - 5), {})
    assert ">READY<" in ok
    assert ">OK<" in ok
    assert "5s ago" in ok


# -- escaping --------------------------------------------------------------------------------


def test_injection_through_every_field_is_escaped() -> None:
    streams = [
        row(
            EVIL,
            "unknown",
            account=EVIL,
            domain=EVIL,
            app=EVIL,
            labels=((EVIL, EVIL), ("team", "<img src=x onerror=alert(2)>")),
            source=EVIL,
            last_error=f"{EVIL}: <script>alert(3)</script>",
            last_error_time=NOW - 5,
        ),
        row("long", "unknown", last_error="InternalError: " + "<script>" * 100),
    ]
    snapshot = snap(
        streams,
        version=EVIL,
        errors=[ApiErrorRow(NOW - 1, EVIL, EVIL, EVIL, EVIL, EVIL)],
        budgets=[BudgetRow(EVIL, EVIL, 10, 5, 0)],
        targets=[TargetRow(EVIL, EVIL, EVIL, 1, 60, NOW)],
    )
    page = render_status_page(snapshot, {"q": EVIL})
    assert "<script" not in page.lower()
    assert "<img" not in page.lower()
    escaped = html.escape(EVIL, quote=True)
    assert escaped == "&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#x27;&amp;"
    # Stream name (and the search box echoing q), label, message, request id, ...
    assert page.count(escaped) >= 15
    assert "&lt;img src=x onerror=alert(2)&gt;" in page
    assert "&lt;script&gt;alert(3)&lt;/script&gt;" in page
    assert f'value="{escaped}"' in page
    assert shown_streams(page) == [EVIL]  # q matched it as text
    parse(page)


def test_query_values_echoed_back_are_escaped() -> None:
    bad = '"><script>alert(1)</script>'
    page = render_status_page(
        snap([row("s1")]), {"state": bad, "page": bad, "limit": bad, "q": bad}
    )
    assert "<script" not in page.lower()
    assert "Ignored state=" in page
    assert "Ignored page=" in page
    assert "Ignored limit=" in page
    assert html.escape(repr(bad), quote=True) in page
    parse(page)


# -- ordering --------------------------------------------------------------------------------


def test_problems_first_then_the_rest_each_sorted() -> None:
    streams = [
        row("z-active"),
        row("b-forbid", "forbid", account="b"),
        row("a-inactive-unexpected", "inactive"),
        row("y-inactive-expected", "inactive", labels=(("env", "prod"), EXPECT)),
        row("x-unknown", "unknown"),
        row("w-active-with-error", last_error="Timeout: read timed out", last_error_time=NOW),
        row("c-active", domain="a.example.com"),
        row("c-active", app="aaa"),
        row("d-inactive-expect-false", "inactive", labels=(("expect_live", "false"),)),
        row("a-active", account="a"),
    ]
    random.Random(7).shuffle(streams)
    page = render_status_page(snap(streams), {})
    assert shown_streams(page) == [
        # expected live and down: what pages comes first
        "y-inactive-expected",
        # the other problems, by account, domain, app, stream
        "b-forbid",
        "w-active-with-error",
        "x-unknown",
        # the rest
        "a-active",
        "c-active",  # domain a.example.com
        "c-active",  # app aaa
        "a-inactive-unexpected",
        "d-inactive-expect-false",
        "z-active",
    ]
    assert page.count("<tr class=problem>") == 4
    assert "4</b> problems" in page


def test_problem_group_continues_across_pages() -> None:
    streams = [row(f"p{i}", "unknown") for i in range(5)] + [row(f"r{i}") for i in range(5)]
    random.Random(1).shuffle(streams)
    page1 = render_status_page(snap(streams), {"limit": "3"})
    page2 = render_status_page(snap(streams), {"limit": "3", "page": "2"})
    page4 = render_status_page(snap(streams), {"limit": "3", "page": "4"})
    assert shown_streams(page1) == ["p0", "p1", "p2"]
    assert shown_streams(page2) == ["p3", "p4", "r0"]
    assert shown_streams(page4) == ["r4"]


# -- filters ---------------------------------------------------------------------------------


FILTER_STREAMS = [
    row("news", domain="push.a.com"),
    row("News-HD", "inactive", domain="push.a.com"),
    row("sports", "forbid", domain="push.b.com"),
    row("music", "unknown", domain="push.b.com", app="radio"),
    row("newsroom", "forbid", domain="push.b.com", account="news-account"),
]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({}, ["sports", "music", "newsroom", "News-HD", "news"]),
        ({"state": "forbid"}, ["sports", "newsroom"]),  # by account first
        ({"state": "FORBID"}, ["sports", "newsroom"]),
        ({"state": "active"}, ["news"]),
        ({"state": "unknown"}, ["music"]),
        ({"q": "news"}, ["newsroom", "News-HD", "news"]),  # case-insensitive
        ({"q": "push.b.com/radio/"}, ["music"]),  # matches domain/app/stream
        ({"q": "a.com/live/news-"}, ["News-HD"]),
        ({"q": "news-account"}, []),  # not the account
        ({"q": "  sports  "}, ["sports"]),  # trimmed
        ({"state": "forbid", "q": "room"}, ["newsroom"]),
        ({"state": "inactive", "q": "sports"}, []),
        ({"state": "", "q": ""}, ["sports", "music", "newsroom", "News-HD", "news"]),
    ],
)
def test_filters(query: dict[str, str], expected: list[str]) -> None:
    page = render_status_page(snap(FILTER_STREAMS), query)
    assert shown_streams(page) == expected
    if expected:
        assert showing(page).endswith(f"showing 1-{len(expected)} of {len(expected)}")
    else:
        assert "No streams match these filters." in page
        assert "showing 0 of 0" in page
    assert 'class="notice"' not in page
    # Counts in the summary are over all streams, whatever the filter.
    assert "<b>2</b> forbid" in page


def test_filter_form_keeps_the_current_filter() -> None:
    page = render_status_page(snap(FILTER_STREAMS), {"state": "forbid", "q": "a b&c"})
    assert '<option value="forbid" selected>' in page
    assert 'value="a b&amp;c"' in page
    assert "clear filters" in page


# -- paging ----------------------------------------------------------------------------------


def many(n: int) -> list[StreamRow]:
    return [row(f"s{i:05d}") for i in range(n)]


def test_default_limit_and_paging_math() -> None:
    streams = many(450)
    first = render_status_page(snap(streams), {})
    assert showing(first) == "page 1 of 3 · showing 1-200 of 450"
    assert len(shown_streams(first)) == DEFAULT_LIMIT
    assert shown_streams(first)[0] == "s00000"
    links = hrefs(first)
    assert "prev" not in links and "first" not in links  # disabled on page 1
    assert links["next"] == "?page=2"
    assert links["last"] == "?page=3"

    middle = render_status_page(snap(streams), {"page": "2"})
    assert showing(middle) == "page 2 of 3 · showing 201-400 of 450"
    assert shown_streams(middle)[0] == "s00200"
    assert hrefs(middle)["prev"] == "?"  # page 1 needs no parameter
    assert hrefs(middle)["next"] == "?page=3"

    last = render_status_page(snap(streams), {"page": "3"})
    assert showing(last) == "page 3 of 3 · showing 401-450 of 450"
    assert shown_streams(last)[-1] == "s00449"
    assert "next" not in hrefs(last)
    assert hrefs(last)["prev"] == "?page=2"


def test_links_preserve_filters_url_encoded() -> None:
    streams = [row(f"a b&c/{i:03d}", "forbid") for i in range(30)]
    page = render_status_page(
        snap(streams), {"state": "forbid", "q": "b&c/", "limit": "10", "page": "2"}
    )
    assert showing(page) == "page 2 of 3 · showing 11-20 of 30"
    links = hrefs(page)
    prev = urllib.parse.parse_qs(links["prev"][1:])
    nxt = urllib.parse.parse_qs(links["next"][1:])
    assert prev == {"state": ["forbid"], "q": ["b&c/"], "limit": ["10"]}
    assert nxt == {"state": ["forbid"], "q": ["b&c/"], "limit": ["10"], "page": ["3"]}
    # In the HTML the & between parameters is escaped, and the q value is percent-encoded.
    assert 'href="?state=forbid&amp;q=b%26c%2F&amp;limit=10&amp;page=3"' in page
    # The state counts link to a state filter, keeping q and limit and going back to page 1.
    assert 'href="?state=unknown&amp;q=b%26c%2F&amp;limit=10"' in page


def test_exact_multiple_of_the_limit() -> None:
    page = render_status_page(snap(many(400)), {"page": "2"})
    assert showing(page) == "page 2 of 2 · showing 201-400 of 400"


def test_limit_is_capped() -> None:
    page = render_status_page(snap(many(1500)), {"limit": "5000"})
    assert showing(page) == "page 1 of 2 · showing 1-1,000 of 1,500"
    assert len(shown_streams(page)) == MAX_LIMIT
    assert "above the maximum" in page
    assert hrefs(page)["next"] == "?limit=1000&page=2"


def test_page_past_the_end_shows_the_last_page() -> None:
    page = render_status_page(snap(many(450)), {"page": "99"})
    assert showing(page) == "page 3 of 3 · showing 401-450 of 450"
    assert "Page 99 is past the last page; showing page 3." in page


@pytest.mark.parametrize(
    ("query", "notice"),
    [
        ({"state": "bogus"}, "Ignored state=&#x27;bogus&#x27;"),
        ({"state": "active,forbid"}, "Ignored state="),
        ({"page": "abc"}, "Ignored page=&#x27;abc&#x27;"),
        ({"page": "0"}, "Ignored page="),
        ({"page": "-1"}, "Ignored page="),
        ({"page": "1.5"}, "Ignored page="),
        ({"page": "1_0"}, "Ignored page="),
        ({"page": "٣"}, "Ignored page="),  # non-ASCII digit
        ({"page": "9" * 5000}, "past the last page"),
        ({"limit": "x"}, "Ignored limit="),
        ({"limit": "0"}, "Ignored limit="),
        ({"limit": "-5"}, "Ignored limit="),
        ({"limit": "9" * 5000}, "above the maximum"),
        ({"state": "x" * 10_000}, "…"),  # echoed values are cut short
    ],
)
def test_invalid_query_values_are_ignored_with_a_notice(query: dict[str, str], notice: str) -> None:
    page = render_status_page(snap(many(5)), query)
    assert notice in page
    assert 'class="notice"' in page
    assert len(shown_streams(page)) == 5
    assert len(page) < 50_000
    parse(page)


@pytest.mark.parametrize(
    "value", ["", " ", "\x00", "\ud800", "%", "&amp;", "\n\r", "1e3", "0x10", "NaN", "+2"]
)
def test_odd_query_values_never_raise(value: str) -> None:
    query = {"state": value, "q": value, "page": value, "limit": value, "other": value}
    page = render_status_page(snap(many(3)), query)
    assert "<table" in page
    assert "<script" not in page


# -- budgets, targets, errors ----------------------------------------------------------------


def test_throttled_badge_only_when_allowed_is_below_budget() -> None:
    page = render_status_page(
        snap(
            budgets=[
                BudgetRow("main", "DescribeLiveStreamState", 50, 35, 0),
                BudgetRow("other", "DescribeLiveStreamState", 50, 50, 0),
                BudgetRow("third", "DescribeLiveStreamState", 20, 20, 45),
            ]
        ),
        {},
    )
    rows = {
        html.unescape(m.group(1)): m.group(0)
        for m in re.finditer(r"<tr[^>]*><td>([^<]*)</td><td>DescribeLive.*?</tr>", page)
    }
    assert "THROTTLED" in rows["main"]
    assert "35/s" in rows["main"] and "50/s" in rows["main"]
    assert "THROTTLED" not in rows["other"]
    assert "THROTTLED" not in rows["third"]
    assert "45s" in rows["third"]  # back-off
    assert page.count("THROTTLED") == 1


def test_targets_table() -> None:
    page = render_status_page(
        snap(
            targets=[
                TargetRow("main", "push.example.com/live", "state_api", 1234, 60, NOW - 30),
                TargetRow("main", "push.other.com/live", "online_list", 5, 12.5, None),
                TargetRow("other", "push.third.com/live", "state_api", 7, 90, None),
                TargetRow("third", "push.fourth.com/live", "state_api", 7, 7200, None),
            ]
        ),
        {},
    )
    assert "1,234" in page
    assert ">1m<" in page and ">12.5s<" in page and ">1m 30s<" in page and ">2h<" in page
    assert "30s ago" in page and "2024-06-01 11:59:30 UTC" in page
    assert "never" in page


def test_recent_api_errors_in_given_order() -> None:
    errors = [
        ApiErrorRow(NOW - 10, "main", "DescribeLiveStreamState", "InternalError", "boom", "rid-1"),
        ApiErrorRow(NOW - 3700, "main", "DescribeLiveStreamState", "Timeout", "slow", ""),
    ]
    page = render_status_page(snap(errors=errors), {})
    assert page.index("rid-1") < page.index("Timeout")
    assert "10s ago" in page and "1h 1m ago" in page
    assert "<code>InternalError</code>" in page
    assert "Newest first (2 shown)." in page


def test_stream_row_details() -> None:
    stream = row(
        "s1",
        "inactive",
        labels=(("env", "prod"), EXPECT),
        since=NOW - 300,
        source="callback",
        last_error="RequestLimitExceeded: too many",
        last_error_time=NOW - 90,
    )
    page = render_status_page(snap([stream]), {})
    assert 'class="badge b-bad">inactive<' in page  # expected live: red, not grey
    assert "env=<b>prod</b>" in page and "expect_live=<b>true</b>" in page
    assert "5m ago" in page and "2024-06-01 11:55:00 UTC" in page
    assert ">callback<" in page
    assert "<code>RequestLimitExceeded</code> too many" in page
    assert "1m ago · 2024-06-01 11:58:30 UTC" in page
    quiet = render_status_page(snap([row("s2", "inactive", since=None, source=None)]), {})
    assert 'class="badge b-off">inactive<' in quiet
    assert "<tr class=problem>" not in quiet


# -- times -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (0, "0s ago"),
        (59.9, "59s ago"),
        (60, "1m ago"),
        (300, "5m ago"),
        (3599, "59m ago"),
        (3600, "1h ago"),
        (3900, "1h 5m ago"),
        (86_399, "23h 59m ago"),
        (86_400, "1d ago"),
        (90_000, "1d 1h ago"),
        (40 * 86_400, "40d ago"),
        (-5, "in 5s"),
        (-7200, "in 2h"),
    ],
)
def test_relative_time(delta: float, text: str) -> None:
    assert relative_time(NOW - delta, NOW) == text


def test_odd_times_do_not_raise() -> None:
    streams = [
        row("nan", since=float("nan")),
        row("inf", since=float("inf"), last_error="X: y", last_error_time=-1e300),
    ]
    page = render_status_page(snap(streams, started=float("nan")), {})
    assert "nan" in page


# -- scale -----------------------------------------------------------------------------------


def test_100k_streams_build_html_for_one_page_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """What keeps the page fast at 100,000 streams: only the rows shown become HTML.

    How fast it is (a median under 200 ms) is measured by benchmarks/statuspage_render.py, not
    timed here, where a busy machine would make any bound flaky.
    """
    rng = random.Random(42)
    states = ["active"] * 80 + ["inactive"] * 14 + ["forbid"] * 2 + ["unknown"] * 4
    streams = [
        row(
            f"stream-{rng.randrange(10**9):09d}",
            rng.choice(states),
            account=f"acct{i % 3}",
            domain=f"push{i % 5}.example.com",
            labels=(("env", "prod"), EXPECT) if i % 7 == 0 else (("env", "prod"),),
            last_error="InternalError: boom" if i % 97 == 0 else None,
            last_error_time=NOW - 5 if i % 97 == 0 else None,
        )
        for i in range(100_000)
    ]
    built: list[str] = []
    real_row = page_streams._stream_row

    def counting_row(r: StreamRow, now: float, view: View) -> str:
        built.append(r.stream)
        return real_row(r, now, view)

    monkeypatch.setattr(page_streams, "_stream_row", counting_row)
    snapshot = snap(streams)
    for query in ({}, {"page": "300"}, {"q": "stream-1"}):
        built.clear()
        page = render_status_page(snapshot, query)
        shown = shown_streams(page)
        assert 0 < len(shown) <= DEFAULT_LIMIT
        assert built == shown, query
        assert len(page) < 500_000
    assert showing(render_status_page(snapshot, {"page": "300"})).endswith(
        "showing 59,801-60,000 of 100,000"
    )


def test_accounts_show_endpoint_cause_forbid_list_and_denied_domains() -> None:
    from exporter.statuspage import AccountRow, TargetRow

    page = render_status_page(
        snap(
            accounts=[
                AccountRow(
                    "main",
                    "https://live.tencentcloudapi.com",
                    "china",
                    False,
                    "ConnectionRefused",
                    NOW - 400,
                    "unavailable: ActionOffline",
                    (("push-b.example.com", "AuthFailure.UnauthorizedOperation"),),
                ),
                AccountRow(
                    "ok",
                    "https://live.intl.tencentcloudapi.com",
                    "intl",
                    True,
                    None,
                    NOW - 5,
                    "available",
                ),
            ],
            targets=[
                TargetRow(
                    "main",
                    "push-b.example.com/live",
                    "state",
                    3,
                    60,
                    None,
                    "AuthFailure.UnauthorizedOperation on push-b.example.com",
                ),
            ],
        ),
        {},
    )
    section = page.split('<section id="accounts">', 1)[1].split("</section>", 1)[0]
    assert "https://live.tencentcloudapi.com" in section
    assert "not answering: ConnectionRefused" in section
    assert "unavailable: ActionOffline" in section
    assert "push-b.example.com: AuthFailure.UnauthorizedOperation" in section
    assert section.count("class=problem") == 1  # the healthy account is not a problem
    targets = page.split('<section id="targets">', 1)[1].split("</section>", 1)[0]
    assert "AuthFailure.UnauthorizedOperation on push-b.example.com" in targets


def test_callbacks_over_plain_http_from_outside_are_flagged() -> None:
    assert 'id="plain-http-callbacks"' not in render_status_page(snap(), {})
    page = render_status_page(snap(plain_http_callbacks=(3, NOW - 60)), {})
    assert 'id="plain-http-callbacks"' in page
    assert "3 CSS callbacks came over plain HTTP" in page and "HTTPS" in page
