"""What every playback round shares: one call's outcome, taken like the pager takes a page's.

A throttled call goes out again (the limiter has just slowed down), a server or transport failure
once; an answer saying the account cannot make the call at all turns it off in the account's
playback book rather than backing the whole account off (``UNAVAILABLE``).
"""

from __future__ import annotations

from collections.abc import Hashable

from exporter.client.playback import Caller
from exporter.model import ApiError, ErrorClass
from exporter.polling.context import Context
from exporter.polling.dispatch import AccountLanes
from exporter.polling.pager import THROTTLED_RETRIES
from exporter.polling.playback_book import UNAVAILABLE, PlaybackBook, book_of
from exporter.runtime.plan import TargetSpec
from exporter.runtime.playback import PlaybackSpec

RETRY = "retry"
FAILED = "failed"
OK = "ok"
_RETRY_ONCE = (ErrorClass.SERVER, ErrorClass.TRANSPORT)


class PlaybackRound:
    """Base of the playback jobs: one account-wide chain, one call per ``run``."""

    action: str
    kind: str

    def __init__(self, ctx: Context, account: str, targets: tuple[TargetSpec, ...]) -> None:
        self.ctx = ctx
        self.account = account
        self.targets = targets  # the account's targets when the round was due
        self.ident: Hashable = ("playback", self.kind, account)
        self.domain: str | None = None  # account-wide: no push domain
        self.target: str | None = None
        self._throttled = 0
        self._retried = False

    def _begin(self) -> tuple[AccountLanes, PlaybackSpec, Caller, PlaybackBook] | None:
        acc = self.ctx.account(self.account)
        if acc is None or acc.spec.playback is None:
            return None
        client = acc.client
        if not isinstance(client, Caller):
            return None  # a client that cannot make generic calls (never the SDK's)
        return acc, acc.spec.playback, client, book_of(acc.guard)

    def _outcome(self, acc: AccountLanes, book: PlaybackBook, err: ApiError | None) -> str:
        """OK, RETRY (run again: the same call) or FAILED (the round ends)."""
        if err is None:
            self.ctx.report(acc, self.action, None)
            self._throttled, self._retried = 0, False
            return OK
        if err.code in UNAVAILABLE:
            book.mark_unavailable(self.action, err, acc.spec.connection)
            book.counted(self.kind, "unavailable")
            return FAILED
        self.ctx.report(acc, self.action, err)
        if err.error_class is ErrorClass.THROTTLED and self._throttled < THROTTLED_RETRIES:
            self._throttled += 1
            return RETRY
        if err.error_class in _RETRY_ONCE and not self._retried:
            self._retried = True
            return RETRY
        return FAILED

    def not_sent(self, reason: str) -> None:
        return None
