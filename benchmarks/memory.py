"""Exporter RSS with 100,000 tracked streams, and its flatness over 30 minutes of churn.

The simulator (its own process) holds 100,000 streams on one push domain, 10% of them on
timelines that go on and off air every 10-60 s, so every round sees hundreds of changes. The
exporter (its own process, the real CLI) tracks all 100,000 as configured streams in
online_list mode with push quality on, and Prometheus-like scrapes (gzip) run every 5 s.
Rounds are every 10 s, six times the default cadence, so 30 minutes here is 180 rounds.

After a warm-up longer than the streams' stale window (so that deadlines, confirmations and
per-stream histories have reached their steady state) RSS is sampled every round for
``--duration`` seconds. Targets: peak RSS <= 200 MB, and the last RSS within 5% of the RSS at
the end of the warm-up. The least-squares trend over the window is printed too, in MB per 10
minutes, because a leak shows as a slope even when the end points happen to be close.

    .venv/bin/python benchmarks/memory.py [--streams 100000] [--warmup 300] [--duration 1800]
        [--discover]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
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
                "credentials": {"secret_id": SECRET_ID, "secret_key": SECRET_KEY},
            }
        ],
        "targets": [
            {
                "domain": DOMAIN,
                "mode": "online_list",
                "round_interval": f"{args.round_interval}s",
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
        url = f"http://127.0.0.1:{port}/metrics"
        print(f"exporter listening after {time.monotonic() - started:.1f} s (config parsed)")
        warm_end = time.monotonic() + args.warmup
        end = warm_end + args.duration
        samples: list[tuple[float, float]] = []  # (seconds into the measured window, RSS MB)
        warm = 0.0
        n = 0
        while time.monotonic() < end:
            n += 1
            deadline = time.monotonic() + args.round_interval
            size = 0
            while time.monotonic() < deadline:
                size = scrape(url)
                time.sleep(min(5.0, max(0.0, deadline - time.monotonic())))
            rss = rss_mb(exporter.pid)
            now = time.monotonic()
            if now < warm_end:
                warm = rss
                phase = "warm-up"
            else:
                samples.append((now - warm_end, rss))
                phase = f"{(now - warm_end) / 60:5.1f} min"
            if n % 6 == 0 or now >= end:  # every minute
                print(f"round {n:4d} ({phase}): RSS {rss:6.1f} MB, gzip body {size / 1e6:.2f} MB")
        text = urllib.request.urlopen(url, timeout=30).read().decode()
        tracked = (
            sum(1 for line in text.splitlines() if line.startswith("tencent_live_stream_state{"))
            // 4
        )
        changes = re.findall(
            r'tencent_live_target_rounds_total\{[^}]*result="(\w+)"[^}]*\} (\S+)', text
        )
        last = samples[-1][1]
        peak = max(warm, *(rss for _, rss in samples))
        low = min(rss for _, rss in samples)
        growth = (last - warm) / warm
        xs = [t for t, _ in samples]
        ys = [rss for _, rss in samples]
        mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
        var = sum((x - mean_x) ** 2 for x in xs) or 1.0
        slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / var
        print(f"\nstreams tracked: {tracked}; rounds: {dict(changes)}")
        print(
            f"RSS at the end of the {args.warmup:.0f} s warm-up: {warm:.1f} MB; over the next "
            f"{args.duration / 60:.0f} min: min {low:.1f}, last {last:.1f}, peak {peak:.1f} MB "
            "(target <= 200 MB)"
        )
        print(f"growth warm-up -> last: {growth:+.1%} (target within 5%)")
        print(f"trend: {slope * 600:+.2f} MB per 10 minutes ({slope * 600 / warm:+.2%})")
        return 0 if peak <= 200 and abs(growth) <= 0.05 else 1
    finally:
        for proc in (exporter, sim):
            if proc is not None:
                proc.terminate()
                proc.wait(10)


if __name__ == "__main__":
    sys.exit(main())
