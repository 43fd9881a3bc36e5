"""Discovery and list rounds against the simulator (official SDK on the wire), fake clocks.

Rounds are run in the test's thread (``tests.drive.run_round``): the clocks only move when the
test says so, so retention (24 h) is tested without waiting for it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from exporter.app import App
from exporter.config import Config
from exporter.model import StreamKey, StreamState
from exporter.runtime.membership import TargetView
from exporter.runtime.plan import TargetSpec
from exporter.simulator import Simulator, World
from tests.drive import run_forbid
from tests.drive import run_round as round_of
from tests.e2e import SECRET_ID, SECRET_KEY

DOMAIN = "push-a.example.com"


class Clock:
    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def sim() -> Iterator[Simulator]:
    world = World.generate(5000, seed=3, domains=[DOMAIN], timeline_fraction=0.0)
    for status in world.streams():
        world.set_state(status.domain, status.app, status.stream, "active")
    simulator = Simulator(
        world, credentials={SECRET_ID: SECRET_KEY}, limits={"DescribeLiveStreamOnlineList": 1000}
    )
    simulator.start()
    yield simulator
    simulator.stop()


def make_app(sim: Simulator, wall: Clock, **target: object) -> App:
    config = Config.model_validate(
        {
            "accounts": [
                {
                    "name": "t",
                    "endpoint": sim.url,
                    "budget_fraction": 1.0,
                    "api_limits": {"DescribeLiveStreamOnlineList": 1000},
                    "credentials": {"secret_id": SECRET_ID, "secret_key": SECRET_KEY},
                }
            ],
            "targets": [{"domain": DOMAIN, "push_info": False, **target}],
        }
    )
    return App(config, "127.0.0.1:0", wall=wall)


def states(app: App) -> dict[str, StreamState]:
    return {k.stream: s.state for k, s in app.store.snapshot().items()}


def view(app: App, t: TargetSpec) -> TargetView:
    found = app.membership.view(t.name)
    assert found is not None
    return found


def capped(app: App, t: TargetSpec) -> int:
    progress = app.poller.progress.get(t.name)
    assert progress is not None
    return progress.capped


def test_domain_of_5000_streams_discovered_in_one_round_then_retention(sim: Simulator) -> None:
    wall = Clock(1_800_000_000.0)
    app = make_app(sim, wall, page_size=100, retention="24h")
    try:
        (target,) = app.runtime.targets
        assert (target.mode, target.discovers) == ("online_list", True)
        before = view(app, target).index
        round_of(app, target)
        found = states(app)
        assert len(found) == 5000
        # Discovery builds a new index rather than changing the one a round may be reading.
        assert before == {} and len(view(app, target).index) == 5000
        assert view(app, target).index is view(app, target).index
        assert set(found.values()) == {StreamState.ACTIVE}
        assert sum(sim.counters()["DescribeLiveStreamOnlineList"].values()) == 50

        # 100 streams stop: the next round reports them inactive (after the state API confirms).
        gone = sorted(found)[:100]
        for name in gone:
            sim.world.set_state(DOMAIN, "live", name, "inactive")
        wall.now += 60
        round_of(app, target)
        after = states(app)
        assert {after[n] for n in gone} == {StreamState.INACTIVE}
        assert sum(1 for s in after.values() if s is StreamState.ACTIVE) == 4900

        # Still reported (inactive) just before the retention ends, dropped after it.
        wall.now += 24 * 3600 - 61
        sim.world.set_state(DOMAIN, "live", gone[0], "active")  # came back: kept
        round_of(app, target)
        assert len(states(app)) == 5000
        wall.now += 2
        round_of(app, target)
        kept = states(app)
        assert len(kept) == 4901
        assert set(view(app, target).index) == set(kept)
        assert gone[0] in kept and gone[1] not in kept
        assert not any(k.stream == gone[1] for k in app.exposition.push_keys())
        text = app.render_metrics().decode()
        assert f'stream="{gone[1]}"' not in text
        assert f'stream="{gone[2]}"' not in text
    finally:
        app.web.stop()


def test_discovery_cap_is_counted_and_logged(
    sim: Simulator, caplog: pytest.LogCaptureFixture
) -> None:
    wall = Clock(1_800_000_000.0)
    app = make_app(sim, wall, page_size=100, max_streams=1200)
    try:
        (target,) = app.runtime.targets
        round_of(app, target)
        assert len(app.store) == 1200
        assert capped(app, target) == 3800
        assert "discovery cap of 1200 streams reached" in caplog.text
        text = app.render_metrics().decode()
        assert "tencent_live_target_discovery_capped_streams" in text
        assert 'target="push-a.example.com/live"} 3800.0' in text
    finally:
        app.web.stop()


def test_configured_streams_absent_from_the_list_are_inactive_or_forbid(sim: Simulator) -> None:
    names = sorted(s.stream for s in sim.world.streams())[:30]
    sim.world.set_state(DOMAIN, "live", names[0], "inactive")
    sim.world.set_state(DOMAIN, "live", names[1], "forbid")
    wall = Clock(1_800_000_000.0)
    app = make_app(sim, wall, page_size=100, streams=names)
    try:
        (target,) = app.runtime.targets
        assert (target.mode, target.discovers) == ("online_list", False)
        run_forbid(app, "t")
        round_of(app, target)
        got = states(app)
        assert got[names[0]] is StreamState.INACTIVE
        assert got[names[1]] is StreamState.FORBID
        assert {got[n] for n in names[2:]} == {StreamState.ACTIVE}
        assert len(got) == 30  # nothing discovered
        key = StreamKey("t", DOMAIN, "live", names[1])
        status = app.store.get(key)
        assert status is not None and status.change_source == "forbid_list"
    finally:
        app.web.stop()
