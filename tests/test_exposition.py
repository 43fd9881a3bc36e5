"""The exposition for a fixed store state, against a golden file and promtool."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from exporter.config import parse_config
from exporter.exposition import Exposition, format_labels, split_families
from exporter.metrics import ExporterMetrics
from exporter.model import ApiError, ErrorClass, Observation, Source, StreamKey, StreamState
from exporter.state import StateStore

GOLDEN = Path(__file__).parent / "golden" / "streams.prom"

CONFIG = """
accounts:
  - name: main
    credentials: {secret_id: AKIDgolden, secret_key: golden-secret-key}
targets:
  - domain: push.example.com
    labels: {team: studio}
    streams:
      - name: alpha
        expect_live: true
      - beta
      - name: 'we"ird\\name'
        labels: {note: "line\\nbreak"}
  - domain: play.example.org
    app: app2
    streams: [gamma]
"""


def build() -> tuple[Exposition, StateStore, list[StreamKey]]:
    from exporter.app import plan

    p = plan(parse_config(CONFIG))
    expo = Exposition(p.labels, CollectorRegistry())
    store = StateStore(p.labels, listener=expo.stream_changed)
    return expo, store, sorted(p.labels)


def populate(store: StateStore, keys: list[StreamKey]) -> None:
    gamma, alpha, beta, weird = keys  # sorted: play.example.org first
    t0 = 1_700_000_000.0
    src = Source.STATE_API
    store.apply(Observation(alpha, t0, src, state=StreamState.ACTIVE))
    store.apply(Observation(beta, t0 + 1, src, state=StreamState.INACTIVE))
    store.apply(Observation(beta, t0 + 61, src, state=StreamState.ACTIVE))
    store.apply(
        Observation(
            beta, t0 + 121, src, error=ApiError("Timeout", ErrorClass.TRANSPORT, "timed out")
        )
    )
    store.apply(
        Observation(
            beta, t0 + 181, src, error=ApiError("InternalError", ErrorClass.SERVER, "x", "r1")
        )
    )
    store.apply(Observation(gamma, t0 + 2, src, state=StreamState.FORBID))
    # weird stays unknown: never observed.
    assert store.get(weird) is not None


def test_golden_stream_exposition() -> None:
    expo, store, keys = build()
    populate(store, keys)
    text = expo.render().decode()
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(text)
    assert text == GOLDEN.read_text()


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed")
def test_promtool_accepts_golden_and_full_exposition() -> None:
    for text in (GOLDEN.read_text(), full_exposition()):
        res = subprocess.run(
            ["promtool", "check", "metrics"], input=text, capture_output=True, text=True
        )
        assert res.returncode == 0, res.stdout + res.stderr
        assert res.stdout.strip() == "" and res.stderr.strip() == ""


def full_exposition() -> str:
    from exporter.app import plan

    p = plan(parse_config(CONFIG))
    metrics = ExporterMetrics()
    hook = metrics.call_hook("main")
    hook("DescribeLiveStreamState", 0.05, None)
    hook("DescribeLiveStreamState", 1.5, ApiError("Timeout", ErrorClass.TRANSPORT))
    expo = Exposition(p.labels, metrics.registry)
    store = StateStore(p.labels, listener=expo.stream_changed)
    populate(store, sorted(p.labels))
    return expo.render().decode()


def test_output_sorted_stable_and_cached() -> None:
    text = full_exposition()
    names = [line.split()[2] for line in text.splitlines() if line.startswith("# HELP")]
    assert names == sorted(names)
    assert len(names) == len(set(names))
    expo, store, keys = build()
    populate(store, keys)
    first = expo.render()
    assert expo.render() == first  # nothing changed: identical bytes
    store.apply(Observation(keys[0], 1_800_000_000.0, Source.STATE_API, state=StreamState.ACTIVE))
    assert expo.render() != first


def test_no_sample_timestamps_and_help_mentions_cache() -> None:
    text = full_exposition()
    for line in text.splitlines():
        if line.startswith("#") or not line:
            continue
        # After the name and labels comes the value alone; a second field is a timestamp.
        rest = line.rsplit("}", 1)[1] if "}" in line else line.split(" ", 1)[1]
        assert len(rest.split()) == 1, line
    blocks = split_families(text)
    assert "Cached from the last poll" in blocks["tencent_live_stream_state"]


def test_secret_not_in_exposition() -> None:
    assert "golden-secret-key" not in full_exposition()


def test_label_escaping() -> None:
    assert format_labels((("a", 'x"y\\z\nw'),)) == 'a="x\\"y\\\\z\\nw"'
