"""``--demo``: streams in every state and some API errors soon after start; and
``./scripts/demo`` installs only what the exporter needs to run.

How soon (under a second for the exporter, about 15 s from a fresh clone with ./scripts/demo) is
measured by benchmarks/demo_start.py: the deadlines here only catch a demo that never gets there,
so that a loaded machine cannot fail them."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from tests.e2e import ExporterProcess
from tests.test_build import ROOT, clean_env, freeze, locked, shipped_files


def test_demo_shows_every_state_and_errors() -> None:
    started = time.monotonic()
    exp = ExporterProcess(None)
    try:
        states: set[str] = set()
        errors = 0.0
        while time.monotonic() - started < 60:
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


@pytest.mark.timeout(300)
def test_scripts_demo_installs_the_runtime_only(tmp_path: Path) -> None:
    """./scripts/demo in a copy of the tree with no .venv: the locked runtime and the package,
    no test tool, no Debian package; /metrics then shows every state, and a second setup of the
    runtime installs nothing. (How long it takes from a fresh clone is quoted in the README.)"""
    src = tmp_path / "tree"
    for f in shipped_files():
        dest = src / f.relative_to(ROOT)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(f, dest, follow_symlinks=False)
    # apt-get and sudo that record being called: the demo must need neither.
    stubs = tmp_path / "stubs"
    stubs.mkdir()
    calls = tmp_path / "calls"
    for name in ("apt-get", "sudo"):
        stub = stubs / name
        stub.write_text(f'#!/bin/sh\necho "{name} $*" >> "{calls}"\nexit 1\n', encoding="utf-8")
        stub.chmod(0o755)
    env = clean_env()
    env["PATH"] = f"{stubs}{os.pathsep}{env.get('PATH', '')}"

    proc = subprocess.Popen(
        [str(src / "scripts" / "demo"), "--web.listen-address", "127.0.0.1:0"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=src,
    )
    lines: list[str] = []
    try:
        assert proc.stderr is not None
        url = ""
        for line in proc.stderr:
            lines.append(line)
            m = re.search(r'msg="listening on ([^"]+)"', line)
            if m:
                url = f"http://{m.group(1)}"
                break
        assert url, "./scripts/demo did not start the exporter:\n" + "".join(lines[-30:])
        threading.Thread(target=proc.stderr.read, daemon=True).start()
        states: set[str] = set()
        deadline = time.monotonic() + 60
        while not {"active", "inactive", "forbid"} <= states and time.monotonic() < deadline:
            with urllib.request.urlopen(url + "/metrics", timeout=10) as resp:
                body = resp.read().decode()
            states = set(
                re.findall(r'^tencent_live_stream_state\{[^}]*state="(\w+)"[^}]*\} 1', body, re.M)
            )
            time.sleep(0.25)
        assert {"active", "inactive", "forbid"} <= states, states
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(20)
    assert code == 0

    assert not calls.exists(), calls.read_text(encoding="utf-8")
    assert freeze(src / ".venv" / "bin" / "python", src) == locked()
    again = subprocess.run(
        [str(src / "scripts" / "setup"), "runtime"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=src,
    )
    assert again.returncode == 0, again.stderr
    assert again.stdout == "", f"a second setup installed again:\n{again.stdout}"
