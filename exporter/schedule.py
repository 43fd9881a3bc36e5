"""Pure scheduling arithmetic: when each stream is due, and how to fit a fleet into a budget.

Each stream gets a stable phase inside its target's interval (from a hash of its key), so N
streams at interval I cost N/I calls per second spread evenly, the same streams fall in the same
slots after a restart, and adding one stream does not move the others.
"""

from __future__ import annotations

import bisect
import hashlib
import math
from collections.abc import Sequence

from exporter.model import StreamKey


def phase_fraction(key: StreamKey) -> float:
    digest = hashlib.blake2b(
        f"{key.account}\0{key.domain}\0{key.app}\0{key.stream}".encode(), digest_size=8
    ).digest()
    return int.from_bytes(digest, "big") / 2**64


def phases(keys: Sequence[StreamKey], interval: float) -> list[tuple[float, StreamKey]]:
    """Sorted (offset within the interval, key) pairs."""
    return sorted((phase_fraction(k) * interval, k) for k in keys)


def due_between(
    sorted_phases: Sequence[tuple[float, StreamKey]], interval: float, t0: float, t1: float
) -> list[StreamKey]:
    """Keys with a slot in the half-open window (t0, t1] of a clock that repeats every interval."""
    if t1 <= t0:
        return []
    if t1 - t0 >= interval:
        return [k for _, k in sorted_phases]
    offsets = [p for p, _ in sorted_phases]
    a = t0 % interval
    b = t1 % interval
    if a <= b:
        lo = bisect.bisect_right(offsets, a)
        hi = bisect.bisect_right(offsets, b)
        return [k for _, k in sorted_phases[lo:hi]]
    lo = bisect.bisect_right(offsets, a)
    hi = bisect.bisect_right(offsets, b)
    return [k for _, k in sorted_phases[lo:]] + [k for _, k in sorted_phases[:hi]]


def stretch_factor(demands: Sequence[tuple[int, float]], budget: float) -> float:
    """How much every interval of one account must grow to keep its calls within budget.

    ``demands`` holds (streams, interval) per target. 1.0 means everything fits.
    """
    rate = sum(n / interval for n, interval in demands if interval > 0)
    return max(1.0, rate / budget) if budget > 0 else math.inf


def default_workers(budget: float, expected_latency: float = 0.25) -> int:
    """Threads needed to keep ``budget`` calls/s in flight at a given latency, with bounds.

    Little's law: concurrency = rate x latency. Calls that run into the timeout hold a worker
    longer, which lowers throughput rather than breaking the budget, so no need to size for
    the worst case.
    """
    return max(4, min(128, math.ceil(budget * expected_latency)))
