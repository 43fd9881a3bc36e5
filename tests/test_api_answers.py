"""Malformed API answers: every one becomes a counted, classified ApiError, and the exporter
goes on serving.

The corpus is in ``tests/corpus/api_answers/`` with its index (action, HTTP status, Content-Type,
expected code). A loopback HTTP server plays Tencent Cloud: it answers every POST with a corpus
body and checks no signature, so the official SDK under ``exporter.client.CssClient`` runs for
real, from the HTTP request to the JSON decoding.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import threading
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from exporter import cssapi
from exporter.client import ClientSettings, CssClient, Page, classify
from exporter.model import ApiError, StreamKey, StreamState
from tests.e2e import SECRET_ID, SECRET_KEY, parse_samples, run_exporter, sample, wait_for

CORPUS = Path(__file__).parent / "corpus" / "api_answers"
# The four stream actions the corpus answers (cssapi.ACTIONS also has the playback ones).
ACTIONS = (cssapi.STATE, cssapi.ONLINE_LIST, cssapi.PUSH_INFO_LIST, cssapi.FORBID_LIST)
FAKE_SECRET_KEY = "corpus-fake-secret-key-3c5e7a9b1d"
STATE_DOMAIN = "state.example.com"
LIST_DOMAIN = "list.example.com"

Reply = tuple[int, str | None, bytes]  # HTTP status, Content-Type (None: no header), body


# --- the corpus ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    name: str
    action: str
    any_action: bool
    status: int
    content_type: str | None
    expect: str  # an ApiError code, or "ok"
    message: str | None = None
    value: str | None = None
    generate: str | None = None

    @property
    def is_error(self) -> bool:
        return self.expect != "ok"

    def applies_to(self, action: str) -> bool:
        return action == self.action or self.any_action

    def body(self) -> bytes:
        if self.generate is not None:
            return generated(self.generate)
        return (CORPUS / self.name).read_bytes()

    def reply(self) -> Reply:
        return self.status, self.content_type, self.body()


def _huge_truncated() -> bytes:
    """20 MB of well-formed OnlineInfo items, cut off in the middle of one."""
    head = b'{"Response": {"TotalNum": 1000000, "TotalPage": 1, "OnlineInfo": ['
    item = b'{"AppName": "live", "DomainName": "list.example.com", "StreamName": "s%07d"},'
    parts = [head]
    size = len(head)
    n = 0
    while size < 20_000_000:
        part = item % n
        parts.append(part)
        size += len(part)
        n += 1
    parts.append(b'{"AppName": "live", "StreamN')
    return b"".join(parts)


def _online_info_1e6_items() -> bytes:
    """A million good OnlineInfo items, then one whose StreamName is null."""
    items = b",".join(b'{"AppName":"live","StreamName":"s%d"}' % i for i in range(1_000_000))
    return (
        b'{"Response": {"TotalNum": 1000001, "TotalPage": 1, "PageNum": 1, "PageSize": 1000001,'
        b' "OnlineInfo": [' + items + b',{"AppName":"live","StreamName":null}],'
        b' "RequestId": "6a7f1a3e-0000-4000-8000-000000001e06"}}'
    )


GENERATORS: dict[str, Callable[[], bytes]] = {
    "huge_truncated": _huge_truncated,
    "online_info_1e6_items": _online_info_1e6_items,
}


@functools.cache
def generated(name: str) -> bytes:
    return GENERATORS[name]()


@functools.cache
def load_index() -> tuple[Answer, ...]:
    data = yaml.safe_load((CORPUS / "index.yaml").read_text(encoding="utf-8"))
    answers = []
    for entry in data["answers"]:
        answers.append(
            Answer(
                name=entry.get("file") or entry["generate"],
                action=entry["action"],
                any_action=bool(entry.get("any_action", False)),
                status=int(entry["status"]),
                content_type=entry["content_type"],
                expect=str(entry["expect"]),
                message=entry.get("message"),
                value=entry.get("value"),
                generate=entry.get("generate"),
            )
        )
    return tuple(answers)


def _cases() -> list[Any]:
    cases = []
    for answer in load_index():
        for action in ACTIONS:
            if action == answer.action or (answer.any_action and answer.is_error):
                cases.append(pytest.param(answer, action, id=f"{answer.name}-{action}"))
    return cases


def test_index_matches_the_files() -> None:
    answers = load_index()
    files = {a.name for a in answers if a.generate is None}
    on_disk = {p.name for p in CORPUS.iterdir() if p.name != "index.yaml"}
    assert files == on_disk
    assert len({a.name for a in answers}) == len(answers)
    assert set(GENERATORS) == {a.generate for a in answers if a.generate is not None}
    errors = [a for a in answers if a.is_error]
    assert len(errors) >= 20
    for action in ACTIONS:
        assert sum(a.applies_to(action) for a in errors) >= 20, action
        if action != cssapi.STATE:  # a broken State answer is broken for every action
            assert any(a.action == action and not a.any_action for a in errors), action
    for a in answers:
        assert a.action in ACTIONS, a.name
        assert 100 <= a.status <= 599, a.name
        if a.is_error:
            assert a.value is None, a.name
    # At least a few answers that are not text at all.
    assert sum(1 for name in files if name.endswith(".bin")) >= 3


# --- a loopback Tencent Cloud ----------------------------------------------------------------


class AnswerServer:
    """http.server on 127.0.0.1:0 answering every POST with ``respond(action)``."""

    def __init__(self, respond: Callable[[str], Reply]) -> None:
        self.respond = respond
        self.served: Counter[str] = Counter()  # by action
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                action = self.headers.get("X-TC-Action", "")
                status, content_type, body = outer.respond(action)
                outer.served[action] += 1
                self.send_response(status)
                if content_type is not None:
                    self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                with contextlib.suppress(OSError):  # the client gave up: nothing to do
                    self.wfile.write(body)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self._server.server_address[1]}"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


class Switchboard:
    """The reply the server gives next, set by the test."""

    def __init__(self) -> None:
        self.reply: Reply = (200, "application/json", b"")

    def __call__(self, action: str) -> Reply:
        return self.reply


GOOD_STATE: Reply = (
    200,
    "application/json",
    b'{"Response": {"StreamState": "active", "RequestId": "6a7f1a3e-0000-4000-8000-00000000600d"}}',
)


@pytest.fixture(scope="module")
def switchboard() -> Iterator[tuple[Switchboard, AnswerServer]]:
    board = Switchboard()
    server = AnswerServer(board)
    yield board, server
    server.stop()


Call = tuple[str, float, "ApiError | None"]


def make_client(host: str, calls: list[Call]) -> CssClient:
    settings = ClientSettings(
        account="corpus",
        endpoint_host=host,
        scheme="http",
        timeout=10.0,
        secret_id=SECRET_ID,
        secret_key=FAKE_SECRET_KEY,
        token="corpus-fake-session-token-8d6f4b2a0c",
    )
    return CssClient(settings, on_call=lambda action, s, err: calls.append((action, s, err)))


def call(client: CssClient, action: str) -> StreamState | Page | ApiError:
    if action == cssapi.STATE:
        return client.stream_state(StreamKey("corpus", STATE_DOMAIN, "live", "s1"))
    if action == cssapi.ONLINE_LIST:
        return client.online_page(LIST_DOMAIN, "live", 1, 100)
    if action == cssapi.PUSH_INFO_LIST:
        return client.push_page(STATE_DOMAIN, "live", 1, 1000)
    assert action == cssapi.FORBID_LIST
    return client.forbid_page(1, 100)


def assert_one_clear_line(text: str) -> None:
    assert text.strip(), "empty message"
    assert len(text) <= 300, len(text)
    assert all(ch.isprintable() for ch in text), repr(text)
    assert "Traceback" not in text
    assert FAKE_SECRET_KEY not in text


# --- the client, one answer at a time ----------------------------------------------------------


@pytest.mark.parametrize(("answer", "action"), _cases())
def test_answer_is_a_counted_classified_error(
    switchboard: tuple[Switchboard, AnswerServer], answer: Answer, action: str
) -> None:
    board, server = switchboard
    calls: list[Call] = []
    client = make_client(server.host, calls)
    board.reply = answer.reply()
    with warnings.catch_warnings(record=True):  # the SDK's DeprecationWarning, if it warns
        result = call(client, action)

    # Counted exactly once, under the action, with the very error returned.
    assert len(calls) == 1, calls
    counted_action, seconds, counted_error = calls[0]
    assert counted_action == action
    assert seconds >= 0

    if not answer.is_error:
        assert not isinstance(result, ApiError), result
        assert counted_error is None
        if answer.value is not None:
            assert isinstance(result, StreamState) and result.value == answer.value
    else:
        assert isinstance(result, ApiError), result
        assert counted_error is result
        assert result.code == answer.expect, (result.code, result.message)
        assert result.error_class is classify(answer.expect)
        assert_one_clear_line(result.message)
        if answer.message is not None:
            assert answer.message in result.message, result.message
        assert isinstance(result.request_id, str)
        assert "\n" not in result.request_id

    # The same client (and its kept-alive connection) still takes a good answer.
    if action == cssapi.STATE:
        board.reply = GOOD_STATE
        assert call(client, action) is StreamState.ACTIVE
        assert calls[-1][2] is None


def test_a_hanging_server_is_a_timeout() -> None:
    """Not an answer at all, for contrast: the same client reports Timeout, still one line."""
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)  # the kernel accepts; nobody ever answers
    try:
        calls: list[Call] = []
        host = f"127.0.0.1:{listener.getsockname()[1]}"
        settings = ClientSettings("corpus", host, "http", 0.5, SECRET_ID, FAKE_SECRET_KEY)
        client = CssClient(settings, on_call=lambda a, s, e: calls.append((a, s, e)))
        result = call(client, cssapi.STATE)
        assert isinstance(result, ApiError) and result.code == "Timeout"
        assert_one_clear_line(result.message)
        assert len(calls) == 1 and calls[0][2] is result
    finally:
        listener.close()


# --- the exporter, fed nothing but the corpus --------------------------------------------------


class Cycler:
    """Per action, the corpus answers that are broken for it, in turn."""

    def __init__(self, answers: list[Answer]) -> None:
        self._lock = threading.Lock()
        self._by_action = {a: [x for x in answers if x.applies_to(a)] for a in ACTIONS}
        self._cursor = {a: itertools.count() for a in ACTIONS}
        self.served: Counter[str] = Counter()  # by answer name

    def applicable(self, action: str) -> list[Answer]:
        return self._by_action[action]

    def __call__(self, action: str) -> Reply:
        pool = self._by_action.get(action)
        if not pool:
            return 400, "text/plain", b"unknown action\n"
        with self._lock:
            answer = pool[next(self._cursor[action]) % len(pool)]
            self.served[answer.name] += 1
        return answer.reply()


def test_exporter_keeps_serving_through_the_corpus(tmp_path: Path) -> None:
    errors = [a for a in load_index() if a.is_error]
    for a in errors:
        a.body()  # build the huge ones before the clock starts
    cycler = Cycler(errors)
    server = AnswerServer(cycler)
    state_streams = [f"s{i:02d}" for i in range(40)]
    list_streams = [f"l{i}" for i in range(5)]
    apps = ("live", "app2", "app3")
    config: dict[str, Any] = {
        "accounts": [
            {
                "name": "corpus",
                "endpoint": f"http://{server.host}",
                "credentials": {"secret_id": SECRET_ID, "secret_key": SECRET_KEY},
                "timeout": "5s",
                "max_workers": 4,
            }
        ],
        "targets": [
            {
                "domain": STATE_DOMAIN,
                "mode": "state",
                "interval": "10s",
                "round_interval": "10s",
                "streams": state_streams,
            },
            *(
                {
                    "domain": LIST_DOMAIN,
                    "app": app,
                    "mode": "online_list",
                    "interval": "10s",
                    "round_interval": "10s",
                    "forbid_check_interval": "10s",
                    "streams": list_streams,
                }
                for app in apps
            ),
        ],
    }
    scrapes: list[tuple[int, float]] = []
    wrong_states: list[tuple[str, str]] = []
    bad_response_counts: list[float] = []
    problems: list[str] = []
    stop = threading.Event()

    try:
        with run_exporter(tmp_path, config) as exp:

            def scrape() -> None:
                while not stop.is_set():
                    started = time.monotonic()
                    try:
                        status, body = exp.get("/metrics")
                    except Exception as exc:  # a refused or reset connection is a failure too
                        problems.append(f"scrape failed: {type(exc).__name__}: {exc}")
                        status, body = 0, b""
                    scrapes.append((status, time.monotonic() - started))
                    if status == 200:
                        samples = parse_samples(body.decode())
                        for (name, labels), value in samples.items():
                            label = dict(labels)
                            wrong = label.get("state") != "unknown"
                            if name == "tencent_live_stream_state" and value == 1 and wrong:
                                wrong_states.append((label["stream"], label["state"]))
                        bad = sample(samples, "tencent_live_api_errors_total", code="BadResponse")
                        bad_response_counts.append(bad or 0.0)
                    stop.wait(0.25)

            scraper = threading.Thread(target=scrape, daemon=True)
            scraper.start()
            try:
                # Twice round the State answers: once in the start-up burst, once in the
                # steady state; and list rounds, push rounds and forbid rounds in between.
                def everything_served() -> bool:
                    state_pool = cycler.applicable(cssapi.STATE)
                    return all(cycler.served[a.name] >= 2 for a in state_pool) and all(
                        server.served[action] >= 3 for action in ACTIONS
                    )

                wait_for(everything_served, 90, "every State answer served twice")
                wait_for(
                    lambda: len(set(bad_response_counts)) >= 3, 30, "BadResponse counts growing"
                )
            finally:
                stop.set()
                scraper.join(10)

            m = exp.metrics()
            stderr = list(exp.log_lines)
    finally:
        server.stop()

    assert not problems, problems[:5]
    assert scrapes and all(status == 200 for status, _ in scrapes), Counter(s for s, _ in scrapes)
    # Nothing ever succeeded: every stream is still unknown, none was declared inactive.
    assert not wrong_states, wrong_states[:10]
    tracked = [(STATE_DOMAIN, "live", s) for s in state_streams]
    tracked += [(LIST_DOMAIN, app, s) for app in apps for s in list_streams]
    for domain, app, stream in tracked:
        labels = {"domain": domain, "app": app, "stream": stream, "state": "unknown"}
        assert sample(m, "tencent_live_stream_state", **labels) == 1, (app, stream)
    # BadResponse only ever grew, and every kind of failure is counted under its code.
    assert bad_response_counts == sorted(bad_response_counts)
    assert bad_response_counts[-1] > bad_response_counts[0]
    for code in (
        "BadResponse",
        "HTTPError",
        "InternalError",
        "InternalError.GetStreamInfoError",
        "InternalError.SystemError",
        "FailedOperation",
    ):
        assert (sample(m, "tencent_live_api_errors_total", code=code) or 0) > 0, code
    codes = {
        dict(labels)["code"] for (name, labels) in m if name == "tencent_live_api_errors_total"
    }
    assert codes <= {a.expect for a in errors}, codes
    for action in ACTIONS:
        requests = sample(m, "tencent_live_api_requests_total", action=action) or 0
        failed = sample(m, "tencent_live_api_errors_total", action=action) or 0
        assert requests > 0, action
        assert 0 <= requests - failed <= 4, (action, requests, failed)  # at most in flight
    # The process survived and said nothing unexpected.
    assert exp.proc.returncode == 0, "\n".join(stderr[-20:])
    assert not any("Traceback" in line for line in stderr)
    not_logfmt = [line for line in stderr if not line.startswith("ts=")]
    assert not not_logfmt, not_logfmt[:5]
    assert not any(SECRET_KEY in line for line in stderr)
