"""The exposition for a fixed store state, against a golden file and promtool."""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from exporter.config import parse_config
from exporter.exposition import (
    BUCKET_SIZE,
    Exposition,
    cache,
    format_labels,
    pack_push,
    split_families,
    unpack_push,
)
from exporter.metrics import API_DURATION_BUCKETS, ExporterMetrics
from exporter.model import (
    ApiError,
    ErrorClass,
    Observation,
    PushInfo,
    Source,
    StreamKey,
    StreamState,
)
from exporter.render import Renderer
from exporter.state import Policy, StateStore

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


class Rendered:
    """The exposition as the app runs it: the renderer hands it the store's changes.

    ``flush`` and ``render`` first take what changed in the store (what the render thread does);
    everything else is the exposition's own."""

    def __init__(self, expo: Exposition, store: StateStore) -> None:
        self.expo = expo
        self.renderer = Renderer(store, expo, threading.Event())

    def flush(self) -> int:
        return self.renderer.sync()

    def render(self, openmetrics: bool = False) -> bytes:
        self.renderer.sync()
        return b"".join(self.expo.render_chunks(openmetrics=openmetrics))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.expo, name)

    def __len__(self) -> int:
        return len(self.expo)


def pair() -> tuple[Rendered, StateStore]:
    store = StateStore()
    return Rendered(Exposition(CollectorRegistry()), store), store


def wire(registry: CollectorRegistry) -> tuple[Rendered, StateStore, list[StreamKey]]:
    """The exposition and store as the app wires them, for CONFIG's streams."""
    from exporter.runtime.plan import plan

    p = plan(parse_config(CONFIG))
    store = StateStore()
    expo = Rendered(Exposition(registry), store)
    expo.set_streams((k, spec.extra, spec.down_after) for k, spec in p.specs.items())
    for key, policy in p.policies.items():
        store.add(key, policy)
    return expo, store, sorted(p.specs)


def build() -> tuple[Rendered, StateStore, list[StreamKey]]:
    return wire(CollectorRegistry())


T0 = 1_700_000_000.0
QUALITY = PushInfo(
    video_bitrate=2_500_000,
    audio_bitrate=128_000,
    video_fps=30,
    audio_fps=47,
    meta_video_bitrate=2_600_000,
    meta_audio_bitrate=128_000,
    meta_fps=30,
    width=1280,
    height=720,
    begin_time=T0 - 3600,
    video_codec="H264",
    audio_codec="AAC",
    resolution="1280*720",
    audio_sample_rate="44100",
    client_ip="203.0.113.7",
    server_ip="198.51.100.1",
)


def populate(store: StateStore, keys: list[StreamKey], expo: Rendered | None = None) -> None:
    gamma, alpha, beta, weird = keys  # sorted: play.example.org first
    src = Source.STATE_API

    def apply(obs: Observation) -> None:
        store.apply(obs, obs.time)

    apply(Observation(alpha, T0, src, state=StreamState.ACTIVE))
    apply(Observation(beta, T0 + 1, src, state=StreamState.INACTIVE))
    apply(Observation(beta, T0 + 61, src, state=StreamState.ACTIVE))
    apply(
        Observation(
            beta, T0 + 121, src, error=ApiError("Timeout", ErrorClass.TRANSPORT, "timed out")
        )
    )
    apply(
        Observation(
            beta, T0 + 130, src, error=ApiError("InternalError", ErrorClass.SERVER, "x", "r1")
        )
    )
    apply(Observation(gamma, T0 + 2, src, state=StreamState.FORBID))
    apply(Observation(alpha, T0 + 5, Source.CALLBACK, state=StreamState.INACTIVE, sequence="9"))
    apply(Observation(alpha, T0 + 8, Source.CALLBACK, state=StreamState.ACTIVE, sequence="10"))
    if expo is not None:
        expo.set_push({alpha: QUALITY, gamma: QUALITY})  # gamma is not active: not shown
    # weird stays unknown: never observed.
    assert store.get(weird) is not None


def test_golden_stream_exposition() -> None:
    expo, store, keys = build()
    populate(store, keys, expo)
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
    metrics = ExporterMetrics()
    hook = metrics.call_hook("main")
    hook("DescribeLiveStreamState", 0.05, None)
    hook("DescribeLiveStreamState", 1.5, ApiError("Timeout", ErrorClass.TRANSPORT))
    expo, store, keys = wire(metrics.registry)
    populate(store, keys, expo)
    return expo.render().decode()


def test_a_call_counted_by_a_second_worker_while_the_first_creates_its_children(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The interleaving of the chaos soak's KeyError, made deterministic: another worker's call
    # runs between the first call's creation of the counter and of the histogram.
    metrics = ExporterMetrics()
    hook = metrics.call_hook("main")
    action = "DescribeLiveStreamState"
    create = metrics.api_duration.labels
    nested: list[bool] = []

    def labels_with_a_call_in_between(*values: str) -> Any:
        if not nested:
            nested.append(True)
            hook(action, 0.2, None)  # the second worker
        return create(*values)

    with monkeypatch.context() as patch:
        patch.setattr(metrics.api_duration, "labels", labels_with_a_call_in_between)
        hook(action, 0.1, None)
    hook(action, 0.3, None)
    assert nested == [True]
    registry = metrics.registry
    labels = {"account": "main", "action": action}
    assert registry.get_sample_value("tencent_live_api_requests_total", labels) == 3
    assert registry.get_sample_value("tencent_live_api_request_duration_seconds_count", labels) == 3
    total = registry.get_sample_value("tencent_live_api_request_duration_seconds_sum", labels)
    assert total is not None and abs(total - 0.6) < 1e-9


def test_output_sorted_stable_and_cached() -> None:
    text = full_exposition()
    names = [line.split()[2] for line in text.splitlines() if line.startswith("# HELP")]
    assert names == sorted(names)
    assert len(names) == len(set(names))
    expo, store, keys = build()
    populate(store, keys)
    first = expo.render()
    assert expo.render() == first  # nothing changed: identical bytes
    store.apply(
        Observation(keys[0], 1_800_000_000.0, Source.STATE_API, state=StreamState.ACTIVE),
        1_800_000_000.0,
    )
    assert expo.render() != first


def test_registry_children_render_in_label_order_not_first_use_order() -> None:
    # Which API call finishes first is a race; the exposition must not show it.
    calls = [
        ("DescribeLiveStreamState", 0.05, None),
        (
            "DescribeLiveStreamPushInfoList",
            0.2,
            ApiError("RequestLimitExceeded", ErrorClass.THROTTLED),
        ),
        ("DescribeLiveStreamOnlineList", 0.01, ApiError("InternalError", ErrorClass.SERVER)),
        ("DescribeLiveStreamState", 0.3, ApiError("Timeout", ErrorClass.TRANSPORT)),
    ]
    texts = []
    for order in (calls, calls[::-1]):
        metrics = ExporterMetrics()
        for account in ("b", "a"):
            hook = metrics.call_hook(account)
            for call in order:
                hook(*call)
        text = expo_registry_text(metrics)
        texts.append(text)
    assert texts[0] == texts[1]
    blocks = split_families(texts[0])
    counts = [
        line.split("{", 1)[1]
        for line in blocks["tencent_live_api_request_duration_seconds"].splitlines()
        if line.startswith("tencent_live_api_request_duration_seconds_count")
    ]
    assert counts == sorted(counts) and len(counts) == 6
    # A histogram child's samples stay together and in le order.
    buckets = [
        line
        for line in blocks["tencent_live_api_request_duration_seconds"].splitlines()
        if "_bucket{" in line and 'account="a"' in line
    ]
    assert len(buckets) == 3 * (len(API_DURATION_BUCKETS) + 1)
    assert 'le="+Inf"' in buckets[len(API_DURATION_BUCKETS)]


def expo_registry_text(metrics: ExporterMetrics) -> str:
    text = generate_latest(metrics.registry).decode()
    return "".join(line for line in text.splitlines(keepends=True) if "process_" not in line)


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


def test_openmetrics_and_gzip_chunks_match_the_text() -> None:
    metrics = ExporterMetrics()
    expo, store, keys = wire(metrics.registry)
    populate(store, keys, expo)

    def stable(data: bytes) -> bytes:
        # process_* values (CPU time, memory) move between two renders.
        lines = data.decode().splitlines(keepends=True)
        return "".join(line for line in lines if "process_" not in line).encode()

    text = expo.render()
    assert stable(gzip.decompress(b"".join(expo.render_chunks(compressed=True)))) == stable(text)
    om = expo.render(openmetrics=True).decode()
    assert om.endswith("# EOF\n")
    assert "# TYPE tencent_live_stream_errors counter" in om
    assert 'tencent_live_stream_errors_total{account="main"' in om
    om_gz = b"".join(expo.render_chunks(openmetrics=True, compressed=True))
    assert stable(gzip.decompress(om_gz)) == stable(om.encode())


def test_buckets_split_and_shrink_keeping_series_sorted() -> None:
    expo, store = pair()
    policy = Policy(180, 1800)
    keys = [StreamKey("a", "d", "live", f"s{i:05d}") for i in range(3 * BUCKET_SIZE)]
    # Streams arrive one by one (discovery), in an order that is not sorted.
    for key in reversed(keys):
        expo.set_stream(key, (("env", "x"),), None)
        store.add(key, policy)
    expo.flush()

    def streams() -> list[str]:
        return [
            line.split('stream="', 1)[1].split('"', 1)[0]
            for line in expo.render().decode().splitlines()
            if line.startswith("tencent_live_stream_state{") and 'state="unknown"' in line
        ]

    assert streams() == [k.stream for k in keys]
    for key in keys[::2]:
        expo.remove_stream(key)
        store.remove(key)
    expo.flush()
    assert streams() == [k.stream for k in keys[1::2]]
    assert len(expo) == len(keys) // 2


def test_flush_renders_only_changed_buckets() -> None:
    expo, store = pair()
    keys = [StreamKey("a", "d", "live", f"s{i:05d}") for i in range(10 * BUCKET_SIZE)]
    expo.set_streams((k, (), None) for k in keys)
    for key in keys:
        store.add(key, Policy(180, 1800))
    assert expo.flush() == 10
    assert expo.flush() == 0
    store.apply(Observation(keys[5], T0, Source.STATE_API, state=StreamState.ACTIVE), T0)
    # A confirmation that changes nothing visible renders nothing.
    store.apply(Observation(keys[5], T0 + 60, Source.STATE_API, state=StreamState.ACTIVE), T0 + 60)
    assert expo.flush() == 1


def test_a_reload_relabels_a_slice_at_a_time_and_adds_new_streams_in_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(cache, "RELABEL_SLICE", 7)  # many slices, one ending mid-way
    expo, store = pair()
    keys = [StreamKey("a", "d", "live", f"s{i:03d}") for i in range(0, 100, 2)]
    expo.set_streams((k, (("team", "day"),), None) for k in keys)
    for key in keys:
        store.add(key, Policy(180, 1800))
    expo.flush()
    new = [StreamKey("a", "d", "live", f"s{i:03d}") for i in range(1, 100, 4)]
    for key in new:
        store.add(key, Policy(180, 1800))
    held: list[int] = []
    relabel = cache.Exposition._relabel

    def counting(self: cache.Exposition, items: list[Any]) -> list[Any]:
        held.append(len(items))  # one hold of the lock per slice
        return relabel(self, items)

    monkeypatch.setattr(cache.Exposition, "_relabel", counting)
    expo.set_streams((k, (("team", "night"),), None) for k in [*keys, *new])
    assert held == [7] * 10 + [5]
    expo.flush()
    body = expo.render().decode()
    states = [line for line in body.splitlines() if line.startswith("tencent_live_stream_state{")]
    streams = [line.split('stream="', 1)[1].split('"', 1)[0] for line in states]
    assert streams == sorted(k.stream for k in [*keys, *new] for _ in range(4))
    assert all('team="night"' in line for line in states)


def test_a_held_renderer_renders_nothing_but_the_holders_own_syncs() -> None:
    store = StateStore()
    expo = Exposition(CollectorRegistry())
    renderer = Renderer(store, expo, threading.Event())
    key = StreamKey("a", "d", "live", "s")
    expo.set_stream(key, (), None)
    store.add(key, Policy(180, 1800))
    other_began, other_done = threading.Event(), threading.Event()
    rendered: list[int] = []

    def other() -> None:
        other_began.set()
        rendered.append(renderer.sync())
        other_done.set()

    with renderer.held():
        worker = threading.Thread(target=other)
        worker.start()
        other_began.wait()
        assert not other_done.wait(0.2)  # the render thread waits for the holder
        assert renderer.sync() == 1  # the holder's own render goes on
    worker.join(10)
    assert rendered == [0]  # and found nothing left to do


@pytest.mark.parametrize(
    "info",
    [
        PushInfo(),
        PushInfo(video_bitrate=0.0, width=1920.0, height=1080.0, video_codec="H264"),
        PushInfo(
            video_bitrate=6e6,
            audio_bitrate=192000.0,
            video_fps=29.97,
            audio_fps=47.0,
            meta_video_bitrate=6.5e6,
            meta_audio_bitrate=1e-3,
            meta_fps=-1.0,
            width=720.0,
            height=1280.0,
            begin_time=1_800_000_000.25,
            video_codec="H265",
            audio_codec='A"A\\C',
            resolution="720*1280",
            audio_sample_rate="48000",
            client_ip="2001:db8::1",
            server_ip="é中文",
        ),
    ],
)
def test_push_values_are_kept_packed_without_loss(info: PushInfo) -> None:
    assert unpack_push(pack_push(info)) == info


def test_push_strings_with_nul_lose_only_the_nul() -> None:
    packed = pack_push(PushInfo(video_codec="H2\x0064", client_ip="1.2.3.4"))
    assert unpack_push(packed) == PushInfo(video_codec="H264", client_ip="1.2.3.4")


def test_push_values_off_and_on_air_again() -> None:
    expo, store, keys = build()
    populate(store, keys, expo)
    alpha = keys[1]
    video = "tencent_live_stream_video_bytes_per_second"
    assert f'{video}{{account="main",domain="push.example.com"' in expo.render().decode()
    expo.set_push({alpha: None})  # stopped pushing: no values, and no longer listed as pushing
    assert f"{video}{{" not in expo.render().decode()
    assert alpha not in expo.push_keys()
    assert expo.flush() == 0
    expo.set_push({alpha: None})  # already without values: nothing to re-render
    assert expo.flush() == 0
    expo.set_push({alpha: QUALITY})  # back on air
    assert f"{video}{{" in expo.render().decode()
    assert alpha in expo.push_keys()
