"""The pager shared by every paged round: one page per step, one retry of a failed page."""

from __future__ import annotations

from collections.abc import Callable

from exporter.client import Page
from exporter.model import ApiError, ErrorClass
from exporter.polling.context import Context
from exporter.polling.dispatch import AccountLanes

# A broken TotalPage must not keep a round paging forever. PageNum is at most 10,000 on
# PushInfoList (tencentcloud-sdk-python-live models: DescribeLiveStreamPushInfoListRequest);
# no real list is longer than that.
MAX_PAGES = 10_000
_RETRY_PAGE = (ErrorClass.SERVER, ErrorClass.TRANSPORT)
THROTTLED_RETRIES = 3  # per page

MORE = "more"
DONE = "done"


class Pager:
    """Fetches page 1, 2, ... of one list action, handing each page to ``consume`` as it arrives
    (a 50-page round never holds all its pages at once)."""

    def __init__(
        self,
        action: str,
        fetch: Callable[[AccountLanes, int], Page | ApiError],
        consume: Callable[[Page], None],
        domain: str | None = None,
    ) -> None:
        self.action = action
        self.domain = domain
        self._fetch = fetch
        self._consume = consume
        self.number = 1
        self.pages = 0
        self._retried = False
        self._throttled = 0

    def step(self, ctx: Context, acc: AccountLanes) -> str | ApiError:
        """Fetch the next page: MORE (call again), DONE, or the error that ends the round."""
        page = self._fetch(acc, self.number)
        if isinstance(page, ApiError):
            ctx.report(acc, self.action, page, self.domain)
            if page.error_class in _RETRY_PAGE and not self._retried:
                # One failed page of fifty must not lose the whole round: try it once more.
                self._retried = True
                return MORE
            if page.error_class is ErrorClass.THROTTLED and self._throttled < THROTTLED_RETRIES:
                # The limit is shared with the customer's own callers (the forbid list's is
                # 2/s on the China site): the limiter has just slowed down, so the page goes
                # out again at the slower pace rather than losing the round.
                self._throttled += 1
                return MORE
            return page
        ctx.report(acc, self.action, None, self.domain)
        self._retried = False
        self._throttled = 0
        self.pages += 1
        self._consume(page)
        if self.number >= min(page.total_pages, MAX_PAGES) or not page.items:
            return DONE
        self.number += 1
        return MORE
