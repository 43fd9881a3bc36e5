"""Helpers shared by the simulator tests."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest
import requests
from tencentcloud.common.common_client import CommonClient
from tencentcloud.common.credential import Credential
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile

from exporter.cssapi import API_VERSION, SERVICE
from exporter.simulator import Simulator
from exporter.simulator.signing import authorization_header, sign_request, utc_date

SECRET_ID = "AKIDtest"
SECRET_KEY = "secretkey"
TMP_ID = "AKIDtmp"
TMP_KEY = "tmpsecret"
TOKEN = "tok-123"
DOMAIN = "push.example.com"


class FakeClock:
    """A settable clock; ``advance`` moves it forward."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._now = start
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += seconds


def client(
    sim: Simulator,
    secret_id: str = SECRET_ID,
    secret_key: str = SECRET_KEY,
    token: str | None = None,
    timeout: float = 5,
) -> CommonClient:
    profile = ClientProfile(
        httpProfile=HttpProfile(protocol="http", endpoint=sim.endpoint, reqTimeout=timeout)
    )
    return CommonClient(SERVICE, API_VERSION, Credential(secret_id, secret_key, token), "", profile)


def signed_post(
    sim: Simulator,
    action: str,
    params: dict[str, Any] | None = None,
    *,
    secret_id: str = SECRET_ID,
    secret_key: str = SECRET_KEY,
    timestamp: int | None = None,
    headers: dict[str, str] | None = None,
    version: str = API_VERSION,
) -> requests.Response:
    """A hand-made signed request, for cases the SDK cannot produce."""
    body = json.dumps(params or {}).encode()
    ts = int(time.time()) if timestamp is None else timestamp
    content_type = "application/json"
    sig = sign_request(
        secret_key=secret_key,
        service=SERVICE,
        timestamp=ts,
        content_type=content_type,
        host=sim.endpoint,
        payload=body,
    )
    all_headers = {
        "Content-Type": content_type,
        "Host": sim.endpoint,
        "X-TC-Action": action,
        "X-TC-Version": version,
        "X-TC-Timestamp": str(ts),
        "Authorization": authorization_header(secret_id, utc_date(ts), SERVICE, sig),
    }
    all_headers.update(headers or {})
    return requests.post(sim.url + "/", data=body, headers=all_headers, timeout=5)


def error_code(response: requests.Response) -> str:
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    code: str = response.json()["Response"]["Error"]["Code"]
    return code


def sdk_code(call: Any) -> str:
    """The error code the official SDK raises for ``call``; fails the test if it succeeds."""
    with pytest.raises(TencentCloudSDKException) as info:
        call()
    return str(info.value.code)
