"""The exporter process against a simulator whose gateway misbehaves: HTTP 429 and 503 slow the
action down as RequestLimitExceeded does, and an answer trickling in is a Timeout at the deadline
that never holds the poll workers (issue 23: both were invisible before)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from exporter.cssapi import STATE
from exporter.simulator import Simulator
from tests.e2e import (
    exporter_config,
    run_exporter,
    sample,
    start_simulator,
    state_budget,
    stream_state,
    wait_for,
)

DOMAIN = "push.example.com"
STREAMS = ["s-active", "s-inactive", *(f"s-{i}" for i in range(6))]


@pytest.fixture
def sim() -> Iterator[Simulator]:
    simulator = start_simulator(
        {
            "streams": [
                {"domain": DOMAIN, "stream": "s-active", "state": "active"},
                {"domain": DOMAIN, "stream": "s-inactive", "state": "inactive"},
            ]
        }
    )
    yield simulator
    simulator.stop()


@pytest.mark.parametrize("kind", ["http_429", "http_503"])
def test_gateway_429_and_503_lower_the_allowed_rate(
    sim: Simulator, tmp_path: Path, kind: str
) -> None:
    config = exporter_config(sim.url, {DOMAIN: STREAMS}, interval="10s", **state_budget(30))
    with run_exporter(tmp_path, config) as exp:
        exp.wait_ready()
        sim.start_window(kind, 30, action=STATE)

        def lowered() -> bool:
            rate = sample(
                exp.metrics(), "tencent_live_api_allowed_requests_per_second", action=STATE
            )
            return rate is not None and rate < 30

        wait_for(lowered, 15, f"allowed rate below the budget after {kind}")
        m = exp.metrics()
        code = "HTTPError." + kind.removeprefix("http_")
        assert sample(m, "tencent_live_api_errors_total", action=STATE, code=code)
        # Throttling is no verdict: the states found before stay.
        assert stream_state(m, "s-active") == "active"
        assert stream_state(m, "s-inactive") == "inactive"


def test_trickling_answers_are_timeouts_and_polling_recovers(
    sim: Simulator, tmp_path: Path
) -> None:
    config = exporter_config(sim.url, {DOMAIN: STREAMS}, interval="10s")  # timeout: 1s
    with run_exporter(tmp_path, config) as exp:
        exp.wait_ready()
        # One byte a second: with a per-read timeout each call would last minutes.
        sim.faults.set(STATE, trickle=1.0, trickle_bytes_per_second=1)

        def timeouts() -> float:
            value = sample(
                exp.metrics(), "tencent_live_api_errors_total", action=STATE, code="Timeout"
            )
            return value or 0.0

        wait_for(lambda: timeouts() >= 4, 25, "trickling calls counted as Timeout")
        m = exp.metrics()
        requests = sample(m, "tencent_live_api_requests_total", action=STATE) or 0
        assert requests >= 4
        assert any("Timeout" in line and sim.endpoint in line for line in exp.log_lines)

        sim.faults.clear()
        sim.world.set_state(DOMAIN, "live", "s-inactive", "active")
        # The workers were never held: the next polls see the change.
        wait_for(
            lambda: stream_state(exp.metrics(), "s-inactive") == "active",
            25,
            "polling recovered after the trickle",
        )
