from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from exporter.cssapi import ONLINE_LIST, STATE
from exporter.simulator import ScenarioError, World, bundled_scenario, load_scenario
from exporter.simulator.scenario import parse_duration

from .support import FakeClock


def test_demo_scenario_loads() -> None:
    scenario = load_scenario(bundled_scenario("demo"))
    world = World.from_scenario(scenario, clock=FakeClock())
    assert len(world.domains()) == 2
    counts = world.counts()
    assert counts["active"] >= 3 and counts["inactive"] >= 3 and counts["forbid"] >= 2
    timelines = [s for s in scenario.streams if s.timeline]
    assert timelines and all(20 <= p.duration <= 60 for s in timelines for p in s.timeline)
    # Enough errors that a ten-second demo shows some, few enough that most polls succeed.
    state_faults = scenario.faults[STATE]
    assert 0.1 <= sum(state_faults.error_rates.values()) + state_faults.timeout <= 0.2
    assert 0 < state_faults.timeout <= 0.05
    assert scenario.faults[STATE].timeout_hold <= 5


def test_full_scenario(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(
        """
seed: 3
appid: 99
account_state: ResourceNotFound.StopService
limits: {DescribeLiveStreamState: 5}
max_page_size: {DescribeLiveStreamOnlineList: 1000}
callback: {url: "http://127.0.0.1:1/cb", key: k}
generate: {count: 30, seed: 2, domains: [a.example.com], apps: [live, game], timeline_fraction: 0}
streams:
  - {domain: d.example.com, name: s1, state: forbid,
     forbid: {create_time: "2024-01-01T00:00:00Z", expire_time: 1800000000}}
  - domain: d.example.com
    app: x
    stream: s2
    timeline: [{state: active, for: 1.5m}, {state: inactive, for: 500ms}]
    repeat: false
    offset: 10
    quality: {video_fps: 5, client_ip: 10.0.0.1}
faults:
  "*": {latency: 10ms, jitter: 0.01}
  DescribeLiveStreamOnlineList: {http_5xx: 0.5, error_rates: {InternalError: 0.1}}
""",
        encoding="utf-8",
    )
    scenario = load_scenario(path)
    assert scenario.seed == 3 and scenario.appid == 99
    assert scenario.limits == {STATE: 5}
    assert scenario.max_page_size[ONLINE_LIST] == 1000
    assert scenario.callback is not None and scenario.callback.key == "k"
    assert scenario.faults["*"].latency == pytest.approx(0.01)
    s1, s2 = scenario.streams
    assert s1.forbid is not None and s1.forbid.create_time == 1704067200.0
    assert [p.duration for p in s2.timeline] == [90.0, 0.5] and s2.repeat is False
    assert s2.quality.video_fps == 5 and s2.quality.client_ip == "10.0.0.1"
    world = World.from_scenario(scenario, clock=FakeClock())
    assert len(world) == 32
    assert {s.app for s in world.streams() if s.domain == "a.example.com"} == {"live", "game"}


@pytest.mark.parametrize(
    ("data", "where"),
    [
        ({"streamz": []}, "streamz"),
        ({"streams": [{"stream": "x"}]}, "streams[0].domain"),
        ({"streams": [{"domain": "d", "stream": "x", "state": "on"}]}, "streams[0].state"),
        (
            {
                "streams": [
                    {"domain": "d", "stream": "x", "timeline": [{"state": "active", "for": "3x"}]}
                ]
            },
            "streams[0].timeline[0].for",
        ),
        ({"streams": [{"domain": "d", "stream": "x", "timeline": []}]}, "streams[0].timeline"),
        (
            {"streams": [{"domain": "d", "stream": "x", "state": "active", "timeline": []}]},
            "streams[0]",
        ),
        (
            {"streams": [{"domain": "d", "stream": "x", "quality": {"video_fps": "25"}}]},
            "streams[0].quality.video_fps",
        ),
        (
            {"streams": [{"domain": "d", "stream": "x", "quality": {"fps": 1}}]},
            "streams[0].quality.fps",
        ),
        ({"faults": {"Nope": {}}}, "faults.Nope"),
        ({"faults": {"*": {"timeout": 3}}}, "faults.*"),
        ({"limits": {"DescribeLiveStreamState": 0}}, "limits.DescribeLiveStreamState"),
        ({"callback": {"url": "ftp://x", "key": "k"}}, "callback.url"),
        ({"generate": {"count": -1}}, "generate.count"),
        ({"seed": "x"}, "seed"),
    ],
)
def test_errors_name_the_key(data: dict[str, Any], where: str) -> None:
    with pytest.raises(ScenarioError) as info:
        load_scenario(data)
    assert str(info.value).startswith(where), str(info.value)
    assert "\n" not in str(info.value)


def test_file_errors(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="cannot read"):
        load_scenario(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("streams: [\n", encoding="utf-8")
    with pytest.raises(ScenarioError, match="invalid YAML"):
        load_scenario(bad)
    empty = tmp_path / "empty.yaml"
    empty.write_text("", encoding="utf-8")
    assert load_scenario(empty).streams == ()


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (30, 30.0),
        (1.5, 1.5),
        ("30s", 30.0),
        ("2m", 120.0),
        ("500ms", 0.5),
        ("1h", 3600.0),
        ("7", 7.0),
        # One grammar with the exporter's config (exporter.durations), plus decimal amounts.
        ("1.5m", 90.0),
        ("1m30s", 90.0),
        ("1w", 604800.0),
    ],
)
def test_durations(value: object, seconds: float) -> None:
    assert parse_duration(value) == seconds


@pytest.mark.parametrize("value", ["", "abc", "-1s", True, None, "1x", "5 s", "1s1m", -1])
def test_bad_durations(value: object) -> None:
    with pytest.raises(ScenarioError):
        parse_duration(value)


def test_file_errors_name_the_line_in_plain_words(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("streams:\n  - {domain: d, stream: s\nseed: 1\n", encoding="utf-8")
    with pytest.raises(ScenarioError) as info:
        load_scenario(bad)
    assert str(info.value) == (
        f'{bad}:3:5: invalid YAML: the "{{" on line 2, column 5 is not closed: expected "," or'
        ' "}" before ":"'
    )


def test_repeated_key_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("seed: 1\nseed: 2\n", encoding="utf-8")
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert str(info.value) == f'{path}:2:1: invalid YAML: duplicate key "seed" (first on line 1)'


def test_alias_bomb_is_refused(tmp_path: Path) -> None:
    lines = ['l0: &l0 ["lol"]']
    for level in range(1, 10):
        lines.append(f"l{level}: &l{level} [" + ", ".join([f"*l{level - 1}"] * 9) + "]")
    path = tmp_path / "bomb.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(ScenarioError, match=r"aliases expand the document by more than"):
        load_scenario(path)


def test_fifo_and_oversize_files_are_refused(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    with pytest.raises(ScenarioError) as info:
        load_scenario(fifo)
    assert str(info.value) == f"{fifo}: cannot read scenario: a FIFO, not a regular file"
    big = tmp_path / "big.yaml"
    big.write_text("seed: 1\n", encoding="utf-8")
    with pytest.raises(ScenarioError) as info:
        load_scenario(big, max_bytes=4)
    assert str(info.value) == (
        f"{big}: cannot read scenario: the file is 8 bytes, over the limit of 4 bytes"
    )
