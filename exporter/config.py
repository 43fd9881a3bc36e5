"""Configuration: pydantic models, YAML loading, ${ENV} interpolation, one-line errors.

Every problem is reported as one line "<key.path>: <what is wrong>", all of them at once, in file
order, so an operator can fix a config in one pass. Secrets never reach a message: nothing under
`credentials` is echoed, and neither is any value that came from an environment variable.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Hashable, Iterable, Mapping
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails, PydanticCustomError

from exporter.cssapi import DEFAULT_ENDPOINT, DOCUMENTED_LIMITS
from exporter.durations import format_duration, parse_duration
from exporter.problems import ProblemsError, kind, show
from exporter.safeyaml import parse_yaml

__all__ = [
    "RESERVED_LABEL_NAMES",
    "Account",
    "Config",
    "ConfigError",
    "Credentials",
    "StreamEntry",
    "Target",
    "load_config",
    "parse_config",
    "parse_duration",
    "summarize",
]

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
    }
)

MIN_INTERVAL = 10.0
MAX_INTERVAL = 3600.0
MAX_TIMEOUT = 60.0
MAX_WORKERS = 256
MAX_STREAM_NAME = 256
MIN_ROUND_ADVISED = 60.0  # the docs advise calling the list APIs about once a minute
MAX_PAGE_SIZE = 300_000  # the China site's OnlineList maximum; the international one is 100
DEFAULT_BUDGET_FRACTION = 0.25
DEFAULT_MAX_STREAMS = 20_000
DEFAULT_CALLBACK_PATH = "/callbacks/live"
MAX_API_LIMIT = 100_000

_ACCOUNT_NAME_RE = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_LABEL_NAME_RE = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_HOST_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_ENDPOINT_RE = re.compile(
    rf"(?:(?P<scheme>https?)://)?"
    rf"(?P<host>{_HOST_LABEL}(?:\.{_HOST_LABEL})*|\[[0-9A-Fa-f:.]+\])"
    rf"(?::(?P<port>\d{{1,5}}))?"
)

Loc = tuple[Hashable, ...]
# Keys printed bare in a path; anything else (spaces, dots, quotes) is printed as ["..."].
_PLAIN_KEY_RE = re.compile(r"[A-Za-z0-9_-]+")

# Custom errors carry their message as a template with "{value}" so that the translator can
# substitute a redacted form when the value is a secret or came from the environment.
_CUSTOM = "config"
_DEFER_CROSS_CHECKS = "defer_cross_checks"


def _invalid(template: str, value: str | None = None, **extra: str) -> PydanticCustomError:
    ctx: dict[str, str] = {"template": template, **extra}
    if value is not None:
        ctx["value"] = value
    return PydanticCustomError(_CUSTOM, template, ctx)


_show = show
_kind = kind


class ConfigError(ProblemsError):
    """A config that cannot be used; `problems` holds one line per problem."""


# ---------------------------------------------------------------------------------------------
# Field types


def _to_seconds(value: object) -> object:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise _invalid("must be a duration like 30s, 5m or 1h, got {value}", _show(value))
    try:
        return parse_duration(value)
    except ValueError:
        raise _invalid("invalid duration {value} (use e.g. 30s, 5m, 1h)", _show(value)) from None


Duration = Annotated[float, BeforeValidator(_to_seconds)]


def _not_bool(value: object) -> object:
    # pydantic's lax mode reads true as 1; a YAML "yes" is never meant as a number.
    if isinstance(value, bool):
        raise _invalid("must be a number, got {value}", _show(value))
    return value


def _check_label_name(name: str) -> str:
    if not _LABEL_NAME_RE.fullmatch(name):
        raise _invalid("invalid label name (must match [a-zA-Z_][a-zA-Z0-9_]*)")
    if name.startswith("__"):
        raise _invalid('label names starting with "__" are reserved by Prometheus')
    if name in RESERVED_LABEL_NAMES:
        raise _invalid(f'"{name}" is a label the exporter sets itself')
    return name


LabelName = Annotated[str, AfterValidator(_check_label_name)]
Labels = dict[LabelName, str]


def _check_token(value: str, what: str) -> str:
    """Shared shape rules for names that end up in API requests and metric labels."""
    if not value:
        raise _invalid("must not be empty")
    if any(ch.isspace() for ch in value):
        raise _invalid(f"{what} must not contain whitespace")
    return value


# ---------------------------------------------------------------------------------------------
# Models


class Credentials(BaseModel):
    """Explicit API credentials; when none are given the SDK's default chain is used."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    secret_id: str | None = None
    secret_key: SecretStr | None = None
    token: SecretStr | None = None

    @field_validator("secret_id", "secret_key", "token")
    @classmethod
    def _well_formed(cls, value: str | SecretStr | None) -> str | SecretStr | None:
        if value is None:
            return None
        text = value.get_secret_value() if isinstance(value, SecretStr) else value
        if not text:
            raise _invalid("must not be empty")
        if any(ch.isspace() for ch in text):
            # Typically a trailing newline from `export X=$(cat file)`; it breaks the signature.
            raise _invalid("must not contain whitespace")
        return value

    @model_validator(mode="after")
    def _complete(self) -> Credentials:
        if (self.secret_id is None) != (self.secret_key is None):
            missing = "secret_key" if self.secret_key is None else "secret_id"
            raise _invalid(
                f"secret_id and secret_key must be given together ({missing} is missing)"
            )
        if self.token is not None and self.secret_id is None:
            raise _invalid("token requires secret_id and secret_key")
        return self

    @property
    def uses_default_chain(self) -> bool:
        return self.secret_id is None and self.secret_key is None and self.token is None


class Account(BaseModel):
    """One Tencent Cloud account (API rate limits are per account)."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    name: str
    credentials: Credentials = Field(default_factory=Credentials)
    endpoint: str = DEFAULT_ENDPOINT
    budget_fraction: Annotated[float, BeforeValidator(_not_bool)] = DEFAULT_BUDGET_FRACTION
    api_limits: dict[str, Annotated[float, BeforeValidator(_not_bool)]] = Field(
        default_factory=dict
    )
    timeout: Duration = 5.0
    max_workers: Annotated[int | None, BeforeValidator(_not_bool)] = None
    callback_keys: list[SecretStr] = Field(default_factory=list)

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        if not _ACCOUNT_NAME_RE.fullmatch(value):
            raise _invalid(
                'invalid account name {value} (use 1-64 letters, digits, "_", "." or "-")',
                _show(value),
            )
        return value

    @field_validator("endpoint")
    @classmethod
    def _valid_endpoint(cls, value: str) -> str:
        match = _ENDPOINT_RE.fullmatch(value)
        if match is None or not 1 <= int(match["port"] or 443) <= 65535:
            raise _invalid(
                "invalid endpoint {value} (use host[:port] or http(s)://host[:port], no path)",
                _show(value),
            )
        return value

    @field_validator("budget_fraction")
    @classmethod
    def _possible_fraction(cls, value: float) -> float:
        # Written as a negated range so that NaN fails too.
        if not 0 < value <= 1:
            raise _invalid(
                "impossible budget_fraction {value} (must be > 0 and <= 1: the share of each"
                " action's per-account limit this exporter may spend)",
                f"{value:g}",
            )
        return value

    @field_validator("api_limits")
    @classmethod
    def _known_limits(cls, value: dict[str, float]) -> dict[str, float]:
        for action, limit in value.items():
            if action not in DOCUMENTED_LIMITS:
                raise _invalid(
                    "unknown action {value} (known: " + ", ".join(DOCUMENTED_LIMITS) + ")",
                    _show(action),
                )
            if not 0 < limit <= MAX_API_LIMIT:
                raise _invalid(
                    "impossible limit {value} for "
                    + action
                    + f" (must be > 0 and <= {MAX_API_LIMIT} req/s)",
                    f"{limit:g}",
                )
        return value

    @field_validator("callback_keys")
    @classmethod
    def _usable_keys(cls, value: list[SecretStr]) -> list[SecretStr]:
        if any(not key.get_secret_value() for key in value):
            raise _invalid("callback keys must not be empty")
        return value

    def budget(self, action: str) -> float:
        """Requests per second this exporter may spend on ``action`` for this account."""
        limit = self.api_limits.get(action, float(DOCUMENTED_LIMITS[action]))
        return limit * self.budget_fraction

    @field_validator("timeout")
    @classmethod
    def _sane_timeout(cls, value: float) -> float:
        if value <= 0:
            raise _invalid("must be greater than 0s")
        if value > MAX_TIMEOUT:
            raise _invalid(
                f"{{value}} is above the maximum of {format_duration(MAX_TIMEOUT)}",
                format_duration(value),
            )
        return value

    @field_validator("max_workers")
    @classmethod
    def _sane_workers(cls, value: int | None) -> int | None:
        if value is not None and not 1 <= value <= MAX_WORKERS:
            raise _invalid(f"must be between 1 and {MAX_WORKERS}, got {{value}}", str(value))
        return value

    def _endpoint_match(self) -> re.Match[str]:
        match = _ENDPOINT_RE.fullmatch(self.endpoint)
        assert match is not None, "endpoint was validated"
        return match

    @property
    def endpoint_host(self) -> str:
        """host[:port], without the scheme."""
        match = self._endpoint_match()
        return match["host"] + (f":{match['port']}" if match["port"] else "")

    @property
    def endpoint_scheme(self) -> Literal["http", "https"]:
        return "http" if self._endpoint_match()["scheme"] == "http" else "https"


class StreamEntry(BaseModel):
    """One stream to poll; YAML may write it as just its name."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    labels: Labels = Field(default_factory=dict)
    expect_live: bool | None = None
    down_after: Duration | None = None

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        _check_token(value, "stream name")
        if len(value) > MAX_STREAM_NAME:
            raise _invalid(f"stream name must be at most {MAX_STREAM_NAME} characters")
        return value

    @field_validator("down_after")
    @classmethod
    def _positive(cls, value: float | None) -> float | None:
        if value is not None and value <= 0:
            raise _invalid("must be greater than 0s")
        return value


class Target(BaseModel):
    """Streams of one push domain and app, polled together at one interval."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    account: str | None = None
    domain: str
    app: str = "live"
    mode: Literal["auto", "state", "online_list"] = "auto"
    interval: Duration = 60.0
    round_interval: Duration | None = None
    stale_after: Duration | None = None
    labels: Labels = Field(default_factory=dict)
    streams: list[StreamEntry] = Field(default_factory=list)
    discover: bool | None = None
    retention: Duration = 86400.0
    max_streams: Annotated[int, BeforeValidator(_not_bool)] = DEFAULT_MAX_STREAMS
    page_size: Annotated[int, BeforeValidator(_not_bool)] = 100
    forbid_check_interval: Duration = 600.0
    push_info: bool = True
    push_info_ips: bool = False
    down_after: Duration = 300.0

    @field_validator("domain")
    @classmethod
    def _valid_domain(cls, value: str) -> str:
        _check_token(value, "domain")
        if "/" in value:
            raise _invalid(
                "must be the bare push domain, e.g. push.example.com (no scheme or path), "
                "got {value}",
                _show(value),
            )
        return value

    @field_validator("app")
    @classmethod
    def _valid_app(cls, value: str) -> str:
        _check_token(value, "app")
        if "/" in value:
            raise _invalid("app must not contain /")
        return value

    @field_validator("interval")
    @classmethod
    def _sane_interval(cls, value: float) -> float:
        if value < MIN_INTERVAL:
            raise _invalid(
                f"{{value}} is below the minimum of {format_duration(MIN_INTERVAL)}",
                format_duration(value),
            )
        if value > MAX_INTERVAL:
            raise _invalid(
                f"{{value}} is above the maximum of {format_duration(MAX_INTERVAL)}",
                format_duration(value),
            )
        return value

    @field_validator("stale_after")
    @classmethod
    def _not_before_interval(cls, value: float | None, info: ValidationInfo) -> float | None:
        interval = info.data.get("interval")
        # A stream would flap to stale between two polls that both succeeded.
        if value is not None and interval is not None and value < interval:
            raise _invalid(
                "{value} is shorter than interval ({interval})",
                format_duration(value),
                interval=format_duration(interval),
            )
        return value

    @field_validator("streams", mode="before")
    @classmethod
    def _names_as_entries(cls, value: object) -> object:
        if isinstance(value, list):
            return [{"name": item} if isinstance(item, str) else item for item in value]
        return value

    @field_validator("round_interval")
    @classmethod
    def _sane_round(cls, value: float | None) -> float | None:
        return None if value is None else cls._sane_interval(value)

    @field_validator("max_streams")
    @classmethod
    def _sane_cap(cls, value: int) -> int:
        if not 1 <= value <= 1_000_000:
            raise _invalid("must be between 1 and 1000000, got {value}", str(value))
        return value

    @field_validator("page_size")
    @classmethod
    def _sane_page(cls, value: int) -> int:
        if not 1 <= value <= MAX_PAGE_SIZE:
            raise _invalid(f"must be between 1 and {MAX_PAGE_SIZE}, got {{value}}", str(value))
        return value

    @field_validator("retention", "forbid_check_interval", "down_after")
    @classmethod
    def _positive(cls, value: float) -> float:
        if value <= 0:
            raise _invalid("must be greater than 0s")
        return value

    @model_validator(mode="after")
    def _streams_or_discovery(self, info: ValidationInfo) -> Target:
        # parse_config reports these at their own keys (see _target_problems); models built in
        # code still get them here.
        if info.context and info.context.get(_DEFER_CROSS_CHECKS):
            return self
        problems = _target_problems(self.model_dump(), ())
        if problems:
            raise ValueError("; ".join(f"{loc[-1]}: {msg}" for loc, msg in problems))
        return self

    @property
    def discovers(self) -> bool:
        """Track every stream seen online: the default for a target that lists no streams."""
        return self.discover if self.discover is not None else not self.streams

    @property
    def effective_round_interval(self) -> float:
        """Online-list rounds run at the advised pace unless round_interval says otherwise."""
        if self.round_interval is not None:
            return self.round_interval
        return max(self.interval, MIN_ROUND_ADVISED)

    @property
    def effective_stale_after(self) -> float:
        return self.stale_after if self.stale_after is not None else 3 * self.interval


class CallbackSettings(BaseModel):
    """The CSS callback receiver, on the exporter's own port."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str = DEFAULT_CALLBACK_PATH
    max_age: Duration = 600.0

    @field_validator("path")
    @classmethod
    def _valid_path(cls, value: str) -> str:
        reserved = ("/metrics", "/-/")
        if not value.startswith("/") or value == "/" or value.startswith(reserved):
            raise _invalid(
                "must be an absolute path other than /, /metrics and /-/..., got {value}",
                _show(value),
            )
        return value

    @field_validator("max_age")
    @classmethod
    def _positive(cls, value: float) -> float:
        if value <= 0:
            raise _invalid("must be greater than 0s")
        return value


class Config(BaseModel):
    """The whole configuration. Targets' accounts are resolved when there is a single account."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    accounts: list[Account]
    targets: list[Target]
    callbacks: CallbackSettings = Field(default_factory=lambda: CallbackSettings())

    @model_validator(mode="before")
    @classmethod
    def _resolve_single_account(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        accounts, targets = data.get("accounts"), data.get("targets")
        if not (isinstance(accounts, list) and len(accounts) == 1 and isinstance(targets, list)):
            return data
        only = accounts[0]
        name = only.get("name") if isinstance(only, Mapping) else getattr(only, "name", None)
        if not isinstance(name, str):
            return data
        resolved: list[object] = []
        for target in targets:
            if isinstance(target, Mapping) and target.get("account") is None:
                target = {**target, "account": name}
            elif isinstance(target, Target) and target.account is None:
                target = target.model_copy(update={"account": name})
            resolved.append(target)
        return {**data, "targets": resolved}

    @field_validator("accounts")
    @classmethod
    def _some_accounts(cls, value: list[Account]) -> list[Account]:
        if not value:
            raise _invalid("at least one account is required")
        return value

    @field_validator("targets")
    @classmethod
    def _some_targets(cls, value: list[Target]) -> list[Target]:
        if not value:
            raise _invalid("at least one target is required")
        return value

    @model_validator(mode="after")
    def _consistent(self, info: ValidationInfo) -> Config:
        # parse_config runs these checks itself on the raw tree, so that they are reported even
        # when some fields are invalid; models built in code still get them here.
        if info.context and info.context.get(_DEFER_CROSS_CHECKS):
            return self
        problems = _cross_problems(self.model_dump())
        if problems:
            raise ValueError("; ".join(f"{_locate(loc, None)[0]}: {msg}" for loc, msg in problems))
        return self


# ---------------------------------------------------------------------------------------------
# Cross checks. They read a plain tree (raw YAML or a model dump) and tolerate malformed parts,
# which pydantic reports separately.

_BOOL = TypeAdapter(bool)


def _as_bool(value: object) -> bool | None:
    """A flag as pydantic would read it (true, "yes", ...); None when it cannot be read."""
    try:
        return _BOOL.validate_python(value)
    except ValidationError:
        return None


def _discovers(target: Mapping[Any, Any]) -> bool | None:
    """Target.discovers on a plain tree; None when a malformed key makes it unknown."""
    streams = target.get("streams")
    if streams is not None and not isinstance(streams, list):
        return None
    discover = target.get("discover")
    if discover is None:
        return not streams
    return _as_bool(discover)


def _target_problems(target: Mapping[Any, Any], loc: Loc) -> list[tuple[Loc, str]]:
    """Checks that combine several keys of one target, each reported at the key to change."""
    discovers = _discovers(target)
    if discovers is None:
        return []
    if not discovers and not target.get("streams"):
        return [((*loc, "streams"), "at least one stream is required unless discover is true")]
    if discovers and target.get("mode") == "state":
        if target.get("discover") is None:
            fix = "list the streams, or use auto or online_list"
        else:
            fix = "use auto or online_list, or set discover: false"
        message = (
            "state polls listed streams only and cannot discover (discovery reads the online"
            f" list): {fix}"
        )
        return [((*loc, "mode"), message)]
    return []


def _cross_problems(
    data: object, shown: Callable[[Loc, str], str] | None = None
) -> list[tuple[Loc, str]]:
    def show(loc: Loc, text: str) -> str:
        return shown(loc, text) if shown is not None else text

    if not isinstance(data, Mapping):
        return []
    problems: list[tuple[Loc, str]] = []
    raw_accounts = data.get("accounts")
    accounts = raw_accounts if isinstance(raw_accounts, list) else []
    first_account: dict[str, int] = {}
    # With an unusable account name (reported on its own) any reference might have meant it.
    all_names_known = True
    for index, account in enumerate(accounts):
        name = account.get("name") if isinstance(account, Mapping) else None
        if not isinstance(name, str) or not _ACCOUNT_NAME_RE.fullmatch(name):
            all_names_known = False
            continue
        if name in first_account:
            loc: Loc = ("accounts", index, "name")
            problems.append(
                (
                    loc,
                    f"duplicate account name {show(loc, json.dumps(name))}"
                    f" (first at accounts[{first_account[name]}])",
                )
            )
        else:
            first_account[name] = index
    known = ", ".join(show(("accounts", i, "name"), name) for name, i in first_account.items())
    single = next(iter(first_account)) if len(accounts) == 1 and first_account else None

    raw_targets = data.get("targets")
    targets = raw_targets if isinstance(raw_targets, list) else []
    seen: dict[tuple[str | None, str, str, str], Loc] = {}
    # (account, domain, app) -> the targets so far, with whether each discovers streams.
    tracked: dict[tuple[str | None, str, str], list[tuple[int, bool]]] = {}
    for t_index, target in enumerate(targets):
        if not isinstance(target, Mapping):
            continue
        problems.extend(_target_problems(target, ("targets", t_index)))
        account = target.get("account")
        account_loc: Loc = ("targets", t_index, "account")
        if account is None:
            account = single
            if len(accounts) > 1:
                problems.append(
                    (account_loc, f"required when several accounts are configured (known: {known})")
                )
        elif isinstance(account, str) and all_names_known and account not in first_account:
            problems.append(
                (
                    account_loc,
                    f"unknown account {show(account_loc, json.dumps(account))} (known: {known})",
                )
            )
        domain, app = target.get("domain"), target.get("app", "live")
        if not (isinstance(domain, str) and isinstance(app, str)):
            continue
        # Two targets polling one app would fight over its discovered streams.
        discovers = bool(_discovers(target))
        where = (account if isinstance(account, str) else None, domain, app)
        earlier = tracked.setdefault(where, [])
        clash = next((m for m, other in earlier if discovers or other), None)
        if clash is not None:
            domain_loc: Loc = ("targets", t_index, "domain")
            what = "/".join((show(domain_loc, domain), show(("targets", t_index, "app"), app)))
            if discovers:
                message = (
                    f"this target discovers streams of {what}, already tracked by"
                    f" targets[{clash}]: a discovering target must be the only one for its"
                    " account, domain and app"
                )
            else:
                message = (
                    f"{what} is already tracked by targets[{clash}], which discovers its streams:"
                    " list these streams there"
                )
            problems.append((domain_loc, message))
        earlier.append((t_index, discovers))
        streams = target.get("streams")
        if not isinstance(streams, list):
            continue
        for s_index, stream in enumerate(streams):
            stream_loc: Loc = ("targets", t_index, "streams", s_index)
            name, name_loc = stream, stream_loc
            if isinstance(stream, Mapping):
                name, name_loc = stream.get("name"), (*stream_loc, "name")
            if not isinstance(name, str) or not name:
                continue
            key = (account if isinstance(account, str) else None, domain, app, name)
            if key in seen:
                label = "/".join(
                    (
                        show(("targets", t_index, "domain"), domain),
                        show(("targets", t_index, "app"), app),
                        show(name_loc, name),
                    )
                )
                first = _locate(seen[key], None)[0]
                problems.append((stream_loc, f"duplicate stream {label} (first at {first})"))
            else:
                seen[key] = stream_loc
    return problems


# ---------------------------------------------------------------------------------------------
# Locations and error translation


def _locate(loc: Iterable[Hashable], raw: object) -> tuple[str, tuple[int, ...], Loc]:
    """Map a pydantic loc onto the raw tree: (printable path, file-order sort key, raw loc).

    pydantic's loc can go deeper than the raw tree (a stream written as a plain string is
    validated as {"name": ...}) and marks dict keys with "[key]"; both are folded away.
    """
    path = ""
    order: list[int] = []
    raw_loc: list[Hashable] = []
    node: object = raw
    for part in loc:
        if part == "[key]":
            continue
        if isinstance(node, str):
            break
        if isinstance(part, int) and not isinstance(node, Mapping):
            path += f"[{part}]"
            order.append(part)
            node = node[part] if isinstance(node, list) and 0 <= part < len(node) else None
        else:
            if isinstance(node, Mapping):
                # pydantic reports a YAML `yes:` key as 1; print the key the way it was read.
                part = next((key for key in node if key == part), part)
                keys = list(node)
                order.append(keys.index(part) if part in node else len(keys))
                node = node.get(part)
            else:
                order.append(0)
                node = None
            text = _show(part) if isinstance(part, bool) or part is None else str(part)
            if _is_secret((*raw_loc, part)) and len(raw_loc) == 3 and text not in _SECRET_FIELDS:
                # A key someone mistyped under credentials may be the secret itself.
                text = "<unknown key>"
            if _PLAIN_KEY_RE.fullmatch(text):
                path += f".{text}" if path else text
            else:
                path += f"[{json.dumps(text, ensure_ascii=False)}]"
        raw_loc.append(part)
    return path, tuple(order), tuple(raw_loc)


_SECRET_FIELDS = frozenset({"secret_id", "secret_key", "token"})


def _is_secret(raw_loc: Loc) -> bool:
    return (
        len(raw_loc) >= 3
        and raw_loc[0] == "accounts"
        and raw_loc[2] in ("credentials", "callback_keys")
    )


def _parent_is_streams(raw_loc: Loc) -> bool:
    return len(raw_loc) >= 2 and raw_loc[-2] == "streams" and isinstance(raw_loc[-1], int)


def _type_hint(value: object) -> str:
    # YAML reads 007 as 7 and yes as true; quoting is the fix the reader needs.
    return " (quote it)" if isinstance(value, bool | int | float) else ""


def _message(error: ErrorDetails, raw_loc: Loc, interpolated: Mapping[Loc, str]) -> str:
    kind = error["type"]
    value = error.get("input")
    ctx: dict[str, Any] = dict(error.get("ctx") or {})
    secret = _is_secret(raw_loc)

    def got() -> str:
        if secret:
            return _kind(value)
        if raw_loc in interpolated:
            return interpolated[raw_loc]
        return _show(value)

    if kind == _CUSTOM:
        text: str = ctx.pop("template")
        if "value" in ctx and (secret or raw_loc in interpolated):
            ctx["value"] = got()
        # Other placeholders are named after the sibling field they quote (e.g. {interval}).
        for name, shown in ctx.items():
            sibling = (*raw_loc[:-1], name)
            if name != "value" and sibling in interpolated:
                shown = interpolated[sibling]
            text = text.replace("{" + name + "}", str(shown))
        return text
    if kind in ("extra_forbidden", "invalid_key"):
        return "unknown key"
    if kind == "missing":
        return "required key is missing"
    if kind in ("float_type", "float_parsing", "finite_number"):
        return f"must be a number, got {got()}"
    if kind in ("int_type", "int_parsing", "int_from_float", "int_parsing_size"):
        return f"must be a whole number, got {got()}"
    if kind in ("bool_type", "bool_parsing"):
        return f"must be true or false, got {got()}"
    if kind == "string_type":
        # Only label maps have keys that are validated, so a bad key is a bad label name.
        what = "label name" if "[key]" in error["loc"] else ""
        return f"{what} must be a string, got {got()}{_type_hint(value)}".lstrip()
    if kind in ("model_type", "model_attributes_type", "dict_type", "mapping_type"):
        if _parent_is_streams(raw_loc):
            return f"must be a stream name or a mapping, got {got()}{_type_hint(value)}"
        return f"must be a mapping, got {got()}"
    if kind == "list_type":
        return f"must be a list, got {got()}"
    if kind == "literal_error":
        # ctx["expected"] reads "'auto', 'state' or 'online_list'".
        choices = str(ctx.get("expected", "")).replace("'", "").replace(" or ", ", ")
        return f"must be one of {choices}, got {got()}"
    if kind == "value_error":
        return str(ctx.get("error", error["msg"]))
    # Not expected from these models; pydantic's own wording is still one line.
    return error["msg"]


# ---------------------------------------------------------------------------------------------
# Interpolation

_REFERENCE_RE = re.compile(r"\$\$\{|\$\{(?P<body>[^}]*)(?P<close>\})?")
_BAD_REFERENCE = "invalid ${...} reference (use ${VAR} or ${VAR:-default}; $${ for a literal ${)"
_BODY_RE = re.compile(r"(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>.*))?", re.DOTALL)


def _interpolate(
    node: object,
    env: Mapping[str, str],
    loc: Loc,
    interpolated: dict[Loc, str],
    problems: list[tuple[Loc, str]],
) -> object:
    """Expand ${VAR} and ${VAR:-default} in every string of the tree; $${ is a literal ${."""
    if isinstance(node, dict):
        return {
            key: _interpolate(value, env, (*loc, key), interpolated, problems)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [
            _interpolate(item, env, (*loc, index), interpolated, problems)
            for index, item in enumerate(node)
        ]
    if not isinstance(node, str) or "${" not in node:
        return node

    referenced = False

    def expand(match: re.Match[str]) -> str:
        nonlocal referenced
        if match.group(0) == "$${":
            return "${"
        body = _BODY_RE.fullmatch(match["body"]) if match["close"] else None
        if body is None:
            # The text is not echoed: under credentials it may be part of a secret.
            problems.append((loc, _BAD_REFERENCE))
            return ""
        referenced = True
        value = env.get(body["name"])
        if body["default"] is not None and not value:
            return body["default"]
        if value is None:
            problems.append((loc, f"environment variable {body['name']} is not set"))
            return ""
        return value

    result = _REFERENCE_RE.sub(expand, node)
    if referenced:
        interpolated[loc] = node
    return result


# ---------------------------------------------------------------------------------------------
# Loading


def parse_config(
    text: str, env: Mapping[str, str] | None = None, source: str = "<config>"
) -> Config:
    """Parse YAML text into a Config, or raise ConfigError listing every problem found."""
    environ: Mapping[str, str] = os.environ if env is None else env
    raw = parse_yaml(text, source, ConfigError)
    if raw is None:
        raise ConfigError([f"{source}: config is empty"])
    if not isinstance(raw, dict):
        raise ConfigError(
            [f"{source}: top level must be a mapping with accounts and targets, got {_kind(raw)}"]
        )

    interpolated: dict[Loc, str] = {}
    env_problems: list[tuple[Loc, str]] = []
    data = _interpolate(raw, environ, (), interpolated, env_problems)

    # (file order, sequence) keeps several problems at one place in the order they were found.
    found: list[tuple[tuple[int, ...], int, str]] = []

    def add(loc: Iterable[Hashable], message: str) -> None:
        path, order, _ = _locate(loc, raw)
        found.append((order, len(found), f"{path}: {message}"))

    for loc, message in env_problems:
        add(loc, message)
    # A failed interpolation leaves "" behind; complaints about that "" would only mislead.
    spoiled = {loc for loc, _ in env_problems}

    def is_spoiled(raw_loc: Loc) -> bool:
        return any(raw_loc[: len(bad)] == bad for bad in spoiled)

    config: Config | None = None
    try:
        config = Config.model_validate(data, context={_DEFER_CROSS_CHECKS: True})
    except ValidationError as exc:
        for error in exc.errors():
            _, _, raw_loc = _locate(error["loc"], raw)
            if not is_spoiled(raw_loc):
                add(error["loc"], _message(error, raw_loc, interpolated))

    def shown(loc: Loc, text: str) -> str:
        return interpolated.get(loc, text)

    for loc, message in _cross_problems(data, shown):
        if not is_spoiled(loc):
            add(loc, message)

    if found or config is None:
        raise ConfigError(line for _, _, line in sorted(found, key=lambda item: item[:2]))
    return config


def load_config(path: str | os.PathLike[str], env: Mapping[str, str] | None = None) -> Config:
    """Read and parse a config file; see parse_config."""
    source = os.fspath(path)
    try:
        with open(source, encoding="utf-8") as handle:
            text = handle.read()
    except UnicodeDecodeError as exc:
        raise ConfigError([f"{source}: cannot read config: not UTF-8 (byte {exc.start})"]) from None
    except OSError as exc:
        raise ConfigError([f"{source}: cannot read config: {exc.strerror or exc}"]) from None
    return parse_config(text, env, source=source)


# ---------------------------------------------------------------------------------------------
# Summary for --config.check


def _mask(secret_id: str) -> str:
    # Enough to tell two keys apart, far too little to use one.
    return f"{secret_id[:4]}****{secret_id[-4:]}" if len(secret_id) >= 12 else "****"


def _describe_credentials(credentials: Credentials) -> str:
    if credentials.secret_id is None:
        return "credentials from the SDK default chain"
    token = ", with token" if credentials.token is not None else ""
    return f"credentials explicit (secret_id {_mask(credentials.secret_id)}{token})"


def summarize(config: Config) -> str:
    """A human summary of a valid config; never contains secret_key or token."""
    lines = [f"accounts: {len(config.accounts)}"]
    for account in config.accounts:
        details = [
            f"endpoint {account.endpoint}",
            _describe_credentials(account.credentials),
            f"budget {account.budget_fraction:g} of each action's limit"
            f" ({account.budget('DescribeLiveStreamState'):g} State req/s)",
            f"timeout {format_duration(account.timeout)}",
        ]
        if account.max_workers is not None:
            details.append(f"max_workers {account.max_workers}")
        if account.callback_keys:
            details.append(f"{len(account.callback_keys)} callback key(s)")
        lines.append(f"  {account.name}: {', '.join(details)}")
    total = sum(len(target.streams) for target in config.targets)
    lines.append(f"targets: {len(config.targets)}, streams: {total}")
    for target in config.targets:
        count = len(target.streams)
        line = (
            f"  {target.account} {target.domain}/{target.app}:"
            f" {count} stream{'' if count == 1 else 's'}"
            + (" + discovery" if target.discovers else "")
            + f", mode {target.mode}"
            f", every {format_duration(target.interval)}"
            f" (stale after {format_duration(target.effective_stale_after)})"
        )
        if target.labels:
            line += ", labels " + ", ".join(f"{k}={v}" for k, v in target.labels.items())
        expected = sum(1 for stream in target.streams if stream.expect_live is not None)
        if expected:
            line += f", expect_live set on {expected}"
        lines.append(line)
    return "\n".join(lines)
