"""The CSS API over the official SDK: one account's calls, with every failure classified.

Only this module talks to the SDK. It knows nothing about Prometheus: callers pass a hook that
is told about every call (action, duration, error) and do their own accounting.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from tencentcloud.common.common_client import CommonClient
from tencentcloud.common.credential import Credential, DefaultCredentialProvider
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile

from exporter import __version__, cssapi
from exporter.model import ApiError, ErrorClass, StreamKey, StreamState

# Transport-level codes, named like Tencent's so they share one label space.
TIMEOUT = "Timeout"
CONNECTION_ERROR = "ConnectionError"
HTTP_ERROR = "HTTPError"
BAD_RESPONSE = "BadResponse"
NO_CREDENTIALS = "CredentialsUnavailable"

_CLIENT_CODES = (
    "InvalidParameter",
    "InvalidParameterValue",
    "MissingParameter",
    "UnknownParameter",
    "InvalidAction",
    "NoSuchVersion",
    "UnsupportedProtocol",
    "UnsupportedRegion",
    "RequestSizeLimitExceeded",
    "InvalidRequest",
)
_AUTH_CODES = ("UnauthorizedOperation", "IpInBlacklist", "IpNotInWhitelist", NO_CREDENTIALS)


def classify(code: str) -> ErrorClass:
    """Map a Tencent error code (or one of our transport codes) to how the poller reacts."""
    head = code.split(".", 1)[0]
    if head == "RequestLimitExceeded":
        return ErrorClass.THROTTLED
    if head == "AuthFailure" or head in _AUTH_CODES:
        return ErrorClass.AUTH
    if head == "ResourceNotFound":
        return ErrorClass.ACCOUNT
    if head in _CLIENT_CODES:
        return ErrorClass.CLIENT
    if code in (TIMEOUT, CONNECTION_ERROR, HTTP_ERROR, BAD_RESPONSE):
        return ErrorClass.TRANSPORT
    # InternalError*, FailedOperation* and anything Tencent adds later: assume transient.
    return ErrorClass.SERVER


def _error(code: str, message: str = "", request_id: str = "") -> ApiError:
    # Messages can echo request details; one line and bounded keeps logs and pages sane.
    message = " ".join(str(message).split())[:300]
    return ApiError(code, classify(code), message, request_id or "")


def error_from_exception(exc: BaseException) -> ApiError:
    """Classify anything a call through the SDK can raise."""
    if isinstance(exc, TencentCloudSDKException):
        code = exc.get_code() or ""
        if code == "ClientNetworkError":
            text = str(exc.get_message())
            if "timed out" in text.lower() or "timeout" in text.lower():
                return _error(TIMEOUT, "request timed out")
            return _error(CONNECTION_ERROR, "connection failed")
        if code == "ServerNetworkError":
            # The SDK puts the raw body in the message; it is of no use and may be huge.
            return _error(HTTP_ERROR, "non-200 HTTP answer")
        if code == "ClientSideError":
            return _error(NO_CREDENTIALS, "no credentials found by the SDK's default chain")
        return _error(code or BAD_RESPONSE, exc.get_message() or "", exc.get_request_id() or "")
    if isinstance(exc, (ValueError, KeyError, TypeError, AttributeError, UnicodeError)):
        # json.JSONDecodeError is a ValueError: truncated or garbled answers land here.
        return _error(BAD_RESPONSE, f"unparseable answer ({type(exc).__name__})")
    return _error(CONNECTION_ERROR, type(exc).__name__)


def parse_response(body: Any) -> dict[str, Any]:
    """Return ``Response`` of a decoded answer, raising for errors the SDK let through.

    The SDK only looks for ``Response.Error`` when the Content-Type is exactly JSON, so an error
    answer with another content type arrives here as if it were a success.
    """
    if not isinstance(body, dict) or not isinstance(body.get("Response"), dict):
        raise ValueError("answer has no Response object")
    response: dict[str, Any] = body["Response"]
    err = response.get("Error")
    if err is not None:
        if not isinstance(err, dict) or not isinstance(err.get("Code"), str):
            raise ValueError("answer has a malformed Error object")
        raise TencentCloudSDKException(
            err["Code"], str(err.get("Message", "")), str(response.get("RequestId", ""))
        )
    return response


def parse_stream_state(response: dict[str, Any]) -> StreamState:
    value = response.get("StreamState")
    if value not in cssapi.STREAM_STATES:
        raise ValueError("StreamState missing or not one of active, inactive, forbid")
    return StreamState(value)


T = TypeVar("T")

CallHook = Callable[[str, float, "ApiError | None"], None]


@dataclass(frozen=True)
class ClientSettings:
    account: str
    endpoint_host: str
    scheme: str
    timeout: float
    secret_id: str | None = None
    secret_key: str | None = None
    token: str | None = None

    def __repr__(self) -> str:
        # Dataclass repr would print the key; this object does get logged on errors.
        return f"ClientSettings(account={self.account!r}, endpoint={self.endpoint_host!r})"


class CssClient:
    """One account's API access. Thread-safe: each calling thread gets its own SDK client,
    because a CommonClient holds one requests.Session and is not documented as thread-safe."""

    def __init__(self, settings: ClientSettings, on_call: CallHook | None = None) -> None:
        self.settings = settings
        self._on_call = on_call
        self._local = threading.local()
        self._cred_lock = threading.Lock()
        self._credential: Any = None

    def _get_credential(self) -> Any:
        with self._cred_lock:
            if self._credential is None:
                s = self.settings
                if s.secret_id and s.secret_key:
                    self._credential = Credential(s.secret_id, s.secret_key, s.token)
                else:
                    # The SDK's chain: env, profile file, CVM role, TKE OIDC. The role-based
                    # credentials it returns refresh themselves.
                    self._credential = DefaultCredentialProvider().get_credentials()
            return self._credential

    def _sdk(self) -> CommonClient:
        client: CommonClient | None = getattr(self._local, "client", None)
        if client is None:
            s = self.settings
            http = HttpProfile(
                protocol=s.scheme, endpoint=s.endpoint_host, reqTimeout=s.timeout, keepAlive=True
            )
            profile = ClientProfile(
                httpProfile=http,
                language="en-US",
                request_client=f"tencent-live-exporter-{__version__}",
            )
            # Region is empty: CSS is not regional and the SDK then omits X-TC-Region.
            client = CommonClient(
                cssapi.SERVICE, cssapi.API_VERSION, self._get_credential(), "", profile
            )
            self._local.client = client
        return client

    def call(
        self,
        action: str,
        params: dict[str, Any],
        parse: Callable[[dict[str, Any]], T] | None = None,
    ) -> T | dict[str, Any] | ApiError:
        """One API call; returns the parsed ``Response`` or the classified error. Never raises.

        ``parse`` runs inside the accounting so that an answer which decodes but does not make
        sense is counted as the failed call it is.
        """
        start = time.perf_counter()
        result: T | dict[str, Any] | ApiError
        try:
            response = parse_response(self._sdk().call_json(action, params))
            result = parse(response) if parse is not None else response
        except Exception as exc:  # every failure is data here: the caller decides what to do
            result = error_from_exception(exc)
        if self._on_call is not None:
            err = result if isinstance(result, ApiError) else None
            self._on_call(action, time.perf_counter() - start, err)
        return result

    def stream_state(self, key: StreamKey) -> StreamState | ApiError:
        result = self.call(
            cssapi.STATE,
            {"DomainName": key.domain, "AppName": key.app, "StreamName": key.stream},
            parse_stream_state,
        )
        assert not isinstance(result, dict)
        return result
