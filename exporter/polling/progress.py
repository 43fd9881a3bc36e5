"""Progress: the one owner of every target's polling state while it runs.

Mode (``auto`` may switch a target to state polls), when its next list or push-info round is
due, readiness, the last success, the discovery cap, lag, and the skip and round counters. Poll
jobs report here from worker threads; the metrics collector and the status page read immutable
snapshots. A target that a reload removes is forgotten at once, and a late report about it (a
job still in flight) is ignored, so its series cannot come back.

Lock order: the progress lock is a leaf.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from exporter.runtime.plan import TargetSpec
from exporter.runtime.snapshot import Runtime

SKIP_REASONS = ("pending", "backoff")
ROUND_RESULTS = ("ok", "error", "inconsistent")


@dataclass(frozen=True, slots=True)
class TargetProgress:
    spec: TargetSpec
    mode: str
    first_round_done: bool = False
    last_success: float | None = None
    capped: int = 0
    lag: float = 0.0
    skipped: tuple[tuple[str, int], ...] = tuple((r, 0) for r in SKIP_REASONS)
    # Rounds by result; only for targets that ever ran list rounds.
    rounds: tuple[tuple[str, int], ...] = ()
    switched: bool = field(default=False)
    next_round: float = 0.0  # list rounds (online_list mode)
    next_push: float = 0.0  # push-info rounds of a state-mode target

    @property
    def interval(self) -> float:
        """The effective cadence in the current mode."""
        return self.spec.interval if self.mode == "state" else self.spec.round_interval

    @property
    def configured_interval(self) -> float:
        s = self.spec
        return s.configured_interval if self.mode == "state" else s.round_interval


def _bump(counts: tuple[tuple[str, int], ...], name: str) -> tuple[tuple[str, int], ...]:
    return tuple((n, c + 1 if n == name else c) for n, c in counts)


class Progress:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._targets: dict[str, TargetProgress] = {}

    def apply(self, runtime: Runtime, now: float) -> None:
        """Targets of ``runtime``: those kept with the same identity keep their readiness and
        last success; counters stay with the target's (account, name), as Prometheus expects of
        a counter. Every target starts in its planned mode: an auto switch to state polls lasts
        until the next reload (a switched target then starts afresh, with a list round)."""
        with self._lock:
            old = self._targets
            new: dict[str, TargetProgress] = {}
            for spec in runtime.targets:
                prior = old.get(spec.name)
                rounds = tuple((r, 0) for r in ROUND_RESULTS) if spec.mode == "online_list" else ()
                # The first round goes out at once (paced by the budget), so that the exporter
                # is ready as soon as the budget allows.
                fresh = TargetProgress(
                    spec, spec.mode, rounds=rounds, next_round=now, next_push=now
                )
                if prior is None or prior.spec.account != spec.account:
                    new[spec.name] = fresh
                    continue
                same = prior.spec.identity == spec.identity and not prior.switched
                if not same:
                    new[spec.name] = replace(
                        fresh, skipped=prior.skipped, rounds=prior.rounds or rounds
                    )
                    continue
                # Kept: its schedule continues (brought forward if its interval got shorter), so
                # a reload is not a burst of calls.
                new[spec.name] = replace(
                    prior,
                    spec=spec,
                    next_round=min(prior.next_round, now + spec.round_interval),
                    next_push=min(prior.next_push, now + spec.round_interval),
                    rounds=prior.rounds or rounds,
                )
            self._targets = new

    def _update(self, name: str, **changes: object) -> None:
        prior = self._targets.get(name)
        if prior is not None:
            self._targets[name] = replace(prior, **changes)  # type: ignore[arg-type]

    def get(self, name: str) -> TargetProgress | None:
        with self._lock:
            return self._targets.get(name)

    def mode(self, name: str) -> str | None:
        with self._lock:
            p = self._targets.get(name)
            return p.mode if p is not None else None

    def snapshot(self) -> Mapping[str, TargetProgress]:
        with self._lock:
            return dict(self._targets)

    def switch_to_state(self, name: str, now: float) -> bool:
        """Auto mode found state polls cheaper: True if this call switched the target."""
        with self._lock:
            p = self._targets.get(name)
            if p is None or p.mode == "state":
                return False
            self._targets[name] = replace(p, mode="state", switched=True, next_push=now)
            return True

    def take_due(self, now: float) -> list[tuple[TargetSpec, str]]:
        """(target, "round" or "push") for every round due at ``now``; each is scheduled next
        one interval on (or now, if it fell behind by more)."""
        due: list[tuple[TargetSpec, str]] = []
        with self._lock:
            for name, p in self._targets.items():
                interval = p.spec.round_interval
                if p.mode == "online_list" and now >= p.next_round:
                    nxt = max(p.next_round + interval, now)
                    self._targets[name] = replace(p, next_round=nxt)
                    due.append((p.spec, "round"))
                elif p.mode == "state" and p.spec.push_info and now >= p.next_push:
                    nxt = max(p.next_push + interval, now)
                    self._targets[name] = replace(p, next_push=nxt)
                    due.append((p.spec, "push"))
        return due

    def reschedule_now(self, account: str, now: float) -> None:
        """The account's rounds are due at once (its back-off was cleared by a reload)."""
        with self._lock:
            for name, p in self._targets.items():
                if p.spec.account == account:
                    self._targets[name] = replace(p, next_round=now, next_push=now)

    def round_done(self, name: str, result: str | None, started: float | None = None) -> None:
        """A list round finished (``result`` ok/error/inconsistent, None when not sent)."""
        with self._lock:
            p = self._targets.get(name)
            if p is None:
                return
            rounds = _bump(p.rounds, result) if result is not None else p.rounds
            last = started if result in ("ok", "inconsistent") else p.last_success
            self._targets[name] = replace(
                p, first_round_done=True, rounds=rounds, last_success=last
            )

    def succeeded(self, name: str, at: float) -> None:
        with self._lock:
            self._update(name, last_success=at)

    def lagged(self, name: str, seconds: float) -> None:
        with self._lock:
            self._update(name, lag=max(0.0, seconds))

    def capped(self, name: str, count: int) -> None:
        with self._lock:
            self._update(name, capped=count)

    def skipped(self, name: str, reason: str) -> None:
        with self._lock:
            p = self._targets.get(name)
            if p is not None:
                self._targets[name] = replace(p, skipped=_bump(p.skipped, reason))
