"""Seeded generation of large worlds (benchmarks, soak tests, ``--generate N``)."""

from __future__ import annotations

import random
from dataclasses import dataclass

from exporter.simulator.model import (
    ACTIVE,
    FORBID,
    INACTIVE,
    Phase,
    Quality,
    StreamSpec,
)

DEFAULT_DOMAINS: tuple[str, ...] = (
    "push-a.example.com",
    "push-b.example.com",
    "push-c.example.com",
)
DEFAULT_MIX: tuple[tuple[str, float], ...] = ((ACTIVE, 0.5), (INACTIVE, 0.4), (FORBID, 0.1))

# A few shared presets instead of one Quality per stream keeps 100k streams cheap in memory.
_PRESETS: tuple[Quality, ...] = (
    Quality(),
    Quality(
        video_fps=30, video_bitrate=3_500_000, resolution="1920*1080", client_ip="203.0.113.21"
    ),
    Quality(video_fps=25, video_bitrate=1_200_000, resolution="1280*720", client_ip="203.0.113.37"),
    Quality(video_fps=15, video_bitrate=600_000, resolution="960*540", client_ip="198.51.100.45"),
    Quality(
        video_fps=30,
        video_bitrate=2_500_000,
        resolution="720*1280",
        vcodec="H265",
        client_ip="192.0.2.14",
    ),
    Quality(video_fps=60, video_bitrate=6_000_000, resolution="2560*1440", client_ip="192.0.2.88"),
)


@dataclass(frozen=True)
class GenerateSpec:
    """Parameters of a generated population of streams."""

    count: int
    seed: int = 0
    domains: tuple[str, ...] = DEFAULT_DOMAINS
    apps: tuple[str, ...] = ("live",)
    mix: tuple[tuple[str, float], ...] = DEFAULT_MIX
    timeline_fraction: float = 0.1
    prefix: str = "gen"


def generate_specs(spec: GenerateSpec) -> list[StreamSpec]:
    """``spec.count`` streams spread round-robin over ``spec.domains``; same seed, same world."""
    rng = random.Random(spec.seed)
    states = [state for state, _ in spec.mix]
    weights = [weight for _, weight in spec.mix]
    width = max(6, len(str(spec.count)))
    out: list[StreamSpec] = []
    for i in range(spec.count):
        domain = spec.domains[i % len(spec.domains)]
        app = spec.apps[rng.randrange(len(spec.apps))] if len(spec.apps) > 1 else spec.apps[0]
        name = f"{spec.prefix}-{i:0{width}d}"
        quality = _PRESETS[rng.randrange(len(_PRESETS))]
        if rng.random() < spec.timeline_fraction:
            on = Phase(ACTIVE, float(rng.randint(20, 120)))
            off = Phase(INACTIVE, float(rng.randint(10, 60)))
            phases = (on, off) if rng.random() < 0.5 else (off, on)
            offset = rng.uniform(0, on.duration + off.duration)
            out.append(
                StreamSpec(domain, app, name, timeline=phases, offset=offset, quality=quality)
            )
        else:
            state = rng.choices(states, weights)[0]
            out.append(StreamSpec(domain, app, name, state=state, quality=quality))
    return out
