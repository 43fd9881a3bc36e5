"""How many DescribeLiveStreamState calls per second the simulator serves to the official SDK.

Starts a simulator in this process with a generated world, then drives it from 16 concurrent
clients (several processes x threads, each thread with its own CommonClient, because the
Python SDK is CPU-heavy and one process would measure the GIL rather than the server).

    .venv/bin/python benchmarks/simulator_throughput.py [--seconds 10] [--processes 4]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import random
import threading
import time
from typing import Any

from exporter.cssapi import STATE
from exporter.simulator import Simulator, World

TARGET_PER_SECOND = 600
SECRET_ID = "AKIDbenchmark"
SECRET_KEY = "benchmark-secret-key"


def _worker(
    endpoint: str,
    threads: int,
    start_at: float,
    stop_at: float,
    names: list[tuple[str, str]],
    seed: int,
    results: Any,
) -> None:
    from tencentcloud.common.common_client import CommonClient
    from tencentcloud.common.credential import Credential
    from tencentcloud.common.exception.tencent_cloud_sdk_exception import (
        TencentCloudSDKException,
    )
    from tencentcloud.common.profile.client_profile import ClientProfile
    from tencentcloud.common.profile.http_profile import HttpProfile

    counts = {"ok": 0, "error": 0}
    lock = threading.Lock()

    def run(thread_seed: int) -> None:
        rng = random.Random(thread_seed)
        profile = ClientProfile(
            httpProfile=HttpProfile(protocol="http", endpoint=endpoint, reqTimeout=10)
        )
        client = CommonClient("live", "2018-08-01", Credential(SECRET_ID, SECRET_KEY), "", profile)
        ok = errors = 0
        while time.time() < start_at:
            time.sleep(0.005)
        while time.time() < stop_at:
            domain, stream = names[rng.randrange(len(names))]
            params = {"DomainName": domain, "AppName": "live", "StreamName": stream}
            try:
                client.call_json(STATE, params)
                ok += 1
            except TencentCloudSDKException:
                errors += 1
        with lock:
            counts["ok"] += ok
            counts["error"] += errors

    pool = [threading.Thread(target=run, args=(seed * 100 + i,)) for i in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    results.put(counts)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--threads", type=int, default=4, help="client threads per process")
    parser.add_argument("--streams", type=int, default=100_000)
    args = parser.parse_args()

    built = time.perf_counter()
    world = World.generate(args.streams, seed=1)
    build_seconds = time.perf_counter() - built
    names = [(s.domain, s.stream) for s in world.streams()[:: max(1, args.streams // 5000)]]
    sim = Simulator(world, credentials={SECRET_ID: SECRET_KEY}).start()
    sim.set_limit(STATE, 1_000_000)  # measure the server, not the documented 300/s limit
    ctx = mp.get_context("spawn")
    results = ctx.Queue()
    start_at = time.time() + 3.0  # let every process import the SDK before the clock starts
    stop_at = start_at + args.seconds
    procs = [
        ctx.Process(
            target=_worker,
            args=(sim.endpoint, args.threads, start_at, stop_at, names, i, results),
        )
        for i in range(args.processes)
    ]
    try:
        for proc in procs:
            proc.start()
        totals = {"ok": 0, "error": 0}
        for _ in procs:
            counts = results.get(timeout=args.seconds + 60)
            totals["ok"] += counts["ok"]
            totals["error"] += counts["error"]
        for proc in procs:
            proc.join(10)
    finally:
        sim.stop()
    served = sim.counters().get(STATE, {})
    rate = totals["ok"] / args.seconds
    clients = args.processes * args.threads
    print(f"world: {len(world)} streams built in {build_seconds:.2f}s")
    print(
        f"clients: {clients} ({args.processes} processes x {args.threads} threads), "
        f"{args.seconds:.0f}s"
    )
    print(f"calls ok: {totals['ok']}, errors: {totals['error']}, server counters: {served}")
    print(
        f"throughput: {rate:.0f} calls/s, {rate / TARGET_PER_SECOND:.2f}x the "
        f"{TARGET_PER_SECOND}/s target"
    )
    return 0 if rate >= TARGET_PER_SECOND else 1


if __name__ == "__main__":
    raise SystemExit(main())
