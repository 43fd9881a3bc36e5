"""Discovery cannot be filled from outside: pushes for unknown streams are provisional.

A push callback for a stream the exporter does not track starts tracking it at once, but only
provisionally: it takes a ``max_streams`` slot once a list round lists it, and it is dropped
when rounds go by without that. So a flood of validly signed pushes (a replayed ``t``/``sign``
pair signs any body) cannot occupy discovery for the retention, nor grow without bound.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from exporter.app import App
from exporter.callbacks import sign
from exporter.config import Config
from exporter.model import StreamKey, StreamState
from exporter.runtime.membership import PROVISIONAL_MAX
from exporter.simulator import Simulator, World
from tests.drive import Clock, run_round
from tests.e2e import SECRET_ID, SECRET_KEY

DOMAIN = "push-p.example.com"
KEY = "provisional-callback-key"
WHERE = ("t", DOMAIN, "live")


@pytest.fixture
def setup() -> Iterator[tuple[App, Simulator, Clock]]:
    world = World()
    for i in range(5):
        world.add_stream(DOMAIN, "live", f"real-{i}", state="active")
    sim = Simulator(world, credentials={SECRET_ID: SECRET_KEY})
    sim.start()
    wall = Clock(1_800_000_000.0)
    config = Config.model_validate(
        {
            "accounts": [
                {
                    "name": "t",
                    "endpoint": sim.url,
                    "budget_fraction": 1.0,
                    "credentials": {"secret_id": SECRET_ID, "secret_key": SECRET_KEY},
                    "callback_keys": [KEY],
                }
            ],
            "targets": [{"domain": DOMAIN, "push_info": False, "max_streams": 10}],
        }
    )
    app = App(config, "127.0.0.1:0", wall=wall)
    yield app, sim, wall
    app.web.stop()
    sim.stop()


def push(app: App, wall: Clock, stream: str, second: int = 0) -> tuple[int, bytes]:
    # ``second``: the events of one second share a signature; a flood spans many seconds.
    t = int(wall.now) + 600 + second
    body = {
        "event_type": 1,
        "app": DOMAIN,
        "appname": "live",
        "stream_id": stream,
        "event_time": int(wall.now) + second,
        "sequence": f"seq-{stream}",
        "t": t,
        "sign": sign(KEY, t),
    }
    return app.handle_callback(json.dumps(body).encode(), "application/json")


def test_a_flood_of_pushes_for_unknown_streams_neither_fills_discovery_nor_grows(
    setup: tuple[App, Simulator, Clock],
) -> None:
    app, sim, wall = setup
    (target,) = app.runtime.targets
    run_round(app, target)
    assert {k.stream for k in app.membership.discovered(WHERE)} == {f"real-{i}" for i in range(5)}

    for i in range(3 * PROVISIONAL_MAX):
        assert push(app, wall, f"forged-{i:05d}", second=-i // 500) == (200, b'{"code":0}')
    tracked = {k.stream for k in app.store.snapshot()}
    forged = {s for s in tracked if s.startswith("forged-")}
    assert len(forged) == PROVISIONAL_MAX  # shown at once, but bounded
    status = app.store.get(StreamKey("t", DOMAIN, "live", "forged-00000"))
    assert status is not None and status.state is StreamState.ACTIVE
    assert len(app.membership.discovered(WHERE)) == 5  # no max_streams slot taken

    # A genuine new stream pushes, then the list round confirms it: it takes a slot. The forged
    # ones are not listed; they go once they have waited longer than half a round.
    sim.world.add_stream(DOMAIN, "live", "real-new", state="active")
    assert push(app, wall, "real-new") == (200, b'{"code":0}')
    wall.now += 60
    run_round(app, target)
    discovered = {k.stream for k in app.membership.discovered(WHERE)}
    assert "real-new" in discovered and len(discovered) == 6
    assert not any(k.stream.startswith("forged-") for k in app.store.snapshot())
    assert app.poller.progress.get(target.name).capped == 0  # type: ignore[union-attr]


def test_a_push_heard_just_before_a_round_waits_for_the_next(
    setup: tuple[App, Simulator, Clock],
) -> None:
    app, _sim, wall = setup
    (target,) = app.runtime.targets
    assert push(app, wall, "late") == (200, b'{"code":0}')
    run_round(app, target)  # the list may lag the push by seconds: not dropped yet
    assert StreamKey("t", DOMAIN, "live", "late") in app.store
    wall.now += 60
    run_round(app, target)  # still not listed a round later: dropped
    assert StreamKey("t", DOMAIN, "live", "late") not in app.store
