"""``--demo``: the built-in simulator with the demo scenario, and a config that polls it."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from exporter.config import Config
from exporter.simulator import Simulator, World, load_scenario

DEMO_SCENARIO = Path(__file__).parent / "simulator" / "scenarios" / "demo.yaml"
# Throwaway credentials known only to the in-process simulator.
DEMO_SECRET_ID = "AKIDdemo00000000000000000000000000000"
DEMO_SECRET_KEY = "demo-secret-key-not-a-real-one-000000"


def demo_config(sim_url: str, streams: list[tuple[str, str, str]]) -> Config:
    by_target: dict[tuple[str, str], list[Any]] = defaultdict(list)
    for domain, app, stream in streams:
        # Every demo stream whose name says it should be on air is marked for alerting.
        entry: dict[str, Any] = {"name": stream}
        if "studio" in stream or "main" in stream:
            entry["expect_live"] = True
        by_target[(domain, app)].append(entry)
    return Config.model_validate(
        {
            "accounts": [
                {
                    "name": "demo",
                    "endpoint": sim_url,
                    "budget": 20,
                    "timeout": "2s",
                    "credentials": {"secret_id": DEMO_SECRET_ID, "secret_key": DEMO_SECRET_KEY},
                }
            ],
            "targets": [
                {
                    "account": "demo",
                    "domain": domain,
                    "app": app,
                    # The shortest interval allowed, so that the demo shows changes quickly.
                    "interval": "10s",
                    "labels": {"env": "demo"},
                    "streams": entries,
                }
                for (domain, app), entries in sorted(by_target.items())
            ],
        }
    )


def start_demo() -> tuple[Simulator, Config]:
    scenario = load_scenario(DEMO_SCENARIO)
    world = World.from_scenario(scenario)
    sim = Simulator(
        world,
        credentials={DEMO_SECRET_ID: DEMO_SECRET_KEY},
        host="127.0.0.1",
        port=0,
        scenario=scenario,
    )
    sim.start()
    streams = [(s.domain, s.app, s.stream) for s in world.streams()]
    return sim, demo_config(sim.url, streams)
