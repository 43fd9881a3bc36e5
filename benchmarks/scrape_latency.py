"""/metrics latency at 10,000 and 100,000 streams while polling updates the store.

The exporter's exposition (store, buckets, web server) runs in this process with a writer thread
that applies a full list round to every stream each second and changes 1% of the streams'
states (far busier than real polling); scrapes come from curl in other processes, as Prometheus
would. Beside it, the naive approach measured in the same run: a prometheus_client custom
collector that builds every stream's families on each scrape. Targets: median <= 10 ms at 10k,
<= 150 ms at 100k.

    .venv/bin/python benchmarks/scrape_latency.py [--sizes 10000 100000] [--scrapes 40]
"""

from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from exporter.exposition import Exposition
from exporter.metrics import ExporterMetrics
from exporter.model import ALL_STATES, Source, StreamKey, StreamState, Verdict
from exporter.render import Renderer
from exporter.state import Policy, StateStore
from exporter.web import WebServer
from tests.fakes import FakeBackend

EXTRA = (("env", "prod"), ("team", "studio"))
STATES = (StreamState.ACTIVE, StreamState.INACTIVE)


class Backend(FakeBackend):
    callback_path: str | None = None

    def __init__(self, exposition: Exposition) -> None:
        self.exposition = exposition

    def metrics_chunks(self, openmetrics: bool, compressed: bool) -> list[bytes]:
        return self.exposition.render_chunks(openmetrics=openmetrics, compressed=compressed)


class NaiveCollector(Collector):
    """What the issue calls the naive path: every stream's families built on every scrape."""

    def __init__(self, store: StateStore) -> None:
        self.store = store

    def collect(self) -> Iterator[Metric]:
        labels = ["account", "domain", "app", "stream", "env", "team"]
        state = GaugeMetricFamily("tencent_live_stream_state", "x", labels=[*labels, "state"])
        change = GaugeMetricFamily(
            "tencent_live_stream_last_change_timestamp_seconds", "x", labels=[*labels, "source"]
        )
        errors = CounterMetricFamily("tencent_live_stream_errors", "x", labels=[*labels, "code"])
        for key, status in self.store.snapshot().items():
            values = [key.account, key.domain, key.app, key.stream, "prod", "studio"]
            for s in ALL_STATES:
                state.add_metric([*values, s.value], 1.0 if s is status.state else 0.0)
            if status.last_change is not None:
                change.add_metric([*values, status.change_source or ""], status.last_change)
            for code, count in status.errors_by_code:
                errors.add_metric([*values, code], count)
        yield state
        yield change
        yield errors


def curl_time(url: str, gzip: bool) -> tuple[float, int]:
    args = ["curl", "-s", "-o", "/dev/null", "-w", "%{time_total} %{size_download}", url]
    if gzip:
        args[1:1] = ["-H", "Accept-Encoding: gzip"]
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout.split()
    return float(out[0]), int(out[1])


def run(size: int, scrapes: int, period: float) -> dict[str, float]:
    metrics = ExporterMetrics()
    wake = threading.Event()
    expo = Exposition(metrics.registry, dirty=wake)
    store = StateStore(changed=wake)
    renderer = Renderer(store, expo, wake)
    keys = [
        StreamKey("main", f"push-{i % 10}.example.com", "live", f"stream-{i:06d}")
        for i in range(size)
    ]
    expo.set_streams((k, EXTRA, None) for k in keys)
    policy = Policy(180, 1800)
    for k in keys:
        store.add(k, policy)
    rng = random.Random(1)
    now = time.time()
    active = set(rng.sample(keys, size // 2))
    store.apply_bulk(active, Verdict(StreamState.ACTIVE, now, Source.ONLINE_LIST), now)
    store.apply_bulk(
        (k for k in keys if k not in active),
        Verdict(StreamState.INACTIVE, now, Source.ONLINE_LIST),
        now,
    )
    renderer.sync()

    stop = threading.Event()
    rounds = [0]

    def poll() -> None:
        # A list round over every stream each `period` seconds (real rounds are 60 s apart),
        # with 1% of the streams changing state in each.
        while not stop.is_set():
            t = time.time()
            for k in rng.sample(keys, size // 100):
                if k in active:
                    active.discard(k)
                else:
                    active.add(k)
            store.apply_bulk(active, Verdict(StreamState.ACTIVE, t, Source.ONLINE_LIST), t)
            store.apply_bulk(
                (k for k in keys if k not in active),
                Verdict(StreamState.INACTIVE, t, Source.ONLINE_LIST),
                t,
            )
            rounds[0] += 1
            stop.wait(period)

    web = WebServer("127.0.0.1:0", Backend(expo))
    web.start()
    renderer.start()  # the exporter's own render thread
    threads = [threading.Thread(target=poll, daemon=True)]
    for t in threads:
        t.start()
    url = f"http://127.0.0.1:{web.port}/metrics"
    try:
        curl_time(url, False)  # warm up
        plain = [curl_time(url, False) for _ in range(scrapes)]
        packed = [curl_time(url, True) for _ in range(scrapes)]
    finally:
        stop.set()
        renderer.stop()
        web.stop()
    naive_registry = CollectorRegistry()
    naive_registry.register(NaiveCollector(store))
    naive = []
    for _ in range(max(3, scrapes // 10)):
        started = time.perf_counter()
        generate_latest(naive_registry)
        naive.append(time.perf_counter() - started)
    return {
        "plain_ms": statistics.median(t for t, _ in plain) * 1000,
        "plain_p90_ms": sorted(t for t, _ in plain)[int(0.9 * len(plain))] * 1000,
        "plain_mb": plain[-1][1] / 1e6,
        "gzip_ms": statistics.median(t for t, _ in packed) * 1000,
        "gzip_mb": packed[-1][1] / 1e6,
        "naive_ms": statistics.median(naive) * 1000,
        "rounds": rounds[0],
    }


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--scrapes", type=int, default=40)
    ap.add_argument("--round-period", type=float, default=10.0, help="seconds between rounds")
    args = ap.parse_args()
    targets = {10_000: 10.0, 100_000: 150.0}
    ok = True
    print(
        f"{'streams':>8} {'median':>9} {'p90':>9} {'body':>8} {'gzip median':>12} "
        f"{'gzip body':>10} {'naive':>9} {'naive/ours':>10} {'target':>7}"
    )
    for size in args.sizes:
        r = run(size, args.scrapes, args.round_period)
        target = targets.get(size)
        ok = ok and (target is None or (r["plain_ms"] <= target and r["gzip_ms"] <= target))
        print(
            f"{size:8d} {r['plain_ms']:7.1f}ms {r['plain_p90_ms']:7.1f}ms {r['plain_mb']:6.1f}MB "
            f"{r['gzip_ms']:10.1f}ms {r['gzip_mb']:8.2f}MB {r['naive_ms']:7.0f}ms "
            f"{r['naive_ms'] / r['plain_ms']:9.1f}x {target or '-':>7}  "
            f"({r['rounds']} list rounds of all streams, 1% changing, meanwhile)"
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
