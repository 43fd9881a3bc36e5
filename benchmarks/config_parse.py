"""CPU and peak RSS of parsing a big config, and of refusing YAML bombs and oversize files.

Each measurement runs in a fresh interpreter (so that its peak RSS is its own), which imports
the exporter's config package, reads the baseline RSS, then parses. The config has two accounts
and ten targets; nine streams in ten are plain names, one in ten is a mapping with a label and
``expect_live``, as a large fleet's generated config would be. Printed per size: CPU seconds
of ``load_config`` (median of ``--repeat`` runs in one process), the CPU seconds of the bare
YAML load of the same text (the peer: PyYAML's C parser alone), their ratio, and the peak RSS
above the interpreter's baseline. Targets: 100,000 streams in under 1 s of CPU (issue 22); the
200,000-stream figure is the RSS issue 21 asks for.

Then the attack cases (issue 21): "billion laughs" bombs of 5 to 9 levels of nine aliases each,
and a file one byte over the size limit, each with the time and peak RSS its refusal took.
Targets: the nine-level bomb refused in under 1 s with under 100 MB RSS.

    .venv/bin/python benchmarks/config_parse.py [--sizes 10000,100000,200000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PARSE_TARGET_CPU = {100_000: 1.0}
BOMB_TARGET_SECONDS = 1.0
BOMB_TARGET_MB = 100.0

# Runs in the child: prints one JSON line of figures.
CHILD = r"""
import json, os, resource, statistics, sys, time
sys.path.insert(0, sys.argv[1])
import yaml
from exporter.config import ConfigError, load_config

def rss_mb():
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0

path, mode, repeat = sys.argv[2], sys.argv[3], int(sys.argv[4])
env = {"SECRET_ID": "AKIDbench0000000000000000000000000000", "SECRET_KEY": "bench-key-0000"}
base = rss_mb()
out = {"base_mb": base}
if mode == "parse":
    cpu = []
    for _ in range(repeat):
        start = time.process_time()
        config = load_config(path, env=env)
        cpu.append(time.process_time() - start)
        streams = sum(len(t.streams) for t in config.targets)
        del config
    # The high-water mark of the parses alone, before the peer's node tree raises it.
    out["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    text = open(path, encoding="utf-8").read()
    yaml_cpu = []
    for _ in range(repeat):
        start = time.process_time()
        yaml.load(text, Loader=yaml.CSafeLoader)
        yaml_cpu.append(time.process_time() - start)
    out.update(cpu=statistics.median(cpu), yaml_cpu=statistics.median(yaml_cpu), streams=streams)
else:
    start_cpu, start = time.process_time(), time.monotonic()
    try:
        load_config(path, env=env)
        out["error"] = None
    except ConfigError as exc:
        out["error"] = exc.problems[0]
    except BaseException as exc:  # a traceback is a failure too; report its type
        out["error"] = f"UNCAUGHT {type(exc).__name__}"
    out.update(cpu=time.process_time() - start_cpu, wall=time.monotonic() - start)
    out["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(out))
"""


def big_config(streams: int, bare: bool = False) -> str:
    """Ten targets; one stream in ten a mapping, or (``bare``) only short bare names."""
    targets = 10
    lines = [
        "accounts:",
        "  - name: main",
        "    credentials: {secret_id: '${SECRET_ID}', secret_key: '${SECRET_KEY}'}",
        "  - name: backup",
        "targets:",
    ]
    per_target = streams // targets
    for t in range(targets):
        lines += [
            f"  - account: {'main' if t % 2 == 0 else 'backup'}",
            f"    domain: push-{t}.example.com",
            "    mode: online_list",
            "    labels: {team: video}",
            "    streams:",
        ]
        for s in range(per_target):
            name = f"s{t}-{s:06d}" if bare else f"room-{t:02d}-{s:06d}"
            if s % 10 == 0 and not bare:
                lines.append(f"      - {{name: {name}, labels: {{tier: gold}}, expect_live: true}}")
            else:
                lines.append(f"      - {name}")
    return "\n".join(lines) + "\n"


def bomb(levels: int) -> str:
    # The classic "billion laughs": each level is a list of nine aliases of the level below.
    lines = ["accounts: [{name: main}]", 'l0: &l0 ["lol"]']
    for level in range(1, levels + 1):
        lines.append(f"l{level}: &l{level} [" + ", ".join([f"*l{level - 1}"] * 9) + "]")
    lines.append(f"targets: [{{domain: d, streams: *l{levels}}}]")
    return "\n".join(lines) + "\n"


def run_child(path: Path, mode: str, repeat: int = 1) -> dict[str, object]:
    result = subprocess.run(
        [sys.executable, "-c", CHILD, str(ROOT), str(path), mode, str(repeat)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"child failed ({mode} {path}):\n{result.stderr}")
    figures: dict[str, object] = json.loads(result.stdout.strip().splitlines()[-1])
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000,200000")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--bomb-levels", default="5,6,7,8,9")
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory() as tmp:
        print(
            f"{'streams':>8} {'MB':>6} {'CPU s':>7} {'target':>7} {'YAML s':>7} {'ratio':>6}"
            f" {'peak RSS MB (+base)':>20}"
        )
        shapes = [(int(s), False) for s in args.sizes.split(",")]
        # Issue 21's shape: 200,000 bare names, about 3 MB.
        shapes.append((max(size for size, _ in shapes), True))
        for size, bare in shapes:
            path = Path(tmp) / f"config-{size}{'-bare' if bare else ''}.yaml"
            path.write_text(big_config(size, bare), encoding="utf-8")
            got = run_child(path, "parse", args.repeat)
            cpu, yaml_cpu = float(got["cpu"]), float(got["yaml_cpu"])  # type: ignore[arg-type]
            peak, base = float(got["peak_mb"]), float(got["base_mb"])  # type: ignore[arg-type]
            target = None if bare else PARSE_TARGET_CPU.get(size)
            verdict = "" if target is None else ("ok" if cpu < target else "MISSED")
            print(
                f"{size:>8}{' bare' if bare else '     '} {path.stat().st_size / 1e6:>6.1f}"
                f" {cpu:>7.2f} {'<' + format(target, 'g') if target else '-':>7} {yaml_cpu:>7.2f}"
                f" {cpu / yaml_cpu:>5.1f}x {peak:>8.0f} (+{peak - base:.0f}) {verdict}"
            )
        print()
        print(f"{'attack':>14} {'wall s':>7} {'CPU s':>7} {'peak RSS MB':>12}  refused with")
        for levels in (int(n) for n in args.bomb_levels.split(",")):
            path = Path(tmp) / f"bomb-{levels}.yaml"
            path.write_text(bomb(levels), encoding="utf-8")
            report(f"bomb {levels} lv", run_child(path, "refuse"), levels == 9)
        oversize = Path(tmp) / "oversize.yaml"
        with open(oversize, "wb") as handle:
            handle.truncate(32 * 1024 * 1024 + 1)
        report("32 MB + 1 B", run_child(oversize, "refuse"), False)


def report(name: str, got: dict[str, object], has_target: bool) -> None:
    wall, cpu, peak = (float(got[k]) for k in ("wall", "cpu", "peak_mb"))  # type: ignore[arg-type]
    verdict = ""
    if has_target:
        met = wall < BOMB_TARGET_SECONDS and peak < BOMB_TARGET_MB and got["error"]
        verdict = f"(target <{BOMB_TARGET_SECONDS:g} s, <{BOMB_TARGET_MB:g} MB: "
        verdict += ("ok" if met else "MISSED") + ")"
    error = str(got["error"])
    # The message after the file name, cut to fit a line.
    shown = error.split(".yaml", 1)[-1][:80]
    print(f"{name:>14} {wall:>7.3f} {cpu:>7.3f} {peak:>12.0f}  {shown} {verdict}")


if __name__ == "__main__":
    main()
