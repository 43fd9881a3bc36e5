"""The status page's data: one immutable snapshot gathered from the owners, for the renderer."""

from __future__ import annotations

import collections
import threading
import time

from exporter import __version__, logs
from exporter.exposition import Exposition
from exporter.exposition.bucket import StreamMeta
from exporter.exposition.watch import Evaluate, evaluator
from exporter.model import ApiError
from exporter.polling.engine import Poller
from exporter.state import StateStore
from exporter.statuspage import (
    AccountRow,
    ApiErrorRow,
    BudgetRow,
    Interruption,
    StatusSnapshot,
    StreamRow,
    TargetRow,
)

RECENT_ERRORS = 50


class RecentErrors:
    """The last API errors, newest first (the owner of that list)."""

    def __init__(self, size: int = RECENT_ERRORS) -> None:
        self._lock = threading.Lock()
        self._rows: collections.deque[ApiErrorRow] = collections.deque(maxlen=size)

    def add(self, account: str, action: str, error: ApiError) -> None:
        row = ApiErrorRow(
            time.time(), account, action, error.code, logs.redact(error.message), error.request_id
        )
        with self._lock:
            self._rows.appendleft(row)

    def rows(self) -> list[ApiErrorRow]:
        with self._lock:
            return list(self._rows)


def stream_rows(
    store: StateStore, exposition: Exposition, now: float | None = None
) -> list[StreamRow]:
    """Every stream's row: its status, what it is expected to do (its schedule evaluated at
    ``now``, once per distinct schedule) and why it last stopped."""
    rows = []
    evaluate = evaluator(time.time() if now is None else now)
    histories = exposition.history.snapshot()
    for key, status in store.snapshot().items():
        error = None
        if status.last_error_code is not None:
            error = f"{status.last_error_code}: {logs.redact(status.last_error_message or '')}"
        meta = exposition.meta(key)
        expected, schedule, window, grace = _expectation(meta, evaluate)
        history = histories.get(key)
        last = history.last if history is not None else None
        rows.append(
            StreamRow(
                key.account,
                key.domain,
                key.app,
                key.stream,
                meta.extra if meta is not None else (),
                status.state.value,
                status.last_change,
                status.change_source,
                error,
                status.last_error_time,
                expected=expected,
                schedule=schedule,
                window=window,
                down_after=meta.down_after if meta is not None else None,
                start_grace=grace,
                interrupt=None
                if last is None
                else Interruption(
                    last.time, last.reason, last.code, logs.redact(last.message), last.source
                ),
            )
        )
    return rows


def _expectation(
    meta: StreamMeta | None, evaluate: Evaluate
) -> tuple[bool | None, str | None, tuple[float, float] | None, float | None]:
    """(expected now, the schedule described, its current or next window, start grace)."""
    if meta is None or meta.expect is None:
        return None, None, None, None
    schedule = meta.watch.schedule if meta.watch is not None else None
    if schedule is None:
        return meta.expect == "true", None, None, None
    answer = evaluate(schedule)
    window = None
    if answer.start is not None and answer.end is not None:
        window = (answer.start, answer.end)
    grace = meta.watch.start_grace if meta.watch is not None else None
    return answer.expected, schedule.describe(), window, grace


def snapshot(
    store: StateStore,
    exposition: Exposition,
    poller: Poller,
    errors: RecentErrors,
    started: float,
    reload_ok: bool,
    last_reload: float | None,
    plain_http_callbacks: tuple[int, float | None] = (0, None),
) -> StatusSnapshot:
    budgets = [
        BudgetRow(name, action, lane.limiter.max_rate, lane.limiter.rate, acc.guard.backoff.delay)
        for name, acc in poller.dispatcher.accounts.items()
        for action, lane in acc.lanes.items()
    ]
    counts = poller.ctx.membership.counts
    accounts = poller.dispatcher.accounts
    health = {name: acc.guard.health() for name, acc in accounts.items()}
    denied = {name: dict((d, code) for d, code, _ in h.denied) for name, h in health.items()}
    targets = [
        TargetRow(
            p.spec.account,
            p.spec.name,
            p.mode,
            counts(p.spec.name)[0],
            p.interval,
            p.last_success,
            f"{code} on {p.spec.domain}"
            if (code := denied.get(p.spec.account, {}).get(p.spec.domain))
            else None,
        )
        for p in poller.progress.snapshot().values()
    ]
    account_rows = [
        AccountRow(
            name,
            acc.guard.endpoint,
            acc.spec.site,
            h.answered,
            h.cause,
            h.last_success,
            "not yet asked"
            if h.forbid is None
            else "available"
            if h.forbid
            else f"unavailable: {h.forbid_reason}",
            tuple((d, code) for d, code, _ in h.denied),
        )
        for name, acc in accounts.items()
        for h in (health[name],)
    ]
    now = time.time()
    return StatusSnapshot(
        version=__version__,
        now=now,
        started=started,
        ready=poller.ready(),
        streams=stream_rows(store, exposition, now),
        errors=errors.rows(),
        budgets=budgets,
        targets=targets,
        reload_ok=reload_ok,
        last_reload=last_reload,
        accounts=account_rows,
        plain_http_callbacks=plain_http_callbacks,
    )
