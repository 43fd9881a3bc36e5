"""`state` and `online_list` polling agree on every stream after every scripted change."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest

from exporter.model import StreamState
from exporter.simulator import Simulator, World
from tests.drive import Clock, api_calls, make_app, poll_round, states
from tests.e2e import SECRET_ID, SECRET_KEY

DOMAINS = ("push-a.example.com", "push-b.example.com")


@pytest.fixture
def sim() -> Iterator[Simulator]:
    world = World.generate(200, seed=11, domains=list(DOMAINS), timeline_fraction=0.0)
    simulator = Simulator(world, credentials={SECRET_ID: SECRET_KEY})
    simulator.start()
    yield simulator
    simulator.stop()


def targets(sim: Simulator, mode: str) -> list[dict[str, object]]:
    by_domain: dict[str, list[str]] = {d: [] for d in DOMAINS}
    for s in sim.world.streams():
        by_domain[s.domain].append(s.stream)
    return [
        {"domain": d, "mode": mode, "streams": names, "push_info": False}
        for d, names in by_domain.items()
    ]


def test_state_and_online_list_modes_agree_after_each_change(sim: Simulator) -> None:
    wall = Clock()
    by_state = make_app(sim, wall, targets(sim, "state"))
    by_list = make_app(sim, wall, targets(sim, "online_list"))
    rng = random.Random(5)
    streams = [(s.domain, s.app, s.stream) for s in sim.world.streams()]
    try:
        assert {t.mode for t in by_list.runtime.targets} == {"online_list"}
        for change in range(6):
            if change:
                for domain, app, stream in rng.sample(streams, 20):
                    new = rng.choice(["active", "inactive", "forbid"])
                    sim.world.set_state(domain, app, stream, new)
            wall.now += 60
            sim.reset_counters()
            poll_round(by_state)
            state_calls = api_calls(sim)
            sim.reset_counters()
            poll_round(by_list)
            list_calls = api_calls(sim)
            expected = {
                (s.domain, s.app, s.stream): StreamState(s.state) for s in sim.world.streams()
            }
            assert states(by_state) == expected, f"state mode after change {change}"
            assert states(by_list) == expected, f"online_list mode after change {change}"
            assert state_calls == {"DescribeLiveStreamState": 200}
            # Two domains of about 50 online streams: one page each; one forbid-list page; a
            # state check only for streams that left the list.
            assert list_calls["DescribeLiveStreamOnlineList"] == 2
            assert list_calls["DescribeLiveForbidStreamList"] == 1
            assert list_calls.get("DescribeLiveStreamState", 0) <= 20
    finally:
        by_state.web.stop()
        by_list.web.stop()
