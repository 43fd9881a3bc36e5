"""Error classification and answer parsing, without the network."""

from __future__ import annotations

import json
import socket
import ssl
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
        ("DNSFailure", TR),
        ("ConnectionRefused", TR),
        ("TLSError", TR),
        ("ConnectionReset", TR),
        ("HTTPError.429", T),
        ("HTTPError.503", T),
        ("HTTPError.502", TR),
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


def _wrapped(cause: BaseException) -> TencentCloudSDKException:
    """What the SDK raises for a transport failure: ClientNetworkError, raised while handling
    the original (tencentcloud/common/http/request.py, ApiRequest.send_request)."""
    try:
        try:
            raise cause
        except Exception as e:
            raise TencentCloudSDKException("ClientNetworkError", str(e)) from None
    except TencentCloudSDKException as sdk:
        sdk.__context__ = cause  # `from None` only hides it; the SDK keeps it as the context
        return sdk


@pytest.mark.parametrize(
    ("cause", "code", "words"),
    [
        (socket.gaierror(-2, "Name or service not known"), "DNSFailure", "DNS lookup failed"),
        (ConnectionRefusedError(111, "Connection refused"), "ConnectionRefused", "refused"),
        (
            ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED]"),
            "TLSError",
            "TLS failure",
        ),
        (TimeoutError("timed out"), "Timeout", "within the timeout"),
        (ConnectionResetError(104, "Connection reset by peer"), "ConnectionReset", "reset"),
        (OSError(113, "No route to host"), "ConnectionError", "connection failed"),
    ],
)
def test_transport_causes_from_the_exception_chain(
    cause: BaseException, code: str, words: str
) -> None:
    for exc in (_wrapped(cause), cause):
        err = error_from_exception(exc, "https://live.tencentcloudapi.com")
        assert (err.code, err.error_class) == (code, TR)
        assert err.message.startswith("https://live.tencentcloudapi.com: "), err.message
        assert words in err.message


def test_deadline_passed_is_a_timeout_whatever_the_exception() -> None:
    err = error_from_exception(_wrapped(OSError("socket closed")), "x", timed_out=True)
    assert err.code == "Timeout"


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
