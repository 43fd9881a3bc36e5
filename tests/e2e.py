"""Helpers for tests that run the exporter as a real process against the simulator."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml
from prometheus_client.parser import text_string_to_metric_families

from exporter.simulator import Simulator, World, load_scenario

SECRET_ID = "AKIDe2etest0000000000000000000000000"
SECRET_KEY = "e2e-secret-key-do-not-log-0123456789"

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def start_simulator(scenario: dict[str, Any], **kwargs: Any) -> Simulator:
    world = World.from_scenario(load_scenario(scenario))
    sim = Simulator(world, credentials={SECRET_ID: SECRET_KEY}, host="127.0.0.1", port=0, **kwargs)
    sim.start()
    return sim


def exporter_config(
    sim_url: str,
    streams: dict[str, list[str]],
    interval: str = "10s",
    secret_key: str = SECRET_KEY,
    mode: str = "state",
    **account: Any,
) -> dict[str, Any]:
    acc = {
        "name": "e2e",
        "endpoint": sim_url,
        "credentials": {"secret_id": SECRET_ID, "secret_key": secret_key},
        "timeout": "1s",
        **account,
    }
    targets = [
        {"domain": domain, "interval": interval, "mode": mode, "streams": names}
        for domain, names in streams.items()
    ]
    return {"accounts": [acc], "targets": targets}


def state_budget(rate: float) -> dict[str, Any]:
    """Account settings allowing exactly ``rate`` DescribeLiveStreamState calls per second."""
    return {"budget_fraction": 1.0, "api_limits": {"DescribeLiveStreamState": rate}}


class ExporterProcess:
    """``python -m exporter`` on a free loopback port, its log captured for assertions."""

    def __init__(
        self,
        config_path: Path | None,
        extra_args: list[str] | None = None,
        interpreter_args: list[str] | None = None,
        lifecycle: bool = True,
    ) -> None:
        """Without ``config_path``, the exporter runs with ``--demo``. ``lifecycle``: with
        ``--web.enable-lifecycle`` (the tests POST /-/reload)."""
        self.log_lines: list[str] = []
        self._listening = threading.Event()
        self.url = ""
        args = [
            sys.executable,
            *(interpreter_args or []),
            "-m",
            "exporter",
            *(["--config.file", str(config_path)] if config_path is not None else ["--demo"]),
            "--web.listen-address",
            "127.0.0.1:0",
            "--log.level",
            "debug",
            *(["--web.enable-lifecycle"] if lifecycle else []),
            *(extra_args or []),
        ]
        env = {k: v for k, v in os.environ.items() if not k.startswith("TENCENTCLOUD_")}
        self.proc = subprocess.Popen(
            args, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        if not self._listening.wait(20):
            self.stop()
            raise RuntimeError("exporter did not start:\n" + "\n".join(self.log_lines))

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.log_lines.append(line.rstrip("\n"))
            m = re.search(r'msg="listening on ([^"]+)"', line)
            if m:
                self.url = f"http://{m.group(1)}"
                self._listening.set()

    def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        req = urllib.request.Request(self.url + path, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=5) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def post(
        self, path: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> tuple[int, bytes]:
        req = urllib.request.Request(self.url + path, data=body, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def metrics(self) -> Samples:
        status, body = self.get("/metrics")
        assert status == 200
        return parse_samples(body.decode())

    def wait_ready(self, timeout: float = 30) -> None:
        wait_for(lambda: self.get("/-/ready")[0] == 200, timeout, "exporter ready")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._reader.join(5)
        return self.proc.returncode


@contextmanager
def run_exporter(
    tmp_path: Path, config: dict[str, Any], extra_args: list[str] | None = None
) -> Iterator[ExporterProcess]:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    proc = ExporterProcess(path, extra_args)
    try:
        yield proc
    finally:
        proc.stop()


def parse_samples(text: str) -> Samples:
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def sample(samples: Samples, name: str, **labels: str) -> float | None:
    want = set(labels.items())
    hits = [v for (n, ls), v in samples.items() if n == name and want <= ls]
    if not hits:
        return None
    return sum(hits)


def stream_state(samples: Samples, stream: str) -> str | None:
    for (name, labels), value in samples.items():
        if name == "tencent_live_stream_state" and ("stream", stream) in labels and value == 1:
            return dict(labels)["state"]
    return None


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll an external process's observable state until it holds (nothing to wait on)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")
