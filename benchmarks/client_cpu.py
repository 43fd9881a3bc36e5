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
For the push page, the SDK's typed models (tencentcloud-sdk-python-live's LiveClient, if
installed) are shown too, as a second peer.

Then the whole exporter process (``python -m exporter``, mode state, polling ``--rate`` State
calls a second) against a bare ``call_json`` loop process paced at the same rate: CPU seconds of
each process per call served (from /proc), alternating, medians. That includes the polling
around the client (scheduling, lanes, the state store, rendering); the target is the same 1.2x.

    .venv/bin/python benchmarks/client_cpu.py [--calls 400] [--pages 20] [--blocks 7]
        [--rate 200] [--process-seconds 15]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
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

LISTEN = ("--web.listen-address", "127.0.0.1:0")
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


def stream_names(count: int) -> list[str]:
    return [f"gen-{i:06d}" for i in range(count)]  # the simulator's generated names


def sim_calls(host: str) -> int:
    with urllib.request.urlopen(f"http://{host}/-/sim/counters", timeout=10) as r:
        requests: dict[str, dict[str, int]] = json.loads(r.read())["requests"]
    return sum(requests.get(cssapi.STATE, {}).values())


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of a process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(pid: int, host: str, seconds: float) -> tuple[float, float]:
    """CPU seconds of ``pid`` per State call the simulator served over ``seconds``, and the
    calls a second."""
    cpu0, calls0, t0 = process_cpu(pid), sim_calls(host), time.monotonic()
    time.sleep(seconds)
    cpu1, calls1, t1 = process_cpu(pid), sim_calls(host), time.monotonic()
    calls = max(1, calls1 - calls0)
    return (cpu1 - cpu0) / calls, calls / (t1 - t0)


def start_exporter(tmp: Path, host: str, names: list[str], rate: float) -> subprocess.Popen[str]:
    config = {
        "accounts": [
            {
                "name": "bench",
                "endpoint": f"http://{host}",
                # Room above the rate: the pacer is not what is measured.
                "budget_fraction": 1.0,
                "api_limits": {cssapi.STATE: rate * 1.25},
                "timeout": "5s",
                "credentials": {"secret_id": SECRET_ID, "secret_key": SECRET_KEY},
            }
        ],
        "targets": [
            {
                "domain": DOMAIN,
                "mode": "state",
                "interval": max(10.0, len(names) / rate),
                "streams": names,
                "push_info": False,
            }
        ],
    }
    path = tmp / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    proc = subprocess.Popen(
        [sys.executable, "-m", "exporter", "--config.file", str(path), *LISTEN],
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    for line in proc.stderr:
        m = re.search(r'msg="listening on ([^"]+)"', line)
        if m:
            # Keep draining the log so the exporter never blocks on a full pipe.
            threading.Thread(target=proc.stderr.read, daemon=True).start()
            url = f"http://{m.group(1)}/-/ready"
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                try:
                    with urllib.request.urlopen(url, timeout=5) as r:
                        if r.status == 200:
                            return proc
                except OSError:
                    time.sleep(0.1)
            break
    proc.kill()
    raise SystemExit("exporter did not get ready")


def sdk_loop(host: str, names: list[str], rate: float, seconds: float) -> None:
    """The peer process: call_json for the same streams at ``rate`` a second, one thread."""
    sdk = sdk_client(host)
    start = time.monotonic()
    i = 0
    while time.monotonic() - start < seconds:
        due = start + i / rate
        now = time.monotonic()
        if due > now:
            time.sleep(due - now)
        params = {"DomainName": DOMAIN, "AppName": "live", "StreamName": names[i % len(names)]}
        sdk.call_json(cssapi.STATE, params)
        i += 1


def processes_side_by_side(
    tmp: Path, host: str, names: list[str], rate: float, seconds: float
) -> tuple[float, float, float]:
    """Median CPU seconds per State call of the exporter process and of the bare SDK loop, and
    the exporter's calls a second."""
    ours, bare, rates = [], [], []
    for _ in range(2):
        exporter = start_exporter(tmp, host, names, rate)
        try:
            time.sleep(1.0)  # past the first round's start
            cpu, calls_per_second = measure(exporter.pid, host, seconds)
            ours.append(cpu)
            rates.append(calls_per_second)
        finally:
            exporter.send_signal(signal.SIGTERM)
            exporter.wait(30)
        peer = ("--sdk-loop", host, str(rate), str(seconds + 3), str(len(names)))
        loop = subprocess.Popen([sys.executable, __file__, *peer])
        try:
            time.sleep(1.0)
            bare.append(measure(loop.pid, host, seconds)[0])
        finally:
            loop.kill()
            loop.wait(10)
    return statistics.median(ours), statistics.median(bare), statistics.median(rates)


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


def typed_push(host: str, size: int) -> Callable[[int], object] | None:
    """A push page through the SDK's own typed client and models, if that SDK is installed."""
    try:
        from tencentcloud.live.v20180801 import live_client, models
    except ImportError:
        return None
    http = HttpProfile(protocol="http", endpoint=host, reqTimeout=10, keepAlive=True)
    client = live_client.LiveClient(
        Credential(SECRET_ID, SECRET_KEY), "", ClientProfile(httpProfile=http, language="en-US")
    )

    def call(i: int) -> object:
        request = models.DescribeLiveStreamPushInfoListRequest()
        request.PushDomain, request.AppName, request.PageNum, request.PageSize = (
            DOMAIN,
            "live",
            1,
            size,
        )
        return client.DescribeLiveStreamPushInfoList(request)

    return call


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
    ap.add_argument("--rate", type=float, default=200.0, help="State calls/s, process part")
    ap.add_argument("--process-seconds", type=float, default=15.0, help="0: skip that part")
    ap.add_argument("--sdk-loop", nargs=4, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.sdk_loop:
        host, rate, seconds, count = args.sdk_loop
        sdk_loop(host, stream_names(int(count)), float(rate), float(seconds))
        return 0
    for i in range(args.extra_env):  # what Kubernetes service links inject
        os.environ[f"BENCH_SVC_{i}_SERVICE_HOST"] = f"10.0.{i // 250}.{i % 250}"
    names = stream_names(args.streams)
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
            typed = typed_push(host, push_size)
            if typed is not None:
                ours_push, typed_cpu = side_by_side(our_push, typed, args.pages, args.blocks)
                print(
                    f"{'PushInfoList page, typed SDK':34s} exporter {ours_push * 1e3:7.3f} ms  "
                    f"sdk {typed_cpu * 1e3:7.3f} ms  ratio {ours_push / typed_cpu:5.2f}x "
                    "(LiveClient and its models: a second peer)"
                )
            if args.process_seconds > 0:
                ours_proc, bare_proc, measured = processes_side_by_side(
                    Path(d), host, names, args.rate, args.process_seconds
                )
                what = f"process, State at {measured:.0f}/s"
                ok &= line(what, ours_proc, bare_proc, STATE_TARGET)
        finally:
            sim.send_signal(signal.SIGTERM)
            sim.wait(10)
    print("RESULT:", "targets met" if ok else "targets NOT met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
