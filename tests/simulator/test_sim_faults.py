"""Each fault kind, as the official SDK experiences it."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException

from exporter.client import ClientSettings, CssClient
from exporter.cssapi import FORBID_LIST, ONLINE_LIST, PUSH_INFO_LIST, STATE
from exporter.model import ApiError, ErrorClass, StreamKey, StreamState
from exporter.simulator import FaultConfig, Faults, Simulator

from .conftest import SimFactory
from .support import DOMAIN, SECRET_ID, SECRET_KEY, FakeClock, client, sdk_code

WORLD: dict[str, Any] = {"streams": [{"domain": DOMAIN, "stream": "on", "state": "active"}]}
PARAMS = {"DomainName": DOMAIN, "AppName": "live", "StreamName": "on"}
KEY = StreamKey("sim", DOMAIN, "live", "on")


def css_client(sim: Simulator, timeout: float = 5.0) -> CssClient:
    """The exporter's client, for what the bare SDK cannot tell (statuses, deadlines)."""
    return CssClient(ClientSettings("sim", sim.endpoint, "http", timeout, SECRET_ID, SECRET_KEY))


def test_latency(make_sim: SimFactory) -> None:
    sim = make_sim(WORLD)
    sim.faults.set(STATE, latency=0.2)
    c = client(sim)
    t0 = time.perf_counter()
    c.call_json(STATE, PARAMS)
    assert time.perf_counter() - t0 >= 0.2
    t0 = time.perf_counter()
    c.call_json(ONLINE_LIST, {})  # other actions unaffected
    assert time.perf_counter() - t0 < 0.2


def test_timeout_and_prompt_stop(make_sim: SimFactory) -> None:
    sim = make_sim(WORLD)
    sim.faults.set("*", timeout=1.0, timeout_hold=30)
    with pytest.raises(TencentCloudSDKException) as info:
        client(sim, timeout=0.3).call_json(STATE, PARAMS)
    assert info.value.code == "ClientNetworkError"
    assert sim.counters()[STATE] == {"timeout": 1}
    t0 = time.perf_counter()
    sim.stop()
    assert time.perf_counter() - t0 < 1.0


def test_timeout_hold_then_close(make_sim: SimFactory) -> None:
    sim = make_sim(WORLD)
    sim.faults.set(STATE, timeout=1.0, timeout_hold=0.1)
    assert sdk_code(lambda: client(sim, timeout=5).call_json(STATE, PARAMS)) == "ClientNetworkError"


def test_http_5xx(make_sim: SimFactory) -> None:
    sim = make_sim(WORLD)
    sim.faults.set(STATE, http_5xx=1.0)
    for _ in range(4):
        with pytest.raises(TencentCloudSDKException) as info:
            client(sim).call_json(STATE, PARAMS)
        assert info.value.code == "ServerNetworkError"
        assert b"Bad Gateway" in info.value.message or b"Gateway Timeout" in info.value.message


@pytest.mark.parametrize("fault", ["malformed_json", "truncated_json"])
@pytest.mark.parametrize("action", [STATE, ONLINE_LIST, PUSH_INFO_LIST, FORBID_LIST])
def test_unparseable_json(make_sim: SimFactory, fault: str, action: str) -> None:
    sim = make_sim(WORLD)
    sim.faults.set(action, **{fault: 1.0})
    params = PARAMS if action == STATE else {}
    with pytest.raises(json.JSONDecodeError):
        client(sim).call_json(action, params)
    assert sim.counters()[action] == {fault: 1}


def test_wrong_content_type_slips_past_the_sdk(make_sim: SimFactory) -> None:
    sim = make_sim(WORLD)
    sim.faults.set(STATE, wrong_content_type=1.0)
    # The SDK only looks for Response.Error in application/json answers: the caller must.
    resp = client(sim).call_json(STATE, PARAMS)
    assert resp["Response"]["Error"]["Code"] == "InternalError"
    assert "StreamState" not in resp["Response"]


@pytest.mark.parametrize(
    "code",
    ["InternalError", "InternalError.GetStreamInfoError", "FailedOperation.CallOtherSvrFailed"],
)
def test_error_rates(make_sim: SimFactory, code: str) -> None:
    sim = make_sim(WORLD)
    sim.faults.set(STATE, error_rates={code: 1.0})
    assert sdk_code(lambda: client(sim).call_json(STATE, PARAMS)) == code
    assert sim.counters()[STATE] == {code: 1}


def test_action_config_overrides_star(make_sim: SimFactory) -> None:
    sim = make_sim(WORLD)
    sim.faults.set("*", error_rates={"InternalError": 1.0})
    sim.faults.set(ONLINE_LIST, latency=0)
    assert sdk_code(lambda: client(sim).call_json(STATE, PARAMS)) == "InternalError"
    client(sim).call_json(ONLINE_LIST, {})


def test_throttle_window(make_sim: SimFactory) -> None:
    clock = FakeClock()
    sim = make_sim(WORLD, monotonic=clock)
    sim.start_window("throttle", 5, action=STATE)
    c = client(sim)
    assert sdk_code(lambda: c.call_json(STATE, PARAMS)) == "RequestLimitExceeded"
    c.call_json(ONLINE_LIST, {})
    clock.advance(5.1)
    c.call_json(STATE, PARAMS)
    sim.start_window("throttle", 5, code="RequestLimitExceeded.UinLimitExceeded")
    assert sdk_code(lambda: c.call_json(ONLINE_LIST, {})) == "RequestLimitExceeded.UinLimitExceeded"


def test_auth_failure_window(make_sim: SimFactory) -> None:
    clock = FakeClock()
    sim = make_sim(WORLD, monotonic=clock)
    sim.start_window("auth_failure", 10)
    c = client(sim)
    assert sdk_code(lambda: c.call_json(STATE, PARAMS)) == "AuthFailure.SignatureFailure"
    sim.start_window(
        "auth_failure", 20, action=ONLINE_LIST, code="AuthFailure.UnauthorizedOperation"
    )
    clock.advance(11)
    c.call_json(STATE, PARAMS)
    assert sdk_code(lambda: c.call_json(ONLINE_LIST, {})) == "AuthFailure.UnauthorizedOperation"


def test_account_state(make_sim: SimFactory) -> None:
    sim = make_sim(WORLD)
    sim.set_account_state("ResourceNotFound.StopService")
    c = client(sim)
    for action, params in [(STATE, PARAMS), (ONLINE_LIST, {}), (FORBID_LIST, {})]:
        with pytest.raises(TencentCloudSDKException) as info:
            c.call_json(action, params)
        assert info.value.code == "ResourceNotFound.StopService"
        assert "arrears" in info.value.message
    sim.set_account_state("ok")
    c.call_json(STATE, PARAMS)


def test_fault_draws_are_seeded() -> None:
    config = FaultConfig(jitter=0.5, http_5xx=0.3, error_rates={"InternalError": 0.3})
    runs = []
    for _ in range(2):
        faults = Faults({STATE: config}, seed=42)
        runs.append([faults.decide(STATE) for _ in range(200)])
    assert runs[0] == runs[1]
    outcomes = [d.fault or d.error_code for d in runs[0] if d is not None]
    assert 30 < outcomes.count("http_5xx") < 90
    assert 20 < outcomes.count("InternalError") < 70
    assert Faults().decide(STATE) is None
    always = Faults({"*": FaultConfig(timeout=1.0)}, seed=1)
    assert all(always.decide(a).fault == "timeout" for a in (STATE, ONLINE_LIST))  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "fields",
    [
        {"timeout": 1.5},
        {"latency": -1},
        {"bogus": 1},
        {"error_rates": {"InternalError": "x"}},
        {"error_rates": ["InternalError"]},
        {"http_5xx": True},
    ],
)
def test_invalid_fault_fields(fields: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        FaultConfig.from_mapping(fields)


def test_invalid_windows_and_actions() -> None:
    faults = Faults()
    with pytest.raises(ValueError):
        faults.start_window("flood", 1)
    with pytest.raises(ValueError):
        faults.set("DescribeSomethingElse", latency=1)
    with pytest.raises(ValueError):
        faults.set_account_state("")


@pytest.mark.parametrize(("fault", "status"), [("http_429", 429), ("http_503", 503)])
def test_http_429_and_503(make_sim: SimFactory, fault: str, status: int) -> None:
    sim = make_sim(WORLD)
    sim.faults.set(STATE, **{fault: 1.0})
    with pytest.raises(TencentCloudSDKException) as info:
        client(sim).call_json(STATE, PARAMS)
    assert info.value.code == "ServerNetworkError"  # the SDK keeps the body, not the status
    reason = {429: b"Too Many Requests", 503: b"Service Unavailable"}[status]
    assert reason in info.value.message
    result = css_client(sim).stream_state(KEY)
    assert isinstance(result, ApiError)
    assert result.code == f"HTTPError.{status}"
    assert result.error_class is ErrorClass.THROTTLED
    assert sim.counters()[STATE] == {fault: 2}
    client(sim).call_json(ONLINE_LIST, {})  # other actions unaffected


@pytest.mark.parametrize(("kind", "status"), [("http_429", 429), ("http_503", 503)])
def test_http_status_window(make_sim: SimFactory, kind: str, status: int) -> None:
    clock = FakeClock()
    sim = make_sim(WORLD, monotonic=clock)
    window = sim.start_window(kind, 5, action=STATE)
    assert window.code == str(status)
    c = css_client(sim)
    result = c.stream_state(KEY)
    assert isinstance(result, ApiError) and result.code == f"HTTPError.{status}"
    assert not isinstance(c.online_page(DOMAIN, "live", 1, 10), ApiError)
    clock.advance(5.1)
    assert c.stream_state(KEY) is StreamState.ACTIVE
    assert sim.counters()[STATE] == {kind: 1, "ok": 1}
    with pytest.raises(ValueError):
        sim.start_window(kind, 5, code="RequestLimitExceeded")


def test_trickle_sends_the_real_answer_slowly(make_sim: SimFactory) -> None:
    sim = make_sim(WORLD)
    sim.faults.set(STATE, trickle=1.0, trickle_bytes_per_second=2000)
    # About 250 bytes at 2,000 bytes/s, 20 at a time: a slow but complete answer.
    assert client(sim).call_json(STATE, PARAMS)["Response"]["StreamState"] == "active"
    assert sim.counters()[STATE] == {"trickle": 1}


def test_trickle_beats_the_sdk_timeout_but_not_the_deadline(make_sim: SimFactory) -> None:
    sim = make_sim(WORLD)
    sim.faults.set(STATE, trickle=1.0, trickle_bytes_per_second=5)
    started = time.monotonic()
    result = css_client(sim, timeout=1.0).stream_state(KEY)
    elapsed = time.monotonic() - started
    assert isinstance(result, ApiError) and result.code == "Timeout", result
    # At the deadline; the whole answer would take about 50 s. Slack for a loaded machine.
    assert 1.0 <= elapsed < 4.0, elapsed
    assert sim.counters()[STATE] == {"trickle": 1}
    t0 = time.perf_counter()
    sim.stop()  # the trickling handler gives up at once
    assert time.perf_counter() - t0 < 2.0


@pytest.mark.parametrize(
    "fields",
    [
        {"trickle_bytes_per_second": 0},
        {"trickle": 2},
        {"http_429": -0.1},
        {"http_503": "1"},
    ],
)
def test_invalid_new_fault_fields(fields: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        FaultConfig.from_mapping(fields)
