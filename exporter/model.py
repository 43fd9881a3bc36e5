"""Plain, frozen data shared by every part of the exporter."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import NamedTuple

# The longest names the exporter tracks, in the config and from callbacks alike: a label value
# per stream on every series, so a 60 KB name would bloat /metrics (and DNS names stop at 253).
MAX_STREAM_NAME = 256
MAX_APP_NAME = 128
MAX_DOMAIN_NAME = 253


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
    """Where a verdict about a stream came from (the seed page's three sources, plus bans)."""

    STATE_API = "state_api"  # DescribeLiveStreamState: active, inactive or forbid
    ONLINE_LIST = "online_list"  # DescribeLiveStreamOnlineList: listed (active) or not
    FORBID_LIST = "forbid_list"  # DescribeLiveForbidStreamList: banned (forbid) or not
    CALLBACK = "callback"  # CSS push (active) / interrupt (inactive) callbacks


# Index of each source's slot in StreamStatus.verdicts.
SOURCE_INDEX: dict[Source, int] = {s: i for i, s in enumerate(Source)}


class StreamKey(NamedTuple):
    """A stream's identity: every owner keys its maps by it.

    A tuple, not a frozen dataclass: 100,000 of them are built at each start and reload, which
    took 160 ms as dataclasses and 25-48 ms as tuples; a tuple's hash and order are C code
    over the four strings (whose hashes are cached), and its size is the same (72 bytes).
    """

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
class Verdict:
    """What one source said about a stream, and when (poll start or callback event time).

    For FORBID_LIST, ``state`` is FORBID (listed) or INACTIVE (meaning only "not banned").
    For ONLINE_LIST, INACTIVE means "not listed". Instances are shared between streams when a
    whole list round says the same thing, which keeps 100k streams cheap.
    """

    state: StreamState
    time: float
    source: Source


@dataclass(frozen=True, slots=True)
class Observation:
    """One source's word about one stream at one time: either a state or an error.

    ``sequence`` is the CSS callback session id; callbacks are ordered by (time, sequence).
    """

    key: StreamKey
    time: float
    source: Source
    state: StreamState | None = None
    error: ApiError | None = None
    sequence: str = ""


@dataclass(frozen=True, slots=True)
class PushInfo:
    """Push quality of one active stream (DescribeLiveStreamPushInfoList), in base units."""

    video_bitrate: float | None = None  # bits/s
    audio_bitrate: float | None = None
    video_fps: float | None = None
    audio_fps: float | None = None
    meta_video_bitrate: float | None = None
    meta_audio_bitrate: float | None = None
    meta_fps: float | None = None
    width: float | None = None
    height: float | None = None
    begin_time: float | None = None  # Unix time
    video_codec: str = ""
    audio_codec: str = ""
    resolution: str = ""
    audio_sample_rate: str = ""
    client_ip: str = ""
    server_ip: str = ""
