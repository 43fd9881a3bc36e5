"""Lint of the Grafana dashboards and the Grafana-managed alert rules.

The dashboards must provision (grafana/dashboards/: a ``datasource`` variable instead of a fixed
data source) and import (grafana/import/, written by scripts/gen-dashboards: ``${DS_PROMETHEUS}``
declared in ``__inputs``, ``__requires``) cleanly, lay out without overlaps, set units, filter
every query by ``job`` and ``instance``, name only metrics of the contract in docs/metrics.md and
the golden exposition (or Prometheus' own series), parse as PromQL, annotate state changes and
reloads, draw the alerts' thresholds and link their runbook sections. The Grafana alert rules must
stay equivalent to prometheus/alerts.yml.

The helpers here (metric names in PromQL, the contract, the expressions of a dashboard) are also
used by tests/test_prometheus_integration.py.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import json
import math
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
DASHBOARD_DIR = ROOT / "grafana" / "dashboards"
METRICS_DOC = ROOT / "docs" / "metrics.md"
ALERTS_FILE = ROOT / "prometheus" / "alerts.yml"
GRAFANA_RULES_FILE = ROOT / "grafana" / "provisioning" / "alerting" / "rules.yml"
GRAFANA_DATASOURCES_FILE = ROOT / "grafana" / "provisioning" / "datasources" / "prometheus.yml"

DASHBOARD_UIDS = {
    "overview.json": "tencent-live-overview",
    "stream-detail.json": "tencent-live-stream-detail",
    "exporter-health.json": "tencent-live-exporter-health",
}
DS_REF = {"type": "prometheus", "uid": "${datasource}"}

# Series Prometheus records itself (they are not on the exporter's /metrics).
PROMETHEUS_SERIES = {
    "up",
    "scrape_duration_seconds",
    "scrape_samples_scraped",
    "scrape_samples_post_metric_relabeling",
    "scrape_series_added",
    "ALERTS",
    "ALERTS_FOR_STATE",
}
GRAFANA_BUILTIN_VARIABLES = {
    "__rate_interval",
    "__interval",
    "__interval_ms",
    "__range",
    "__range_s",
    "__range_ms",
}
# Per dashboard: the filters it must offer, and the variables every selector of a per-stream
# (or, for the health dashboard, every) metric must use.
REQUIRED_VARIABLES = {
    "tencent-live-overview": ["account", "domain", "app", "stream", "expect_live"],
    "tencent-live-stream-detail": ["account", "domain", "app", "stream"],
    "tencent-live-exporter-health": ["job", "account"],
}
PROMQL_KEYWORDS = {
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "bool",
    "and",
    "or",
    "unless",
    "offset",
    "inf",
    "nan",
}


# --- helpers shared with the integration test ------------------------------------------------


def dashboard_files() -> list[Path]:
    return sorted(DASHBOARD_DIR.glob("*.json"))


def load_dashboard(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def all_panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, rows included, and the panels nested in (collapsed) rows."""
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def panel_targets(dashboard: dict[str, Any]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    for panel in all_panels(dashboard):
        for target in panel.get("targets", []):
            yield panel, target


def variable_query(variable: dict[str, Any]) -> str:
    query = variable.get("query", "")
    if isinstance(query, dict):
        query = query.get("query", "")
    return str(query)


def query_variables(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    return [v for v in dashboard["templating"]["list"] if v["type"] == "query"]


def strip_promql(expr: str) -> str:
    """The expression without strings, label matchers, ranges, label lists and Grafana variables."""
    e = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    e = re.sub(r"'(?:[^'\\]|\\.)*'", "''", e)
    e = re.sub(r"\{[^}]*\}", " ", e)
    e = re.sub(r"\[[^\]]*\]", " ", e)
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", e)
    return re.sub(r"\$\{?\w+\}?", " ", e)


def metric_names(expr: str) -> set[str]:
    """Metric names a PromQL expression (or a Grafana label_values() query) selects."""
    m = re.fullmatch(r"\s*label_values\((.*),\s*\w+\s*\)\s*", expr, re.S)
    if m:
        expr = m.group(1)
    elif re.fullmatch(r"\s*label_values\(\s*\w+\s*\)\s*", expr):
        return set()
    e = strip_promql(expr)
    names = set()
    for m in re.finditer(r"(?<![\w.])[A-Za-z_:][A-Za-z0-9_:]*", e):
        if e[m.end() :].lstrip().startswith("("):
            continue  # a function or aggregation
        if m.group().lower() in PROMQL_KEYWORDS:
            continue
        names.add(m.group())
    return names


@cache
def contract_metrics() -> frozenset[str]:
    """Metric names of docs/metrics.md (histograms with their series suffixes)."""
    names: set[str] = set()
    for line in METRICS_DOC.read_text().splitlines():
        if not line.startswith("|"):
            continue
        cells = [c.strip() for c in line.strip("|").split("|")]
        m = re.match(r"`(tencent_live_[a-z0-9_]+)", cells[0])
        if not m:
            continue
        names.add(m.group(1))
        if len(cells) > 1 and "histogram" in cells[1]:
            names.update(m.group(1) + s for s in ("_bucket", "_sum", "_count"))
    return frozenset(names)


def known_metric(name: str) -> bool:
    return name in contract_metrics() or name in PROMETHEUS_SERIES or name.startswith("process_")


def alert_rules() -> list[dict[str, Any]]:
    data = yaml.safe_load(ALERTS_FILE.read_text())
    return [r for g in data["groups"] for r in g["rules"] if "alert" in r]


def grafana_rules() -> list[dict[str, Any]]:
    data = yaml.safe_load(GRAFANA_RULES_FILE.read_text())
    return [r for g in data["groups"] for r in g["rules"]]


def grafana_rule_query(rule: dict[str, Any]) -> str:
    for item in rule["data"]:
        if item["datasourceUid"] != "__expr__":
            return str(item["model"]["expr"])
    raise AssertionError(f"{rule['title']}: no data source query")


def used_variables(text: str) -> set[str]:
    return {m.group(1) or m.group(2) for m in re.finditer(r"\$\{(\w+)[^}]*\}|\$(\w+)", text)}


# --- tests ----------------------------------------------------------------------------------------


def test_the_three_dashboards_with_stable_uids() -> None:
    assert {p.name for p in dashboard_files()} == set(DASHBOARD_UIDS)
    for path in dashboard_files():
        assert load_dashboard(path)["uid"] == DASHBOARD_UIDS[path.name]


@pytest.fixture(params=sorted(DASHBOARD_UIDS), ids=sorted(DASHBOARD_UIDS))
def dashboard(request: pytest.FixtureRequest) -> dict[str, Any]:
    return load_dashboard(DASHBOARD_DIR / request.param)


def test_importable(dashboard: dict[str, Any]) -> None:
    assert dashboard["id"] is None
    assert dashboard["title"].startswith("Tencent Live / ")
    assert "tencent-live" in dashboard["tags"]
    inputs = dashboard["__inputs"]
    assert [(i["name"], i["type"], i["pluginId"]) for i in inputs] == [
        ("DS_PROMETHEUS", "datasource", "prometheus")
    ]
    requires = {(r["type"], r["id"]) for r in dashboard["__requires"]}
    assert {("grafana", "grafana"), ("datasource", "prometheus")} <= requires
    panel_types = {p["type"] for p in all_panels(dashboard) if p["type"] != "row"}
    assert {("panel", t) for t in panel_types} <= requires


def test_datasource_variable(dashboard: dict[str, Any]) -> None:
    variables = dashboard["templating"]["list"]
    ds = [v for v in variables if v["name"] == "datasource"]
    assert len(ds) == 1
    assert ds[0]["type"] == "datasource"
    assert ds[0]["query"] == "prometheus"
    # The variable comes first: the query variables below it depend on it.
    assert variables[0] is ds[0]


def test_every_panel_and_query_variable_uses_the_datasource_variable(
    dashboard: dict[str, Any],
) -> None:
    for panel in all_panels(dashboard):
        if panel["type"] == "row":
            assert "datasource" not in panel or panel["datasource"] is None
            continue
        assert panel.get("datasource") == DS_REF, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target.get("datasource", DS_REF) == DS_REF, panel["title"]
            assert target["expr"].strip(), panel["title"]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] in ("query", "adhoc"):
            assert variable["datasource"] == DS_REF, variable["name"]
    # No data source is named anywhere else either (a fixed uid would break import).
    text = json.dumps(dashboard)
    uids = set(re.findall(r'"uid": "([^"]*)"', text)) - {dashboard["uid"]}
    assert uids <= {"${datasource}", "-- Grafana --"}


def test_panel_ids_unique(dashboard: dict[str, Any]) -> None:
    ids = [p["id"] for p in all_panels(dashboard)]
    assert all(isinstance(i, int) for i in ids)
    assert len(ids) == len(set(ids))


def test_no_overlapping_grid_positions(dashboard: dict[str, Any]) -> None:
    boxes = []
    for panel in all_panels(dashboard):
        g = panel["gridPos"]
        assert g["w"] > 0 and g["h"] > 0 and g["x"] >= 0 and g["y"] >= 0, panel["title"]
        assert g["x"] + g["w"] <= 24, panel["title"]
        boxes.append((panel["title"], g["x"], g["y"], g["x"] + g["w"], g["y"] + g["h"]))
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            overlap = a[1] < b[3] and b[1] < a[3] and a[2] < b[4] and b[2] < a[4]
            assert not overlap, f"panels {a[0]!r} and {b[0]!r} overlap"


def test_rows_are_in_order_and_collapsed_rows_hold_their_panels(dashboard: dict[str, Any]) -> None:
    ys = [p["gridPos"]["y"] for p in dashboard["panels"]]
    assert ys == sorted(ys)
    for row in (p for p in dashboard["panels"] if p["type"] == "row"):
        if row["collapsed"]:
            assert row["panels"]
            assert all(p["gridPos"]["y"] > row["gridPos"]["y"] for p in row["panels"])
        else:
            assert row["panels"] == []


def test_units_set_on_every_panel(dashboard: dict[str, Any]) -> None:
    for panel in all_panels(dashboard):
        if panel["type"] == "row":
            continue
        unit = panel["fieldConfig"]["defaults"].get("unit")
        assert isinstance(unit, str) and unit, f"{panel['title']}: no unit"


def test_metric_names_exist_in_the_contract(dashboard: dict[str, Any]) -> None:
    assert len(contract_metrics()) > 30, "could not parse docs/metrics.md"
    named = set()
    for panel, target in panel_targets(dashboard):
        names = metric_names(target["expr"])
        assert names, f"{panel['title']}: no metric in {target['expr']!r}"
        unknown = {n for n in names if not known_metric(n)}
        assert not unknown, f"{panel['title']}: not in docs/metrics.md: {sorted(unknown)}"
        named |= names
    for variable in query_variables(dashboard):
        names = metric_names(variable_query(variable))
        assert names and all(known_metric(n) for n in names), variable["name"]


def test_template_variables(dashboard: dict[str, Any]) -> None:
    defined = {v["name"] for v in dashboard["templating"]["list"]}
    required = REQUIRED_VARIABLES[dashboard["uid"]]
    assert set(required) <= defined
    for variable in query_variables(dashboard):
        query = variable_query(variable)
        assert query.startswith("label_values("), variable["name"]
        assert variable.get("definition", query) == query
        if variable.get("includeAll"):
            # "All" must also match series without the label (streams without an env label).
            assert variable["allValue"] == ".*", variable["name"]
    for panel, target in panel_targets(dashboard):
        missing = used_variables(target["expr"]) - defined - GRAFANA_BUILTIN_VARIABLES
        assert not missing, f"{panel['title']}: undefined variables {missing}"
    for variable in query_variables(dashboard):
        assert used_variables(variable_query(variable)) <= defined


def test_queries_apply_the_filters(dashboard: dict[str, Any]) -> None:
    """Every selector of a per-stream metric uses every filter of the dashboard (so that the
    filters for account, domain, app, stream and the extra labels apply to every panel)."""
    required = REQUIRED_VARIABLES[dashboard["uid"]]
    health = dashboard["uid"] == "tencent-live-exporter-health"
    for panel, target in panel_targets(dashboard):
        expr = target["expr"]
        for name in metric_names(expr):
            for m in re.finditer(rf"\b{re.escape(name)}\b(\{{[^}}]*\}})?", expr):
                selector = m.group(1) or ""
                if health:
                    assert 'job="$job"' in selector, f"{panel['title']}: {m.group()}"
                elif name.startswith("tencent_live_stream_"):
                    missing = [v for v in required if f"${v}" not in selector]
                    assert not missing, f"{panel['title']}: {m.group()} lacks {missing}"


def test_state_panels_cover_every_state() -> None:
    overview = load_dashboard(DASHBOARD_DIR / "overview.json")
    text = json.dumps(overview)
    for state in ("active", "inactive", "forbid", "unknown"):
        assert f'state=\\"{state}\\"' in text
    titles = {p["title"] for p in all_panels(overview)}
    assert "State timeline per stream" in titles
    assert any("changes(" in t["expr"] for _, t in panel_targets(overview))
    assert any(
        "tencent_live_stream_last_change_timestamp_seconds" in t["expr"]
        for _, t in panel_targets(overview)
    )


def test_stream_links_point_to_the_stream_detail_dashboard() -> None:
    for path in dashboard_files():
        for url in re.findall(r'"url": "(/d/[^"]*)"', path.read_text()):
            assert url.startswith("/d/tencent-live-stream-detail/"), url
            for var in REQUIRED_VARIABLES["tencent-live-stream-detail"]:
                assert f"var-{var}=" in url


# --- the import form, job/instance, annotations, thresholds, runbook links (issue 20) ---------

IMPORT_DIR = ROOT / "grafana" / "import"
RUNBOOK = ROOT / "docs" / "runbook.md"
GOLDEN_EXPOSITION = ROOT / "tests" / "golden" / "e2e.prom"
PROMETHEUS_CONFIG = ROOT / "prometheus" / "prometheus.yml"
IMPORT_REF = {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
SCOPE = ('job="$job"', 'instance=~"$instance"')
# Every variable a dashboard may define: the data source, the exporter (job, instance) and the
# labels docs/metrics.md documents. A label only the demo sets (such as `env`) is not one.
KNOWN_VARIABLES = {
    "datasource",
    "job",
    "instance",
    "account",
    "domain",
    "app",
    "stream",
    "expect_live",
    "play_domain",
    "filters",
}
# Dashboards whose graphs carry the state-change annotation.
STREAM_DASHBOARDS = ("tencent-live-overview", "tencent-live-stream-detail")
# The labels of each annotation query's result (the promtool test checks them).
RESULT_LABELS = {
    "State changes": {"job", "instance", "account", "domain", "app", "stream", "source", "state"},
    "Config reloads": {"job", "instance"},
    "Config reload failed": {"job", "instance"},
}
GRAFANA_ANNOTATIONS = {"type": "grafana", "uid": "-- Grafana --"}


def import_files() -> list[Path]:
    return sorted(IMPORT_DIR.glob("*.json"))


@pytest.fixture(params=sorted(DASHBOARD_UIDS), ids=sorted(DASHBOARD_UIDS))
def imported(request: pytest.FixtureRequest) -> dict[str, Any]:
    return load_dashboard(IMPORT_DIR / request.param)


def _script(name: str) -> Any:
    module_name = name.replace("-", "_")
    loader = importlib.machinery.SourceFileLoader(module_name, str(ROOT / "scripts" / name))
    spec = importlib.util.spec_from_loader(module_name, loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def annotation_queries(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    return [a for a in dashboard["annotations"]["list"] if "target" in a]


def expressions_of(dashboard: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(where, PromQL) for every panel target, query annotation and query variable's selector."""
    for panel, target in panel_targets(dashboard):
        yield f"panel {panel['title']!r} [{target['refId']}]", target["expr"]
    for annotation in annotation_queries(dashboard):
        yield f"annotation {annotation['name']!r}", annotation["target"]["expr"]
    for variable in query_variables(dashboard):
        m = re.fullmatch(r"\s*label_values\((.*),\s*\w+\s*\)\s*", variable_query(variable), re.S)
        if m:
            yield f"variable {variable['name']!r}", m.group(1)


def selectors(expr: str) -> Iterator[tuple[str, str]]:
    """(metric name, its label matchers) for every metric a PromQL expression selects."""
    for name in metric_names(expr):
        for m in re.finditer(rf"(?<![\w:]){re.escape(name)}(?![\w:])(\{{[^}}]*\}})?", expr):
            yield name, m.group(1) or ""


@cache
def exposed_names() -> frozenset[str]:
    """Metric names of the golden exposition: its families (histograms with their series) and
    every sample's name."""
    names: set[str] = set()
    for line in GOLDEN_EXPOSITION.read_text().splitlines():
        m = re.match(r"# TYPE (\S+) (\S+)", line)
        if m:
            names.add(m.group(1))
            if m.group(2) == "histogram":
                names.update(m.group(1) + s for s in ("_bucket", "_sum", "_count"))
        elif line and not line.startswith("#"):
            names.add(re.split(r"[{ ]", line, maxsplit=1)[0])
    return frozenset(names)


def runbook_anchors() -> set[str]:
    """GitHub's anchors of docs/runbook.md's headings."""
    anchors = set()
    for line in RUNBOOK.read_text().splitlines():
        m = re.match(r"#{1,6} (.+)", line)
        if m:
            anchors.add(re.sub(r"[^\w\- ]", "", m.group(1).strip().lower()).replace(" ", "-"))
    return anchors


def runbook_base() -> str:
    bases = set(re.findall(r'runbook_url: "?([^"#\s]+)#', ALERTS_FILE.read_text()))
    assert len(bases) == 1, bases
    return bases.pop()


def panel_links(dashboard: dict[str, Any]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    for panel in all_panels(dashboard):
        for link in panel.get("links", []):
            yield panel, link


def threshold_values(panel: dict[str, Any]) -> set[float]:
    """Every threshold step of a panel, its defaults' and its overrides'."""
    configs = [panel["fieldConfig"]["defaults"].get("thresholds", {})]
    for override in panel["fieldConfig"].get("overrides", []):
        configs += [p["value"] for p in override["properties"] if p["id"] == "thresholds"]
    return {s["value"] for c in configs for s in c.get("steps", []) if s["value"] is not None}


def panel_titled(uid: str, title: str) -> dict[str, Any]:
    [path] = [p for p in dashboard_files() if DASHBOARD_UIDS[p.name] == uid]
    [panel] = [p for p in all_panels(load_dashboard(path)) if p["title"] == title]
    return panel


def alert_expr(name: str) -> str:
    [rule] = [r for r in alert_rules() if r["alert"] == name]
    return str(rule["expr"])


# A Grafana value for every variable, to hand the expressions to promtool.
GRAFANA_TEST_VALUES = {
    "__interval": "1m",
    "__interval_ms": "60000",
    "__rate_interval": "1m",
    "__range": "1h",
    "__range_s": "3600",
    "__range_ms": "3600000",
    "job": "j",
    "account": "a",
    "domain": "push.example.com",
    "app": "live",
    "stream": "s",
    "play_domain": "play.example.com",
}


def concrete(dashboard: dict[str, Any], expr: str) -> str:
    """``expr`` as Grafana would send it: "All" variables as their allValue, the others as
    GRAFANA_TEST_VALUES."""
    values = dict(GRAFANA_TEST_VALUES)
    for variable in query_variables(dashboard):
        if variable.get("includeAll"):
            values[variable["name"]] = variable["allValue"]

    def value(m: re.Match[str]) -> str:
        return values[m.group(1) or m.group(2)]

    return re.sub(r"\$\{(\w+)\}|\$(\w+)", value, expr)


def test_import_form_is_generated_and_up_to_date() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen-dashboards"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert {p.name for p in import_files()} == set(DASHBOARD_UIDS)
    gen = _script("gen-dashboards")
    for path in dashboard_files():
        assert load_dashboard(IMPORT_DIR / path.name) == gen.import_form(load_dashboard(path))


def test_import_form(imported: dict[str, Any]) -> None:
    """What Grafana's "Import dashboard" needs: an input for the data source, used everywhere,
    no fixed data source, and what it requires."""
    text = json.dumps(imported)
    declared = {i["name"] for i in imported["__inputs"]}
    assert declared == {"DS_PROMETHEUS"}
    assert set(re.findall(r"\$\{(DS_\w+)\}", text)) == declared  # every input used and declared
    assert imported["id"] is None
    requires = {(r["type"], r["id"]) for r in imported["__requires"]}
    assert {("grafana", "grafana"), ("datasource", "prometheus")} <= requires
    types = {p["type"] for p in all_panels(imported) if p["type"] != "row"}
    assert {("panel", t) for t in types} <= requires
    assert "datasource" not in {v["name"] for v in imported["templating"]["list"]}
    assert not re.search(r"\$\{?datasource\b|var-datasource", text)
    for panel in all_panels(imported):
        if panel["type"] != "row":
            assert panel["datasource"] == IMPORT_REF, panel["title"]
            assert all(t["datasource"] == IMPORT_REF for t in panel["targets"]), panel["title"]
    for variable in imported["templating"]["list"]:
        assert variable["datasource"] == IMPORT_REF, variable["name"]
    for annotation in annotation_queries(imported):
        assert annotation["datasource"] == IMPORT_REF, annotation["name"]
    uids = set(re.findall(r'"uid": "([^"]*)"', text)) - {imported["uid"]}
    assert uids == {"${DS_PROMETHEUS}", "-- Grafana --"}, "a fixed data source uid"


def test_import_fills_every_data_source(imported: dict[str, Any]) -> None:
    """Grafana's import (pkg/services/dashboardimport/utils/dash_template_evaluator.go) drops
    __inputs and replaces each `${NAME}` of an input, in every string, by the value picked in
    its form; nothing may be left to a variable that no longer exists."""
    picked = {"${DS_PROMETHEUS}": "P1809F7CD0C75ACF3"}

    def evaluate(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: evaluate(v) for k, v in value.items() if k != "__inputs"}
        if isinstance(value, list):
            return [evaluate(v) for v in value]
        if isinstance(value, str):
            return re.sub(r"\$\{.+?\}", lambda m: picked.get(m.group(), m.group()), value)
        return value

    result = evaluate(imported)
    text = json.dumps(result)
    assert "${DS_" not in text
    refs = re.findall(r'"datasource": (\{[^{}]*\})', text)
    assert refs
    for ref in map(json.loads, refs):
        assert ref in ({"type": "prometheus", "uid": "P1809F7CD0C75ACF3"}, GRAFANA_ANNOTATIONS)


def test_provisioned_form_needs_no_input(dashboard: dict[str, Any]) -> None:
    """File provisioning fills no __inputs: the provisioned form names its data source only
    through the `datasource` variable."""
    assert "${DS_" not in json.dumps(dashboard)
    for annotation in annotation_queries(dashboard):
        assert annotation["datasource"] == DS_REF, annotation["name"]


def test_provisioning_loads_the_source_form_only() -> None:
    """The provider's folder is grafana/dashboards; the import form beside it is never loaded
    (it has the same uids)."""
    providers = yaml.safe_load(
        (ROOT / "grafana" / "provisioning" / "dashboards" / "dashboards.yml").read_text()
    )
    [provider] = providers["providers"]
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    mounts = {}
    for volume in compose["services"]["grafana"]["volumes"]:
        host, container = volume.split(":")[:2]
        mounts[container] = (ROOT / host).resolve()
    assert mounts[provider["options"]["path"]] == DASHBOARD_DIR
    assert not any(IMPORT_DIR.resolve().is_relative_to(m) for m in mounts.values())


def test_job_and_instance_variables(dashboard: dict[str, Any]) -> None:
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    names = [v["name"] for v in dashboard["templating"]["list"]]
    assert names[1:3] == ["job", "instance"]  # right after the data source: the rest use them
    job, instance = variables["job"], variables["instance"]
    assert variable_query(job) == "label_values(tencent_live_exporter_build_info, job)"
    assert not job["multi"] and not job["includeAll"]
    assert variable_query(instance) == (
        'label_values(tencent_live_exporter_build_info{job="$job"}, instance)'
    )
    assert instance["multi"] and instance["includeAll"] and instance["allValue"] == ".*"


def test_no_demo_only_variables(dashboard: dict[str, Any]) -> None:
    names = {v["name"] for v in dashboard["templating"]["list"]}
    assert names <= KNOWN_VARIABLES
    assert "env" not in names
    # Grafana's own: "All", a table row's fields in a link, the time range in a link.
    grafana = GRAFANA_BUILTIN_VARIABLES | {"__all", "__data", "__url_time_range"}
    assert used_variables(json.dumps(dashboard)) <= names | grafana


def test_every_query_is_scoped_to_job_and_instance(dashboard: dict[str, Any]) -> None:
    """Every selector of every panel, annotation and variable query (but those of the job and
    instance variables themselves) has job="$job" and instance=~"$instance"."""
    checked = 0
    for where, expr in expressions_of(dashboard):
        if where in ("variable 'job'", "variable 'instance'"):
            continue
        for name, matchers in selectors(expr):
            missing = [s for s in SCOPE if s not in matchers]
            assert not missing, f"{where}: {name}{matchers} lacks {missing}"
            checked += 1
    assert checked > 20


def test_stream_links_keep_job_and_instance() -> None:
    urls = re.findall(r'"url": "(/d/[^"]*)"', (DASHBOARD_DIR / "overview.json").read_text())
    assert urls
    for url in urls:
        assert "var-job=${job}" in url and "${instance:queryparam}" in url, url


def test_every_metric_is_exposed(dashboard: dict[str, Any]) -> None:
    """Every name a panel, annotation or variable selects is a family of the contract
    (docs/metrics.md) and of the exporter's golden exposition, or one of Prometheus' own."""
    assert len(exposed_names()) > 80, "could not parse tests/golden/e2e.prom"
    for where, expr in expressions_of(dashboard):
        names = metric_names(expr)
        assert names, f"{where}: no metric in {expr!r}"
        for name in names - PROMETHEUS_SERIES:
            if name.startswith("process_"):
                continue
            assert name in contract_metrics(), f"{where}: {name} not in docs/metrics.md"
            assert name in exposed_names(), f"{where}: {name} not in tests/golden/e2e.prom"


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed")
def test_every_expression_parses(tmp_path: Path) -> None:
    """Every expression of every dashboard, as Grafana sends it, is valid PromQL to promtool."""
    rules = []
    for path in dashboard_files():
        dashboard = load_dashboard(path)
        for i, (_, expr) in enumerate(expressions_of(dashboard)):
            record = f"check:{dashboard['uid'].replace('-', '_')}:{i}"
            rules.append({"record": record, "expr": concrete(dashboard, expr)})
    assert len(rules) > 150
    file = tmp_path / "dashboards.rules.yml"
    file.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    result = subprocess.run(
        ["promtool", "check", "rules", str(file)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_annotations(dashboard: dict[str, Any]) -> None:
    builtin, *queries = dashboard["annotations"]["list"]
    assert builtin["builtIn"] == 1  # Grafana's own annotations and alerts stay first
    by_name = {a["name"]: a for a in queries}
    expected = {"Config reloads", "Config reload failed"}
    if dashboard["uid"] in STREAM_DASHBOARDS:
        expected.add("State changes")
    assert set(by_name) == expected
    for a in queries:
        assert a["enable"] and not a["hide"], a["name"]
        assert a["target"]["refId"] and a["target"]["expr"].strip(), a["name"]
        assert a["titleFormat"] and a["textFormat"], a["name"]
        # Grafana's Prometheus annotations read tagKeys, titleFormat and textFormat from the
        # annotation and the query from its target (packages/grafana-prometheus/src/annotations.ts);
        # the labels they name are those of the query's result (the promtool test below).
        labels = re.findall(r"\{\{(\w+)\}\}", a["titleFormat"] + a["textFormat"])
        labels += a["tagKeys"].split(",")
        assert set(labels) <= RESULT_LABELS[a["name"]], a["name"]
    # Events at the exact time of the change: the timestamp's value, in milliseconds.
    reload = by_name["Config reloads"]
    assert reload["useValueForTime"]
    expr = reload["target"]["expr"]
    assert expr.startswith("1000 * ")
    assert metric_names(expr) == {
        "tencent_live_exporter_config_last_reload_success_timestamp_seconds"
    }
    failed = by_name["Config reload failed"]
    assert not failed["useValueForTime"]
    assert metric_names(failed["target"]["expr"]) == {
        "tencent_live_exporter_config_last_reload_successful"
    }
    if "State changes" in by_name:
        state = by_name["State changes"]
        assert state["useValueForTime"]
        assert "{{state}}" in state["titleFormat"]
        assert metric_names(state["target"]["expr"]) == {
            "tencent_live_stream_last_change_timestamp_seconds",
            "tencent_live_stream_state",
        }
        # The dashboard's stream filters apply to the annotation as to the panels.
        for name, matchers in selectors(state["target"]["expr"]):
            missing = [v for v in REQUIRED_VARIABLES[dashboard["uid"]] if f"${v}" not in matchers]
            assert not missing, f"{name}{matchers} lacks {missing}"


ANNOTATION_TEST = """
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      # A stream on air since 100 s (the online list told), off air at 230 s (the state API),
      # banned at 320 s (the forbid list): one timestamp series at a time, as the exporter has.
      - series: 'tencent_live_stream_last_change_timestamp_seconds{{{stream},source="online_list"}}'
        values: '100 100 100 100 stale'
      - series: 'tencent_live_stream_last_change_timestamp_seconds{{{stream},source="state_api"}}'
        values: '_ _ _ _ 230 230 stale'
      - series: 'tencent_live_stream_last_change_timestamp_seconds{{{stream},source="forbid_list"}}'
        values: '_ _ _ _ _ _ 320 320'
      - series: 'tencent_live_stream_state{{{stream},state="active"}}'
        values: '1 1 1 1 0 0 0 0'
      - series: 'tencent_live_stream_state{{{stream},state="inactive"}}'
        values: '0 0 0 0 1 1 0 0'
      - series: 'tencent_live_stream_state{{{stream},state="forbid"}}'
        values: '0 0 0 0 0 0 1 1'
      # Loaded at 30 s; a reload refused at 2 min; one accepted at 300 s.
      - series: 'tencent_live_exporter_config_last_reload_success_timestamp_seconds{{{exporter}}}'
        values: '30 30 30 30 30 300 300 300'
      - series: 'tencent_live_exporter_config_last_reload_successful{{{exporter}}}'
        values: '1 1 0 0 1 1 1 1'
    promql_expr_test:
{cases}
"""


def _annotation_cases(dashboard: dict[str, Any], name: str, samples: dict[int, Any]) -> str:
    [annotation] = [a for a in annotation_queries(dashboard) if a["name"] == name]
    expr = concrete(dashboard, annotation["target"]["expr"])
    out = []
    for minute in range(8):
        out.append(f"      - expr: {json.dumps(expr)}\n        eval_time: {minute}m\n")
        if minute in samples:
            labels, value = samples[minute]
            out.append(f"        exp_samples:\n          - labels: '{labels}'\n")
            out.append(f"            value: {value}\n")
        else:
            out.append("        exp_samples: []\n")
    return "".join(out)


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed")
@pytest.mark.parametrize("uid", STREAM_DASHBOARDS)
def test_annotations_mark_each_change_once_at_its_time(uid: str, tmp_path: Path) -> None:
    """promtool evaluates the annotation queries on a story: one event per change, at the step
    after it, whose value is the change's time in ms (Grafana places the event there), and none
    at the steps in between; the failed reload is a region while it lasts."""
    [path] = [p for p in dashboard_files() if DASHBOARD_UIDS[p.name] == uid]
    dashboard = load_dashboard(path)
    exporter = 'job="j",instance="exporter:9879"'
    stream = exporter + ',account="a",domain="push.example.com",app="live",stream="s"'
    s = "{" + stream
    cases = _annotation_cases(
        dashboard,
        "State changes",
        {
            0: (s + ',source="online_list",state="active"}', 100000),
            4: (s + ',source="state_api",state="inactive"}', 230000),
            6: (s + ',source="forbid_list",state="forbid"}', 320000),
        },
    )
    cases += _annotation_cases(
        dashboard,
        "Config reloads",
        {0: ("{" + exporter + "}", 30000), 5: ("{" + exporter + "}", 300000)},
    )
    failed = {m: ("{" + exporter + "}", 1) for m in (2, 3)}
    cases += _annotation_cases(dashboard, "Config reload failed", failed)
    file = tmp_path / "annotations_test.yml"
    file.write_text(ANNOTATION_TEST.format(stream=stream, exporter=exporter, cases=cases))
    result = subprocess.run(
        ["promtool", "test", "rules", str(file)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_runbook_links_point_at_the_runbook(dashboard: dict[str, Any]) -> None:
    """Every panel link is a runbook link: the alert rules' runbook base (scripts/gen-rules
    --runbook-base; scripts/gen-dashboards follows it) and an anchor of docs/runbook.md."""
    base, anchors = runbook_base(), runbook_anchors()
    for panel, link in panel_links(dashboard):
        assert link["title"].startswith("Runbook: "), panel["title"]
        url, _, anchor = link["url"].partition("#")
        assert url == base, f"{panel['title']}: {link['url']}"
        assert anchor in anchors, f"{panel['title']}: no section #{anchor} in docs/runbook.md"
        # The title names the alert (or section) the anchor is GitHub's slug of.
        named = link["title"].removeprefix("Runbook: ")
        assert re.sub(r"[^\w\- ]", "", named.lower()).replace(" ", "-") == anchor
        assert link["targetBlank"] is True


def test_alert_related_panels_link_their_runbook(dashboard: dict[str, Any]) -> None:
    """A panel that names an alert (in its title or description) links that alert's runbook."""
    alerts = [r["alert"] for r in alert_rules()]
    for panel in all_panels(dashboard):
        text = f"{panel['title']} {panel.get('description', '')}"
        named = {a for a in alerts if re.search(rf"\b{a}\b", text)}
        linked = {link["title"].removeprefix("Runbook: ") for link in panel.get("links", [])}
        assert named <= linked, f"{panel['title']}: no runbook link for {sorted(named - linked)}"


def test_every_alert_has_a_panel_with_its_runbook_link() -> None:
    linked = {
        link["url"].partition("#")[2]
        for path in dashboard_files()
        for _, link in panel_links(load_dashboard(path))
    }
    missing = [r["alert"] for r in alert_rules() if r["alert"].lower() not in linked]
    assert not missing, f"no dashboard panel links the runbook of {missing}"


def test_runbook_base_is_configurable() -> None:
    gen = _script("gen-dashboards")
    source = load_dashboard(DASHBOARD_DIR / "exporter-health.json")
    rebased = gen.rebase(source, "https://wiki.example.com/live/runbook/")
    links = [link["url"] for _, link in panel_links(rebased)]
    assert links and all(u.startswith("https://wiki.example.com/live/runbook#") for u in links)
    assert gen.rebase(rebased, runbook_base()) == source  # nothing else moved
    alerts = ALERTS_FILE.read_text().replace(runbook_base(), "https://wiki.example.com/rb")
    assert gen.runbook_base(alerts) == "https://wiki.example.com/rb"


# (dashboard, panel, alert, the alert's threshold in its expression, scale to the panel's unit)
ALERT_THRESHOLDS = [
    ("tencent-live-exporter-health", "API error ratio", "ApiErrorsHigh", r"\)\s*>\s*([\d.]+)\s*$"),
    (
        "tencent-live-overview",
        "5xx ratio per play domain",
        "PlayDomain5xxHigh",
        r"\)\s*>\s*([\d.]+)",
    ),
    (
        "tencent-live-exporter-health",
        "Since the last successful API call",
        "ApiUnreachable",
        r"last_success_timestamp_seconds\)\s*<\s*(\d+)",
    ),
    (
        "tencent-live-exporter-health",
        "Poll lag, share of the interval",
        "ExporterPollingBehind",
        r"\(([\d.]+) \* max by",
    ),
    ("tencent-live-overview", "Viewer data age", "StreamNoViewers", r"\)\s*<\s*(\d+)"),
    ("tencent-live-stream-detail", "Viewer data age", "ViewersCollapsed", r"\)\s*<\s*(\d+)"),
    ("tencent-live-overview", "Certificates", "PlayDomainCertificateExpiring", r"< (\d+ \* 86400)"),
    (
        "tencent-live-overview",
        "Certificates",
        "PlayDomainCertificateExpiringCritical",
        r"< (\d+ \* 86400)",
    ),
    ("tencent-live-overview", "Packages", "LivePackageNearlyUsedUp", r"ratio > ([\d.]+)"),
    ("tencent-live-overview", "Packages", "LivePackageExpiring", r"< (\d+ \* 86400)"),
]


@pytest.mark.parametrize(("uid", "title", "alert", "pattern"), ALERT_THRESHOLDS)
def test_thresholds_are_the_alerts(uid: str, title: str, alert: str, pattern: str) -> None:
    """A panel an alert watches shows the alert's threshold, read from prometheus/alerts.yml."""
    m = re.search(pattern, alert_expr(alert), re.M)
    assert m, f"{alert}: threshold not found"
    value = math.prod(float(f) for f in m.group(1).split("*"))  # 0.2, or 14 * 86400
    panel = panel_titled(uid, title)
    assert value in threshold_values(panel), f"{title}: no threshold at {value} ({alert})"
    if panel["type"] == "timeseries":
        style = panel["fieldConfig"]["defaults"]["custom"]["thresholdsStyle"]["mode"]
        assert style != "off", title
    assert any(link["title"] == f"Runbook: {alert}" for link in panel["links"]), title


def test_budget_thresholds() -> None:
    """Allowed below the budget is ApiThrottled's condition (red under 100%); the calls reaching
    the budget stretch the intervals (red at 100%)."""
    assert re.search(
        r"\(tencent_live_api_allowed_requests_per_second\)\s*< on [^)]*\)\s*"
        r"max by [^)]*\) \(tencent_live_api_budget_requests_per_second\)",
        alert_expr("ApiThrottled"),
    )
    allowed = panel_titled("tencent-live-exporter-health", "Allowed rate, share of budget")
    assert [s["color"] for s in allowed["fieldConfig"]["defaults"]["thresholds"]["steps"]] == [
        "red",
        "green",
    ]
    assert threshold_values(allowed) == {1}
    expr = allowed["targets"][0]["expr"]
    assert metric_names(expr) == {
        "tencent_live_api_allowed_requests_per_second",
        "tencent_live_api_budget_requests_per_second",
    }
    used = panel_titled("tencent-live-exporter-health", "API budget used")
    assert 1 in threshold_values(used)
    assert metric_names(used["targets"][0]["expr"]) == {
        "tencent_live_api_requests_total",
        "tencent_live_api_budget_requests_per_second",
    }


def test_scrape_duration_threshold_is_the_scrape_timeout() -> None:
    [job] = yaml.safe_load(PROMETHEUS_CONFIG.read_text())["scrape_configs"]
    timeout = float(job["scrape_timeout"].removesuffix("s"))
    assert timeout in threshold_values(
        panel_titled("tencent-live-exporter-health", "Scrape duration")
    )


def test_viewers_collapse_line_is_the_alerts() -> None:
    """The stream's viewers graph draws ViewersCollapsed's bar: a share of the 10-minute peak."""
    m = re.search(
        r"< ([\d.]+) \* max_over_time\(tencent_live_stream_viewers\[(\w+)\]\)",
        alert_expr("ViewersCollapsed"),
    )
    assert m
    panel = panel_titled("tencent-live-stream-detail", "Viewers")
    line = f"{m.group(1)} * max_over_time(tencent_live_stream_viewers{{"
    assert any(line in t["expr"] and f"[{m.group(2)}])" in t["expr"] for t in panel["targets"])
    overview = panel_titled("tencent-live-overview", "Viewers collapsed")
    assert f"< {m.group(1)} * max_over_time" in overview["targets"][0]["expr"]


# --- Grafana-managed alert rules --------------------------------------------------------------


def normalize(expr: str) -> str:
    return " ".join(expr.split())


def _grafana_templates(annotations: dict[str, str]) -> dict[str, str]:
    """Prometheus' annotations in Grafana's template language: the value is $values.A.Value,
    and a clause running a query (Grafana has no `query`) points at the status page."""
    clause = re.compile(r"\{\{ with printf .*?\| query \}\}.*\{\{ end \}\}\{\{ end \}\}", re.S)
    instead = " Why it stopped: the exporter's status page."
    return {
        k: clause.sub(instead, v).replace("$value", "$values.A.Value")
        for k, v in annotations.items()
    }


def test_grafana_rules_are_equivalent_to_the_prometheus_alerts() -> None:
    prom = {r["alert"]: r for r in alert_rules()}
    graf = {r["title"]: r for r in grafana_rules()}
    assert set(graf) == set(prom)
    for name, rule in graf.items():
        p = prom[name]
        assert normalize(grafana_rule_query(rule)) == normalize(p["expr"]), name
        assert rule["for"] == p.get("for", "0s"), name
        assert rule["labels"] == p["labels"], name
        assert rule["annotations"] == _grafana_templates(p["annotations"]), name
        # Only a query clause may differ: the rest of every annotation is the same text.
        for key, text in rule["annotations"].items():
            if "query" not in p["annotations"][key]:
                assert text == p["annotations"][key].replace("$value", "$values.A.Value")


def test_grafana_rules_provisioning_format() -> None:
    data = yaml.safe_load(GRAFANA_RULES_FILE.read_text())
    assert data["apiVersion"] == 1
    datasources = yaml.safe_load(GRAFANA_DATASOURCES_FILE.read_text())["datasources"]
    prometheus_uids = {d["uid"] for d in datasources if d["type"] == "prometheus"}
    uids = []
    for group in data["groups"]:
        assert group["folder"] and group["name"] and group["interval"]
        for rule in group["rules"]:
            uids.append(rule["uid"])
            assert len(rule["uid"]) <= 40
            refs = {d["refId"]: d for d in rule["data"]}
            assert rule["condition"] in refs
            condition = refs[rule["condition"]]
            assert condition["datasourceUid"] == "__expr__"
            assert condition["model"]["type"] in ("math", "threshold")
            query = refs["A"]
            assert query["datasourceUid"] in prometheus_uids
            assert query["model"]["instant"] is True
            assert rule["noDataState"] in ("OK", "NoData", "Alerting")
            assert rule["execErrState"] in ("Error", "Alerting", "OK", "KeepLast")
            assert rule["annotations"]["runbook_url"].startswith("https://")
    assert len(uids) == len(set(uids))


def test_grafana_dashboard_provider() -> None:
    providers = yaml.safe_load(
        (ROOT / "grafana" / "provisioning" / "dashboards" / "dashboards.yml").read_text()
    )
    assert providers["apiVersion"] == 1
    [provider] = providers["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        (
            'sum by (state) (tencent_live_stream_state{account=~"$account"})',
            {"tencent_live_stream_state"},
        ),
        (
            'histogram_quantile(0.99, sum by (le) (rate(x_bucket{a="b"}[$__rate_interval])))',
            {"x_bucket"},
        ),
        ("time() - max(a_seconds) or vector(0)", {"a_seconds"}),
        ("8 * b_bytes offset 5m > bool 1e3", {"b_bytes"}),
        ("a * on (x, y) group_left (z) c unless ignoring(q) d", {"a", "c", "d"}),
        (
            'label_values(tencent_live_poll_workers{job="$job"}, account)',
            {"tencent_live_poll_workers"},
        ),
        ("label_values(job)", set()),
    ],
)
def test_metric_name_extraction(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names
