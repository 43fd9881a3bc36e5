"""The pure core of the CSS callback receiver: validate one request body, answer an event or a
rejection.

CSS (Tencent Cloud Streaming Services) POSTs a JSON body when a push starts (``event_type`` 1),
stops (0) or reports push errors (321). Every body carries ``t``, the *expiry* of the
notification (Unix seconds; CSS sets it to the event time + 10 minutes), and
``sign`` = lower-hex MD5(callback key + str(t)). The official samples (Tencent's "Stream Pushing
Notification" and "Push Error Event Notification" pages) are kept in
``tests/corpus/callbacks/``.

Nothing here does I/O, keeps state or imports Prometheus: the HTTP layer calls
:func:`check_method` and :func:`check_length` before it reads the body, then
:func:`parse_callback`, answers ``200 OK_BODY`` for a :class:`CallbackEvent` and
``Rejection.status`` with ``Rejection.message`` otherwise, and counts rejections by
``Rejection.reason`` (all of them are in :data:`REASONS`).

Checks run in a fixed order, so that a request without a valid signature learns no more than
that it is bad: size, content type, JSON, fields, signature, expiry. Messages name the field and
never echo the ``sign`` value or a key.

Duplicates and out-of-order deliveries (CSS retries up to 12 times, a minute apart) are the state
store's business: :func:`exporter.state.callback_newer` is the rule it applies.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import json
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

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
    "bad_sign": 401,
    "expired": 400,
}
REASONS: tuple[str, ...] = tuple(STATUS)
"""Every ``Rejection.reason``, for initialising a counter's label values."""


def sign(key: str, t: int) -> str:
    """``sign`` as CSS computes it: lower-hex MD5(callback key + str(t))."""
    # MD5 is what CSS mandates; usedforsecurity=False only keeps FIPS builds from refusing it.
    return hashlib.md5((key + str(t)).encode("utf-8"), usedforsecurity=False).hexdigest()


def check_method(method: str) -> Rejection | None:
    """Callbacks are POSTs. (Answer a 405 with ``Allow: POST``.)"""
    if method == "POST":
        return None
    return _reject("bad_method", f"method {_show(method)} not allowed: callbacks are POST")


def check_length(content_length: str | None) -> Rejection | None:
    """Check a Content-Length header before reading the body: missing, invalid or too large."""
    if content_length is None:
        return Rejection("bad_length", 411, "missing Content-Length header")
    value = content_length.strip()
    if not _LENGTH.fullmatch(value):
        return _reject("bad_length", f"invalid Content-Length header {_show(content_length)}")
    if int(value) > MAX_BODY_BYTES:
        return _too_large(int(value))
    return None


def check_content_type(content_type: str | None) -> Rejection | None:
    """JSON or nothing: ``application/json`` (charset utf-8 if any), ``text/json`` or
    ``application/*+json``; a missing or empty header is accepted too."""
    if content_type is None or not content_type.strip():
        return None
    media, _, params = content_type.partition(";")
    media = media.strip().lower()
    is_json = media in ("application/json", "text/json") or (
        media.startswith("application/") and media.endswith("+json")
    )
    if not is_json:
        return _reject(
            "bad_content_type",
            f"content type {_show(media)} is not JSON: want application/json",
        )
    for param in params.split(";"):
        name, _, value = param.partition("=")
        charset = value.strip().strip('"').lower()
        if name.strip().lower() == "charset" and charset not in ("utf-8", "utf8"):
            return _reject("bad_content_type", f"charset {_show(charset)}: want utf-8")
    return None


def parse_callback(
    body: bytes,
    *,
    content_type: str | None,
    keys_for: Callable[[str], Sequence[str]],
    now: float,
    max_age: float = 600.0,
) -> CallbackEvent | Rejection:
    """Validate one callback request body.

    ``keys_for(domain)`` gives the callback keys configured for a push domain: the signature may
    match any of them (key rotation), and a domain without keys is refused. ``now`` is the wall
    clock (Unix seconds). A callback is expired when ``now > t``: ``t`` is already the expiry
    (CSS sets it to the event time + 600 s), so ``max_age``, that validity, only appears in the
    message of an expired callback; it widens nothing.
    """
    if len(body) > MAX_BODY_BYTES:
        return _too_large(len(body))
    bad_type = check_content_type(content_type)
    if bad_type is not None:
        return bad_type
    obj = _load(body)
    if isinstance(obj, Rejection):
        return obj
    try:
        fields = _fields(obj)
    except _Refused as refused:
        return refused.rejection
    event, t, given_sign = fields

    keys = tuple(keys_for(event.domain))
    if not keys:
        return _reject("bad_sign", f"no callback key configured for domain {event.domain}")
    given = given_sign.encode("utf-8", "surrogatepass")
    matched = False
    for key in keys:  # every key, every time: timing never tells which key (or whether any) matched
        matched |= hmac.compare_digest(sign(key, t).encode("ascii"), given)
    if not matched:
        return _reject("bad_sign", f"sign does not match a callback key for domain {event.domain}")

    if now > t:
        late = now - t
        return _reject(
            "expired",
            f"callback expired: t={t} is {late:.0f} s in the past "
            f"(CSS makes a callback valid for {max_age:.0f} s)",
        )
    if t > now + MAX_FUTURE_SECONDS:
        return _reject(
            "bad_field",
            f"field t: {t} is {t - now:.0f} s in the future, more than {MAX_FUTURE_SECONDS:.0f} s",
        )
    return event


# --- internals --------------------------------------------------------------------------------

_DIGITS = re.compile(r"[0-9]+")
_LENGTH = re.compile(r"[0-9]{1,19}")
_UINT = re.compile(r"0|[1-9][0-9]{0,17}")
_INT = re.compile(r"-?(?:0|[1-9][0-9]{0,17})")
_LABEL = r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
_HOSTNAME = re.compile(rf"(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})*")

# Required fields other than t, sign and event_type: our name -> body names, by event type.
# Push-error (321) bodies are in CSS's newer "general_callback" shape; the 0/1 names are accepted
# there too.
_REQUIRED: dict[str, tuple[str, ...]] = {
    "domain": ("app",),
    "app": ("appname",),
    "stream": ("stream_id",),
    "event_time": ("event_time",),
    "sequence": ("sequence",),
}
_REQUIRED_PUSH_ERROR: dict[str, tuple[str, ...]] = {
    "domain": ("domain", "app"),
    "app": ("path", "appname"),
    "stream": ("stream_id",),
    "event_time": ("data_time", "event_time"),
    "sequence": ("sequence",),
}


_T = TypeVar("_T")


class _Refused(Exception):
    def __init__(self, rejection: Rejection) -> None:
        super().__init__(rejection.message)
        self.rejection = rejection


class _NotOurJson(ValueError):
    pass


def _reject(reason: str, message: str) -> Rejection:
    return Rejection(reason, STATUS[reason], message)


def _too_large(size: int) -> Rejection:
    return _reject("too_large", f"body of {size} bytes is over the limit of {MAX_BODY_BYTES} bytes")


def _bad(name: str, problem: str) -> _Refused:
    return _Refused(_reject("bad_field", f"field {name}: {problem}"))


def _show(value: Any) -> str:
    """A short, one-line, quoted rendering of a value for a message."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        text = repr(value)
        return text if len(text) <= 24 else text[:21] + "..."
    if isinstance(value, str):
        shown = json.dumps(value[:40])  # ASCII, quoted, control characters escaped
        return shown if len(value) <= 40 else shown[:-1] + '..."'
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise _NotOurJson(f"duplicate key {_show(key)}")
        obj[key] = value
    return obj


def _no_constant(name: str) -> Any:
    raise _NotOurJson(f"{name} is not JSON")


def _load(body: bytes) -> dict[str, Any] | Rejection:
    if not body.strip():
        return _reject("bad_json", "body is empty: want a JSON object")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        return _reject(
            "bad_json",
            f"body is not UTF-8: byte 0x{body[exc.start]:02x} at offset {exc.start}",
        )
    try:
        value = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except _NotOurJson as exc:
        return _reject("bad_json", f"body is not acceptable JSON: {exc}")
    except json.JSONDecodeError as exc:
        return _reject(
            "bad_json", f"body is not JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        )
    except RecursionError:
        return _reject("bad_json", "body is not acceptable JSON: nested too deeply")
    except ValueError as exc:  # e.g. an integer of 5,000 digits
        return _reject("bad_json", f"body is not acceptable JSON: {str(exc).split(':')[0][:80]}")
    if not isinstance(value, dict):
        kind = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(
            type(value), "a number"
        )
        return _reject("bad_json", f"body is {kind}, want a JSON object")
    return value


def _fields(obj: dict[str, Any]) -> tuple[CallbackEvent, int, str]:
    """The event, ``t`` and ``sign`` of a parsed body, or raise _Refused."""
    for name in ("t", "sign", "event_type"):
        if name not in obj:
            raise _Refused(_reject("missing_field", f"missing field {name}"))
    event = _event_type(obj["event_type"])
    names = _REQUIRED_PUSH_ERROR if event is EventType.PUSH_ERROR else _REQUIRED
    found: dict[str, str] = {}
    for ours, candidates in names.items():
        present = [name for name in candidates if name in obj]
        if not present:
            raise _Refused(_reject("missing_field", f"missing field {candidates[0]}"))
        found[ours] = present[0]

    t = _uint("t", obj["t"])
    given_sign = obj["sign"]
    if not isinstance(given_sign, str):  # the value itself is never shown
        raise _bad("sign", f"want a string, got {_kind(given_sign)}")

    domain = _text(found["domain"], obj[found["domain"]])
    if not _HOSTNAME.fullmatch(domain):
        raise _bad(found["domain"], f"want a host name, got {_show(domain)}")
    app = _text(found["app"], obj[found["app"]])
    stream = _text(found["stream"], obj[found["stream"]])
    time_name = found["event_time"]
    event_time = float(_uint(time_name, obj[time_name]))
    if time_name == "data_time":
        event_time /= 1000.0
    if event_time <= 0:
        raise _bad(time_name, "want a positive Unix time, got 0")
    sequence = _sequence(obj[found["sequence"]])

    appid = _optional(obj, "appid", _uint)
    errcode = _optional(obj, "errcode", _int)
    errmsg = _optional(obj, "errmsg", _free_text) or ""
    push_duration = _optional(obj, "push_duration", _uint)
    user_ip = _optional(obj, "user_ip", _free_text) or ""
    node = _optional(obj, "node", _free_text) or ""
    return (
        CallbackEvent(
            event=event,
            domain=domain,
            app=app,
            stream=stream,
            event_time=event_time,
            sequence=sequence,
            appid=appid,
            errcode=errcode,
            errmsg=errmsg,
            push_duration_ms=push_duration if event is EventType.INTERRUPT else None,
            user_ip=user_ip,
            node=node,
        ),
        t,
        given_sign,
    )


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an array" if isinstance(value, list) else "an object"


def _event_type(value: Any) -> EventType:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _bad("event_type", f"want 0, 1 or 321, got {_show(value)}")
    try:
        return EventType(value)
    except ValueError:
        raise _bad("event_type", f"want 0, 1 or 321, got {_show(value)}") from None


def _uint(name: str, value: Any) -> int:
    """A non-negative integer, as a JSON number or a decimal string (no sign, no leading 0)."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 10**18:
        return value
    if isinstance(value, str) and _UINT.fullmatch(value):
        return int(value)
    raise _bad(name, f"want a non-negative integer or decimal string, got {_show(value)}")


def _int(name: str, value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) < 10**18:
        return value
    if isinstance(value, str) and _INT.fullmatch(value):
        return int(value)
    raise _bad(name, f"want an integer or decimal string, got {_show(value)}")


def _text(name: str, value: Any) -> str:
    """A required identifier: a non-empty string of printable Unicode."""
    text = _free_text(name, value)
    if not text:
        raise _bad(name, "want a non-empty string, got an empty one")
    return text


def _free_text(name: str, value: Any) -> str:
    """A string without control characters or lone surrogates (it ends up in logs and labels)."""
    if not isinstance(value, str):
        raise _bad(name, f"want a string, got {_show(value)}")
    for offset, char in enumerate(value):
        category = unicodedata.category(char)
        if category == "Cc":
            raise _bad(name, f"control character U+{ord(char):04X} at offset {offset}")
        if category == "Cs":
            raise _bad(name, f"lone surrogate U+{ord(char):04X} at offset {offset}")
    return value


def _sequence(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return str(value)
    if isinstance(value, str):
        return _text("sequence", value)
    raise _bad("sequence", f"want a string or a non-negative integer, got {_show(value)}")


def _optional(obj: dict[str, Any], name: str, check: Callable[[str, Any], _T]) -> _T | None:
    """An optional field: absent, null or "" is None; anything else must pass ``check``."""
    value = obj.get(name)
    if value is None or value == "":
        return None
    return check(name, value)
