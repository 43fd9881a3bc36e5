"""What the status page shows: one immutable snapshot, built by the App for one request."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "EXPECT_LIVE",
    "PROBLEMS",
    "STATES",
    "AccountRow",
    "ApiErrorRow",
    "BudgetRow",
    "Interruption",
    "StatusSnapshot",
    "StreamRow",
    "TargetRow",
]

STATES = ("active", "inactive", "forbid", "unknown")
# The filter of every row that needs attention (``?state=problems``).
PROBLEMS = "problems"

# The label that marks a stream as expected live: inactive is then a problem.
EXPECT_LIVE = ("expect_live", "true")


@dataclass(frozen=True)
class Interruption:
    """Why the stream last stopped: the interrupt callback or the event list."""

    time: float
    reason: str  # clean_stop, network, auth_or_ban, other
    code: int | None  # the callback's errcode
    message: str
    source: str  # callback or event_list


@dataclass(frozen=True)
class StreamRow:
    account: str
    domain: str
    app: str
    stream: str
    # Extra labels, e.g. (("env", "prod"), ("expect_live", "true")).
    labels: tuple[tuple[str, str], ...]
    state: str  # active | inactive | forbid | unknown
    since: float | None  # unix time of the last state change
    source: str | None  # state_api | online_list | forbid_list | callback | stale
    last_error: str | None  # "Code: message"
    last_error_time: float | None
    expected: bool | None = None  # expected live now (None: nobody said)
    schedule: str | None = None  # the broadcast schedule, described
    window: tuple[float, float] | None = None  # the current window while expected, else the next
    down_after: float | None = None
    start_grace: float | None = None  # scheduled streams: StreamDidNotStart's grace
    interrupt: Interruption | None = None


@dataclass(frozen=True)
class ApiErrorRow:
    time: float
    account: str
    action: str
    code: str
    message: str
    request_id: str


@dataclass(frozen=True)
class BudgetRow:
    account: str
    action: str
    budget: float
    allowed: float  # throttled when allowed < budget
    backoff_seconds: float


@dataclass(frozen=True)
class TargetRow:
    account: str
    target: str
    mode: str
    streams: int
    interval: float
    last_success: float | None
    problem: str | None = None  # e.g. "AuthFailure.UnauthorizedOperation on its domain"


@dataclass(frozen=True)
class AccountRow:
    account: str
    endpoint: str
    site: str  # china, intl, or strict (not set)
    answered: bool | None  # the last call got an answer from the API (None: no call yet)
    cause: str | None  # why it did not (a transport code)
    last_success: float | None
    forbid: str  # "available", "not yet asked", or "unavailable: <code>"
    denied: tuple[tuple[str, str], ...] = ()  # (domain, code) backing off


@dataclass(frozen=True)
class StatusSnapshot:
    version: str
    now: float
    started: float
    ready: bool
    streams: Sequence[StreamRow]  # may be 100,000 long: only one page is rendered
    errors: Sequence[ApiErrorRow]  # newest first, already capped by the caller
    budgets: Sequence[BudgetRow]
    targets: Sequence[TargetRow]
    reload_ok: bool
    last_reload: float | None
    accounts: Sequence[AccountRow] = ()
    # Callbacks received over plain HTTP from outside loopback: (how many, the last one's time).
    # Their signature could be read on the way and replayed: the callback URL should be HTTPS.
    plain_http_callbacks: tuple[int, float | None] = (0, None)
