"""Play domains and the playback settings of an account: what viewers see.

Playback data is keyed by **play** domain and stream name, push data by push domain, app and
stream name; which play domain serves which push domain is account configuration in the CSS
console, so the config says it (``play_domains``). Without play domains no playback call is made.

``playback_problems`` is the cross-key check (a play domain must serve push domains the account
has targets on, and belongs to one account only); it reads the raw tree like ``checks.py``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Hashable, Mapping
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, field_validator, model_validator

from exporter.config.fields import (
    ENDPOINT_RE,
    MAX_DOMAIN_NAME,
    Duration,
    check_token,
    invalid,
    may_hold_secret,
)
from exporter.durations import format_duration
from exporter.problems import key_path, show

__all__ = [
    "PlayDomain",
    "PlayDomainName",
    "PlaybackSettings",
    "check_play_domain",
    "playback_problems",
]

Loc = tuple[Hashable, ...]
Problems = list[tuple[Loc, str]]

MINUTE = 60.0
# DescribePlayErrorCodeDetailInfoList: "EndTime 和 StartTime 只支持最近1天的数据查询"
# (cloud.tencent.com/document/api/267/35967).
MAX_ERROR_WINDOW = 86_400.0
MAX_DATA_LAG = 3_600.0
MAX_PLAYBACK_INTERVAL = 3_600.0
MIN_HEALTH_INTERVAL = 300.0
MAX_HEALTH_INTERVAL = 86_400.0


def check_play_domain(value: str) -> str:
    """A bare domain name, as the CSS console lists play domains."""
    if may_hold_secret(value):
        raise invalid(
            "must be the bare play domain, e.g. play.example.com; this looks like a URL with a"
            " query string (not shown: it may hold a signature)"
        )
    check_token(value, "play domain")
    if len(value) > MAX_DOMAIN_NAME:
        raise invalid(f"play domain must be at most {MAX_DOMAIN_NAME} characters")
    match = ENDPOINT_RE.fullmatch(value)
    if match is None or match["scheme"] or match["port"]:
        raise invalid(
            "must be the bare play domain, e.g. play.example.com (no scheme, port or path),"
            " got {value}",
            show(value),
        )
    return value


def _push_domain(value: str) -> str:
    return check_token(value, "push domain")


PlayDomainName = Annotated[str, AfterValidator(check_play_domain)]
PushDomainName = Annotated[str, AfterValidator(_push_domain)]


def _bounded(value: float, low: float, high: float) -> float:
    if not low <= value <= high:
        raise invalid(
            f"{{value}} is outside {format_duration(low)} to {format_duration(high)}",
            format_duration(value),
        )
    return value


class PlayDomain(BaseModel):
    """One play domain of the account and the push domains whose streams it plays."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    name: PlayDomainName
    push_domains: list[PushDomainName]

    @field_validator("push_domains")
    @classmethod
    def _some_push_domains(cls, value: list[str]) -> list[str]:
        if not value:
            raise invalid("at least one push domain is required")
        return value


class PlaybackSettings(BaseModel):
    """Which playback calls an account makes, and how often (each one call for the account)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    viewers: bool = True  # DescribeAllStreamPlayInfoList: viewers per stream
    domain_stats: bool = True  # DescribeLiveDomainPlayInfoList: totals per play domain
    error_codes: bool = True  # DescribePlayErrorCodeDetailInfoList: 4xx/5xx per play domain
    certificates: bool = True  # DescribeLiveDomainCertBindings
    packages: bool = True  # DescribeLivePackageInfo
    interval: Duration = MINUTE
    data_lag: Duration = 5 * MINUTE
    error_interval: Duration = 5 * MINUTE
    error_window: Duration = 10 * MINUTE
    health_interval: Duration = 3_600.0

    @field_validator("interval", "error_interval")
    @classmethod
    def _minute_or_more(cls, value: float) -> float:
        # The data has one point a minute: asking more often only asks for the same minute.
        return _bounded(value, MINUTE, MAX_PLAYBACK_INTERVAL)

    @field_validator("data_lag")
    @classmethod
    def _sane_lag(cls, value: float) -> float:
        return _bounded(value, MINUTE, MAX_DATA_LAG)

    @field_validator("error_window")
    @classmethod
    def _sane_window(cls, value: float) -> float:
        return _bounded(value, 2 * MINUTE, MAX_ERROR_WINDOW)

    @field_validator("health_interval")
    @classmethod
    def _sane_health(cls, value: float) -> float:
        return _bounded(value, MIN_HEALTH_INTERVAL, MAX_HEALTH_INTERVAL)

    @model_validator(mode="after")
    def _window_covers_interval(self) -> PlaybackSettings:
        if self.error_window < self.error_interval:
            raise ValueError(
                f"error_window ({format_duration(self.error_window)}) must be at least"
                f" error_interval ({format_duration(self.error_interval)}): minutes between"
                " two reads would be missed"
            )
        return self


# -- the cross-key check -----------------------------------------------------------------------


def _usable(value: object) -> bool:
    """A name the checks may compare and echo: malformed ones are reported on their own."""
    return (
        isinstance(value, str)
        and bool(value)
        and not may_hold_secret(value)
        and not any(c.isspace() for c in value)
    )


def _names(items: object) -> list[tuple[int, str]]:
    if not isinstance(items, list):
        return []
    return [(i, item) for i, item in enumerate(items) if _usable(item)]


def _target_account(target: Mapping[Any, Any], single: str | None) -> str | None:
    account = target.get("account")
    if account is None:
        return single
    return account if isinstance(account, str) else None


def playback_problems(
    data: Mapping[Any, Any], shown: Callable[[Loc, str], str] | None = None
) -> Problems:
    """Play domains that serve no target's push domain, or that two accounts claim."""

    def text(loc: Loc, value: str) -> str:
        return shown(loc, value) if shown is not None else value

    raw_accounts, raw_targets = data.get("accounts"), data.get("targets")
    accounts = raw_accounts if isinstance(raw_accounts, list) else []
    targets = raw_targets if isinstance(raw_targets, list) else []
    names = [a.get("name") if isinstance(a, Mapping) else None for a in accounts]
    single = names[0] if len(names) == 1 and isinstance(names[0], str) else None
    push: dict[str, set[str]] = {}  # account -> the push domains of its targets
    for target in targets:
        if not isinstance(target, Mapping):
            continue
        account, domain = _target_account(target, single), target.get("domain")
        if account is not None and isinstance(domain, str):
            push.setdefault(account, set()).add(domain)
    problems: Problems = []
    claimed: dict[str, tuple[str, Loc]] = {}  # play domain -> (account, where first named)

    def claim(play: str, account: str, loc: Loc) -> None:
        first = claimed.get(play)
        if first is None:
            claimed[play] = (account, loc)
        elif first[0] != account:
            problems.append(
                (
                    loc,
                    f"play domain {text(loc, json.dumps(play))} is already on account"
                    f" {json.dumps(first[0])} ({key_path(first[1])}): a domain belongs to one"
                    " account",
                )
            )

    for a_index, account in enumerate(accounts):
        name = names[a_index]
        if not isinstance(account, Mapping) or not isinstance(name, str):
            continue
        entries = account.get("play_domains")
        if not isinstance(entries, list):
            continue
        known = push.get(name, set())
        seen: dict[str, Loc] = {}
        for p_index, entry in enumerate(entries):
            if not isinstance(entry, Mapping):
                continue
            where: Loc = ("accounts", a_index, "play_domains", p_index)
            play = entry.get("name")
            if isinstance(play, str) and _usable(play):
                if play in seen:
                    problems.append(
                        (
                            (*where, "name"),
                            f"duplicate play domain {text((*where, 'name'), json.dumps(play))}"
                            f" (first at {key_path(seen[play])}): list its push domains once",
                        )
                    )
                else:
                    seen[play] = (*where, "name")
                    claim(play, name, (*where, "name"))
            for d_index, domain in _names(entry.get("push_domains")):
                if domain in known:
                    continue
                loc: Loc = (*where, "push_domains", d_index)
                problems.append(
                    (
                        loc,
                        f"{text(loc, json.dumps(domain))} is not the domain of any target of"
                        f" account {json.dumps(name)}"
                        + (f" (its targets' domains: {', '.join(sorted(known))})" if known else ""),
                    )
                )
    for t_index, target in enumerate(targets):
        if not isinstance(target, Mapping):
            continue
        account = _target_account(target, single)
        if account is None:
            continue
        seen_here: set[str] = set()
        for p_index, play in _names(target.get("play_domains")):
            loc = ("targets", t_index, "play_domains", p_index)
            if play in seen_here:
                problems.append((loc, f"duplicate play domain {text(loc, json.dumps(play))}"))
                continue
            seen_here.add(play)
            claim(play, account, loc)
    return problems
