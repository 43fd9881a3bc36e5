"""Three exporter processes with --shard.count 3 against one simulator."""

from __future__ import annotations

import contextlib
from pathlib import Path

import yaml

from tests.e2e import (
    ExporterProcess,
    exporter_config,
    parse_samples,
    start_simulator,
    state_budget,
    wait_for,
)

DOMAIN = "push.example.com"


STATE = "DescribeLiveStreamState"
LIMIT = 30  # the simulator's State limit, per account
# The share of it one process may spend, 9 calls a second per shard. The pacer spends all of its
# budget (exporter/ratelimit.py), so what is left is room for the timing jitter of four
# processes on a loaded 2-core machine: one call a second per shard, about 110 ms. (The pacer
# used to keep a margin of its own: its window, floor(10 / 1.03), sent 9 a second here too.)
FRACTION = 0.9


def test_three_shards_split_streams_and_the_budget(tmp_path: Path) -> None:
    names = [f"s{i:03d}" for i in range(120)]
    sim = start_simulator(
        {"streams": [{"domain": DOMAIN, "stream": n, "state": "active"} for n in names]},
        limits={STATE: LIMIT},
    )
    config = exporter_config(
        sim.url, {DOMAIN: names}, **{**state_budget(LIMIT), "budget_fraction": FRACTION}
    )
    config["targets"][0]["push_info"] = False
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    shards: list[ExporterProcess] = []
    try:
        with contextlib.ExitStack() as stack:
            for index in range(3):
                proc = ExporterProcess(path, ["--shard.count", "3", "--shard.index", str(index)])
                stack.callback(proc.stop)
                shards.append(proc)
            for proc in shards:
                proc.wait_ready(60)

            def exposed() -> list[dict[str, float]]:
                """Per shard: every stream it exposes, and 1 if it reports it active."""
                out = []
                for proc in shards:
                    streams: dict[str, float] = {}
                    for (name, labels), value in parse_samples(
                        proc.get("/metrics")[1].decode()
                    ).items():
                        label = dict(labels)
                        if name == "tencent_live_stream_state":
                            streams.setdefault(label["stream"], 0.0)
                            if label["state"] == "active":
                                streams[label["stream"]] += value
                    out.append(streams)
                return out

            def all_polled() -> bool:
                return sum(sum(s.values()) for s in exposed()) == len(names)

            wait_for(all_polled, 30, "every stream polled and active")
            per_shard = exposed()
            owners = {n: [i for i, s in enumerate(per_shard) if n in s] for n in names}
            wrong = {k: v for k, v in owners.items() if len(v) != 1}
            assert not wrong, wrong
            seen = owners
            counts = [sum(1 for v in seen.values() if v == [i]) for i in range(3)]
            assert all(20 <= c <= 60 for c in counts), counts  # a fair split of 120
            for proc in shards:
                assert any("shard " in line and "/3" in line for line in proc.log_lines)
            # Two more rounds: together the shards never exceed one process's budget, which is
            # within the simulator's limit, so it never had to answer RequestLimitExceeded.
            wait_for(
                lambda: sum(sim.counters()[STATE].values()) >= 3 * len(names), 40, "three rounds"
            )
        outcomes = sim.counters()[STATE]
        assert outcomes.get("RequestLimitExceeded", 0) == 0, outcomes
    finally:
        sim.stop()
