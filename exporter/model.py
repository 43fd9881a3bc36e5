"""Plain, frozen data shared by every part of the exporter."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class StreamState(str, enum.Enum):
    ACTIVE = "active"
    INACTIVE = "inactive"
    FORBID = "forbid"
    UNKNOWN = "unknown"


# Order of the state-set series in the exposition; stable so output never reshuffles.
ALL_STATES: tuple[StreamState, ...] = (
    StreamState.ACTIVE,
    StreamState.INACTIVE,
    StreamState.FORBID,
    StreamState.UNKNOWN,
)


class ErrorClass(str, enum.Enum):
    """What kind of failure a call had, which decides how the poller reacts."""

    THROTTLED = "throttled"  # slow down
    AUTH = "auth"  # credentials or permissions: retrying fast never helps
    ACCOUNT = "account"  # the service is off for the account
    SERVER = "server"  # transient on Tencent's side
    CLIENT = "client"  # our request is wrong: a config bug
    TRANSPORT = "transport"  # timeout, connection, non-200, unparseable answer


class Source(str, enum.Enum):
    STATE_API = "state_api"


@dataclass(frozen=True, slots=True, order=True)
class StreamKey:
    account: str
    domain: str
    app: str
    stream: str

    def __str__(self) -> str:
        return f"{self.domain}/{self.app}/{self.stream}"


@dataclass(frozen=True, slots=True)
class ApiError:
    code: str  # Tencent error code, or a transport class such as "Timeout"
    error_class: ErrorClass
    message: str = ""
    request_id: str = ""


@dataclass(frozen=True, slots=True)
class Observation:
    """One source's word about one stream at one time: either a state or an error."""

    key: StreamKey
    time: float
    source: Source
    state: StreamState | None = None
    error: ApiError | None = None
