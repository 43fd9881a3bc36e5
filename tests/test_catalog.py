"""Cardinality controls: the metrics allow/deny lists (a golden exposition with families removed,
promtool-clean), the series estimate against a real render, and the documented table."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from prometheus_client import CollectorRegistry

from exporter.catalog import SERIES_PER_STREAM, describe, estimate, per_stream
from exporter.config import ConfigError, parse_config
from exporter.exposition import Exposition, pack_playback, split_families
from exporter.exposition.bucket import ALL_FAMILIES
from exporter.exposition.filter import MetricFilter
from exporter.history import Interrupt
from exporter.metrics import ExporterMetrics
from exporter.model import ApiError, ErrorClass, Observation, Source, StreamState
from exporter.runtime.plan import plan
from exporter.state import StateStore
from tests.test_exposition import Rendered, full_exposition, populate, wire

REPO = Path(__file__).resolve().parent.parent
GOLDEN = REPO / "tests" / "golden" / "filtered.prom"

# Push quality but the two families the quality alerts read, and one of the exporter's own.
DENY = (
    "tencent_live_stream_audio_*",
    "tencent_live_stream_push_info",
    "tencent_live_api_request_duration_seconds",
)


def filtered(enabled: MetricFilter, openmetrics: bool = False, own: bool = True) -> str:
    """The exposition of test_exposition's streams; ``own``: with the exporter's families
    (process_* among them, whose values change from call to call)."""
    metrics = ExporterMetrics()
    metrics.call_hook("main")("DescribeLiveStreamState", 0.05, None)
    expo, store, keys = wire(metrics.registry if own else CollectorRegistry())
    expo.set_filter(enabled)
    populate(store, keys, expo)
    return expo.render(openmetrics=openmetrics).decode()


def test_golden_filtered_exposition() -> None:
    text = filtered(MetricFilter(deny=DENY), own=False)
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN.write_text(text)
    assert text == GOLDEN.read_text()


def test_deny_removes_exactly_the_matching_families() -> None:
    full = split_families(full_exposition())
    text = filtered(MetricFilter(deny=DENY))
    kept = split_families(text)
    removed = {
        "tencent_live_stream_audio_bytes_per_second",
        "tencent_live_stream_audio_frames_per_second",
        "tencent_live_stream_push_info",
        "tencent_live_api_request_duration_seconds",
    }
    assert removed <= set(full)
    assert set(kept) == set(full) - removed
    for name in ("tencent_live_stream_state", "tencent_live_stream_video_bytes_per_second"):
        assert kept[name] == full[name]


def test_allow_list_keeps_only_matching_families_and_deny_wins() -> None:
    enabled = MetricFilter(
        allow=("tencent_live_stream_state", "tencent_live_api_*"),
        deny=("tencent_live_api_errors_total",),
    )
    names = set(split_families(filtered(enabled)))
    assert "tencent_live_stream_state" in names
    assert "tencent_live_api_requests_total" in names
    assert "tencent_live_api_errors_total" not in names
    assert not any(n.startswith(("process_", "tencent_live_exporter_")) for n in names)
    assert not any(
        n.startswith("tencent_live_stream_") and n != "tencent_live_stream_state" for n in names
    )


def test_openmetrics_filter_names_counters_with_total() -> None:
    # A pattern names the text format's family (with _total); OpenMetrics drops the suffix.
    enabled = MetricFilter(
        deny=("tencent_live_api_requests_total", "tencent_live_stream_errors_total")
    )
    text = filtered(enabled, openmetrics=True)
    assert "# TYPE tencent_live_api_requests counter" not in text
    assert "# TYPE tencent_live_stream_errors counter" not in text
    assert "# TYPE tencent_live_api_errors counter" in text
    assert text.endswith("# EOF\n")


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed")
def test_promtool_accepts_filtered_expositions() -> None:
    for enabled in (
        MetricFilter(deny=DENY),
        MetricFilter(allow=("tencent_live_stream_*",)),
        MetricFilter(allow=("nothing_matches",)),
    ):
        res = subprocess.run(
            ["promtool", "check", "metrics"],
            input=filtered(enabled),
            capture_output=True,
            text=True,
        )
        assert res.returncode == 0 and not (res.stdout + res.stderr).strip(), (
            res.stdout + res.stderr
        )


def test_changing_the_filter_re_renders_and_denied_text_is_not_kept() -> None:
    expo, store, keys = wire(ExporterMetrics().registry)
    populate(store, keys, expo)
    assert "tencent_live_stream_push_info{" in expo.render().decode()
    assert expo.set_filter(MetricFilter(deny=("tencent_live_stream_push_*",)))
    assert not expo.set_filter(MetricFilter(deny=("tencent_live_stream_push_*",)))  # same
    text = expo.render().decode()
    assert "tencent_live_stream_push_info" not in text
    buckets = expo.expo._buckets.all()  # what the cache keeps, not only what a scrape shows
    assert all("tencent_live_stream_push_info" not in b.packed for b in buckets)
    assert expo.set_filter(MetricFilter())
    assert "tencent_live_stream_push_info{" in expo.render().decode()


def test_unmatched_patterns_are_reported() -> None:
    enabled = MetricFilter(deny=("tencent_live_stream_push_*", "tencent_live_stream_pushinfo"))
    expo = Exposition(ExporterMetrics().registry)
    assert enabled.unmatched(expo.family_names()) == ["tencent_live_stream_pushinfo"]


@pytest.mark.parametrize("pattern", ["", "tencent live", "a{b}", "x\n"])
def test_config_refuses_what_is_not_a_family_pattern(pattern: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(
            "accounts: [{name: a}]\ntargets: [{domain: d, streams: [s]}]\n"
            f"metrics: {{deny: [{json.dumps(pattern)}]}}\n"
        )
    (problem,) = caught.value.problems
    assert problem.startswith("metrics.deny[0]: not a metric family name or pattern")


ESTIMATE_CONFIG = """
accounts:
  - name: main
    play_domains: [{name: play.example.com, push_domains: [push.example.com]}]
schedules:
  news: {time_zone: UTC, weekly: [{days: [mon], start: '19:00', end: '20:00'}]}
targets:
  - domain: push.example.com
    quality: {min_video_bitrate_ratio: 0.5}
    streams:
      - {name: on-air, expect_live: true, quality: {max_push_restarts: 3}}
      - {name: news, expect_live: {schedule: news}}
      - plain
  - domain: quiet.example.com
    push_info: false
    streams: [q1, q2]
"""


def per_stream_series(text: str) -> int:
    return sum(
        1
        for line in text.splitlines()
        if line.startswith("tencent_live_stream_") and 'stream="' in line
    )


@pytest.mark.parametrize(
    "enabled",
    [MetricFilter(), MetricFilter(deny=DENY), MetricFilter(allow=("tencent_live_stream_state",))],
    ids=["all", "deny", "allow"],
)
def test_estimate_matches_a_render_off_air_and_on_air(enabled: MetricFilter) -> None:
    config = parse_config(ESTIMATE_CONFIG)
    est = estimate(config, enabled)
    assert est.streams == 5 and not est.discovering
    p = plan(config)
    store = StateStore()
    expo = Rendered(Exposition(ExporterMetrics().registry), store)
    expo.set_filter(enabled)
    expo.set_streams((k, s.extra, s.down_after, s.watch) for k, s in p.specs.items())
    for key, policy in p.policies.items():
        store.add(key, policy)
    t0 = 1_800_000_000.0
    for key in p.specs:
        store.apply(Observation(key, t0, Source.STATE_API, state=StreamState.INACTIVE), t0)
    assert per_stream_series(expo.render().decode()) == est.low

    from tests.test_exposition import QUALITY

    for key in p.specs:
        store.apply(Observation(key, t0 + 60, Source.STATE_API, state=StreamState.ACTIVE), t0 + 60)
        error = ApiError("InternalError", ErrorClass.SERVER, "x")
        store.apply(Observation(key, t0 + 61, Source.STATE_API, error=error), t0 + 61)
        interrupt = Interrupt(t0 + 30, "network", 1, "reset", "callback", 25.0)
        expo.history.interrupted(key, interrupt)
        expo.history.push_errors(key, {"frame_loss": 1})
    expo.set_push({k: QUALITY for k in p.specs if k.domain == "push.example.com"})
    expo.set_playback(
        {k: pack_playback(5, 1e5, 1) for k in p.specs if k.domain == "push.example.com"}
    )
    assert per_stream_series(expo.render().decode()) == est.high


def test_describe_names_discovery_and_the_filter() -> None:
    config = parse_config(
        "accounts: [{name: a}]\ntargets:\n  - {domain: d, streams: [s]}\n"
        "  - {domain: e, app: live, max_streams: 500}\n"
        "metrics: {deny: [tencent_live_stream_push_*]}\n"
    )
    enabled = MetricFilter(deny=tuple(config.metrics.deny))
    lines = describe(estimate(config, enabled), enabled)
    assert lines[0].startswith("series: 5 to ")
    assert "discovery target e/live: up to 500 more streams" in lines[1]
    assert "deny ['tencent_live_stream_push_*']" in lines[2]


def test_config_check_prints_the_estimate(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(ESTIMATE_CONFIG)
    import contextlib
    import io

    from exporter.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["--config.file", str(path), "--config.check"]) == 0
    assert re.search(
        r"^series: \d+ to \d+ per-stream series for 5 configured streams", out.getvalue(), re.M
    )


# -- the documented table ------------------------------------------------------------------

WHEN = {
    "always": "every tracked stream",
    "active": "while pushing, with `push_info` (the default)",
    "viewers": "on a push domain a play domain serves",
    "expect_live": "with `expect_live`",
    "schedule": "with a broadcast schedule",
    "quality": "with that `quality` threshold set",
    "history": "once it had one: one per code, reason or error type",
}


def series_table() -> str:
    """docs/metrics.md's series-per-stream table, from the families and the shipped rules."""
    rules = yaml.safe_load((REPO / "prometheus" / "alerts.yml").read_text(encoding="utf-8"))
    uses: dict[str, set[str]] = {}
    for group in rules["groups"]:
        for rule in group["rules"]:
            for name in set(re.findall(r"tencent_live_stream_[a-z_]+", rule["expr"])):
                uses.setdefault(name, set()).add(rule.get("alert") or rule["record"])
    rows = ["| family | series | which streams | alerts that read it |", "|---|---|---|---|"]
    for name, series, when in SERIES_PER_STREAM:
        alerts = ", ".join(sorted(uses.get(name, ()))) or "none"
        rows.append(f"| `{name}` | {series} | {WHEN[when]} | {alerts} |")
    return "\n".join(rows) + "\n"


def test_metrics_doc_has_the_series_per_stream_table() -> None:
    doc = (REPO / "docs" / "metrics.md").read_text(encoding="utf-8")
    match = re.search(r"<!-- series-per-stream -->\n(.*?)<!-- /series-per-stream -->", doc, re.S)
    assert match, "docs/metrics.md lacks the series-per-stream markers"
    assert match.group(1) == series_table(), "regenerate with tests/test_catalog.py::series_table"


def test_every_per_stream_family_has_a_known_condition() -> None:
    assert {f.when for f in ALL_FAMILIES} <= set(WHEN)
    assert [n for n, _, _ in SERIES_PER_STREAM] == sorted(f.name for f in ALL_FAMILIES)


def test_the_readmes_fleet_example_is_what_the_catalog_counts() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    example = re.search(
        r"cost about ([\d,]+) series with the default families and\n([\d,]+)", readme
    )
    assert example, "README.md lost the fleet example under Metrics"
    block = re.search(r"```yaml\n(metrics:\n.*?)```", readme, re.S)
    assert block, "README.md lost the lean metrics.allow example"
    lean = MetricFilter(allow=tuple(yaml.safe_load(block.group(1))["metrics"]["allow"]))
    on_air = {"always", "active", "viewers", "history"}
    counts = [
        5000 * per_stream(f, {"always"}) + 5000 * per_stream(f, on_air)
        for f in (MetricFilter(), lean)
    ]
    assert [int(x.replace(",", "")) for x in example.groups()] == counts
