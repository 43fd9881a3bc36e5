"""Drive an App's poll work in the calling thread, against a simulator, with a fake wall clock.

Used by the modes test and the API-cost benchmark: every call goes over loopback through the
official SDK, but nothing waits for a scheduler, so rounds happen exactly when asked for.
"""

from __future__ import annotations

from typing import Any

from exporter.app import App
from exporter.config import Config
from exporter.model import StreamState
from exporter.simulator import Simulator
from tests.e2e import SECRET_ID, SECRET_KEY


class Clock:
    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


def make_app(
    sim: Simulator,
    wall: Clock,
    targets: list[dict[str, Any]],
    **account: Any,
) -> App:
    config = Config.model_validate(
        {
            "accounts": [
                {
                    "name": "t",
                    "endpoint": sim.url,
                    "budget_fraction": 1.0,
                    "credentials": {"secret_id": SECRET_ID, "secret_key": SECRET_KEY},
                    **account,
                }
            ],
            "targets": targets,
        }
    )
    return App(config, "127.0.0.1:0", wall=wall)


def poll_round(app: App) -> None:
    """One full round of whatever each target's mode polls, then the follow-up state checks."""
    poller = app.poller
    if any(t.mode == "online_list" for t in poller.targets):
        for account in poller.accounts:
            poller.run_task(("forbid", account, None), 0.0)
    for t in poller.targets:
        if t.mode == "state":
            for key in t.keys:
                poller.run_task(("state", t, key), 0.0)
        else:
            poller.run_task(("round", t, None), 0.0)
    poller.run_queued()


def states(app: App) -> dict[tuple[str, str, str], StreamState]:
    return {(k.domain, k.app, k.stream): s.state for k, s in app.store.snapshot().items()}


def api_calls(sim: Simulator) -> dict[str, int]:
    return {action: sum(outcomes.values()) for action, outcomes in sim.counters().items()}
