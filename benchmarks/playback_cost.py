"""API calls per hour of what viewers see: 10,000 streams on 3 play domains (target < 200/hour).

The exporter's App against the simulator over loopback with the official SDK, one shared fake
clock for both (the simulator's data lag and rate limits count in it), one simulated hour of
ticks. Half the streams are online, one in ten of those has viewers. Every playback call is
counted by the simulator; the per-stream viewers on /metrics are checked against its script at
the end. The push side (online-list rounds) is polled as usual and counted apart.

    .venv/bin/python benchmarks/playback_cost.py [--streams 10000] [--play-domains 3]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from prometheus_client.parser import text_string_to_metric_families

from exporter import cssapi
from exporter.app import App
from exporter.config import Config
from exporter.polling.tick import TICK_SECONDS
from exporter.simulator import Simulator, World, load_scenario
from exporter.simulator.playback import attach
from tests.e2e import SECRET_ID, SECRET_KEY
from tests.test_real_accounts import SharedClock

PUSH = "push.example.com"
TARGET = 200


def scenario(names: list[str], plays: list[str]) -> dict[str, Any]:
    online = names[::2]
    return {
        "site": "china",
        "streams": [{"domain": PUSH, "stream": n, "state": "active"} for n in online]
        + [{"domain": PUSH, "stream": n, "state": "inactive"} for n in names[1::2]],
        "playback": {
            "play_domains": [
                {"name": p, "push_domains": [PUSH], "certificate": {"expires_in": "60d"}}
                for p in plays
            ],
            "viewers": {"streams": {n: [30, 40, 50] for n in online[::10]}},
            "packages": [{"id": "flux", "total": 10**12, "used": 10**11}],
        },
    }


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--streams", type=int, default=10_000)
    ap.add_argument("--play-domains", type=int, default=3)
    args = ap.parse_args()
    names = [f"s{i:06d}" for i in range(args.streams)]
    plays = [f"play-{i}.example.com" for i in range(args.play_domains)]
    clock = SharedClock(1_800_000_020.0)
    world = World.from_scenario(load_scenario(scenario(names, plays)), clock=clock)
    model = attach(world)
    sim = Simulator(world, credentials={SECRET_ID: SECRET_KEY}, monotonic=clock).start()
    config = Config.model_validate(
        {
            "accounts": [
                {
                    "name": "bench",
                    "endpoint": sim.url,
                    "site": "china",
                    "credentials": {"secret_id": SECRET_ID, "secret_key": SECRET_KEY},
                    "play_domains": [{"name": p, "push_domains": [PUSH]} for p in plays],
                }
            ],
            "targets": [
                {"domain": PUSH, "mode": "online_list", "streams": names, "push_info": False}
            ],
        }
    )
    app = App(config, "127.0.0.1:0", clock=clock, wall=clock, sleep=clock.sleep)
    try:
        app.poller.first_round()
        app.poller.run_pending()
        sim.reset_counters()
        started = time.perf_counter()
        end = clock.now + 3600
        while clock.now < end:
            clock.now += TICK_SECONDS
            app.poller.tick()
            app.poller.run_pending()
        seconds = time.perf_counter() - started
        counters = sim.counters()
        calls = {a: sum(counters.get(a, {}).values()) for a in cssapi.ACTIONS}
        playback = {a: calls[a] for a in cssapi.PLAYBACK_ACTIONS}
        total = sum(playback.values())
        print(
            f"{args.streams} streams ({args.streams // 2} online), {len(plays)} play domains,"
            f" one simulated hour in {seconds:.1f} s wall"
        )
        for action, count in playback.items():
            print(f"  {action:38s} {count:5d} calls/hour")
        print(f"  {'playback in all':38s} {total:5d} calls/hour (target < {TARGET})")
        push = {a: c for a, c in calls.items() if a not in cssapi.PLAYBACK_ACTIONS and c}
        print(f"  push side, for comparison: {push}")
        # The per-stream figures are the script's for the minute on /metrics.
        text = app.render_metrics().decode()
        viewers: dict[str, float] = {}
        minute = None
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                if s.name == "tencent_live_stream_viewers":
                    viewers[s.labels["stream"]] = s.value
                if s.name == "tencent_live_playback_data_timestamp_seconds":
                    minute = s.value
        assert minute is not None
        online = set(names[::2])
        wrong = sum(
            1 for n in names if viewers.get(n) != (model.scripted(n, minute) if n in online else 0)
        )
        print(f"  streams whose viewers differ from the script: {wrong} of {len(names)}")
        return 0 if total < TARGET and wrong == 0 else 1
    finally:
        sim.stop()
        app.web.stop()


if __name__ == "__main__":
    sys.exit(main())
