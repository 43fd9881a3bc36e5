from __future__ import annotations

import pytest

from exporter.simulator import StreamSpec, World
from exporter.simulator.model import Phase, next_change, run_start, state_at

from .support import DOMAIN, FakeClock

ON_OFF = (Phase("active", 30.0), Phase("inactive", 20.0))


def spec(**kwargs: object) -> StreamSpec:
    return StreamSpec(DOMAIN, "live", "s", **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("t", "expected"),
    [
        (0, "active"),
        (29.9, "active"),
        (30.0001, "inactive"),
        (49.9, "inactive"),
        (50.1, "active"),
        (1000 * 50 + 35, "inactive"),
    ],
)
def test_repeating_timeline(t: float, expected: str) -> None:
    assert state_at(spec(timeline=ON_OFF), 100.0, 100.0 + t) == expected


def test_one_shot_timeline_keeps_last_state() -> None:
    s = spec(timeline=ON_OFF, repeat=False)
    assert state_at(s, 0.0, 10.0) == "active"
    assert state_at(s, 0.0, 10_000.0) == "inactive"
    assert next_change(s, 0.0, 10.0) == pytest.approx(30.0)
    assert next_change(s, 0.0, 40.0) is None


def test_offset_starts_inside_timeline() -> None:
    s = spec(timeline=ON_OFF, offset=25.0)
    assert state_at(s, 0.0, 0.0) == "active"
    assert next_change(s, 0.0, 0.0) == pytest.approx(5.0)
    assert run_start(s, 0.0, 0.0) == pytest.approx(-25.0)  # pushing for 25 s already


def test_next_change_skips_phases_with_the_same_state() -> None:
    s = spec(timeline=(Phase("active", 10), Phase("active", 10), Phase("forbid", 5)))
    assert next_change(s, 0.0, 1.0) == pytest.approx(20.0)
    assert run_start(s, 0.0, 15.0) == pytest.approx(0.0)
    assert run_start(s, 0.0, 27.0) == pytest.approx(25.0)  # second cycle started at 25


def test_fixed_state_never_changes() -> None:
    s = spec(state="forbid", offset=60.0)
    assert state_at(s, 0.0, 1e9) == "forbid"
    assert next_change(s, 0.0, 5.0) is None
    assert run_start(s, 0.0, 5.0) == -60.0


def test_invalid_specs() -> None:
    with pytest.raises(ValueError):
        spec(state="online")
    with pytest.raises(ValueError):
        spec(timeline=(Phase("active", 0.0),))


def test_unknown_stream_is_inactive() -> None:
    assert World().state_of(DOMAIN, "live", "nope") == "inactive"


def test_advance_emits_changes_with_fake_clock() -> None:
    clock = FakeClock()
    world = World([spec(timeline=ON_OFF)], clock)
    seen: list[object] = []
    world.subscribe(seen.extend)
    assert world.advance() == []
    clock.advance(31)
    (change,) = world.advance()
    assert (change.old, change.new) == ("active", "inactive")
    assert change.at == pytest.approx(clock() - 1)
    assert change.previous_since == pytest.approx(clock() - 31)
    assert seen == [change]
    assert world.state_of(DOMAIN, "live", "s") == "inactive"
    clock.advance(20)
    assert [c.new for c in world.advance()] == ["active"]


def test_large_clock_jump_reports_net_change_only() -> None:
    clock = FakeClock()
    world = World([spec(timeline=ON_OFF)], clock)
    clock.advance(3600 * 24 + 35)  # lands in an inactive phase
    changes = world.advance()
    assert [(c.old, c.new) for c in changes] == [("active", "inactive")]


def test_set_add_remove_and_indices() -> None:
    clock = FakeClock()
    world = World([spec(state="inactive")], clock)
    changes: list[object] = []
    world.subscribe(changes.extend)
    world.set_state(DOMAIN, "live", "s", "active")
    assert world.online(DOMAIN, None, 0, 10)[0] == 1
    world.add_stream(DOMAIN, "live", "t", state="forbid")
    assert world.forbidden(None, 0, 10)[0] == 1
    world.remove_stream(DOMAIN, "live", "s")
    assert world.online(DOMAIN, None, 0, 10)[0] == 0
    assert [(c.stream, c.old, c.new) for c in changes] == [  # type: ignore[attr-defined]
        ("s", "inactive", "active"),
        ("t", "inactive", "forbid"),
        ("s", "active", "inactive"),
    ]
    with pytest.raises(KeyError):
        world.set_state(DOMAIN, "live", "s", "active")
    with pytest.raises(KeyError):
        world.remove_stream(DOMAIN, "live", "s")


def test_set_state_to_same_state_keeps_session() -> None:
    clock = FakeClock()
    world = World([spec(state="active")], clock)
    since = world.online(DOMAIN, None, 0, 1)[1][0].since
    clock.advance(100)
    world.set_state(DOMAIN, "live", "s", "active")
    assert world.online(DOMAIN, None, 0, 1)[1][0].since == since


def test_online_ordering_app_filter_and_slices() -> None:
    specs = [
        StreamSpec(DOMAIN, app, f"s{i}", state="active")
        for app in ("live", "game")
        for i in range(5)
    ]
    specs.append(StreamSpec("other.example.com", "live", "x", state="active"))
    world = World(specs, FakeClock())
    total, items = world.online(DOMAIN, None, 0, 100)
    assert total == 10
    assert [(i.app, i.stream) for i in items] == sorted((i.app, i.stream) for i in items)
    assert world.online(DOMAIN, "game", 0, 100)[0] == 5
    assert [i.stream for i in world.online(DOMAIN, "live", 3, 6)[1]] == ["s3", "s4"]
    assert world.online(DOMAIN, None, 0, 10, "s2")[0] == 2
    assert world.online(None, None, 0, 100)[0] == 11
    assert [i.domain for i in world.online(None, None, 0, 2)[1]] == ["other.example.com", DOMAIN]


def test_generate_is_deterministic_and_mixed() -> None:
    a = World.generate(3000, seed=5, clock=FakeClock())
    b = World.generate(3000, seed=5, clock=FakeClock())
    assert a.streams() == b.streams()
    counts = a.counts()
    assert len(a.domains()) == 3
    assert 0.40 < counts["active"] / 3000 < 0.62
    assert 0.05 < counts["forbid"] / 3000 < 0.15


def test_holds_100k_streams() -> None:
    # What it does at 100k; how fast is benchmarks/simulator_throughput.py's business (timing
    # bounds here would flake on a loaded machine).
    clock = FakeClock()
    world = World.generate(100_000, seed=1, clock=clock)
    domain = world.domains()[0]
    states = {world.state_of(domain, "live", f"gen-{i:06d}") for i in range(0, 100_000, 10)}
    assert states <= {"active", "inactive", "forbid"} and len(states) > 1
    total, page = world.online(domain, "live", 100, 200)
    assert total > 10_000 and len(page) == 100
    clock.advance(60)
    changes = world.advance()
    assert changes  # ~10% of streams have timelines of 30-180 s
    assert world.advance() == []
