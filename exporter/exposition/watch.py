"""The per-stream families of what a stream is watched for: whether it is expected live now (its
broadcast schedule, evaluated here), its window, its start grace and quality thresholds, and its
history (interrupts by reason, push errors by type, the last interrupt).

Expected-live changes with time, not with a poll: ``ScheduleEdges`` knows when each distinct
schedule's answer next changes, and the exposition re-renders the streams of a schedule only
when that edge passes (the tick asks, once a second, at the cost of one comparison per distinct
schedule). A render evaluates each schedule once for all the streams that share it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable

from prometheus_client.utils import floatToGoString

from exporter.broadcast import Expectation, Schedule, Watch, expectation
from exporter.exposition.families import Family, escape_label_value
from exporter.history import StreamHistory

__all__ = [
    "EXPECTED",
    "INTERRUPTS",
    "LAST_INTERRUPT",
    "PUSH_ERRORS",
    "WATCH_FAMILIES",
    "Evaluate",
    "ScheduleEdges",
    "evaluator",
    "render_watch",
]

_HISTORY = (
    "Counted once per interrupt from the interrupt callbacks and DescribeLiveStreamEventList."
)

EXPECTED = Family(
    "tencent_live_stream_expected_live",
    "gauge",
    "1 while the stream is expected to be live: always for expect_live true, inside a window of "
    "its broadcast schedule for expect_live scheduled; 0 otherwise. Evaluated by the exporter.",
    when="expect_live",
)
WINDOW_START = Family(
    "tencent_live_stream_window_start_timestamp_seconds",
    "gauge",
    "Scheduled streams: Unix time the current window began while expected live, else when the "
    "next window begins; absent when no window is left.",
    when="schedule",
)
WINDOW_END = Family(
    "tencent_live_stream_window_end_timestamp_seconds",
    "gauge",
    "Scheduled streams: Unix time the current window ends while expected live, else when the "
    "next window ends; absent when no window is left.",
    when="schedule",
)
START_GRACE = Family(
    "tencent_live_stream_start_grace_seconds",
    "gauge",
    "Scheduled streams: how long after a window opens the stream may still be starting before "
    "StreamDidNotStart fires (config start_grace, else down_after).",
    when="schedule",
)
MIN_BITRATE = Family(
    "tencent_live_stream_min_video_bitrate_ratio",
    "gauge",
    "Configured share of the announced video bitrate below which StreamBitrateLow fires "
    "(config quality.min_video_bitrate_ratio; absent: the rule's default).",
    when="quality",
)
MIN_FPS = Family(
    "tencent_live_stream_min_frame_rate_ratio",
    "gauge",
    "Configured share of the announced frame rate below which StreamFrameRateLow fires "
    "(config quality.min_frame_rate_ratio; absent: the rule's default).",
    when="quality",
)
MAX_RESTARTS = Family(
    "tencent_live_stream_max_push_restarts",
    "gauge",
    "Configured push restarts per hour above which StreamPushRestarting fires "
    "(config quality.max_push_restarts; absent: the rule's default).",
    when="quality",
)
INTERRUPTS = Family(
    "tencent_live_stream_interrupts_total",
    "counter",
    "Push interrupts by reason (clean_stop, network, auth_or_ban, other). " + _HISTORY,
    when="history",
)
PUSH_ERRORS = Family(
    "tencent_live_stream_push_errors_total",
    "counter",
    "Push errors CSS reported (push-error callbacks, event_type 321), by abnormal_event type.",
    when="history",
)
LAST_INTERRUPT = Family(
    "tencent_live_stream_last_interrupt_timestamp_seconds",
    "gauge",
    "Unix time of the last push interrupt, with its reason, the callback's errcode and the "
    "message (errmsg, or the event list's StopReason; at most 64 characters).",
    when="history",
)
LAST_DURATION = Family(
    "tencent_live_stream_last_push_duration_seconds",
    "gauge",
    "How long the push session that the last interrupt ended had lasted, when known.",
    when="history",
)

WATCH_FAMILIES: tuple[Family, ...] = (
    EXPECTED,
    WINDOW_START,
    WINDOW_END,
    START_GRACE,
    MIN_BITRATE,
    MIN_FPS,
    MAX_RESTARTS,
    INTERRUPTS,
    PUSH_ERRORS,
    LAST_INTERRUPT,
    LAST_DURATION,
)

# A schedule's answer at the render's instant, shared by the streams of the schedule.
Evaluate = Callable[[Schedule], Expectation]


# prometheus_client's own float formatting, as the other families use.
_number: Callable[[float], str] = floatToGoString


def render_watch(
    lines: dict[str, list[str]],
    labels: str,
    expect: str | None,
    watch: Watch | None,
    down_after: float | None,
    evaluate: Evaluate,
    history: StreamHistory | None,
) -> None:
    """Append one stream's lines of these families (``expect``: its expect_live label)."""
    if expect is not None:
        schedule = watch.schedule if watch is not None else None
        if schedule is not None:
            now = evaluate(schedule)
            lines[EXPECTED.name].append(f"{EXPECTED.name}{{{labels}}} {int(now.expected)}\n")
            if now.start is not None and now.end is not None:
                lines[WINDOW_START.name].append(
                    f"{WINDOW_START.name}{{{labels}}} {_number(now.start)}\n"
                )
                lines[WINDOW_END.name].append(f"{WINDOW_END.name}{{{labels}}} {_number(now.end)}\n")
            grace = watch.start_grace if watch is not None else None
            grace = grace if grace is not None else down_after
            if grace is not None:
                lines[START_GRACE.name].append(f"{START_GRACE.name}{{{labels}}} {_number(grace)}\n")
        else:
            flag = 1 if expect == "true" else 0
            lines[EXPECTED.name].append(f"{EXPECTED.name}{{{labels}}} {flag}\n")
    if watch is not None:
        for family, value in zip(
            (MIN_BITRATE, MIN_FPS, MAX_RESTARTS), watch.thresholds, strict=True
        ):
            if value is not None:
                lines[family.name].append(f"{family.name}{{{labels}}} {_number(value)}\n")
    if history is not None:
        _render_history(lines, labels, history)


def _render_history(lines: dict[str, list[str]], labels: str, history: StreamHistory) -> None:
    n = INTERRUPTS.name
    for reason, count in history.interrupts:
        lines[n].append(f'{n}{{{labels},reason="{reason}"}} {count}.0\n')
    n = PUSH_ERRORS.name
    for error, count in history.push_errors:
        lines[n].append(f'{n}{{{labels},error="{error}"}} {count}.0\n')
    last = history.last
    if last is None:
        return
    code = "" if last.code is None else str(last.code)
    message = escape_label_value(last.message)
    n = LAST_INTERRUPT.name
    lines[n].append(
        f'{n}{{{labels},code="{code}",message="{message}",reason="{last.reason}"}}'
        f" {_number(last.time)}\n"
    )
    if last.duration is not None:
        lines[LAST_DURATION.name].append(
            f"{LAST_DURATION.name}{{{labels}}} {_number(last.duration)}\n"
        )


class ScheduleEdges:
    """When each distinct schedule in use next changes its answer. A leaf owner, like the
    exposition that holds it: nothing is called while its lock is held."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._edges: dict[Schedule, float | None] = {}
        self._new: set[Schedule] = set()

    def track(self, schedule: Schedule) -> None:
        """A schedule some stream uses: its first edge is found by the next ``due``."""
        with self._lock:
            if schedule not in self._edges:
                self._edges[schedule] = None
                self._new.add(schedule)

    def keep(self, schedules: Iterable[Schedule]) -> None:
        """Forget schedules no stream uses any more (after a reload)."""
        wanted = set(schedules)
        with self._lock:
            self._edges = {s: e for s, e in self._edges.items() if s in wanted}
            self._new &= wanted

    def due(self, now: float) -> set[Schedule]:
        """The schedules whose answer changed since the last call (an edge passed): each gets
        its next edge. New schedules only get their first edge."""
        changed: set[Schedule] = set()
        with self._lock:
            new, self._new = self._new, set()
            for schedule, edge in self._edges.items():
                if schedule in new:
                    self._edges[schedule] = expectation(schedule, now).edge
                elif edge is not None and now >= edge:
                    changed.add(schedule)
                    self._edges[schedule] = expectation(schedule, now).edge
        return changed

    def __len__(self) -> int:
        with self._lock:
            return len(self._edges)


def evaluator(now: float) -> Evaluate:
    """Each schedule's answer at ``now``, computed once per schedule."""
    memo: dict[Schedule, Expectation] = {}

    def evaluate(schedule: Schedule) -> Expectation:
        found = memo.get(schedule)
        if found is None:
            found = memo[schedule] = expectation(schedule, now)
        return found

    return evaluate
