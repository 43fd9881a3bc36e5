"""Lint of the Grafana dashboards and the Grafana-managed alert rules.

The dashboards must import (``__inputs``/``__requires``) and provision (a ``datasource`` variable
instead of a fixed data source) cleanly, lay out without overlaps, set units, and name only metrics
of the contract in docs/metrics.md (or Prometheus' own series). The Grafana alert rules must stay
equivalent to prometheus/alerts.yml.

The helpers here (metric names in PromQL, the contract, the expressions of a dashboard) are also
used by tests/test_prometheus_integration.py.
"""

from __future__ import annotations

import json
import re
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
    "tencent-live-overview": ["account", "domain", "app", "stream", "env", "expect_live"],
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
