"""Every script in benchmarks/ still runs: a short run of each, which must exit 0 and print its
figure lines. The figures themselves are not judged here (a loaded CI machine makes them noisy:
they are for the scripts' full runs); that the scripts run as shipped is.

Scripts that judge a timing target (a latency, a rate) exit 1 when it is missed, which a short
run on a loaded 2-core machine may do: for those, 1 is a report and is accepted. A crash still
fails: it prints a traceback, or a message instead of the figure lines.

A new script needs an entry in SHORT_RUNS, or the index test fails: none can rot unnoticed.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = ROOT / "benchmarks"


@dataclass(frozen=True)
class ShortRun:
    args: tuple[str, ...]
    figures: tuple[str, ...]  # regular expressions, each matching some line of the output
    # (0, 1) for the scripts whose exit status reports a timing target, or targets a short run
    # cannot all meet (the soak needs minutes to draw every fault): 1 is a report, not a crash.
    exit_codes: tuple[int, ...] = (0,)


REPORTS = (0, 1)


SHORT_RUNS: dict[str, ShortRun] = {
    "api_cost.py": ShortRun(
        ("--streams", "200"),
        (r"^\s+total\s+\d+ calls/hour$", r"^auto / state = [\d.]+% \(target <= 2%\)$"),
    ),
    "attack.py": ShortRun(
        ("--short", "--only", "slowloris"),
        (r"^slowloris\s+\d+/\d+\s+[\d.]+\s+[\d.]+", r"^(PASS|FAIL)"),
        exit_codes=REPORTS,
    ),
    "client_cpu.py": ShortRun(
        (
            *("--streams", "200", "--calls", "50", "--pages", "3", "--blocks", "3"),
            *("--rate", "100", "--process-seconds", "2"),
        ),
        (
            r"^DescribeLiveStreamState\s+exporter\s+[\d.]+ ms\s+sdk\s+[\d.]+ ms\s+ratio\s+[\d.]+x",
            r"^PushInfoList page \(200 items\)\s+exporter\s+[\d.]+ ms.*ratio\s+[\d.]+x",
            r"^OnlineList page \(100 items\)\s+exporter\s+[\d.]+ ms.*ratio\s+[\d.]+x",
            r"^process, State at \d+/s\s+exporter\s+[\d.]+ ms.*ratio\s+[\d.]+x",
            r"^RESULT: targets (NOT )?met$",
        ),
    ),
    "config_parse.py": ShortRun(
        ("--sizes", "1000", "--repeat", "1", "--bomb-levels", "3"),
        (r"^\s+1000\s+[\d.]+\s+[\d.]+", r"bomb 3 lv\s+[\d.]+\s+[\d.]+"),
    ),
    "demo_start.py": ShortRun(
        ("--runs", "1"),
        (r"^exporter alone \(1 runs\): listening after [\d.]+ s, every state .* after [\d.]+ s",),
        exit_codes=REPORTS,
    ),
    "detection_latency.py": ShortRun(
        ("--changes", "10", "--polling-changes", "1"),
        (
            r"^with callbacks\s+n=\s+10\s+p50\s+[\d.]+ ms\s+p99\s+[\d.]+ ms",
            r"^polling only\s+n=\s+1\s+p50\s+[\d.]+ ms",
        ),
        exit_codes=REPORTS,
    ),
    "memory.py": ShortRun(
        ("--streams", "500", "--warmup", "2", "--duration", "3"),
        (r"^RSS over .* peak [\d.]+ MB \(target <= 200 MB\)$", r"^streams tracked: 500;"),
        exit_codes=REPORTS,
    ),
    "playback_cost.py": ShortRun(
        ("--streams", "200", "--play-domains", "1"),
        (r"^\s+playback in all\s+\d+ calls/hour \(target < 200\)$",),
    ),
    "poll_throughput.py": ShortRun(
        ("--streams", "300", "--measure-seconds", "3", "--sequential-sample", "20"),
        (
            r"^exporter: first round of 300 polls in [\d.]+ s$",
            r"^exporter: steady rate [\d.]+/s over 3 s = [\d.]+ of what the streams need",
            r"^simulator: RequestLimitExceeded answers: \d+ \(target 0\)$",
            r"^speed-up: [\d.]+x \(target >= 20x\)$",
        ),
    ),
    "schedule_edges.py": ShortRun(
        ("--streams", "2000", "--repeat", "1"),
        (
            r"^\s+schedule_tick between edges: median [\d.]+ us",
            r"^\s+schedule_tick at an edge: [\d.]+ ms, [\d,]+ streams marked$",
            r"^\s+ratio: [\d.]+x the time for [\d.]+x the text",
        ),
    ),
    "scrape_latency.py": ShortRun(
        ("--sizes", "500", "--scrapes", "5", "--round-period", "1"),
        (r"^\s+500\s+[\d.]+ms\s+[\d.]+ms\s+[\d.]+MB",),
        exit_codes=REPORTS,
    ),
    "simulator_throughput.py": ShortRun(
        ("--seconds", "2", "--processes", "1", "--threads", "2", "--streams", "500"),
        (r"^throughput: \d+ calls/s, [\d.]+x the \d+/s target$",),
        exit_codes=REPORTS,
    ),
    "soak.py": ShortRun(
        (
            *("--streams", "200", "--state-streams", "10", "--clients", "2"),
            *("--duration", "12", "--warmup", "3", "--window", "3", "--reload-every", "5"),
            # Rounds every 10 s, not a minute: the streams converge soon after the drain.
            *("--round-interval", "10"),
        ),
        (
            r"^RSS: [\d.]+ MB after the warm-up, [\d.]+ MB at the end",
            r"^calls by action, served by the simulator vs counted by the exporter:$",
            r"^RESULT: (PASS|FAIL)",
        ),
        exit_codes=REPORTS,
    ),
    "startup.py": ShortRun(
        ("--streams", "500", "--reload-wait", "20", "--reloads", "2"),
        (
            r"^ready after [\d.]+ s \(target [\d.]+ s\)",
            r"^reload \(2x, .*\d+ gzip scrapes during them: p50 \d+ ms, p99 \d+ ms",
            r"without a reload \(peer\): p50 \d+ ms",
            r"^peak RSS \d+ MB \(target 200\)",
        ),
    ),
    "statuspage_render.py": ShortRun(
        ("--sizes", "300", "--renders", "2"),
        (r"median\s+[\d.]+ ms", r"^target: every query < 200 ms"),
        exit_codes=REPORTS,
    ),
}


def test_every_benchmark_has_a_short_run() -> None:
    scripts = {p.name for p in BENCHMARKS.glob("*.py")}
    assert scripts == set(SHORT_RUNS), (
        f"without a short run: {sorted(scripts - set(SHORT_RUNS))}; "
        f"gone: {sorted(set(SHORT_RUNS) - scripts)}"
    )


@pytest.mark.parametrize("script", sorted(SHORT_RUNS))
def test_benchmark_runs(script: str) -> None:
    run = SHORT_RUNS[script]
    env = {k: v for k, v in os.environ.items() if not k.startswith("TENCENTCLOUD_")}
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), *run.args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    output = done.stdout + done.stderr
    tail = "\n".join(output.splitlines()[-30:])
    assert done.returncode in run.exit_codes, f"{script} exited {done.returncode}:\n{tail}"
    assert "Traceback" not in output, tail
    for figure in run.figures:
        assert re.search(figure, done.stdout, re.MULTILINE), f"{script}: no line {figure!r}\n{tail}"
