"""The simulated account's history: push sessions (what DescribeLiveStreamEventList lists) and
the callbacks CSS sent (what DescribeCallbackRecordsList lists), with the two actions.

The world records a session when a stream goes off air (``on_changes``, under the world lock);
the callback sender records every callback it sends, or drops (``drop``: CSS believes it sent
it; ``result`` says what CSS recorded). Answers have exactly the fields of the official models
(tencentcloud-sdk-python-live 3.1.195: StreamEventInfo, CallbackEventInfo) and the request rules
of 267/33186 and tccli's api.json 3.1.155.1: never more lenient than Tencent.

Event-list semantics the documentation leaves open, as simulated: a session is listed when its
end time falls in [StartTime, EndTime]; AppName defaults to "live" (as documented); StreamName is
a substring match unless IsStrict is 1. Callback records are listed by event time; their times
come back in the format the request used ("接口返回的时间格式和查询请求传入的时间格式一致").
"""

from __future__ import annotations

import collections
import datetime as dt
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from exporter.cssapi import CALLBACK_RECORDS, CHINA, EVENT_LIST, EVENT_LIST_MAX_RECORDS
from exporter.simulator.errors import invalid_value, missing_parameter
from exporter.simulator.model import ACTIVE, FORBID
from exporter.simulator.params import int_param, only, pages
from exporter.simulator.policy import Policy

__all__ = ["HISTORY_HANDLERS", "INTERRUPT_MESSAGES", "CallbackRecord", "Session", "SimHistory"]

_BEIJING = dt.timezone(dt.timedelta(hours=8))
MAX_SESSIONS = 100_000
MAX_CALLBACKS = 100_000
HISTORY_DAYS = 60  # the event list keeps two months (267/33186)
EVENT_SPAN_DAYS = 30
RECORDS_DAYS = 14  # callback records: the last 14 days, a day per query (api.json)

# errcode -> errmsg, from the "Stream Interruption Records" table (267/31083); 1 is what CSS
# actually sends for an encoder's stop (RTMP deleteStream).
INTERRUPT_MESSAGES: dict[int, str] = {
    0: "Unknown reason.",
    1: "recv rtmp deleteStream",
    2: "The push client stopped the stream.",
    5: "CSS system internal error.",
    6: "RTMP content error.",
    8: "The system stopped the stream because no data was generated for a long time.",
    10: "The proxy layer received an interruption command.",
    12: "Network error for the push client.",
    13: "Network error for the push client.",
    303: "The stream is disabled.",
    310: "Reached the expiration time.",
}
FORBID_ERRCODE = 303


def errmsg(code: int) -> str:
    return INTERRUPT_MESSAGES.get(code, f"Interrupted (errcode {code}).")


def stop_reason(code: int, site: str) -> str:
    """The event list's StopReason: the table's sentence, and on the China site a client's stop
    in the words of the China API's example."""
    if code in (1, 2, 3, 4):
        return "客户端主动断流" if site == CHINA else "The push client stopped the stream."
    return INTERRUPT_MESSAGES.get(code, "Unknown reason.")


@dataclass(frozen=True, slots=True)
class Session:
    domain: str
    app: str
    stream: str
    start: float
    end: float
    errcode: int
    client_ip: str
    resolution: str


@dataclass(frozen=True, slots=True)
class CallbackRecord:
    stream: str
    event_type: int
    event_time: float
    request: str  # the body as sent
    response: str  # what the receiver answered ("" when nothing came back)
    response_time: float
    result_code: int  # 0: answered 200; else the HTTP status, or 1 when nothing answered


class SimHistory:
    """Thread-safe. Bounded: the oldest entries go first."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sessions: collections.deque[Session] = collections.deque(maxlen=MAX_SESSIONS)
        self._callbacks: collections.deque[CallbackRecord] = collections.deque(maxlen=MAX_CALLBACKS)
        self._drop = 0
        self._drop_result = 1
        self.dropped = 0

    # -- sessions ---------------------------------------------------------------------------

    def on_changes(self, changes: Iterable[Any]) -> None:
        """World listener: a stream going off air ends its push session."""
        with self._lock:
            for c in changes:
                if c.old == ACTIVE and c.new != ACTIVE:
                    code = FORBID_ERRCODE if c.new == FORBID else c.errcode
                    self._sessions.append(
                        Session(
                            c.domain,
                            c.app,
                            c.stream,
                            c.previous_since,
                            c.at,
                            code,
                            c.quality.client_ip,
                            c.quality.resolution,
                        )
                    )

    def sessions(self) -> list[Session]:
        with self._lock:
            return list(self._sessions)

    # -- callbacks --------------------------------------------------------------------------

    def drop(self, count: int, result: int = 1) -> None:
        """Drop the next ``count`` callbacks: they are recorded as sent, with ``result`` as what
        CSS recorded (1: nothing answered; 0: CSS believes they were delivered)."""
        with self._lock:
            self._drop, self._drop_result = count, result

    def take_drop(self) -> int | None:
        """The result to record if the next callback is to be dropped, else None."""
        with self._lock:
            if self._drop <= 0:
                return None
            self._drop -= 1
            self.dropped += 1
            return self._drop_result

    def sent(self, record: CallbackRecord) -> None:
        with self._lock:
            self._callbacks.append(record)

    def callbacks(self) -> list[CallbackRecord]:
        with self._lock:
            return list(self._callbacks)


# -- the two actions -----------------------------------------------------------------------------


def _text(params: Mapping[str, Any], name: str, required: bool) -> str | None:
    value = params.get(name)
    if value is None or value == "":
        if required:
            raise missing_parameter(name)
        return None
    if not isinstance(value, str):
        raise invalid_value(name, f"expected a string, got {type(value).__name__}")
    return value


def _utc(params: Mapping[str, Any], name: str) -> float:
    """StartTime/EndTime of the event list: UTC only, ``2018-12-29T19:00:00Z``."""
    text = _text(params, name, required=True)
    assert text is not None
    try:
        parsed = dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
    except ValueError:
        raise invalid_value(name, f"{text!r} is not a UTC time like 2018-12-29T19:00:00Z") from None
    return parsed.timestamp()


def _either(params: Mapping[str, Any], name: str) -> tuple[float, bool]:
    """The callback records' times: UTC ISO, or ``YYYY-MM-DD hh:mm:ss`` in Beijing time;
    (Unix time, given in the Beijing form)."""
    text = _text(params, name, required=True)
    assert text is not None
    try:
        if "T" in text:
            parsed = dt.datetime.fromisoformat(text)
            if parsed.tzinfo is None:
                raise ValueError
            return parsed.timestamp(), False
        local = dt.datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=_BEIJING)
        return local.timestamp(), True
    except ValueError:
        raise invalid_value(
            name, f"{text!r} is neither YYYY-MM-DDThh:mm:ssZ nor YYYY-MM-DD hh:mm:ss"
        ) from None


def _iso(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _beijing(t: float) -> str:
    return dt.datetime.fromtimestamp(t, _BEIJING).strftime("%Y-%m-%d %H:%M:%S")


def describe_event_list(world: Any, params: Mapping[str, Any], policy: Policy) -> dict[str, Any]:
    only(
        params,
        {"StartTime", "EndTime", "AppName", "DomainName", "StreamName", "PageNum", "PageSize"}
        | {"IsFilter", "IsStrict", "IsAsc"},
    )
    start, end = _utc(params, "StartTime"), _utc(params, "EndTime")
    now = world.now()
    if end > now + 1:
        raise invalid_value("EndTime", "must not be after the current time")
    if end < start:
        raise invalid_value("EndTime", "must not be before StartTime")
    if end - start > EVENT_SPAN_DAYS * 86400:
        raise invalid_value("EndTime", f"must be within {EVENT_SPAN_DAYS} days of StartTime")
    if start < now - HISTORY_DAYS * 86400:
        raise invalid_value("StartTime", f"history is kept for {HISTORY_DAYS} days")
    domain = _text(params, "DomainName", required=False)
    app = _text(params, "AppName", required=False) or "live"  # "默认为 live"
    stream = _text(params, "StreamName", required=False)
    page = int_param(params, "PageNum", 1, 1, EVENT_LIST_MAX_RECORDS)
    size = int_param(params, "PageSize", 10, 1, 100)
    if page * size > EVENT_LIST_MAX_RECORDS:
        raise invalid_value(
            "PageNum", f"only the first {EVENT_LIST_MAX_RECORDS} records are listed"
        )
    strict = int_param(params, "IsStrict", 0, 0, 1) == 1
    ascending = int_param(params, "IsAsc", 0, 0, 1) == 1
    int_param(params, "IsFilter", 0, 0, 1)  # every simulated session started: nothing to filter
    hits = [
        s
        for s in world.history.sessions()
        if start <= s.end <= end
        and (domain is None or s.domain == domain)
        and s.app == app
        and (stream is None or (s.stream == stream if strict else stream in s.stream))
    ]
    hits.sort(key=lambda s: (s.end, s.stream), reverse=not ascending)
    shown = hits[(page - 1) * size : page * size]
    return {
        "EventList": [
            {
                "AppName": s.app,
                "DomainName": s.domain,
                "StreamName": s.stream,
                "StreamStartTime": _iso(s.start),
                "StreamEndTime": _iso(s.end),
                "StopReason": stop_reason(s.errcode, policy.site),
                "Duration": max(0, int(s.end - s.start)),
                "ClientIp": s.client_ip,
                "Resolution": s.resolution,
            }
            for s in shown
        ],
        "PageNum": page,
        "PageSize": size,
        "TotalNum": len(hits),
        "TotalPage": pages(len(hits), size),
    }


def describe_callback_records(
    world: Any, params: Mapping[str, Any], policy: Policy
) -> dict[str, Any]:
    only(
        params,
        {"StartTime", "EndTime", "StreamName", "PageNum", "PageSize", "EventType", "ResultCode"},
    )
    (start, beijing), (end, _) = _either(params, "StartTime"), _either(params, "EndTime")
    now = world.now()
    if end < start:
        raise invalid_value("EndTime", "must not be before StartTime")
    if end - start > 86400:
        raise invalid_value("EndTime", "the span from StartTime must not exceed 1 day")
    if start < now - RECORDS_DAYS * 86400:
        raise invalid_value("StartTime", f"only the last {RECORDS_DAYS} days can be queried")
    stream = _text(params, "StreamName", required=True)
    page = int_param(params, "PageNum", None, 1, 10_000)
    size = int_param(params, "PageSize", None, *policy.page_range(CALLBACK_RECORDS))
    event_type = int_param(params, "EventType", -1, 0, 1000)
    result_code = int_param(params, "ResultCode", -1, 0, 1_000_000)
    hits = [
        r
        for r in world.history.callbacks()
        if r.stream == stream
        and start <= r.event_time <= end
        and event_type in (-1, r.event_type)
        and result_code in (-1, r.result_code)
    ]
    shown = hits[(page - 1) * size : page * size]
    when = _beijing if beijing else _iso
    return {
        "DataInfoList": [
            {
                "EventTime": when(r.event_time),
                "EventType": r.event_type,
                "Request": r.request,
                "Response": r.response,
                "ResponseTime": when(r.response_time),
                "ResultCode": r.result_code,
                "StreamId": r.stream,
            }
            for r in shown
        ],
        "PageNum": page,
        "PageSize": size,
        "TotalNum": len(hits),
        "TotalPage": pages(len(hits), size),
    }


HISTORY_HANDLERS = {EVENT_LIST: describe_event_list, CALLBACK_RECORDS: describe_callback_records}
