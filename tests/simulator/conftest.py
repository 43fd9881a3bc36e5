from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from exporter.simulator import Simulator, World, load_scenario

from .support import SECRET_ID, SECRET_KEY, TMP_ID, TMP_KEY, TOKEN

SimFactory = Callable[..., Simulator]


@pytest.fixture
def make_sim() -> Iterator[SimFactory]:
    """Build and start simulators; all are stopped at teardown."""
    started: list[Simulator] = []

    def factory(world: World | dict[str, Any] | None = None, **kwargs: Any) -> Simulator:
        if world is None or isinstance(world, dict):
            world = World.from_scenario(load_scenario(world or {}))
        kwargs.setdefault("credentials", {SECRET_ID: SECRET_KEY, TMP_ID: TMP_KEY})
        kwargs.setdefault("tokens", {TMP_ID: TOKEN})
        sim = Simulator(world, **kwargs)
        sim.start()
        started.append(sim)
        return sim

    yield factory
    for sim in started:
        sim.stop()
