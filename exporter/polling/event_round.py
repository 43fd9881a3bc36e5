"""An event-list round: DescribeLiveStreamEventList pages of the account's push domains and
apps, each ended session of a tracked stream counted as an interrupt with its stop reason and
duration (once: the history recognises one the callback already reported).

Each (domain, app) is read from where its last round ended (its cursor) to a minute ago, with
five minutes of overlap so that records Tencent adds late are not lost (the history counts a
reread session once). After a restart the first round starts where the last process stopped
(the state file; within ``backfill``) without overlap, so that the gap's interrupts are counted
and nothing the last process counted is counted again; without a state file it starts at this
process's start. Not replayed as state: the current state comes from polling.

A round reads at most ``events_pages`` pages: one cut short moves its cursor to the last session
it read, and the next round goes on from there (places with the oldest cursor go first).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping

from exporter import cssapi
from exporter.client import Page
from exporter.client.playback import Caller
from exporter.history import EVENT_LIST, Interrupt, from_stop_reason
from exporter.model import ApiError, StreamKey
from exporter.polling.context import Context
from exporter.polling.dispatch import AccountLanes
from exporter.polling.history_calls import SessionRecord, event_list_params, parse_event_list
from exporter.polling.lanes import Job
from exporter.polling.pager import MORE, Pager
from exporter.runtime.history import HistorySpec
from exporter.runtime.plan import TargetSpec

LAG = 60.0  # the last minute may still be filling (less with a shorter interval: tests, demos)
OVERLAP = 300.0  # each round rereads the end of the last one

Place = tuple[str, str]


def place_key(account: str, place: Place) -> str:
    return f"{account}/{place[0]}/{place[1]}"


class EventRound:
    action = cssapi.EVENT_LIST

    def __init__(self, ctx: Context, account: str, targets: tuple[TargetSpec, ...]) -> None:
        self.ctx = ctx
        self.account = account
        self.targets = targets
        self.ident: Hashable = ("events", account)
        self.domain: str | None = None
        self.target: str | None = None
        self._places: list[Place] | None = None
        self._pager: Pager | None = None
        self._window = (0.0, 0.0)
        self._index: Mapping[str, StreamKey] = {}
        self._place: Place = ("", "")
        self._latest: float | None = None  # latest session end read in the current place
        self._pages = 0
        self.counted = 0  # interrupts this round counted (tests, logs)

    # -- one call per run -------------------------------------------------------------------

    def run(self) -> Job | None:
        acc = self.ctx.account(self.account)
        if acc is None or acc.spec.history is None or acc.spec.history.events_interval is None:
            return None
        client = acc.client
        if not isinstance(client, Caller):
            return None  # a client that cannot make generic calls (never the SDK's)
        spec = acc.spec.history
        if self._places is None:
            self._places = self._ordered(spec)
        while self._pager is None:
            if not self._places:
                return None
            if self._open(spec, client):
                break
        assert self._pager is not None
        outcome = self._pager.step(self.ctx, acc)
        if isinstance(outcome, ApiError):
            return None  # the cursor stays: the next round reads this window again
        self._pages += 1
        if outcome == MORE:
            if self._pages < spec.events_pages:
                return self
            self._close(spec, complete=False)
            return None
        self._close(spec, complete=True)
        return self if self._places else None

    def not_sent(self, reason: str) -> None:
        return None

    # -- places and windows -----------------------------------------------------------------

    def _ordered(self, spec: HistorySpec) -> list[Place]:
        """The account's (domain, app) places, those read least recently first."""
        places = sorted({(t.domain, t.app) for t in self.targets})
        now = self.ctx.wall()
        cursors = self.ctx.exposition.history.cursors
        return sorted(
            places,
            key=lambda p: cursors.since(
                place_key(self.account, p), spec.state_file, spec.backfill, now
            )[0],
        )

    def _open(self, spec: HistorySpec, client: Caller) -> bool:
        """Start reading the next place; False when it has nothing to read (it is dropped)."""
        assert self._places is not None
        place = self._places[0]
        now = self.ctx.wall()
        cursors = self.ctx.exposition.history.cursors
        since, overlap = cursors.since(
            place_key(self.account, place), spec.state_file, spec.backfill, now
        )
        start = since - OVERLAP if overlap else since
        end = now - min(LAG, spec.events_interval or LAG)
        start = max(start, end - cssapi.EVENT_LIST_MAX_SPAN)
        if end <= start:
            self._places.pop(0)
            return False
        self._window = (start, end)
        self._index = self._tracked(place)
        self._latest = None
        self._place = place
        domain, app = place

        def fetch(acc: AccountLanes, number: int) -> Page | ApiError:
            params = event_list_params(domain, app, start, end, number)
            result = client.call(self.action, params, parse_event_list)
            assert not isinstance(result, dict)
            return result

        self._pager = Pager(self.action, fetch, self._consume, domain)
        return True

    def _tracked(self, place: Place) -> dict[str, StreamKey]:
        index: dict[str, StreamKey] = {}
        for t in self.targets:
            if (t.domain, t.app) == place:
                view = self.ctx.membership.view(t.name)
                if view is not None:
                    index.update(view.index)
        return index

    def _close(self, spec: HistorySpec, complete: bool) -> None:
        assert self._places is not None
        place = self._places.pop(0)
        self._pager = None
        until = self._window[1] if complete else self._latest
        if until is not None:
            key = place_key(self.account, place)
            self.ctx.exposition.history.cursors.advance(key, spec.state_file, until, complete)

    # -- what a page says -------------------------------------------------------------------

    def _consume(self, page: Page) -> None:
        history = self.ctx.exposition.history
        for record in page.items:
            assert isinstance(record, SessionRecord)
            if record.end is None:
                continue
            if self._latest is None or record.end > self._latest:
                self._latest = record.end
            domain, app = self._place
            if (record.domain and record.domain != domain) or (record.app and record.app != app):
                continue  # the same name on another domain or app is another stream
            key = self._index.get(record.stream)
            if key is None:
                continue
            interrupt = Interrupt(
                time=record.end,
                reason=from_stop_reason(record.stop_reason),
                code=None,
                message=record.stop_reason,
                source=EVENT_LIST,
                duration=record.duration,
            )
            if history.interrupted(key, interrupt):
                self.counted += 1
