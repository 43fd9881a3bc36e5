"""Stream definitions and the pure functions that say what a stream is doing at time t.

A stream's state is a function of its definition, the instant it was put into the world (its
anchor) and t, and nothing else: that keeps timelines reproducible under a fake clock and lets
the world compute the next change of each stream without polling.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field

from exporter.cssapi import STREAM_STATES

ACTIVE = "active"
INACTIVE = "inactive"
FORBID = "forbid"

StreamKey = tuple[str, str, str]
"""(domain, app, stream)"""

# Timeline boundaries are computed in floating point; evaluating "just after" a boundary keeps
# the computed next change strictly in the future despite rounding at ~1.7e9 seconds.
BOUNDARY_EPSILON = 1e-6
MIN_PHASE_SECONDS = 0.001


@dataclass(frozen=True, slots=True)
class Quality:
    """Push quality values reported by DescribeLiveStreamPushInfoList and callbacks."""

    video_fps: int = 25
    audio_fps: int = 43
    video_bitrate: int = 2_000_000
    audio_bitrate: int = 128_000
    meta_video_bitrate: int | None = None
    meta_audio_bitrate: int | None = None
    meta_fps: int | None = None
    resolution: str = "1920*1080"
    vcodec: str = "H264"
    acodec: str = "AAC"
    asample_rate: int = 44100
    client_ip: str = "203.0.113.10"
    server_ip: str = "198.51.100.20"
    stream_param: str = ""

    def width_height(self) -> tuple[int, int]:
        try:
            width, height = self.resolution.split("*", 1)
            return int(width), int(height)
        except ValueError:
            return 0, 0


DEFAULT_QUALITY = Quality()


@dataclass(frozen=True, slots=True)
class ForbidInfo:
    """Forbid metadata; unset times derive from when the stream became forbidden."""

    create_time: float | None = None
    expire_time: float | None = None


@dataclass(frozen=True, slots=True)
class Phase:
    state: str
    duration: float


@dataclass(frozen=True, slots=True)
class StreamSpec:
    """What a stream does: a fixed ``state`` or a ``timeline`` of phases."""

    domain: str
    app: str
    stream: str
    state: str | None = INACTIVE
    timeline: tuple[Phase, ...] = ()
    repeat: bool = True
    offset: float = 0.0
    quality: Quality = DEFAULT_QUALITY
    forbid: ForbidInfo | None = None
    _ends: tuple[float, ...] = field(default=(), init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.timeline:
            ends: list[float] = []
            total = 0.0
            for phase in self.timeline:
                if phase.state not in STREAM_STATES:
                    raise ValueError(f"unknown state {phase.state!r}")
                if not phase.duration >= MIN_PHASE_SECONDS:
                    raise ValueError(f"phase duration must be >= {MIN_PHASE_SECONDS}s")
                total += phase.duration
                ends.append(total)
            object.__setattr__(self, "_ends", tuple(ends))
            object.__setattr__(self, "state", None)
        elif self.state not in STREAM_STATES:
            raise ValueError(f"unknown state {self.state!r}")
        if self.offset < 0 or math.isnan(self.offset):
            raise ValueError("offset must be >= 0")

    @property
    def key(self) -> StreamKey:
        return (self.domain, self.app, self.stream)

    @property
    def cycle(self) -> float:
        return self._ends[-1] if self._ends else 0.0


def _locate(spec: StreamSpec, elapsed: float) -> tuple[int, int]:
    """(cycle number, phase index) containing ``elapsed`` seconds after the timeline origin."""
    total = spec._ends[-1]
    if spec.repeat:
        cycle = math.floor(elapsed / total)
        pos = elapsed - cycle * total
    else:
        if elapsed >= total:
            return 0, len(spec.timeline) - 1
        cycle, pos = 0, elapsed
    index = bisect.bisect_right(spec._ends, pos)
    return cycle, min(index, len(spec.timeline) - 1)


def state_at(spec: StreamSpec, anchor: float, t: float) -> str:
    """The stream's state at ``t``; ``anchor`` is when the spec was put into the world."""
    if not spec.timeline:
        assert spec.state is not None
        return spec.state
    elapsed = max(t - anchor + spec.offset, 0.0)
    _, index = _locate(spec, elapsed)
    return spec.timeline[index].state


def _phase_start(spec: StreamSpec, origin: float, cycle: int, index: int) -> float:
    start = spec._ends[index - 1] if index > 0 else 0.0
    return origin + cycle * spec.cycle + start


def next_change(spec: StreamSpec, anchor: float, t: float) -> float | None:
    """The earliest time after ``t`` at which the state differs from ``state_at(t)``."""
    if not spec.timeline:
        return None
    origin = anchor - spec.offset
    elapsed = max(t - origin, 0.0)
    n = len(spec.timeline)
    if not spec.repeat and elapsed >= spec.cycle:
        return None
    cycle, index = _locate(spec, elapsed)
    current = spec.timeline[index].state
    for _ in range(n):
        index += 1
        if index == n:
            if not spec.repeat:
                return None
            index, cycle = 0, cycle + 1
        if spec.timeline[index].state != current:
            return max(_phase_start(spec, origin, cycle, index), t + BOUNDARY_EPSILON)
    return None


def run_start(spec: StreamSpec, anchor: float, t: float) -> float:
    """When the current run of ``state_at(t)`` began (push start, forbid start)."""
    origin = anchor - spec.offset
    if not spec.timeline:
        return origin
    elapsed = max(t - origin, 0.0)
    cycle, index = _locate(spec, elapsed)
    current = spec.timeline[index].state
    n = len(spec.timeline)
    start = _phase_start(spec, origin, cycle, index)
    for _ in range(n - 1):
        prev, prev_cycle = index - 1, cycle
        if prev < 0:
            if not spec.repeat or cycle == 0:
                break
            prev, prev_cycle = n - 1, cycle - 1
        if spec.timeline[prev].state != current:
            break
        index, cycle = prev, prev_cycle
        start = _phase_start(spec, origin, cycle, index)
    return start
