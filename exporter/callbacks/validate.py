"""The checks of one callback request, in a fixed order: size, content type, JSON, fields,
signature, expiry.

The order means that a request without a valid signature learns no more than that it is bad.
Messages name the field and never echo the ``sign`` value or a key.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from exporter.callbacks import fields
from exporter.callbacks.fields import FieldError
from exporter.callbacks.model import (
    MAX_BODY_BYTES,
    MAX_FUTURE_SECONDS,
    CallbackEvent,
    EventType,
    Rejection,
    reject,
)
from exporter.model import MAX_APP_NAME, MAX_DOMAIN_NAME, MAX_STREAM_NAME
from exporter.problems import kind, show

__all__ = ["check_content_type", "check_length", "check_method", "parse_callback", "sign"]

_LENGTH = re.compile(r"[0-9]{1,19}")

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


def sign(key: str, t: int) -> str:
    """``sign`` as CSS computes it: lower-hex MD5(callback key + str(t))."""
    # MD5 is what CSS mandates; usedforsecurity=False only keeps FIPS builds from refusing it.
    return hashlib.md5((key + str(t)).encode("utf-8"), usedforsecurity=False).hexdigest()


def check_method(method: str) -> Rejection | None:
    """Callbacks are POSTs. (Answer a 405 with ``Allow: POST``.)"""
    if method == "POST":
        return None
    return reject("bad_method", f"method {show(method, json=True)} not allowed: callbacks are POST")


def check_length(content_length: str | None) -> Rejection | None:
    """Check a Content-Length header before reading the body: missing, invalid or too large."""
    if content_length is None:
        return Rejection("bad_length", 411, "missing Content-Length header")
    value = content_length.strip()
    if not _LENGTH.fullmatch(value):
        return reject(
            "bad_length", f"invalid Content-Length header {show(content_length, json=True)}"
        )
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
        return reject(
            "bad_content_type",
            f"content type {show(media, json=True)} is not JSON: want application/json",
        )
    for param in params.split(";"):
        name, _, value = param.partition("=")
        charset = value.strip().strip('"').lower()
        if name.strip().lower() == "charset" and charset not in ("utf-8", "utf8"):
            return reject("bad_content_type", f"charset {show(charset, json=True)}: want utf-8")
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
    message of an expired callback; it widens nothing. What a signature may sign beyond one
    body is the sink's business (origin.SignatureUses).
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
        event, t, given_sign = _read(obj)
    except _Unhandled as other:
        # A recording, snapshot or other notification sent to this URL: authentic ones are
        # acknowledged (never retried by CSS), forged ones refused like any other.
        refused = _signature(keys_for, other.domain, other.t, other.sign)
        if refused is not None:
            return refused
        return reject("unhandled_event", f"event_type {other.event_type} is not handled")
    except _Missing as missing:
        return reject("missing_field", f"missing field {missing}")
    except _TooLong as long:
        return reject("too_long", f"field {long.name}: longer than {long.cap} characters")
    except FieldError as bad:
        return reject("bad_field", str(bad))

    refused = _signature(keys_for, event.domain, t, given_sign)
    if refused is not None:
        return refused

    if now > t:
        late = now - t
        return reject(
            "expired",
            f"callback expired: t={t} is {late:.0f} s in the past "
            f"(CSS makes a callback valid for {max_age:.0f} s)",
        )
    if t > now + MAX_FUTURE_SECONDS:
        return reject(
            "bad_field",
            f"field t: {t} is {t - now:.0f} s in the future, more than {MAX_FUTURE_SECONDS:.0f} s",
        )
    return replace(event, t=t, sign=given_sign)


# --- internals --------------------------------------------------------------------------------


def _signature(
    keys_for: Callable[[str], Sequence[str]], domain: str, t: int, given_sign: str
) -> Rejection | None:
    """None if ``given_sign`` is MD5(key + t) for one of the domain's keys."""
    keys = tuple(keys_for(domain))
    if not keys:
        return reject("bad_sign", f"no callback key configured for domain {domain}")
    given = given_sign.encode("utf-8", "surrogatepass")
    matched = False
    for key in keys:  # every key, every time: timing never tells which key (or whether any) matched
        matched |= hmac.compare_digest(sign(key, t).encode("ascii"), given)
    if not matched:
        return reject("bad_sign", f"sign does not match a callback key for domain {domain}")
    return None


class _TooLong(Exception):
    def __init__(self, name: str, cap: int) -> None:
        super().__init__(name)
        self.name, self.cap = name, cap


class _Unhandled(Exception):
    """An event type the exporter does not handle, with what its signature check needs."""

    def __init__(self, event_type: int, domain: str, t: int, sign: str) -> None:
        super().__init__(event_type)
        self.event_type, self.domain, self.t, self.sign = event_type, domain, t, sign


class _Missing(Exception):
    """A required field is absent; the message is its body name."""


class _NotOurJson(ValueError):
    pass


def _too_large(size: int) -> Rejection:
    return reject("too_large", f"body of {size} bytes is over the limit of {MAX_BODY_BYTES} bytes")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise _NotOurJson(f"duplicate key {show(key, json=True)}")
        obj[key] = value
    return obj


def _no_constant(name: str) -> Any:
    raise _NotOurJson(f"{name} is not JSON")


def _load(body: bytes) -> dict[str, Any] | Rejection:
    if not body.strip():
        return reject("bad_json", "body is empty: want a JSON object")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        return reject(
            "bad_json",
            f"body is not UTF-8: byte 0x{body[exc.start]:02x} at offset {exc.start}",
        )
    try:
        value = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except _NotOurJson as exc:
        return reject("bad_json", f"body is not acceptable JSON: {exc}")
    except json.JSONDecodeError as exc:
        return reject(
            "bad_json", f"body is not JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        )
    except RecursionError:
        return reject("bad_json", "body is not acceptable JSON: nested too deeply")
    except ValueError as exc:  # e.g. an integer of 5,000 digits
        return reject("bad_json", f"body is not acceptable JSON: {str(exc).split(':')[0][:80]}")
    if not isinstance(value, dict):
        return reject("bad_json", f"body is {kind(value, json=True)}, want a JSON object")
    return value


def _read(obj: dict[str, Any]) -> tuple[CallbackEvent, int, str]:
    """The event, ``t`` and ``sign`` of a parsed body; raises _Missing or FieldError."""
    for name in ("t", "sign", "event_type"):
        if name not in obj:
            raise _Missing(name)
    _unhandled(obj)
    event = _event_type(obj["event_type"])
    names = _REQUIRED_PUSH_ERROR if event is EventType.PUSH_ERROR else _REQUIRED
    found: dict[str, str] = {}
    for ours, candidates in names.items():
        present = [name for name in candidates if name in obj]
        if not present:
            raise _Missing(candidates[0])
        found[ours] = present[0]

    t = fields.uint("t", obj["t"])
    given_sign = obj["sign"]
    if not isinstance(given_sign, str):  # the value itself is never shown
        raise FieldError("sign", f"want a string, got {kind(given_sign, json=True)}")

    domain = fields.text(found["domain"], obj[found["domain"]])
    if not fields.HOSTNAME.fullmatch(domain):
        raise FieldError(found["domain"], f"want a host name, got {show(domain, json=True)}")
    app = fields.text(found["app"], obj[found["app"]])
    stream = fields.text(found["stream"], obj[found["stream"]])
    for name, value, cap in (
        (found["domain"], domain, MAX_DOMAIN_NAME),
        (found["app"], app, MAX_APP_NAME),
        (found["stream"], stream, MAX_STREAM_NAME),
    ):
        if len(value) > cap:
            # The config's own caps: a name no config could hold is not tracked from outside.
            raise _TooLong(name, cap)
    time_name = found["event_time"]
    event_time = float(fields.uint(time_name, obj[time_name]))
    if time_name == "data_time":
        event_time /= 1000.0
    if event_time <= 0:
        raise FieldError(time_name, "want a positive Unix time, got 0")
    sequence = fields.sequence(obj[found["sequence"]])

    appid = fields.optional(obj, "appid", fields.uint)
    errcode = fields.optional(obj, "errcode", fields.int_field)
    errmsg = fields.optional(obj, "errmsg", fields.free_text) or ""
    push_duration = fields.optional(obj, "push_duration", fields.uint)
    user_ip = fields.optional(obj, "user_ip", fields.free_text) or ""
    node = fields.optional(obj, "node", fields.free_text) or ""
    abnormal: tuple[tuple[int, int], ...] = ()
    if event is EventType.PUSH_ERROR and obj.get("abnormal_event") is not None:
        abnormal = fields.abnormal_events(obj["abnormal_event"])
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
            abnormal=abnormal,
        ),
        t,
        given_sign,
    )


def _unhandled(obj: dict[str, Any]) -> None:
    """Raise _Unhandled for a well-formed body of an event type other than 0, 1 and 321."""
    value = obj["event_type"]
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return
    if value in {e.value for e in EventType}:
        return
    name = next((n for n in ("app", "domain") if n in obj), None)
    if name is None:
        raise _Missing("app")
    domain = fields.text(name, obj[name])
    if not fields.HOSTNAME.fullmatch(domain):
        raise FieldError(name, f"want a host name, got {show(domain, json=True)}")
    given_sign = obj["sign"]
    if not isinstance(given_sign, str):
        raise FieldError("sign", f"want a string, got {kind(given_sign, json=True)}")
    raise _Unhandled(value, domain, fields.uint("t", obj["t"]), given_sign)


def _event_type(value: Any) -> EventType:
    if isinstance(value, bool) or not isinstance(value, int):
        raise FieldError("event_type", f"want 0, 1 or 321, got {show(value, json=True)}")
    try:
        return EventType(value)
    except ValueError:
        raise FieldError("event_type", f"want 0, 1 or 321, got {show(value, json=True)}") from None
