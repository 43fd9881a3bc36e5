"""The exposition's expected-live, window, threshold and history families, with a fake wall
clock: a schedule is re-rendered when its window edge passes (the tick), not on a poll."""

from __future__ import annotations

import datetime as dt

from prometheus_client import CollectorRegistry

from exporter.broadcast import Once, Schedule, Watch, Weekly
from exporter.exposition import Exposition
from exporter.history import CALLBACK, EVENT_LIST, Interrupt
from exporter.model import Observation, Source, StreamKey, StreamState
from exporter.state import Policy, StateStore
from tests.e2e import parse_samples, sample

T0 = dt.datetime(2026, 1, 5, 9, 20, tzinfo=dt.UTC).timestamp()  # a Monday, 09:20 UTC
MINUTE = 60.0
NEWS = Schedule((Weekly(frozenset(range(7)), 10 * 3600, 11 * 3600, "UTC"),), name="news")
MATCH = Schedule(once=(Once(T0 + 3600, T0 + 7200),))


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


def key(stream: str) -> StreamKey:
    return StreamKey("main", "push.example.com", "live", stream)


class Rig:
    def __init__(self) -> None:
        self.clock = Clock()
        self.store = StateStore()
        self.expo = Exposition(CollectorRegistry(), wall=self.clock)
        policy = Policy(300.0, 900.0)
        news = Watch(schedule=NEWS, start_grace=120.0)
        streams = [
            (key("news"), (("expect_live", "scheduled"), ("team", "studio")), 300.0, news),
            (key("match"), (("expect_live", "scheduled"),), 60.0, Watch(schedule=MATCH)),
            (key("always"), (("expect_live", "true"),), 300.0, Watch(min_frame_rate_ratio=0.3)),
            (key("never"), (("expect_live", "false"),), None, None),
            (key("plain"), (), None, None),
        ]
        self.expo.set_streams(streams)
        for k, *_ in streams:
            self.store.add(k, policy)
            self.store.apply(Observation(k, T0, Source.STATE_API, state=StreamState.INACTIVE), T0)

    def metrics(self) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
        self.expo.mark(self.store.take_changes() or [])
        self.expo.flush(self.store.get_many)
        return parse_samples(b"".join(self.expo.render_chunks()).decode())


def test_expected_live_windows_and_thresholds() -> None:
    rig = Rig()
    rig.expo.schedule_tick(rig.clock.now)  # learns the schedules' first edges
    m = rig.metrics()
    expected = {
        s: sample(m, "tencent_live_stream_expected_live", stream=s)
        for s in ("news", "match", "always", "never", "plain")
    }
    assert expected == {"news": 0.0, "match": 0.0, "always": 1.0, "never": 0.0, "plain": None}
    # Not expected now: the next window (news 10:00-11:00 UTC daily, the match at T0 + 1h).
    window = "tencent_live_stream_window_{}_timestamp_seconds"
    assert sample(m, window.format("start"), stream="news") == T0 + 40 * MINUTE
    assert sample(m, window.format("end"), stream="news") == T0 + 100 * MINUTE
    assert sample(m, window.format("end"), stream="match") == T0 + 120 * MINUTE
    grace = "tencent_live_stream_start_grace_seconds"
    assert sample(m, grace, stream="news") == 120.0
    assert sample(m, grace, stream="match") == 60.0  # no start_grace: its down_after
    assert sample(m, grace, stream="always") is None
    assert sample(m, "tencent_live_stream_min_frame_rate_ratio", stream="always") == 0.3
    assert sample(m, "tencent_live_stream_min_video_bitrate_ratio", stream="always") is None
    # The team label is carried on the new families, like on every per-stream series.
    assert sample(m, "tencent_live_stream_expected_live", stream="news", team="studio") == 0.0


def test_the_tick_re_renders_a_schedule_at_its_edges_only() -> None:
    rig = Rig()
    tick = rig.expo.schedule_tick
    assert tick(rig.clock.now) == 0  # first edges learnt, nothing changed
    rig.metrics()

    def expected(stream: str) -> float | None:
        return sample(rig.metrics(), "tencent_live_stream_expected_live", stream=stream)

    rig.clock.now = T0 + 39 * MINUTE
    assert tick(rig.clock.now) == 0
    rig.clock.now = T0 + 40 * MINUTE  # news opens
    assert expected("news") == 0.0  # nothing re-rendered it yet: not a time-driven render
    assert tick(rig.clock.now) == 1
    assert expected("news") == 1.0
    assert tick(rig.clock.now + 1) == 0
    rig.clock.now = T0 + 60 * MINUTE  # the match opens
    assert tick(rig.clock.now) == 1
    assert (expected("news"), expected("match")) == (1.0, 1.0)
    rig.clock.now = T0 + 100 * MINUTE  # news closes; tomorrow's window is next
    assert tick(rig.clock.now) == 1
    m = rig.metrics()
    assert sample(m, "tencent_live_stream_expected_live", stream="news") == 0.0
    start = sample(m, "tencent_live_stream_window_start_timestamp_seconds", stream="news")
    assert start == T0 + 40 * MINUTE + 86400
    rig.clock.now = T0 + 120 * MINUTE  # the match is over, and no window is left
    assert tick(rig.clock.now) == 1
    m = rig.metrics()
    assert sample(m, "tencent_live_stream_expected_live", stream="match") == 0.0
    assert sample(m, "tencent_live_stream_window_start_timestamp_seconds", stream="match") is None


def test_streams_of_one_schedule_share_its_edges() -> None:
    """10,000 streams on one schedule: one edge to watch, and one evaluation per render."""
    clock = Clock()
    expo = Exposition(CollectorRegistry(), wall=clock)
    watch = Watch(schedule=NEWS)
    expo.set_streams(
        (key(f"s{i:05d}"), (("expect_live", "scheduled"),), 300.0, watch) for i in range(10_000)
    )
    assert len(expo._edges) == 1
    expo.schedule_tick(clock.now)
    clock.now = T0 + 40 * MINUTE
    assert expo.schedule_tick(clock.now) == 10_000


def test_history_families() -> None:
    rig = Rig()
    history = rig.expo.history
    k = key("always")
    first = Interrupt(T0 - 600, "network", 12, "network error\nfor the push client", CALLBACK, None)
    assert history.interrupted(k, first)
    # The event list reports the same interrupt a few seconds apart: counted once, and it fills
    # in the session's duration.
    again = Interrupt(T0 - 597, "other", None, "断流", EVENT_LIST, 3600.0)
    assert not history.interrupted(k, again)
    assert history.interrupted(k, Interrupt(T0 - 60, "clean_stop", 1, 'say "bye"', CALLBACK, 30.0))
    history.push_errors(k, {"video_frame_late": 2, "other": 1})
    m = rig.metrics()
    counts = {
        reason: sample(m, "tencent_live_stream_interrupts_total", stream="always", reason=reason)
        for reason in ("network", "clean_stop", "other")
    }
    assert counts == {"network": 1.0, "clean_stop": 1.0, "other": None}
    errors = "tencent_live_stream_push_errors_total"
    assert sample(m, errors, stream="always", error="video_frame_late") == 2.0
    last = [
        dict(labels)
        for (name, labels), value in m.items()
        if name == "tencent_live_stream_last_interrupt_timestamp_seconds" and value == T0 - 60
    ]
    assert [(d["reason"], d["code"], d["message"]) for d in last] == [
        ("clean_stop", "1", 'say "bye"')
    ]
    assert sample(m, "tencent_live_stream_last_push_duration_seconds", stream="always") == 30.0
    # An untracked stream's history goes with it.
    rig.expo.remove_stream(k)
    assert history.get(k) is None
