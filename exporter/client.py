"""The CSS API over the official SDK: one account's calls, with every failure classified.

Only this module talks to the SDK. It knows nothing about Prometheus: callers pass a hook that
is told about every call (action, duration, error) and do their own accounting.
"""

from __future__ import annotations

import datetime
import functools
import re
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from tencentcloud.common.common_client import CommonClient
from tencentcloud.common.credential import Credential, DefaultCredentialProvider
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile

from exporter import __version__, cssapi
from exporter.model import ApiError, ErrorClass, PushInfo, StreamKey, StreamState

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


_CODE_UNSAFE = re.compile(r"[^A-Za-z0-9_.]")


def _error(code: str, message: str = "", request_id: str = "") -> ApiError:
    # Messages can echo request details; one line and bounded keeps logs and pages sane.
    message = " ".join(str(message).split())[:300]
    # The code becomes a label value: a broken answer must not smuggle in newlines or pages of
    # text. Tencent's codes are dotted identifiers well under 64 characters.
    code = _CODE_UNSAFE.sub("_", code)[:64] or BAD_RESPONSE
    return ApiError(code, classify(code), message, str(request_id or "")[:128])


def error_from_exception(exc: BaseException) -> ApiError:
    """Classify anything a call through the SDK can raise."""
    if isinstance(exc, TencentCloudSDKException):
        code = exc.get_code() if isinstance(exc.get_code(), str) else ""  # may be any JSON
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
    if isinstance(exc, (ValueError, LookupError, TypeError, AttributeError, RecursionError)):
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


def _int(response: dict[str, Any], name: str) -> int:
    value = response.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} missing or not a non-negative integer")
    return value


def _items(response: dict[str, Any], name: str) -> list[dict[str, Any]]:
    value = response.get(name)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise ValueError(f"{name} is not a list of objects")
    return value


def _str(item: dict[str, Any], name: str, required: bool = True) -> str:
    value = item.get(name)
    if isinstance(value, str) and (value or not required):
        return value
    if value is None and not required:
        return ""
    raise ValueError(f"{name} missing or not a string")


def _num(item: dict[str, Any], name: str) -> float | None:
    value = item.get(name)
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a paged list answer."""

    items: list[Any]
    total: int
    total_pages: int


def parse_online_page(response: dict[str, Any]) -> Page:
    """OnlineInfo as (domain, app, stream) tuples."""
    items = [
        (_str(i, "DomainName", required=False), _str(i, "AppName"), _str(i, "StreamName"))
        for i in _items(response, "OnlineInfo")
    ]
    return Page(items, _int(response, "TotalNum"), _int(response, "TotalPage"))


def parse_forbid_page(response: dict[str, Any]) -> Page:
    """ForbidStreamList as (domain, app, stream) tuples (domain/app may be empty)."""
    items = [
        (
            _str(i, "DomainName", required=False),
            _str(i, "AppName", required=False),
            _str(i, "StreamName"),
        )
        for i in _items(response, "ForbidStreamList")
    ]
    return Page(items, _int(response, "TotalNum"), _int(response, "TotalPage"))


_BEIJING = datetime.timezone(datetime.timedelta(hours=8))


def beijing_to_unix(text: str) -> float | None:
    """BeginPushTime, "2019-02-01 00:00:00" in Beijing time, as Unix time."""
    try:
        parsed = datetime.datetime.strptime(text, "%Y-%m-%d %H:%M:%S")
    except ValueError:
        return None
    return parsed.replace(tzinfo=_BEIJING).timestamp()


def parse_resolution(text: str) -> tuple[float | None, float | None]:
    width, sep, height = text.partition("*")
    if sep and width.isdigit() and height.isdigit():
        return float(width), float(height)
    return None, None


def _shared(text: str) -> str:
    # Codecs, resolutions and sample rates take a handful of values across 100k streams: one
    # shared copy each instead of a fresh string per stream and round.
    return sys.intern(text)


def parse_push_item(item: dict[str, Any], ips: bool = False) -> tuple[str, str, PushInfo]:
    """One DataInfoList entry as (app, stream, PushInfo); client/server IPs only if ``ips``."""
    resolution = _shared(_str(item, "Resolution", required=False))
    width, height = parse_resolution(resolution)
    sample_rate = item.get("AsampleRate")
    info = PushInfo(
        video_bitrate=_num(item, "VideoSpeed"),
        audio_bitrate=_num(item, "AudioSpeed"),
        video_fps=_num(item, "VideoFps"),
        audio_fps=_num(item, "AudioFps"),
        meta_video_bitrate=_num(item, "MetaVideoSpeed"),
        meta_audio_bitrate=_num(item, "MetaAudioSpeed"),
        meta_fps=_num(item, "MetaFps"),
        width=width,
        height=height,
        begin_time=beijing_to_unix(_str(item, "BeginPushTime", required=False)),
        video_codec=_shared(_str(item, "Vcodec", required=False)),
        audio_codec=_shared(_str(item, "Acodec", required=False)),
        resolution=resolution,
        audio_sample_rate="" if sample_rate is None else _shared(str(sample_rate)),
        client_ip=_str(item, "ClientIp", required=False) if ips else "",
        server_ip=_str(item, "ServerIp", required=False) if ips else "",
    )
    return _str(item, "AppName"), _str(item, "StreamName"), info


def parse_push_page(response: dict[str, Any], ips: bool = False) -> Page:
    items = [parse_push_item(i, ips) for i in _items(response, "DataInfoList")]
    return Page(items, _int(response, "TotalNum"), _int(response, "TotalPage"))


EMPTY_PAGE = Page([], 0, 0)
# PushInfoList answers this when nothing is online: an empty list, not a fault.
NOTHING_LIVE = "FailedOperation.HasNotLivingStream"

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


class ApiClient(Protocol):
    """What polling needs of one account's API access (CssClient; fakes in tests)."""

    def stream_state(self, key: StreamKey) -> StreamState | ApiError: ...

    def online_page(self, domain: str, app: str, page: int, size: int) -> Page | ApiError: ...

    def push_page(
        self, domain: str, app: str, page: int, size: int, ips: bool = False
    ) -> Page | ApiError: ...

    def forbid_page(self, page: int, size: int) -> Page | ApiError: ...


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
        empty: T | None = None,
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
            if empty is not None and result.code == NOTHING_LIVE:
                result = empty
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

    def online_page(self, domain: str, app: str, page: int, size: int) -> Page | ApiError:
        params = {"DomainName": domain, "AppName": app, "PageNum": page, "PageSize": size}
        result = self.call(cssapi.ONLINE_LIST, params, parse_online_page)
        assert not isinstance(result, dict)
        return result

    def push_page(
        self, domain: str, app: str, page: int, size: int, ips: bool = False
    ) -> Page | ApiError:
        params = {"PushDomain": domain, "AppName": app, "PageNum": page, "PageSize": size}
        parse = functools.partial(parse_push_page, ips=ips)
        result = self.call(cssapi.PUSH_INFO_LIST, params, parse, empty=EMPTY_PAGE)
        assert not isinstance(result, dict)
        return result

    def forbid_page(self, page: int, size: int) -> Page | ApiError:
        params = {"PageNum": page, "PageSize": size}
        result = self.call(cssapi.FORBID_LIST, params, parse_forbid_page)
        assert not isinstance(result, dict)
        return result
