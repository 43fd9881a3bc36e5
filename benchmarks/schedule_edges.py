"""What broadcast schedules cost at 100,000 streams: the edge check, an edge, a render.

100,000 scheduled streams share 20 schedules (weekly windows in 4 zones). Measured side by side
in one run:
- ``schedule_tick`` between edges (what the tick pays every second): one comparison per
  distinct schedule;
- ``schedule_tick`` at an edge: the streams of the schedule whose window opened are marked;
- a full render of every bucket with schedules against the same streams without (the render
  evaluates each schedule once, not once per stream).

    .venv/bin/python benchmarks/schedule_edges.py [--streams 100000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from prometheus_client import CollectorRegistry

from exporter.broadcast import Schedule, Watch, Weekly, expectation
from exporter.exposition import Exposition
from exporter.model import Observation, Source, StreamKey, StreamState
from exporter.state import Policy, StateStore

ZONES = ("Europe/Berlin", "Asia/Shanghai", "America/New_York", "UTC")
T0 = 1_767_605_400.0  # 2026-01-05 09:30 UTC


def schedules() -> list[Schedule]:
    out = []
    for i in range(20):
        start = (7 + i) % 24 * 3600
        weekly = Weekly(frozenset(range(7)), start, start + 5400, ZONES[i % len(ZONES)])
        out.append(Schedule((weekly,), name=f"show-{i}"))
    return out


def build(n: int, scheduled: bool) -> tuple[Exposition, StateStore, list[Schedule]]:
    now = [T0]
    store = StateStore()
    expo = Exposition(CollectorRegistry(), wall=lambda: now[0])
    shows = schedules()
    watches = [Watch(schedule=s) for s in shows]
    items: list[tuple[StreamKey, tuple[tuple[str, str], ...], float, Watch | None]] = []
    for i in range(n):
        key = StreamKey("main", f"push{i % 4}.example.com", "live", f"s{i:06d}")
        if scheduled:
            items.append((key, (("expect_live", "scheduled"),), 300.0, watches[i % len(watches)]))
        else:
            items.append((key, (("expect_live", "true"),), 300.0, None))
    expo.set_streams(items)
    policy = Policy(300.0, 900.0)
    for key, *_ in items:
        store.add(key, policy)
        store.apply(Observation(key, T0, Source.STATE_API, state=StreamState.ACTIVE), T0)
    return expo, store, shows


def median_ms(fn: object, repeat: int) -> float:
    assert callable(fn)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--streams", type=int, default=100_000)
    p.add_argument("--repeat", type=int, default=5)
    args = p.parse_args()
    n = args.streams

    expo, store, shows = build(n, scheduled=True)
    plain, plain_store, _ = build(n, scheduled=False)
    expo.schedule_tick(T0)  # the first edges

    between = median_ms(lambda: expo.schedule_tick(T0 + 1), 1001)
    edges = sorted(e for s in shows if (e := expectation(s, T0).edge) is not None)
    start = time.perf_counter()
    marked = expo.schedule_tick(edges[0])
    at_edge = (time.perf_counter() - start) * 1000

    def render_all(e: Exposition, s: StateStore) -> None:
        e.mark_all()
        e.flush(s.get_many)

    def size(e: Exposition) -> int:
        return sum(len(chunk) for chunk in e.render_chunks())

    with_schedules = median_ms(lambda: render_all(expo, store), args.repeat)
    without = median_ms(lambda: render_all(plain, plain_store), args.repeat)
    print(f"{n:,} scheduled streams sharing {len(shows)} schedules")
    print(f"  schedule_tick between edges: median {between * 1000:.1f} us (every second)")
    print(f"  schedule_tick at an edge: {at_edge:.1f} ms, {marked:,} streams marked")
    print(f"  full render with schedules: median {with_schedules:.0f} ms, {size(expo):,} bytes")
    print(
        f"  full render, same streams, expect_live true: median {without:.0f} ms,"
        f" {size(plain):,} bytes"
    )
    print(
        f"  ratio: {with_schedules / without:.2f}x the time for {size(expo) / size(plain):.2f}x"
        " the text (a scheduled stream has four series more, the window's among them)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
