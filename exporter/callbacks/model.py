"""What the callback validator answers: an event, or a rejection with its reason and status."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_FUTURE_SECONDS",
    "OK_BODY",
    "REASONS",
    "STATUS",
    "CallbackEvent",
    "EventType",
    "Rejection",
    "reject",
]

MAX_BODY_BYTES = 64 * 1024
"""Largest body accepted. Genuine callbacks are under 2 KiB."""

MAX_FUTURE_SECONDS = 86400.0
"""A ``t`` further than this ahead of our clock is absurd (CSS uses now + 600)."""

OK_BODY = b'{"code":0}'
"""What to answer with 200: CSS ignores the body, Tencent recommends ``{"code":0}``."""


class EventType(enum.Enum):
    PUSH = 1
    INTERRUPT = 0
    PUSH_ERROR = 321


@dataclass(frozen=True, slots=True)
class CallbackEvent:
    """One authenticated, unexpired callback."""

    event: EventType
    domain: str  # body "app" (the push domain); "domain" in push-error (321) bodies
    app: str  # body "appname"; "path" in push-error bodies
    stream: str  # body "stream_id"
    event_time: float  # body "event_time" (Unix s); push-error bodies: "data_time" (ms) / 1000
    sequence: str  # body "sequence" as a string (may come as a number or a string)
    appid: int | None
    errcode: int | None
    errmsg: str
    push_duration_ms: int | None  # interrupt only; arrives as a string
    user_ip: str
    node: str
    # The signature's expiry and value: not part of the event itself (equal events compare equal
    # whatever signed them), kept to count what one (t, sign) pair has signed.
    t: int = field(default=0, compare=False)
    sign: str = field(default="", repr=False, compare=False)
    # Push-error (321) bodies: (abnormal_event type, count) per entry.
    abnormal: tuple[tuple[int, int], ...] = ()


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why a request was refused, and the HTTP status to answer."""

    reason: str  # one of REASONS
    status: int
    message: str  # one line naming the field; never echoes the sign or a key


# reason -> HTTP status. bad_length is 411 when Content-Length is missing, 400 when invalid.
STATUS: dict[str, int] = {
    "bad_method": 405,
    "bad_length": 400,
    "bad_content_type": 415,
    "too_large": 413,
    "bad_json": 400,
    "missing_field": 400,
    "bad_field": 400,
    "too_long": 400,  # a domain, app or stream name longer than the config allows
    "bad_sign": 401,
    # A signature reused for more new events than one genuine second carries, or for an event
    # newer than the signature: CSS signs only `t`, so a captured pair signs any body.
    "replayed": 401,
    "forbidden_source": 403,  # not from callbacks.allow_networks
    # Authentic but of no use: answered 200 so that CSS stops retrying (it retries a non-200
    # answer up to 12 times, a minute apart), and counted.
    "expired": 200,
    "unhandled_event": 200,
}
REASONS: tuple[str, ...] = tuple(STATUS)
"""Every ``Rejection.reason``, for initialising a counter's label values."""


def reject(reason: str, message: str) -> Rejection:
    """A rejection with the status of its reason."""
    return Rejection(reason, STATUS[reason], message)
