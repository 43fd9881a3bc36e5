"""The simulator's history actions over the official SDK: DescribeLiveStreamEventList lists the
world's push sessions and DescribeCallbackRecordsList the callbacks sent (dropped ones too), with
the official models' fields only (``_deserialize`` with warnings as errors); interrupt callbacks
carry errcode/errmsg and push-error callbacks abnormal_event."""

from __future__ import annotations

import datetime as dt
import json
import time
from typing import Any

import pytest
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.live.v20180801 import models

from exporter.callbacks import CallbackEvent, EventType, parse_callback
from exporter.cssapi import CALLBACK_RECORDS, EVENT_LIST
from exporter.simulator import Simulator

from .conftest import SimFactory
from .support import DOMAIN, client
from .test_sim_api import declared, deserialize_strict
from .test_sim_callbacks import KEY, Receiver


def iso(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def event_list(sim: Simulator, **params: Any) -> dict[str, Any]:
    now = time.time()
    # Whole seconds: a session that ended a moment ago ends after iso(now).
    base = {
        "StartTime": iso(now - 3600),
        "EndTime": iso(now + 1),
        "DomainName": DOMAIN,
        "IsAsc": 1,
    }
    response: dict[str, Any] = client(sim).call_json(EVENT_LIST, {**base, **params})["Response"]
    return response


WORLD = {
    "streams": [
        {"domain": DOMAIN, "stream": "a", "state": "active"},
        {"domain": DOMAIN, "stream": "b", "state": "active", "quality": {"resolution": "1280*720"}},
        {"domain": DOMAIN, "app": "other", "stream": "a", "state": "active"},
    ]
}


def test_the_event_list_has_the_worlds_sessions_with_the_official_fields(
    make_sim: SimFactory,
) -> None:
    sim = make_sim(WORLD)
    sim.world.set_state(DOMAIN, "live", "a", "inactive", errcode=12)
    sim.world.set_state(DOMAIN, "live", "b", "forbid")
    sim.world.set_state(DOMAIN, "live", "b", "active")
    sim.world.set_state(DOMAIN, "live", "b", "inactive")  # the encoder stopped (errcode 1)
    response = event_list(sim)
    model = models.DescribeLiveStreamEventListResponse()
    deserialize_strict(model, response)
    assert declared(model) == set(response)
    for item in response["EventList"]:
        assert set(item) == declared(models.StreamEventInfo())
    got = [(e["StreamName"], e["StopReason"], e["Resolution"]) for e in response["EventList"]]
    # By end time, oldest first (IsAsc); app "other" is not listed (AppName defaults to live).
    assert got == [
        ("a", "Network error for the push client.", "1920*1080"),
        ("b", "The stream is disabled.", "1280*720"),
        ("b", "The push client stopped the stream.", "1280*720"),
    ]
    assert (response["TotalNum"], response["TotalPage"]) == (3, 1)
    first = response["EventList"][0]
    assert first["StreamEndTime"] >= first["StreamStartTime"] and first["Duration"] >= 0
    # Paging, the default descending order, an exact name, another app.
    page = event_list(sim, PageSize=2, PageNum=2, IsAsc=0)
    assert [e["StopReason"] for e in page["EventList"]] == ["Network error for the push client."]
    assert page["TotalPage"] == 2
    assert event_list(sim, StreamName="b", IsStrict=1)["TotalNum"] == 2
    assert event_list(sim, AppName="other")["TotalNum"] == 0
    # The window is by end time: nothing ended in the hour before the last one.
    assert event_list(sim, EndTime=iso(time.time() - 3000))["TotalNum"] == 0


def test_the_china_site_words_an_encoders_stop_as_its_example(make_sim: SimFactory) -> None:
    from exporter.simulator.policy import Policy

    sim = make_sim(WORLD, policy=Policy(site="china"))
    sim.world.set_state(DOMAIN, "live", "a", "inactive")
    assert [e["StopReason"] for e in event_list(sim)["EventList"]] == ["客户端主动断流"]


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"StartTime": None}, "MissingParameter"),
        ({"EndTime": "2026-01-01 00:00:00"}, "InvalidParameterValue"),  # UTC only
        ({"PageSize": 101}, "InvalidParameterValue"),
        ({"PageSize": 100, "PageNum": 101}, "InvalidParameterValue"),  # 10,000 records at most
        ({"IsAsc": 2}, "InvalidParameterValue"),
        ({"EndTime": iso(time.time() + 3600)}, "InvalidParameterValue"),  # not in the future
        ({"StartTime": iso(time.time() - 40 * 86400)}, "InvalidParameterValue"),  # span > 30 d
        ({"Extra": 1}, "UnknownParameter"),
    ],
)
def test_event_list_parameter_errors(
    make_sim: SimFactory, params: dict[str, Any], code: str
) -> None:
    sim = make_sim(WORLD)
    with pytest.raises(TencentCloudSDKException) as info:
        now = time.time()
        base: dict[str, Any] = {"StartTime": iso(now - 3600), "EndTime": iso(now)}
        merged = {k: v for k, v in {**base, **params}.items() if v is not None}
        client(sim).call_json(EVENT_LIST, merged)
    assert info.value.code == code


def records(sim: Simulator, stream: str, **params: Any) -> dict[str, Any]:
    now = time.time()
    base = {
        "StartTime": iso(now - 600),
        "EndTime": iso(now + 60),
        "StreamName": stream,
        "PageNum": 1,
        "PageSize": 100,
    }
    response: dict[str, Any] = client(sim).call_json(CALLBACK_RECORDS, {**base, **params})[
        "Response"
    ]
    return response


def wait(predicate: Any) -> None:
    deadline = time.monotonic() + 5
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_callbacks_carry_errcode_and_are_recorded_and_dropped_ones_too(
    make_sim: SimFactory,
) -> None:
    receiver = Receiver()
    try:
        sim = make_sim(WORLD, callback_url=receiver.url, callback_key=KEY)
        sim.world.set_state(DOMAIN, "live", "a", "inactive", errcode=12)
        interrupt = receiver.next()
        assert (interrupt["errcode"], interrupt["errmsg"]) == (
            12,
            "Network error for the push client.",
        )
        # The next two are dropped: CSS records them as sent, and as failed (ResultCode 1).
        status, _ = sim.handle_control("POST", "/-/sim/callbacks/drop", b'{"count": 2}')
        assert status == 200
        sim.world.set_state(DOMAIN, "live", "a", "active")
        sim.world.set_state(DOMAIN, "live", "a", "inactive")
        sim.world.set_state(DOMAIN, "live", "a", "active")
        pushed = receiver.next()
        assert pushed["event_type"] == 1
        wait(lambda: len(sim.world.history.callbacks()) == 4)
        assert receiver.bodies.empty()  # the dropped two never arrived
        response = records(sim, "a")
        model = models.DescribeCallbackRecordsListResponse()
        deserialize_strict(model, response)
        assert declared(model) == set(response)
        for item in response["DataInfoList"]:
            assert set(item) == declared(models.CallbackEventInfo())
        got = [(r["EventType"], r["ResultCode"]) for r in response["DataInfoList"]]
        assert got == [(0, 0), (1, 1), (0, 1), (1, 0)]
        delivered = response["DataInfoList"][0]
        assert json.loads(delivered["Request"])["sequence"] == interrupt["sequence"]
        assert delivered["Response"] == '{"code":0}'
        # The answer's times are in the format the request used (here Beijing time).
        beijing = dt.timezone(dt.timedelta(hours=8))
        local = dt.datetime.fromtimestamp(time.time() - 600, beijing).strftime("%Y-%m-%d %H:%M:%S")
        again = records(sim, "a", StartTime=local, EventType=1, ResultCode=0)
        assert [r["EventType"] for r in again["DataInfoList"]] == [1]
        assert "T" not in again["DataInfoList"][0]["EventTime"]
    finally:
        receiver.close()


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"StreamName": None}, "MissingParameter"),
        ({"PageNum": None}, "MissingParameter"),
        ({"PageSize": None}, "MissingParameter"),
        ({"PageSize": 101}, "InvalidParameterValue"),
        ({"StartTime": iso(time.time() - 2 * 86400)}, "InvalidParameterValue"),  # span > 1 d
    ],
)
def test_callback_records_parameter_errors(
    make_sim: SimFactory, params: dict[str, Any], code: str
) -> None:
    sim = make_sim(WORLD)
    now = time.time()
    base: dict[str, Any] = {
        "StartTime": iso(now - 600),
        "EndTime": iso(now),
        "StreamName": "a",
        "PageNum": 1,
        "PageSize": 10,
    }
    merged = {k: v for k, v in {**base, **params}.items() if v is not None}
    with pytest.raises(TencentCloudSDKException) as info:
        client(sim).call_json(CALLBACK_RECORDS, merged)
    assert info.value.code == code


def test_a_push_error_callback_has_abnormal_event_and_the_exporter_reads_it(
    make_sim: SimFactory,
) -> None:
    receiver = Receiver()
    try:
        sim = make_sim(WORLD, callback_url=receiver.url, callback_key=KEY)
        body = json.dumps(
            {"domain": DOMAIN, "stream": "b", "abnormal_event": [{"type": 6, "count": 3}]}
        ).encode()
        assert sim.handle_control("POST", "/-/sim/push_error", body)[0] == 200
        sent = receiver.next()
        assert sent["event_type"] == 321 and sent["abnormal_event"][0]["type"] == 6
        parsed = parse_callback(
            json.dumps(sent).encode(),
            content_type="application/json",
            keys_for=lambda domain: (KEY,),
            now=time.time(),
        )
        assert isinstance(parsed, CallbackEvent)
        assert parsed.event is EventType.PUSH_ERROR and parsed.abnormal == ((6, 3),)
        assert (parsed.domain, parsed.app, parsed.stream) == (DOMAIN, "live", "b")
    finally:
        receiver.close()
