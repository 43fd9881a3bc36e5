"""Push quality on /metrics equals what the simulator scripted, for a golden set of streams."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from exporter.model import ApiError, ErrorClass
from exporter.simulator import Simulator, World
from tests.drive import Clock, make_app, poll_round
from tests.e2e import (
    SECRET_ID,
    SECRET_KEY,
    exporter_config,
    run_exporter,
    sample,
    start_simulator,
    wait_for,
)

DOMAIN = "push.example.com"
GOLDEN: dict[str, dict[str, Any]] = {
    "cam-1080": {
        "video_fps": 50,
        "audio_fps": 47,
        "video_bitrate": 6_000_000,
        "audio_bitrate": 192_000,
        "meta_video_bitrate": 6_500_000,
        "meta_fps": 50,
        "resolution": "1920*1080",
        "vcodec": "H265",
        "acodec": "AAC",
        "asample_rate": 48000,
        "client_ip": "203.0.113.50",
    },
    "phone-portrait": {
        "video_fps": 30,
        "video_bitrate": 1_200_000,
        "audio_bitrate": 64_000,
        "resolution": "720*1280",
        "client_ip": "198.51.100.77",
    },
    "low-fps": {"video_fps": 5, "video_bitrate": 300_000, "resolution": "640*360"},
}
DEFAULTS = {"audio_fps": 43, "audio_bitrate": 128_000, "vcodec": "H264", "acodec": "AAC"}


def expected(q: dict[str, Any]) -> dict[str, float]:
    q = {**DEFAULTS, **q}
    width, height = (float(v) for v in q["resolution"].split("*"))
    return {
        "tencent_live_stream_video_frames_per_second": q["video_fps"],
        "tencent_live_stream_audio_frames_per_second": q["audio_fps"],
        # The API's bits/s, exported in bytes/s (Prometheus base unit).
        "tencent_live_stream_video_bytes_per_second": q["video_bitrate"] / 8,
        "tencent_live_stream_audio_bytes_per_second": q["audio_bitrate"] / 8,
        "tencent_live_stream_metadata_video_bytes_per_second": q.get(
            "meta_video_bitrate", q["video_bitrate"]
        )
        / 8,
        "tencent_live_stream_metadata_frames_per_second": q.get("meta_fps", q["video_fps"]),
        "tencent_live_stream_video_width_pixels": width,
        "tencent_live_stream_video_height_pixels": height,
    }


def test_push_quality_matches_the_scripted_values(tmp_path: Path) -> None:
    streams = [
        {"domain": DOMAIN, "stream": name, "state": "active", "quality": quality}
        for name, quality in GOLDEN.items()
    ]
    streams.append({"domain": DOMAIN, "stream": "offline", "state": "inactive"})
    sim = start_simulator({"streams": streams})
    try:
        config = exporter_config(sim.url, {DOMAIN: [*GOLDEN, "offline"]})
        config["targets"][0]["push_info_ips"] = True
        with run_exporter(tmp_path, config) as exp:
            exp.wait_ready()
            wait_for(
                lambda: all(
                    sample(exp.metrics(), "tencent_live_stream_push_info", stream=n) == 1
                    for n in GOLDEN
                ),
                15,
                "push info of every active stream",
            )
            m = exp.metrics()
            for name, quality in GOLDEN.items():
                for metric, value in expected(quality).items():
                    assert sample(m, metric, stream=name) == value, (name, metric)
                q = {**DEFAULTS, **quality}
                assert (
                    sample(
                        m,
                        "tencent_live_stream_push_info",
                        stream=name,
                        video_codec=q["vcodec"],
                        audio_codec=q["acodec"],
                        resolution=q["resolution"],
                        client_ip=q.get("client_ip", "203.0.113.10"),
                    )
                    == 1
                ), name
            # Offline streams have no push series; a stream that stops loses them.
            assert sample(m, "tencent_live_stream_push_info", stream="offline") is None
            sim.world.set_state(DOMAIN, "live", "low-fps", "inactive")
            wait_for(
                lambda: (
                    sample(
                        exp.metrics(),
                        "tencent_live_stream_video_frames_per_second",
                        stream="low-fps",
                    )
                    is None
                ),
                25,
                "push series of a stopped stream gone",
            )
    finally:
        sim.stop()


def test_push_pages_apply_as_they_come_and_a_failed_page_removes_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world = World.generate(2500, seed=3, domains=[DOMAIN], timeline_fraction=0.0)
    for s in world.streams():
        world.set_state(s.domain, s.app, s.stream, "active")
    sim = Simulator(world, credentials={SECRET_ID: SECRET_KEY})
    sim.start()
    names = [s.stream for s in world.streams()]
    target = {"domain": DOMAIN, "mode": "online_list", "streams": names, "push_info": True}
    app = make_app(sim, Clock(), [target])
    try:
        poll_round(app)
        assert {k.stream for k in app.exposition.push_keys()} == set(names)

        # Page 2 of 3 fails (and its one retry): page 1 is applied as it came, and no
        # stream loses its values because of the pages that were never read.
        acc = app.poller.dispatcher.account("t")
        assert acc is not None
        client = acc.client
        real = client.push_page
        asked: list[int] = []

        def page_two_fails(domain: str, app_: str, page: int, size: int, ips: bool) -> object:
            asked.append(page)
            if page == 2:
                return ApiError("InternalError", ErrorClass.SERVER, "scripted")
            return real(domain, app_, page, size, ips)

        app.exposition.set_push({k: None for k in app.exposition.push_keys()})
        stopped = names[:5]
        for name in stopped:
            world.set_state(DOMAIN, "live", name, "inactive")
        monkeypatch.setattr(client, "push_page", page_two_fails)
        poll_round(app)
        assert asked == [1, 2, 2]
        assert len(app.exposition.push_keys()) == 1000

        monkeypatch.setattr(client, "push_page", real)
        poll_round(app)
        assert {k.stream for k in app.exposition.push_keys()} == set(names) - set(stopped)
    finally:
        sim.stop()
