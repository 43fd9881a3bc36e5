"""A list round: every DescribeLiveStreamOnlineList page of one target, then what it means.

The pure decisions (paging consistency, who is active, absent, to confirm or to discover) are
in ``exporter.rounds``; this module fetches the pages and applies the plan through the owners.
"""

from __future__ import annotations

import logging
from collections.abc import Container, Hashable, Mapping

from exporter import cssapi, rounds
from exporter.client import Page
from exporter.model import ApiError, StreamKey, StreamState, Verdict
from exporter.model import Source as S
from exporter.polling.context import Context
from exporter.polling.dispatch import AccountLanes
from exporter.polling.lanes import Job
from exporter.polling.pager import MORE, Pager
from exporter.polling.push_round import PushRound
from exporter.polling.state_poll import StatePoll
from exporter.runtime.membership import TargetView
from exporter.runtime.plan import TargetSpec
from exporter.state import StateStore

log = logging.getLogger(__name__)


class ListRound:
    action = cssapi.ONLINE_LIST

    def __init__(self, ctx: Context, target: TargetSpec, due: float) -> None:
        self.ctx = ctx
        self.spec = target
        self.due = due
        self.ident: Hashable = ("r", target.name)
        self.account = target.account
        self.domain: str | None = target.domain
        self.target: str | None = target.name
        self._view: TargetView | None = None
        self._started = 0.0
        self._assembler: rounds.Assembler | None = None
        self._pager: Pager | None = None

    def _fetch(self, acc: AccountLanes, number: int) -> Page | ApiError:
        t = self.spec
        return acc.client.online_page(t.domain, t.app, number, t.page_size)

    def run(self) -> Job | None:
        ctx, name = self.ctx, self.spec.name
        acc = ctx.account(self.account)
        if self._pager is None:
            view = ctx.membership.view(name)
            if view is None or acc is None:
                return None
            ctx.progress.lagged(name, ctx.clock() - self.due)
            self._view, self._started = view, ctx.wall()
            by_name = view.index
            self._assembler = rounds.Assembler(
                self.spec.app,
                lambda stream: k.stream if (k := by_name.get(stream)) is not None else stream,
            )
            self._pager = Pager(self.action, self._fetch, self._assembler.add, self.domain)
        if acc is None or self._view is None or self._assembler is None:
            return None
        outcome = self._pager.step(ctx, acc)
        if outcome == MORE:
            return self
        if isinstance(outcome, ApiError):
            ctx.progress.round_done(name, "error")
            return None
        result = self._assembler.result()
        self._apply(self._view, result)
        ctx.progress.round_done(name, "ok" if result.consistent else "inconsistent", self._started)
        self._maybe_switch(result)
        if self.spec.push_info and ctx.progress.mode(name) == "online_list":
            return PushRound(ctx, self.spec, ident=self.ident)
        return None

    def not_sent(self, reason: str) -> None:
        if reason == "backoff":
            self.ctx.progress.skipped(self.spec.name, "backoff")
            self.ctx.progress.round_done(self.spec.name, None)

    def _apply(self, view: TargetView, result: rounds.ListResult) -> None:
        """Apply a round to the streams of ``view``, the target's streams when it began."""
        ctx, t = self.ctx, self.spec
        by_name: Mapping[str, StreamKey] = view.index
        room = t.max_streams - view.discovered if t.discovers else 0
        believed = _Believed(ctx.store, by_name)
        plan = rounds.plan_round(result, by_name.keys(), believed, t.discovers, room)
        capped = plan.capped
        if plan.discover:
            _, over = ctx.membership.discover(t.name, plan.discover, ctx.wall())
            capped += over
        if t.discovers:
            # Streams heard of only in push callbacks: confirmed by this list, or dropped.
            grace = t.round_interval / 2
            capped += ctx.membership.settle(t.name, result.names, self._started, grace)
            # The new index (cached unless membership changed), built now rather than by the
            # next round: the same work, once.
            fresh = ctx.membership.view(t.name)
            by_name = fresh.index if fresh is not None else by_name
        prior = ctx.progress.get(t.name)
        if capped and prior is not None and not prior.capped:
            log.warning(
                "target %s: discovery cap of %d streams reached; %d online streams not tracked",
                t.name,
                t.max_streams,
                capped,
            )
        ctx.progress.capped(t.name, capped)
        now = ctx.wall()
        started = self._started
        with ctx.store.together():  # one render for the round (StateStore.together)
            ctx.store.apply_bulk(
                (k for n in plan.active if (k := by_name.get(n)) is not None),
                Verdict(StreamState.ACTIVE, started, S.ONLINE_LIST),
                now,
            )
            ctx.store.apply_bulk(
                (k for n in plan.absent if (k := by_name.get(n)) is not None),
                Verdict(StreamState.INACTIVE, started, S.ONLINE_LIST),
                now,
            )
        clock = ctx.clock()
        for stream in plan.confirm:
            key = by_name.get(stream)
            if key is not None:  # not a provisional stream just dropped
                ctx.dispatcher.dispatch(StatePoll(ctx, t, key, clock, scheduled=False))
        if t.discovers:
            gone = ctx.membership.drop_expired(t.name, now)
            if gone:
                ctx.forget(gone)
                log.info(
                    "target %s: dropped %d streams offline for the retention", t.name, len(gone)
                )

    def _maybe_switch(self, result: rounds.ListResult) -> None:
        t = self.spec
        if not (t.auto and not t.discovers and t.keys):
            return
        if not rounds.list_costs_more(result.pages, len(t.keys), t.round_interval, t.interval):
            return
        if self.ctx.progress.switch_to_state(t.name, self.ctx.clock()):
            log.info(
                "target %s: the list takes %d pages per round for %d streams; auto mode "
                "switches to per-stream state polls",
                t.name,
                result.pages,
                len(t.keys),
            )


class _Believed(Container[str]):
    """Whether a tracked stream is active now, asked of the store by name: ``plan_round`` asks
    only about streams missing from the list, so no set of every active stream is built."""

    def __init__(self, store: StateStore, by_name: Mapping[str, StreamKey]) -> None:
        self._store = store
        self._by_name = by_name

    def __contains__(self, name: object) -> bool:
        key = self._by_name.get(name) if isinstance(name, str) else None
        status = self._store.get(key) if key is not None else None
        return status is not None and status.state is StreamState.ACTIVE
