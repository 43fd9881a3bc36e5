"""``--demo``: within 10 s of start, streams in every state and some API errors."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request

from tests.e2e import parse_samples


def test_demo_shows_every_state_and_errors_within_10s() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "exporter", "--demo", "--web.listen-address", "127.0.0.1:0"],
        stderr=subprocess.PIPE,
        text=True,
    )
    started = time.monotonic()
    try:
        assert proc.stderr is not None
        url = ""
        for line in proc.stderr:
            m = re.search(r'msg="listening on ([^"]+)"', line)
            if m:
                url = f"http://{m.group(1)}/metrics"
                break
        assert url, "exporter did not start"
        threading.Thread(target=proc.stderr.read, daemon=True).start()
        states: set[str] = set()
        errors = 0.0
        while time.monotonic() - started < 10:
            with urllib.request.urlopen(url, timeout=5) as resp:
                samples = parse_samples(resp.read().decode())
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
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
