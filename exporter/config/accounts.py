"""The account models: credentials, endpoint, budget and limits of one Tencent Cloud account."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)

from exporter.config.fields import (
    ACCOUNT_NAME_RE,
    DEFAULT_BUDGET_FRACTION,
    ENDPOINT_RE,
    MAX_API_LIMIT,
    MAX_TIMEOUT,
    MAX_WORKERS,
    MIN_INTERVAL,
    Duration,
    invalid,
    not_bool,
)
from exporter.config.playback import PlaybackSettings, PlayDomain
from exporter.cssapi import DEFAULT_ENDPOINT, DOCUMENTED_LIMITS, SITE_FACTS, SiteFacts, site_of
from exporter.durations import format_duration
from exporter.problems import show

__all__ = ["Account", "CallbackAudit", "Credentials", "EventHistory"]


def _sane_round_interval(value: float) -> float:
    # Minutes are what these rounds are for; 10s is allowed for tests and demos.
    if not MIN_INTERVAL <= value <= 86400:
        raise invalid("{value} is outside 10s to 1d", format_duration(value))
    return value


class EventHistory(BaseModel):
    """DescribeLiveStreamEventList rounds: why streams stopped (also without a callback), and
    after a restart the interrupts of the gap (with the config's state_file)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    interval: Duration = 300.0
    # Pages (100 sessions each) a round may read; what is left is read by the next round.
    max_pages: Annotated[int, BeforeValidator(not_bool)] = 20
    # How far back the first round after a restart reads (from where the last process stopped).
    backfill: Duration = 86400.0

    @field_validator("interval")
    @classmethod
    def _sane_interval(cls, value: float) -> float:
        return _sane_round_interval(value)

    @field_validator("max_pages")
    @classmethod
    def _sane_pages(cls, value: int) -> int:
        # 100 pages of 100 is the 10,000 records a query may page through (267/33186).
        if not 1 <= value <= 100:
            raise invalid("must be between 1 and 100, got {value}", str(value))
        return value

    @field_validator("backfill")
    @classmethod
    def _sane_backfill(cls, value: float) -> float:
        # The event list keeps two months; a query spans at most a month (267/33186).
        if not 0 <= value <= 30 * 86400:
            raise invalid("{value} is outside 0s to 30d", format_duration(value))
        return value


class CallbackAudit(BaseModel):
    """DescribeCallbackRecordsList rounds: the callbacks CSS says it sent, against those this
    exporter accepted. Only for accounts with callback_keys."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    interval: Duration = 300.0
    # Streams audited per round: the API is asked per stream name (StreamName is required).
    max_streams: Annotated[int, BeforeValidator(not_bool)] = 20

    @field_validator("interval")
    @classmethod
    def _sane_interval(cls, value: float) -> float:
        return _sane_round_interval(value)

    @field_validator("max_streams")
    @classmethod
    def _sane_streams(cls, value: int) -> int:
        if not 1 <= value <= 1000:
            raise invalid("must be between 1 and 1000, got {value}", str(value))
        return value


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
            raise invalid("must not be empty")
        if any(ch.isspace() for ch in text):
            # Typically a trailing newline from `export X=$(cat file)`; it breaks the signature.
            raise invalid("must not contain whitespace")
        return value

    @model_validator(mode="after")
    def _complete(self) -> Credentials:
        if (self.secret_id is None) != (self.secret_key is None):
            missing = "secret_key" if self.secret_key is None else "secret_id"
            raise invalid(f"secret_id and secret_key must be given together ({missing} is missing)")
        if self.token is not None and self.secret_id is None:
            raise invalid("token requires secret_id and secret_key")
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
    budget_fraction: Annotated[float, BeforeValidator(not_bool)] = DEFAULT_BUDGET_FRACTION
    api_limits: dict[str, Annotated[float, BeforeValidator(not_bool)]] = Field(default_factory=dict)
    timeout: Duration = 5.0
    max_workers: Annotated[int | None, BeforeValidator(not_bool)] = None
    callback_keys: list[SecretStr] = Field(default_factory=list)
    # Which Tencent Cloud site the account is on: its limits and page sizes differ. Unset: intl
    # for the international endpoint, else the stricter of the two sites' facts.
    site: Literal["china", "intl"] | None = None
    event_history: EventHistory = Field(default_factory=lambda: EventHistory())
    callback_audit: CallbackAudit = Field(default_factory=lambda: CallbackAudit())
    # The account's play domains and the push domains each serves (playback: what viewers see);
    # none: no playback call is made (exporter/config/playback.py).
    play_domains: list[PlayDomain] = Field(default_factory=list)
    playback: PlaybackSettings = Field(default_factory=PlaybackSettings)

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        if not ACCOUNT_NAME_RE.fullmatch(value):
            raise invalid(
                'invalid account name {value} (use 1-64 letters, digits, "_", "." or "-")',
                show(value),
            )
        return value

    @field_validator("endpoint")
    @classmethod
    def _valid_endpoint(cls, value: str) -> str:
        match = ENDPOINT_RE.fullmatch(value)
        if match is None or not 1 <= int(match["port"] or 443) <= 65535:
            raise invalid(
                "invalid endpoint {value} (use host[:port] or http(s)://host[:port], no path)",
                show(value),
            )
        return value

    @field_validator("budget_fraction")
    @classmethod
    def _possible_fraction(cls, value: float) -> float:
        # Written as a negated range so that NaN fails too.
        if not 0 < value <= 1:
            raise invalid(
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
                raise invalid(
                    "unknown action {value} (known: " + ", ".join(DOCUMENTED_LIMITS) + ")",
                    show(action),
                )
            if not 0 < limit <= MAX_API_LIMIT:
                raise invalid(
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
            raise invalid("callback keys must not be empty")
        return value

    @property
    def site_name(self) -> str:
        """china, intl, or strict when the site is not known (cssapi.site_of)."""
        return site_of(self.endpoint_host, self.site)

    @property
    def site_facts(self) -> SiteFacts:
        """The limits and page sizes documented for the account's site (cssapi.SITE_FACTS)."""
        return SITE_FACTS[self.site_name]

    def limit(self, action: str) -> float:
        """The account's limit for ``action`` in requests/s: api_limits, else its site's."""
        return self.api_limits.get(action, float(self.site_facts.limits[action]))

    def budget(self, action: str) -> float:
        """Requests per second this exporter may spend on ``action`` for this account."""
        return self.limit(action) * self.budget_fraction

    @field_validator("timeout")
    @classmethod
    def _sane_timeout(cls, value: float) -> float:
        if value <= 0:
            raise invalid("must be greater than 0s")
        if value > MAX_TIMEOUT:
            raise invalid(
                f"{{value}} is above the maximum of {format_duration(MAX_TIMEOUT)}",
                format_duration(value),
            )
        return value

    @field_validator("max_workers")
    @classmethod
    def _sane_workers(cls, value: int | None) -> int | None:
        if value is not None and not 1 <= value <= MAX_WORKERS:
            raise invalid(f"must be between 1 and {MAX_WORKERS}, got {{value}}", str(value))
        return value

    def _endpoint_match(self) -> re.Match[str]:
        match = ENDPOINT_RE.fullmatch(self.endpoint)
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
