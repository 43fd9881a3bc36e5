"""/-/ready never runs ahead of /metrics: a 200 means the first round's states are on /metrics.

The poller is ready once every target has completed its first round, but the renderer puts
those states in the exposition a moment later (it lets a burst settle, then renders). A scrape
right after /-/ready said 200 used to find the streams still `unknown` on a loaded machine.
In process, with a fake clock and no render thread, so each step is taken by hand.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry

from exporter.app import App
from exporter.config import Config
from exporter.exposition import Exposition
from exporter.render import Renderer
from exporter.simulator import Simulator, World
from exporter.state import StateStore
from tests.drive import SharedClock
from tests.e2e import SECRET_ID, SECRET_KEY

DOMAIN = "push.example.com"
OTHER = "push-2.example.com"
STREAMS = {DOMAIN: ["on", "off"], OTHER: ["new"]}


def test_a_ticket_is_served_by_a_render_begun_after_it() -> None:
    wake = threading.Event()
    renderer = Renderer(StateStore(), Exposition(CollectorRegistry()), wake)
    first = renderer.ticket()
    assert wake.is_set()  # the render thread is asked for the render the ticket waits on
    assert not renderer.served(first)
    renderer.sync()
    assert renderer.served(first)
    second = renderer.ticket()
    assert not renderer.served(second) and renderer.served(first)
    renderer.sync()
    assert renderer.served(second)


@pytest.fixture
def app() -> Iterator[App]:
    world = World()
    world.add_stream(DOMAIN, "live", "on", state="active")
    world.add_stream(DOMAIN, "live", "off", state="inactive")
    clock = SharedClock(1_800_000_000.0)
    sim = Simulator(world, credentials={SECRET_ID: SECRET_KEY}, monotonic=clock)
    sim.start()
    world.add_stream(OTHER, "live", "new", state="active")

    def config(*domains: str) -> Config:
        return Config.model_validate(
            {
                "accounts": [
                    {
                        "name": "a",
                        "endpoint": sim.url,
                        "credentials": {"secret_id": SECRET_ID, "secret_key": SECRET_KEY},
                    }
                ],
                "targets": [
                    {"domain": d, "mode": "state", "push_info": False, "streams": STREAMS[d]}
                    for d in domains
                ],
            }
        )

    app = App(
        config(DOMAIN),
        "127.0.0.1:0",
        loader=lambda: config(DOMAIN, OTHER),  # the reload adds a target
        clock=clock,
        wall=clock,
        sleep=clock.sleep,
    )
    yield app
    sim.stop()
    app.web.stop()


def state_of(body: bytes, stream: str) -> str:
    series = rf'tencent_live_stream_state{{[^}}]*stream="{stream}"[^}}]*state="(\w+)"[^}}]*}} 1'
    found = re.findall(series.encode(), body)
    assert len(found) == 1, found
    return found[0].decode()


def test_ready_waits_for_the_first_round_to_be_rendered(app: App) -> None:
    app.poller.first_round()
    app.poller.run_pending()
    assert app.poller.ready()
    # The round is in the store, not yet in the exposition: not ready, and the gauge (the
    # poller's word) already 1.
    assert not app.ready()
    assert not app.ready()  # asking again takes no new ticket that would never be served
    app.renderer.sync()  # the render the ticket waits on
    assert app.ready()
    body = b"".join(app.metrics_chunks(openmetrics=False, compressed=False))
    assert (state_of(body, "on"), state_of(body, "off")) == ("active", "inactive")
    assert b"\ntencent_live_exporter_ready 1.0\n" in body
    assert app.ready()  # and it stays ready


def test_a_reload_that_adds_a_target_waits_for_its_round_on_metrics_too(app: App) -> None:
    app.poller.first_round()
    app.poller.run_pending()
    assert not app.ready()  # the first ask takes the ticket
    app.renderer.sync()
    assert app.ready()
    assert app.reload()[0]
    assert not app.ready()  # the new target has not had its first round
    app.poller.first_round()  # what a running poller's reload dispatches: the new first round
    app.poller.run_pending()
    assert app.poller.ready() and not app.ready()
    app.renderer.sync()
    assert app.ready()
    body = b"".join(app.metrics_chunks(openmetrics=False, compressed=False))
    assert state_of(body, "new") == "active"
