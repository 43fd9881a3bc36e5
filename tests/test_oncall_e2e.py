"""On-call truth, end to end: the simulator, the exporter as a process, a real Prometheus
(Debian's /usr/bin/prometheus) with the shipped rules (every `for:` shortened to 5 s, derived
from prometheus/alerts.yml, never copied).

One story in about a minute, windows a few seconds from now (dated one-off windows):
- ``late`` is scheduled and never starts: StreamDidNotStart, not StreamDown;
- ``early`` is stopped by its encoder inside its window: StreamEndedEarly, not StreamDown;
- ``ontime`` stops cleanly near the end of its window: nothing, ever;
- ``always`` (expect_live: true) drops on a network error: StreamDown, quoting the reason;
- then the exporter is stopped, ``victim`` drops while it is down (its callback is lost), and
  the exporter comes back on the same port and state file: the event list backfills the
  interrupt (counted, with its reason) and StreamDown quotes it.
"""

from __future__ import annotations

import datetime as dt
import shutil
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from exporter.simulator import Simulator
from tests.e2e import SECRET_ID, SECRET_KEY, ExporterProcess, sample, start_simulator
from tests.test_prometheus_integration import (
    free_port,
    http_json,
    poll,
    prometheus_config,
    write_test_rules,
)

pytestmark = pytest.mark.slow

DOMAIN = "push.oncall.example.com"
KEY = "oncall-e2e-callback-key"
DOWN_AFTER = 5


def iso(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.UTC).isoformat(timespec="seconds")


def window(start: float, end: float, **extra: Any) -> dict[str, Any]:
    return {"once": [{"start": iso(start), "end": iso(end)}], **extra}


@dataclass
class Story:
    prom: str
    sim: Simulator
    config: Path
    port: int
    t0: float
    exporter: ExporterProcess
    seen: dict[tuple[str, str], list[str]] = field(
        default_factory=dict
    )  # (alert, stream) -> states

    def alerts(self) -> list[dict[str, Any]]:
        answer = http_json(f"{self.prom}/api/v1/alerts")
        alerts: list[dict[str, Any]] = answer["data"]["alerts"]
        for a in alerts:
            key = (a["labels"]["alertname"], a["labels"].get("stream", ""))
            states = self.seen.setdefault(key, [])
            if not states or states[-1] != a["state"]:
                states.append(a["state"])
        return alerts

    def firing(self, name: str, stream: str) -> dict[str, Any] | None:
        for a in self.alerts():
            labels = a["labels"]
            mine = labels["alertname"] == name and labels.get("stream") == stream
            if mine and a["state"] == "firing":
                return a
        return None

    def wait_firing(self, name: str, stream: str, timeout: float) -> dict[str, Any]:
        found: dict[str, Any] = {}

        def check() -> bool:
            alert = self.firing(name, stream)
            if alert is not None:
                found.update(alert)
            return alert is not None

        assert poll(check, timeout, interval=0.25), f"{name} did not fire for {stream}: {self.seen}"
        return found

    def until(self, t: float) -> None:
        """Watch the alerts until ``t0 + t`` (recording every state seen)."""
        poll(
            lambda: bool(self.alerts()) and time.time() >= self.t0 + t,
            self.t0 + t - time.time() + 5,
        )


def exporter_config(sim: Simulator, t0: float, state_file: Path) -> dict[str, Any]:
    scheduled = (t0 + 8, t0 + 300)
    return {
        "accounts": [
            {
                "name": "e2e",
                "endpoint": sim.url,
                "credentials": {"secret_id": SECRET_ID, "secret_key": SECRET_KEY},
                "timeout": "1s",
                "callback_keys": [KEY],
                "event_history": {"interval": "10s"},
                "callback_audit": {"enabled": False},
            }
        ],
        "targets": [
            {
                "domain": DOMAIN,
                "mode": "state",
                "interval": "10s",
                "down_after": f"{DOWN_AFTER}s",
                "labels": {"team": "studio"},
                "streams": [
                    {"name": "late", "expect_live": window(*scheduled, start_grace="5s")},
                    {"name": "early", "expect_live": window(*scheduled)},
                    # Stops at 26 s, 4 s before its window ends, with 8 s of down_after.
                    {"name": "ontime", "down_after": "8s", "expect_live": window(t0 + 8, t0 + 30)},
                    {"name": "always", "expect_live": True},
                    {"name": "victim", "expect_live": True},
                ],
            }
        ],
        "state_file": str(state_file),
    }


def at(t0: float, seconds: float) -> None:
    """Sleep until ``t0 + seconds``: the story's clock is the wall clock of three processes."""
    time.sleep(max(0.0, t0 + seconds - time.time()))


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Story]:
    binary = shutil.which("prometheus") or "/usr/bin/prometheus"
    if not Path(binary).exists():
        pytest.fail("prometheus not found: run scripts/setup (Debian's prometheus package)")
    tmp = tmp_path_factory.mktemp("oncall")
    port = free_port()
    streams = [{"domain": DOMAIN, "stream": "late", "state": "inactive"}]
    streams += [
        {"domain": DOMAIN, "stream": s, "state": "active"}
        for s in ("early", "ontime", "always", "victim")
    ]
    sim = start_simulator(
        {"streams": streams},
        callback_url=f"http://127.0.0.1:{port}/callbacks/live",
        callback_key=KEY,
    )
    t0 = time.time()
    config = tmp / "config.yaml"
    config.write_text(yaml.safe_dump(exporter_config(sim, t0, tmp / "state.json")))
    args = ["--web.listen-address", f"127.0.0.1:{port}", "--log.level", "info"]
    exporter = ExporterProcess(config, args)
    rules = tmp / "alerts.yml"
    write_test_rules(rules)
    prom_config = tmp / "prometheus.yml"
    prometheus_config(prom_config, f"127.0.0.1:{port}", rules)
    prom_port = free_port()
    log = (tmp / "prometheus.log").open("w")
    prom = subprocess.Popen(
        [
            binary,
            f"--config.file={prom_config}",
            f"--storage.tsdb.path={tmp / 'data'}",
            f"--web.listen-address=127.0.0.1:{prom_port}",
            "--log.level=warn",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{prom_port}"

    def ready() -> bool:
        try:
            with urllib.request.urlopen(f"{url}/-/ready", timeout=2) as resp:
                return bool(resp.status == 200)
        except OSError:
            return False

    story: Story | None = None
    try:
        assert poll(ready, 20), (tmp / "prometheus.log").read_text()
        story = Story(url, sim, config, port, t0, exporter)
        yield story
    finally:
        prom.send_signal(signal.SIGTERM)
        try:
            prom.wait(10)
        except subprocess.TimeoutExpired:
            prom.kill()
        log.close()
        # The restart test replaces the story's exporter: stop the one running now.
        (story.exporter if story is not None else exporter).stop()
        sim.stop()


def test_schedules_and_the_reason_in_a_real_prometheus(story: Story) -> None:
    sim, t0 = story.sim, story.t0
    at(t0, 12)
    sim.world.set_state(DOMAIN, "live", "always", "inactive", errcode=12)  # a network error
    at(t0, 14)
    sim.world.set_state(DOMAIN, "live", "early", "inactive", errcode=1)  # the encoder stopped
    at(t0, 26)
    sim.world.set_state(DOMAIN, "live", "ontime", "inactive", errcode=1)

    late = story.wait_firing("StreamDidNotStart", "late", t0 + 45 - time.time())
    early = story.wait_firing("StreamEndedEarly", "early", t0 + 45 - time.time())
    down = story.wait_firing("StreamDown", "always", t0 + 45 - time.time())
    assert (
        "Why: network, errcode 12 (Network error for the push client.)."
        in (down["annotations"]["description"])
    )
    for alert in (late, early, down):
        assert alert["labels"]["team"] == "studio"  # the target's label, for routing
        assert alert["annotations"]["runbook_url"].startswith("https://")
    assert early["labels"]["severity"] == "warning" and late["labels"]["severity"] == "critical"
    # Past the end of ontime's window and its down_after: it never raised anything, and the
    # scheduled streams never raised StreamDown (their own alerts say what happened).
    story.until(42)
    assert not [k for k in story.seen if k[1] == "ontime"], story.seen
    assert ("StreamDown", "late") not in story.seen and ("StreamDown", "early") not in story.seen


def test_a_restart_in_an_outage_is_backfilled_from_the_event_list(story: Story) -> None:
    sim = story.sim
    # The first process has read the event list for a while: its cursor is in the state file.
    assert poll(lambda: (story.config.parent / "state.json").exists(), 15)
    assert story.exporter.stop() == 0
    down_at = time.time()
    sim.world.set_state(DOMAIN, "live", "victim", "inactive", errcode=12)
    # The interrupt callback finds nobody: CSS records it as failed.
    assert poll(lambda: any(r.stream == "victim" for r in sim.world.history.callbacks()), 5)
    assert [r.result_code for r in sim.world.history.callbacks() if r.stream == "victim"] == [1]
    # Back after more than the event list's lag (10 s here: one interval).
    time.sleep(max(0.0, down_at + 11 - time.time()))
    args = ["--web.listen-address", f"127.0.0.1:{story.port}", "--log.level", "info"]
    story.exporter = ExporterProcess(story.config, args)

    def backfilled() -> bool:
        samples = story.exporter.metrics()
        value = sample(
            samples, "tencent_live_stream_interrupts_total", stream="victim", reason="network"
        )
        return value == 1.0

    assert poll(backfilled, 20), "the gap's interrupt was not backfilled from the event list"
    down = story.wait_firing("StreamDown", "victim", 40)
    # The event list says why (no errcode: the callback never arrived).
    assert (
        "Why: network (Network error for the push client.)." in down["annotations"]["description"]
    )
