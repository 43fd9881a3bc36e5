"""Limits, shared patterns and the field types of the config models (durations, labels, names).

Custom errors carry their message as a template with ``{value}``, so that the error translation
(``errors.py``) can put a redacted form in its place when the value is a secret or came from the
environment.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator
from pydantic_core import PydanticCustomError

from exporter.durations import parse_duration

# Re-exported: the config's limits, shared with the callback receiver (exporter/model.py).
from exporter.model import MAX_APP_NAME as MAX_APP_NAME
from exporter.model import MAX_DOMAIN_NAME as MAX_DOMAIN_NAME
from exporter.model import MAX_STREAM_NAME as MAX_STREAM_NAME
from exporter.problems import show

# Labels the exporter attaches itself; a user label with the same name would clash in exposition.
RESERVED_LABEL_NAMES: frozenset[str] = frozenset(
    {
        "account",
        "domain",
        "app",
        "stream",
        "state",
        "code",
        "action",
        "source",
        "target",
        "le",
        "quantile",
        "version",
        "expect_live",
        # The history families' own labels (exposition/watch.py).
        "reason",
        "error",
        "message",
    }
)

MIN_INTERVAL = 10.0
MAX_INTERVAL = 3600.0
MAX_TIMEOUT = 60.0
MAX_WORKERS = 256
MIN_ROUND_ADVISED = 60.0  # the docs advise calling the list APIs about once a minute
# DescribeLiveStreamOnlineList PageSize: 10..300000 on the China site, 10..100 on the international
# one (cssapi.CHINA_FACTS / INTL_FACTS).
MIN_PAGE_SIZE = 10
MAX_PAGE_SIZE = 300_000
DEFAULT_BUDGET_FRACTION = 0.25
DEFAULT_MAX_STREAMS = 20_000
DEFAULT_CALLBACK_PATH = "/callbacks/live"
MAX_API_LIMIT = 100_000

ACCOUNT_NAME_RE = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_LABEL_NAME_RE = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_HOST_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
ENDPOINT_RE = re.compile(
    rf"(?:(?P<scheme>https?)://)?"
    rf"(?P<host>{_HOST_LABEL}(?:\.{_HOST_LABEL})*|\[[0-9A-Fa-f:.]+\])"
    rf"(?::(?P<port>\d{{1,5}}))?"
)

# The error type of custom errors, and the validation context key that defers cross checks.
CUSTOM = "config"
DEFER_CROSS_CHECKS = "defer_cross_checks"


def invalid(template: str, value: str | None = None, **extra: str) -> PydanticCustomError:
    ctx: dict[str, str] = {"template": template, **extra}
    if value is not None:
        ctx["value"] = value
    return PydanticCustomError(CUSTOM, template, ctx)


def _to_seconds(value: object) -> object:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise invalid("must be a duration like 30s, 5m or 1h, got {value}", show(value))
    try:
        return parse_duration(value)
    except ValueError:
        raise invalid("invalid duration {value} (use e.g. 30s, 5m, 1h)", show(value)) from None


Duration = Annotated[float, BeforeValidator(_to_seconds)]


def not_bool(value: object) -> object:
    # pydantic's lax mode reads true as 1; a YAML "yes" is never meant as a number.
    if isinstance(value, bool):
        raise invalid("must be a number, got {value}", show(value))
    return value


def _check_label_name(name: str) -> str:
    if not _LABEL_NAME_RE.fullmatch(name):
        raise invalid("invalid label name (must match [a-zA-Z_][a-zA-Z0-9_]*)")
    if name.startswith("__"):
        raise invalid('label names starting with "__" are reserved by Prometheus')
    if name in RESERVED_LABEL_NAMES:
        raise invalid(f'"{name}" is a label the exporter sets itself')
    return name


LabelName = Annotated[str, AfterValidator(_check_label_name)]
Labels = dict[LabelName, str]

# Same characters as str.isspace(); one search instead of a generator per character.
_WHITESPACE_RE = re.compile(r"\s")


def check_token(value: str, what: str) -> str:
    """Shared shape rules for names that end up in API requests and metric labels."""
    if not value:
        raise invalid("must not be empty")
    if _WHITESPACE_RE.search(value):
        raise invalid(f"{what} must not contain whitespace")
    return value


# A pasted push URL (rtmp://push.example.com/live/name?txSecret=...&txTime=...) would put its
# secret into a label value on every series of the stream, and into any message quoting it.
_URL_LIKE_RE = re.compile(r"\?|://|txsecret|txtime|^rtmps?:", re.IGNORECASE)
# One search covers every rule of the common, valid name.
_NAME_TROUBLE_RE = re.compile(r"[\s?]|://|txsecret|txtime|^rtmps?:", re.IGNORECASE)
URL_LIKE_NAME = (
    "stream name looks like a push URL or carries a query string (not shown: it may hold a"
    ' push secret): give the bare stream name, the part after "/<app>/" and before "?"'
)


_SECRET_HINT_RE = re.compile(r"\?|txsecret|txtime", re.IGNORECASE)


def may_hold_secret(value: str) -> bool:
    """A query string or a push URL's signing parameters: never to be echoed."""
    return _SECRET_HINT_RE.search(value) is not None


def url_like(value: str) -> bool:
    """A value that may carry a push URL's secret, and so must never be echoed."""
    return _URL_LIKE_RE.search(value) is not None


def plain_name(value: str) -> bool:
    """Whether ``check_stream_name`` accepts ``value``, in one regex search."""
    return 0 < len(value) <= MAX_STREAM_NAME and _NAME_TROUBLE_RE.search(value) is None


def check_stream_name(value: str) -> str:
    if plain_name(value):
        return value
    if url_like(value):
        raise invalid(URL_LIKE_NAME)
    check_token(value, "stream name")
    if len(value) > MAX_STREAM_NAME:
        raise invalid(f"stream name must be at most {MAX_STREAM_NAME} characters")
    return value
