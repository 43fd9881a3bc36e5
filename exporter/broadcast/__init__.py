"""Broadcast schedules: when streams are expected to be live (``schedule``, pure) and what a
stream is watched for (``watch``: its schedule, start grace and push-quality thresholds)."""

from exporter.broadcast.schedule import (
    DAY_NAMES,
    Expectation,
    Once,
    Schedule,
    Weekly,
    expectation,
)
from exporter.broadcast.watch import Watch

__all__ = ["DAY_NAMES", "Expectation", "Once", "Schedule", "Watch", "Weekly", "expectation"]
