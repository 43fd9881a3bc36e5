"""The /-/sim/ control API and /metrics."""

from __future__ import annotations

from typing import Any

import requests

from exporter.cssapi import ONLINE_LIST, STATE

from .conftest import SimFactory
from .support import DOMAIN, client, error_code, signed_post

WORLD: dict[str, Any] = {
    "streams": [
        {"domain": DOMAIN, "stream": "on", "state": "active"},
        {"domain": DOMAIN, "stream": "off", "state": "inactive"},
    ]
}
PARAMS = {"DomainName": DOMAIN, "AppName": "live", "StreamName": "on"}


def ctl(sim: Any, method: str, path: str, body: Any = None) -> requests.Response:
    return requests.request(method, f"{sim.url}/-/sim/{path}", json=body, timeout=5)


def test_streams_crud(make_sim: SimFactory) -> None:
    sim = make_sim(WORLD)
    assert ctl(sim, "GET", "streams").json() == {
        "streams": [
            {"domain": DOMAIN, "app": "live", "stream": "off", "state": "inactive"},
            {"domain": DOMAIN, "app": "live", "stream": "on", "state": "active"},
        ]
    }
    r = ctl(
        sim, "POST", "streams", {"domain": DOMAIN, "stream": "new", "quality": {"video_fps": 12}}
    )
    assert r.status_code == 200 and r.json()["stream"]["state"] == "active"
    r = ctl(
        sim,
        "POST",
        "streams",
        {
            "domain": DOMAIN,
            "app": "game",
            "stream": "tl",
            "repeat": False,
            "timeline": [{"state": "forbid", "for": "1h"}, {"state": "active", "for": 5}],
        },
    )
    assert r.json()["stream"]["state"] == "forbid"
    assert sim.world.state_of(DOMAIN, "game", "tl") == "forbid"
    r = ctl(sim, "POST", "state", {"domain": DOMAIN, "stream": "on", "state": "inactive"})
    assert r.status_code == 200
    assert client(sim).call_json(STATE, PARAMS)["Response"]["StreamState"] == "inactive"
    r = ctl(sim, "DELETE", "streams", {"domain": DOMAIN, "stream": "new"})
    assert r.status_code == 200
    assert sim.world.spec_of(DOMAIN, "live", "new") is None


def test_streams_errors(make_sim: SimFactory) -> None:
    sim = make_sim(WORLD)
    r = ctl(sim, "POST", "state", {"domain": DOMAIN, "stream": "ghost", "state": "active"})
    assert r.status_code == 404 and "ghost" in r.json()["error"]
    assert ctl(sim, "DELETE", "streams", {"domain": DOMAIN, "stream": "ghost"}).status_code == 404
    for body in [
        {"domain": DOMAIN, "stream": "on", "state": "online"},
        {"stream": "on", "state": "active"},
    ]:
        r = ctl(sim, "POST", "state", body)
        assert r.status_code == 400 and "\n" not in r.json()["error"]
    r = ctl(
        sim, "POST", "streams", {"domain": DOMAIN, "stream": "x", "timeline": [{"state": "active"}]}
    )
    assert r.status_code == 400 and "timeline[0]" in r.json()["error"]
    r = requests.post(f"{sim.url}/-/sim/state", data=b"{not json", timeout=5)
    assert r.status_code == 400
    assert ctl(sim, "GET", "nothing").status_code == 404
    assert ctl(sim, "PUT", "streams", {}).status_code == 405


def test_faults_window_account(make_sim: SimFactory) -> None:
    sim = make_sim(WORLD)
    r = ctl(
        sim,
        "POST",
        "faults",
        {"action": STATE, "error_rates": {"InternalError": 1}, "latency": "10ms"},
    )
    assert r.status_code == 200
    faults = ctl(sim, "GET", "faults").json()
    assert faults["faults"][STATE]["error_rates"] == {"InternalError": 1.0}
    assert faults["faults"][STATE]["latency"] == 0.01
    assert error_code(signed_post(sim, STATE, PARAMS)) == "InternalError"
    assert ctl(sim, "POST", "faults/clear").status_code == 200
    assert ctl(sim, "GET", "faults").json() == {"faults": {}, "windows": [], "account_state": "ok"}
    assert signed_post(sim, STATE, PARAMS).json()["Response"]["StreamState"] == "active"

    r = ctl(sim, "POST", "window", {"kind": "throttle", "seconds": 30, "action": ONLINE_LIST})
    assert r.status_code == 200 and r.json()["code"] == "RequestLimitExceeded"
    assert error_code(signed_post(sim, ONLINE_LIST, {})) == "RequestLimitExceeded"
    r = ctl(
        sim,
        "POST",
        "window",
        {"kind": "auth_failure", "seconds": 30, "code": "AuthFailure.MFAFailure"},
    )
    assert error_code(signed_post(sim, STATE, PARAMS)) == "AuthFailure.MFAFailure"
    assert len(ctl(sim, "GET", "faults").json()["windows"]) == 2
    ctl(sim, "POST", "faults/clear")

    assert (
        ctl(sim, "POST", "account", {"state": "ResourceNotFound.FreezeService"}).status_code == 200
    )
    assert error_code(signed_post(sim, STATE, PARAMS)) == "ResourceNotFound.FreezeService"
    ctl(sim, "POST", "account", {"state": "ok"})
    assert signed_post(sim, STATE, PARAMS).json()["Response"]["StreamState"] == "active"


def test_bad_fault_requests(make_sim: SimFactory) -> None:
    sim = make_sim(WORLD)
    for path, body in [
        ("faults", {"action": "Nope", "latency": 1}),
        ("faults", {"action": STATE, "timeout": 2}),
        ("faults", {"action": STATE, "unknown_field": 2}),
        ("window", {"kind": "throttle"}),
        ("window", {"kind": "flood", "seconds": 1}),
        ("account", {"state": ""}),
        ("limits", {"action": STATE, "limit": 0}),
    ]:
        r = ctl(sim, "POST", path, body)
        assert r.status_code == 400, (path, body)
        assert isinstance(r.json()["error"], str) and "\n" not in r.json()["error"]


def test_limits_and_counters(make_sim: SimFactory) -> None:
    sim = make_sim(WORLD)
    assert ctl(sim, "GET", "limits").json()["limits"][STATE] == 300
    assert ctl(sim, "POST", "limits", {"action": STATE, "limit": 1}).status_code == 200
    signed_post(sim, STATE, PARAMS)
    signed_post(sim, STATE, PARAMS)
    signed_post(sim, "Bogus", {})
    counters = ctl(sim, "GET", "counters").json()
    assert counters["requests"][STATE]["RequestLimitExceeded"] >= 1
    assert counters["requests"]["other"] == {"InvalidAction": 1}
    assert sim.counters() == counters["requests"]
    metrics = requests.get(f"{sim.url}/metrics", timeout=5)
    assert metrics.headers["Content-Type"].startswith("text/plain")
    assert (
        f'tencent_live_simulator_requests_total{{action="{STATE}",outcome="ok"}} 1' in metrics.text
    )
    assert 'tencent_live_simulator_streams{state="active"} 1' in metrics.text
    ctl(sim, "POST", "counters/reset")
    assert ctl(sim, "GET", "counters").json() == {"requests": {}, "callbacks": {}}


def test_unknown_paths_and_methods(make_sim: SimFactory) -> None:
    sim = make_sim(WORLD)
    assert requests.get(f"{sim.url}/nope", timeout=5).status_code == 404
    assert requests.get(f"{sim.url}/", timeout=5).status_code == 200
