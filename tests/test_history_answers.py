"""The history actions' answers through the real client: good ones become values, broken ones one
counted, classified BadResponse each (like every other action's, tests/test_api_answers.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from exporter import cssapi
from exporter.client import Page
from exporter.model import ApiError
from exporter.polling import history_calls
from exporter.polling.history_calls import CallbackRecord, SessionRecord, parse_time
from tests.test_api_answers import AnswerServer, Call, Switchboard, make_client

GOOD_EVENTS = {
    "EventList": [
        {
            "AppName": "live",
            "DomainName": "push.example.com",
            "StreamName": "s1",
            "StreamStartTime": "2019-01-04T11:59:58Z",
            "StreamEndTime": "2019-01-04T12:59:58Z",
            "StopReason": "客户端主动断流",
            "Duration": 3600,
            "ClientIp": "180.163.8.244",
            "Resolution": "640*352",
        }
    ],
    "PageNum": 1,
    "PageSize": 100,
    "TotalNum": 1,
    "TotalPage": 1,
    "RequestId": "8e50cdb5-56dc-408b-89b0-31818958d424",
}
GOOD_RECORDS = {
    "DataInfoList": [
        {
            "EventTime": "2020-10-12T00:00:00+08:00",
            "EventType": 1,
            "Request": json.dumps({"app": "push.example.com", "appname": "live", "sequence": "42"}),
            "Response": "response body",
            "ResponseTime": "2020-10-12T00:00:00+08:00",
            "ResultCode": 1,
            "StreamId": "stream1",
        }
    ],
    "PageNum": 1,
    "PageSize": 1,
    "TotalNum": 1,
    "TotalPage": 1,
    "RequestId": "1047d0dc-6dc8-4898-a7f3-03726a822b0e",
}


def broken(base: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    copy: dict[str, Any] = json.loads(json.dumps(base))
    node: Any = copy
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return copy


CALLS = {
    cssapi.EVENT_LIST: (
        history_calls.event_list_params("push.example.com", "live", 1.7e9, 1.7e9 + 60, 1),
        history_calls.parse_event_list,
    ),
    cssapi.CALLBACK_RECORDS: (
        history_calls.callback_records_params("stream1", 1.7e9, 1.7e9 + 60, 1),
        history_calls.parse_callback_records,
    ),
}


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[Switchboard, AnswerServer]]:
    board = Switchboard()
    answers = AnswerServer(board)
    yield board, answers
    answers.stop()


def ask(server: tuple[Switchboard, AnswerServer], action: str, response: Any) -> Any:
    board, answers = server
    board.reply = (200, "application/json", json.dumps({"Response": response}).encode())
    calls: list[Call] = []
    params, parse = CALLS[action]
    result = make_client(answers.host, calls).call(action, params, parse)
    assert [(a, e) for a, _, e in calls] == [
        (action, result if isinstance(result, ApiError) else None)
    ]
    return result


def test_good_answers(server: tuple[Switchboard, AnswerServer]) -> None:
    page = ask(server, cssapi.EVENT_LIST, GOOD_EVENTS)
    assert isinstance(page, Page) and (page.total, page.total_pages) == (1, 1)
    assert page.items == [
        SessionRecord(
            "push.example.com",
            "live",
            "s1",
            parse_time("2019-01-04T11:59:58Z"),
            parse_time("2019-01-04T12:59:58Z"),
            "客户端主动断流",
            3600.0,
        )
    ]
    records = ask(server, cssapi.CALLBACK_RECORDS, GOOD_RECORDS)
    assert isinstance(records, Page)
    assert records.items == [
        CallbackRecord("stream1", 1, 1602432000.0, 1, "push.example.com", "live", "42")
    ]


@pytest.mark.parametrize(
    ("action", "response", "message"),
    [
        (cssapi.EVENT_LIST, broken(GOOD_EVENTS, ("EventList",), {"StreamName": "s1"}), "EventList"),
        (cssapi.EVENT_LIST, broken(GOOD_EVENTS, ("EventList", 0, "Duration"), "60"), "Duration"),
        (cssapi.EVENT_LIST, broken(GOOD_EVENTS, ("EventList", 0, "StreamName"), ""), "StreamName"),
        (cssapi.EVENT_LIST, broken(GOOD_EVENTS, ("TotalNum",), None), "TotalNum"),
        (
            cssapi.CALLBACK_RECORDS,
            broken(GOOD_RECORDS, ("DataInfoList", 0, "ResultCode"), "0"),
            "ResultCode",
        ),
        (cssapi.CALLBACK_RECORDS, broken(GOOD_RECORDS, ("TotalPage",), -1), "TotalPage"),
        (cssapi.CALLBACK_RECORDS, broken(GOOD_RECORDS, ("DataInfoList",), "x"), "DataInfoList"),
    ],
)
def test_broken_answers_are_bad_responses(
    server: tuple[Switchboard, AnswerServer], action: str, response: Any, message: str
) -> None:
    result = ask(server, action, response)
    assert isinstance(result, ApiError) and result.code == "BadResponse", result
    # The client's message does not quote the answer; the parser names the field.
    with pytest.raises(ValueError, match=message):
        CALLS[action][1](response)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2019-01-07T12:00:00Z", 1546862400.0),
        ("2020-10-12T00:00:00+08:00", 1602432000.0),
        ("2020-10-12 00:00:00", 1602432000.0),  # Beijing time
        ("", None),
        (None, None),
        ("yesterday", None),
    ],
)
def test_times(text: Any, expected: float | None) -> None:
    assert parse_time(text) == expected
