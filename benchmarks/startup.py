"""Start-up and reload at scale: time to ready, CPU, RSS, and scrapes during a reload.

The simulator (its own process) has N streams online on one push domain; the exporter (the real
CLI, its own process) lists all N in its config. Measured: seconds from start to /-/ready, the
exporter's CPU seconds and RSS at ready; then ``--reloads`` reloads of a config that changes
every stream's labels (SIGHUP), with gzip scrapes every 50 ms throughout: their p50/p99/max
latency pooled over the reloads, next to the same scrapes for 2 s without a reload (the peer),
each reload's CPU seconds and the peak RSS. Printed next to the targets of the issue:

- China site (one large list page per round): ready within 5 s at 100,000 streams;
- elsewhere (100-stream pages): ready within 1.1x of the floor the list budget sets
  (pages / list budget);
- reload at 100,000 streams: scrapes p99 under 50 ms, RSS under 200 MB.

    .venv/bin/python benchmarks/startup.py [--streams 100000] [--site china|strict] [--reloads 3]
"""

from __future__ import annotations

import argparse
import compileall
import gzip
import math
import os
import re
import signal
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
DOMAIN = "push-s.example.com"
SECRET_ID = "AKIDbench0000000000000000000000000000"
SECRET_KEY = "bench-secret-key-0000000000000000"
LIST_BUDGET = 80 * 0.25  # DescribeLiveStreamOnlineList: the stricter site's 80/s x 0.25


def proc_stat(pid: int) -> tuple[float, float]:
    """(CPU seconds, RSS MB) of a process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / ticks
    rss = int(fields[21]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    return cpu, rss


def wait_line(proc: subprocess.Popen[str], pattern: str, timeout: float) -> re.Match[str]:
    deadline = time.monotonic() + timeout
    stream = proc.stdout if proc.stdout is not None else proc.stderr
    assert stream is not None
    while time.monotonic() < deadline:
        line = stream.readline()
        if not line:
            raise RuntimeError(f"process exited before printing {pattern!r}")
        match = re.search(pattern, line)
        if match:
            return match
    raise RuntimeError(f"timed out waiting for {pattern!r}")


def get(url: str, gzip: bool = False) -> int:
    headers = {"Accept-Encoding": "gzip"} if gzip else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=30) as r:
            r.read()
            return int(r.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def config(sim_url: str, streams: int, site: str, label: str) -> dict[str, object]:
    width = len(str(streams))
    account: dict[str, object] = {
        "name": "bench",
        "endpoint": sim_url,
        "credentials": {"secret_id": SECRET_ID, "secret_key": SECRET_KEY},
    }
    if site != "strict":
        account["site"] = site
    return {
        "accounts": [account],
        "targets": [
            {
                "domain": DOMAIN,
                "mode": "online_list",
                "push_info": False,
                "labels": {"variant": label},
                "streams": [f"gen-{i:0{width}d}" for i in range(streams)],
            }
        ],
    }


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--streams", type=int, default=100_000)
    ap.add_argument("--site", choices=["china", "strict"], default="china")
    ap.add_argument("--reload-wait", type=float, default=60.0, help="seconds to wait for it")
    ap.add_argument("--reloads", type=int, default=3, help="reloads measured (pooled)")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="tle-startup-"))
    width = len(str(args.streams))
    scenario = {
        "site": args.site,
        "streams": [
            {"domain": DOMAIN, "stream": f"gen-{i:0{width}d}", "state": "active"}
            for i in range(args.streams)
        ],
    }
    (tmp / "scenario.yaml").write_text(yaml.safe_dump(scenario))
    sim = subprocess.Popen(
        [
            *(sys.executable, "-m", "exporter.simulator", "--listen", "127.0.0.1:0"),
            *("--scenario", str(tmp / "scenario.yaml")),
            *("--secret-id", SECRET_ID, "--secret-key", SECRET_KEY),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=ROOT,
    )
    exporter: subprocess.Popen[str] | None = None
    try:
        sim_url = wait_line(sim, r"listening on (http://\S+)", 300).group(1)
        path = tmp / "config.yaml"
        # Both configs are written out before anything is measured: emitting 100k streams of
        # YAML takes this process a second of CPU, and its scraper thread waited for the GIL
        # meanwhile (scrapes "slow" by 60-80 ms with no reload running).
        texts = {v: yaml.safe_dump(config(sim_url, args.streams, args.site, v)) for v in "ab"}
        path.write_text(texts["a"])
        # As installed (pip compiles every module): a checkout run under PYTHONDONTWRITEBYTECODE
        # would compile the exporter's modules at each start, 0.3 s of CPU that no install pays.
        compileall.compile_dir(ROOT / "exporter", quiet=1)
        started = time.monotonic()
        exporter = subprocess.Popen(
            [
                *(sys.executable, "-m", "exporter", "--config.file", str(path)),
                *("--web.listen-address", "127.0.0.1:0"),
            ],
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        address = wait_line(exporter, r'msg="listening on ([^"]+)"', 300).group(1)
        reloaded = threading.Event()

        def read_log() -> None:
            # The reload's own line marks its end (it answers once /metrics shows the new
            # labels): no full uncompressed scrape of the benchmark's own adds to the peak.
            for line in exporter.stderr:  # type: ignore[union-attr]
                if "configuration reloaded" in line:
                    reloaded.set()

        threading.Thread(target=read_log, daemon=True).start()
        base = f"http://{address}"
        while get(f"{base}/-/ready") != 200:
            time.sleep(0.02)
        ready = time.monotonic() - started
        cpu_ready, rss_ready = proc_stat(exporter.pid)

        # The reload: every stream's labels change, so every bucket is re-rendered.
        latencies: list[float] = []
        peak = [rss_ready]
        stop = threading.Event()

        def scrape() -> None:
            while not stop.is_set():
                t0 = time.perf_counter()
                get(f"{base}/metrics", gzip=True)
                latencies.append(time.perf_counter() - t0)
                assert exporter is not None
                peak[0] = max(peak[0], proc_stat(exporter.pid)[1])
                stop.wait(0.05)

        scraper = threading.Thread(target=scrape, daemon=True)
        scraper.start()
        time.sleep(2.0)
        idle = latencies[:]  # the peer: scrapes of the same exporter with no reload running
        cpu_reload: list[float] = []
        during: list[float] = []
        rss_before = proc_stat(exporter.pid)[1]
        for n in range(args.reloads):
            label = "b" if n % 2 == 0 else "a"
            before = len(latencies)
            cpu0 = proc_stat(exporter.pid)[0]
            reloaded.clear()
            path.write_text(texts[label])
            exporter.send_signal(signal.SIGHUP)
            if not reloaded.wait(args.reload_wait):
                raise RuntimeError(f"no reload within {args.reload_wait:.0f} s")
            request = urllib.request.Request(f"{base}/metrics", headers={"Accept-Encoding": "gzip"})
            with urllib.request.urlopen(request, timeout=30) as r:
                head = gzip.GzipFile(fileobj=r).read(200_000)
            if f'variant="{label}"'.encode() not in head:
                raise RuntimeError("the reload ended but /metrics does not show its labels")
            time.sleep(1.0)
            cpu_reload.append(proc_stat(exporter.pid)[0] - cpu0)
            during += latencies[before:]
        stop.set()
        scraper.join(10)
    finally:
        if exporter is not None:
            exporter.send_signal(signal.SIGTERM)
            exporter.wait(10)
        sim.send_signal(signal.SIGTERM)
        sim.wait(10)
    pages = math.ceil(args.streams / (20_000 if args.site == "china" else 100))
    floor = pages / LIST_BUDGET
    print(f"streams: {args.streams}, site: {args.site}, list pages per round: {pages}")
    target = "5.0 s" if args.site == "china" else f"1.1 x floor {floor:.1f} s = {1.1 * floor:.1f} s"
    print(f"ready after {ready:.1f} s (target {target});", end=" ")
    print(f"CPU {cpu_ready:.1f} s, RSS {rss_ready:.0f} MB")
    p50, p99 = statistics.median(during), percentile(during, 0.99)
    print(
        f"reload ({args.reloads}x, every stream relabelled): CPU "
        f"{statistics.median(cpu_reload):.1f} s each (median); {len(during)} gzip scrapes "
        f"during them: p50 {1000 * p50:.0f} ms, p99 {1000 * p99:.0f} ms (target 50 ms), "
        f"max {1000 * max(during):.0f} ms; without a reload (peer): p50 "
        f"{1000 * statistics.median(idle):.0f} ms, max {1000 * max(idle):.0f} ms ({len(idle)})"
    )
    print(
        f"peak RSS {peak[0]:.0f} MB (target 200); {rss_ready:.0f} MB at ready, "
        f"{rss_before:.0f} MB before the first reload"
    )
    load = os.getloadavg()
    print(f"machine load (1/5 min): {load[0]:.1f} / {load[1]:.1f} on {os.cpu_count()} CPUs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
