"""Pure state transitions and the seed's combination rule, table-driven with explicit times."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from exporter.model import (
    ApiError,
    ErrorClass,
    Observation,
    Source,
    StreamKey,
    StreamState,
    Verdict,
)
from exporter.state import (
    AGREE_WINDOW,
    STALE,
    Outcome,
    Policy,
    StateStore,
    StreamStatus,
    combine,
    deadline,
    observe,
    refresh,
)

KEY = StreamKey("main", "push.example.com", "live", "s1")
A, IN, F, U = (StreamState.ACTIVE, StreamState.INACTIVE, StreamState.FORBID, StreamState.UNKNOWN)
SA, OL, FL, CB = Source.STATE_API, Source.ONLINE_LIST, Source.FORBID_LIST, Source.CALLBACK
POLICY = Policy(stale_after=30, forbid_stale_after=600)


def ok(t: float, state: StreamState, source: Source = SA, seq: str = "") -> Observation:
    return Observation(KEY, t, source, state=state, sequence=seq)


def fail(t: float, code: str, cls: ErrorClass = ErrorClass.TRANSPORT) -> Observation:
    return Observation(KEY, t, SA, error=ApiError(code, cls, "boom", "req-1"))


Event = Observation | tuple[str, float]


def run(events: list[Event]) -> StreamStatus:
    """Observations are applied at their own time; ("at", t) lets the clock pass to t."""
    status = StreamStatus(POLICY)
    for ev in events:
        if isinstance(ev, tuple):
            status = refresh(status, ev[1])
        else:
            status, _ = observe(status, ev, ev.time)
    return status


@pytest.mark.parametrize(
    ("events", "state", "last_change", "source"),
    [
        ([], U, None, None),
        ([ok(10, A)], A, 10, "state_api"),
        ([ok(10, A), ok(20, A)], A, 10, "state_api"),
        ([ok(10, A), ok(20, IN)], IN, 20, "state_api"),
        ([ok(10, F)], F, 10, "state_api"),
        # API faults never make a stream inactive: the last state is kept.
        ([ok(10, A), fail(20, "Timeout")], A, 10, "state_api"),
        ([ok(10, A), fail(20, "BadResponse"), fail(25, "InternalError")], A, 10, "state_api"),
        ([ok(10, A), fail(20, "RequestLimitExceeded", ErrorClass.THROTTLED)], A, 10, "state_api"),
        (
            [ok(10, A), fail(20, "AuthFailure.SignatureFailure", ErrorClass.AUTH)],
            A,
            10,
            "state_api",
        ),
        ([fail(5, "Timeout")], U, None, None),
        # An older answer arriving late does not move the stream back in time.
        ([ok(30, IN), ok(20, A)], IN, 30, "state_api"),
        # Staleness: unknown once nothing confirmed the state for stale_after.
        ([ok(10, A), ("at", 39)], A, 10, "state_api"),
        ([ok(10, A), ("at", 40)], U, 40, STALE),
        ([ok(10, A), fail(20, "Timeout"), ("at", 45)], U, 45, STALE),
        ([ok(10, A), ("at", 45), ok(50, A)], A, 50, "state_api"),
        # An interrupt callback makes the stream inactive at once...
        ([ok(10, A), ok(15, IN, CB, "1")], IN, 15, "callback"),
        # ... even when a poll that started before it still said active...
        ([ok(14, A), ok(15, IN, CB, "1")], IN, 15, "callback"),
        # ... and the next poll confirms or corrects it.
        ([ok(10, A), ok(15, IN, CB, "1"), ok(40, IN)], IN, 15, "callback"),
        ([ok(10, A), ok(15, IN, CB, "1"), ok(40, A)], A, 40, "state_api"),
        # A push callback is online at once; a lagging list that misses it (within the agree
        # window) does not overrule it: online if any source says so.
        ([ok(10, IN, OL), ok(20, A, CB, "2")], A, 20, "callback"),
        (
            [ok(10, IN, OL), ok(20, A, CB, "2"), ok(20 + AGREE_WINDOW - 1, IN, OL)],
            A,
            20,
            "callback",
        ),
        # Past the window the list's later word stands.
        (
            [ok(10, IN, OL), ok(20, A, CB, "2"), ok(20 + AGREE_WINDOW + 30, IN, OL)],
            IN,
            60,
            "online_list",
        ),
        # Two polling sources disagreeing at about the same time: active wins.
        ([ok(10, IN, OL), ok(12, A, SA)], A, 12, "state_api"),
        ([ok(10, A, SA), ok(12, IN, OL)], A, 10, "state_api"),
        ([ok(10, A, SA), ok(25, IN, OL)], IN, 25, "online_list"),
        # Bans: a listed forbid makes a not-listed stream forbid, a lifted ban inactive.
        ([ok(10, IN, OL), ok(11, F, FL)], F, 11, "forbid_list"),
        ([ok(10, F, FL), ok(20, IN, OL)], F, 10, "forbid_list"),
        ([ok(10, F, FL), ok(20, IN, OL), ok(25, IN, FL)], IN, 25, "online_list"),
        ([ok(10, F, SA), ok(20, IN, FL)], IN, 20, "state_api"),
        # A stream on the list is active whatever an older ban said.
        ([ok(10, F, FL), ok(20, A, OL)], A, 20, "online_list"),
        # Forbid verdicts have their own (longer) freshness window.
        ([ok(10, F, FL), ("at", 100)], F, 10, "forbid_list"),
        ([ok(10, F, FL), ("at", 610)], U, 610, STALE),
    ],
)
def test_transitions(
    events: list[Event], state: StreamState, last_change: float | None, source: str | None
) -> None:
    status = run(events)
    assert (status.state, status.last_change, status.change_source) == (state, last_change, source)


def test_errors_are_counted_by_code_and_reset_by_success() -> None:
    status = run([ok(10, A), fail(20, "Timeout"), fail(21, "Timeout"), fail(22, "InternalError")])
    assert status.errors_by_code == (("InternalError", 1), ("Timeout", 2))
    assert status.consecutive_errors == 3
    assert (status.last_error_code, status.last_error_time) == ("InternalError", 22)
    assert run([fail(5, "Timeout"), ok(10, A)]).consecutive_errors == 0


@pytest.mark.parametrize(
    ("first", "second", "outcome", "state"),
    [
        ((20, "5", IN), (20, "5", IN), Outcome.DUPLICATE, IN),
        ((20, "5", IN), (10, "4", A), Outcome.OUT_OF_ORDER, IN),
        # Another session in the same second: the later arrival wins.
        ((20, "5", IN), (20, "4", A), Outcome.APPLIED, A),
        ((20, "5", A), (20, "10", IN), Outcome.APPLIED, IN),
        ((20, "5", A), (21, "1", IN), Outcome.APPLIED, IN),
        # A push under a second: its interrupt shares time and sequence and still applies.
        ((20, "5", A), (20, "5", IN), Outcome.APPLIED, IN),
        ((20, "5", IN), (20, "5", A), Outcome.OUT_OF_ORDER, IN),
    ],
)
def test_callback_retries_never_go_back_in_time(
    first: tuple[float, str, StreamState],
    second: tuple[float, str, StreamState],
    outcome: Outcome,
    state: StreamState,
) -> None:
    status, _ = observe(StreamStatus(POLICY), ok(first[0], first[2], CB, first[1]), 25)
    after, got = observe(status, ok(second[0], second[2], CB, second[1]), 26)
    assert got is outcome
    assert after.state is state


def test_combine_ignores_stale_verdicts_and_callbacks_older_than_the_lead() -> None:
    old_push = Verdict(A, 0, CB)
    poll = Verdict(IN, 100, SA)
    assert combine((poll, None, None, old_push), POLICY, 101) == (IN, SA)
    assert combine((None, None, None, None), POLICY, 5) == (U, None)


def test_deadline_is_the_next_verdict_to_go_stale() -> None:
    status = run([ok(10, A), ok(12, F, FL)])
    assert deadline(status, 12) == 40
    assert deadline(status, 40) == 612
    assert deadline(status, 612) is None


def test_store_records_only_exposed_changes_and_expires_by_deadline() -> None:
    seen: list[StreamKey] = []
    changed = threading.Event()
    store = StateStore(changed=changed)

    def take() -> None:
        changes = store.take_changes()
        assert changes is not None
        seen.extend(changes)

    store.add(KEY, POLICY)
    assert changed.is_set()
    take()
    assert seen == [KEY]
    assert store.apply(ok(10, A), 10) is Outcome.APPLIED
    assert store.apply(ok(20, A), 20) is Outcome.APPLIED  # confirmation: nothing to re-render
    take()
    assert seen == [KEY, KEY]
    assert store.tick(49) == 0
    assert store.tick(50) == 1
    status = store.get(KEY)
    assert status is not None
    assert (status.state, status.change_source) == (U, STALE)
    take()
    assert seen == [KEY, KEY, KEY]
    assert store.tick(10_000) == 0
    take()
    assert seen == [KEY, KEY, KEY]


def test_store_says_everything_changed_when_changes_pile_up() -> None:
    # A renderer that fell behind gets "all of them" instead of an ever-growing list.
    store, keys = store_of(10)
    assert store.take_changes() == keys
    for t in range(1, 100_002):
        store.apply(Observation(keys[0], float(t), Source.CALLBACK, state=A if t % 2 else IN), t)
    assert store.take_changes() is None
    assert store.take_changes() == []


def store_of(n: int) -> tuple[StateStore, list[StreamKey]]:
    """A store tracking ``n`` streams of one target, all new."""
    store = StateStore()
    keys = [StreamKey("main", "d", "live", f"s{i}") for i in range(n)]
    for key in keys:
        store.add(key, POLICY)
    return store, keys


def test_a_bulk_update_wakes_the_renderer_once_when_all_of_it_is_in() -> None:
    # 5,000 streams are three slices of the lock; a render woken by the first slice would
    # re-render every bucket for a third of the round, then again for the rest.
    woken = threading.Event()
    store = StateStore(changed=woken)
    keys = [StreamKey("main", "d", "live", f"s{i}") for i in range(5000)]
    for key in keys:
        store.add(key, POLICY)
    store.take_changes()
    woken.clear()
    awake_while_applying: list[bool] = []

    def feed() -> Iterator[StreamKey]:
        for key in keys:
            awake_while_applying.append(woken.is_set())
            yield key

    store.apply_bulk(feed(), Verdict(A, 5, OL), 6)
    assert awake_while_applying == [False] * 5000
    assert woken.is_set()
    changes = store.take_changes()
    assert changes is not None and len(changes) == 5000


def test_changes_made_together_wake_once_when_the_last_holder_leaves() -> None:
    woken = threading.Event()
    store = StateStore(changed=woken)
    keys = [StreamKey("main", "d", "live", f"s{i}") for i in range(3)]
    with store.together():
        store.add(keys[0], POLICY)
        with store.together():  # a round's two bulks inside the round's own hold
            store.apply_bulk(keys[:1], Verdict(A, 5, OL), 6)
            store.add(keys[1], POLICY)
        assert not woken.is_set()
        store.apply(Observation(keys[0], 7.0, Source.CALLBACK, state=IN), 7)  # any writer
        assert not woken.is_set()
    assert woken.is_set()
    assert store.take_changes() == [keys[0], keys[0], keys[1], keys[0]]
    # Nothing recorded inside: nothing to wake for; outside, changes wake as before.
    woken.clear()
    with store.together():
        unknown = Observation(keys[2], 5.0, Source.CALLBACK, state=A)
        assert store.apply(unknown, 6) is Outcome.UNKNOWN_STREAM
    assert not woken.is_set()
    store.add(keys[2], POLICY)
    assert woken.is_set()


def test_adding_many_streams_is_adding_each_and_wakes_once() -> None:
    woken = threading.Event()
    one, many = StateStore(), StateStore(changed=woken)
    keys = [StreamKey("main", "d", "live", f"s{i}") for i in range(4500)]
    longer = Policy(stale_after=60, forbid_stale_after=600)
    for store in (one, many):
        store.add(keys[0], POLICY)
        store.apply(Observation(keys[0], 10.0, SA, state=A), 10)
    woken.clear()
    awake: list[bool] = []

    def feed() -> Iterator[tuple[StreamKey, Policy]]:
        for i, key in enumerate(keys):
            awake.append(woken.is_set())
            yield key, longer if i == 0 else POLICY

    many.add_many(feed())
    for i, key in enumerate(keys):
        one.add(key, longer if i == 0 else POLICY)
    assert many.snapshot() == one.snapshot()
    first = many.get(keys[0])
    assert first is not None and first.policy == longer and first.state is A  # history kept
    assert awake == [False] * len(keys) and woken.is_set()


def test_store_bulk_verdicts_and_membership() -> None:
    store, keys = store_of(5000)
    store.apply_bulk(keys[:10], Verdict(A, 5, OL), 6)
    store.apply_bulk(keys[10:], Verdict(IN, 5, OL), 6)
    snap = store.snapshot()
    assert [snap[k].state for k in keys[:10]] == [A] * 10
    assert {snap[k].state for k in keys[10:]} == {IN}
    # Unknown streams are ignored, removed ones no longer tracked.
    unknown = Observation(StreamKey("x", "y", "z", "w"), 1, SA, state=A)
    assert store.apply(unknown, 1) is Outcome.UNKNOWN_STREAM
    store.remove(keys[0])
    assert keys[0] not in store
    assert len(store) == 4999
    # Everything goes stale together, and only once.
    assert store.tick(35) == 4999
    assert store.tick(36) == 0


def test_store_keeps_history_when_a_policy_changes() -> None:
    store = StateStore()
    store.add(KEY, POLICY)
    store.apply(ok(10, A), 10)
    store.add(KEY, Policy(stale_after=100, forbid_stale_after=600))
    assert store.tick(50) == 0
    status = store.get(KEY)
    assert status is not None and status.state is A
    assert store.tick(110) == 1


def test_streams_with_the_same_history_share_one_status() -> None:
    # What keeps 100k streams small: a list round maps each distinct status to one next
    # status, and each stream still ends exactly where it would alone.
    store, keys = store_of(5000)
    store.apply_bulk(keys[:100], Verdict(A, 5, OL), 6)
    store.apply_bulk(keys[100:], Verdict(IN, 5, OL), 6)
    store.apply(Observation(keys[7], 7, SA, error=ApiError("Timeout", ErrorClass.TRANSPORT)), 7)
    store.apply_bulk(keys, Verdict(IN, 20, FL), 21)

    snap = store.snapshot()
    assert len({id(s) for s in snap.values()}) == 3  # listed, not listed, the one with an error
    alone = StreamStatus(POLICY)
    alone, _ = observe(alone, Observation(keys[4000], 5, OL, state=IN), 6)
    alone, _ = observe(alone, Observation(keys[4000], 20, FL, state=IN), 21)
    assert snap[keys[4000]] == alone
    assert snap[keys[7]].errors_by_code == (("Timeout", 1),)
    assert snap[keys[8]].errors_by_code == ()
    # Going stale together keeps them shared.
    assert store.tick(35) == 5000
    assert len({id(s) for s in store.snapshot().values()}) == 3


def test_a_one_off_poll_stops_setting_a_stream_apart_once_it_is_stale() -> None:
    # A list round that missed a stream (it moved between pages) has it confirmed by the
    # state API: a history of its own. Once that answer is stale the stream is back in its
    # neighbours' status, so one-off confirmations do not add up to 100k statuses over time.
    store = StateStore()
    keys = [StreamKey("main", "d", "live", f"s{i}") for i in range(100)]
    for key in keys:
        store.add(key, POLICY)
    store.apply_bulk(keys, Verdict(A, 0, OL), 0)
    store.apply(Observation(keys[3], 5, SA, state=A), 5)
    store.apply_bulk(keys, Verdict(A, 20, OL), 20)
    snap = store.snapshot()
    assert snap[keys[3]] is not snap[keys[4]]  # its poll at 5 is fresh until 35
    store.apply_bulk(keys, Verdict(A, 40, OL), 40)
    snap = store.snapshot()
    assert snap[keys[3]] is snap[keys[4]]
    assert snap[keys[3]].verdict(SA) is None
    assert (snap[keys[3]].state, snap[keys[3]].last_active) == (A, 40)
    # A late answer older than the dropped one is stale on arrival and changes nothing.
    assert store.apply(Observation(keys[3], 4, SA, state=IN), 41) is Outcome.APPLIED
    status = store.get(keys[3])
    assert status is not None and (status.state, status.last_active) == (A, 40)


@pytest.mark.parametrize(
    ("events", "state", "source"),
    [
        # A (forged) push, then a poll well after it says nobody pushes: the poll wins.
        ([ok(10, IN), ok(20, A, CB, "x"), ok(31, IN)], IN, "state_api"),
        ([ok(10, IN, OL), ok(20, A, CB, "x"), ok(31, IN, OL)], IN, "online_list"),
        # A (forged) interrupt, then a poll well after it says the stream is live: the poll wins.
        ([ok(10, A), ok(20, IN, CB, "x"), ok(31, A)], A, "state_api"),
        # Within the sources' lag (AGREE_WINDOW) a push still counts: the API lags CSS, and
        # among verdicts that close together "active" wins (online if any source says so).
        ([ok(10, IN), ok(20, A, CB, "x"), ok(29, IN)], A, "callback"),
        ([ok(10, A), ok(20, IN, CB, "x"), ok(29, A)], A, "state_api"),
        # A poll older than the callback never outvotes it.
        ([ok(20, A, CB, "x"), ok(19, IN)], A, "callback"),
    ],
)
def test_a_callback_never_outvotes_a_later_poll(
    events: list[Event], state: StreamState, source: str
) -> None:
    status = run(events)
    assert (status.state, status.change_source) == (state, source)
