"""The command line as a user runs it: exit codes, one-line errors, no secrets, no tracebacks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from exporter import __version__

ROOT = Path(__file__).resolve().parent.parent
SECRET = "cli-test-secret-key-0123456789abcdef"


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("TENCENTCLOUD_")}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "exporter", *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=ROOT,
        timeout=60,
    )


def test_version() -> None:
    res = run("--version")
    assert res.returncode == 0
    assert res.stdout.startswith(f"tencent-live-exporter, version {__version__} ")


def test_example_config_checks_and_hides_secrets() -> None:
    res = run(
        "--config.check",
        "--config.file",
        "config.example.yaml",
        env={
            "TENCENTCLOUD_SECRET_ID": "AKIDcliexample0000001234",
            "TENCENTCLOUD_SECRET_KEY": SECRET,
        },
    )
    assert res.returncode == 0, res.stderr
    assert "configuration is valid" in res.stdout
    assert "AKID****1234" in res.stdout
    assert SECRET not in res.stdout + res.stderr


def test_bad_config_one_line_per_problem(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        """
accounts:
  - name: main
    budget_fraction: 5
    credentials: {secret_id: AKIDx, secret_key: 12345}
targets:
  - domain: push.example.com
    interval: 5s
    streams: [a]
    colour: red
"""
    )
    for args in (("--config.check",), ()):
        res = run(*args, "--config.file", str(path))
        assert res.returncode == 1
        lines = res.stderr.strip().splitlines()
        assert "Traceback" not in res.stderr
        assert "accounts[0].credentials.secret_key: must be a string" in lines[1]
        assert any(
            line.startswith("accounts[0].budget_fraction: impossible budget_fraction 5 ")
            for line in lines
        )
        assert "targets[0].interval: 5s is below the minimum of 10s" in lines
        assert "targets[0].colour: unknown key" in lines
        assert "12345" not in res.stderr


def test_missing_config_file(tmp_path: Path) -> None:
    res = run("--config.file", str(tmp_path / "nope.yaml"))
    assert res.returncode == 1
    assert len(res.stderr.strip().splitlines()) == 1
    assert "cannot read config" in res.stderr


def test_bad_listen_address() -> None:
    res = run("--demo", "--web.listen-address", "nonsense")
    assert res.returncode == 1
    assert res.stderr.strip().endswith("want host:port, e.g. :9879")
    assert "Traceback" not in res.stderr


def test_unknown_flag_exits_2() -> None:
    res = run("--no-such-flag")
    assert res.returncode == 2
    assert "unrecognized arguments: --no-such-flag" in res.stderr


def test_bad_web_server_flags_are_one_line_each() -> None:
    for args, message in (
        (("--web.read-timeout", "soon"), "invalid duration 'soon' (e.g. 10s, 1m)"),
        (("--web.idle-timeout", "0s"), "must be above 0, got '0s'"),
        (("--web.max-connections", "0"), "must be at least 1, got '0'"),
        (("--web.handler-threads", "many"), "invalid number 'many'"),
    ):
        res = run("--demo", *args)
        assert res.returncode == 2, args
        assert res.stderr.strip().splitlines()[-1].endswith(message), res.stderr
        assert "Traceback" not in res.stderr
    res = run("--demo", "--web.read-header-timeout", "1m", "--web.read-timeout", "10s")
    assert res.returncode == 1
    assert res.stderr.strip() == (
        "tencent-live-exporter: --web.read-timeout: must not be below --web.read-header-timeout"
    )


def test_web_server_flags_are_documented() -> None:
    readme = (ROOT / "README.md").read_text()
    res = run("--help")
    for flag in (
        "--web.enable-lifecycle",
        "--web.max-connections",
        "--web.read-header-timeout",
        "--web.read-timeout",
        "--web.write-timeout",
        "--web.idle-timeout",
        "--web.handler-threads",
        "--web.max-header-bytes",
    ):
        assert flag in res.stdout
        assert f"| `{flag}` |" in readme, flag
