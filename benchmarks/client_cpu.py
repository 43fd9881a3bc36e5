"""CPU per API call: the exporter's client (exporter.client.CssClient) versus the bare official SDK.

Side by side in one run, against one simulator process over loopback: for each kind of call, the
two clients take turns in blocks (exporter, SDK, exporter, SDK, ...) on one thread, and the CPU
time of each block (``time.thread_time``) is divided by its calls. The medians over blocks are
compared:

- ``DescribeLiveStreamState``: ``CssClient.stream_state`` vs a bare ``CommonClient.call_json``
  loop (the same HttpProfile). Target: <= 1.2x.
- list pages: ``CssClient.push_page`` (1,000 DataInfoList items) and ``CssClient.online_page``
  (100 OnlineInfo items) vs ``call_json`` of the same page, i.e. the SDK's own decode of it.
  Target: <= 1.3x.

The simulator runs in its own process so that its CPU is not counted here. ``--extra-env N``
adds N environment variables first, as Kubernetes service links do (``enableServiceLinks``).

    .venv/bin/python benchmarks/client_cpu.py [--calls 400] [--pages 20] [--blocks 7]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import yaml
from tencentcloud.common.common_client import CommonClient
from tencentcloud.common.credential import Credential
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile

from exporter import cssapi
from exporter.client import ClientSettings, CssClient
from exporter.model import ApiError, StreamKey

SECRET_ID = "AKIDbench000000000000000000000000000"
SECRET_KEY = "bench-secret-key-0000000000000000000"
DOMAIN = "bench.example.com"
STATE_TARGET = 1.2
LIST_TARGET = 1.3


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_simulator(tmp: Path, streams: int) -> tuple[subprocess.Popen[bytes], str]:
    scenario = {
        "generate": {
            "count": streams,
            "domains": [DOMAIN],
            "mix": {"active": 1},
            "timeline_fraction": 0,
        },
        # No throttling: CPU is measured, not the limiter.
        "limits": {action: 1_000_000 for action in cssapi.ACTIONS},
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
    host = f"127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://{host}/-/sim/counters", timeout=5) as r:
                json.loads(r.read())
            return proc, host
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("simulator did not start")


def sdk_client(host: str) -> CommonClient:
    """The bare SDK with the profile CssClient uses."""
    http = HttpProfile(protocol="http", endpoint=host, reqTimeout=10, keepAlive=True)
    profile = ClientProfile(httpProfile=http, language="en-US")
    return CommonClient(
        cssapi.SERVICE, cssapi.API_VERSION, Credential(SECRET_ID, SECRET_KEY), "", profile
    )


def cpu_per_call(fn: Callable[[int], object], calls: int) -> float:
    start = time.thread_time()
    for i in range(calls):
        fn(i)
    return (time.thread_time() - start) / calls


def side_by_side(
    ours: Callable[[int], object], sdk: Callable[[int], object], calls: int, blocks: int
) -> tuple[float, float]:
    """Median CPU seconds per call of each, measured in alternating blocks."""
    ours(0)
    sdk(0)  # connections up, caches warm
    a, b = [], []
    for _ in range(blocks):
        a.append(cpu_per_call(ours, calls))
        b.append(cpu_per_call(sdk, calls))
    return statistics.median(a), statistics.median(b)


def check(result: object) -> object:
    if isinstance(result, ApiError):
        raise SystemExit(f"call failed: {result.code} {result.message}")
    return result


def line(what: str, ours: float, sdk: float, target: float) -> bool:
    ratio = ours / sdk
    met = "met" if ratio <= target else "NOT met"
    print(
        f"{what:34s} exporter {ours * 1e3:7.3f} ms  sdk {sdk * 1e3:7.3f} ms  "
        f"ratio {ratio:5.2f}x (target <= {target}x: {met})"
    )
    return ratio <= target


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--streams", type=int, default=3000, help="active streams in the world")
    ap.add_argument("--calls", type=int, default=400, help="State calls per block")
    ap.add_argument("--pages", type=int, default=20, help="list pages per block")
    ap.add_argument("--blocks", type=int, default=7, help="alternating blocks per client")
    ap.add_argument("--extra-env", type=int, default=0, help="add this many env variables")
    args = ap.parse_args()
    for i in range(args.extra_env):  # what Kubernetes service links inject
        os.environ[f"BENCH_SVC_{i}_SERVICE_HOST"] = f"10.0.{i // 250}.{i % 250}"
    names = [f"gen-{i:06d}" for i in range(args.streams)]
    push_size = min(1000, args.streams)
    with tempfile.TemporaryDirectory() as d:
        sim, host = start_simulator(Path(d), args.streams)
        try:
            settings = ClientSettings("bench", host, "http", 10.0, SECRET_ID, SECRET_KEY)
            ours = CssClient(settings, on_call=lambda action, seconds, error: None)
            sdk = sdk_client(host)

            def our_state(i: int) -> object:
                return check(
                    ours.stream_state(StreamKey("bench", DOMAIN, "live", names[i % len(names)]))
                )

            def sdk_state(i: int) -> object:
                params = {
                    "DomainName": DOMAIN,
                    "AppName": "live",
                    "StreamName": names[i % len(names)],
                }
                return sdk.call_json(cssapi.STATE, params)

            def our_push(i: int) -> object:
                return check(ours.push_page(DOMAIN, "live", 1, push_size))

            def sdk_push(i: int) -> object:
                params = {"PushDomain": DOMAIN, "AppName": "live", "PageNum": 1}
                return sdk.call_json(cssapi.PUSH_INFO_LIST, {**params, "PageSize": push_size})

            def our_online(i: int) -> object:
                return check(ours.online_page(DOMAIN, "live", 1, 100))

            def sdk_online(i: int) -> object:
                params = {"DomainName": DOMAIN, "AppName": "live", "PageNum": 1, "PageSize": 100}
                return sdk.call_json(cssapi.ONLINE_LIST, params)

            print(
                f"one thread, {args.blocks} alternating blocks each; CPU per call "
                f"(time.thread_time), medians; {len(os.environ)} environment variables"
            )
            ok = line(
                f"{cssapi.STATE}",
                *side_by_side(our_state, sdk_state, args.calls, args.blocks),
                STATE_TARGET,
            )
            ok &= line(
                f"PushInfoList page ({push_size} items)",
                *side_by_side(our_push, sdk_push, args.pages, args.blocks),
                LIST_TARGET,
            )
            ok &= line(
                "OnlineList page (100 items)",
                *side_by_side(our_online, sdk_online, args.pages, args.blocks),
                LIST_TARGET,
            )
        finally:
            sim.send_signal(signal.SIGTERM)
            sim.wait(10)
    print("RESULT:", "targets met" if ok else "targets NOT met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
