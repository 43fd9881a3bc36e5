"""Exporter RSS with 100,000 tracked streams, and its flatness over 30 minutes of churn.

The simulator (its own process) holds 100,000 streams on one push domain, 10% of them on
timelines that go on and off air every 10-60 s, so every round sees hundreds of changes. The
exporter (its own process, the real CLI) tracks all 100,000 as configured streams in
online_list mode with push quality on, and Prometheus-like scrapes (gzip) run every 5 s.
Rounds are every 10 s, six times the default cadence, so 30 minutes here is 180 rounds. Every
other cadence runs at the same pace: the poll interval (and so the stale window) is one round,
and the forbid-list check runs every 10 rounds (600 s by default, 100 s here). Left at 600 s,
the forbid check ran only 3 times in 30 minutes and the first 10-15 minutes were a settling
period rather than the steady state the flatness target is about.

After the warm-up, RSS is read every second for ``--duration`` seconds. Each round's lowest
reading (its floor) is what the process keeps between rounds; its highest adds the round's
transient parse and render. Targets: peak RSS <= 200 MB, and the median floor of the last 5
minutes within 5% of the median floor of the first 5 minutes. The least-squares trend of the
floors is printed too, in MB per 10 minutes, because a leak shows as a slope. The old figure,
one sample at the end of the warm-up against the last sample, is printed for comparison: since
the heap is trimmed every 10 s, RSS moves by several MB within a round, so two single samples
mostly measure where in its round each was taken.

    .venv/bin/python benchmarks/memory.py [--streams 100000] [--warmup 300] [--duration 1800]
        [--discover]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
DOMAIN = "push-a.example.com"
SECRET_ID = "AKIDbench0000000000000000000000000000"
SECRET_KEY = "bench-secret-key-0000000000000000"


def rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"VmRSS:\s+(\d+) kB", status)
    assert match is not None
    return int(match.group(1)) / 1024


def wait_line(proc: subprocess.Popen[str], pattern: str, timeout: float) -> re.Match[str]:
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"process exited before printing {pattern!r}")
        match = re.search(pattern, line)
        if match:
            return match
    raise RuntimeError(f"timed out waiting for {pattern!r}")


def scrape(url: str) -> int:
    request = urllib.request.Request(url, headers={"Accept-Encoding": "gzip"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return len(response.read())


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--streams", type=int, default=100_000)
    ap.add_argument("--warmup", type=float, default=300.0, help="seconds before measuring")
    ap.add_argument("--duration", type=float, default=1800.0, help="seconds measured")
    ap.add_argument("--round-interval", type=int, default=10)
    ap.add_argument(
        "--discover",
        action="store_true",
        help="track the streams by discovery (every stream is on air at some point) instead "
        "of listing all of them in the config",
    )
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="tle-mem-"))
    scenario = {
        "generate": {
            "count": args.streams,
            "domains": [DOMAIN],
            "seed": 9,
            "timeline_fraction": 0.1,
            # Discovery tracks what it sees online: then every stream is on air at some point.
            **({"mix": {"active": 1.0}} if args.discover else {}),
        },
        "max_page_size": {"DescribeLiveStreamOnlineList": 1000},
        "limits": {action: 100_000 for action in ("DescribeLiveStreamOnlineList",)},
    }
    (tmp / "scenario.yaml").write_text(yaml.safe_dump(scenario))
    width = max(6, len(str(args.streams)))
    config = {
        "accounts": [
            {
                "name": "bench",
                "endpoint": "http://127.0.0.1:1",  # replaced below
                "budget_fraction": 1.0,
                "api_limits": {"DescribeLiveStreamOnlineList": 1000},
                "site": "china",  # 1,000-stream pages: the China site's range
                "credentials": {"secret_id": SECRET_ID, "secret_key": SECRET_KEY},
            }
        ],
        "targets": [
            {
                "domain": DOMAIN,
                "mode": "online_list",
                "interval": f"{args.round_interval}s",
                "round_interval": f"{args.round_interval}s",
                "forbid_check_interval": f"{10 * args.round_interval}s",
                "page_size": 1000,
                "labels": {"env": "bench"},
                **(
                    {"max_streams": 2 * args.streams}
                    if args.discover
                    else {"streams": [f"gen-{i:0{width}d}" for i in range(args.streams)]}
                ),
            }
        ],
    }
    sim = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "exporter.simulator",
            "--listen",
            "127.0.0.1:0",
            "--scenario",
            str(tmp / "scenario.yaml"),
            "--secret-id",
            SECRET_ID,
            "--secret-key",
            SECRET_KEY,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=ROOT,
    )
    exporter = None
    try:
        sim_url = wait_line(sim, r"listening on (http://\S+)", 120).group(1)
        config["accounts"][0]["endpoint"] = sim_url
        (tmp / "config.yaml").write_text(yaml.safe_dump(config))
        exporter = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "exporter",
                "--config.file",
                str(tmp / "config.yaml"),
                "--web.listen-address",
                "127.0.0.1:0",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env={k: v for k, v in os.environ.items() if not k.startswith("TENCENTCLOUD_")},
        )
        assert exporter.stderr is not None
        started = time.monotonic()
        port = None
        while port is None:
            line = exporter.stderr.readline()
            if not line:
                raise RuntimeError("exporter exited")
            match = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
            if match:
                port = int(match.group(1))
        # Keep reading its log: a full pipe would block the exporter's logging threads.
        stderr = exporter.stderr
        threading.Thread(target=lambda: [None for _ in stderr], daemon=True).start()
        url = f"http://127.0.0.1:{port}/metrics"
        print(f"exporter listening after {time.monotonic() - started:.1f} s (config parsed)")
        warm_end = time.monotonic() + args.warmup
        end = warm_end + args.duration
        # Per round, RSS is read every second: its floor is what the process keeps between
        # rounds (a leak raises it), its top includes the round's transient parse and render.
        floors: list[tuple[float, float]] = []  # (seconds into the measured window, MB)
        tops: list[float] = []  # every round's, the warm-up's included
        warm = 0.0  # the single sample at the end of the warm-up (the old end-point figure)
        last = 0.0
        n = 0
        size = 0
        next_scrape = time.monotonic()
        while time.monotonic() < end:
            n += 1
            deadline = time.monotonic() + args.round_interval
            readings = []
            while time.monotonic() < deadline:
                if time.monotonic() >= next_scrape:
                    size = scrape(url)
                    next_scrape += 5.0
                readings.append(rss_mb(exporter.pid))
                time.sleep(max(0.0, min(1.0, deadline - time.monotonic())))
            now = time.monotonic()
            last = readings[-1]
            tops.append(max(readings))
            if now < warm_end:
                warm = last
                phase = "warm-up"
            else:
                floors.append((now - warm_end, min(readings)))
                phase = f"{(now - warm_end) / 60:5.1f} min"
            if n % 6 == 0 or now >= end:  # every minute
                print(
                    f"round {n:4d} ({phase}): RSS floor {min(readings):6.1f} MB, "
                    f"top {max(readings):6.1f} MB, gzip body {size / 1e6:.2f} MB"
                )
        text = urllib.request.urlopen(url, timeout=30).read().decode()
        tracked = (
            sum(1 for line in text.splitlines() if line.startswith("tencent_live_stream_state{"))
            // 4
        )
        changes = re.findall(
            r'tencent_live_target_rounds_total\{[^}]*result="(\w+)"[^}]*\} (\S+)', text
        )
        window = max(1, round(300 / args.round_interval))  # 5 minutes of rounds
        first = statistics.median(rss for _, rss in floors[:window])
        final = statistics.median(rss for _, rss in floors[-window:])
        growth = (final - first) / first
        peak = max(tops)
        xs = [t for t, _ in floors]
        ys = [rss for _, rss in floors]
        mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
        var = sum((x - mean_x) ** 2 for x in xs) or 1.0
        slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / var
        calls: dict[str, float] = {}
        for action, value in re.findall(
            r'tencent_live_api_requests_total\{[^}]*action="(\w+)"[^}]*\} (\S+)', text
        ):
            calls[action] = calls.get(action, 0.0) + float(value)
        seconds = time.monotonic() - started
        print(f"\nstreams tracked: {tracked}; rounds: {dict(changes)}")
        print(
            f"in {seconds:.0f} s the exporter had time for "
            f"{seconds / args.round_interval:.0f} rounds; API calls per second: "
            + ", ".join(f"{a} {n / seconds:.1f}" for a, n in sorted(calls.items()))
        )
        print(
            f"RSS over {args.duration / 60:.0f} min after a {args.warmup:.0f} s warm-up: "
            f"floor min {min(ys):.1f}, max {max(ys):.1f} MB; peak {peak:.1f} MB (target <= 200 MB)"
        )
        print(
            f"floor, median of the first 5 min {first:.1f} MB -> of the last 5 min {final:.1f} MB:"
            f" {growth:+.1%} (target within 5%)"
        )
        print(f"floor trend: {slope * 600:+.2f} MB per 10 minutes ({slope * 600 / first:+.2%})")
        warm = warm or floors[0][1]  # a warm-up shorter than a round took no sample
        print(
            f"single samples, end of warm-up {warm:.1f} MB -> last {last:.1f} MB: "
            f"{(last - warm) / warm:+.1%} (noisy: each is wherever the round happened to be)"
        )
        return 0 if peak <= 200 and abs(growth) <= 0.05 else 1
    finally:
        for proc in (exporter, sim):
            if proc is not None:
                proc.terminate()
                proc.wait(10)


if __name__ == "__main__":
    sys.exit(main())
