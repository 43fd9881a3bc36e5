"""The CSS API over the official SDK: one account's calls, with every failure classified.

Only this package talks to the SDK. It knows nothing about Prometheus: callers pass a hook that
is told about every call (action, duration, error) and do their own accounting.

- ``css``: :class:`CssClient`, one account's calls (the :class:`ApiClient` protocol);
- ``transport``: the requests transport under the SDK, with a deadline for each whole call;
- ``errors``: every failure as a bounded error code and the class the poller reacts to;
- ``answers``: decoded answers to values (pure).
"""

from exporter.client.answers import (
    EMPTY_PAGE,
    NOTHING_LIVE,
    Page,
    beijing_to_unix,
    parse_forbid_page,
    parse_online_page,
    parse_push_item,
    parse_push_page,
    parse_resolution,
    parse_response,
    parse_stream_state,
)
from exporter.client.css import ApiClient, CallHook, ClientSettings, CssClient, decode_answer
from exporter.client.errors import (
    BAD_RESPONSE,
    CONNECTION_ERROR,
    CONNECTION_REFUSED,
    CONNECTION_RESET,
    DNS_FAILURE,
    HTTP_ERROR,
    NO_CREDENTIALS,
    THROTTLING_HTTP_CODES,
    TIMEOUT,
    TLS_ERROR,
    TRANSPORT_CODES,
    classify,
    error_from_exception,
    make_error,
    transport_cause,
)

__all__ = [
    "BAD_RESPONSE",
    "CONNECTION_ERROR",
    "CONNECTION_REFUSED",
    "CONNECTION_RESET",
    "DNS_FAILURE",
    "EMPTY_PAGE",
    "HTTP_ERROR",
    "NOTHING_LIVE",
    "NO_CREDENTIALS",
    "THROTTLING_HTTP_CODES",
    "TIMEOUT",
    "TLS_ERROR",
    "TRANSPORT_CODES",
    "ApiClient",
    "CallHook",
    "ClientSettings",
    "CssClient",
    "Page",
    "beijing_to_unix",
    "classify",
    "decode_answer",
    "error_from_exception",
    "make_error",
    "parse_forbid_page",
    "parse_online_page",
    "parse_push_item",
    "parse_push_page",
    "parse_resolution",
    "parse_response",
    "parse_stream_state",
    "transport_cause",
]
