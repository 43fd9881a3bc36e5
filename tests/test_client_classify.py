"""Error classification and answer parsing, without the network."""

from __future__ import annotations

import json
from typing import Any

import pytest
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException

from exporter.client import (
    ClientSettings,
    classify,
    error_from_exception,
    parse_response,
    parse_stream_state,
)
from exporter.model import ErrorClass, StreamState

T, AU, AC, S, C, TR = (
    ErrorClass.THROTTLED,
    ErrorClass.AUTH,
    ErrorClass.ACCOUNT,
    ErrorClass.SERVER,
    ErrorClass.CLIENT,
    ErrorClass.TRANSPORT,
)


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        ("RequestLimitExceeded", T),
        ("RequestLimitExceeded.UinLimitExceeded", T),
        ("RequestLimitExceeded.GlobalRegionUinLimitExceeded", T),
        ("RequestLimitExceeded.IPLimitExceeded", T),
        ("AuthFailure.SignatureFailure", AU),
        ("AuthFailure.SignatureExpire", AU),
        ("AuthFailure.SecretIdNotFound", AU),
        ("AuthFailure.InvalidAuthorization", AU),
        ("AuthFailure.TokenFailure", AU),
        ("AuthFailure.UnauthorizedOperation", AU),
        ("AuthFailure.MFAFailure", AU),
        ("UnauthorizedOperation", AU),
        ("IpInBlacklist", AU),
        ("IpNotInWhitelist", AU),
        ("CredentialsUnavailable", AU),
        ("ResourceNotFound.ForbidService", AC),
        ("ResourceNotFound.FreezeService", AC),
        ("ResourceNotFound.StopService", AC),
        ("ResourceNotFound.UserDisableService", AC),
        ("ResourceNotFound.UserNotExist", AC),
        ("InternalError", S),
        ("InternalError.GetStreamInfoError", S),
        ("InternalError.StreamStatusError", S),
        ("FailedOperation", S),
        ("FailedOperation.CallOtherSvrFailed", S),
        ("SomethingNewFromTencent", S),
        ("InvalidParameter", C),
        ("InvalidParameterValue", C),
        ("MissingParameter", C),
        ("InvalidAction", C),
        ("NoSuchVersion", C),
        ("UnsupportedProtocol", C),
        ("RequestSizeLimitExceeded", C),
        ("Timeout", TR),
        ("ConnectionError", TR),
        ("HTTPError", TR),
        ("BadResponse", TR),
    ],
)
def test_classify(code: str, cls: ErrorClass) -> None:
    assert classify(code) is cls


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (
            TencentCloudSDKException(
                "ClientNetworkError", "HTTPConnectionPool: Read timed out. (read timeout=1)"
            ),
            "Timeout",
        ),
        (
            TencentCloudSDKException("ClientNetworkError", "Connection refused by peer"),
            "ConnectionError",
        ),
        (TencentCloudSDKException("ServerNetworkError", b"<html>502</html>"), "HTTPError"),
        (
            TencentCloudSDKException("ClientSideError", "no valid credentail."),
            "CredentialsUnavailable",
        ),
        (TencentCloudSDKException("InternalError", "oops", "rid"), "InternalError"),
        (json.JSONDecodeError("Expecting value", "{", 1), "BadResponse"),
        (ValueError("answer has no Response object"), "BadResponse"),
        (KeyError("Response"), "BadResponse"),
        (UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"), "BadResponse"),
        (OSError("socket closed"), "ConnectionError"),
    ],
)
def test_error_from_exception(exc: BaseException, code: str) -> None:
    err = error_from_exception(exc)
    assert err.code == code
    assert "\n" not in err.message and len(err.message) <= 300


def test_sdk_error_keeps_request_id() -> None:
    err = error_from_exception(TencentCloudSDKException("InternalError", "x", "req-42"))
    assert err.request_id == "req-42"
    assert err.error_class is ErrorClass.SERVER


@pytest.mark.parametrize(
    "body",
    [None, [], {"Foo": 1}, {"Response": "x"}, {"Response": {"Error": "nope"}}],
)
def test_parse_response_rejects_garbage(body: Any) -> None:
    with pytest.raises(ValueError):
        parse_response(body)


def test_parse_response_raises_error_the_sdk_let_through() -> None:
    # With a non-JSON Content-Type the SDK returns an error answer as if it were a success.
    body = {"Response": {"Error": {"Code": "InternalError", "Message": "m"}, "RequestId": "r"}}
    with pytest.raises(TencentCloudSDKException) as info:
        parse_response(body)
    assert error_from_exception(info.value).code == "InternalError"


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        ({"StreamState": "active"}, StreamState.ACTIVE),
        ({"StreamState": "inactive"}, StreamState.INACTIVE),
        ({"StreamState": "forbid"}, StreamState.FORBID),
    ],
)
def test_parse_stream_state(response: dict[str, Any], expected: StreamState) -> None:
    assert parse_stream_state(response) is expected


@pytest.mark.parametrize("response", [{}, {"StreamState": "unknown"}, {"StreamState": 1}])
def test_parse_stream_state_rejects(response: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        parse_stream_state(response)


def test_settings_repr_hides_secret() -> None:
    s = ClientSettings("main", "h", "https", 5, "AKIDx", "very-secret-key", "tok-secret")
    assert "very-secret-key" not in repr(s) and "tok-secret" not in repr(s)
