"""``--demo``: the built-in simulator with the demo scenario, and a config that polls it.

The demo shows every way of polling at once: one domain by online-list rounds (with push
quality), one app by discovery, one by per-stream state polls, and CSS callbacks from the
simulator for real-time changes; and what viewers see, from three play domains. Intervals are
the shortest allowed so that changes show fast.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import defaultdict
from collections.abc import Callable
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


# Scheduled streams: rehearsal-main (always on air in the scenario) rehearses in 7-minute slots
# every 10 minutes, so that window edges pass while one watches; archive-replay (never on air) is
# due on air a minute after the demo starts, so that StreamDidNotStart fires a minute later.
SCHEDULED = {"rehearsal-main": "rehearsals", "archive-replay": "replay-slot"}
SLOT, SLOT_ON, SLOTS = 600, 420, 36  # seconds; six hours of rehearsals


def _schedules(now: float) -> dict[str, Any]:
    def at(t: float) -> str:
        return dt.datetime.fromtimestamp(t, dt.UTC).isoformat()

    start = now - 60  # a window opened a minute ago: the demo starts in one, whatever the time
    slots = [
        {"start": at(start + i * SLOT), "end": at(start + i * SLOT + SLOT_ON)} for i in range(SLOTS)
    ]
    return {
        "rehearsals": {"time_zone": "UTC", "once": slots},
        "replay-slot": {
            "time_zone": "UTC",
            "once": [{"start": at(now + 60), "end": at(now + 6 * 3600)}],
            "start_grace": "1m",
        },
    }


def _entry(stream: str) -> dict[str, Any]:
    if stream in SCHEDULED:
        return {"name": stream, "expect_live": {"schedule": SCHEDULED[stream]}, "down_after": "30s"}
    # Every demo stream whose name says it should be on air is marked for alerting.
    if "studio" in stream or "main" in stream:
        return {"name": stream, "expect_live": True, "down_after": "30s"}
    return {"name": stream}


def demo_config(
    sim_url: str, streams: list[tuple[str, str, str]], wall: Callable[[], float] = time.time
) -> Config:
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
                    # Why streams stopped and whether callbacks arrive, within the first minute.
                    "event_history": {"interval": "30s"},
                    "callback_audit": {"interval": "30s"},
                }
            ],
            "targets": targets,
            "schedules": _schedules(wall()),
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
