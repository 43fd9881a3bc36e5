"""A fake Tencent Cloud CSS (live) API for tests, benchmarks and ``--demo``.

world = World.from_scenario(load_scenario("demo.yaml"))
with Simulator(world, credentials={"AKIDtest": "secret"}) as sim:
    ...  # point the SDK at sim.endpoint with protocol "http"
"""

from exporter.simulator.faults import FaultConfig, Faults
from exporter.simulator.model import ForbidInfo, Phase, Quality, StreamSpec
from exporter.simulator.scenario import Scenario, ScenarioError, bundled_scenario, load_scenario
from exporter.simulator.simulator import Simulator
from exporter.simulator.world import StateChange, StreamStatus, World

__all__ = [
    "FaultConfig",
    "Faults",
    "ForbidInfo",
    "Phase",
    "Quality",
    "Scenario",
    "ScenarioError",
    "Simulator",
    "StateChange",
    "StreamSpec",
    "StreamStatus",
    "World",
    "bundled_scenario",
    "load_scenario",
]
