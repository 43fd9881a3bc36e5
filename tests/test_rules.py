"""Prometheus rules: ``promtool check rules`` / ``check config`` / ``test rules``, and the shape
of every alert (annotations, runbook section, expected-live selection, a firing and a silent
unit test).

promtool comes from Debian's ``prometheus`` package, which scripts/setup installs.
"""

from __future__ import annotations

import re
import shutil
import subprocess
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
    "StreamForbidden": "critical",
    "StreamFlapping": "warning",
    "StreamStateUnknown": "warning",
    "ApiThrottled": "warning",
    "ApiAuthFailing": "critical",
    "ApiUnreachable": "critical",
    "ApiErrorsHigh": "warning",
    "ExporterPollingBehind": "warning",
    "ExporterDown": "critical",
}
STREAM_ALERTS = [a for a in ALERTS if a.startswith("Stream")]


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
    assert set(ann) == {"summary", "description", "runbook"}
    assert "runbook_url" not in ann
    assert ann["runbook"] == f"README.md#{rule['alert'].lower()}"
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
        anchor = rule["annotations"]["runbook"].split("#", 1)[1]
        assert anchor in anchors, f"docs/runbook.md has no section for {rule['alert']}"
    text = RUNBOOK.read_text()
    for alert in ALERTS:
        section = text.split(f"### {alert}\n", 1)[1].split("\n### ", 1)[0]
        assert "**Meaning.**" in section and "**Check first.**" in section, alert


def test_stream_alerts_page_only_for_expected_live_streams() -> None:
    for rule in alert_rules():
        if rule["alert"] in STREAM_ALERTS:
            assert 'expect_live="true"' in rule["expr"], rule["alert"]


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
