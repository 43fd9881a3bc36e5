"""The callback receiver over HTTP: Tencent's official sample bodies, the answers, the state.

The app's wall clock is set to the samples' own time so that they are used verbatim, with only
their masked ``sign`` recomputed with the test key. Nothing polls: callbacks alone move state.
"""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from exporter.app import App
from exporter.callbacks import sign
from exporter.config import Config
from exporter.model import StreamKey, StreamState
from tests.drive import Clock
from tests.e2e import parse_samples, sample

CORPUS = Path(__file__).parent / "corpus" / "callbacks"
KEY = "callback-test-key-7f3a"
KEY_STREAM = StreamKey("main", "test.domain.com", "live", "test_stream")


def official(name: str, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((CORPUS / name).read_text())
    body.update(changes)
    body["sign"] = sign(KEY, int(body["t"]))
    return body


@pytest.fixture
def app() -> Iterator[tuple[App, Clock]]:
    config = Config.model_validate(
        {
            "accounts": [
                {
                    "name": "main",
                    "endpoint": "http://127.0.0.1:1",
                    "credentials": {"secret_id": "AKIDx", "secret_key": "unused-key"},
                    "callback_keys": [KEY],
                }
            ],
            "targets": [{"domain": "test.domain.com", "mode": "state", "streams": ["test_stream"]}],
        }
    )
    wall = Clock(1703731500.0)  # after the push's event_time, before its t expires
    application = App(config, "127.0.0.1:0", wall=wall)
    application.web.start()
    yield application, wall
    application.web.stop()


def post(app: App, body: bytes, content_type: str = "application/json") -> tuple[int, bytes]:
    url = f"http://127.0.0.1:{app.web.port}/callbacks/live"
    request = urllib.request.Request(url, data=body, headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def send(app: App, body: dict[str, Any]) -> tuple[int, bytes]:
    return post(app, json.dumps(body).encode())


def state(app: App) -> tuple[StreamState, str | None]:
    status = app.store.get(KEY_STREAM)
    assert status is not None
    return status.state, status.change_source


def results(app: App) -> dict[str, float]:
    samples = parse_samples(app.render_metrics().decode())
    return {
        dict(labels)["result"]: value
        for (name, labels), value in samples.items()
        if name == "tencent_live_callback_requests_total"
    }


def test_official_push_and_interrupt_with_retries(app: tuple[App, Clock]) -> None:
    application, wall = app
    push = official("official_push.json")
    stop = official("official_interrupt.json")
    assert state(application) == (StreamState.UNKNOWN, None)

    assert send(application, push) == (200, b'{"code":0}')
    assert state(application) == (StreamState.ACTIVE, "callback")
    assert send(application, push) == (200, b'{"code":0}')  # CSS retry: a duplicate

    wall.now = 1703731610.0
    assert send(application, stop) == (200, b'{"code":0}')
    assert state(application) == (StreamState.INACTIVE, "callback")  # at once
    # A late retry of the push (older event_time) does not bring the stream back.
    assert send(application, push) == (200, b'{"code":0}')
    assert state(application) == (StreamState.INACTIVE, "callback")

    assert results(application) == {"accepted": 2, "duplicate": 1, "out_of_order": 1}
    text = application.render_metrics().decode()
    assert (
        'tencent_live_stream_last_change_timestamp_seconds{account="main",'
        'domain="test.domain.com",app="live",stream="test_stream",source="callback"} 1.70373161e+09'
        in text
    )
    samples = parse_samples(text)
    assert sample(samples, "tencent_live_callback_events_total", event="push") == 1
    assert sample(samples, "tencent_live_callback_events_total", event="interrupt") == 1


@pytest.mark.parametrize(
    ("make", "status", "reason"),
    [
        (lambda: json.dumps({**official("official_push.json"), "sign": "0" * 32}), 401, "bad_sign"),
        (lambda: json.dumps(official("official_push.json", t=1703731400)), 200, "expired"),
        (lambda: "{not json", 400, "bad_json"),
        (
            lambda: json.dumps(official("official_push.json", event_type=7)),
            200,
            "unhandled_event",
        ),
        (lambda: json.dumps(official("official_push.json", event_type="7")), 400, "bad_field"),
        (lambda: json.dumps({"t": 1703732078}), 400, "missing_field"),
    ],
)
def test_bad_requests_are_answered_counted_and_change_nothing(
    app: tuple[App, Clock], make: Any, status: int, reason: str
) -> None:
    application, _ = app
    got_status, body = post(application, make().encode())
    assert got_status == status
    if status == 200:  # authentic but of no use: acknowledged so that CSS stops retrying
        assert body == b'{"code":0}'
    else:
        assert body.decode().startswith(f"{reason}: ")
        assert body.count(b"\n") == 1
    assert state(application) == (StreamState.UNKNOWN, None)
    assert results(application) == {reason: 1}


def test_ten_megabyte_body_is_refused_unread(app: tuple[App, Clock]) -> None:
    application, _ = app
    size = 10 * 1024 * 1024
    # The answer comes before the body is read, so a client still sending would see a broken
    # pipe: send the head and a first piece only, then read the answer.
    with socket.create_connection(("127.0.0.1", application.web.port), timeout=5) as conn:
        conn.sendall(
            b"POST /callbacks/live HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {size}\r\n\r\n".encode()
            + b"{"
            + b" " * 65536
        )
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.endswith(b"\n"):
            piece = conn.recv(65536)
            if not piece:
                break
            answer += piece
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413 ")
    assert body.startswith(b"too_large: ")
    assert results(application) == {"too_large": 1}
    # The server goes on serving.
    assert send(application, official("official_push.json"))[0] == 200


def test_callback_for_an_untracked_stream_is_acknowledged_and_counted(
    app: tuple[App, Clock],
) -> None:
    application, _ = app
    other = official("official_push.json", stream_id="someone_else")
    assert send(application, other) == (200, b'{"code":0}')  # else CSS retries for 12 minutes
    assert results(application) == {"unknown_stream": 1}
    assert len(application.store) == 1
