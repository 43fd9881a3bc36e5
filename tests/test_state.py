"""Pure state transitions, table-driven with explicit times (no clock, no threads)."""

from __future__ import annotations

import pytest

from exporter.model import ApiError, ErrorClass, Observation, Source, StreamKey, StreamState
from exporter.state import StateStore, StreamStatus, expire, next_status

KEY = StreamKey("main", "push.example.com", "live", "s1")
A, IN, F, U = (StreamState.ACTIVE, StreamState.INACTIVE, StreamState.FORBID, StreamState.UNKNOWN)


def ok(t: float, state: StreamState) -> Observation:
    return Observation(KEY, t, Source.STATE_API, state=state)


def fail(t: float, code: str, cls: ErrorClass = ErrorClass.TRANSPORT) -> Observation:
    return Observation(KEY, t, Source.STATE_API, error=ApiError(code, cls, "boom", "req-1"))


def run(events: list[Observation | tuple[str, float, float]]) -> StreamStatus:
    status = StreamStatus()
    for ev in events:
        if isinstance(ev, tuple):
            _, now, stale_after = ev
            status = expire(status, now, stale_after)
        else:
            status = next_status(status, ev)
    return status


@pytest.mark.parametrize(
    ("events", "state", "last_change", "last_success", "consecutive"),
    [
        ([], U, None, None, 0),
        ([ok(10, A)], A, 10, 10, 0),
        ([ok(10, A), ok(20, A)], A, 10, 20, 0),
        ([ok(10, A), ok(20, IN)], IN, 20, 20, 0),
        ([ok(10, F)], F, 10, 10, 0),
        # API faults never make a stream inactive: the last state is kept.
        ([ok(10, A), fail(20, "Timeout")], A, 10, 10, 1),
        ([ok(10, A), fail(20, "BadResponse"), fail(30, "InternalError")], A, 10, 10, 2),
        (
            [ok(10, A), fail(20, "RequestLimitExceeded", ErrorClass.THROTTLED)],
            A,
            10,
            10,
            1,
        ),
        ([ok(10, A), fail(20, "AuthFailure.SignatureFailure", ErrorClass.AUTH)], A, 10, 10, 1),
        ([fail(5, "Timeout")], U, None, None, 1),
        # A success resets the error streak.
        ([ok(10, A), fail(20, "Timeout"), ok(30, A)], A, 10, 30, 0),
        # An older answer arriving late does not move the stream back in time.
        ([ok(30, IN), ok(20, A)], IN, 30, 30, 0),
        # Staleness: unknown once nothing confirmed the state for stale_after.
        ([ok(10, A), ("expire", 39, 30)], A, 10, 10, 0),
        ([ok(10, A), ("expire", 40, 30)], U, 40, 10, 0),
        ([ok(10, A), fail(20, "Timeout"), ("expire", 45, 30)], U, 45, 10, 1),
        # ...and back to a real state on the next success.
        ([ok(10, A), ("expire", 40, 30), ok(50, A)], A, 50, 50, 0),
        # Expiring a never-seen stream changes nothing.
        ([("expire", 100, 30)], U, None, None, 0),
    ],
)
def test_transitions(
    events: list[Observation | tuple[str, float, float]],
    state: StreamState,
    last_change: float | None,
    last_success: float | None,
    consecutive: int,
) -> None:
    status = run(events)
    assert status.state is state
    assert status.last_change == last_change
    assert status.last_success == last_success
    assert status.consecutive_errors == consecutive


def test_errors_counted_by_code() -> None:
    status = run([fail(1, "Timeout"), fail(2, "InternalError"), fail(3, "Timeout")])
    assert status.errors_by_code == (("InternalError", 1), ("Timeout", 2))
    assert status.last_error is not None and status.last_error.request_id == "req-1"
    # Counters survive a success; only the streak resets.
    status = next_status(status, ok(4, A))
    assert status.errors_by_code == (("InternalError", 1), ("Timeout", 2))


def test_observation_without_state_or_error_is_a_bug() -> None:
    with pytest.raises(ValueError, match="state or an error"):
        next_status(StreamStatus(), Observation(KEY, 1, Source.STATE_API))


def test_store_notifies_only_real_changes() -> None:
    seen: list[tuple[StreamKey, StreamState]] = []
    store = StateStore([KEY], listener=lambda k, s: seen.append((k, s.state)))
    assert seen == [(KEY, U)]  # initial render
    store.apply(ok(10, A))
    store.apply(ok(10, A))  # identical: no notification
    store.apply(ok(20, A))  # last_success moved: notified
    assert [s for _, s in seen] == [U, A, A]
    assert store.expire(25, lambda k: 30) == 0
    assert store.expire(60, lambda k: 30) == 1
    assert store.get(KEY) is not None and store.get(KEY).state is U  # type: ignore[union-attr]


def test_store_ignores_streams_it_does_not_track() -> None:
    store = StateStore([KEY])
    other = StreamKey("main", "push.example.com", "live", "gone")
    store.apply(Observation(other, 1, Source.STATE_API, state=A))
    assert other not in store.snapshot()


def test_readiness_needs_every_stream_attempted() -> None:
    k2 = StreamKey("main", "push.example.com", "live", "s2")
    store = StateStore([KEY, k2])
    assert not store.all_attempted([KEY, k2])
    store.apply(fail(1, "Timeout"))
    assert not store.all_attempted([KEY, k2])
    store.mark_skipped(k2)
    assert store.all_attempted([KEY, k2])
