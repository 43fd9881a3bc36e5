"""What a stream is watched for beyond its labels: its broadcast schedule, how long after a
window opens it may still be starting, and its push-quality thresholds.

One frozen object per distinct combination, shared by every stream that has it (the plan
interns them), so that 100,000 streams of one show cost one object and a window edge is
evaluated once for all of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from exporter.broadcast.schedule import Schedule


@dataclass(frozen=True)
class Watch:
    schedule: Schedule | None = None  # None: expected always (expect_live: true) or never
    start_grace: float | None = None  # scheduled streams: StreamDidNotStart after this
    min_video_bitrate_ratio: float | None = None
    min_frame_rate_ratio: float | None = None
    max_push_restarts: int | None = None  # per hour
    _hash: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        key = (
            self.schedule,
            self.start_grace,
            self.min_video_bitrate_ratio,
            self.min_frame_rate_ratio,
            self.max_push_restarts,
        )
        object.__setattr__(self, "_hash", hash(key))

    def __hash__(self) -> int:
        return self._hash

    @property
    def thresholds(self) -> tuple[float | None, float | None, int | None]:
        return (self.min_video_bitrate_ratio, self.min_frame_rate_ratio, self.max_push_restarts)
