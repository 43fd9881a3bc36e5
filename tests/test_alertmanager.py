"""The example Alertmanager configuration (prometheus/alertmanager.example.yml): valid, routing
as documented, and inhibiting only with alerts and labels the rules really have.

``amtool`` comes from Debian's prometheus-alertmanager package; without it the amtool checks are
skipped and the structural ones still run.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.test_rules import ALERTS, STREAM_ALERTS, alert_rules

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "prometheus" / "alertmanager.example.yml"
STREAM_LABELS = {"job", "instance", "account", "domain", "app", "stream"}


def config() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text())
    return data


def amtool() -> str:
    path = shutil.which("amtool")
    if path is None:
        pytest.skip("amtool not installed (Debian's prometheus-alertmanager)")
    return path


def _matched_alerts(matchers: list[str]) -> set[str]:
    """The alert names a list of matchers selects (matchers on alertname and severity)."""
    names = set(ALERTS)
    for matcher in matchers:
        m = re.fullmatch(r'(alertname|severity)(=~|!=|=)"([^"]*)"', matcher)
        assert m is not None, matcher
        label, op, value = m.groups()

        def of(name: str, label: str = label) -> str:
            return name if label == "alertname" else ALERTS[name]

        if op == "=":
            names = {n for n in names if of(n) == value}
        elif op == "!=":
            names = {n for n in names if of(n) != value}
        else:
            names = {n for n in names if re.fullmatch(value, of(n))}
    return names


def labels_of(name: str) -> set[str]:
    """The labels an alert's instances carry: a stream alert's series labels, else its
    aggregation's (its first `by`), plus its static labels."""
    [rule] = [r for r in alert_rules() if r["alert"] == name]
    static = set(rule.get("labels", {})) | {"alertname"}
    if name in STREAM_ALERTS:
        return STREAM_LABELS | static
    if name == "ExporterDown":
        return {"job", "instance"} | static
    by = re.search(r"\bby \(([^)]*)\)", rule["expr"])
    if by is None:  # a series filtered or compared: keeps its labels (job, instance and more)
        found = re.search(r"tencent_live_[a-z_]+", rule["expr"])
        assert found is not None
        joined = re.findall(r"\bon \(([^)]*)\)", rule["expr"])
        own = {label.strip() for group in joined for label in group.split(",")}
        return {"job", "instance"} | own | static
    # label_replace(..., "dst", ...) adds a label to what the aggregation keeps.
    added = set(re.findall(r'label_replace\([^"]*"([a-z_]+)"', rule["expr"], re.S))
    return {label.strip() for label in by.group(1).split(",")} | added | static


def test_amtool_accepts_the_example() -> None:
    result = subprocess.run(
        [amtool(), "check-config", str(EXAMPLE)], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


@pytest.mark.parametrize(
    ("labels", "receivers"),
    [
        ({"alertname": "StreamDown", "severity": "critical", "team": "studio"}, "studio-pager"),
        ({"alertname": "StreamBitrateLow", "severity": "warning", "team": "studio"}, "studio-chat"),
        (
            {"alertname": "StreamDidNotStart", "severity": "critical", "team": "studio"},
            "programming,studio-pager",
        ),
        ({"alertname": "StreamEndedEarly", "severity": "warning"}, "programming"),
        ({"alertname": "ApiUnreachable", "severity": "critical"}, "on-call-pager"),
        ({"alertname": "CallbacksNotDelivered", "severity": "warning"}, "chat"),
    ],
)
def test_routes(labels: dict[str, str], receivers: str) -> None:
    args = [f"{k}={v}" for k, v in labels.items()]
    result = subprocess.run(
        [amtool(), "config", "routes", "test", f"--config.file={EXAMPLE}", *args],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == receivers


def test_inhibit_rules_name_real_alerts_and_labels_both_sides_have() -> None:
    rules = config()["inhibit_rules"]
    assert len(rules) >= 4
    for rule in rules:
        sources = _matched_alerts(rule["source_matchers"])
        targets = _matched_alerts(rule["target_matchers"])
        assert sources and targets, rule
        for name in sources | targets:
            missing = set(rule["equal"]) - labels_of(name)
            assert not missing, f"{name} lacks {missing} for {rule}"


def test_the_documented_inhibitions() -> None:
    by_source = {tuple(r["source_matchers"]): r for r in config()["inhibit_rules"]}
    exporter_down = by_source[('alertname="ExporterDown"',)]
    assert _matched_alerts(exporter_down["target_matchers"]) == set(ALERTS) - {"ExporterDown"}
    assert exporter_down["equal"] == ["job", "instance"]
    api = by_source[('alertname=~"ApiUnreachable|ApiAuthFailing"',)]
    assert {"StreamStateUnknown", "StreamDown"} <= _matched_alerts(api["target_matchers"])
    assert "account" in api["equal"]
