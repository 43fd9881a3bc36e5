"""A callback-audit round: for a few of the account's streams, DescribeCallbackRecordsList (the
callbacks CSS says it sent, and what the receiver answered) against the callbacks this exporter
accepted (their history's ledger).

The API is asked per stream name (StreamName is required), so a round audits at most
``audit_streams`` streams: those whose state changed in the window without a callback saying so
first (a callback may have been lost), then those a callback changed, then expected-live ones.
The window runs from where the last round ended to two minutes (at most an interval) ago (CSS
records a delivery once it is over, retries included), at most a day (the API's span), never
before this process started (what an earlier process accepted is not known here).

Each push or interrupt record of the stream's domain and app is ``delivered`` (accepted here),
``refused`` (CSS recorded a failed delivery: ResultCode not 0) or ``not_received`` (CSS recorded
a delivery this exporter never accepted: another receiver answered, or a proxy did).
"""

from __future__ import annotations

from collections.abc import Hashable

from exporter import cssapi
from exporter.client import Page
from exporter.client.playback import Caller
from exporter.history import DELIVERED, NOT_RECEIVED, REFUSED, StreamHistory
from exporter.model import ApiError, StreamKey, StreamState
from exporter.polling.context import Context
from exporter.polling.dispatch import AccountLanes
from exporter.polling.history_calls import (
    CallbackRecord,
    callback_records_params,
    parse_callback_records,
)
from exporter.polling.lanes import Job
from exporter.polling.pager import MORE, Pager
from exporter.runtime.plan import TargetSpec

# CSS records a delivery once it is over: the window ends this long ago (or one audit interval
# ago, if that is shorter: a frequent audit looks at fresher records).
SETTLE = 120.0
PAGES_PER_STREAM = 3  # 300 callbacks of one stream in one window is a flapping stream already
SAME_EVENT = 5.0  # seconds: a record without a sequence matches an accepted event this close
_EVENTS = (0, 1)  # interrupt and push: the callbacks this receiver takes
_EXPECTED = frozenset({"true", "scheduled"})


class AuditRound:
    action = cssapi.CALLBACK_RECORDS

    def __init__(self, ctx: Context, account: str, targets: tuple[TargetSpec, ...]) -> None:
        self.ctx = ctx
        self.account = account
        self.targets = targets
        self.ident: Hashable = ("callback_audit", account)
        self.domain: str | None = None
        self.target: str | None = None
        self._streams: list[StreamKey] | None = None
        self._window = (0.0, 0.0)
        self._pager: Pager | None = None
        self._current: StreamKey | None = None
        self._counts: dict[str, int] = {}
        self._asked = 0

    def run(self) -> Job | None:
        acc = self.ctx.account(self.account)
        if acc is None or acc.spec.history is None or acc.spec.history.audit_interval is None:
            return None
        client = acc.client
        if not isinstance(client, Caller):
            return None
        spec = acc.spec.history
        settle = min(SETTLE, spec.audit_interval or SETTLE)
        if self._streams is None and not self._plan(spec.audit_streams, settle):
            return None
        assert self._streams is not None
        if self._pager is None:
            if not self._streams:
                self._finish()
                return None
            self._start(client)
        assert self._pager is not None
        outcome = self._pager.step(self.ctx, acc)
        if isinstance(outcome, ApiError):
            return None  # the window stays: the next round audits it again
        if outcome == MORE and self._pager.pages < PAGES_PER_STREAM:
            return self
        self._pager = None
        if self._streams:
            return self
        self._finish()
        return None

    def not_sent(self, reason: str) -> None:
        return None

    # -- the window and the streams ---------------------------------------------------------

    def _key(self) -> str:
        return f"audit:{self.account}"

    def _plan(self, limit: int, settle: float) -> bool:
        now = self.ctx.wall()
        since, _ = self.ctx.exposition.history.cursors.since(self._key(), None, 0.0, now)
        end = now - settle
        start = max(since, end - cssapi.CALLBACK_RECORDS_MAX_SPAN)
        if end <= start:
            return False
        self._window = (start, end)
        self._streams = self._candidates(start, end, limit)
        return True

    def _candidates(self, start: float, end: float, limit: int) -> list[StreamKey]:
        lost: list[StreamKey] = []  # changed on air or off without a callback saying so
        called: list[StreamKey] = []
        expected: list[StreamKey] = []
        ctx = self.ctx
        for t in self.targets:
            view = ctx.membership.view(t.name)
            if view is None:
                continue
            statuses = ctx.store.get_many(view.keys)
            for key, status in zip(view.keys, statuses, strict=True):
                if status is None:
                    continue
                changed = status.last_change is not None and start <= status.last_change <= end
                # On air, or off air after having been on (a first poll finding a stream
                # offline is no change CSS would have called back about).
                on_off = status.state is StreamState.ACTIVE or (
                    status.state is StreamState.INACTIVE and status.last_active is not None
                )
                if changed and on_off:
                    (called if status.change_source == "callback" else lost).append(key)
                elif len(expected) < limit:
                    meta = ctx.exposition.meta(key)
                    if meta is not None and meta.expect in _EXPECTED:
                        expected.append(key)
        return [*lost, *called, *expected][:limit]

    def _start(self, client: Caller) -> None:
        assert self._streams
        key = self._current = self._streams.pop(0)
        start, end = self._window
        self._asked += 1

        def fetch(acc: AccountLanes, number: int) -> Page | ApiError:
            params = callback_records_params(key.stream, start, end, number)
            result = client.call(self.action, params, parse_callback_records)
            assert not isinstance(result, dict)
            return result

        self._pager = Pager(self.action, fetch, self._consume, key.domain)

    def _finish(self) -> None:
        history = self.ctx.exposition.history
        history.audit.add(self.account, self._counts)
        history.audit.audited(self.account, self._window[1], self._asked)
        history.cursors.advance(self._key(), None, self._window[1])

    # -- what a page says -------------------------------------------------------------------

    def _consume(self, page: Page) -> None:
        key = self._current
        assert key is not None
        history = self.ctx.exposition.history.get(key)
        for record in page.items:
            assert isinstance(record, CallbackRecord)
            result = _judge(record, key, history)
            if result is not None:
                self._counts[result] = self._counts.get(result, 0) + 1


def _judge(record: CallbackRecord, key: StreamKey, history: StreamHistory | None) -> str | None:
    if record.event_type not in _EVENTS or record.stream != key.stream:
        return None
    if (record.domain and record.domain != key.domain) or (record.app and record.app != key.app):
        return None  # the same name on another domain or app: another stream
    if record.result_code not in (None, 0):
        return REFUSED
    accepted = history.accepted if history is not None else ()
    for event_type, sequence, at in accepted:
        if event_type != record.event_type:
            continue
        if record.sequence and sequence == record.sequence:
            return DELIVERED
        near = record.event_time is not None and abs(at - record.event_time) <= SAME_EVENT
        if not record.sequence and near:
            return DELIVERED
    return NOT_RECEIVED
