"""Push/interrupt callbacks reach a receiver with the CSS fields and a valid sign."""

from __future__ import annotations

import hashlib
import json
import queue
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from exporter.simulator import StreamSpec, World
from exporter.simulator.callbacks import build_callbacks
from exporter.simulator.model import Phase
from exporter.simulator.world import StateChange

from .conftest import SimFactory
from .support import DOMAIN, FakeClock

KEY = "cb-key"
PUSH_FIELDS = {
    "t",
    "sign",
    "appid",
    "app",
    "appname",
    "stream_id",
    "channel_id",
    "event_time",
    "event_type",
    "sequence",
    "node",
    "user_ip",
    "stream_param",
    "errcode",
    "errmsg",
    "set_id",
    "width",
    "height",
    "idc_id",
}


class Receiver:
    def __init__(self) -> None:
        self.bodies: queue.Queue[dict[str, Any]] = queue.Queue()
        bodies = self.bodies

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                bodies.put(json.loads(self.rfile.read(length)))
                payload = b'{"code":0}'
                self.send_response(200)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/callback"
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def next(self) -> dict[str, Any]:
        return self.bodies.get(timeout=5)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def check_sign(body: dict[str, Any]) -> None:
    assert body["sign"] == hashlib.md5(f"{KEY}{body['t']}".encode()).hexdigest()
    assert abs(body["t"] - (time.time() + 600)) < 30


def test_push_then_interrupt_via_set_state(make_sim: SimFactory, receiver: Receiver) -> None:
    world = World([StreamSpec(DOMAIN, "live", "s1", state="inactive")])
    sim = make_sim(world, callback_url=receiver.url, callback_key=KEY)
    sim.world.set_state(DOMAIN, "live", "s1", "active")
    push = receiver.next()
    assert set(push) == PUSH_FIELDS
    assert push["event_type"] == 1 and push["errcode"] == 0
    assert (push["app"], push["appname"], push["stream_id"], push["channel_id"]) == (
        DOMAIN,
        "live",
        "s1",
        "s1",
    )
    assert (push["width"], push["height"]) == (1920, 1080)
    check_sign(push)
    sim.world.set_state(DOMAIN, "live", "s1", "inactive")
    stop = receiver.next()
    assert set(stop) == PUSH_FIELDS | {"push_duration"}
    assert stop["event_type"] == 0
    assert stop["sequence"] == push["sequence"] and isinstance(stop["sequence"], str)
    assert int(stop["push_duration"]) >= 0 and isinstance(stop["push_duration"], str)
    check_sign(stop)
    sim.world.set_state(DOMAIN, "live", "s1", "active")
    assert receiver.next()["sequence"] != push["sequence"]  # a new session
    deadline = time.monotonic() + 5
    while sim.callback_counters() != {"sent": 3} and time.monotonic() < deadline:
        time.sleep(0.01)  # the sender counts right after the receiver answered
    assert sim.callback_counters() == {"sent": 3}


def test_timeline_changes_fire_callbacks(make_sim: SimFactory, receiver: Receiver) -> None:
    clock = FakeClock()
    spec = StreamSpec(DOMAIN, "live", "tl", timeline=(Phase("inactive", 10), Phase("active", 20)))
    sim = make_sim(World([spec], clock), callback_url=receiver.url, callback_key=KEY)
    clock.advance(11)  # the ticker notices within its tick; advancing here is equally fine
    sim.world.advance()
    push = receiver.next()
    assert push["event_type"] == 1 and push["event_time"] == int(clock() - 1)
    clock.advance(20)
    sim.world.advance()
    stop = receiver.next()
    assert stop["event_type"] == 0 and stop["sequence"] == push["sequence"]
    assert stop["push_duration"] == "20000"


def test_scenario_callback_and_forbid_interrupt(make_sim: SimFactory, receiver: Receiver) -> None:
    scenario = {
        "callback": {"url": receiver.url, "key": KEY},
        "appid": 42,
        "streams": [{"domain": DOMAIN, "stream": "s", "state": "active"}],
    }
    sim = make_sim(scenario)
    sim.world.set_state(DOMAIN, "live", "s", "forbid")
    body = receiver.next()
    assert (body["event_type"], body["appid"]) == (0, 42)
    sim.world.set_state(DOMAIN, "live", "s", "inactive")  # not an active transition: no callback
    sim.world.set_state(DOMAIN, "live", "s", "active")
    assert receiver.next()["event_type"] == 1


def test_failures_are_counted_not_raised(make_sim: SimFactory) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}/"
    world = World([StreamSpec(DOMAIN, "live", "s", state="inactive")])
    sim = make_sim(world, callback_url=dead, callback_key=KEY)
    sim.world.set_state(DOMAIN, "live", "s", "active")
    deadline = time.monotonic() + 5
    while sim.callback_counters().get("failed") != 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sim.callback_counters() == {"failed": 1}


def test_non_active_transitions_make_no_callback() -> None:
    change = StateChange(
        DOMAIN, "live", "s", "inactive", "forbid", 1.0, 0.0, StreamSpec(DOMAIN, "live", "s").quality
    )
    assert build_callbacks(change, key=KEY, appid=1, wall_now=0.0) == []
