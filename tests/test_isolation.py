"""One fault, one blast radius: a fault on one action or domain leaves the others' cadence.

Real threads and the real clock (isolation is about workers and queues), against the simulator:
a state-mode target on one domain and an online-list target on another, on one account. The list
rounds are counted over windows aligned to their 10 s cadence: first with no fault, then with
DescribeLiveStreamState throttled, then slowed to 3 s a call, then denied by CAM on its domain.
Each window must see as many complete list rounds as the one without a fault, and the list
target's streams must keep their true state throughout.

And a reload loop: 5 reloads a second for 30 s, between two configs that differ, leave the State
call rate within 10% of normal and no stream unknown.
"""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from exporter.app import App
from exporter.config import Config
from exporter.cssapi import STATE
from exporter.model import StreamState
from exporter.simulator import Simulator, World
from exporter.simulator.policy import Policy
from exporter.simulator.scenario import parse_fault_config
from tests.e2e import SECRET_ID, SECRET_KEY

STATE_DOMAIN = "push-s.example.com"
LIST_DOMAIN = "push-l.example.com"
ROUND = 10.0
# Windows of one round each, started half a round after one: a round falls in the middle of
# each, 5 s from either edge.
WINDOW = ROUND


def world() -> World:
    w = World()
    for i in range(100):
        w.add_stream(STATE_DOMAIN, "live", f"s{i:03d}", state="active")
        w.add_stream(LIST_DOMAIN, "live", f"l{i:03d}", state="active" if i % 2 else "inactive")
    return w


def config(sim: Simulator, label: str = "a") -> Config:
    return Config.model_validate(
        {
            "accounts": [
                {
                    "name": "iso",
                    "endpoint": sim.url,
                    "timeout": "5s",
                    "credentials": {"secret_id": SECRET_ID, "secret_key": SECRET_KEY},
                }
            ],
            "targets": [
                {
                    "domain": STATE_DOMAIN,
                    "mode": "state",
                    "interval": "10s",
                    "push_info": False,
                    "labels": {"variant": label},
                    "streams": [f"s{i:03d}" for i in range(100)],
                },
                {
                    "domain": LIST_DOMAIN,
                    "mode": "online_list",
                    "round_interval": f"{ROUND:.0f}s",
                    "page_size": 10,
                    "streams": [f"l{i:03d}" for i in range(100)],
                },
            ],
        }
    )


@pytest.fixture(params=[False])
def running(request: pytest.FixtureRequest) -> Iterator[tuple[App, Simulator]]:
    sim = Simulator(world(), credentials={SECRET_ID: SECRET_KEY})
    sim.start()
    flip = [0]

    def loader() -> Config:
        flip[0] ^= 1
        return config(sim, "ab"[flip[0]])

    app = App(config(sim), "127.0.0.1:0", loader=loader)
    app.web.configure(enable_lifecycle=request.param)
    app.start()
    yield app, sim
    app.stop()
    sim.stop()


def list_rounds(app: App) -> int:
    progress = app.poller.progress.get(f"{LIST_DOMAIN}/live")
    assert progress is not None
    counts = dict(progress.rounds)
    return counts["ok"] + counts["inconsistent"]


def list_states_true(app: App) -> bool:
    for key, status in app.store.snapshot().items():
        if key.domain == LIST_DOMAIN:
            truth = StreamState.ACTIVE if int(key.stream[1:]) % 2 else StreamState.INACTIVE
            if status.state is not truth:
                return False
    return True


def watch(app: App, seconds: float, failures: list[str], what: str) -> None:
    """Check the list target's states every 0.2 s for ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not list_states_true(app):
            failures.append(f"{what}: a list-mode stream lost its true state")
            return
        time.sleep(0.2)


def test_a_fault_on_state_polls_leaves_the_list_rounds_alone(
    running: tuple[App, Simulator],
) -> None:
    app, sim = running
    assert reload_post(app) == 403  # lifecycle endpoints are off unless enabled
    deadline = time.monotonic() + 20
    while list_rounds(app) < 1 or not list_states_true(app):
        assert time.monotonic() < deadline, "the first round did not complete"
        time.sleep(0.05)
    # Align the windows half a round after one: a round then falls at +5 s of each window.
    first = list_rounds(app)
    while list_rounds(app) == first:
        time.sleep(0.02)
    time.sleep(ROUND / 2)
    failures: list[str] = []
    counts: dict[str, int] = {}
    state_calls: dict[str, int] = {}

    def window(name: str) -> None:
        before, calls = list_rounds(app), sum(sim.counters().get(STATE, {}).values())
        watch(app, WINDOW, failures, name)
        counts[name] = list_rounds(app) - before
        state_calls[name] = sum(sim.counters().get(STATE, {}).values()) - calls

    window("normal")
    sim.start_window("throttle", WINDOW, action=STATE)
    window("throttled")
    sim.faults.set(STATE, parse_fault_config({"latency": 3.0}, "test"))
    window("slow")
    sim.faults.clear()
    sim.set_policy(Policy(denied_domains=frozenset({STATE_DOMAIN})))
    window("denied")
    sim.set_policy(Policy())

    assert not failures, failures
    assert counts["normal"] == 1, counts
    for name in ("throttled", "slow", "denied"):
        assert counts[name] == counts["normal"], (name, counts)
    # Each fault did hit the state polls (else the test proves nothing).
    assert state_calls["normal"] > 70, state_calls  # 10 a second
    # 3 s a call through the account's state workers: a fraction of the normal rate.
    assert state_calls["slow"] < 0.75 * state_calls["normal"], state_calls
    assert state_calls["denied"] < state_calls["normal"] / 2, state_calls
    throttled = sim.counters()[STATE].get("RequestLimitExceeded", 0)
    assert throttled > 0


def reload_post(app: App) -> int:
    request = urllib.request.Request(
        f"http://127.0.0.1:{app.web.port}/-/reload", method="POST", data=b""
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


@pytest.mark.parametrize("running", [True], indirect=True)  # --web.enable-lifecycle
def test_a_reload_loop_does_not_starve_polling(running: tuple[App, Simulator]) -> None:
    app, sim = running
    deadline = time.monotonic() + 20
    while not app.ready():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(ROUND)  # past the first round's off-phase burst

    def state_rate(seconds: float) -> float:
        before = sum(sim.counters().get(STATE, {}).values())
        time.sleep(seconds)
        return (sum(sim.counters().get(STATE, {}).values()) - before) / seconds

    normal = state_rate(10)
    stop = threading.Event()
    statuses: list[int] = []

    def loop() -> None:
        while not stop.is_set():
            statuses.append(reload_post(app))
            stop.wait(0.2)

    unknown: list[Any] = []
    threads = [threading.Thread(target=loop, daemon=True)]
    threads[0].start()
    try:
        loaded = state_rate(30)
        unknown = [k for k, s in app.store.snapshot().items() if s.state is StreamState.UNKNOWN]
    finally:
        stop.set()
        threads[0].join(10)
    assert len(statuses) >= 100 and set(statuses) == {200}, (len(statuses), set(statuses))
    assert abs(loaded - normal) <= 0.1 * normal, (normal, loaded)
    assert not unknown, unknown[:5]
