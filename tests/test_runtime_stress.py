"""Reloads, callbacks, discovery rounds and scrapes all at once, then the invariants.

One exporter in process, against the simulator (official SDK on the wire, signed callbacks from
the simulator's own sender). For a bounded time: a thread reloads between two configs as fast as
it can, the world adds streams (each push reaches the exporter as a callback for an unknown
stream) and stops or restarts known ones (callbacks for tracked streams), discovery rounds are
dispatched back to back, and /metrics is scraped. Then, with the world quiet and one more round:

- every stream the simulator has online is tracked;
- no discovered stream was lost (one a list round confirmed, whatever reloads came after; a
  stream heard of only in a push callback is provisional and may be dropped if no round lists
  it);
- the target series name only the targets of the running config;
- states equal the simulator's truth.
"""

from __future__ import annotations

import random
import threading
import time
import urllib.request
from collections.abc import Callable
from typing import Any

from exporter.app import App
from exporter.config import Config
from exporter.model import StreamKey, StreamState
from exporter.polling.list_round import ListRound
from exporter.polling.state_poll import StatePoll
from exporter.simulator import Simulator, World
from exporter.state import AGREE_WINDOW
from tests.e2e import SECRET_ID, SECRET_KEY, parse_samples

DISCOVERED = "push-d.example.com"
STATE_A = "push-e.example.com"
STATE_B = "push-f.example.com"
KEY = "stress-callback-key-5c2e"
WHERE = ("s", DISCOVERED, "live")
CHAOS_SECONDS = 6.0


def config(sim: Simulator, variant: int) -> Config:
    """Two configs that differ in every way a reload can: a target kept with new labels, one
    removed, one added, a stream list changed."""
    targets: list[dict[str, Any]] = [
        {
            "domain": DISCOVERED,
            "mode": "online_list",
            "round_interval": "10s",
            "push_info": False,
            "labels": {"variant": str(variant)},
        }
    ]
    if variant == 0:
        targets.append({"domain": STATE_A, "mode": "state", "streams": ["a0", "a1", "a2"]})
    else:
        targets.append({"domain": STATE_B, "mode": "state", "streams": ["b0", "b1"]})
    return Config.model_validate(
        {
            "accounts": [
                {
                    "name": "s",
                    "endpoint": sim.url,
                    "budget_fraction": 1.0,
                    "credentials": {"secret_id": SECRET_ID, "secret_key": SECRET_KEY},
                    "callback_keys": [KEY],
                }
            ],
            "targets": targets,
        }
    )


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def test_reloads_callbacks_discovery_and_scrapes_at_once_keep_every_invariant() -> None:
    world = World()
    for name in ("a0", "a1", "a2"):
        world.add_stream(STATE_A, "live", name, state="active")
    for name in ("b0", "b1"):
        world.add_stream(STATE_B, "live", name, state="inactive")
    for i in range(20):
        world.add_stream(DISCOVERED, "live", f"d{i:04d}", state="active")
    sim = Simulator(
        world,
        credentials={SECRET_ID: SECRET_KEY},
        callback_url="http://127.0.0.1:1/unset",
        callback_key=KEY,
    )
    changes: list[object] = []
    world.subscribe(changes.extend)  # one callback per change of the world
    sim.start()
    variant = [0]

    def loader() -> Config:
        variant[0] ^= 1
        return config(sim, variant[0])

    # The app's wall clock, moved past the agree window (state.AGREE_WINDOW: an "active" up to
    # 10 s older than an "inactive" still wins) before the final round, instead of waiting.
    offset = [0.0]
    app = App(config(sim, 0), "127.0.0.1:0", loader=loader, wall=lambda: time.time() + offset[0])
    stop = threading.Event()
    errors: list[str] = []
    ever_pushed: set[str] = {f"d{i:04d}" for i in range(20)}
    confirmed: set[str] = set()  # streams seen in membership's discovered set
    reloads = [0]
    scrapes = [0]
    try:
        app.start()
        sim.set_callback_url(f"http://127.0.0.1:{app.web.port}/callbacks/live")
        wait_until(app.ready, 20, "the first rounds")

        def guarded(body: Callable[[], None]) -> Callable[[], None]:
            def run() -> None:
                try:
                    while not stop.is_set():
                        body()
                except Exception as exc:  # reported by the test, not lost in a thread
                    errors.append(f"{body.__name__}: {type(exc).__name__}: {exc}")

            return run

        rng = random.Random(7)
        counter = [20]

        def mutate() -> None:
            if rng.random() < 0.5:
                name = f"d{counter[0]:04d}"
                counter[0] += 1
                ever_pushed.add(name)
                world.add_stream(DISCOVERED, "live", name, state="active")  # a push callback
            else:
                name = rng.choice(sorted(ever_pushed))
                world.set_state(DISCOVERED, "live", name, rng.choice(["active", "inactive"]))
            stop.wait(0.01)

        def reload() -> None:
            ok, message = app.reload()
            if not ok:
                errors.append(f"reload: {message}")
            reloads[0] += 1

        def discover() -> None:
            target = app.runtime.target(f"{DISCOVERED}/live")
            if target is not None:
                app.poller.dispatcher.dispatch(ListRound(app.poller.ctx, target, time.monotonic()))
            stop.wait(0.05)

        def scrape() -> None:
            confirmed.update(k.stream for k in app.membership.discovered(WHERE))
            url = f"http://127.0.0.1:{app.web.port}/metrics"
            with urllib.request.urlopen(url, timeout=10) as answer:
                if answer.status != 200:
                    errors.append(f"scrape: {answer.status}")
                answer.read()
            scrapes[0] += 1

        threads = [
            threading.Thread(target=guarded(f), daemon=True)
            for f in (mutate, reload, discover, scrape)
        ]
        for thread in threads:
            thread.start()
        stop.wait(CHAOS_SECONDS)
        stop.set()
        for thread in threads:
            thread.join(30)
        assert not errors, errors
        assert reloads[0] >= 3 and scrapes[0] >= 3, (reloads, scrapes)
        print(f"stress: {reloads[0]} reloads, {scrapes[0]} scrapes, {len(changes)} world changes")

        # Quiet: every callback the world caused has been delivered (or given up on).
        wait_until(
            lambda: sum(sim.callback_counters().values()) == len(changes),
            120,
            "the simulator's callbacks",
        )
        assert sim.callback_counters().get("dropped", 0) == 0
        offset[0] = 2 * AGREE_WINDOW
        # One more round of everything, on the running config.
        runtime = app.runtime
        ctx = app.poller.ctx
        for t in runtime.targets:
            if t.mode == "online_list":
                app.poller.dispatcher.dispatch(ListRound(ctx, t, time.monotonic()))
            else:
                for key in t.keys:
                    app.poller.dispatcher.dispatch(StatePoll(ctx, t, key, 0.0, scheduled=False))
        wait_until(lambda: app.poller.dispatcher.pending() == 0, 30, "the last round")
        text = app.render_metrics().decode()
    finally:
        app.stop()
        sim.stop()

    tracked = {k.stream: k for k in app.store.snapshot() if k.domain == DISCOVERED}
    online = {s.stream for s in world.streams() if s.domain == DISCOVERED and s.state == "active"}
    assert online <= set(tracked), sorted(online - set(tracked))[:10]
    confirmed.update(k.stream for k in app.membership.discovered(WHERE))
    assert len(confirmed) > 20
    assert confirmed <= set(tracked), sorted(confirmed - set(tracked))[:10]
    for s in world.streams():
        key = StreamKey("s", s.domain, s.app, s.stream)
        status = app.store.get(key)
        wanted = (
            (s.domain == STATE_A) if runtime.target(f"{STATE_A}/live") else (s.domain == STATE_B)
        )
        if s.domain == DISCOVERED and status is None:
            # Only a stream heard of in a push and stopped before any round listed it.
            assert s.state != "active" and s.stream not in confirmed, key
        elif s.domain == DISCOVERED or wanted:
            assert status is not None, key
            assert status.state is StreamState(s.state), (key, status.state, s.state)
        else:
            assert status is None, f"{key} is tracked though its target was removed"

    names = {t.name for t in runtime.targets}
    samples = parse_samples(text)
    for (family, labels), _ in samples.items():
        label = dict(labels)
        if family.startswith("tencent_live_target_"):
            assert label["target"] in names, (family, label)
        if family == "tencent_live_stream_state":
            assert label["domain"] in {t.domain for t in runtime.targets}, label
