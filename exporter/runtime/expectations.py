"""Planning what each configured stream is expected to do: ``expect_live`` (true, false or a
broadcast schedule) and the push-quality thresholds become one shared ``Watch`` per distinct
combination, and the ``expect_live`` label.

Pure, like the rest of planning. The label keeps its two historic values for true and false
(rules and dashboards select ``expect_live="true"``); a scheduled stream is
``expect_live="scheduled"`` and its ``tencent_live_stream_expected_live`` gauge says whether it
is expected now.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from exporter.broadcast import Once, Schedule, Watch, Weekly
from exporter.config import Config, StreamEntry, Target
from exporter.config.expect import DatedWindow, ExpectSchedule, Quality, ScheduleSpec

__all__ = ["EXPECT_SCHEDULED", "Expectations", "Expected"]

EXPECT_SCHEDULED = "scheduled"


@dataclass(frozen=True, slots=True)
class Expected:
    """What planning needs of a stream's expectation."""

    label: str | None  # the expect_live label: "true", "false", "scheduled", or none
    watch: Watch | None  # None: nothing beyond the labels (the common case, shared)
    pages: bool  # expected live at some time: it gets a down_after


_NOTHING = Expected(None, None, False)


class Expectations:
    """Resolves ``expect_live`` and ``quality`` of one config, sharing what repeats."""

    def __init__(self, config: Config | None) -> None:
        self._named = config.schedules if config is not None else {}
        self._schedules: dict[str, Schedule] = {}
        self._watches: dict[Watch, Watch] = {}
        self._targets: dict[int, Expected] = {}

    @classmethod
    def without_schedules(cls) -> Expectations:
        """For targets planned on their own (no named schedules to refer to)."""
        return cls(None)

    def of(self, target: Target, entry: StreamEntry) -> Expected:
        if entry.expect_live is None and entry.quality is None:
            # Most streams of a large fleet: resolved once per target.
            found = self._targets.get(id(target))
            if found is None:
                found = self._targets[id(target)] = self._resolve(
                    target.expect_live, target.quality
                )
            return found
        expect = entry.expect_live if entry.expect_live is not None else target.expect_live
        quality = entry.quality.over(target.quality) if entry.quality else target.quality
        return self._resolve(expect, quality)

    def _resolve(self, expect: bool | ExpectSchedule | None, quality: Quality | None) -> Expected:
        schedule: Schedule | None = None
        grace: float | None = None
        if isinstance(expect, ExpectSchedule):
            schedule, grace = self._schedule(expect)
            label: str | None = EXPECT_SCHEDULED
        elif expect is None:
            label = None
        else:
            label = "true" if expect else "false"
        pages = expect is True or schedule is not None
        if schedule is None and quality is None:
            return Expected(label, None, pages) if label is not None else _NOTHING
        q = quality or Quality()
        watch = Watch(
            schedule=schedule,
            start_grace=grace,
            min_video_bitrate_ratio=q.min_video_bitrate_ratio,
            min_frame_rate_ratio=q.min_frame_rate_ratio,
            max_push_restarts=q.max_push_restarts,
        )
        return Expected(label, self._watches.setdefault(watch, watch), pages)

    def _schedule(self, expect: ExpectSchedule) -> tuple[Schedule, float | None]:
        if expect.schedule is not None:
            spec: ScheduleSpec = self._named[expect.schedule]
            key, name = f"name:{expect.schedule}", expect.schedule
        else:
            spec, name = expect, None
            key = "inline:" + expect.model_dump_json(exclude={"start_grace"})
        schedule = self._schedules.get(key)
        if schedule is None:
            schedule = self._schedules[key] = build_schedule(spec, name)
        grace = expect.start_grace if expect.start_grace is not None else spec.start_grace
        return schedule, grace


def build_schedule(spec: ScheduleSpec, name: str | None = None) -> Schedule:
    """The evaluable schedule of a validated one (zones are known, dated windows complete)."""
    weekly = []
    for w in spec.weekly:
        zone = w.time_zone or spec.time_zone
        assert zone is not None, "validated: every weekly window has a zone"
        weekly.append(Weekly(frozenset(w.days), w.start, w.end, zone))
    once = tuple(Once(_instant(d.start, d, spec), _instant(d.end, d, spec)) for d in spec.once)
    return Schedule(tuple(weekly), once, name)


def _instant(value: dt.datetime, window: DatedWindow, spec: ScheduleSpec) -> float:
    if value.tzinfo is None:
        zone = window.time_zone or spec.time_zone
        assert zone is not None, "validated: a naive dated window has a zone"
        value = value.replace(tzinfo=ZoneInfo(zone))
    return value.timestamp()
