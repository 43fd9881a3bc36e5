"""Every way a call can fail, as one bounded error code and the class the poller reacts to.

Tencent's own codes pass through (sanitised); failures that never reached Tencent's answer get
codes of ours, named in the same style so that they share one label space:

- ``DNSFailure``, ``ConnectionRefused``, ``TLSError``, ``Timeout``, ``ConnectionReset`` and
  ``ConnectionError`` (any other transport failure): the cause, found in the exception chain
  that requests and urllib3 build, never in message text (which varies between versions);
- ``HTTPError.429`` and ``HTTPError.503``: the gateway refusing for load, i.e. throttling;
  ``HTTPError``: any other status but 200;
- ``BadResponse``: an answer that does not decode to what the action documents;
- ``CredentialsUnavailable``: the SDK's default credential chain found nothing.
"""

from __future__ import annotations

import http
import re
import socket
import ssl
from collections.abc import Iterator

import requests
import urllib3.exceptions
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException

from exporter.model import ApiError, ErrorClass

TIMEOUT = "Timeout"
DNS_FAILURE = "DNSFailure"
CONNECTION_REFUSED = "ConnectionRefused"
TLS_ERROR = "TLSError"
CONNECTION_RESET = "ConnectionReset"
CONNECTION_ERROR = "ConnectionError"
HTTP_ERROR = "HTTPError"
BAD_RESPONSE = "BadResponse"
NO_CREDENTIALS = "CredentialsUnavailable"

TRANSPORT_CODES = (
    DNS_FAILURE,
    CONNECTION_REFUSED,
    TLS_ERROR,
    TIMEOUT,
    CONNECTION_RESET,
    CONNECTION_ERROR,
)
# Statuses a gateway answers when it sheds load: slowing down is the cure, as for
# RequestLimitExceeded. Only these get a code of their own, which keeps the label set bounded.
THROTTLING_STATUSES = (429, 503)
THROTTLING_HTTP_CODES = tuple(f"{HTTP_ERROR}.{status}" for status in THROTTLING_STATUSES)

_CLIENT_CODES = (
    "InvalidParameter",
    "InvalidParameterValue",
    "MissingParameter",
    "UnknownParameter",
    "InvalidAction",
    "ActionOffline",  # a retired action (DescribeLiveForbidStreamList on the China site)
    "UnsupportedOperation",
    "NoSuchVersion",
    "UnsupportedProtocol",
    "UnsupportedRegion",
    "RequestSizeLimitExceeded",
    "InvalidRequest",
)
_AUTH_CODES = ("UnauthorizedOperation", "IpInBlacklist", "IpNotInWhitelist", NO_CREDENTIALS)
_TRANSPORT = frozenset((*TRANSPORT_CODES, HTTP_ERROR, BAD_RESPONSE))


def classify(code: str) -> ErrorClass:
    """Map a Tencent error code (or one of our transport codes) to how the poller reacts."""
    if code in THROTTLING_HTTP_CODES:
        return ErrorClass.THROTTLED
    head = code.split(".", 1)[0]
    if head == "RequestLimitExceeded":
        return ErrorClass.THROTTLED
    if head == "AuthFailure" or head in _AUTH_CODES:
        return ErrorClass.AUTH
    if head == "ResourceNotFound":
        return ErrorClass.ACCOUNT
    if head in _CLIENT_CODES:
        return ErrorClass.CLIENT
    if code in _TRANSPORT or head == HTTP_ERROR:
        return ErrorClass.TRANSPORT
    # InternalError*, FailedOperation* and anything Tencent adds later: assume transient.
    return ErrorClass.SERVER


_CODE_UNSAFE = re.compile(r"[^A-Za-z0-9_.]")


def make_error(code: str, message: str = "", request_id: str = "") -> ApiError:
    # Messages can echo request details; one line and bounded keeps logs and pages sane.
    message = " ".join(str(message).split())[:300]
    # The code becomes a label value: a broken answer must not smuggle in newlines or pages of
    # text. Tencent's codes are dotted identifiers well under 64 characters.
    code = _CODE_UNSAFE.sub("_", code)[:64] or BAD_RESPONSE
    return ApiError(code, classify(code), message, str(request_id or "")[:128])


class HttpStatusError(Exception):
    """An answer with an HTTP status other than 200 (the SDK's ``_check_status`` refuses those
    too, but keeps only the body, not the status)."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


def http_error(status: int, endpoint: str) -> ApiError:
    code = f"{HTTP_ERROR}.{status}" if status in THROTTLING_STATUSES else HTTP_ERROR
    try:
        # The standard phrase, not the server's reason text, which could be anything.
        phrase = f" {http.HTTPStatus(status).phrase}"
    except ValueError:
        phrase = ""
    return make_error(code, f"non-200 HTTP answer: {status}{phrase} from {endpoint}")


# --- transport causes ---------------------------------------------------------------------


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and everything it wraps: causes, contexts, urllib3's ``reason``, requests' args.

    The SDK re-raises every transport failure as ``ClientNetworkError`` inside its ``except``
    (tencentcloud/common/http/request.py, ApiRequest.send_request), so the original is the
    implicit ``__context__``; requests wraps urllib3's MaxRetryError in ``args``, and that keeps
    the connection error in ``reason``.
    """
    seen: list[BaseException] = []
    stack: list[object] = [exc]
    while stack and len(seen) < 32:
        item = stack.pop()
        if not isinstance(item, BaseException) or any(item is s for s in seen):
            continue
        seen.append(item)
        yield item
        stack.extend(a for a in item.args if isinstance(a, BaseException))
        stack.extend((getattr(item, "reason", None), item.__context__, item.__cause__))


_TIMEOUTS = (TimeoutError, urllib3.exceptions.TimeoutError, requests.Timeout)
_TLS = (
    ssl.SSLError,
    ssl.CertificateError,
    urllib3.exceptions.SSLError,
    requests.exceptions.SSLError,
)
_RESETS = (ConnectionResetError, ConnectionAbortedError, BrokenPipeError)
_CUT_SHORT = (urllib3.exceptions.ProtocolError, requests.exceptions.ChunkedEncodingError)


def _is_timeout(exc: BaseException) -> bool:
    # urllib3's NewConnectionError is a ConnectTimeoutError by inheritance only: any failure to
    # connect (refused, unreachable) is one.
    return isinstance(exc, _TIMEOUTS) and not isinstance(exc, urllib3.exceptions.NewConnectionError)


def _tls_detail(exc: BaseException) -> str:
    # Set by the ssl module on the errors it raises; absent on hand-made ones.
    verify = getattr(exc, "verify_message", None)
    if verify:
        return f"certificate verify failed ({verify})"
    reason = getattr(exc, "reason", None)
    if isinstance(reason, str) and reason:
        return reason.lower().replace("_", " ")
    return type(exc).__name__


def transport_cause(exc: BaseException, timed_out: bool = False) -> tuple[str, str] | None:
    """(code, what happened) for a failure below HTTP, or None when ``exc`` is not one.

    ``timed_out``: the call's deadline has passed, whatever the exception says.
    """
    found = list(_chain(exc))
    for e in found:
        if isinstance(e, socket.gaierror):
            return DNS_FAILURE, f"DNS lookup failed ({e.strerror or e})"
    if any(isinstance(e, ConnectionRefusedError) for e in found):
        return CONNECTION_REFUSED, "connection refused"
    if timed_out or any(_is_timeout(e) for e in found):
        return TIMEOUT, "no complete answer within the timeout"
    for e in found:
        if isinstance(e, ssl.SSLError | ssl.CertificateError):
            return TLS_ERROR, f"TLS failure: {_tls_detail(e)}"
    for e in found:
        if isinstance(e, _TLS):
            return TLS_ERROR, "TLS failure"
    if any(isinstance(e, _RESETS) for e in found):
        return CONNECTION_RESET, "connection reset or closed before the answer was complete"
    if any(isinstance(e, _CUT_SHORT) for e in found):
        return CONNECTION_RESET, "connection closed before the answer was complete"
    if any(isinstance(e, OSError | requests.ConnectionError) for e in found):
        return CONNECTION_ERROR, "connection failed"
    return None


def error_from_exception(
    exc: BaseException, endpoint: str = "", timed_out: bool = False
) -> ApiError:
    """Classify anything a call through the SDK can raise; ``endpoint`` names where it went."""
    where = f"{endpoint}: " if endpoint else ""
    if isinstance(exc, HttpStatusError):
        return http_error(exc.status, endpoint or "the endpoint")
    if isinstance(exc, TencentCloudSDKException):
        code = exc.get_code() if isinstance(exc.get_code(), str) else ""  # may be any JSON
        if code == "ClientNetworkError":
            cause = transport_cause(exc, timed_out)
            if cause is None:
                # No exception chain to read (the SDK raised it itself): its text is all we have.
                text = str(exc.get_message()).lower()
                if "timed out" in text or "timeout" in text:
                    cause = (TIMEOUT, "no complete answer within the timeout")
                else:
                    cause = (CONNECTION_ERROR, "connection failed")
            return make_error(cause[0], where + cause[1])
        if code == "ServerNetworkError":
            # The SDK puts the raw body in the message; it is of no use and may be huge.
            return make_error(HTTP_ERROR, f"{where}non-200 HTTP answer")
        if code == "ClientSideError":
            return make_error(NO_CREDENTIALS, "no credentials found by the SDK's default chain")
        return make_error(code or BAD_RESPONSE, exc.get_message() or "", exc.get_request_id() or "")
    # Before the ValueError test: a certificate error is both an OSError and a ValueError.
    cause = transport_cause(exc, timed_out) if isinstance(exc, OSError) else None
    if cause is not None:
        return make_error(cause[0], where + cause[1])
    if isinstance(exc, (ValueError, LookupError, TypeError, AttributeError, RecursionError)):
        # json.JSONDecodeError is a ValueError: truncated or garbled answers land here.
        return make_error(BAD_RESPONSE, f"{where}unparseable answer ({type(exc).__name__})")
    cause = transport_cause(exc, timed_out)
    if cause is not None:
        return make_error(cause[0], where + cause[1])
    return make_error(CONNECTION_ERROR, f"{where}{type(exc).__name__}")
