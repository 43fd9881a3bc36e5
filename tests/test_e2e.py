"""The exporter as a process, the official SDK on the wire, the simulator as Tencent Cloud."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from exporter.simulator import Simulator
from tests.e2e import (
    SECRET_KEY,
    exporter_config,
    parse_samples,
    run_exporter,
    sample,
    start_simulator,
    state_budget,
    stream_state,
    wait_for,
)

DOMAIN = "push.example.com"
STATE = "DescribeLiveStreamState"
PUSH_INFO = "DescribeLiveStreamPushInfoList"


def scenario(streams: dict[str, str]) -> dict[str, object]:
    return {"streams": [{"domain": DOMAIN, "stream": n, "state": st} for n, st in streams.items()]}


@pytest.fixture
def sim() -> Iterator[Simulator]:
    s = start_simulator(
        scenario({"s-active": "active", "s-inactive": "inactive", "s-forbid": "forbid"})
    )
    yield s
    s.stop()


def test_states_and_changes_within_one_interval(sim: Simulator, tmp_path: Path) -> None:
    config = exporter_config(sim.url, {DOMAIN: ["s-active", "s-inactive", "s-forbid"]})
    with run_exporter(tmp_path, config) as exp:
        assert exp.get("/-/healthy")[0] == 200
        exp.wait_ready()
        m = exp.metrics()
        assert stream_state(m, "s-active") == "active"
        assert stream_state(m, "s-inactive") == "inactive"
        assert stream_state(m, "s-forbid") == "forbid"
        assert sample(m, "tencent_live_exporter_ready") == 1
        before = sample(m, "tencent_live_stream_last_change_timestamp_seconds", stream="s-active")
        # Steady state first: the start-up round is off-phase, later polls are one interval
        # apart, which is the guarantee under test.
        wait_for(
            lambda: (sample(exp.metrics(), "tencent_live_api_requests_total") or 0) >= 6,
            16,
            "second round",
        )

        sim.world.set_state(DOMAIN, "live", "s-active", "inactive")
        sim.world.set_state(DOMAIN, "live", "s-forbid", "active")
        # One interval (10 s) plus the tick and a call's latency.
        wait_for(
            lambda: (
                stream_state(exp.metrics(), "s-active") == "inactive"
                and stream_state(exp.metrics(), "s-forbid") == "active"
            ),
            11.5,
            "changes on /metrics",
        )
        after = sample(
            exp.metrics(), "tencent_live_stream_last_change_timestamp_seconds", stream="s-active"
        )
        assert before is not None and after is not None and after > before
        counted = sim.counters()[STATE]["ok"]
        assert counted >= 6  # two rounds of three streams went over the wire
        page = exp.get("/")[1].decode()
        assert "/metrics" in page and "s-active" in page
    assert exp.proc.returncode == 0
    assert all(SECRET_KEY not in line for line in exp.log_lines)


def test_faults_never_produce_false_inactive(tmp_path: Path) -> None:
    names = [f"s{i:02d}" for i in range(40)]
    sim = start_simulator(scenario(dict.fromkeys(names, "active")))
    try:
        sim.faults.set(
            STATE,
            timeout=0.15,
            timeout_hold=3.0,
            http_5xx=0.15,
            malformed_json=0.1,
            truncated_json=0.1,
            wrong_content_type=0.1,
            error_rates={"InternalError.GetStreamInfoError": 0.1, "FailedOperation": 0.1},
        )
        config = exporter_config(sim.url, {DOMAIN: names}, **state_budget(20))
        with run_exporter(tmp_path, config) as exp:
            exp.wait_ready()
            seen_codes: set[str] = set()

            # Two full intervals of faulty answers, checking every stream on every scrape.
            def all_good() -> bool:
                m = exp.metrics()
                states = {stream_state(m, n) for n in names}
                assert states <= {"active", "unknown"}, states
                for (name, labels), _ in m.items():
                    if name == "tencent_live_api_errors_total":
                        seen_codes.add(dict(labels)["code"])
                return {
                    "Timeout",
                    "HTTPError",
                    "BadResponse",
                    "InternalError.GetStreamInfoError",
                    "FailedOperation",
                } <= seen_codes

            wait_for(all_good, 25, "every fault kind counted")
            m = exp.metrics()
            # Every stream that answered at least once is active; the rest are unknown.
            confirmed = [
                n
                for n in names
                if sample(m, "tencent_live_stream_last_change_timestamp_seconds", stream=n)
            ]
            assert confirmed, "no poll succeeded at all"
            assert all(stream_state(m, n) == "active" for n in confirmed)
            assert all(stream_state(m, n) == "unknown" for n in set(names) - set(confirmed))
            errors = sample(m, "tencent_live_stream_errors_total")
            assert errors is not None and errors > 0
    finally:
        sim.stop()


def test_throttling_lowers_the_rate(sim: Simulator, tmp_path: Path) -> None:
    config = exporter_config(
        sim.url, {DOMAIN: ["s-active", "s-inactive", "s-forbid"]}, **state_budget(30)
    )
    with run_exporter(tmp_path, config) as exp:
        exp.wait_ready()
        sim.start_window("throttle", 30, action=STATE)

        def lowered() -> bool:
            m = exp.metrics()
            rate = sample(m, "tencent_live_api_allowed_requests_per_second", action=STATE)
            return rate is not None and rate < 30

        wait_for(lowered, 12, "allowed rate below budget")
        m = exp.metrics()
        assert sample(m, "tencent_live_api_errors_total", code="RequestLimitExceeded")
        assert stream_state(m, "s-inactive") == "inactive"  # state kept through throttling
        assert stream_state(m, "s-active") == "active"


def test_auth_failure_backs_off_and_never_reports_inactive(sim: Simulator, tmp_path: Path) -> None:
    config = exporter_config(
        sim.url, {DOMAIN: ["s-active", "s-inactive", "s-forbid"]}, secret_key="wrong-key-123456"
    )
    with run_exporter(tmp_path, config) as exp:
        exp.wait_ready()  # a round of failed calls still completes the round
        m = exp.metrics()
        assert sample(m, "tencent_live_api_errors_total", code="AuthFailure.SignatureFailure")
        assert (sample(m, "tencent_live_api_backoff_seconds") or 0) > 0
        for n in ("s-active", "s-inactive", "s-forbid"):
            assert stream_state(m, n) == "unknown"
        assert any("AuthFailure.SignatureFailure" in line for line in exp.log_lines)
        assert all("wrong-key-123456" not in line for line in exp.log_lines)
    # Back-off: not one call per stream per tick, just the first round's few.
    assert sum(sim.counters()[STATE].values()) <= 3


def normalize(text: str) -> str:
    """Keep the deterministic families; mask values that depend on time."""
    keep = []
    for line in text.splitlines():
        bare = line.removeprefix("# HELP ").removeprefix("# TYPE ")
        name = re.split(r"[{ ]", bare, maxsplit=1)[0]
        if line.startswith(("process_", "# HELP process_", "# TYPE process_")):
            continue
        if "python_version=" in line:
            line = re.sub(r'python_version="[^"]*"', 'python_version="X"', line)
        if not line.startswith("#") and (
            "timestamp_seconds" in name
            or name.endswith(("duration_seconds_bucket", "duration_seconds_sum"))
            or "lag_seconds" in name
            or name.startswith("tencent_live_api_allowed")
        ):
            line = line.rsplit(" ", 1)[0] + " <masked>"
        keep.append(line)
    return "\n".join(keep) + "\n"


GOLDEN_E2E = Path(__file__).parent / "golden" / "e2e.prom"


def test_golden_end_to_end_exposition(sim: Simulator, tmp_path: Path) -> None:
    config = exporter_config(sim.url, {DOMAIN: ["s-active", "s-inactive", "s-forbid"]})
    with run_exporter(tmp_path, config) as exp:
        exp.wait_ready()

        def settled() -> bool:
            m = exp.metrics()
            return (
                sample(m, "tencent_live_api_requests_total", action=STATE) == 3
                and sample(m, "tencent_live_api_requests_total", action=PUSH_INFO) == 1
                and sample(m, "tencent_live_stream_push_info", stream="s-active") == 1
            )

        wait_for(settled, 5, "first round and push info counted and rendered")
        raw = exp.get("/metrics")[1].decode()
    parse_samples(raw)
    got = normalize(raw)
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN_E2E.write_text(got)
    assert got == GOLDEN_E2E.read_text()
    if shutil.which("promtool"):
        res = subprocess.run(
            ["promtool", "check", "metrics"], input=raw, capture_output=True, text=True
        )
        assert res.returncode == 0 and not (res.stdout + res.stderr).strip(), res.stdout
