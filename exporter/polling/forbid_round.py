"""A forbid round: the account's DescribeLiveForbidStreamList, applied to its list targets.

The online list does not tell an offline stream from a banned one, so list-mode targets learn
about bans here (state-mode targets get ``forbid`` from the state API itself).
"""

from __future__ import annotations

from collections.abc import Hashable

from exporter import cssapi, rounds
from exporter.client import Page
from exporter.model import ApiError, StreamState, Verdict
from exporter.model import Source as S
from exporter.polling.context import Context
from exporter.polling.dispatch import AccountLanes
from exporter.polling.lanes import Job
from exporter.polling.pager import MORE, Pager
from exporter.polling.state_poll import StatePoll
from exporter.runtime.plan import TargetSpec

# The documented maximum PageSize (cloud.tencent.com/document/api/267/33187: 1-100).
FORBID_PAGE_SIZE = 100


class ForbidRound:
    action = cssapi.FORBID_LIST

    def __init__(self, ctx: Context, account: str, targets: tuple[TargetSpec, ...]) -> None:
        self.ctx = ctx
        self.account = account
        self.targets = targets  # the account's targets when the round was due
        self.ident: Hashable = ("f", account)
        self.domain: str | None = None
        self.target: str | None = None
        self._items: list[tuple[str, str, str]] = []
        self._started: float | None = None
        self._pager = Pager(self.action, self._fetch, self._consume)

    def _fetch(self, acc: AccountLanes, number: int) -> Page | ApiError:
        return acc.client.forbid_page(number, FORBID_PAGE_SIZE)

    def _consume(self, page: Page) -> None:
        self._items.extend(page.items)

    def run(self) -> Job | None:
        ctx = self.ctx
        acc = ctx.account(self.account)
        if acc is None:
            return None
        if self._started is None:
            self._started = ctx.wall()
        outcome = self._pager.step(ctx, acc)
        if outcome == MORE:
            return self
        if isinstance(outcome, ApiError):
            acc.guard.forbid_answered(outcome)
            return None
        acc.guard.forbid_answered(None)
        self._apply()
        return None

    def _apply(self) -> None:
        ctx = self.ctx
        views = [
            (t, view)
            for t in self.targets
            if ctx.progress.mode(t.name) == "online_list"
            and (view := ctx.membership.view(t.name)) is not None
        ]
        bans = rounds.assign_bans(self._items, [(t.domain, t.app, v.index) for t, v in views])
        unsure = {(i, stream) for i, stream in bans.unsure}
        now, started = ctx.wall(), self._started
        assert started is not None
        with ctx.store.together():  # one render for the round (StateStore.together)
            for i, (_, view) in enumerate(views):
                banned = bans.banned.get(i, set())
                ctx.store.apply_bulk(
                    (k for k in view.keys if k.stream in banned),
                    Verdict(StreamState.FORBID, started, S.FORBID_LIST),
                    now,
                )
                cleared = (
                    k for k in view.keys if k.stream not in banned and (i, k.stream) not in unsure
                )
                ctx.store.apply_bulk(
                    cleared,
                    Verdict(StreamState.INACTIVE, started, S.FORBID_LIST),
                    now,
                )
        clock = ctx.clock()
        for i, stream in bans.unsure:
            t, view = views[i]
            ctx.dispatcher.dispatch(StatePoll(ctx, t, view.index[stream], clock, scheduled=False))

    def not_sent(self, reason: str) -> None:
        return None
