"""API calls per hour: `auto` (online-list rounds) versus `state` (one call per stream).

10,000 configured streams across 2 domains, half online, 60 s rounds, against the simulator over
loopback with the official SDK. An hour is driven with a fake wall clock: 60 rounds, each after a
scripted change of 1% of the streams, the forbid list at its default cadence (every 10 minutes),
state checks for streams that left the list. State mode is measured over one full round (10,000
calls) and multiplied by 60. After every round the exporter's states are compared with the
simulator's world. Target: auto <= 2% of state mode's calls.

    .venv/bin/python benchmarks/api_cost.py [--streams 10000]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from exporter.model import StreamState
from exporter.simulator import Simulator, World
from tests.drive import (
    Clock,
    api_calls,
    make_app,
    poll_round,
    run_forbid,
    run_push,
    run_round,
    states,
)
from tests.e2e import SECRET_ID, SECRET_KEY

DOMAINS = ("push-a.example.com", "push-b.example.com")
ROUNDS_PER_HOUR = 60
FORBID_EVERY = 10  # default forbid_check_interval 10m over 60 s rounds


def world_states(sim: Simulator) -> dict[tuple[str, str, str], StreamState]:
    return {(s.domain, s.app, s.stream): StreamState(s.state) for s in sim.world.streams()}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--streams", type=int, default=10_000)
    ap.add_argument("--churn", type=float, default=0.01, help="share of streams changed per round")
    args = ap.parse_args()

    world = World.generate(args.streams, seed=42, domains=list(DOMAINS), timeline_fraction=0.0)
    rng = random.Random(42)
    keys = [(s.domain, s.app, s.stream) for s in world.streams()]
    for domain, app, stream in keys:  # half online, a few banned
        world.set_state(
            domain, app, stream, rng.choices(["active", "inactive", "forbid"], [50, 48, 2])[0]
        )
    sim = Simulator(
        world,
        credentials={SECRET_ID: SECRET_KEY},
        limits={"DescribeLiveStreamState": 100_000, "DescribeLiveStreamOnlineList": 100_000},
    )
    sim.start()
    wall = Clock()
    by_domain: dict[str, list[str]] = {d: [] for d in DOMAINS}
    for domain, _, stream in keys:
        by_domain[domain].append(stream)

    def targets(mode: str) -> list[dict[str, object]]:
        return [
            {"domain": d, "mode": mode, "streams": names, "push_info": False}
            for d, names in by_domain.items()
        ]

    auto = make_app(sim, wall, targets("auto"))
    state = make_app(sim, wall, targets("state"))
    try:
        modes = sorted({t.mode for t in auto.runtime.targets})
        print(f"streams: {args.streams} in {len(DOMAINS)} domains; auto chose: {', '.join(modes)}")
        online = sum(1 for s in world.streams() if s.state == "active")
        print(f"online: {online} ({online / args.streams:.0%})")

        sim.reset_counters()
        started = time.perf_counter()
        mismatches = 0  # active vs not: must never happen
        ban_lag = 0  # forbid vs inactive until the next forbid check: the designed cadence
        for n in range(ROUNDS_PER_HOUR):
            for domain, app, stream in rng.sample(keys, int(args.churn * args.streams)):
                world.set_state(domain, app, stream, rng.choice(["active", "inactive", "forbid"]))
            wall.now += 60
            if n % FORBID_EVERY == 0:
                run_forbid(auto, "t")
            for t in auto.runtime.targets:
                run_round(auto, t)
            truth = world_states(sim)
            got = states(auto)
            for k, v in truth.items():
                if got.get(k) is not v:
                    if StreamState.ACTIVE in (v, got.get(k)):
                        mismatches += 1
                    else:
                        ban_lag += 1
        auto_calls = api_calls(sim)
        # After a forbid check, the two modes agree on every stream.
        run_forbid(auto, "t")
        final_auto = states(auto)
        auto_seconds = time.perf_counter() - started
        # Push quality is optional data, not state: its cost per hour, shown apart.
        sim.reset_counters()
        for t in auto.runtime.targets:
            run_push(auto, t)
        push_calls = sum(api_calls(sim).values()) * ROUNDS_PER_HOUR

        sim.reset_counters()
        started = time.perf_counter()
        wall.now += 60
        poll_round(state)
        state_round = sum(api_calls(sim).values())
        state_seconds = time.perf_counter() - started
        truth = world_states(sim)
        by_state = states(state)
        state_mismatches = sum(1 for k, v in truth.items() if by_state.get(k) is not v)
        modes_differ = sum(1 for k, v in by_state.items() if final_auto.get(k) is not v)

        auto_total = sum(auto_calls.values())
        state_total = state_round * ROUNDS_PER_HOUR
        print(f"\nauto, one simulated hour ({auto_seconds:.1f} s wall):")
        for action, count in sorted(auto_calls.items()):
            print(f"  {action:34s} {count:8d}")
        print(f"  {'total':34s} {auto_total:8d} calls/hour")
        print(f"  active/not-active mismatches after each round's changes: {mismatches}")
        print(
            f"  forbid/inactive lag until the next forbid check (every {FORBID_EVERY} rounds): "
            f"{ban_lag} stream-rounds"
        )
        print(f"\nstate, one round ({state_seconds:.1f} s wall): {state_round} calls")
        print(f"  x {ROUNDS_PER_HOUR} rounds = {state_total} calls/hour")
        print(f"  state mismatches: {state_mismatches}")
        print(f"streams on which the two modes differ at the end: {modes_differ}")
        ratio = auto_total / state_total
        print(f"\nauto / state = {ratio:.2%} (target <= 2%)")
        print(f"push quality (optional, both modes): +{push_calls} calls/hour")
        ok = ratio <= 0.02 and mismatches == 0 and state_mismatches == 0 and modes_differ == 0
        return 0 if ok else 1
    finally:
        auto.web.stop()
        state.web.stop()
        sim.stop()


if __name__ == "__main__":
    sys.exit(main())
