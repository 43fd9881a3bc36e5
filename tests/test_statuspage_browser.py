"""The status page in a real browser: headless Debian Chromium loads it from the exporter's web
server over loopback, and the test reads the DOM Chromium built and keeps a screenshot
(``tests/artifacts/status-page.png``) to look at.

Chromium is a test dependency: ``./scripts/setup`` installs it. Without it these tests fail
rather than skip, so that CI cannot pass without ever running them.
"""

from __future__ import annotations

import contextlib
import os
import signal
import struct
import subprocess
import urllib.parse
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest

from exporter.statuspage import (
    ApiErrorRow,
    BudgetRow,
    Interruption,
    StatusSnapshot,
    StreamRow,
    TargetRow,
    render_status_page,
)
from exporter.web import WebServer
from tests import fakes

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).parent / "artifacts"
SCREENSHOT = ARTIFACTS / "status-page.png"
ONCALL_SCREENSHOT = ARTIFACTS / "status-page-problems.png"

NOW = 1_717_243_200.0  # 2024-06-01 12:00:00 UTC
EVIL = "<script>alert(1)</script>\"'&"
EVIL_LABEL = "<script>alert(2)</script>"
EVIL_MESSAGE = "<img src=x onerror=alert(3)> & <script>alert(4)</script>"


def _snapshot() -> StatusSnapshot:
    """An on-call morning: a ban, a stream that should be live and is not, API trouble."""
    expect = ("expect_live", "true")
    streams = [
        StreamRow("main", "push.demo-a.example.com", "live", "news-24h", (("env", "prod"), expect),
                  "active", NOW - 86_000, "state_api", None, None),
        StreamRow("main", "push.demo-a.example.com", "live", "sports-1", (("env", "prod"), expect),
                  "inactive", NOW - 420, "state_api", None, None),
        StreamRow("main", "push.demo-a.example.com", "live", "banned-channel", (("env", "prod"),),
                  "forbid", NOW - 3_700, "forbid_list", None, None),
        StreamRow("main", "push.demo-a.example.com", "live", EVIL, (("team", EVIL_LABEL),),
                  "unknown", NOW - 95, "stale", f"InternalError: {EVIL_MESSAGE}", NOW - 40),
        StreamRow("backup", "push.demo-b.example.com", "live", "radio-jazz", (),
                  "active", NOW - 12_345, "callback", "Timeout: read timed out after 5s",
                  NOW - 300),
        # A scheduled show, inside its window, down on a network error for 7 minutes.
        StreamRow("main", "push.demo-a.example.com", "live", "evening-news",
                  (("team", "news"), ("expect_live", "scheduled")), "inactive", NOW - 420,
                  "callback", None, None, expected=True,
                  schedule="evening-news: mon-fri 11:30-13:00 Asia/Shanghai",
                  window=(NOW - 1800, NOW + 3600), down_after=300.0,
                  interrupt=Interruption(NOW - 420, "network", 12,
                                         "Network error for the push client.", "callback")),
        # The cup final: not yet, its window is tonight.
        StreamRow("main", "push.demo-a.example.com", "live", "cup-final",
                  (("team", "sports"), ("expect_live", "scheduled")), "inactive", NOW - 86_400,
                  "state_api", None, None, expected=False, schedule="1 dated window",
                  window=(NOW + 25_200, NOW + 36_000), down_after=300.0),
    ]  # fmt: skip
    for i in range(240):
        streams.append(
            StreamRow(
                "main" if i % 3 else "backup",
                f"push.demo-{'ab'[i % 2]}.example.com",
                "live",
                f"channel-{i:03d}",
                (("env", "prod" if i % 4 else "staging"),),
                "active" if i % 5 else "inactive",
                NOW - 60 * (i + 1),
                "online_list" if i % 2 else "state_api",
                None,
                None,
            )
        )
    errors = [
        ApiErrorRow(NOW - 40, "main", "DescribeLiveStreamState", "InternalError", EVIL_MESSAGE,
                    "9f1c2a7e-0b7d-4c39-9a51-7d2f3e1b6c01"),
        ApiErrorRow(NOW - 65, "main", "DescribeLiveStreamState", "RequestLimitExceeded",
                    "Your current request times exceed the limit.",
                    "0c5d8e3a-4b2f-4e61-8f7a-1a2b3c4d5e6f"),
        ApiErrorRow(NOW - 300, "backup", "DescribeLiveStreamState", "Timeout",
                    "read timed out after 5s", ""),
    ]  # fmt: skip
    return StatusSnapshot(
        version="1.4.0",
        now=NOW,
        started=NOW - 2 * 86_400 - 3 * 3_600,
        ready=True,
        streams=streams,
        errors=errors,
        budgets=[
            BudgetRow("main", "DescribeLiveStreamState", 50, 35, 0),
            BudgetRow("main", "DescribeLiveForbidStreamList", 1, 1, 0),
            BudgetRow("backup", "DescribeLiveStreamState", 20, 20, 30),
        ],
        targets=[
            TargetRow("main", "push.demo-a.example.com/live", "state_api", 163, 60, NOW - 12),
            TargetRow("backup", "push.demo-b.example.com/live", "online_list", 82, 30, None),
        ],
        reload_ok=False,
        last_reload=NOW - 600,
    )


class FakeBackend(fakes.FakeBackend):
    def __init__(self, snapshot: StatusSnapshot) -> None:
        self.snapshot = snapshot
        self.queries: list[dict[str, str]] = []

    def status_page(self, query: dict[str, str]) -> str:
        self.queries.append(dict(query))
        return render_status_page(self.snapshot, query)


@pytest.fixture(scope="module")
def chromium() -> Path:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(
            f"{CHROMIUM} is missing: the status page's browser test needs Debian's chromium; "
            "./scripts/setup installs it",
            pytrace=False,
        )
    return CHROMIUM


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, FakeBackend]]:
    backend = FakeBackend(_snapshot())
    web = WebServer(address="127.0.0.1:0", backend=backend)
    web.start()
    try:
        yield f"http://127.0.0.1:{web.port}/", backend
    finally:
        web.stop()


def _run_chromium(chromium: Path, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [
        str(chromium),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        *args,
    ]
    # Its own process group, so that helpers it leaves behind can be ended with it.
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=90)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"chromium timed out: {' '.join(cmd)}\n{err[-2000:]}")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    result = subprocess.CompletedProcess(cmd, proc.returncode, out, err)
    assert result.returncode == 0, f"chromium exited {result.returncode}: {err[-2000:]}"
    return result


class _Dom(HTMLParser):
    """Elements and text of a serialised DOM, with the text of each element kind."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.stack: list[str] = []
        self.texts: dict[str, list[str]] = {}
        self.attrs: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs.extend(attrs)
        if tag not in {"meta", "input", "br", "img", "link"}:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in self.stack:
            while self.stack.pop() != tag:
                pass

    def handle_data(self, data: str) -> None:
        if self.stack:
            self.texts.setdefault(self.stack[-1], []).append(data)

    def text(self) -> str:
        return "".join(t for parts in self.texts.values() for t in parts)


def _dump_dom(chromium: Path, profile: Path, url: str) -> tuple[str, _Dom]:
    dom_html = _run_chromium(chromium, profile, "--dump-dom", url).stdout
    dom = _Dom()
    dom.feed(dom_html)
    dom.close()
    return dom_html, dom


def test_dom_has_the_tables_and_injection_stays_text(
    chromium: Path, server: tuple[str, FakeBackend], tmp_path: Path
) -> None:
    url, _ = server
    dom_html, dom = _dump_dom(chromium, tmp_path / "profile", url)

    assert dom.tags.count("table") == 5, dom.tags
    for heading in ("Accounts", "Budget & throttling", "Targets", "Streams", "Recent API errors"):
        assert heading in dom.texts.get("h2", [])
    assert "THROTTLED" in dom.text()
    assert "FAILED" in dom.text()  # the last config reload

    # Markup in stream names, labels and error messages is text, never an element.
    assert "script" not in dom.tags
    assert "img" not in dom.tags
    assert not any(name.startswith("on") for name, _ in dom.attrs), dom.attrs
    assert EVIL in dom.text()
    assert EVIL_LABEL in dom.text()
    assert "<img src=x onerror=alert(3)>" in dom.text()
    # Chromium re-serialises text with < and & escaped: the raw forms appear nowhere.
    assert "<script" not in dom_html.lower()
    assert "<img" not in dom_html.lower()

    # Problems come first: the ban, the bad stream and the expected-live one ahead of the rest.
    body = dom.text()
    assert body.index("banned-channel") < body.index("channel-000")
    assert body.index("sports-1") < body.index("channel-000")
    assert body.index("radio-jazz") < body.index("channel-000")  # has a last error

    # Links for the scrapers and the probes.
    hrefs = {v for k, v in dom.attrs if k == "href"}
    assert {"/metrics", "/-/healthy", "/-/ready"} <= hrefs


def test_query_params_reach_the_page_and_are_escaped(
    chromium: Path, server: tuple[str, FakeBackend], tmp_path: Path
) -> None:
    url, backend = server
    query = {"state": "<script>alert(5)</script>", "q": '"><script>alert(6)</script>', "page": "x"}
    page_url = url + "?" + urllib.parse.urlencode(query)
    dom_html, dom = _dump_dom(chromium, tmp_path / "profile", page_url)

    assert backend.queries[-1] == query
    assert "script" not in dom.tags
    assert "<script" not in dom_html.lower()
    assert "Ignored state=" in dom.text()
    assert "Ignored page=" in dom.text()
    # The search box shows the query back as its value, not as markup.
    assert ("value", query["q"]) in dom.attrs
    assert "No streams match these filters." in dom.text()


def test_screenshot(chromium: Path, server: tuple[str, FakeBackend], tmp_path: Path) -> None:
    url, _ = server
    ARTIFACTS.mkdir(exist_ok=True)
    SCREENSHOT.unlink(missing_ok=True)
    _run_chromium(
        chromium,
        tmp_path / "profile",
        "--hide-scrollbars",
        f"--screenshot={SCREENSHOT}",
        "--window-size=1280,900",
        url,
    )
    data = SCREENSHOT.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (1280, 900)
    # A blank page compresses to almost nothing; a rendered one does not.
    assert len(data) > 30_000, len(data)


def test_a_scheduled_stream_and_why_it_stopped(
    chromium: Path, server: tuple[str, FakeBackend], tmp_path: Path
) -> None:
    url, _ = server
    page_url = url + "?" + urllib.parse.urlencode({"state": "problems", "refresh": "30"})
    _, dom = _dump_dom(chromium, tmp_path / "profile", page_url)
    text = dom.text()
    # Expected live and down comes first: the scheduled show, then the always-expected one.
    assert text.index("evening-news") < text.index("sports-1") < text.index("banned-channel")
    assert "cup-final" not in text  # outside its window: no problem
    assert "expected live until" in text and "evening-news: mon-fri 11:30-13:00" in text
    assert "StreamDown firing since" in text
    assert "errcode 12" in text and "Network error for the push client." in text
    assert ("http-equiv", "refresh") in dom.attrs  # the auto-refresh, no script
    assert "script" not in dom.tags
    ARTIFACTS.mkdir(exist_ok=True)
    ONCALL_SCREENSHOT.unlink(missing_ok=True)
    _run_chromium(
        chromium,
        tmp_path / "shot",
        "--hide-scrollbars",
        f"--screenshot={ONCALL_SCREENSHOT}",
        "--window-size=1600,1400",  # tall enough for the streams table under the others
        page_url,
    )
    data = ONCALL_SCREENSHOT.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", data[16:24]) == (1600, 1400)
    assert len(data) > 30_000, len(data)
