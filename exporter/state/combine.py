"""Per-stream state: the pure rule that combines the sources' verdicts into a state.

Each stream keeps the latest verdict of every source (state API, online list, forbid list, CSS
callbacks). Its state is derived from them by :func:`combine`, the seed page's rule made exact:

1. A verdict counts while it is fresh: younger than the target's ``stale_after`` (the forbid
   list, checked at a slower cadence, has its own window). With no fresh verdict the state is
   ``unknown``.
2. The newest fresh verdict leads; verdicts within ``AGREE_WINDOW`` seconds before it count as
   simultaneous, and among simultaneous verdicts ``active`` wins ("online if any source says
   so": the online list and the state API lag each other and CSS by a few seconds).
3. A callback is an event, not a sample: nothing older than the newest callback takes part, so
   an interrupt makes the stream inactive at once and the next poll confirms or corrects it.
   A callback never outvotes a later poll: once a state poll or list round more than
   ``AGREE_WINDOW`` after it has spoken, the callback no longer counts. CSS signs only the
   expiry ``t``, not the body, so a replayed signature can carry any event: a stream of forged
   events can then hold a false state for one poll interval at most.
4. A stream that is not active is ``forbid`` when the newest word on bans (the state API or the
   forbid list) says so.

API faults are not verdicts: they are counted and never make a stream inactive. Every function
takes the time as an argument, so the rules are tested without threads or sleeps.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, replace

from exporter.model import (
    SOURCE_INDEX,
    Observation,
    Source,
    StreamState,
    Verdict,
)

AGREE_WINDOW = 10.0
STALE = "stale"  # change source when a state turns unknown because nothing confirmed it

_SA, _OL, _FL, _CB = (SOURCE_INDEX[s] for s in Source)
_NO_VERDICTS: tuple[Verdict | None, ...] = (None,) * len(Source)


@dataclass(frozen=True, slots=True)
class Policy:
    """How long each source's verdicts stay fresh for a stream (shared by a target's streams)."""

    stale_after: float
    forbid_stale_after: float

    def window(self, source: Source) -> float:
        return self.forbid_stale_after if source is Source.FORBID_LIST else self.stale_after


class Outcome(str, enum.Enum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"
    OUT_OF_ORDER = "out_of_order"
    UNKNOWN_STREAM = "unknown_stream"


@dataclass(frozen=True, slots=True)
class StreamStatus:
    policy: Policy
    state: StreamState = StreamState.UNKNOWN
    last_change: float | None = None
    change_source: str | None = None  # a Source value, or STALE
    verdicts: tuple[Verdict | None, ...] = _NO_VERDICTS
    # (event_time, sequence, rank) of the last applied callback: retries never go back in time.
    callback_mark: tuple[float, str, int] | None = None
    last_active: float | None = None
    # Sorted (code, count) pairs: a tuple keeps the status immutable and the output ordered.
    errors_by_code: tuple[tuple[str, int], ...] = ()
    consecutive_errors: int = 0
    last_error_code: str | None = None
    last_error_message: str | None = None
    last_error_time: float | None = None
    attempted: bool = False

    @property
    def last_success(self) -> float | None:
        times = [v.time for v in self.verdicts if v is not None]
        return max(times) if times else None

    def verdict(self, source: Source) -> Verdict | None:
        return self.verdicts[SOURCE_INDEX[source]]


def _newest(verdicts: Iterable[Verdict]) -> Verdict | None:
    best = None
    for v in verdicts:
        if best is None or v.time > best.time:
            best = v
    return best


def _fresh(v: Verdict, policy: Policy, now: float) -> bool:
    return now - v.time < policy.window(v.source)


def _outvoted(callback: Verdict, fresh: list[Verdict]) -> bool:
    """A poll later than the callback (beyond the sources' lag) speaks for itself."""
    later = callback.time + AGREE_WINDOW
    return any(v.source in _POLLS and v.time > later for v in fresh)


_POLLS = (Source.STATE_API, Source.ONLINE_LIST)


def combine(
    verdicts: tuple[Verdict | None, ...], policy: Policy, now: float
) -> tuple[StreamState, Source | None]:
    """The stream's state from its sources' latest verdicts (rules in the module docstring)."""
    fresh = [v for v in verdicts if v is not None and _fresh(v, policy, now)]
    callback = verdicts[_CB]
    if callback is not None and callback in fresh and _outvoted(callback, fresh):
        fresh.remove(callback)
    activity = [v for v in fresh if v.source is not Source.FORBID_LIST]
    ban = _newest(v for v in fresh if v.source in (Source.STATE_API, Source.FORBID_LIST))
    banned = ban is not None and ban.state is StreamState.FORBID
    lead = _newest(activity)
    if lead is None:
        return (StreamState.FORBID, ban.source) if banned and ban else (StreamState.UNKNOWN, None)
    cutoff = lead.time - AGREE_WINDOW
    if callback is not None and callback in fresh:
        cutoff = max(cutoff, callback.time)
    active = _newest(v for v in activity if v.time >= cutoff and v.state is StreamState.ACTIVE)
    if active is not None:
        return StreamState.ACTIVE, active.source
    if banned and ban:
        return StreamState.FORBID, ban.source
    return StreamState.INACTIVE, lead.source


def _settle(prev: StreamStatus, new: StreamStatus, now: float) -> StreamStatus:
    state, source = combine(new.verdicts, new.policy, now)
    if state is prev.state:
        return new
    return replace(
        new,
        state=state,
        last_change=now,
        change_source=source.value if source is not None else STALE,
    )


def _bump(errors: tuple[tuple[str, int], ...], code: str) -> tuple[tuple[str, int], ...]:
    counts = dict(errors)
    counts[code] = counts.get(code, 0) + 1
    return tuple(sorted(counts.items()))


def callback_newer(
    time: float, sequence: str, rank: int, mark: tuple[float, str, int] | None
) -> bool | None:
    """True if newer than ``mark``, False if older, None if the same event (a retry).

    Events order by event_time (whole seconds). A push and its interrupt share the sequence
    and, for a push under a second, the event_time too: the interrupt (rank 1) comes after the
    push (rank 0). Two sessions in the same second cannot be ordered from their bodies (the
    sequence is an id, not a counter): the later arrival wins; CSS retries come a minute apart,
    so an older event retried shows an older event_time, and the next poll corrects the rest.
    """
    if mark is None:
        return True
    if time != mark[0]:
        return time > mark[0]
    if sequence != mark[1]:
        return True
    if rank == mark[2]:
        return None
    return rank > mark[2]


def observe(prev: StreamStatus, obs: Observation, now: float) -> tuple[StreamStatus, Outcome]:
    """Fold one observation into a stream's status, at wall time ``now``."""
    if obs.error is not None:
        err = obs.error
        return replace(
            prev,
            consecutive_errors=prev.consecutive_errors + 1,
            errors_by_code=_bump(prev.errors_by_code, err.code),
            last_error_code=err.code,
            last_error_message=err.message,
            last_error_time=obs.time,
            attempted=True,
        ), Outcome.APPLIED
    if obs.state is None:
        raise ValueError("an observation needs a state or an error")
    mark = prev.callback_mark
    if obs.source is Source.CALLBACK:
        rank = 0 if obs.state is StreamState.ACTIVE else 1
        newer = callback_newer(obs.time, obs.sequence, rank, mark)
        if newer is None:
            return prev, Outcome.DUPLICATE
        if not newer:
            return prev, Outcome.OUT_OF_ORDER
        mark = (obs.time, obs.sequence, rank)
    slot = SOURCE_INDEX[obs.source]
    old = prev.verdicts[slot]
    if old is not None and obs.time < old.time:
        # An answer older than one already applied (a slow call overtaken by a newer one)
        # must not move the stream back in time.
        return replace(prev, attempted=True), Outcome.OUT_OF_ORDER
    verdict = Verdict(obs.state, obs.time, obs.source)
    return apply_verdict(replace(prev, callback_mark=mark), verdict, now), Outcome.APPLIED


def apply_verdict(prev: StreamStatus, verdict: Verdict, now: float) -> StreamStatus:
    slot = SOURCE_INDEX[verdict.source]
    # Stale verdicts are dropped: they no longer count (combine ignores them), and without
    # them a stream whose one-off poll has aged out equals, and can share, its neighbours'
    # status again. An answer older than a dropped verdict is stale too when it arrives.
    verdicts = tuple(
        verdict if i == slot else v if v is not None and _fresh(v, prev.policy, now) else None
        for i, v in enumerate(prev.verdicts)
    )
    last_active = prev.last_active
    if verdict.state is StreamState.ACTIVE and (last_active is None or verdict.time > last_active):
        last_active = verdict.time
    new = replace(
        prev,
        verdicts=verdicts,
        consecutive_errors=0 if verdict.source is Source.STATE_API else prev.consecutive_errors,
        last_active=last_active,
        attempted=True,
    )
    return _settle(prev, new, now)


def refresh(prev: StreamStatus, now: float) -> StreamStatus:
    """Re-derive the state as time passes (verdicts going stale)."""
    return _settle(prev, prev, now)


def deadline(status: StreamStatus, now: float) -> float | None:
    """The next time after ``now`` at which a verdict goes stale (the state may change)."""
    window = status.policy.window
    times = [v.time + window(v.source) for v in status.verdicts if v is not None]
    later = [t for t in times if t > now]
    return min(later) if later else None


def skipped(prev: StreamStatus) -> StreamStatus:
    """A poll that was deliberately not sent (account in back-off) still completes a round."""
    return prev if prev.attempted else replace(prev, attempted=True)


def exposed(s: StreamStatus) -> tuple[object, ...]:
    """The fields /metrics shows: a change of any of them re-renders the stream."""
    return (s.state, s.last_change, s.change_source, s.errors_by_code)
