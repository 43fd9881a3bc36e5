"""Planning of an account's history rounds: the event list (why streams stopped, backfill after a
restart) and the callback audit. Pure, like ``plan.py``."""

from __future__ import annotations

from dataclasses import dataclass

from exporter.config import Account, Config


@dataclass(frozen=True)
class HistorySpec:
    """One account's history rounds, planned; None intervals are rounds not made. Frozen and
    comparable: an unchanged spec keeps the account's lanes across a reload, so it holds nothing
    that adding a target changes: the rounds read the account's targets when they run."""

    events_interval: float | None  # DescribeLiveStreamEventList
    events_pages: int  # pages a round may read
    backfill: float  # how far back the first round after a restart may read
    audit_interval: float | None  # DescribeCallbackRecordsList: only with callback keys
    audit_streams: int  # streams a round audits (one call each, at least)
    state_file: str | None  # where the event list's progress is kept across restarts


def plan_history(account: Account, config: Config) -> HistorySpec | None:
    """The account's history rounds; None: none at all."""
    events, audit = account.event_history, account.callback_audit
    events_interval = events.interval if events.enabled else None
    # CSS sends callbacks only where a callback template with this exporter's URL is bound, and
    # the exporter takes them only with a key: without keys there is nothing to compare.
    audited = audit.enabled and bool(account.callback_keys)
    audit_interval = audit.interval if audited else None
    if events_interval is None and audit_interval is None:
        return None
    return HistorySpec(
        events_interval=events_interval,
        events_pages=events.max_pages,
        backfill=events.backfill,
        audit_interval=audit_interval,
        audit_streams=audit.max_streams,
        state_file=config.state_file,
    )
