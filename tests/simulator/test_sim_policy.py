"""The simulator is as strict as Tencent on each site (issue 15), through the official SDK.

Sources, as cited in exporter/cssapi.py: DescribeLiveForbidStreamList at 2 requests/s on the
China site (cloud.tencent.com/document/api/267/33187), retired from the China SDKs on 2025-11-28
(tencentcloud-sdk-go SERVICE_CHANGELOG v1.3.4: a retired action answers ActionOffline or
InvalidAction); no resource-level authorisation for it, so a CAM policy scoped to domains denies
it with AuthFailure.UnauthorizedOperation (CAM's live page 598/98576); the per-domain actions
denied per domain; DescribeLiveStreamOnlineList PageSize 10..300000 on the China site
(/267/20472) and 10..100 on the international site (tencentcloud.com/document/api/267/30801);
forbid entries may come without DomainName/AppName ("may return null" in the international model).
"""

from __future__ import annotations

from typing import Any

import pytest

from exporter.cssapi import FORBID_LIST, ONLINE_LIST, STATE

from .conftest import SimFactory
from .support import DOMAIN, FakeClock, client, sdk_code
from .test_sim_api import FORBID_FIELDS

OTHER = "push-2.example.com"
WORLD: dict[str, Any] = {
    "streams": [
        {"domain": DOMAIN, "stream": "on", "state": "active"},
        {"domain": DOMAIN, "stream": "banned", "state": "forbid"},
        {"domain": OTHER, "stream": "on", "state": "active"},
    ]
}


def world(**policy: Any) -> dict[str, Any]:
    return {**WORLD, **policy}


@pytest.mark.parametrize(
    ("site", "size", "ok"),
    [
        ("china", 9, False),
        ("china", 10, True),
        ("china", 300000, True),
        ("china", 300001, False),
        ("intl", 9, False),
        ("intl", 100, True),
        ("intl", 101, False),
        ("strict", 101, False),  # the stricter of the two when the site is not known
    ],
)
def test_online_list_page_size_is_the_sites(
    make_sim: SimFactory, site: str, size: int, ok: bool
) -> None:
    sim = make_sim(world(site=site))
    call = lambda: client(sim).call_json(ONLINE_LIST, {"DomainName": DOMAIN, "PageSize": size})  # noqa: E731
    if ok:
        assert call()["Response"]["TotalNum"] == 1
    else:
        assert sdk_code(call) == "InvalidParameterValue"


def test_the_forbid_list_takes_two_requests_a_second_on_the_china_site(
    make_sim: SimFactory,
) -> None:
    clock = FakeClock()
    sim = make_sim(world(site="china"), monotonic=clock)
    c = client(sim)
    assert [c.call_json(FORBID_LIST, {})["Response"]["TotalNum"] for _ in range(2)] == [1, 1]
    assert sdk_code(lambda: c.call_json(FORBID_LIST, {})) == "RequestLimitExceeded"
    clock.advance(1.0)
    assert c.call_json(FORBID_LIST, {})["Response"]["TotalNum"] == 1


@pytest.mark.parametrize(
    ("mode", "code"),
    [
        ("ActionOffline", "ActionOffline"),
        ("InvalidAction", "InvalidAction"),
        ("denied", "AuthFailure.UnauthorizedOperation"),
    ],
)
def test_a_retired_or_denied_forbid_list(make_sim: SimFactory, mode: str, code: str) -> None:
    sim = make_sim(world(forbid_list=mode))
    assert sdk_code(lambda: client(sim).call_json(FORBID_LIST, {})) == code
    # The account's other actions are untouched.
    state = client(sim).call_json(
        STATE, {"DomainName": DOMAIN, "AppName": "live", "StreamName": "on"}
    )
    assert state["Response"]["StreamState"] == "active"


def test_a_key_denied_on_one_domain_only(make_sim: SimFactory) -> None:
    sim = make_sim(world(denied_domains=[OTHER]))
    c = client(sim)
    for action, params in (
        (STATE, {"AppName": "live", "StreamName": "on"}),
        (ONLINE_LIST, {}),
    ):
        denied = {**params, "DomainName": OTHER}
        assert sdk_code(lambda a=action, p=denied: c.call_json(a, p)) == (
            "AuthFailure.UnauthorizedOperation"
        )
        assert "Error" not in c.call_json(action, {**params, "DomainName": DOMAIN})["Response"]


def test_forbid_entries_without_domain_and_app_deserialize(make_sim: SimFactory) -> None:
    sim = make_sim(world(forbid_without_place=True))
    response = client(sim).call_json(FORBID_LIST, {})["Response"]
    (item,) = response["ForbidStreamList"]
    assert item.get("DomainName") is None and item.get("AppName") is None
    assert item["StreamName"] == "banned"
    # The Python SDK dropped the action with the China site's retirement; the international Go
    # SDK's ForbidStreamInfo is the model left (tests/simulator/test_sim_api.py FORBID_FIELDS).
    assert set(item) <= FORBID_FIELDS and {"StreamName", "CreateTime", "ExpireTime"} <= set(item)
