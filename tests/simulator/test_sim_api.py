"""The official SDK against the simulator: every action, model conformance, error codes."""

from __future__ import annotations

import time
import warnings
from typing import Any

import pytest
from tencentcloud.common.abstract_model import AbstractModel
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.live.v20180801 import models

from exporter.cssapi import FORBID_LIST, ONLINE_LIST, PUSH_INFO_LIST, STATE

from .conftest import SimFactory
from .support import (
    DOMAIN,
    TMP_ID,
    TMP_KEY,
    TOKEN,
    FakeClock,
    client,
    error_code,
    sdk_code,
    signed_post,
)

WORLD: dict[str, Any] = {
    "streams": [
        {"domain": DOMAIN, "stream": "on", "state": "active"},
        {"domain": DOMAIN, "stream": "off", "state": "inactive"},
        {"domain": DOMAIN, "stream": "banned", "state": "forbid"},
        {
            "domain": DOMAIN,
            "app": "game",
            "stream": "g1",
            "state": "active",
            "quality": {"video_fps": 60, "resolution": "1280*720", "vcodec": "H265"},
        },
    ]
}
STATE_PARAMS = {"DomainName": DOMAIN, "AppName": "live", "StreamName": "on"}
# Fields of ForbidStreamInfo in the international Go SDK (the Python SDK dropped the action).
FORBID_FIELDS = {"StreamName", "AppName", "DomainName", "CreateTime", "ExpireTime"}


def declared(model: AbstractModel) -> set[str]:
    return {name[1:] for name in vars(model) if name.startswith("_") and name != "_headers"}


def deserialize_strict(model: AbstractModel, response: dict[str, Any]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model._deserialize(response)


def test_state_for_each_state(make_sim: SimFactory) -> None:
    sim = make_sim(WORLD)
    c = client(sim)
    for stream, state in [
        ("on", "active"),
        ("off", "inactive"),
        ("banned", "forbid"),
        ("never-seen", "inactive"),
    ]:
        resp = c.call_json(STATE, {**STATE_PARAMS, "StreamName": stream})
        assert resp["Response"]["StreamState"] == state
        model = models.DescribeLiveStreamStateResponse()
        deserialize_strict(model, resp["Response"])
        assert declared(model) == set(resp["Response"])
        assert model.StreamState == state


def test_online_list_conforms(make_sim: SimFactory) -> None:
    sim = make_sim(WORLD)
    resp = client(sim).call_json(ONLINE_LIST, {})["Response"]
    model = models.DescribeLiveStreamOnlineListResponse()
    deserialize_strict(model, resp)
    assert declared(model) == set(resp)
    assert resp["TotalNum"] == 2 and resp["TotalPage"] == 1
    assert [(i["AppName"], i["StreamName"]) for i in resp["OnlineInfo"]] == [
        ("game", "g1"),
        ("live", "on"),
    ]
    for item, obj in zip(resp["OnlineInfo"], model.OnlineInfo, strict=True):
        assert declared(obj) == set(item)
        assert set(item["PublishTimeList"][0]) == declared(models.PublishTime())
        time.strptime(item["PublishTimeList"][0]["PublishTime"], "%Y-%m-%dT%H:%M:%SZ")


def test_push_info_list_conforms(make_sim: SimFactory) -> None:
    sim = make_sim(WORLD)
    resp = client(sim).call_json(PUSH_INFO_LIST, {"PushDomain": DOMAIN})["Response"]
    model = models.DescribeLiveStreamPushInfoListResponse()
    deserialize_strict(model, resp)
    assert declared(model) == set(resp)
    assert resp["TotalNum"] == 2 and resp["PageSize"] == 200
    for item in resp["DataInfoList"]:
        assert set(item) == declared(models.PushDataInfo())
        time.strptime(item["BeginPushTime"], "%Y-%m-%d %H:%M:%S")
    game = resp["DataInfoList"][0]
    assert (game["VideoFps"], game["Resolution"], game["Vcodec"]) == (60, "1280*720", "H265")
    assert game["MetaFps"] == 60 and isinstance(game["VideoSpeed"], int)


def test_push_info_list_without_live_streams(make_sim: SimFactory) -> None:
    sim = make_sim({"streams": [{"domain": DOMAIN, "stream": "x", "state": "inactive"}]})
    assert sdk_code(lambda: client(sim).call_json(PUSH_INFO_LIST, {})) == (
        "FailedOperation.HasNotLivingStream"
    )


def test_forbid_list(make_sim: SimFactory) -> None:
    sim = make_sim(WORLD)
    resp = client(sim).call_json(FORBID_LIST, {"PageSize": 100})["Response"]
    assert resp["TotalNum"] == 1 and resp["TotalPage"] == 1
    (item,) = resp["ForbidStreamList"]
    assert set(item) == FORBID_FIELDS
    assert item["StreamName"] == "banned"
    assert item["ExpireTime"] > item["CreateTime"]
    resp = client(sim).call_json(FORBID_LIST, {"StreamName": "on"})["Response"]
    assert resp["TotalNum"] == 0 and resp["ForbidStreamList"] == []


def test_paging(make_sim: SimFactory) -> None:
    streams = [{"domain": DOMAIN, "stream": f"s{i:02d}"} for i in range(25)]
    sim = make_sim({"streams": streams, "max_page_size": {ONLINE_LIST: 20}})
    c = client(sim)
    seen = []
    for page in (1, 2, 3, 4):
        resp = c.call_json(ONLINE_LIST, {"DomainName": DOMAIN, "PageNum": page})["Response"]
        assert (resp["TotalNum"], resp["TotalPage"], resp["PageNum"], resp["PageSize"]) == (
            25,
            3,
            page,
            10,
        )
        seen += [i["StreamName"] for i in resp["OnlineInfo"]]
    assert seen == [f"s{i:02d}" for i in range(25)]
    resp = c.call_json(ONLINE_LIST, {"DomainName": DOMAIN, "PageSize": 20, "PageNum": 2})
    assert len(resp["Response"]["OnlineInfo"]) == 5 and resp["Response"]["TotalPage"] == 2
    resp = c.call_json(PUSH_INFO_LIST, {"PageSize": 7, "PageNum": 4})["Response"]
    assert (resp["TotalNum"], resp["TotalPage"], len(resp["DataInfoList"])) == (25, 4, 4)
    resp = c.call_json(ONLINE_LIST, {"DomainName": DOMAIN, "StreamName": "s07"})["Response"]
    assert [i["StreamName"] for i in resp["OnlineInfo"]] == ["s07"] and resp["TotalNum"] == 1


@pytest.mark.parametrize(
    ("action", "params", "code"),
    [
        (STATE, {"DomainName": DOMAIN, "AppName": "live"}, "MissingParameter"),
        (STATE, {"DomainName": DOMAIN, "StreamName": "x"}, "MissingParameter"),
        (STATE, {"AppName": "live", "StreamName": "x"}, "MissingParameter"),
        (STATE, {**STATE_PARAMS, "StreamName": 5}, "InvalidParameterValue"),
        (STATE, {**STATE_PARAMS, "Extra": 1}, "UnknownParameter"),
        (ONLINE_LIST, {"DomainName": DOMAIN, "PageSize": 0}, "InvalidParameterValue"),
        (ONLINE_LIST, {"DomainName": DOMAIN, "PageSize": 101}, "InvalidParameterValue"),
        (ONLINE_LIST, {"DomainName": DOMAIN, "PageSize": "10"}, "InvalidParameterValue"),
        (ONLINE_LIST, {"DomainName": DOMAIN, "PageNum": 0}, "InvalidParameterValue"),
        (ONLINE_LIST, {"DomainName": DOMAIN, "PageNum": True}, "InvalidParameterValue"),
        (ONLINE_LIST, {}, "MissingParameter"),  # two domains in this world
        (PUSH_INFO_LIST, {"PageNum": 10001}, "InvalidParameterValue"),
        (PUSH_INFO_LIST, {"PageSize": 1001}, "InvalidParameterValue"),
        (FORBID_LIST, {"PageSize": 101}, "InvalidParameterValue"),
        # An action of the real API the simulator does not implement.
        ("DescribeLiveStreamMonitorList", {}, "InvalidAction"),
    ],
)
def test_parameter_errors(
    make_sim: SimFactory, action: str, params: dict[str, Any], code: str
) -> None:
    world = {"streams": [*WORLD["streams"], {"domain": "other.example.com", "stream": "z"}]}
    sim = make_sim(world)
    with pytest.raises(TencentCloudSDKException) as info:
        client(sim).call_json(action, params)
    assert info.value.code == code
    name = next(
        (
            k
            for k in ("PageSize", "PageNum", "StreamName", "DomainName", "AppName", "Extra")
            if k in info.value.message
        ),
        None,
    )
    assert name is not None or code == "InvalidAction"


def test_wrong_key_unknown_id_and_tokens(make_sim: SimFactory) -> None:
    sim = make_sim(WORLD)
    call = lambda c: lambda: c.call_json(STATE, STATE_PARAMS)  # noqa: E731
    assert sdk_code(call(client(sim, secret_key="wrong"))) == "AuthFailure.SignatureFailure"
    assert sdk_code(call(client(sim, secret_id="AKIDnobody"))) == "AuthFailure.SecretIdNotFound"
    assert sdk_code(call(client(sim, TMP_ID, TMP_KEY))) == "AuthFailure.TokenFailure"
    assert sdk_code(call(client(sim, TMP_ID, TMP_KEY, token="other"))) == "AuthFailure.TokenFailure"
    assert (
        client(sim, TMP_ID, TMP_KEY, token=TOKEN).call_json(STATE, STATE_PARAMS)["Response"][
            "StreamState"
        ]
        == "active"
    )


def test_signature_expire(make_sim: SimFactory) -> None:
    skewed = make_sim(WORLD, wall_clock=lambda: time.time() + 301)
    assert sdk_code(lambda: client(skewed).call_json(STATE, STATE_PARAMS)) == (
        "AuthFailure.SignatureExpire"
    )
    sim = make_sim(WORLD)
    old = signed_post(sim, STATE, STATE_PARAMS, timestamp=int(time.time()) - 400)
    assert error_code(old) == "AuthFailure.SignatureExpire"
    fresh = signed_post(sim, STATE, STATE_PARAMS, timestamp=int(time.time()) - 200)
    assert fresh.json()["Response"]["StreamState"] == "active"


def test_header_errors(make_sim: SimFactory) -> None:
    sim = make_sim(WORLD)
    assert error_code(signed_post(sim, STATE, STATE_PARAMS, headers={"Authorization": "SKIP"})) == (
        "AuthFailure.InvalidAuthorization"
    )
    assert error_code(
        signed_post(sim, STATE, STATE_PARAMS, headers={"Authorization": "x y z"})
    ) == ("AuthFailure.InvalidAuthorization")
    assert (
        error_code(signed_post(sim, STATE, STATE_PARAMS, version="2017-01-01")) == "NoSuchVersion"
    )
    assert error_code(signed_post(sim, "NoSuchThing", {})) == "InvalidAction"
    assert error_code(signed_post(sim, "", {})) == "MissingParameter"
    tampered = signed_post(sim, STATE, STATE_PARAMS, headers={"Host": "evil.example.com"})
    assert error_code(tampered) == "AuthFailure.SignatureFailure"
    body = tampered.json()["Response"]
    assert len(body["RequestId"]) == 36 and body["Error"]["Message"]


def test_rate_limit(make_sim: SimFactory) -> None:
    clock = FakeClock()
    sim = make_sim(WORLD, limits={STATE: 3}, monotonic=clock)
    c = client(sim)
    for _ in range(3):
        c.call_json(STATE, STATE_PARAMS)
    assert sdk_code(lambda: c.call_json(STATE, STATE_PARAMS)) == "RequestLimitExceeded"
    # per SecretId and per action
    client(sim, TMP_ID, TMP_KEY, token=TOKEN).call_json(STATE, STATE_PARAMS)
    c.call_json(ONLINE_LIST, {})
    clock.advance(1.0)
    c.call_json(STATE, STATE_PARAMS)
    assert sim.counters()[STATE] == {"ok": 5, "RequestLimitExceeded": 1}


def test_timeline_through_api_with_fake_clock(make_sim: SimFactory) -> None:
    from exporter.simulator import World, load_scenario

    clock = FakeClock()
    scenario = load_scenario(
        {
            "streams": [
                {
                    "domain": DOMAIN,
                    "stream": "t",
                    "timeline": [
                        {"state": "active", "for": "30s"},
                        {"state": "inactive", "for": "1m"},
                    ],
                }
            ]
        }
    )
    sim = make_sim(World.from_scenario(scenario, clock=clock))
    c = client(sim)
    params = {**STATE_PARAMS, "StreamName": "t"}
    assert c.call_json(STATE, params)["Response"]["StreamState"] == "active"
    assert c.call_json(ONLINE_LIST, {})["Response"]["TotalNum"] == 1
    clock.advance(31)
    assert c.call_json(STATE, params)["Response"]["StreamState"] == "inactive"
    assert c.call_json(ONLINE_LIST, {})["Response"]["TotalNum"] == 0
    clock.advance(60)
    assert c.call_json(STATE, params)["Response"]["StreamState"] == "active"
    published = c.call_json(ONLINE_LIST, {})["Response"]["OnlineInfo"][0]["PublishTimeList"]
    expected = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(clock() - 1))
    assert published == [{"PublishTime": expected}]
