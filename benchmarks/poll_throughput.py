"""Polling throughput against the budget, and versus a plain sequential loop over the SDK.

3,000 streams polled one call each (mode state), 100 ms simulated API latency, the documented
DescribeLiveStreamState limit of 300 req/s in the simulator and an exporter budget of 0.97 of it
(budget_fraction): the intervals are set so that the streams need exactly the budget. Prints the
steady request rate as a share of the exporter's budget (target >= 0.99: the pacer delivers what
the schedule was stretched to) and of the API's limit (target >= 0.95), the RequestLimitExceeded
answers over the whole run, start-up included (target 0), and how much faster the exporter
finishes one round than a sequential loop (target >= 20x).

The 3% between the budget and the limit is room for timing jitter: the API counts any one
second, and calls leave a loaded machine unevenly (see exporter/ratelimit.py).

    .venv/bin/python benchmarks/poll_throughput.py [--streams 3000] [--budget-fraction 0.97]
        [--measure-seconds 30] [--sequential-sample N]

The simulator and the exporter run as separate processes, as in production, so that neither
steals the other's interpreter lock.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import yaml
from tencentcloud.common.common_client import CommonClient
from tencentcloud.common.credential import Credential
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile

SECRET_ID = "AKIDbench000000000000000000000000000"
SECRET_KEY = "bench-secret-key-0000000000000000000"
DOMAIN = "bench.example.com"
STATE = "DescribeLiveStreamState"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.loads(r.read())


def counters(sim_url: str) -> dict[str, int]:
    requests: dict[str, dict[str, int]] = get_json(f"{sim_url}/-/sim/counters")["requests"]
    return requests.get(STATE, {})


def start_simulator(
    tmp: Path, streams: list[str], latency: float, limit: int
) -> tuple[subprocess.Popen[bytes], str]:
    scenario = {
        "streams": [{"domain": DOMAIN, "stream": n, "state": "active"} for n in streams],
        "faults": {STATE: {"latency": latency}},
        "limits": {STATE: limit},
    }
    path = tmp / "scenario.yaml"
    path.write_text(yaml.safe_dump(scenario))
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "exporter.simulator",
            "--listen",
            f"127.0.0.1:{port}",
            "--secret-id",
            SECRET_ID,
            "--secret-key",
            SECRET_KEY,
            "--scenario",
            str(path),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            get_json(f"{url}/-/sim/counters")
            return proc, url
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("simulator did not start")


def start_exporter(
    tmp: Path, sim_url: str, streams: list[str], limit: int, fraction: float, interval: float
) -> tuple[subprocess.Popen[str], str]:
    config = {
        "accounts": [
            {
                "name": "bench",
                "endpoint": sim_url,
                "budget_fraction": fraction,
                "api_limits": {STATE: limit},
                "timeout": "5s",
                "credentials": {"secret_id": SECRET_ID, "secret_key": SECRET_KEY},
            }
        ],
        # Per-stream polling is what is measured: without mode: state, auto would poll 3,000
        # streams by list rounds.
        "targets": [
            {
                "domain": DOMAIN,
                "mode": "state",
                "interval": interval,
                "streams": streams,
                "push_info": False,
            }
        ],
    }
    path = tmp / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "exporter",
            "--config.file",
            str(path),
            "--web.listen-address",
            "127.0.0.1:0",
        ],
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    seen = []
    for line in proc.stderr:
        seen.append(line)
        m = re.search(r'msg="listening on ([^"]+)"', line)
        if m:
            # Keep draining the log so the exporter never blocks on a full pipe.
            threading.Thread(target=proc.stderr.read, daemon=True).start()
            return proc, f"http://{m.group(1)}"
    raise SystemExit("exporter did not start:\n" + "".join(seen[-20:]))


def sequential(sim_url: str, streams: list[str]) -> float:
    """A plain loop: one CommonClient, one call after another."""
    host = sim_url.removeprefix("http://")
    client = CommonClient(
        "live",
        "2018-08-01",
        Credential(SECRET_ID, SECRET_KEY),
        "",
        ClientProfile(httpProfile=HttpProfile(protocol="http", endpoint=host, reqTimeout=10)),
    )
    start = time.perf_counter()
    for name in streams:
        client.call_json(STATE, {"DomainName": DOMAIN, "AppName": "live", "StreamName": name})
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--streams", type=int, default=3000)
    ap.add_argument("--limit", type=int, default=300, help="the API's limit (the simulator's)")
    ap.add_argument("--budget-fraction", type=float, default=0.97, help="the exporter's share")
    ap.add_argument("--latency", type=float, default=0.1)
    ap.add_argument("--measure-seconds", type=float, default=30.0)
    ap.add_argument(
        "--sequential-sample",
        type=int,
        default=0,
        help="time the sequential loop over this many streams and scale up (0: all of them)",
    )
    args = ap.parse_args()
    streams = [f"stream-{i:05d}" for i in range(args.streams)]
    budget = args.limit * args.budget_fraction
    # The interval at which the streams need exactly the budget: the exporter must run flat out
    # (the config's minimum interval is 10 s: fewer streams need less).
    interval = max(10.0, args.streams / budget)
    needed = args.streams / interval
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        sim, sim_url = start_simulator(tmp, streams, args.latency, args.limit)
        try:
            t0 = time.monotonic()
            exp, exp_url = start_exporter(
                tmp, sim_url, streams, args.limit, args.budget_fraction, interval
            )
            try:
                while True:
                    try:
                        with urllib.request.urlopen(f"{exp_url}/-/ready", timeout=5) as r:
                            if r.status == 200:
                                break
                    except OSError:
                        pass
                    time.sleep(0.05)
                round_seconds = time.monotonic() - t0
                c1, m1 = counters(sim_url), time.monotonic()
                time.sleep(args.measure_seconds)
                c2, m2 = counters(sim_url), time.monotonic()
            finally:
                exp.send_signal(signal.SIGTERM)
                exp.wait(10)
            served = sum(c2.values()) - sum(c1.values())
            rate = served / (m2 - m1)
            throttled = c2.get("RequestLimitExceeded", 0)
            sample = args.sequential_sample or args.streams
            seq = sequential(sim_url, streams[:sample]) * (args.streams / sample)
        finally:
            sim.send_signal(signal.SIGTERM)
            sim.wait(10)
    print(
        f"streams: {args.streams}, latency: {args.latency * 1000:.0f} ms, API limit: "
        f"{args.limit}/s, budget: {budget:.1f}/s ({args.budget_fraction:g} of it), "
        f"interval {interval:.2f} s: the streams need {needed:.1f}/s"
    )
    print(f"exporter: first round of {args.streams} polls in {round_seconds:.1f} s")
    share = rate / needed
    print(
        f"exporter: steady rate {rate:.1f}/s over {args.measure_seconds:.0f} s = "
        f"{share:.3f} of what the streams need (target >= 0.99), "
        f"{rate / args.limit:.3f} of the API limit (target >= 0.95 at the default fraction)"
    )
    print(f"simulator: RequestLimitExceeded answers: {throttled} (target 0)")
    scaled = " (scaled from a sample)" if sample != args.streams else ""
    print(f"sequential loop: {seq:.1f} s for one round{scaled}")
    print(f"speed-up: {seq / round_seconds:.1f}x (target >= 20x)")
    ok = share >= 0.99 and throttled == 0 and seq / round_seconds >= 20
    print("RESULT:", "targets met" if ok else "targets NOT met")
    os._exit(0)


if __name__ == "__main__":
    main()
