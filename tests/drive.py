"""Drive an App's poll work in the calling thread, against a simulator, with a fake wall clock.

Used by the modes test and the API-cost benchmark: every call goes over loopback through the
official SDK, but nothing waits for a scheduler, so rounds happen exactly when asked for.
"""

from __future__ import annotations

from typing import Any

from exporter.app import App
from exporter.config import Config
from exporter.model import StreamKey, StreamState
from exporter.polling.forbid_round import ForbidRound
from exporter.polling.list_round import ListRound
from exporter.polling.push_round import PushRound
from exporter.polling.state_poll import StatePoll
from exporter.runtime.plan import TargetSpec
from exporter.simulator import Simulator
from tests.e2e import SECRET_ID, SECRET_KEY


class Clock:
    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


class SharedClock(Clock):
    """One fake clock for the exporter and the simulator: sleeping moves it."""

    def sleep(self, seconds: float) -> bool:
        self.now += max(0.0, seconds)
        return False


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


def targets(app: App) -> tuple[TargetSpec, ...]:
    return app.runtime.targets


def mode(app: App, t: TargetSpec) -> str:
    """The target's mode now (auto may have switched it to state polls)."""
    found = app.poller.progress.mode(t.name)
    assert found is not None
    return found


def run_round(app: App, t: TargetSpec) -> None:
    """One list round of ``t`` (with its push round and the confirmations it asks for)."""
    app.poller.dispatcher.dispatch(ListRound(app.poller.ctx, t, 0.0))
    app.poller.run_pending()


def run_forbid(app: App, account: str) -> None:
    ctx = app.poller.ctx
    acc_targets = tuple(t for t in app.runtime.targets if t.account == account)
    app.poller.dispatcher.dispatch(ForbidRound(ctx, account, acc_targets))
    app.poller.run_pending()


def run_push(app: App, t: TargetSpec) -> None:
    app.poller.dispatcher.dispatch(PushRound(app.poller.ctx, t))
    app.poller.run_pending()


def run_state(app: App, t: TargetSpec, keys: list[StreamKey] | None = None) -> None:
    """State polls of ``keys`` (default: every configured stream of ``t``)."""
    ctx = app.poller.ctx
    for key in t.keys if keys is None else keys:
        app.poller.dispatcher.dispatch(StatePoll(ctx, t, key, 0.0, scheduled=False))
    app.poller.run_pending()


def poll_round(app: App) -> None:
    """One full round of whatever each target's mode polls, then the follow-up state checks."""
    if any(mode(app, t) == "online_list" for t in targets(app)):
        for account in app.runtime.accounts:
            run_forbid(app, account)
    for t in targets(app):
        if mode(app, t) == "state":
            run_state(app, t)
        else:
            run_round(app, t)


def states(app: App) -> dict[tuple[str, str, str], StreamState]:
    return {(k.domain, k.app, k.stream): s.state for k, s in app.store.snapshot().items()}


def api_calls(sim: Simulator) -> dict[str, int]:
    return {action: sum(outcomes.values()) for action, outcomes in sim.counters().items()}
