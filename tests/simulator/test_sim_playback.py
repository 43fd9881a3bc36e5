"""The playback and platform-health actions through the official SDK: every answer deserializes
with the SDK models with warnings as errors and has every field they declare; viewers follow the
stream's state with the data lag; parameters are checked as strictly as Tencent documents them."""

from __future__ import annotations

from typing import Any

import pytest
from tencentcloud.live.v20180801 import models

from exporter.cssapi import (
    ALL_STREAM_PLAY,
    CERT_BINDINGS,
    DOMAIN_PLAY,
    PACKAGE_INFO,
    PLAY_ERROR_CODES,
)
from exporter.simulator import World, load_scenario
from exporter.simulator.playback import attach, beijing, iso_utc
from exporter.simulator.scenario import ScenarioError

from .conftest import SimFactory
from .support import DOMAIN, FakeClock, client, sdk_code
from .test_sim_api import declared, deserialize_strict

PLAY = "play.example.com"
PLAY2 = "play2.example.com"
T0 = 1_700_000_000.0  # a minute boundary + 20 s
SCENARIO: dict[str, Any] = {
    "streams": [
        {"domain": DOMAIN, "stream": "on", "state": "active"},
        {"domain": DOMAIN, "stream": "off", "state": "inactive"},
        {"domain": DOMAIN, "stream": "cycling", "state": "active"},
    ],
    "playback": {
        "play_domains": [
            {
                "name": PLAY,
                "push_domains": [DOMAIN],
                "error_ratios": {"5xx": 0.1, "4xx": 0.02},
                "certificate": {"expires_in": "20d"},
            },
            {"name": PLAY2, "push_domains": [DOMAIN], "share": 3},
        ],
        "viewers": {"default": 0, "streams": {"on": 100, "off": 50, "cycling": [10, 20, 30]}},
        "packages": [
            {"id": "t-1", "type": "traffic", "total": 1000, "used": 900, "expires_in": "5d"},
            {"id": "c-1", "type": "transcode", "total": 600, "used": 0, "status": "unused"},
            {"id": "h-1", "type": "co_hosting", "total": 10, "used": 10, "status": "exhausted"},
        ],
    },
}


def sim_at(make_sim: SimFactory, clock: FakeClock, scenario: dict[str, Any] = SCENARIO) -> Any:
    world = World.from_scenario(load_scenario(scenario), clock=clock)
    attach(world)
    return make_sim(world)


def test_all_stream_play_info_conforms_and_follows_the_state(make_sim: SimFactory) -> None:
    clock = FakeClock(T0)
    sim = sim_at(make_sim, clock)
    minute = (T0 // 60) * 60 - 300
    c = client(sim)
    resp = c.call_json(ALL_STREAM_PLAY, {"QueryTime": iso_utc(minute)})["Response"]
    model = models.DescribeAllStreamPlayInfoListResponse()
    deserialize_strict(model, resp)
    assert declared(model) == set(resp)
    assert resp["QueryTime"] == iso_utc(minute)
    for item in resp["DataInfoList"]:
        assert set(item) == declared(models.MonitorStreamPlayInfo())
    online: dict[tuple[str, str], int] = {}
    for item in resp["DataInfoList"]:
        key = (item["PlayDomain"], item["StreamName"])
        online[key] = online.get(key, 0) + item["Online"]
    # 100 viewers over the two play domains by share (1:3); "off" is inactive: none.
    assert online[(PLAY, "on")] + online[(PLAY2, "on")] == 100
    assert online[(PLAY2, "on")] == 75
    assert not any(stream == "off" for _, stream in online)
    cycling = [10, 20, 30][int(minute // 60) % 3]
    assert online[(PLAY, "cycling")] + online[(PLAY2, "cycling")] == cycling
    # The Beijing form of the same minute, and a play-domain filter.
    resp = c.call_json(ALL_STREAM_PLAY, {"QueryTime": beijing(minute), "PlayDomains": [PLAY]})
    assert {i["PlayDomain"] for i in resp["Response"]["DataInfoList"]} == {PLAY}
    # A minute Tencent has not finished yet has no data.
    recent = (T0 // 60) * 60 - 60
    resp = c.call_json(ALL_STREAM_PLAY, {"QueryTime": iso_utc(recent)})["Response"]
    assert resp["DataInfoList"] == []


def test_viewers_go_to_zero_only_for_the_minutes_after_the_stream_stopped(
    make_sim: SimFactory,
) -> None:
    clock = FakeClock(T0)
    sim = sim_at(make_sim, clock)
    clock.advance(40)  # a minute boundary
    stopped = clock()
    sim.world.set_state(DOMAIN, "live", "on", "inactive")
    clock.advance(600)
    c = client(sim)

    def viewers(minute: float) -> int:
        resp = c.call_json(ALL_STREAM_PLAY, {"QueryTime": iso_utc(minute)})["Response"]
        return sum(i["Online"] for i in resp["DataInfoList"] if i["StreamName"] == "on")

    assert viewers(stopped - 60) == 100
    assert viewers(stopped) == 0


def test_domain_play_info_conforms(make_sim: SimFactory) -> None:
    sim = sim_at(make_sim, FakeClock(T0))
    resp = client(sim).call_json(DOMAIN_PLAY, {"PlayDomains": [PLAY, PLAY2]})["Response"]
    model = models.DescribeLiveDomainPlayInfoListResponse()
    deserialize_strict(model, resp)
    assert declared(model) == set(resp)
    for info, obj in zip(resp["DomainInfoList"], model.DomainInfoList, strict=True):
        assert declared(obj) == set(info)
        for detail in info["DetailInfoList"]:
            assert set(detail) == declared(models.DomainDetailInfo())
    assert {i["Domain"] for i in resp["DomainInfoList"]} == {PLAY, PLAY2}
    assert resp["TotalOnline"] > 0
    assert resp["Time"] == beijing((T0 // 60) * 60 - 240)


def test_error_codes_conform_and_follow_the_ratio(make_sim: SimFactory) -> None:
    sim = sim_at(make_sim, FakeClock(T0))
    end = (T0 // 60) * 60
    params = {
        "StartTime": iso_utc(end - 600),
        "EndTime": iso_utc(end),
        "Granularity": 1,
        "StatType": "4xx,5xx",
        "PlayDomains": [PLAY],
    }
    resp = client(sim).call_json(PLAY_ERROR_CODES, params)["Response"]
    model = models.DescribePlayErrorCodeDetailInfoListResponse()
    deserialize_strict(model, resp)
    assert declared(model) == set(resp)
    by_code = {i["HttpCode"]: i["ValueList"] for i in resp["HttpCodeList"]}
    assert set(by_code) == {"404", "502"}
    for values in by_code.values():
        assert len(values) == 11
        for v in values:
            assert set(v) == declared(models.HttpCodeValue())
    finished = [v for v in by_code["502"] if v["Time"] <= iso_utc(end - 300)]
    unfinished = [v for v in by_code["502"] if v["Time"] > iso_utc(end - 300)]
    # PLAY gets a quarter of the viewers (share 1 of 4), 2 requests a viewer, 10% of them 5xx.
    assert finished and all(v["Numbers"] > 0 and 9 <= v["Percentage"] <= 11 for v in finished)
    assert unfinished and all(v["Numbers"] == 0 for v in unfinished)


def test_cert_bindings_and_packages_conform(make_sim: SimFactory) -> None:
    sim = sim_at(make_sim, FakeClock(T0))
    c = client(sim)
    resp = c.call_json(CERT_BINDINGS, {"DomainName": PLAY})["Response"]
    model = models.DescribeLiveDomainCertBindingsResponse()
    deserialize_strict(model, resp)
    assert declared(model) == set(resp)
    (item,) = resp["LiveDomainCertBindings"]
    assert set(item) == declared(models.LiveDomainCertBindings())
    assert item["CertExpireTime"] == beijing(sim.world.started + 20 * 86_400)
    assert c.call_json(CERT_BINDINGS, {"DomainName": PLAY2})["Response"]["TotalNum"] == 0
    seen = {}
    for package_type in (0, 1, 2):
        params = {"PackageType": package_type, "PageNum": 1, "PageSize": 100}
        resp = c.call_json(PACKAGE_INFO, params)["Response"]
        model = models.DescribeLivePackageInfoResponse()
        deserialize_strict(model, resp)
        assert declared(model) == set(resp)
        for p in resp["LivePackageInfoList"]:
            assert set(p) == declared(models.LivePackageInfo())
            seen[p["Id"]] = (package_type, p["Type"], p["Left"], p["Status"])
    assert seen == {"t-1": (0, 0, 100, 1), "c-1": (1, 1, 600, 0), "h-1": (2, 3, 0, 4)}


@pytest.mark.parametrize(
    ("action", "params", "code"),
    [
        (ALL_STREAM_PLAY, {}, "MissingParameter"),
        (ALL_STREAM_PLAY, {"QueryTime": "yesterday"}, "InvalidParameterValue"),
        (ALL_STREAM_PLAY, {"QueryTime": iso_utc(T0 - 40 * 86_400)}, "InvalidParameterValue"),
        (ALL_STREAM_PLAY, {"QueryTime": iso_utc(T0), "Domain": "x"}, "UnknownParameter"),
        (PLAY_ERROR_CODES, {"StartTime": iso_utc(T0 - 60)}, "MissingParameter"),
        (
            PLAY_ERROR_CODES,
            {
                "StartTime": iso_utc(T0 - 2 * 86_400),
                "EndTime": iso_utc(T0),
                "Granularity": 1,
                "StatType": "5xx",
            },
            "InvalidParameterValue",
        ),
        (
            PLAY_ERROR_CODES,
            {"StartTime": iso_utc(T0), "EndTime": iso_utc(T0), "Granularity": 5, "StatType": "5xx"},
            "InvalidParameterValue",
        ),
        (
            PLAY_ERROR_CODES,
            {"StartTime": iso_utc(T0), "EndTime": iso_utc(T0), "Granularity": 1, "StatType": "2xx"},
            "InvalidParameterValue",
        ),
        (PACKAGE_INFO, {}, "MissingParameter"),
        (PACKAGE_INFO, {"PackageType": 0, "PageNum": 1, "PageSize": 5}, "InvalidParameterValue"),
        (PACKAGE_INFO, {"PackageType": 2, "OrderBy": "ExpireTimeAsc"}, "InvalidParameterValue"),
        (CERT_BINDINGS, {"OrderBy": "Name"}, "InvalidParameterValue"),
    ],
)
def test_parameters_are_checked(
    make_sim: SimFactory, action: str, params: dict[str, Any], code: str
) -> None:
    sim = sim_at(make_sim, FakeClock(T0))
    assert sdk_code(lambda: client(sim).call_json(action, params)) == code


def test_the_documented_limits_apply(make_sim: SimFactory) -> None:
    sim = sim_at(make_sim, FakeClock(T0), {**SCENARIO, "site": "china"})
    c = client(sim)
    codes = []
    for _ in range(25):  # 20/s documented for DescribeAllStreamPlayInfoList
        try:
            c.call_json(ALL_STREAM_PLAY, {"QueryTime": iso_utc(T0 - 400)})
            codes.append("ok")
        except Exception as exc:  # the SDK raises TencentCloudSDKException
            codes.append(getattr(exc, "code", "?"))
    assert "RequestLimitExceeded" in codes and codes.count("ok") <= 20


@pytest.mark.parametrize(
    ("playback", "message"),
    [
        ({"play_domains": [{"name": PLAY}]}, "playback.play_domains[0].push_domains"),
        ({"viewers": {"streams": {"on": -1}}}, "playback.viewers.streams.on"),
        (
            {
                "play_domains": [
                    {"name": PLAY, "push_domains": [DOMAIN], "error_ratios": {"5xx": 2}}
                ]
            },
            "playback.play_domains[0].error_ratios.5xx",
        ),
        ({"packages": [{"id": "p", "total": 1, "used": 2}]}, "playback.packages[0].used"),
        ({"colour": "red"}, "playback.colour"),
    ],
)
def test_scenario_errors_name_the_key(playback: dict[str, Any], message: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        load_scenario({"playback": playback})
    assert str(caught.value).startswith(message), str(caught.value)
