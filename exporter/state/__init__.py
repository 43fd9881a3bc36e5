"""Per-stream state: the pure rule that combines sources (``combine``) and the store (``store``)."""

from exporter.state.combine import (
    AGREE_WINDOW,
    STALE,
    Outcome,
    Policy,
    StreamStatus,
    apply_verdict,
    callback_newer,
    combine,
    deadline,
    exposed,
    observe,
    refresh,
    skipped,
)
from exporter.state.store import StateStore

__all__ = [
    "AGREE_WINDOW",
    "STALE",
    "Outcome",
    "Policy",
    "StateStore",
    "StreamStatus",
    "apply_verdict",
    "callback_newer",
    "combine",
    "deadline",
    "exposed",
    "observe",
    "refresh",
    "skipped",
]
