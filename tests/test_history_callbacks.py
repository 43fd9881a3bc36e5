"""Why it stopped, from callbacks: interrupt callbacks counted by a bounded reason (once, however
often CSS retries), the last reason and message, push-error callbacks counted by type."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from exporter.app import App
from exporter.callbacks import sign
from exporter.config import Config
from exporter.history import from_errcode, from_stop_reason
from exporter.model import StreamKey
from tests.drive import Clock
from tests.e2e import parse_samples, sample

CORPUS = Path(__file__).parent / "corpus" / "callbacks"
KEY = "history-test-key-1c2d"
DOMAIN = "push.example.com"
STREAM = StreamKey("main", DOMAIN, "live", "s1")
T = 1_800_000_000


@pytest.fixture
def app() -> App:
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
            "targets": [
                {
                    "domain": DOMAIN,
                    "mode": "state",
                    "labels": {"team": "studio"},
                    "streams": [{"name": "s1", "expect_live": True}],
                }
            ],
        }
    )
    return App(config, "127.0.0.1:0", wall=Clock(float(T)))


def interrupt(at: int, errcode: int, errmsg: str, sequence: str) -> bytes:
    body: dict[str, Any] = json.loads((CORPUS / "official_interrupt.json").read_text())
    body.update(
        app=DOMAIN,
        stream_id="s1",
        channel_id="s1",
        event_time=at,
        errcode=errcode,
        errmsg=errmsg,
        sequence=sequence,
        push_duration="90500",
        t=at + 600,
    )
    body["sign"] = sign(KEY, at + 600)
    return json.dumps(body).encode()


def push_error(at_ms: int, sequence: str) -> bytes:
    body: dict[str, Any] = json.loads((CORPUS / "official_push_error.json").read_text())
    t = at_ms // 1000 + 600
    body.update(domain=DOMAIN, path="live", stream_id="s1", data_time=at_ms, sequence=sequence)
    body.update(t=t, sign=sign(KEY, t))
    return json.dumps(body).encode()


def metrics(app: App) -> Any:
    return parse_samples(app.render_metrics().decode())


def test_an_interrupt_is_counted_once_by_reason_with_its_message(app: App) -> None:
    body = interrupt(T - 100, 12, "network error for the push client", "777")
    for _ in range(3):  # CSS retries until it gets a 200
        assert app.handle_callback(body, "application/json", now=T - 99) == (200, b'{"code":0}')
    m = metrics(app)
    counted = "tencent_live_stream_interrupts_total"
    assert sample(m, counted, stream="s1", reason="network", team="studio") == 1.0
    last = [
        dict(labels)
        for (name, labels) in m
        if name == "tencent_live_stream_last_interrupt_timestamp_seconds"
    ]
    assert [(d["reason"], d["code"], d["message"]) for d in last] == [
        ("network", "12", "network error for the push client")
    ]
    assert sample(m, "tencent_live_stream_last_push_duration_seconds", stream="s1") == 90.5
    # Another interrupt later, a clean stop by the encoder.
    later = interrupt(T - 10, 1, "recv rtmp deleteStream", "778")
    assert app.handle_callback(later, "application/json", now=T - 9)[0] == 200
    m = metrics(app)
    assert sample(m, counted, stream="s1", reason="clean_stop") == 1.0
    assert sample(m, counted, stream="s1", reason="network") == 1.0
    history = app.exposition.history.get(STREAM)
    assert history is not None and history.last is not None
    assert (history.last.reason, history.last.message) == ("clean_stop", "recv rtmp deleteStream")
    # The receiver's ledger, which the callback audit compares CSS's records with.
    assert [(kind, seq) for kind, seq, _ in history.accepted] == [(0, "777"), (0, "778")]


def test_push_errors_are_counted_by_type_once_per_report(app: App) -> None:
    body = push_error((T - 50) * 1000, "900")
    for _ in range(2):
        assert app.handle_callback(body, "application/json", now=T - 49)[0] == 200
    m = metrics(app)
    errors = "tencent_live_stream_push_errors_total"
    # The official sample: type 6 (video frames late) and 7 (audio), each with count 2.
    assert sample(m, errors, stream="s1", error="video_frame_late") == 2.0
    assert sample(m, errors, stream="s1", error="audio_frame_late") == 2.0


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        (1, "clean_stop"),
        (4, "clean_stop"),
        (8, "network"),
        (12, "network"),
        (17, "network"),
        (16, "other"),  # listed as an internal error on the international page
        (5, "other"),
        (0, "other"),
        (None, "other"),
        (201, "auth_or_ban"),
        (304, "auth_or_ban"),
        (500, "other"),
    ],
)
def test_errcode_reasons(code: int | None, reason: str) -> None:
    assert from_errcode(code) == reason


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("客户端主动断流", "clean_stop"),  # the China API's own example
        ("The push client actively stopped the push", "clean_stop"),
        ("recv rtmp deleteStream", "clean_stop"),
        ("Network error for the push client.", "network"),
        ("The system stopped the stream because no data was generated for a long time.", "network"),
        ("推流链路网络异常", "network"),
        ("The stream is disabled.", "auth_or_ban"),
        ("Reached the expiration time.", "auth_or_ban"),
        ("推流IP在黑名单中", "auth_or_ban"),
        ("CSS system internal error.", "other"),
        ("", "other"),
    ],
)
def test_stop_reason_sentences(text: str, reason: str) -> None:
    assert from_stop_reason(text) == reason
