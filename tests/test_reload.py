"""Hot reload (POST /-/reload and SIGHUP) and graceful shutdown, on a real exporter process."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import yaml

from tests.e2e import (
    exporter_config,
    run_exporter,
    sample,
    start_simulator,
    stream_state,
    wait_for,
)

DOMAIN = "push.example.com"
OTHER = "push-b.example.com"


def scenario() -> dict[str, object]:
    return {
        "streams": [
            {"domain": DOMAIN, "stream": name, "state": state}
            for name, state in (("keep", "active"), ("drop", "inactive"), ("add", "forbid"))
        ]
    }


def test_reload_keeps_state_of_kept_streams_and_swaps_the_rest(tmp_path: Path) -> None:
    sim = start_simulator(scenario())
    try:
        config = exporter_config(sim.url, {DOMAIN: ["keep", "drop"]})
        with run_exporter(tmp_path, config) as exp:
            exp.wait_ready()
            wait_for(lambda: stream_state(exp.metrics(), "drop") == "inactive", 10, "first round")
            before = exp.metrics()
            kept_change = sample(
                before, "tencent_live_stream_last_change_timestamp_seconds", stream="keep"
            )
            requests = sample(before, "tencent_live_api_requests_total")
            assert kept_change is not None and requests is not None

            # Swap: drop one stream, add another, relabel the target.
            config["targets"][0]["streams"] = ["keep", "add"]
            config["targets"][0]["labels"] = {"team": "night"}
            (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
            # The reload dispatches the new stream's first poll at once: answered slowly, it
            # cannot land before the state right after the reload is read (over loopback it
            # sometimes did, on a loaded machine). Under the account's 1 s timeout.
            sim.faults.set("DescribeLiveStreamState", latency=0.8)
            assert exp.post("/-/reload") == (200, b"configuration reloaded\n")
            after = exp.metrics()
            sim.faults.clear()
            assert stream_state(after, "drop") is None  # its series are gone
            assert stream_state(after, "add") == "unknown"  # new: not yet polled
            assert stream_state(after, "keep") == "active"
            # The kept stream keeps its history; counters go on from where they were.
            assert (
                sample(after, "tencent_live_stream_last_change_timestamp_seconds", stream="keep")
                == kept_change
            )
            assert (sample(after, "tencent_live_api_requests_total") or 0) >= requests
            assert sample(after, "tencent_live_stream_state", stream="keep", team="night") == 1
            assert sample(after, "tencent_live_exporter_config_last_reload_successful") == 1
            wait_for(lambda: stream_state(exp.metrics(), "add") == "forbid", 15, "added polled")

            # A bad config is refused as a whole: the old one keeps running.
            (tmp_path / "config.yaml").write_text(
                yaml.safe_dump({**config, "targets": [{**config["targets"][0], "interval": "1s"}]})
            )
            status, body = exp.post("/-/reload")
            assert status == 500
            assert body.decode().strip() == "targets[0].interval: 1s is below the minimum of 10s"
            bad = exp.metrics()
            assert sample(bad, "tencent_live_exporter_config_last_reload_successful") == 0
            assert stream_state(bad, "keep") == "active"
            assert stream_state(bad, "add") == "forbid"
            assert any("reload failed" in line for line in exp.log_lines)

            # SIGHUP reloads too; a good config sets the success metric back.
            (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
            stamp_name = "tencent_live_exporter_config_last_reload_success_timestamp_seconds"
            stamp = sample(bad, stamp_name)
            exp.proc.send_signal(signal.SIGHUP)
            wait_for(
                lambda: (
                    sample(exp.metrics(), "tencent_live_exporter_config_last_reload_successful")
                    == 1
                ),
                10,
                "SIGHUP reload",
            )
            again = exp.metrics()
            assert (sample(again, stamp_name) or 0) > (stamp or 0)
            assert exp.get("/-/reload")[0] == 405
    finally:
        sim.stop()


def test_sigterm_with_calls_in_flight_exits_zero_within_five_seconds(tmp_path: Path) -> None:
    sim = start_simulator(scenario())
    try:
        config = exporter_config(sim.url, {DOMAIN: ["keep", "drop", "add"]}, timeout="10s")
        with run_exporter(tmp_path, config) as exp:
            exp.wait_ready()
            # Every call now takes 8 s: the next round's polls are stuck in flight.
            sim.faults.set("DescribeLiveStreamState", latency=8.0)
            wait_for(
                lambda: any("DescribeLiveStreamState" in k for k in sim_inflight(sim)),
                15,
                "a slow call in flight",
            )
            started = time.monotonic()
            exp.proc.send_signal(signal.SIGTERM)
            code = exp.proc.wait(10)
            elapsed = time.monotonic() - started
            assert code == 0
            assert elapsed < 5.0, elapsed
            assert any("shutting down" in line for line in exp.log_lines)
    finally:
        sim.stop()


def sim_inflight(sim: object) -> list[str]:
    """Actions with calls that arrived at the simulator (counted on arrival)."""
    counters = sim.counters()  # type: ignore[attr-defined]
    return [action for action, outcomes in counters.items() if sum(outcomes.values()) > 3]


def test_reload_keeps_the_schedule_instead_of_polling_everything_at_once(
    tmp_path: Path,
) -> None:
    # Before, every reload sent a full round at once: every state-mode stream and every list
    # round again. Now kept work keeps its slot and only what the reload added goes out.
    names = [f"s{i:02d}" for i in range(30)]
    listed = [f"l{i:02d}" for i in range(12)]
    sim = start_simulator(
        {
            "streams": [
                {"domain": d, "stream": n, "state": "active"}
                for d, group in ((DOMAIN, names), (OTHER, listed))
                for n in group
            ]
        }
    )
    try:
        config = exporter_config(sim.url, {DOMAIN: names[:-1]}, interval="10m")
        config["targets"].append(
            {"domain": OTHER, "mode": "online_list", "round_interval": "10m", "streams": listed}
        )
        with run_exporter(tmp_path, config) as exp:
            exp.wait_ready()
            wait_for(
                lambda: all(stream_state(exp.metrics(), n) == "active" for n in names[:-1]),
                15,
                "first round",
            )
            before = sim.counters()
            config["targets"][0]["streams"] = names  # one stream added
            (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
            assert exp.post("/-/reload") == (200, b"configuration reloaded\n")
            wait_for(lambda: stream_state(exp.metrics(), names[-1]) == "active", 15, "added")
            after = sim.counters()

        def calls(counts: dict[str, dict[str, int]], action: str) -> int:
            return sum(counts.get(action, {}).values())

        # 29 streams over a 10-minute cycle: at most one of them is due in these seconds.
        state = calls(after, "DescribeLiveStreamState") - calls(before, "DescribeLiveStreamState")
        assert 1 <= state <= 2
        listing = "DescribeLiveStreamOnlineList"
        assert calls(after, listing) == calls(before, listing)
    finally:
        sim.stop()
