"""Decoded answers to values: the ``Response`` object, a stream state, list pages.

Everything here is pure. A page of push info parses up to 100,000 items on a China account
(PageSize 1..100000, cloud.tencent.com/document/api/267/20473), so the per-item work is kept to
field reads; what repeats between rounds (a stream's BeginPushTime, a resolution) is parsed once
and remembered by its text.
"""

from __future__ import annotations

import datetime
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException

from exporter import cssapi
from exporter.model import PushInfo, StreamState

K = TypeVar("K")
V = TypeVar("V")


class Memo(Generic[K, V]):
    """A bounded memo of a pure function, safe to share between threads.

    The owner of its dict: a lookup is one ``dict.get`` (atomic under the GIL); threads that
    miss at once compute the same value, and the first store wins. When full it starts over,
    which costs one parse per entry rather than an eviction per miss (an LRU cycled by a scan of
    more keys than it holds would miss every time).
    """

    def __init__(self, fn: Callable[[K], V], maxsize: int) -> None:
        self._fn = fn
        self._maxsize = maxsize
        self._values: dict[K, V] = {}
        self._lock = threading.Lock()  # only for the rare restart

    def __call__(self, key: K) -> V:
        values = self._values
        try:
            return values[key]
        except KeyError:
            pass
        value = self._fn(key)
        if len(values) >= self._maxsize:
            with self._lock:
                if self._values is values:
                    self._values = values = {}
        values.setdefault(key, value)
        return value

    def __len__(self) -> int:
        return len(self._values)


def parse_response(body: Any) -> dict[str, Any]:
    """Return ``Response`` of a decoded answer, raising for an error answer.

    The SDK only looks for ``Response.Error`` when the Content-Type is exactly JSON
    (abstract_client.py ``_check_error``); this looks whatever the type.
    """
    if not isinstance(body, dict) or not isinstance(body.get("Response"), dict):
        raise ValueError("answer has no Response object")
    response: dict[str, Any] = body["Response"]
    err = response.get("Error")
    if err is not None:
        if not isinstance(err, dict) or not isinstance(err.get("Code"), str):
            raise ValueError("answer has a malformed Error object")
        raise TencentCloudSDKException(
            err["Code"], str(err.get("Message", "")), str(response.get("RequestId", ""))
        )
    return response


_STATES: dict[str, StreamState] = {
    s.value: s for s in StreamState if s.value in cssapi.STREAM_STATES
}


def parse_stream_state(response: dict[str, Any]) -> StreamState:
    value = response.get("StreamState")
    state = _STATES.get(value) if isinstance(value, str) else None
    if state is None:
        raise ValueError("StreamState missing or not one of active, inactive, forbid")
    return state


def _int(response: dict[str, Any], name: str) -> int:
    value = response.get(name)
    if type(value) is not int or value < 0:  # bool is not int here
        raise ValueError(f"{name} missing or not a non-negative integer")
    return value


def object_list(response: dict[str, Any], name: str) -> list[dict[str, Any]]:
    """An answer's list of objects ([] when absent or null): every list action's items."""
    value = response.get(name)
    if value is None:
        return []
    if type(value) is not list or not all(type(item) is dict for item in value):
        raise ValueError(f"{name} is not a list of objects")
    return value


def text_field(item: dict[str, Any], name: str, required: bool = True) -> str:
    """A string field: non-empty when ``required``, else "" when absent or null."""
    value = item.get(name)
    if type(value) is str and (value or not required):
        return value
    if value is None and not required:
        return ""
    raise ValueError(f"{name} missing or not a string")


_NUMBERS = frozenset((int, float))


def _num(value: object) -> float | None:
    """A number field: JSON numbers and numeric strings; anything else (null, bool) is None."""
    if type(value) in _NUMBERS:
        return float(value)  # type: ignore[arg-type]
    if type(value) is str:
        try:
            return float(value)
        except ValueError:
            return None
    return None


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a paged list answer."""

    items: list[Any]
    total: int
    total_pages: int


def parse_online_page(response: dict[str, Any]) -> Page:
    """OnlineInfo as (domain, app, stream) tuples."""
    items = [
        (
            text_field(i, "DomainName", required=False),
            text_field(i, "AppName"),
            text_field(i, "StreamName"),
        )
        for i in object_list(response, "OnlineInfo")
    ]
    return Page(items, _int(response, "TotalNum"), _int(response, "TotalPage"))


def parse_forbid_page(response: dict[str, Any]) -> Page:
    """ForbidStreamList as (domain, app, stream) tuples (domain/app may be empty)."""
    items = [
        (
            text_field(i, "DomainName", required=False),
            text_field(i, "AppName", required=False),
            text_field(i, "StreamName"),
        )
        for i in object_list(response, "ForbidStreamList")
    ]
    return Page(items, _int(response, "TotalNum"), _int(response, "TotalPage"))


_BEIJING = datetime.timezone(datetime.timedelta(hours=8))


def _parse_beijing(text: str) -> float | None:
    try:
        parsed = datetime.datetime.strptime(text, "%Y-%m-%d %H:%M:%S")
    except ValueError:
        return None
    return parsed.replace(tzinfo=_BEIJING).timestamp()


# A stream's BeginPushTime stays the same for as long as it pushes, so a round parses only the
# new ones. 2^17 texts (about 17 MB at most) cover any fleet below that many distinct starts.
beijing_to_unix = Memo(_parse_beijing, 1 << 17)
beijing_to_unix.__doc__ = 'BeginPushTime, "2019-02-01 00:00:00" in Beijing time, as Unix time.'


def _parse_resolution(text: str) -> tuple[str, float | None, float | None]:
    width, sep, height = text.partition("*")
    # Codecs, resolutions and sample rates take a handful of values across 100k streams: one
    # shared copy each instead of a fresh string per stream and round.
    shared = sys.intern(text)
    if sep and width.isdigit() and height.isdigit():
        return shared, float(width), float(height)
    return shared, None, None


_resolution = Memo(_parse_resolution, 4096)


def parse_resolution(text: str) -> tuple[float | None, float | None]:
    _, width, height = _resolution(text)
    return width, height


def _shared(value: object, name: str) -> str:
    """An optional text field that takes few values (codecs): one shared copy of each."""
    if type(value) is str:
        return sys.intern(value)
    if value is None:
        return ""
    raise ValueError(f"{name} missing or not a string")


def _begin_time(value: object) -> float | None:
    if type(value) is str:
        return beijing_to_unix(value)
    if value is None:
        return None
    raise ValueError("BeginPushTime missing or not a string")


def _sample_rate(value: object) -> str:
    if value is None:
        return ""
    return sys.intern(value if type(value) is str else str(value))


def parse_push_item(item: dict[str, Any], ips: bool = False) -> tuple[str, str, PushInfo]:
    """One DataInfoList entry as (app, stream, PushInfo); client/server IPs only if ``ips``.

    Up to 100,000 of these per page: the common case of each field (an integer for the
    numbers, which the API documents as Integer) is tested inline, the rest go to a helper.
    """
    get = item.get
    resolution = get("Resolution")
    if type(resolution) is str:
        resolution, width, height = _resolution(resolution)
    elif resolution is None:
        resolution, width, height = "", None, None
    else:
        raise ValueError("Resolution missing or not a string")
    v_speed, a_speed = get("VideoSpeed"), get("AudioSpeed")
    v_fps, a_fps = get("VideoFps"), get("AudioFps")
    meta_v, meta_a, meta_fps = get("MetaVideoSpeed"), get("MetaAudioSpeed"), get("MetaFps")
    info = PushInfo(
        float(v_speed) if type(v_speed) is int else _num(v_speed),
        float(a_speed) if type(a_speed) is int else _num(a_speed),
        float(v_fps) if type(v_fps) is int else _num(v_fps),
        float(a_fps) if type(a_fps) is int else _num(a_fps),
        float(meta_v) if type(meta_v) is int else _num(meta_v),
        float(meta_a) if type(meta_a) is int else _num(meta_a),
        float(meta_fps) if type(meta_fps) is int else _num(meta_fps),
        width,
        height,
        _begin_time(get("BeginPushTime")),
        _shared(get("Vcodec"), "Vcodec"),
        _shared(get("Acodec"), "Acodec"),
        resolution,
        _sample_rate(get("AsampleRate")),
        text_field(item, "ClientIp", required=False) if ips else "",
        text_field(item, "ServerIp", required=False) if ips else "",
    )
    app, stream = get("AppName"), get("StreamName")
    if type(app) is str and app and type(stream) is str and stream:
        return app, stream, info
    return text_field(item, "AppName"), text_field(item, "StreamName"), info


def parse_push_page(response: dict[str, Any], ips: bool = False) -> Page:
    items = [parse_push_item(i, ips) for i in object_list(response, "DataInfoList")]
    return Page(items, _int(response, "TotalNum"), _int(response, "TotalPage"))


EMPTY_PAGE = Page([], 0, 0)
# PushInfoList answers this when nothing is online: an empty list, not a fault.
NOTHING_LIVE = "FailedOperation.HasNotLivingStream"
