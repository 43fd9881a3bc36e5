"""Chaos soak: the exporter process against a faulty simulator, scraped and reloaded throughout.

10,000 streams for 10 minutes by default, with 5% timeouts, 3% HTTP 5xx, 2% malformed JSON and
1% wrong Content-Type on every API action, a 30 s RequestLimitExceeded storm and a 30 s
AuthFailure window, 20 clients scraping /metrics back to back and a reload every 30 s. Prints
every figure and exits 1 when a target is missed: zero crashes, 100% of scrapes answered 200
within 1 s, zero false transitions, every injected fault counted under its code, RSS growth
under 10%, thread count flat. The harness is tests/soak.py; tests/test_soak.py runs it with
1,000 streams for 60 s.

    .venv/bin/python benchmarks/soak.py [--streams 10000] [--duration 600]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.soak import SoakSettings, run_soak


def main(argv: list[str] | None = None) -> int:
    defaults = SoakSettings()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--streams", type=int, default=defaults.streams, help="big target size")
    parser.add_argument(
        "--state-streams", type=int, default=defaults.state_streams, help="mode: state target"
    )
    parser.add_argument("--duration", type=float, default=defaults.duration, help="seconds")
    parser.add_argument("--warmup", type=float, default=defaults.warmup, help="seconds")
    parser.add_argument("--clients", type=int, default=defaults.clients)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    # For a short run (tests/test_benchmarks.py): the two fault windows and the reload cadence.
    parser.add_argument("--window", type=float, default=defaults.window, help="seconds each")
    parser.add_argument("--reload-every", type=float, default=defaults.reload_every)
    parser.add_argument(
        "--round-interval",
        type=float,
        default=defaults.round_interval,
        help="seconds between the big target's list rounds (default: the advised minute)",
    )
    args = parser.parse_args(argv)
    settings = SoakSettings(
        streams=args.streams,
        state_streams=args.state_streams,
        duration=args.duration,
        warmup=args.warmup,
        clients=args.clients,
        seed=args.seed,
        window=args.window,
        reload_every=args.reload_every,
        round_interval=args.round_interval,
    )
    start = time.monotonic()

    def log(message: str) -> None:
        print(f"[{time.monotonic() - start:6.1f}s] {message}", flush=True)

    with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
        result = run_soak(settings, Path(tmp), log)
    print()
    print(result.report())
    return 1 if result.failures() else 0


if __name__ == "__main__":
    sys.exit(main())
