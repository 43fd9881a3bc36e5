"""``--demo``: within 10 s of start, streams in every state and some API errors."""

from __future__ import annotations

import time

from tests.e2e import ExporterProcess


def test_demo_shows_every_state_and_errors_within_10s() -> None:
    started = time.monotonic()
    exp = ExporterProcess(None)
    try:
        states: set[str] = set()
        errors = 0.0
        while time.monotonic() - started < 10:
            samples = exp.metrics()
            states = {
                dict(labels)["state"]
                for (name, labels), v in samples.items()
                if name == "tencent_live_stream_state" and v == 1
            }
            errors = sum(
                v for (name, _), v in samples.items() if name == "tencent_live_api_errors_total"
            )
            if {"active", "inactive", "forbid"} <= states and errors > 0:
                break
            time.sleep(0.25)
        assert {"active", "inactive", "forbid"} <= states
        assert errors > 0
    finally:
        assert exp.stop() == 0
