"""``--demo``: the built-in simulator with the demo scenario, and a config that polls it.

The demo shows every way of polling at once: one domain by online-list rounds (with push
quality), one app by discovery, one by per-stream state polls, and CSS callbacks from the
simulator for real-time changes; and what viewers see, from three play domains. Intervals are
the shortest allowed so that changes show fast.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from exporter.config import Config
from exporter.cssapi import PUSH_INFO_LIST
from exporter.simulator import Simulator, World, load_scenario
from exporter.simulator.playback import attach

DEMO_SCENARIO = Path(__file__).parent / "simulator" / "scenarios" / "demo.yaml"
# Throwaway credentials known only to the in-process simulator.
DEMO_SECRET_ID = "AKIDdemo00000000000000000000000000000"
DEMO_SECRET_KEY = "demo-secret-key-not-a-real-one-000000"
DEMO_CALLBACK_KEY = "demo-callback-key-not-a-real-one"
# Until the exporter listens, callbacks go nowhere (counted as failed by the simulator).
_NOWHERE = "http://127.0.0.1:9/callbacks/live"

STARTUP_THROTTLE_SECONDS = 5.0

DISCOVERY_TARGET = ("push.demo-b.example.com", "game")
PLAY_DOMAINS = (
    ("play.demo-a.example.com", "push.demo-a.example.com"),
    ("play.demo-b.example.com", "push.demo-b.example.com"),
    ("hd.demo-b.example.com", "push.demo-b.example.com"),
)
STATE_TARGET = ("push.demo-b.example.com", "live")


def _entry(stream: str) -> dict[str, Any]:
    # Every demo stream whose name says it should be on air is marked for alerting.
    if "studio" in stream or "main" in stream:
        return {"name": stream, "expect_live": True, "down_after": "30s"}
    return {"name": stream}


def demo_config(sim_url: str, streams: list[tuple[str, str, str]]) -> Config:
    by_target: dict[tuple[str, str], list[Any]] = defaultdict(list)
    for domain, app, stream in streams:
        by_target[(domain, app)].append(_entry(stream))
    targets: list[dict[str, Any]] = []
    for (domain, app), entries in sorted(by_target.items()):
        target: dict[str, Any] = {
            "domain": domain,
            "app": app,
            "interval": "10s",
            "labels": {"env": "demo"},
        }
        if (domain, app) == DISCOVERY_TARGET:
            target.update(round_interval="10s", retention="10m")  # no streams: discovery
        elif (domain, app) == STATE_TARGET:
            target.update(mode="state", streams=entries)
        else:
            # The list is advised at most once a minute; the demo says so explicitly.
            target.update(mode="online_list", round_interval="10s", streams=entries)
        targets.append(target)
    return Config.model_validate(
        {
            "accounts": [
                {
                    "name": "demo",
                    "endpoint": sim_url,
                    "budget_fraction": 0.1,
                    "timeout": "2s",
                    "credentials": {"secret_id": DEMO_SECRET_ID, "secret_key": DEMO_SECRET_KEY},
                    "callback_keys": [DEMO_CALLBACK_KEY],
                    # The demo scenario's play domains (simulator/scenarios/demo.yaml).
                    "play_domains": [
                        {"name": play, "push_domains": [push]} for play, push in PLAY_DOMAINS
                    ],
                    # Error codes every minute, so that their counters move within a minute.
                    "playback": {"error_interval": "1m", "error_window": "5m"},
                }
            ],
            "targets": targets,
        }
    )


def start_demo() -> tuple[Simulator, Config]:
    scenario = load_scenario(DEMO_SCENARIO)
    world = World.from_scenario(scenario)
    attach(world)  # viewers follow the streams' states from the start
    sim = Simulator(
        world,
        credentials={DEMO_SECRET_ID: DEMO_SECRET_KEY},
        host="127.0.0.1",
        port=0,
        callback_url=_NOWHERE,
        callback_key=DEMO_CALLBACK_KEY,
        scenario=scenario,
    )
    sim.start()
    # A scripted hiccup, so that the first seconds of a demo already show an API error being
    # counted (and throttling handled) without any stream going inactive: the first
    # push-quality round meets RequestLimitExceeded.
    sim.start_window("throttle", STARTUP_THROTTLE_SECONDS, PUSH_INFO_LIST)
    streams = [(s.domain, s.app, s.stream) for s in world.streams()]
    return sim, demo_config(sim.url, streams)
