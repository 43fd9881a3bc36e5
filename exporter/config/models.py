"""The config models: an account, a target and its streams, the callback receiver, the whole.

Models built in code validate themselves completely. ``parse_config`` validates with
``DEFER_CROSS_CHECKS`` in the context and runs the checks that combine several keys itself, on
the raw tree (``checks.py``), so that they are reported at the key to change even when other
fields are invalid.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from exporter.config.accounts import Account
from exporter.config.checks import cross_problems, target_problems
from exporter.config.expect import ExpectLive, ScheduleName, ScheduleSpec
from exporter.config.families import MetricsSettings
from exporter.config.fields import (
    DEFAULT_CALLBACK_PATH,
    DEFAULT_MAX_STREAMS,
    DEFER_CROSS_CHECKS,
    MAX_APP_NAME,
    MAX_DOMAIN_NAME,
    MAX_INTERVAL,
    MAX_PAGE_SIZE,
    MIN_INTERVAL,
    MIN_PAGE_SIZE,
    MIN_ROUND_ADVISED,
    Duration,
    Labels,
    check_stream_name,
    check_token,
    invalid,
    may_hold_secret,
    not_bool,
)
from exporter.config.playback import PlayDomainName
from exporter.config.quality import Quality
from exporter.durations import format_duration
from exporter.problems import key_path, show

# MetricsSettings lives in families.py; still exported here for importers from before the move.
__all__ = ["CallbackSettings", "Config", "MetricsSettings", "StreamEntry", "Target"]


class StreamEntry(BaseModel):
    """One stream to poll; YAML may write it as just its name."""

    # A name may be a pasted push URL with its secret: never in an error's text.
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    name: str
    labels: Labels = Field(default_factory=dict)
    # true, false, or a broadcast schedule (config/expect.py); None: the target's.
    expect_live: ExpectLive | None = None
    down_after: Duration | None = None
    quality: Quality | None = None  # over the target's

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        return check_stream_name(value)

    @field_validator("down_after")
    @classmethod
    def _positive(cls, value: float | None) -> float | None:
        if value is not None and value <= 0:
            raise invalid("must be greater than 0s")
        return value

    def bare(self) -> bool:
        """Only a name: everything else is the target's (most entries of a large fleet, which
        planning and the reload fingerprint then handle once per target)."""
        return not self.labels and (
            self.expect_live is None and self.down_after is None and self.quality is None
        )

    @classmethod
    def named(cls, name: str) -> StreamEntry:
        """The entry of a stream written as its bare name, which ``plain_name`` accepted.

        What validation builds from ``{"name": name}``, built directly, as pydantic's
        ``model_construct`` does: a large fleet's config is mostly bare names, and validating
        100,000 of them costs 0.2 s and 76 MB, this a third of each (every such entry shares
        one fields-set).
        """
        entry = cls.__new__(cls)
        fields: dict[str, object] = {
            "name": name,
            "labels": {},
            "expect_live": None,
            "down_after": None,
            "quality": None,
        }
        object.__setattr__(entry, "__dict__", fields)
        object.__setattr__(entry, "__pydantic_fields_set__", _NAME_ONLY)
        object.__setattr__(entry, "__pydantic_extra__", None)
        object.__setattr__(entry, "__pydantic_private__", None)
        return entry


# Shared by every entry from StreamEntry.named. pydantic writes a fields-set only on attribute
# assignment (refused: the model is frozen) and copies it first in model_copy.
_NAME_ONLY: set[str] = {"name"}


class Target(BaseModel):
    """Streams of one push domain and app, polled together at one interval."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

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
    max_streams: Annotated[int, BeforeValidator(not_bool)] = DEFAULT_MAX_STREAMS
    # None: the account's site's default (cssapi.default_list_page_size).
    page_size: Annotated[int | None, BeforeValidator(not_bool)] = None
    forbid_check_interval: Duration = 600.0
    push_info: bool = True
    push_info_ips: bool = False
    down_after: Duration = 300.0
    # The default of its listed streams (not of discovered ones): true, false or a schedule.
    expect_live: ExpectLive | None = None
    quality: Quality | None = None
    # Play domains that serve this target's push domain (besides the account's play_domains).
    play_domains: list[PlayDomainName] = Field(default_factory=list)

    @field_validator("domain")
    @classmethod
    def _valid_domain(cls, value: str) -> str:
        if may_hold_secret(value):
            raise invalid(
                "must be the bare push domain, e.g. push.example.com; this looks like a push URL"
                " with a query string (not shown: it may hold a push secret)"
            )
        check_token(value, "domain")
        if len(value) > MAX_DOMAIN_NAME:
            raise invalid(f"domain must be at most {MAX_DOMAIN_NAME} characters")
        if "/" in value:
            raise invalid(
                "must be the bare push domain, e.g. push.example.com (no scheme or path), "
                "got {value}",
                show(value),
            )
        return value

    @field_validator("app")
    @classmethod
    def _valid_app(cls, value: str) -> str:
        check_token(value, "app")
        if len(value) > MAX_APP_NAME:
            raise invalid(f"app must be at most {MAX_APP_NAME} characters")
        if "/" in value:
            raise invalid("app must not contain /")
        return value

    @field_validator("interval")
    @classmethod
    def _sane_interval(cls, value: float) -> float:
        if value < MIN_INTERVAL:
            raise invalid(
                f"{{value}} is below the minimum of {format_duration(MIN_INTERVAL)}",
                format_duration(value),
            )
        if value > MAX_INTERVAL:
            raise invalid(
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
            raise invalid(
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
            raise invalid("must be between 1 and 1000000, got {value}", str(value))
        return value

    @field_validator("page_size")
    @classmethod
    def _sane_page(cls, value: int | None) -> int | None:
        # The widest range either site documents (China: 10..300000); the account's own site
        # is checked with the other keys (checks.page_size_problems).
        if value is not None and not MIN_PAGE_SIZE <= value <= MAX_PAGE_SIZE:
            raise invalid(
                f"must be between {MIN_PAGE_SIZE} and {MAX_PAGE_SIZE}, got {{value}}", str(value)
            )
        return value

    @field_validator("retention", "forbid_check_interval", "down_after")
    @classmethod
    def _positive(cls, value: float) -> float:
        if value <= 0:
            raise invalid("must be greater than 0s")
        return value

    @model_validator(mode="after")
    def _streams_or_discovery(self, info: ValidationInfo) -> Target:
        # parse_config reports these at their own keys (see checks.py); models built in
        # code still get them here.
        if info.context and info.context.get(DEFER_CROSS_CHECKS):
            return self
        problems = target_problems(self.model_dump(), ())
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
    # How long CSS makes a callback valid (its `t` is the event time plus this): a body whose
    # event claims to be newer than its signature is refused as replayed.
    max_age: Duration = 600.0
    # CSS signs only `t`, not the body: one (t, sign) pair signs any body until t. A pair is
    # accepted for this many new events (all the events of one second share a pair), then
    # refused as replayed.
    max_events_per_signature: Annotated[int, BeforeValidator(not_bool)] = 1000
    allow_networks: list[str] = Field(default_factory=list)  # CIDRs; [] allows any
    trusted_proxies: list[str] = Field(default_factory=list)  # CIDRs whose X-Forwarded-For counts

    @field_validator("path")
    @classmethod
    def _valid_path(cls, value: str) -> str:
        reserved = ("/metrics", "/-/")
        if not value.startswith("/") or value == "/" or value.startswith(reserved):
            raise invalid(
                "must be an absolute path other than /, /metrics and /-/..., got {value}",
                show(value),
            )
        return value

    @field_validator("max_age")
    @classmethod
    def _positive(cls, value: float) -> float:
        if value <= 0:
            raise invalid("must be greater than 0s")
        return value

    @field_validator("allow_networks", "trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for item in value:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise invalid(
                    "not a network {value} (use a CIDR like 10.0.0.0/8 or an address)", show(item)
                ) from None
        return value

    @field_validator("max_events_per_signature")
    @classmethod
    def _sane_events(cls, value: int) -> int:
        if not 1 <= value <= 1_000_000:
            raise invalid("must be between 1 and 1000000, got {value}", str(value))
        return value


class Config(BaseModel):
    """The whole configuration. Targets' accounts are resolved when there is a single account."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    accounts: list[Account]
    targets: list[Target]
    callbacks: CallbackSettings = Field(default_factory=lambda: CallbackSettings())
    metrics: MetricsSettings = Field(default_factory=lambda: MetricsSettings())
    # Named broadcast schedules (expect_live: {schedule: NAME}); the loader adds those of
    # schedules_file, a YAML file with a `schedules` mapping that is read again on every reload.
    schedules: dict[ScheduleName, ScheduleSpec] = Field(default_factory=dict)
    schedules_file: str | None = None
    # Where the exporter keeps what it must remember across restarts (how far the event list
    # was read, for the backfill after a restart); None: nothing is kept.
    state_file: str | None = None

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
            raise invalid("at least one account is required")
        return value

    @field_validator("targets")
    @classmethod
    def _some_targets(cls, value: list[Target]) -> list[Target]:
        if not value:
            raise invalid("at least one target is required")
        return value

    @model_validator(mode="after")
    def _consistent(self, info: ValidationInfo) -> Config:
        # parse_config runs these checks itself on the raw tree, so that they are reported even
        # when some fields are invalid; models built in code still get them here.
        if info.context and info.context.get(DEFER_CROSS_CHECKS):
            return self
        problems = cross_problems(self.model_dump())
        if problems:
            raise ValueError("; ".join(f"{key_path(loc)}: {msg}" for loc, msg in problems))
        return self
