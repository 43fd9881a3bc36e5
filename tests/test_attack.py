"""The attack harness in its short mode: every attack, a few seconds each, while a scraper scrapes.

`benchmarks/attack.py --short` starts two demo exporters (plain; TLS with basic auth) at an open
files limit of 1,024 and runs each attack with 200 connections for 3 s. Its own verdict is what
is checked: every scrape answered 200, the exporter alive, and back to its baseline after each
attack. Latency is printed, not asserted: this machine may be busy with other tests.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HARNESS = ROOT / "benchmarks" / "attack.py"


@pytest.mark.timeout(600)
def test_short_attack_run_passes() -> None:
    res = subprocess.run(
        [sys.executable, str(HARNESS), "--short"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=540,
    )
    out = res.stdout
    assert res.returncode == 0, out + res.stderr
    assert out.rstrip().endswith("PASS")
    table = out[out.index("\nattack ") :]
    for name in (
        "slowloris",
        "idle_keepalive",
        "never_reading",
        "slow_body",
        "oversized_headers",
        "smuggling",
        "callback_flood",
        "fd_exhaustion",
        "tls_handshake_stall",
        "wrong_password_tls",
    ):
        (row,) = [line for line in table.splitlines() if line.startswith(name + " ")]
        ok, total = row.split()[1].split("/")
        assert ok == total and int(total) > 0, row
        assert " yes " in row, row
    # The smuggled requests were all refused, never executed.
    (smuggling,) = [line for line in table.splitlines() if line.startswith("smuggling ")]
    assert "answers 400:" in smuggling and "200:" not in smuggling.split("answers")[1]
