"""Every long-lived thread survives a failing item, and a dead one fails /-/healthy.

A failure is injected into each kind of thread of a running exporter (real threads, the
simulator behind the official SDK): the render thread, the tick, a lane's worker and pacer, and
a reload. Each survives, counts the failure, and keeps working. Then a thread that dies anyway
makes /-/healthy answer 503 and tencent_live_exporter_thread_up say which.
"""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from exporter.app import App
from exporter.config import Config
from exporter.cssapi import STATE
from exporter.model import StreamState
from exporter.simulator import Simulator, World
from tests.e2e import SECRET_ID, SECRET_KEY, parse_samples, sample

DOMAIN = "push-x.example.com"


@pytest.fixture
def app() -> Iterator[App]:
    world = World()
    for i in range(5):
        world.add_stream(DOMAIN, "live", f"s{i}", state="active")
    sim = Simulator(world, credentials={SECRET_ID: SECRET_KEY})
    sim.start()
    config = Config.model_validate(
        {
            "accounts": [
                {
                    "name": "x",
                    "endpoint": sim.url,
                    "credentials": {"secret_id": SECRET_ID, "secret_key": SECRET_KEY},
                }
            ],
            "targets": [
                {
                    "domain": DOMAIN,
                    "mode": "state",
                    "interval": "10s",
                    "streams": [f"s{i}" for i in range(5)],
                }
            ],
        }
    )

    def broken_loader() -> Config:
        raise RuntimeError("a bug in loading")

    application = App(config, "127.0.0.1:0", loader=broken_loader)
    application.start()
    yield application
    application.stop()
    sim.stop()


def wait_for(check: Callable[[], bool], what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def errors(app: App, thread: str) -> float:
    value = sample(
        parse_samples(app.render_metrics().decode()),
        "tencent_live_exporter_thread_errors_total",
        thread=thread,
    )
    return value or 0.0


def get(app: App, path: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{app.web.port}{path}", timeout=10) as r:
            return int(r.status), r.read()
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read()


def once(target: Any, name: str, error: BaseException) -> threading.Event:
    """Make ``target.name`` raise ``error`` on its next call only; the event says it did."""
    real = getattr(target, name)
    raised = threading.Event()

    def broken(*args: Any, **kwargs: Any) -> Any:
        if not raised.is_set():
            raised.set()
            raise error
        return real(*args, **kwargs)

    setattr(target, name, broken)
    return raised


def states_known(app: App) -> bool:
    return all(s.state is StreamState.ACTIVE for s in app.store.snapshot().values())


def test_each_thread_survives_a_failing_item(app: App) -> None:
    wait_for(lambda: states_known(app), "the first round")
    assert app.healthy()

    # The render thread: one flush fails; the next change is rendered.
    raised = once(app.exposition, "flush", RuntimeError("render bug"))
    wait_for(raised.is_set, "the render failure")  # the next poll's change wakes the renderer
    wait_for(lambda: errors(app, "render") == 1, "the render error counted")

    # The tick: one tick fails; the next ticks go on polling.
    raised = once(app.store, "tick", RuntimeError("tick bug"))
    wait_for(raised.is_set, "the tick failure")
    wait_for(lambda: errors(app, "tick") == 1, "the tick error counted")

    # A worker: one state poll's job fails; the lane goes on.
    acc = app.poller.dispatcher.account("x")
    assert acc is not None
    raised = once(acc.client, "stream_state", RuntimeError("worker bug"))
    wait_for(raised.is_set, "the worker failure", timeout=30)
    wait_for(lambda: errors(app, "lanes") >= 1, "the worker error counted")

    # The pacer: admitting one job fails; the lane goes on.
    raised = once(acc.guard, "admit", RuntimeError("pacer bug"))
    wait_for(raised.is_set, "the pacer failure", timeout=30)
    wait_for(lambda: errors(app, "lanes") >= 2, "the pacer error counted")

    # A reload: the loader has a bug; the running configuration stays, nothing dies.
    ok, message = app.reload()
    assert (ok, message) == (False, "reload failed: RuntimeError")
    assert errors(app, "reload") == 1

    # Everything still works: polls keep coming and are rendered; every thread is up.
    before = app.poller.progress.get(f"{DOMAIN}/live").last_success  # type: ignore[union-attr]
    wait_for(
        lambda: app.poller.progress.get(f"{DOMAIN}/live").last_success != before,  # type: ignore[union-attr]
        "a poll after the failures",
        timeout=30,
    )
    assert app.healthy()
    samples = parse_samples(app.render_metrics().decode())
    for thread in ("render", "tick", "lanes"):
        assert sample(samples, "tencent_live_exporter_thread_up", thread=thread) == 1, thread
    assert get(app, "/-/healthy")[0] == 200


@pytest.mark.parametrize("thread", ["render", "tick", "lanes"])
def test_a_thread_that_dies_fails_the_health_check(app: App, thread: str) -> None:
    wait_for(lambda: states_known(app), "the first round")
    if thread == "render":
        app.renderer._stop.set()  # the loop ends as if it had died
        app.renderer._thread.join(5)  # type: ignore[union-attr]
        app.renderer._stop.clear()
    elif thread == "tick":
        app.poller._scheduler.shutdown(wait=True)  # type: ignore[union-attr]
    else:
        from exporter.polling import lanes as lanes_module

        lane = app.poller.dispatcher.account("x").lanes[STATE]  # type: ignore[union-attr]
        lane._handoff.put(lanes_module._STOP)  # one worker ends as if it had died
        wait_for(lambda: not all(t.is_alive() for t in lane._threads), "the worker to end")
    wait_for(lambda: not app.healthy(), f"{thread} to be seen dead", timeout=5)
    status, body = get(app, "/-/healthy")
    assert status == 503 and body.count(b"\n") == 1
    samples = parse_samples(app.render_metrics().decode())
    assert sample(samples, "tencent_live_exporter_thread_up", thread=thread) == 0
