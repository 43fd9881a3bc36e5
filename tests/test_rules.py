"""Prometheus rules: ``promtool check rules`` / ``check config`` / ``test rules``, and the shape
of every alert (annotations with an absolute runbook URL, a runbook section, expected-live
selection, the labels routing and inhibition rely on, ``for:``, a firing and a silent unit test),
and that the generated copies (Grafana, the PrometheusRule) are up to date.

promtool comes from Debian's ``prometheus`` package, which scripts/setup installs.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
PROM_DIR = ROOT / "prometheus"
ALERTS_FILE = PROM_DIR / "alerts.yml"
RUNBOOK = ROOT / "docs" / "runbook.md"
UNIT_TESTS = sorted((PROM_DIR / "tests").glob("*.yml"))

ALERTS = {
    "StreamDown": "critical",
    "StreamDidNotStart": "critical",
    "StreamEndedEarly": "warning",
    "StreamForbidden": "critical",
    "StreamFlapping": "warning",
    "StreamStateUnknown": "warning",
    "StreamBitrateLow": "warning",
    "StreamFrameRateLow": "warning",
    "StreamNoVideo": "critical",
    "StreamResolutionChanged": "warning",
    "StreamPushRestarting": "warning",
    "ApiThrottled": "warning",
    "ApiAuthFailing": "critical",
    "ApiPermissionDenied": "warning",
    "ApiUnreachable": "critical",
    "ApiErrorsHigh": "warning",
    "ExporterPollingBehind": "warning",
    "ExporterReloadFailed": "warning",
    "ExporterDiscoveryCapped": "warning",
    "ExporterDown": "critical",
    "CallbacksNotDelivered": "warning",
    # tencent-live-playback (issue 17)
    "StreamNoViewers": "warning",
    "ViewersCollapsed": "warning",
    "PlayDomain5xxHigh": "critical",
    "PlayDomainCertificateExpiring": "warning",
    "PlayDomainCertificateExpiringCritical": "critical",
    "LivePackageNearlyUsedUp": "warning",
    "LivePackageExpiring": "warning",
}
STREAM_ALERTS = [a for a in ALERTS if a.startswith("Stream") or a == "ViewersCollapsed"]
# The runbook base of the committed rules (scripts/gen-rules --runbook-base changes it).
RUNBOOK_BASE = (
    "https://github.com/tencent-live-exporter/tencent-live-exporter/blob/main/docs/runbook.md"
)
# Labels an alert has by itself, not from the stream's configuration.
OWN_LABELS = frozenset(
    {"severity", "job", "instance", "account", "domain", "app", "stream", "state", "expect_live"}
)


def promtool() -> str:
    path = shutil.which("promtool") or "/usr/bin/promtool"
    if not Path(path).exists():
        pytest.fail("promtool not found: run scripts/setup (installs Debian's prometheus package)")
    return path


def run_promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [promtool(), *args], capture_output=True, text=True, timeout=60, cwd=ROOT, check=False
    )


def rule_files() -> list[Path]:
    return [p for p in (PROM_DIR / "alerts.yml", PROM_DIR / "rules.yml") if p.exists()]


def alert_rules() -> list[dict[str, Any]]:
    data = yaml.safe_load(ALERTS_FILE.read_text())
    return [r for g in data["groups"] for r in g["rules"] if "alert" in r]


def test_promtool_check_rules() -> None:
    result = run_promtool("check", "rules", *map(str, rule_files()))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_promtool_check_config() -> None:
    result = run_promtool("check", "config", str(PROM_DIR / "prometheus.yml"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_test_rules() -> None:
    assert UNIT_TESTS
    result = run_promtool("test", "rules", *map(str, UNIT_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(UNIT_TESTS), result.stdout


def test_the_alerts() -> None:
    rules = alert_rules()
    names = [r["alert"] for r in rules]
    assert sorted(names) == sorted(ALERTS)
    for rule in rules:
        assert rule["labels"]["severity"] == ALERTS[rule["alert"]], rule["alert"]


@pytest.mark.parametrize("rule", alert_rules(), ids=lambda r: r["alert"])
def test_annotations(rule: dict[str, Any]) -> None:
    ann = rule["annotations"]
    assert set(ann) == {"summary", "description", "runbook_url"}
    # Absolute, as kube-prometheus' and the node mixin's are: a pager link must open.
    assert ann["runbook_url"] == f"{RUNBOOK_BASE}#{rule['alert'].lower()}"
    if rule["alert"] in STREAM_ALERTS:
        for label in ("account", "domain", "app", "stream"):
            assert f"$labels.{label}" in ann["description"], label
    else:
        assert "$labels." in ann["description"]


def runbook_anchors() -> set[str]:
    anchors = set()
    for line in RUNBOOK.read_text().splitlines():
        m = re.match(r"#{2,4} (.+)", line)
        if m:
            anchors.add(re.sub(r"[^a-z0-9 _-]", "", m.group(1).strip().lower()).replace(" ", "-"))
    return anchors


def test_every_alert_has_a_runbook_section() -> None:
    anchors = runbook_anchors()
    for rule in alert_rules():
        anchor = rule["annotations"]["runbook_url"].split("#", 1)[1]
        assert anchor in anchors, f"docs/runbook.md has no section for {rule['alert']}"
    text = RUNBOOK.read_text()
    for alert in ALERTS:
        section = text.split(f"### {alert}\n", 1)[1].split("\n### ", 1)[0]
        assert "**Meaning.**" in section and "**Check first.**" in section, alert


EXPECTED_SELECTORS = (
    'expect_live="true"',
    'expect_live=~"true|scheduled"',
    'expect_live="scheduled"',
)


def test_stream_alerts_page_only_for_expected_live_streams() -> None:
    for rule in alert_rules():
        if rule["alert"] in STREAM_ALERTS and rule["alert"] != "ViewersCollapsed":
            assert any(s in rule["expr"] for s in EXPECTED_SELECTORS), rule["alert"]
    # A scheduled stream pages only while the exporter says it is expected (its window).
    for name in ("StreamDown", "StreamDidNotStart", "StreamEndedEarly"):
        [rule] = [r for r in alert_rules() if r["alert"] == name]
        assert "tencent_live_stream_expected_live" in rule["expr"], name


def test_every_alert_has_a_for() -> None:
    """Every alert can flap (a scrape missed, a value at the edge): each waits out a `for:`."""
    for rule in alert_rules():
        assert re.fullmatch(r"[1-9][0-9]*[mh]", str(rule.get("for", ""))), rule["alert"]


def _first_by(expr: str) -> list[str] | None:
    m = re.search(r"\bby \(([^)]*)\)", expr)
    return [label.strip() for label in m.group(1).split(",")] if m else None


def test_every_alert_keeps_job_and_instance() -> None:
    """So that inhibition (an exporter down, an account's API down) matches the alerts of one
    exporter: stream alerts keep every label of their series; aggregating alerts name them."""
    for rule in alert_rules():
        expr = rule["expr"].strip()
        first = re.sub(r"^[(\s]+", "", expr)
        if rule["alert"] == "ExporterDown":
            assert first.startswith("up{"), first  # up has job and instance
            continue
        if rule["alert"] in STREAM_ALERTS:
            # The first operand is the stream's own series, whose labels the result keeps.
            stream_series = r"(changes\()?tencent_live_stream_(state|viewers)[{\s]"
            assert re.match(stream_series, first), rule["alert"]
            continue
        if re.match(r"tencent_live_[a-z_]+[{\s]", first):
            continue  # a series compared or filtered: it keeps its labels, job and instance too
        by = _first_by(expr)
        assert by is not None and {"job", "instance"} <= set(by), (rule["alert"], by)


def _firing_labels() -> dict[str, list[dict[str, str]]]:
    found: dict[str, list[dict[str, str]]] = {}
    for path in UNIT_TESTS:
        for test in yaml.safe_load(path.read_text())["tests"]:
            for case in test.get("alert_rule_test", []):
                for alert in case.get("exp_alerts") or []:
                    found.setdefault(case["alertname"], []).append(alert["exp_labels"])
    return found


def test_stream_alerts_carry_the_streams_own_labels() -> None:
    """The same routing labels on every stream alert: some firing case of each shows a label
    configured on the target or stream (team, env) carried through to the alert."""
    firing = _firing_labels()
    for name in STREAM_ALERTS:
        configured = [set(labels) - OWN_LABELS for labels in firing.get(name, [])]
        assert any(configured), f"{name}: no firing case keeps a configured label"


def _gen_rules() -> Any:
    loader = importlib.machinery.SourceFileLoader("gen_rules", str(ROOT / "scripts" / "gen-rules"))
    spec = importlib.util.spec_from_loader("gen_rules", loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def test_the_copies_are_generated_and_up_to_date() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen-rules"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert _gen_rules().DEFAULT_RUNBOOK_BASE == RUNBOOK_BASE


def test_the_runbook_base_is_configurable() -> None:
    gen = _gen_rules()
    text = ALERTS_FILE.read_text()
    rebased = gen.rebase(text, "https://wiki.example.com/live/runbook/")
    urls = re.findall(r"runbook_url: \"([^\"]+)\"", rebased)
    assert len(urls) == len(alert_rules())
    assert all(u.startswith("https://wiki.example.com/live/runbook#") for u in urls)
    assert gen.rebase(rebased, RUNBOOK_BASE) == text  # nothing else moved
    out = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "gen-prometheusrule"),
            "--runbook-base",
            "https://wiki.example.com/rb",
            "--output",
            "-",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert "runbook_url: https://wiki.example.com/rb#streamdown" in out


def test_stream_down_uses_down_after_and_ignores_the_source_label() -> None:
    [rule] = [r for r in alert_rules() if r["alert"] == "StreamDown"]
    expr = rule["expr"]
    assert "tencent_live_stream_down_after_seconds" in expr
    assert 'state="inactive"' in expr
    # last_change has a `source` label the state series lacks: joins must name their labels.
    assert "on (account, domain, app, stream)" in expr
    assert rule["for"] == "1m"


def test_every_alert_has_a_firing_and_a_silent_unit_test() -> None:
    firing: set[str] = set()
    silent: set[str] = set()
    for path in UNIT_TESTS:
        data = yaml.safe_load(path.read_text())
        assert data["rule_files"] == ["../alerts.yml"], path.name
        for test in data["tests"]:
            for case in test.get("alert_rule_test", []):
                (firing if case.get("exp_alerts") else silent).add(case["alertname"])
    assert firing >= set(ALERTS), f"no firing case: {set(ALERTS) - firing}"
    assert silent >= set(ALERTS), f"no silent case: {set(ALERTS) - silent}"


def test_unit_tests_cover_the_quiet_cases() -> None:
    """Named silent scenarios exist: API faults, throttling, unknown, short blips, streams
    without expect_live."""
    text = "\n".join(p.read_text() for p in UNIT_TESTS)
    for needle in (
        "API faults",
        "throttling",
        "unknown",
        "blip",
        "nobody expects",
        'expect_live="false"',
    ):
        assert needle.lower() in text.lower(), needle
