"""Signals from the first instant, on the real CLI: an early SIGHUP is never fatal, and SIGTERM
ends the process within 5 s whatever start-up or a reload is doing.

The config lists 200,000 streams, so that start-up (parsing, planning, the first list round)
takes seconds and the signals land in the middle of it. The exporters run side by side.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from exporter.simulator import Simulator, World
from tests.e2e import SECRET_ID, SECRET_KEY

DOMAIN = "push-sig.example.com"
STREAMS = 200_000


@pytest.fixture(scope="module")
def big_config(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Simulator]]:
    world = World()
    for i in range(100):
        world.add_stream(DOMAIN, "live", f"s{i:06d}", state="active")
    sim = Simulator(world, credentials={SECRET_ID: SECRET_KEY})
    sim.start()
    path = tmp_path_factory.mktemp("signals") / "config.yaml"
    config = {
        "accounts": [
            {
                "name": "sig",
                "endpoint": sim.url,
                "site": "china",
                "credentials": {"secret_id": SECRET_ID, "secret_key": SECRET_KEY},
            }
        ],
        "targets": [
            {
                "domain": DOMAIN,
                "mode": "online_list",
                "push_info": False,
                "streams": [f"s{i:06d}" for i in range(STREAMS)],
            }
        ],
    }
    path.write_text(yaml.safe_dump(config))
    yield path, sim
    sim.stop()


class Exporter:
    def __init__(self, config: Path) -> None:
        self.lines: list[str] = []
        self.proc = subprocess.Popen(
            [
                *(sys.executable, "-m", "exporter", "--config.file", str(config)),
                *("--web.listen-address", "127.0.0.1:0", "--log.level", "info"),
            ],
            stderr=subprocess.PIPE,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.started = self._wait_for_handlers()

    def _wait_for_handlers(self) -> float:
        """When the process catches SIGHUP and SIGTERM (its first statement installs them): the
        instant the test's delays count from. Before it, a signal's default action is the
        kernel's, not the exporter's, however the exporter is written; on a loaded machine the
        interpreter alone can take longer than the shortest delay."""
        wanted = (1 << (signal.SIGHUP - 1)) | (1 << (signal.SIGTERM - 1))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                status = Path(f"/proc/{self.proc.pid}/status").read_text()
            except OSError:
                break
            caught = int(status.split("SigCgt:")[1].split()[0], 16)
            if caught & wanted == wanted:
                return time.monotonic()
            time.sleep(0.005)
        raise AssertionError("the exporter never installed its signal handlers")

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line)

    def seen(self, text: str) -> bool:
        return any(text in line for line in self.lines)

    def wait_for(self, text: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.seen(text) or self.proc.poll() is not None:
                return self.seen(text)
            time.sleep(0.05)
        return False


def test_sighup_early_in_start_up_is_queued_never_fatal(big_config: tuple[Path, Simulator]) -> None:
    path, _ = big_config
    delays = (0.1, 0.5, 1.0, 2.0, 4.0)  # from the handlers' installation (see Exporter)
    exporters = [Exporter(path) for _ in delays]
    try:
        for exporter, delay in sorted(zip(exporters, delays, strict=True), key=lambda p: p[1]):
            time.sleep(max(0.0, exporter.started + delay - time.monotonic()))
            exporter.proc.send_signal(signal.SIGHUP)
        for exporter, delay in zip(exporters, delays, strict=True):
            # Alive, started, and the reload asked for ran once it could.
            assert exporter.wait_for("configuration reloaded", 120), (delay, exporter.lines[-5:])
            assert exporter.proc.poll() is None, (delay, exporter.proc.returncode)
    finally:
        for exporter in exporters:
            exporter.proc.send_signal(signal.SIGTERM)
        for exporter in exporters:
            assert exporter.proc.wait(10) == 0


@pytest.mark.parametrize("when", ["start-up", "reload"])
def test_sigterm_exits_zero_within_five_seconds(
    big_config: tuple[Path, Simulator], when: str
) -> None:
    path, _ = big_config
    exporter = Exporter(path)
    try:
        if when == "start-up":
            time.sleep(max(0.0, exporter.started + 0.5 - time.monotonic()))  # parsing
        else:
            assert exporter.wait_for("listening on", 120)
            exporter.proc.send_signal(signal.SIGHUP)  # a reload of 200,000 streams begins
            time.sleep(0.3)
        sent = time.monotonic()
        exporter.proc.send_signal(signal.SIGTERM)
        assert exporter.proc.wait(10) == 0
        assert time.monotonic() - sent < 5.0
    finally:
        if exporter.proc.poll() is None:
            exporter.proc.kill()
