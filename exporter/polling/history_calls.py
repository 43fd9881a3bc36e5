"""The history calls (the event list, the callback records) as requests and their answers as
values.

Pure. Fields as ``tencentcloud.live.v20180801.models`` declares them (DescribeLiveStreamEventList
Request/Response, StreamEventInfo; DescribeCallbackRecordsList Request/Response,
CallbackEventInfo) and tccli's api.json 3.1.155.1 marks them required or not. An answer that
does not make sense raises ValueError, which ``CssClient.call`` counts as ``BadResponse``; the
calls go through it, so they are counted, timed and classified like every other action.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from exporter.client import Page
from exporter.client.answers import beijing_to_unix, object_list, text_field

__all__ = [
    "EVENT_PAGE_SIZE",
    "RECORDS_PAGE_SIZE",
    "CallbackRecord",
    "SessionRecord",
    "callback_records_params",
    "event_list_params",
    "parse_callback_records",
    "parse_event_list",
    "parse_time",
    "utc",
]

# PageSize at most 100 (267/33186; tccli api.json: "1~100"); the callback records
# document no range: the same.
EVENT_PAGE_SIZE = 100
RECORDS_PAGE_SIZE = 100


def utc(t: float) -> str:
    """``2018-12-29T19:00:00Z``: the event list takes UTC only (StartTime, EndTime)."""
    return dt.datetime.fromtimestamp(int(t), dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: object) -> float | None:
    """An answer's time: ``YYYY-MM-DDThh:mm:ssZ`` (UTC), with an offset (the records'
    example: ``2020-10-12T00:00:00+08:00``), or ``YYYY-MM-DD hh:mm:ss`` in Beijing time (what
    CallbackEventInfo documents for that form). None for anything else, or empty."""
    if not isinstance(text, str) or not text:
        return None
    if "T" not in text:
        return beijing_to_unix(text)
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.timestamp()


def event_list_params(domain: str, app: str, start: float, end: float, page: int) -> dict[str, Any]:
    # IsFilter 1: only pushes that started (a refused start is no interrupt of a session);
    # IsAsc 1: by end time, oldest first, so a round cut short resumes where it stopped.
    return {
        "StartTime": utc(start),
        "EndTime": utc(end),
        "DomainName": domain,
        "AppName": app,
        "PageNum": page,
        "PageSize": EVENT_PAGE_SIZE,
        "IsFilter": 1,
        "IsAsc": 1,
    }


def callback_records_params(stream: str, start: float, end: float, page: int) -> dict[str, Any]:
    # StreamName, PageNum and PageSize are required (api.json); the span is at most a day.
    return {
        "StartTime": utc(start),
        "EndTime": utc(end),
        "StreamName": stream,
        "PageNum": page,
        "PageSize": RECORDS_PAGE_SIZE,
    }


@dataclass(frozen=True, slots=True)
class SessionRecord:
    """One push session of the event list (StreamEventInfo)."""

    domain: str
    app: str
    stream: str
    start: float | None
    end: float | None  # None: no end time (not an interrupt to count)
    stop_reason: str
    duration: float | None  # seconds


@dataclass(frozen=True, slots=True)
class CallbackRecord:
    """One callback CSS sent (CallbackEventInfo), with what its request body says."""

    stream: str
    event_type: int | None  # 0 interrupt, 1 push, 100 recording, 200 snapshot
    event_time: float | None
    result_code: int | None  # 0: the receiver answered as CSS wanted; anything else failed
    domain: str  # from the request body ("app"), "" when it does not say
    app: str  # "appname", likewise
    sequence: str  # "sequence", likewise


def _int(item: dict[str, Any], name: str) -> int | None:
    value = item.get(name)
    if value is None:
        return None
    if type(value) is not int:
        raise ValueError(f"{name} is not an integer")
    return value


def _totals(response: dict[str, Any]) -> tuple[int, int]:
    total, pages = response.get("TotalNum"), response.get("TotalPage")
    if type(total) is not int or total < 0 or type(pages) is not int or pages < 0:
        raise ValueError("TotalNum or TotalPage missing or not a non-negative integer")
    return total, pages


def parse_event_list(response: dict[str, Any]) -> Page:
    """EventList as SessionRecords."""
    items = []
    for item in object_list(response, "EventList"):
        stream = text_field(item, "StreamName", required=False)
        if not stream:
            raise ValueError("StreamName missing in EventList")
        duration = _int(item, "Duration")
        items.append(
            SessionRecord(
                domain=text_field(item, "DomainName", required=False),
                app=text_field(item, "AppName", required=False),
                stream=stream,
                start=parse_time(item.get("StreamStartTime")),
                end=parse_time(item.get("StreamEndTime")),
                stop_reason=text_field(item, "StopReason", required=False),
                duration=None if duration is None or duration < 0 else float(duration),
            )
        )
    total, pages = _totals(response)
    return Page(items, total, pages)


def _request_fields(request: str) -> dict[str, Any]:
    """What a recorded request body says, if it is the JSON body CSS posts."""
    try:
        body = json.loads(request)
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def parse_callback_records(response: dict[str, Any]) -> Page:
    """DataInfoList as CallbackRecords."""
    items = []
    for item in object_list(response, "DataInfoList"):
        body = _request_fields(text_field(item, "Request", required=False))
        sequence = body.get("sequence")
        items.append(
            CallbackRecord(
                stream=text_field(item, "StreamId", required=False),
                event_type=_int(item, "EventType"),
                event_time=parse_time(item.get("EventTime")),
                result_code=_int(item, "ResultCode"),
                domain=str(body.get("app") or body.get("domain") or ""),
                app=str(body.get("appname") or body.get("path") or ""),
                sequence="" if sequence is None else str(sequence),
            )
        )
    total, pages = _totals(response)
    return Page(items, total, pages)
