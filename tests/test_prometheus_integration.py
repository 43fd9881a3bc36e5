"""A real Prometheus (Debian's /usr/bin/prometheus) scraping the exporter in demo mode.

1. A scripted outage in the simulator (an expected-live stream goes inactive) makes StreamDown go
   pending, then firing, in that Prometheus. The rules are prometheus/alerts.yml with every
   ``for:`` shortened to 5 s (derived here, never copied); the demo gives its expected-live streams
   a down_after of 30 s.
2. Every PromQL expression of every dashboard panel, every template variable query and every rule
   (prometheus/alerts.yml and the Grafana-managed rules) parses and returns data through the HTTP
   API. An expression that can legitimately be empty in the demo is listed in MAY_BE_EMPTY with the
   reason.
"""

from __future__ import annotations

import json
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e import ExporterProcess
from tests.test_dashboards import (
    ALERTS_FILE,
    alert_rules,
    all_panels,
    dashboard_files,
    grafana_rule_query,
    grafana_rules,
    load_dashboard,
    metric_names,
    variable_query,
)

ROOT = Path(__file__).resolve().parent.parent
PROMETHEUS_CONFIG = ROOT / "prometheus" / "prometheus.yml"
SHORT_FOR = 5  # seconds: every rule's `for:` in the test-only rules file

# The outage: studio-b is expected live (the demo marks "studio" and "main" streams
# expect_live: true) and setting its state drops its timeline, so it stays inactive. sports-main,
# the other expected-live stream, keeps a fixed active state: the stream-detail dashboard is
# evaluated for it, push quality included.
OUTAGE = {"domain": "push.demo-a.example.com", "app": "live", "stream": "studio-b"}
# Values picked for single-value template variables (Grafana's first option otherwise); variables
# with "All" are evaluated with their allValue (.*).
PREFERRED_VALUES = {
    "account": "demo",
    "domain": "push.demo-a.example.com",
    "app": "live",
    "stream": "sports-main",
}
BUILTIN_VALUES = {
    "__rate_interval": "1m",
    "__interval": "15s",
    "__interval_ms": "15000",
    "__range": "5m",
    "__range_s": "300",
    "__range_ms": "300000",
}

# Expressions that may return nothing in the demo, and why. Keys: "<dashboard uid>: <panel title>
# [<refId>]", "rule <alert>" (prometheus/alerts.yml and the Grafana rule of the same name).
MAY_BE_EMPTY = {
    "tencent-live-stream-detail: Failed polls by code [A]": (
        "per-stream error series appear with the stream's first failed DescribeLiveStreamState "
        "poll; sports-main's target may poll the online list instead, or no poll may have failed"
    ),
    "tencent-live-stream-detail: Failed polls in range [A]": "as 'Failed polls by code'",
    "tencent-live-exporter-health: Callback requests by result [A]": (
        "the demo sends no CSS callbacks to the exporter: the series appear with the first "
        "callback request"
    ),
    "tencent-live-exporter-health: Callback events [A]": "as 'Callback requests by result'",
    "rule StreamForbidden": "no expected-live stream of the demo is forbidden",
    "rule StreamFlapping": (
        "needs 6 on/off-air changes of an expected-live stream in 15 minutes; the test runs for "
        "about a minute"
    ),
    "rule StreamStateUnknown": "needs 10 minutes of unknown state; the demo's API keeps answering",
    "rule ApiAuthFailing": "the demo's credentials are valid (no back-off, no AuthFailure)",
    "rule ApiUnreachable": (
        "the demo's simulator answers, and the exporter has not run for 5 minutes yet"
    ),
    "rule ApiErrorsHigh": (
        "the demo fails about 1 DescribeLiveStreamState call in 7, below the 20% threshold "
        "(over the first minute's few calls the ratio may exceed it)"
    ),
    "rule ExporterPollingBehind": "the demo's few streams never keep polling late",
    "rule ExporterDown": "the exporter is up (the alert is for when it is not)",
    "rule ViewersCollapsed": (
        "needs two minutes of viewer data (one DescribeAllStreamPlayInfoList a minute; the demo's "
        "chess-club and cooking collapse in turn from the second minute on), and the expressions "
        "are evaluated within the first minute"
    ),
    "rule PlayDomain5xxHigh": (
        "needs the 5xx counter to grow between two error-code reads (the demo reads them every "
        "minute and play.demo-b.example.com answers 8% 5xx), and the expressions are evaluated "
        "within the first minute"
    ),
    # Why streams stopped, on air but broken, the callback audit (issue 16): the demo sends no
    # push-error callback and pushes at the announced quality; tests/test_oncall_e2e.py runs these
    # rules against a real Prometheus on a story that fires them.
    "tencent-live-stream-detail: Last stopped because [A]": (
        "sports-main stays on air: it has no interrupt (the overview's last interrupts have data)"
    ),
    "tencent-live-stream-detail: Interrupts by reason [A]": "as 'Last stopped because'",
    "tencent-live-stream-detail: Push errors by type [A]": "the demo sends no push-error callback",
    "tencent-live-exporter-health: Callback audit [A]": (
        "the demo's account has no callback_keys: no audit"
    ),
    "tencent-live-exporter-health: Event list and callback records calls [A]": (
        "the event list is read every 5 minutes, after a first round that has nothing to read"
    ),
    "tencent-live-exporter-health: Event list and callback records calls [B]": (
        "as the calls, and the simulator answers them"
    ),
    "tencent-live-stream-detail: Window starts [A]": (
        "the dashboard is evaluated for sports-main, expected live always (no schedule)"
    ),
    "tencent-live-stream-detail: Window ends [A]": "as 'Window starts'",
    "tencent-live-stream-detail: Start grace [A]": "as 'Window starts'",
    "rule StreamDidNotStart": (
        "archive-replay's window opens a minute after the demo starts and its start grace is a"
        " minute: it fires from the second minute, after the expressions are evaluated"
    ),
    "rule ApiPermissionDenied": "the demo's key is allowed on every push domain",
    "rule StreamEndedEarly": (
        "the demo's scheduled rehearsal-main stays on air through its windows (archive-replay, "
        "scheduled too, never starts: StreamDidNotStart)"
    ),
    "rule StreamBitrateLow": "the demo pushes at the announced bitrate (no quality thresholds set)",
    "rule StreamFrameRateLow": "the demo pushes at the announced frame rate",
    "rule StreamNoVideo": "every demo stream on air has video",
    "rule StreamResolutionChanged": "the demo's streams keep their resolution",
    "rule StreamPushRestarting": "no demo stream restarts its push more than 3 times in an hour",
    "rule ExporterReloadFailed": "the demo is not reloaded",
    "rule ExporterDiscoveryCapped": "the demo's discovering target is far below its max_streams",
    "rule CallbacksNotDelivered": "the demo's account has no callback_keys: no audit",
}


# --- processes and HTTP ---------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def http_json(url: str, data: dict[str, Any] | None = None, form: bool = False) -> Any:
    body = None
    headers = {}
    if data is not None and form:
        body = urllib.parse.urlencode(data).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    elif data is not None:
        body = json.dumps(data).encode()
        headers["Content-Type"] = "application/json"
    req = urllib.request.Request(url, data=body, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as exc:  # Prometheus answers bad queries with 400 and JSON
        return json.loads(exc.read())


def poll(predicate: Callable[[], bool], timeout: float, interval: float = 0.25) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


@dataclass
class Setup:
    prom: str  # http://127.0.0.1:PORT of Prometheus
    sim: str  # the demo's simulator
    exporter: ExporterProcess
    job: str
    outage_at: float  # time.monotonic() of the outage

    def query(self, expr: str) -> dict[str, Any]:
        result: dict[str, Any] = http_json(f"{self.prom}/api/v1/query", {"query": expr}, form=True)
        return result

    def vector(self, expr: str) -> list[dict[str, Any]]:
        answer = self.query(expr)
        assert answer["status"] == "success", f"{expr}: {answer.get('error')}"
        data: list[dict[str, Any]] = answer["data"]["result"]
        return data

    def label_values(self, label: str, match: str | None = None) -> list[str]:
        params = {"match[]": match} if match else {}
        url = f"{self.prom}/api/v1/label/{label}/values?{urllib.parse.urlencode(params)}"
        answer = http_json(url)
        assert answer["status"] == "success", f"label_values({match}, {label}): {answer}"
        values: list[str] = answer["data"]
        return values

    def exposed_metrics(self) -> set[str]:
        return set(self.label_values("__name__"))

    def alerts(self, name: str) -> list[dict[str, Any]]:
        answer = http_json(f"{self.prom}/api/v1/alerts")
        return [a for a in answer["data"]["alerts"] if a["labels"].get("alertname") == name]


def write_test_rules(path: Path) -> None:
    """prometheus/alerts.yml with every `for:` shortened and a 1 s evaluation interval."""
    data = yaml.safe_load(ALERTS_FILE.read_text())
    for group in data["groups"]:
        group["interval"] = "1s"
        for rule in group["rules"]:
            if "for" in rule:
                rule["for"] = f"{SHORT_FOR}s"
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def prometheus_config(path: Path, target: str, rules: Path) -> str:
    """The example prometheus.yml, scraping `target` every second."""
    base = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
    [job] = base["scrape_configs"]
    job = {
        **job,
        "scrape_interval": "1s",
        "scrape_timeout": "1s",
        "static_configs": [{"targets": [target]}],
    }
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s", "scrape_timeout": "1s"},
        "rule_files": [str(rules)],
        "scrape_configs": [job],
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return str(job["job_name"])


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    binary = shutil.which("prometheus") or "/usr/bin/prometheus"
    if not Path(binary).exists():
        pytest.fail("prometheus not found: run scripts/setup (Debian's prometheus package)")
    tmp = tmp_path_factory.mktemp("prometheus")
    exporter = ExporterProcess(tmp / "unused.yaml", ["--demo", "--log.level", "info"])
    prom_proc = None
    prom_log = (tmp / "prometheus.log").open("w")
    try:
        sim = ""
        for line in exporter.log_lines:
            m = re.search(
                r"demo mode: polling the built-in CSS simulator at (http://[\d.:]+)", line
            )
            if m:
                sim = m.group(1)
        assert sim, "no simulator URL in the exporter's log:\n" + "\n".join(exporter.log_lines)
        rules = tmp / "alerts.yml"
        write_test_rules(rules)
        config = tmp / "prometheus.yml"
        job = prometheus_config(config, exporter.url.removeprefix("http://"), rules)
        port = free_port()
        prom_proc = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={tmp / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--log.level=warn",
            ],
            stdout=prom_log,
            stderr=subprocess.STDOUT,
        )
        prom = f"http://127.0.0.1:{port}"

        def ready() -> bool:
            assert prom_proc is not None and prom_proc.poll() is None, "prometheus exited"
            try:
                with urllib.request.urlopen(f"{prom}/-/ready", timeout=2) as resp:
                    return bool(resp.status == 200)
            except OSError:
                return False

        assert poll(ready, 20), "prometheus not ready:\n" + (tmp / "prometheus.log").read_text()
        s = Setup(prom, sim, exporter, job, 0.0)
        outage = f'tencent_live_stream_state{{stream="{OUTAGE["stream"]}", state="active"}} == 1'
        assert poll(lambda: bool(s.vector(outage)), 30), "no stream data in Prometheus"
        answer = http_json(f"{sim}/-/sim/state", {**OUTAGE, "state": "inactive"})
        assert answer["stream"]["state"] == "inactive", answer
        s.outage_at = time.monotonic()
        yield s
    finally:
        if prom_proc is not None:
            prom_proc.send_signal(signal.SIGTERM)
            try:
                prom_proc.wait(10)
            except subprocess.TimeoutExpired:
                prom_proc.kill()
                prom_proc.wait()
        prom_log.close()
        exporter.stop()


# --- 1. the outage ----------------------------------------------------------------------------


def test_stream_down_goes_pending_then_firing(setup: Setup) -> None:
    seen: list[str] = []
    alert: dict[str, Any] = {}

    def firing() -> bool:
        for a in setup.alerts("StreamDown"):
            if a["labels"].get("stream") == OUTAGE["stream"]:
                if not seen or seen[-1] != a["state"]:
                    seen.append(a["state"])
                alert.update(a)
                return bool(a["state"] == "firing")
        return False

    # Noticed within one 10 s round, inactive for down_after (30 s), then `for:`; plus slack.
    remaining = 75 - (time.monotonic() - setup.outage_at)
    if not poll(firing, remaining, interval=0.2):
        exposed = setup.exposed_metrics()
        missing = {n for n in metric_names(alert_expr("StreamDown")) if n not in exposed}
        state = setup.vector(f'tencent_live_stream_state{{stream="{OUTAGE["stream"]}"}} == 1')
        pytest.fail(
            f"StreamDown did not fire for {OUTAGE['stream']} (states seen: {seen}); "
            f"metrics not exposed: {sorted(missing) or 'none'}; current state: "
            f"{[r['metric'].get('state') for r in state]}"
        )
    assert seen[0] == "pending" and seen[-1] == "firing", seen
    labels = alert["labels"]
    assert labels["expect_live"] == "true"
    assert labels["state"] == "inactive"
    assert labels["severity"] == "critical"
    assert {labels["account"], labels["domain"], labels["app"]} == {
        "demo",
        OUTAGE["domain"],
        OUTAGE["app"],
    }
    assert f"Stream {OUTAGE['stream']} (account demo" in alert["annotations"]["description"]
    # Only the outage stream is down: sports-main (expected live, active) and the streams nobody
    # expects live (inactive, forbidden) do not page.
    others = [a["labels"]["stream"] for a in setup.alerts("StreamDown")]
    assert set(others) <= {OUTAGE["stream"]}, others


def alert_expr(name: str) -> str:
    [rule] = [r for r in alert_rules() if r["alert"] == name]
    return str(rule["expr"])


# --- 2. every expression ------------------------------------------------------------------------


def substitute(text: str, values: dict[str, str]) -> str:
    def value(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2)
        if name in BUILTIN_VALUES:
            return BUILTIN_VALUES[name]
        return values[name]

    return re.sub(r"\$\{(\w+)\}|\$(\w+)", value, text)


def variable_options(setup: Setup, query: str) -> list[str]:
    m = re.fullmatch(r"\s*label_values\((?:(.*),\s*)?(\w+)\s*\)\s*", query, re.S)
    assert m, f"not a label_values() query: {query}"
    return setup.label_values(m.group(2), m.group(1))


def resolve_variables(
    setup: Setup, dashboard: dict[str, Any], failures: list[str]
) -> dict[str, str]:
    """Each query variable's value, in order (later queries use earlier values), like Grafana."""
    values = {"datasource": "prometheus"}
    for variable in dashboard["templating"]["list"]:
        if variable["type"] != "query":
            continue
        name = variable["name"]
        query = substitute(variable_query(variable), values)
        options = variable_options(setup, query)
        if not options:
            failures.append(f"{dashboard['uid']}: variable {name}: no values for {query}")
        if variable.get("includeAll"):
            values[name] = variable["allValue"]
        elif name == "job":
            values[name] = setup.job
        else:
            preferred = PREFERRED_VALUES.get(name)
            values[name] = preferred if preferred in options else (options or [""])[0]
    return values


def expressions(setup: Setup, failures: list[str]) -> dict[str, str]:
    """key -> concrete PromQL, for every panel target and every rule."""
    out = {}
    for path in dashboard_files():
        dashboard = load_dashboard(path)
        values = resolve_variables(setup, dashboard, failures)
        for panel in all_panels(dashboard):
            for target in panel.get("targets", []):
                key = f"{dashboard['uid']}: {panel['title']} [{target['refId']}]"
                out[key] = substitute(target["expr"], values)
    for rule in alert_rules():
        out[f"rule {rule['alert']}"] = rule["expr"]
    for rule in grafana_rules():
        out[f"grafana rule {rule['title']}"] = grafana_rule_query(rule)
    return out


def test_every_dashboard_and_rule_expression_returns_data(setup: Setup) -> None:
    # Scenario-dependent data: the outage (StreamDown's expression) and a short throttling window
    # (RequestLimitExceeded errors, the allowed rate below the budget: ApiThrottled's expression).
    poll(
        lambda: bool(setup.vector(alert_expr("StreamDown"))),
        75 - (time.monotonic() - setup.outage_at),
    )
    http_json(f"{setup.sim}/-/sim/window", {"kind": "throttle", "seconds": 5})
    poll(lambda: bool(setup.vector(alert_expr("ApiThrottled"))), 25)
    poll(
        lambda: bool(setup.vector('tencent_live_api_errors_total{code="RequestLimitExceeded"}')), 10
    )

    failures: list[str] = []
    exprs = expressions(setup, failures)
    assert len(exprs) > 60
    unused = set(MAY_BE_EMPTY) - set(exprs) - {f"rule {r['alert']}" for r in alert_rules()}
    assert not unused, f"MAY_BE_EMPTY names expressions that do not exist: {unused}"
    exposed = setup.exposed_metrics()
    for key, expr in exprs.items():
        answer = setup.query(expr)
        if answer["status"] != "success":
            failures.append(f"{key}: {answer.get('errorType')}: {answer.get('error')}\n    {expr}")
            continue
        if answer["data"]["result"]:
            continue
        allowed = MAY_BE_EMPTY.get(key) or MAY_BE_EMPTY.get(key.removeprefix("grafana "))
        if allowed:
            continue
        missing = sorted(n for n in metric_names(expr) if n not in exposed)
        why = f"metrics not exposed: {', '.join(missing)}" if missing else "no data"
        failures.append(f"{key}: {why}\n    {' '.join(expr.split())}")
    assert not failures, f"{len(failures)} of {len(exprs)} expressions failed:\n" + "\n".join(
        failures
    )
