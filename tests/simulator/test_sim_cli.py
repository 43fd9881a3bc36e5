"""The tencent-live-simulator command as a subprocess."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from exporter.cssapi import ONLINE_LIST, STATE

from .support import SECRET_ID, SECRET_KEY

ROOT = Path(__file__).resolve().parents[2]


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "exporter.simulator", *args],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=ROOT,
    )


def test_serves_until_terminated(tmp_path: Path) -> None:
    from tencentcloud.common.common_client import CommonClient
    from tencentcloud.common.credential import Credential
    from tencentcloud.common.profile.client_profile import ClientProfile
    from tencentcloud.common.profile.http_profile import HttpProfile

    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "exporter.simulator",
            "--listen",
            "127.0.0.1:0",
            "--secret-id",
            SECRET_ID,
            "--secret-key",
            SECRET_KEY,
            "--generate",
            "50",
            "--seed",
            "3",
            "--scenario",
            str(ROOT / "exporter/simulator/scenarios/demo.yaml"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "listening on http://127.0.0.1:" in line, proc.stderr.read() if proc.stderr else ""
        assert "66 streams" in line
        endpoint = line.split("http://", 1)[1].split()[0]
        profile = ClientProfile(
            httpProfile=HttpProfile(protocol="http", endpoint=endpoint, reqTimeout=5)
        )
        c = CommonClient("live", "2018-08-01", Credential(SECRET_ID, SECRET_KEY), "", profile)
        c.call_json("DescribeLiveForbidStreamList", {})
        for action, params in [
            (ONLINE_LIST, {"DomainName": "push-a.example.com"}),
            (STATE, {"DomainName": "d", "AppName": "live", "StreamName": "x"}),
        ]:
            for _ in range(5):  # the demo scenario injects a few faults: retry a little
                try:
                    c.call_json(action, params)
                    break
                except Exception:
                    continue
            else:
                pytest.fail(f"{action} kept failing")
    finally:
        proc.terminate()
        assert proc.wait(timeout=5) == 0


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--listen", "nonsense", "--secret-id", "a", "--secret-key", "b"], "--listen"),
        (["--listen", "127.0.0.1:99999", "--secret-id", "a", "--secret-key", "b"], "--listen"),
        (["--secret-id", "a"], "--secret-key"),
        (["--secret-id", "a", "--secret-key", "b", "--generate", "-3"], "--generate"),
        (["--secret-id", "a", "--secret-key", "b", "--callback-url", "http://x"], "--callback-key"),
        (
            ["--secret-id", "a", "--secret-key", "b", "--scenario", "/nonexistent.yaml"],
            "--scenario",
        ),
        (["--secret-id", "a", "--secret-key", "b", "--bogus"], "--bogus"),
    ],
)
def test_bad_flags_exit_2_with_one_line(args: list[str], needle: str) -> None:
    result = run_cli(*args)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert needle in lines[0] and "Traceback" not in result.stderr


def test_bad_scenario_names_the_key(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("streams:\n  - {domain: d, stream: s, state: online}\n", encoding="utf-8")
    result = run_cli("--secret-id", "a", "--secret-key", "b", "--scenario", str(path))
    assert result.returncode == 2
    assert "streams[0].state" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_port_in_use(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        result = run_cli("--listen", f"127.0.0.1:{port}", "--secret-id", "a", "--secret-key", "b")
    assert result.returncode == 2 and "cannot listen" in result.stderr


def test_console_script_help() -> None:
    script = Path(sys.executable).parent / "tencent-live-simulator"
    if not script.exists():
        pytest.skip("package not installed in this environment")
    result = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0 and "--scenario" in result.stdout
