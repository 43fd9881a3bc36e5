"""The ``playback:`` part of a scenario: play domains, scripted viewers, error ratios,
certificates, packages and the data lag. Errors name their key path, as the rest of a scenario's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# Package types of LivePackageInfo.Type (cloud.tencent.com/document/api/267/40942).
PACKAGE_TYPES = {"traffic": 0, "transcode": 1, "hd_transcode": 2, "co_hosting": 3}
PACKAGE_STATUSES = {
    "unused": 0,
    "in_use": 1,
    "expired": 2,
    "frozen": 3,
    "exhausted": 4,
    "refunded": 5,
}


@dataclass(frozen=True)
class Certificate:
    expires: float | None  # Unix time; None: ``expires_in`` after the world starts
    expires_in: float | None
    https: bool = True


@dataclass(frozen=True)
class PlayDomainSpec:
    name: str
    push_domains: tuple[str, ...]
    # A stream's viewers are split over the play domains that serve its push domain by share.
    share: float = 1.0
    # Share of a minute's playback requests answered 4xx / 5xx.
    error_ratios: Mapping[str, float] = field(default_factory=dict)
    certificate: Certificate | None = None


@dataclass(frozen=True)
class PackageSpec:
    id: str
    type: int  # LivePackageInfo.Type
    total: int  # bytes (traffic), minutes (transcode), hours (co-hosting), as the API has them
    used: int
    expires_in: float  # after the world starts (negative: already expired)
    status: int = 1
    will_renew: int | None = None


@dataclass(frozen=True)
class PlaybackScenario:
    play_domains: tuple[PlayDomainSpec, ...] = ()
    # Stream name -> viewers per minute; a list is cycled minute by minute.
    viewers: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    default_viewers: int = 0
    requests_per_viewer: int = 2  # playback requests per viewer and minute
    # A minute's data exists this long after the minute began (Tencent: about 5 minutes).
    data_lag: float = 300.0
    packages: tuple[PackageSpec, ...] = ()


def parse_playback(data: object) -> PlaybackScenario:
    """The ``playback:`` mapping of a scenario; ScenarioError names the key on a bad value."""
    # Imported here: scenario.py imports this module to parse its ``playback`` key.
    from exporter.simulator.scenario import (
        ScenarioError,
        _bool,
        _int,
        _mapping,
        _no_unknown,
        _str,
        parse_duration,
        parse_time,
    )

    where = "playback"
    top = _mapping(data, where)
    _no_unknown(
        top,
        {"play_domains", "viewers", "requests_per_viewer", "data_lag", "packages"},
        where,
    )

    def ratio(value: object, at: str) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
            raise ScenarioError(f"{at}: expected a number from 0 to 1, got {value!r}")
        return float(value)

    domains = []
    items = top.get("play_domains") or []
    if not isinstance(items, list):
        raise ScenarioError(f"{where}.play_domains: expected a list")
    for i, item in enumerate(items):
        at = f"{where}.play_domains[{i}]"
        d = _mapping(item, at)
        _no_unknown(d, {"name", "push_domains", "share", "error_ratios", "certificate"}, at)
        push = d.get("push_domains")
        if not isinstance(push, list) or not push:
            raise ScenarioError(f"{at}.push_domains: expected a non-empty list of domains")
        ratios: dict[str, float] = {}
        for cls, value in _mapping(d.get("error_ratios") or {}, f"{at}.error_ratios").items():
            if cls not in ("4xx", "5xx"):
                raise ScenarioError(f"{at}.error_ratios.{cls}: expected 4xx or 5xx")
            ratios[cls] = ratio(value, f"{at}.error_ratios.{cls}")
        cert = None
        if d.get("certificate") is not None:
            c = _mapping(d["certificate"], f"{at}.certificate")
            _no_unknown(c, {"expires", "expires_in", "https"}, f"{at}.certificate")
            if ("expires" in c) == ("expires_in" in c):
                raise ScenarioError(f"{at}.certificate: give either expires or expires_in")
            cert = Certificate(
                parse_time(c["expires"], f"{at}.certificate.expires") if "expires" in c else None,
                parse_duration(c["expires_in"], f"{at}.certificate.expires_in")
                if "expires_in" in c
                else None,
                _bool(c.get("https", True), f"{at}.certificate.https"),
            )
        share = d.get("share", 1.0)
        if isinstance(share, bool) or not isinstance(share, (int, float)) or not share > 0:
            raise ScenarioError(f"{at}.share: expected a number > 0, got {share!r}")
        domains.append(
            PlayDomainSpec(
                name=_str(d.get("name"), f"{at}.name"),
                push_domains=tuple(_str(p, f"{at}.push_domains[{j}]") for j, p in enumerate(push)),
                share=float(share),
                error_ratios=ratios,
                certificate=cert,
            )
        )
    viewers_data = _mapping(top.get("viewers") or {}, f"{where}.viewers")
    _no_unknown(viewers_data, {"default", "streams"}, f"{where}.viewers")
    scripted: dict[str, tuple[int, ...]] = {}
    for name, value in _mapping(
        viewers_data.get("streams") or {}, f"{where}.viewers.streams"
    ).items():
        at = f"{where}.viewers.streams.{name}"
        values = value if isinstance(value, list) else [value]
        if not values:
            raise ScenarioError(f"{at}: expected a number of viewers or a non-empty list")
        scripted[name] = tuple(_int(v, at, minimum=0) for v in values)
    packages = []
    for i, item in enumerate(_list(top.get("packages"), f"{where}.packages", ScenarioError)):
        at = f"{where}.packages[{i}]"
        p = _mapping(item, at)
        _no_unknown(p, {"id", "type", "total", "used", "expires_in", "status", "will_renew"}, at)
        kind = p.get("type", "traffic")
        if kind not in PACKAGE_TYPES:
            raise ScenarioError(f"{at}.type: expected one of {', '.join(PACKAGE_TYPES)}")
        status = p.get("status", "in_use")
        if status not in PACKAGE_STATUSES:
            raise ScenarioError(f"{at}.status: expected one of {', '.join(PACKAGE_STATUSES)}")
        total = _int(p.get("total"), f"{at}.total", minimum=0)
        used = _int(p.get("used", 0), f"{at}.used", minimum=0)
        if used > total:
            raise ScenarioError(f"{at}.used: {used} is more than total ({total})")
        expires_in = p.get("expires_in", "30d")
        negative = isinstance(expires_in, str) and expires_in.startswith("-")
        seconds = parse_duration(expires_in[1:] if negative else expires_in, f"{at}.expires_in")
        renew = p.get("will_renew")
        packages.append(
            PackageSpec(
                id=_str(p.get("id"), f"{at}.id"),
                type=PACKAGE_TYPES[kind],
                total=total,
                used=used,
                expires_in=-seconds if negative else seconds,
                status=PACKAGE_STATUSES[status],
                will_renew=None if renew is None else int(_bool(renew, f"{at}.will_renew")),
            )
        )
    return PlaybackScenario(
        play_domains=tuple(domains),
        viewers=scripted,
        default_viewers=_int(viewers_data.get("default", 0), f"{where}.viewers.default", 0),
        requests_per_viewer=_int(
            top.get("requests_per_viewer", 2), f"{where}.requests_per_viewer", 0
        ),
        data_lag=parse_duration(top.get("data_lag", 300), f"{where}.data_lag"),
        packages=tuple(packages),
    )


def _list(value: object, where: str, error: type[Exception]) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise error(f"{where}: expected a list")
    return value
