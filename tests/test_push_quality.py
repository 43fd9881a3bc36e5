"""Push quality on /metrics equals what the simulator scripted, for a golden set of streams."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.e2e import exporter_config, run_exporter, sample, start_simulator, wait_for

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
