"""Polling: APScheduler ticks decide what is due; per-account workers run it.

Work comes in four kinds, all for one account and paced by that account's per-action limiters:
a state poll of one stream, a list round of one target (DescribeLiveStreamOnlineList pages, then
DescribeLiveStreamPushInfoList pages), a push-info round of a state-mode target, and a forbid-list
round of the account. The tick only queues due work (pure arithmetic in schedule.py and
rounds.py); a task whose previous run has not finished is skipped, not queued twice, so a slow
API shows up as lag and skips instead of unbounded queues. Nothing here blocks a scrape.
"""

from __future__ import annotations

import functools
import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from apscheduler.schedulers.background import BackgroundScheduler

from exporter import cssapi, rounds
from exporter.client import CssClient, Page
from exporter.metrics import ExporterMetrics
from exporter.model import (
    ApiError,
    ErrorClass,
    Observation,
    PushInfo,
    Source,
    StreamKey,
    StreamState,
    Verdict,
)
from exporter.ratelimit import Backoff, RateLimiter
from exporter.schedule import due_between, phases
from exporter.state import Policy, StateStore

log = logging.getLogger(__name__)

TICK_SECONDS = 1.0
PUSH_PAGE_SIZE = 1000  # the international maximum; the China site allows far more
FORBID_PAGE_SIZE = 100  # the documented maximum
_RETRY_PAGE = (ErrorClass.SERVER, ErrorClass.TRANSPORT)
MAX_PAGES = 10_000  # a broken TotalPage must not keep a round paging forever
# Forbid-list answers meaning "this account cannot use the action": fall back to state polls.
FORBID_UNSUPPORTED = ("InvalidAction", "UnsupportedOperation", "UnauthorizedOperation")


@dataclass
class TargetRuntime:
    name: str
    account: str
    domain: str
    app: str
    mode: str  # resolved: "state" or "online_list"
    auto: bool
    discovers: bool
    interval: float  # state polls, after stretching to fit the budget
    configured_interval: float
    round_interval: float
    forbid_interval: float
    page_size: int
    max_streams: int
    retention: float
    push_info: bool
    policy: Policy
    keys: list[StreamKey]  # configured streams this process owns
    discovered: dict[StreamKey, float] = field(default_factory=dict)  # key -> time added
    push_ips: bool = False
    next_round: float = 0.0
    next_push: float = 0.0
    first_round_done: bool = False
    capped: int = 0
    last_success: float | None = None
    _phases: list[tuple[float, StreamKey]] | None = None
    _forbid_phases: list[tuple[float, StreamKey]] | None = None
    _index: dict[str, StreamKey] | None = None

    def all_keys(self) -> list[StreamKey]:
        return [*self.keys, *self.discovered]

    def index(self) -> dict[str, StreamKey]:
        """The tracked streams by name. Never changed once built (a membership change builds a
        new one), so a round may iterate it while a callback discovers a stream; kept between
        rounds because at 100k streams building it costs 5 MB and 30 ms every round."""
        index = self._index
        if index is None:
            index = self._index = {k.stream: k for k in self.all_keys()}
        return index

    def stream_phases(self) -> list[tuple[float, StreamKey]]:
        if self._phases is None:
            self._phases = phases(self.all_keys(), self.interval)
        return self._phases

    def forbid_phases(self) -> list[tuple[float, StreamKey]]:
        if self._forbid_phases is None:
            self._forbid_phases = phases(self.all_keys(), self.forbid_interval)
        return self._forbid_phases

    def membership_changed(self) -> None:
        self._phases = self._forbid_phases = self._index = None


@dataclass
class AccountRuntime:
    name: str
    client: CssClient
    limiters: dict[str, RateLimiter]
    backoff: Backoff
    workers: int
    forbid_supported: bool | None = None
    forbid_interval: float | None = None
    next_forbid: float = 0.0


@dataclass(frozen=True)
class Hooks:
    """How the poller changes what is tracked and exposed (the app owns both)."""

    discover: Callable[[TargetRuntime, list[StreamKey]], None]
    drop: Callable[[TargetRuntime, list[StreamKey]], None]
    set_push: Callable[[Mapping[StreamKey, PushInfo | None]], None]
    push_keys: Callable[[], list[StreamKey]]


_STOP = object()


def _getter(obj: object, attr: str) -> Callable[[], float]:
    return lambda: float(getattr(obj, attr))


class Poller:
    def __init__(
        self,
        targets: Sequence[TargetRuntime],
        accounts: dict[str, AccountRuntime],
        store: StateStore,
        metrics: ExporterMetrics,
        hooks: Hooks,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.targets = list(targets)
        self.accounts = accounts
        self.store = store
        self.metrics = metrics
        self.hooks = hooks
        self._clock = clock
        self._wall = wall
        self._queues: dict[str, queue.SimpleQueue[object]] = {
            a: queue.SimpleQueue() for a in accounts
        }
        self._pending: set[object] = set()
        self._last_dispatch: dict[StreamKey, float] = {}
        self._lock = threading.Lock()
        self._queued: dict[str, int] = dict.fromkeys(accounts, 0)
        self._threads: list[threading.Thread] = []
        self._scheduler: BackgroundScheduler | None = None
        self._last_tick: float | None = None
        self._ready = False
        self._stopping = threading.Event()
        self._account_failing: dict[str, str | None] = dict.fromkeys(accounts)
        for acc in accounts.values():
            intervals = [
                t.forbid_interval
                for t in self.targets
                if t.account == acc.name and t.mode == "online_list"
            ]
            acc.forbid_interval = min(intervals) if intervals else None
        self._wire_metrics()

    # -- metrics ---------------------------------------------------------------------------

    def _wire_metrics(self) -> None:
        m = self.metrics
        for name, acc in self.accounts.items():
            for action, limiter in acc.limiters.items():
                m.budget.labels(name, action).set(limiter.max_rate)
                m.allowed_rate.labels(name, action).set_function(_getter(limiter, "rate"))
            m.backoff.labels(name).set_function(_getter(acc.backoff, "delay"))
            m.queue.labels(name).set_function(functools.partial(self._queued_count, name))
            m.workers.labels(name).set(acc.workers)
        for t in self.targets:
            self._target_metrics(t)
            for reason in ("pending", "backoff"):
                m.polls_skipped.labels(t.account, t.name, reason)
            if t.mode == "online_list":
                for result in ("ok", "error", "inconsistent"):
                    m.rounds.labels(t.account, t.name, result)
        m.ready.set_function(lambda: 1 if self.ready() else 0)

    def _queued_count(self, account: str) -> float:
        return float(self._queued[account])

    def _target_metrics(self, t: TargetRuntime) -> None:
        m = self.metrics
        labels = (t.account, t.name)
        for mode in ("state", "online_list"):
            m.target_mode.labels(*labels, mode).set(1 if t.mode == mode else 0)
        m.target_streams.labels(*labels).set(len(t.keys) + len(t.discovered))
        m.target_discovered.labels(*labels).set(len(t.discovered))
        m.target_capped.labels(*labels).set(t.capped)
        interval = t.interval if t.mode == "state" else t.round_interval
        configured = t.configured_interval if t.mode == "state" else t.round_interval
        m.target_interval.labels(*labels).set(interval)
        m.target_configured_interval.labels(*labels).set(configured)
        m.poll_lag.labels(*labels)
        if t.last_success is not None:
            m.target_last_success.labels(*labels).set(t.last_success)

    # -- lifecycle -------------------------------------------------------------------------

    def start(self, previous: Poller | None = None) -> None:
        """Start polling; after a reload, ``previous`` (stopped) hands over its schedule."""
        for name, acc in self.accounts.items():
            for i in range(acc.workers):
                thread = threading.Thread(
                    target=self._worker, args=(name,), name=f"poll-{name}-{i}", daemon=True
                )
                thread.start()
                self._threads.append(thread)
        now = self._clock()
        # The first round goes out at once (paced by the budget) so that the exporter is
        # ready as soon as the budget allows; later rounds follow each stream's phase.
        for t in self.targets:
            if t.mode == "state":
                t.next_push = now
            else:
                t.next_round = now
        for acc in self.accounts.values():
            acc.next_forbid = now
        if previous is not None:
            self._continue(previous, now)
        for t in self.targets:
            if t.mode == "state":
                for key in t.keys:
                    if key not in self._last_dispatch:  # polled before a reload: keeps its slot
                        self._dispatch(t.account, ("s", key), ("state", t, key), now, slot=True)
        self._last_tick = now
        self._dispatch_rounds(now)
        self._scheduler = BackgroundScheduler(daemon=True)
        self._scheduler.add_job(
            self.tick,
            "interval",
            seconds=TICK_SECONDS,
            id="tick",
            max_instances=1,
            coalesce=True,
            misfire_grace_time=None,
        )
        self._scheduler.start()

    def _continue(self, previous: Poller, now: float) -> None:
        """Carry over the schedule of what a reload kept, so that a reload is not a burst.

        A target kept with the same name, account, domain, app and mode keeps its next round
        (brought forward if its interval got shorter) and its readiness; streams keep their
        last poll time, so a state-mode stream waits for its slot. Accounts keep their forbid
        schedule and what they answered about the forbid list.
        """
        old = {(t.name, t.account, t.domain, t.app, t.mode): t for t in previous.targets}
        for t in self.targets:
            p = old.get((t.name, t.account, t.domain, t.app, t.mode))
            if p is None:
                continue
            t.next_round = min(p.next_round, now + t.round_interval)
            t.next_push = min(p.next_push, now + t.round_interval)
            t.first_round_done = p.first_round_done
            t.last_success = p.last_success
        for name, acc in self.accounts.items():
            prior = previous.accounts.get(name)
            if prior is None:
                continue
            acc.forbid_supported = prior.forbid_supported
            if acc.forbid_interval is not None:
                acc.next_forbid = min(prior.next_forbid, now + acc.forbid_interval)
        tracked = {k for t in self.targets for k in t.all_keys()}
        with previous._lock:
            self._last_dispatch = {k: v for k, v in previous._last_dispatch.items() if k in tracked}

    def stop(self, timeout: float = 2.0) -> None:
        """Stop dispatching, let in-flight calls finish within ``timeout``, then return.

        Workers are daemons: a call stuck in its own timeout cannot hold up the exit.
        """
        self._stopping.set()
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None
        for acc in self.accounts.values():
            for limiter in acc.limiters.values():
                limiter.close()
        for name, q in self._queues.items():
            for _ in range(self.accounts[name].workers):
                q.put(_STOP)
        deadline = self._clock() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - self._clock()))

    # -- scheduling ------------------------------------------------------------------------

    def tick(self) -> None:
        now = self._clock()
        prev = self._last_tick if self._last_tick is not None else now
        self._last_tick = now
        for t in self.targets:
            if t.mode == "state":
                self._dispatch_due_states(t, t.stream_phases(), t.interval, prev, now)
            elif self.accounts[t.account].forbid_supported is False:
                # No forbid list for this account: ban checks fall back to state polls of the
                # streams that are not online, at the (slow) forbid-check cadence.
                self._dispatch_due_states(
                    t, t.forbid_phases(), t.forbid_interval, prev, now, only_offline=True
                )
        self._dispatch_rounds(now)
        self.store.tick(self._wall())

    def _dispatch_due_states(
        self,
        t: TargetRuntime,
        slots: list[tuple[float, StreamKey]],
        interval: float,
        prev: float,
        now: float,
        only_offline: bool = False,
    ) -> None:
        min_gap = interval / 2
        due = [
            key
            for key in due_between(slots, interval, prev, now)
            # The first round went out at start, off-phase: a slot soon after it would
            # poll the stream twice in a row. Later gaps are exactly one interval.
            if now - self._last_dispatch.get(key, -min_gap) >= min_gap
        ]
        if only_offline and due:
            statuses = self.store.get_many(due)
            due = [
                k
                for k, s in zip(due, statuses, strict=True)
                if s is not None and s.state is not StreamState.ACTIVE
            ]
        for key in due:
            self._dispatch(t.account, ("s", key), ("state", t, key), now, slot=True)

    def _dispatch_rounds(self, now: float) -> None:
        for t in self.targets:
            if t.mode == "online_list" and now >= t.next_round:
                t.next_round = max(t.next_round + t.round_interval, now)
                self._dispatch(t.account, ("r", t.name), ("round", t, None), now)
            elif t.mode == "state" and t.push_info and now >= t.next_push:
                t.next_push = max(t.next_push + t.round_interval, now)
                self._dispatch(t.account, ("p", t.name), ("push", t, None), now)
        for acc in self.accounts.values():
            if acc.forbid_interval is None or acc.forbid_supported is False:
                continue
            if now >= acc.next_forbid:
                acc.next_forbid = max(acc.next_forbid + acc.forbid_interval, now)
                self._dispatch(acc.name, ("f", acc.name), ("forbid", acc.name, None), now)

    def _dispatch(
        self,
        account: str,
        ident: object,
        task: tuple[object, ...],
        due: float,
        slot: bool = False,
    ) -> None:
        """Queue a task unless the same one is pending. ``slot``: a stream's scheduled state
        poll, remembered so that its next slot keeps its distance (a list round's one-off
        confirmations are not: 100k of them would only grow the map)."""
        with self._lock:
            if ident in self._pending:
                target = task[1]
                if isinstance(target, TargetRuntime):
                    self.metrics.polls_skipped.labels(account, target.name, "pending").inc()
                return
            self._pending.add(ident)
            if slot and isinstance(ident, tuple):
                self._last_dispatch[ident[1]] = due
            self._queued[account] += 1
        self._queues[account].put((ident, task, due))

    def _worker(self, account: str) -> None:
        q = self._queues[account]
        while True:
            item = q.get()
            if item is _STOP:
                return
            assert isinstance(item, tuple)
            ident, task, due = item
            try:
                if not self._stopping.is_set():
                    self.run_task(task, due)
            except Exception:  # a bug in one task must not kill the worker
                log.exception("%s task failed unexpectedly", task[0])
            finally:
                with self._lock:
                    self._pending.discard(ident)
                    self._queued[account] -= 1

    def run_task(self, task: tuple[object, ...], due: float) -> None:
        """Run one task in the calling thread (workers do; tests drive rounds this way)."""
        kind, subject, key = task
        if kind == "state":
            assert isinstance(subject, TargetRuntime) and isinstance(key, StreamKey)
            self._poll_state(subject, key, due)
        elif kind == "round":
            assert isinstance(subject, TargetRuntime)
            self._list_round(subject, due)
        elif kind == "push":
            assert isinstance(subject, TargetRuntime)
            self._push_round(subject)
        elif kind == "forbid":
            assert isinstance(subject, str)
            self._forbid_round(self.accounts[subject])

    # -- calls -----------------------------------------------------------------------------

    def _admit(self, acc: AccountRuntime, action: str) -> bool:
        """Take a slot from the action's limiter; False while backing off or stopping."""
        if not acc.backoff.allow(self._clock()):
            return False
        return acc.limiters[action].acquire()

    def _poll_state(self, t: TargetRuntime, key: StreamKey, due: float) -> None:
        acc = self.accounts[t.account]
        if not acc.backoff.allow(self._clock()):
            self.metrics.polls_skipped.labels(t.account, t.name, "backoff").inc()
            self.store.mark_skipped(key)
            return
        if not acc.limiters[cssapi.STATE].acquire():
            return  # stopping
        started = self._wall()
        if t.mode == "state":
            self.metrics.poll_lag.labels(t.account, t.name).set(max(0.0, self._clock() - due))
        result = acc.client.stream_state(key)
        if isinstance(result, ApiError):
            self._on_error(acc, cssapi.STATE, result)
            obs = Observation(key, started, Source.STATE_API, error=result)
        else:
            self._on_success(acc)
            obs = Observation(key, started, Source.STATE_API, state=result)
            if t.mode == "state":
                t.last_success = started
                self.metrics.target_last_success.labels(t.account, t.name).set(started)
        self.store.apply(obs, self._wall())

    def _pages(
        self,
        acc: AccountRuntime,
        action: str,
        fetch: Callable[[int], Page | ApiError],
        consume: Callable[[Page], None] | None = None,
    ) -> list[Page] | ApiError | None:
        """All pages of one list call; None when backing off or stopping.

        With ``consume``, each page is handed over as it arrives and not kept (the list
        returned is then empty): a 50-page push-info round never holds all its pages at once.
        """
        pages: list[Page] = []
        number = 1
        while True:
            if not self._admit(acc, action):
                return None
            page = fetch(number)
            if isinstance(page, ApiError) and page.error_class in _RETRY_PAGE:
                # One failed page of fifty must not lose the whole round: try it once more.
                self._on_error(acc, action, page)
                if not self._admit(acc, action):
                    return None
                page = fetch(number)
            if isinstance(page, ApiError):
                self._on_error(acc, action, page)
                return page
            self._on_success(acc)
            if consume is not None:
                consume(page)
            else:
                pages.append(page)
            # PageNum is at most 10,000 on PushInfoList; no real list is longer than that.
            if number >= min(page.total_pages, MAX_PAGES) or not page.items:
                return pages
            number += 1

    def _list_round(self, t: TargetRuntime, due: float) -> None:
        acc = self.accounts[t.account]
        self.metrics.poll_lag.labels(t.account, t.name).set(max(0.0, self._clock() - due))
        started = self._wall()
        by_name = t.index()
        assembler = rounds.Assembler(
            t.app, lambda name: k.stream if (k := by_name.get(name)) is not None else name
        )
        pages = self._pages(
            acc,
            cssapi.ONLINE_LIST,
            lambda n: acc.client.online_page(t.domain, t.app, n, t.page_size),
            assembler.add,
        )
        if pages is None:
            self.metrics.polls_skipped.labels(t.account, t.name, "backoff").inc()
            t.first_round_done = True
            return
        if isinstance(pages, ApiError):
            self.metrics.rounds.labels(t.account, t.name, "error").inc()
            t.first_round_done = True
            return
        result = assembler.result()
        self._apply_round(t, by_name, result, started)
        self.metrics.rounds.labels(
            t.account, t.name, "ok" if result.consistent else "inconsistent"
        ).inc()
        t.last_success = started
        t.first_round_done = True
        if (
            t.auto
            and not t.discovers
            and t.keys
            and rounds.list_costs_more(result.pages, len(t.keys), t.round_interval, t.interval)
        ):
            log.info(
                "target %s: the list takes %d pages per round for %d streams; auto mode "
                "switches to per-stream state polls",
                t.name,
                result.pages,
                len(t.keys),
            )
            t.mode = "state"
            t.membership_changed()
            t.next_push = self._clock()
        self._target_metrics(t)
        if t.push_info and t.mode == "online_list":
            self._push_round(t)

    def _apply_round(
        self,
        t: TargetRuntime,
        by_name: dict[str, StreamKey],
        result: rounds.ListResult,
        started: float,
    ) -> None:
        """Apply a round to the streams of ``by_name``, the target's index when the round began."""
        room = t.max_streams - len(t.discovered) if t.discovers else 0
        believed = _Believed(self.store, by_name)
        plan = rounds.plan_round(result, by_name.keys(), believed, t.discovers, room)
        if plan.discover:
            new_keys = [t_key(t, n) for n in plan.discover]
            now = self._wall()
            for k in new_keys:
                t.discovered[k] = now
            t.membership_changed()
            self.hooks.discover(t, new_keys)
            # The new index, built now rather than by the next round: the same work, once.
            by_name = t.index()
        if plan.capped and not t.capped:
            log.warning(
                "target %s: discovery cap of %d streams reached; %d online streams not tracked",
                t.name,
                t.max_streams,
                plan.capped,
            )
        t.capped = plan.capped
        now = self._wall()
        self.store.apply_bulk(
            (by_name[n] for n in plan.active),
            Verdict(StreamState.ACTIVE, started, Source.ONLINE_LIST),
            now,
        )
        self.store.apply_bulk(
            (by_name[n] for n in plan.absent),
            Verdict(StreamState.INACTIVE, started, Source.ONLINE_LIST),
            now,
        )
        clock = self._clock()
        for name in plan.confirm:
            key = by_name[name]
            self._dispatch(t.account, ("s", key), ("state", t, key), clock)
        if t.discovers:
            self._drop_expired(t, now)

    def _drop_expired(self, t: TargetRuntime, now: float) -> None:
        keys = list(t.discovered)
        statuses = self.store.get_many(keys)
        gone = [
            k
            for k, s in zip(keys, statuses, strict=True)
            if s is not None
            and s.state is not StreamState.ACTIVE
            and rounds.expired(s.last_active, t.discovered[k], now, t.retention)
        ]
        if gone:
            with self._lock:
                for k in gone:
                    del t.discovered[k]
                    self._last_dispatch.pop(k, None)
            t.membership_changed()
            self.hooks.drop(t, gone)
            log.info("target %s: dropped %d streams offline for the retention", t.name, len(gone))

    def _push_round(self, t: TargetRuntime) -> None:
        acc = self.accounts[t.account]
        tracked = t.index()
        seen: set[str] = set()

        def consume(page: Page) -> None:
            # Applied page by page, with the keys already tracked: what the round keeps until
            # its end is then no new object per stream (see rounds.Assembler for why).
            updates: dict[StreamKey, PushInfo | None] = {}
            for app, stream, info in page.items:
                key = tracked.get(stream) if app == t.app else None
                if key is not None:
                    updates[key] = info
                    seen.add(key.stream)
            self.hooks.set_push(updates)

        pages = self._pages(
            acc,
            cssapi.PUSH_INFO_LIST,
            lambda n: acc.client.push_page(t.domain, t.app, n, PUSH_PAGE_SIZE, t.push_ips),
            consume,
        )
        if pages is None or isinstance(pages, ApiError):
            return  # values already applied stay; nothing is removed on a partial round
        gone = {
            key: None
            for key in self.hooks.push_keys()
            if key.stream not in seen and tracked.get(key.stream) == key
        }
        if gone:
            self.hooks.set_push(gone)

    def _forbid_round(self, acc: AccountRuntime) -> None:
        pages = self._pages(
            acc, cssapi.FORBID_LIST, lambda n: acc.client.forbid_page(n, FORBID_PAGE_SIZE)
        )
        if pages is None:
            return
        if isinstance(pages, ApiError):
            if pages.code in FORBID_UNSUPPORTED and acc.forbid_supported is None:
                acc.forbid_supported = False
                log.warning(
                    "account %s: %s answers %s; checking offline streams for bans with %s instead",
                    acc.name,
                    cssapi.FORBID_LIST,
                    pages.code,
                    cssapi.STATE,
                )
            return
        acc.forbid_supported = True
        started = self._wall()
        items = [item for page in pages for item in page.items]
        now = self._wall()
        for t in self.targets:
            if t.account != acc.name or t.mode != "online_list":
                continue
            banned = rounds.forbidden_in(items, t.domain, t.app)
            keys = t.all_keys()
            self.store.apply_bulk(
                (k for k in keys if k.stream in banned),
                Verdict(StreamState.FORBID, started, Source.FORBID_LIST),
                now,
            )
            self.store.apply_bulk(
                (k for k in keys if k.stream not in banned),
                Verdict(StreamState.INACTIVE, started, Source.FORBID_LIST),
                now,
            )

    # -- account health --------------------------------------------------------------------

    def _on_error(self, acc: AccountRuntime, action: str, err: ApiError) -> None:
        if err.error_class is ErrorClass.THROTTLED:
            acc.limiters[action].throttled()
        if err.error_class in (ErrorClass.AUTH, ErrorClass.ACCOUNT) and not (
            action == cssapi.FORBID_LIST and err.code in FORBID_UNSUPPORTED
        ):
            acc.backoff.failure(self._clock())
            if self._account_failing[acc.name] != err.code:
                self._account_failing[acc.name] = err.code
                log.warning(
                    "account %s: %s (%s); backing off %.0fs between attempts",
                    acc.name,
                    err.code,
                    err.message,
                    acc.backoff.delay,
                )
        else:
            acc.backoff.neutral()
            if err.error_class is ErrorClass.CLIENT:
                log.error("account %s: %s rejected: %s %s", acc.name, action, err.code, err.message)
            else:
                log.debug("account %s: %s %s %s", acc.name, action, err.code, err.message)

    def _on_success(self, acc: AccountRuntime) -> None:
        acc.backoff.success()
        if self._account_failing[acc.name] is not None:
            log.info("account %s: API calls succeed again", acc.name)
            self._account_failing[acc.name] = None

    def run_queued(self) -> int:
        """Run every queued task in the calling thread; for tests with a fake clock."""
        count = 0
        for name, q in self._queues.items():
            while True:
                try:
                    item = q.get_nowait()
                except queue.Empty:
                    break
                assert isinstance(item, tuple)
                ident, task, due = item
                try:
                    self.run_task(task, due)
                finally:
                    with self._lock:
                        self._pending.discard(ident)
                        self._queued[name] -= 1
                count += 1
        return count

    def ready(self) -> bool:
        if not self._ready:
            self._ready = all(
                t.first_round_done or (t.mode == "state" and self.store.all_attempted(t.keys))
                for t in self.targets
            )
        return self._ready


class _Believed:
    """Whether a tracked stream is active now, asked of the store by name: ``plan_round`` asks
    only about streams missing from the list, so no set of every active stream is built."""

    def __init__(self, store: StateStore, by_name: dict[str, StreamKey]) -> None:
        self._store = store
        self._by_name = by_name

    def __contains__(self, name: object) -> bool:
        key = self._by_name.get(name) if isinstance(name, str) else None
        status = self._store.get(key) if key is not None else None
        return status is not None and status.state is StreamState.ACTIVE


def t_key(t: TargetRuntime, stream: str) -> StreamKey:
    return StreamKey(t.account, t.domain, t.app, stream)
