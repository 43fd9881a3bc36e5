"""The server's bounds as levers an attacker might pull: bcrypt, handler pools, file limits.

Each test holds the slow part (bcrypt, a backend call) on an Event, so that what is asserted is
the bound itself (how many run, how many wait, who is answered at once), not a timing.
"""

from __future__ import annotations

import base64
import subprocess
import sys
import threading
from collections.abc import Callable

import bcrypt
import pytest

from exporter.callbacks.origin import Origin
from exporter.web import Limits
from tests.test_http import Backend, Client, Serve, get, post, serve

__all__ = ["serve"]  # the fixture, imported for the tests below

PASSWORD = "right horse battery staple"
HASH = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()
USERS = f"basic_auth_users:\n  alice: {HASH}\n"


def basic(user: str, password: str) -> str:
    return "Authorization: Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


class Gate:
    """Wraps a function so that calls block until released; counts how many ran at once."""

    def __init__(self, fn: Callable[..., object]) -> None:
        self.fn = fn
        self.release = threading.Event()
        self.entered = threading.Event()
        self.lock = threading.Lock()
        self.running = 0
        self.peak = 0

    def __call__(self, *args: object) -> object:
        with self.lock:
            self.running += 1
            self.peak = max(self.peak, self.running)
        self.entered.set()
        try:
            self.release.wait(20)
            return self.fn(*args)
        finally:
            with self.lock:
                self.running -= 1


def test_bcrypt_is_one_at_a_time_with_a_bounded_queue_and_cached_scrapes_stay_fast(
    serve: Serve, monkeypatch: pytest.MonkeyPatch
) -> None:
    server, _ = serve(Limits(bcrypt_queue=2), web_config=USERS)
    scraper = Client(server.port)
    scraper.send(get(extra=basic("alice", PASSWORD) + "\r\n"))
    assert scraper.answer().status == 200  # its credentials are now cached
    gate = Gate(bcrypt.checkpw)
    monkeypatch.setattr(bcrypt, "checkpw", gate)
    flood = [Client(server.port) for _ in range(10)]
    for i, client in enumerate(flood):
        client.send(get(extra=basic("alice", f"guess-{i}") + "\r\n"))
    assert gate.entered.wait(10)
    # One check running, two waiting: the other seven are answered 503 at once, without bcrypt.
    assert server.stats.wait_for(lambda s: s.refused["auth_busy"] == 7, timeout=10)
    # A scrape with cached credentials does not queue behind the flood.
    scraper.send(get(extra=basic("alice", PASSWORD) + "\r\n"))
    assert scraper.answer().status == 200
    assert gate.running == 1
    gate.release.set()
    statuses = sorted(client.answer().status for client in flood)
    assert statuses == [401] * 3 + [503] * 7
    assert gate.peak == 1


def test_a_callback_flood_does_not_starve_scrapes(serve: Serve) -> None:
    gate = Gate(lambda: None)

    class SlowCallbacks(Backend):
        def handle_callback(
            self, body: bytes, content_type: str | None, origin: Origin | None = None
        ) -> tuple[int, bytes]:
            gate()
            return super().handle_callback(body, content_type, origin)

    server, backend = serve(Limits(handler_threads=1, handler_queue=1), backend=SlowCallbacks())
    flood = [Client(server.port) for _ in range(5)]
    for client in flood:
        client.send(post("/callbacks/live", b"{}"))
    assert gate.entered.wait(10)
    assert server.stats.wait_for(lambda s: s.refused["handlers_busy"] == 3, timeout=10)
    scraper = Client(server.port)
    scraper.send(get())
    assert scraper.answer().status == 200  # while every callback thread is held
    gate.release.set()
    assert sorted(c.answer().status for c in flood) == [200, 200, 503, 503, 503]
    assert len(backend.callbacks) == 2


def test_a_scrape_flood_does_not_starve_callbacks(serve: Serve) -> None:
    gate = Gate(lambda: None)

    class SlowScrapes(Backend):
        def metrics_chunks(self, openmetrics: bool, compressed: bool) -> list[bytes]:
            gate()
            return super().metrics_chunks(openmetrics, compressed)

    server, backend = serve(Limits(handler_threads=1, handler_queue=1), backend=SlowScrapes())
    flood = [Client(server.port) for _ in range(4)]
    for client in flood:
        client.send(get())
    assert gate.entered.wait(10)
    assert server.stats.wait_for(lambda s: s.refused["handlers_busy"] == 2, timeout=10)
    css = Client(server.port)
    css.send(post("/callbacks/live", b"{}"))
    assert css.answer().status == 200
    gate.release.set()
    assert sorted(c.answer().status for c in flood) == [200, 200, 503, 503]
    assert backend.callbacks == [(b"{}", None)]


def test_soft_file_limit_raised_to_hard_and_cap_fitted_under_it() -> None:
    code = """
import resource
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (300, 300))
from exporter.web import Limits, raise_nofile_limit
print(Limits(max_connections=512).connection_cap())
resource.setrlimit(resource.RLIMIT_NOFILE, (256, 300))
print(raise_nofile_limit(), resource.getrlimit(resource.RLIMIT_NOFILE))
"""
    res = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    lines = res.stdout.splitlines()
    assert lines == ["172", "(300, 300) (300, 300)"]  # 300 less 128 kept for the rest


def test_threads_do_not_grow_with_connections(serve: Serve) -> None:
    server, _ = serve(Limits(max_connections=300))
    before = threading.active_count()
    clients = [Client(server.port) for _ in range(200)]
    for client in clients:
        client.send(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")  # a head, never finished
    last = Client(server.port)
    last.send(get())
    assert last.answer().status == 200
    assert server.stats.snapshot().open_connections == 201
    # At most one thread of each pool was started by that scrape.
    assert threading.active_count() <= before + 1
    for client in clients:
        client.close()
