"""Status page render time at 10,000 and 100,000 streams, one page of the streams table.

The page filters and orders every row but builds HTML only for the rows shown. Beside it, in
the same run, the naive approach: HTML for every matching row (what the page avoids). Target:
median < 200 ms for any query at 100,000 streams. (This figure used to be a timed assertion in
tests/test_statuspage.py; the test now checks that only one page of rows becomes HTML.)

    .venv/bin/python benchmarks/statuspage_render.py [--sizes 10000 100000] [--renders 9]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from exporter.statuspage import StatusSnapshot, StreamRow, render_status_page
from exporter.statuspage import streams as page_streams
from exporter.statuspage.view import parse_view

NOW = 1_717_243_200.0
TARGET_SECONDS = 0.2
QUERIES: tuple[dict[str, str], ...] = (
    {},
    {"page": "300"},
    {"q": "stream-1"},
    {"state": "forbid"},
)


def snapshot(size: int) -> StatusSnapshot:
    rng = random.Random(42)
    states = ["active"] * 80 + ["inactive"] * 14 + ["forbid"] * 2 + ["unknown"] * 4
    expect = ("expect_live", "true")
    streams = [
        StreamRow(
            account=f"acct{i % 3}",
            domain=f"push{i % 5}.example.com",
            app="live",
            stream=f"stream-{rng.randrange(10**9):09d}",
            labels=(("env", "prod"), expect) if i % 7 == 0 else (("env", "prod"),),
            state=rng.choice(states),
            since=NOW - rng.randrange(86400),
            source="online_list",
            last_error="InternalError: boom" if i % 97 == 0 else None,
            last_error_time=NOW - 5 if i % 97 == 0 else None,
        )
        for i in range(size)
    ]
    return StatusSnapshot(
        version="bench",
        now=NOW,
        started=NOW - 3600,
        ready=True,
        streams=streams,
        errors=[],
        budgets=[],
        targets=[],
        reload_ok=True,
        last_reload=None,
    )


def naive(snap: StatusSnapshot) -> str:
    """Every row sorted and rendered, as a page without paging would."""
    rows = sorted(snap.streams, key=lambda r: (r.account, r.domain, r.app, r.stream))
    view = parse_view({})
    return "".join(page_streams._stream_row(r, snap.now, view) for r in rows)


def median_seconds(fn: Callable[[], object], renders: int) -> float:
    times = []
    for _ in range(renders):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    p.add_argument("--renders", type=int, default=9, help="renders per query (median)")
    args = p.parse_args()
    met = True
    for size in args.sizes:
        snap = snapshot(size)
        print(f"{size:,} streams:")
        worst = 0.0
        for query in QUERIES:
            seconds = median_seconds(partial(render_status_page, snap, query), args.renders)
            worst = max(worst, seconds)
            print(f"  query {query!s:<20} median {seconds * 1000:7.1f} ms")
        everything = median_seconds(partial(naive, snap), max(3, args.renders // 3))
        print(
            f"  naive (HTML for every row): median {everything * 1000:.1f} ms, "
            f"{everything / worst:.1f}x the slowest one-page query"
        )
        if size >= 100_000 and worst >= TARGET_SECONDS:
            met = False
    print(
        f"target: every query < {TARGET_SECONDS * 1000:.0f} ms at 100,000 streams: "
        + ("met" if met else "NOT met")
    )
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
