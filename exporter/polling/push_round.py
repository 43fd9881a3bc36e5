"""A push-info round: DescribeLiveStreamPushInfoList pages of one target's domain and app."""

from __future__ import annotations

from collections.abc import Hashable, Mapping

from exporter import cssapi
from exporter.client import Page
from exporter.model import ApiError, PushInfo, StreamKey
from exporter.polling.context import Context
from exporter.polling.dispatch import AccountLanes
from exporter.polling.lanes import Job
from exporter.polling.pager import MORE, Pager
from exporter.runtime.plan import TargetSpec

# The international maximum (tencentcloud.com/document/api/267/30800: PageSize max 1000); the
# China site allows far more.
PUSH_PAGE_SIZE = 1000


class PushRound:
    action = cssapi.PUSH_INFO_LIST

    def __init__(self, ctx: Context, target: TargetSpec, ident: Hashable | None = None) -> None:
        self.ctx = ctx
        self.spec = target
        # A list round continues with its push round under its own ident: one chain.
        self.ident: Hashable = ident if ident is not None else ("p", target.name)
        self.account = target.account
        self.domain: str | None = target.domain
        self.target: str | None = target.name
        self._tracked: Mapping[str, StreamKey] | None = None
        self._seen: set[str] = set()
        self._pager = Pager(self.action, self._fetch, self._consume, self.domain)

    def _fetch(self, acc: AccountLanes, number: int) -> Page | ApiError:
        t = self.spec
        return acc.client.push_page(t.domain, t.app, number, PUSH_PAGE_SIZE, t.push_ips)

    def _consume(self, page: Page) -> None:
        # Applied page by page, with the keys already tracked: what the round keeps until its
        # end is then no new object per stream (see rounds.Assembler for why).
        tracked = self._tracked or {}
        updates: dict[StreamKey, PushInfo | None] = {}
        for app, stream, info in page.items:
            key = tracked.get(stream) if app == self.spec.app else None
            if key is not None:
                updates[key] = info
                self._seen.add(key.stream)
        self.ctx.exposition.set_push(updates)

    def run(self) -> Job | None:
        acc = self.ctx.account(self.account)
        if self._tracked is None:
            view = self.ctx.membership.view(self.spec.name)
            if view is None or acc is None:
                return None
            self._tracked = view.index
        if acc is None:
            return None
        outcome = self._pager.step(self.ctx, acc)
        if outcome == MORE:
            return self
        if isinstance(outcome, ApiError):
            return None  # values already applied stay; nothing is removed on a partial round
        tracked, seen = self._tracked, self._seen
        gone: dict[StreamKey, PushInfo | None] = {
            key: None
            for key in self.ctx.exposition.push_keys()
            if key.stream not in seen and tracked.get(key.stream) == key
        }
        if gone:
            self.ctx.exposition.set_push(gone)
        return None

    def not_sent(self, reason: str) -> None:
        return None
