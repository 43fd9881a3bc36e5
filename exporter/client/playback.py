"""The playback and platform-health calls over one account's client, and their answers as values.

Parsing is pure (fields as ``tencentcloud.live.v20180801.models`` declares them); an answer that
does not make sense raises ValueError, which the client counts as ``BadResponse``. The calls go
through ``CssClient.call``, so they are counted, timed and classified like every other action.
"""

from __future__ import annotations

import datetime
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar, cast, runtime_checkable

from exporter import cssapi
from exporter.client.answers import beijing_to_unix, object_list, text_field
from exporter.model import ApiError

T = TypeVar("T")

MEGABIT = 1_000_000.0  # Bandwidth is in Mbps (SDK models: MonitorStreamPlayInfo.Bandwidth)
MEGABYTE = 1_000_000.0  # Flux in MB (SDK models: DomainDetailInfo.Flux)
PACKAGE_PAGE_SIZE = 100  # PageSize 10..100 (cloud.tencent.com/document/api/267/40942)
# PackageType of the request: 0 traffic, 1 transcode, 2 co-hosting (267/40942).
PACKAGE_TYPES = (0, 1, 2)


@runtime_checkable
class Caller(Protocol):
    """What the playback calls need of a client: ``CssClient.call``."""

    def call(
        self,
        action: str,
        params: dict[str, Any],
        parse: Callable[[dict[str, Any]], T] | None = None,
        empty: T | None = None,
    ) -> T | dict[str, Any] | ApiError: ...


def iso_minute(t: float) -> str:
    """``2019-01-08T10:00:00Z``: the UTC form every playback call accepts."""
    return datetime.datetime.fromtimestamp(t, tz=datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_time(text: str) -> float:
    """A time as the playback answers write it: ISO UTC, or ``YYYY-MM-DD hh:mm:ss`` (Beijing)."""
    if "T" in text:
        try:
            parsed = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"bad time {text!r}") from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=datetime.UTC)
        return parsed.timestamp()
    value = beijing_to_unix(text)
    if value is None:
        raise ValueError(f"bad time {text!r}")
    return value


def _number(item: dict[str, Any], name: str) -> float:
    value = item.get(name)
    if value is None:
        return 0.0
    if type(value) not in (int, float) or value < 0 or value != value:
        raise ValueError(f"{name} is not a non-negative number")
    return float(value)


# -- DescribeAllStreamPlayInfoList -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Play:
    """One stream's playback on one play domain at one minute (every protocol and rate summed)."""

    viewers: float  # Online: TCP connections sampled in the minute
    bytes_per_second: float  # Bandwidth (Mbps) as bytes/s
    requests: float  # Request: requests in the minute


@dataclass(frozen=True)
class ViewerMinute:
    minute: float  # the QueryTime asked for, Unix time
    plays: dict[tuple[str, str], Play]  # (play domain, stream) -> playback


def parse_viewers(minute: float, response: dict[str, Any]) -> ViewerMinute:
    sums: dict[tuple[str, str], list[float]] = {}
    for item in object_list(response, "DataInfoList"):
        key = (text_field(item, "PlayDomain"), text_field(item, "StreamName"))
        acc = sums.setdefault(key, [0.0, 0.0, 0.0])
        acc[0] += _number(item, "Online")
        acc[1] += _number(item, "Bandwidth")
        acc[2] += _number(item, "Request")
    plays = {k: Play(v[0], v[1] * MEGABIT / 8, v[2]) for k, v in sums.items()}
    return ViewerMinute(minute, plays)


# -- DescribeLiveDomainPlayInfoList ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DomainPlay:
    bytes_per_second: float  # Bandwidth (Mbps), every region summed
    traffic_bytes: float  # Flux (MB) of the minute
    requests: float
    viewers: float  # Online


@dataclass(frozen=True)
class DomainMinute:
    time: float  # Time: the data's minute (Beijing on the wire)
    domains: dict[str, DomainPlay]


def parse_domains(response: dict[str, Any]) -> DomainMinute:
    time = _parse_time(text_field(response, "Time"))
    domains: dict[str, DomainPlay] = {}
    for item in object_list(response, "DomainInfoList"):
        name = text_field(item, "Domain")
        bw = flux = req = online = 0.0
        # One entry per region (MainlandOrOversea: Mainland, Oversea): summed.
        for detail in object_list(item, "DetailInfoList"):
            bw += _number(detail, "Bandwidth")
            flux += _number(detail, "Flux")
            req += _number(detail, "Request")
            online += _number(detail, "Online")
        domains[name] = DomainPlay(bw * MEGABIT / 8, flux * MEGABYTE, req, online)
    return DomainMinute(time, domains)


# -- DescribePlayErrorCodeDetailInfoList -------------------------------------------------------


def code_class(code: str) -> str | None:
    """``4xx`` or ``5xx`` for an HTTP code as the answer writes it (``404``, ``5xx``), else None."""
    return f"{code[0]}xx" if code[:1] in ("4", "5") else None


def parse_error_codes(response: dict[str, Any]) -> dict[str, dict[float, float]]:
    """Class (``4xx``, ``5xx``) -> minute -> responses, every code of the class summed."""
    out: dict[str, dict[float, float]] = {}
    for item in object_list(response, "HttpCodeList"):
        cls = code_class(text_field(item, "HttpCode"))
        if cls is None:
            continue
        minutes = out.setdefault(cls, {})
        for value in object_list(item, "ValueList"):
            minute = _parse_time(text_field(value, "Time"))
            minutes[minute] = minutes.get(minute, 0.0) + _number(value, "Numbers")
    return out


# -- DescribeLiveDomainCertBindings ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Certificate:
    expires: float  # CertExpireTime (Beijing on the wire) as Unix time
    https: bool  # Status 1: HTTPS on


def parse_certs(response: dict[str, Any]) -> dict[str, Certificate]:
    out: dict[str, Certificate] = {}
    for item in object_list(response, "LiveDomainCertBindings"):
        status = item.get("Status")
        if type(status) is not int:
            raise ValueError("Status is not an integer")
        out[text_field(item, "DomainName")] = Certificate(
            _parse_time(text_field(item, "CertExpireTime")), status == 1
        )
    return out


# -- DescribeLivePackageInfo -------------------------------------------------------------------

# LivePackageInfo.Type: 0 traffic, 1 transcode, 2 fast HD transcode, 3 co-hosting (267/40942).
PACKAGE_KINDS = {0: "traffic", 1: "transcode", 2: "hd_transcode", 3: "co_hosting"}
# Total/Used/Left units per kind: bytes, minutes, minutes, hours; exported in base units.
_UNIT_SECONDS = {0: 1.0, 1: 60.0, 2: 60.0, 3: 3600.0}
# Status: 0 unused, 1 in use, 2 expired, 3 frozen, 4 exhausted, 5 refunded.
PACKAGE_STATUSES = {
    0: "unused",
    1: "in_use",
    2: "expired",
    3: "frozen",
    4: "exhausted",
    5: "refunded",
}


@dataclass(frozen=True, slots=True)
class Package:
    id: str
    kind: str  # PACKAGE_KINDS
    total: float  # in base units: bytes for traffic, seconds for the others
    used: float
    left: float
    expires: float
    status: str  # PACKAGE_STATUSES, or "unknown"
    will_renew: bool | None


@dataclass(frozen=True)
class PackagePage:
    packages: list[Package]
    total_pages: int


def _count(item: dict[str, Any], name: str) -> float:
    value = item.get(name)
    if type(value) is not int:
        raise ValueError(f"{name} is not an integer")
    return float(value)


def parse_packages(response: dict[str, Any]) -> PackagePage:
    packages = []
    for item in object_list(response, "LivePackageInfoList"):
        kind = item.get("Type")
        if type(kind) is not int or kind not in PACKAGE_KINDS:
            raise ValueError("Type is not a known package type")
        status = item.get("Status")
        renew = item.get("WillRenew")
        unit = _UNIT_SECONDS[kind]
        packages.append(
            Package(
                id=text_field(item, "Id"),
                kind=PACKAGE_KINDS[kind],
                total=_count(item, "Total") * unit,
                used=_count(item, "Used") * unit,
                left=_count(item, "Left") * unit,
                expires=_parse_time(text_field(item, "ExpireTime")),
                status=PACKAGE_STATUSES.get(status, "unknown")
                if type(status) is int
                else "unknown",
                will_renew=bool(renew) if type(renew) is int else None,
            )
        )
    total_pages = response.get("TotalPage")
    # "may return null": one page then.
    pages = total_pages if type(total_pages) is int and total_pages > 0 else 1
    return PackagePage(packages, pages)


# -- the calls ----------------------------------------------------------------------------------


def _checked(result: T | dict[str, Any] | ApiError) -> T | ApiError:
    # With a parse function the answer is what it returned (CssClient.call), never the raw
    # Response; some parse functions return dicts themselves, so no isinstance test here.
    return cast("T | ApiError", result)


def viewers(client: Caller, minute: float, play_domains: Sequence[str]) -> ViewerMinute | ApiError:
    params = {"QueryTime": iso_minute(minute), "PlayDomains": list(play_domains)}
    parse = functools.partial(parse_viewers, minute)
    return _checked(client.call(cssapi.ALL_STREAM_PLAY, params, parse))


def domain_stats(client: Caller, play_domains: Sequence[str]) -> DomainMinute | ApiError:
    params = {"PlayDomains": list(play_domains)}
    return _checked(client.call(cssapi.DOMAIN_PLAY, params, parse_domains))


def error_codes(
    client: Caller, play_domain: str, start: float, end: float
) -> dict[str, dict[float, float]] | ApiError:
    params = {
        "StartTime": iso_minute(start),
        "EndTime": iso_minute(end),
        "Granularity": 1,  # "1-1分钟粒度", the only granularity (267/35967)
        "StatType": "4xx,5xx",  # "支持”4xx,5xx”等这种混合模式"
        "PlayDomains": [play_domain],
    }
    return _checked(client.call(cssapi.PLAY_ERROR_CODES, params, parse_error_codes))


def certificate(client: Caller, play_domain: str) -> dict[str, Certificate] | ApiError:
    params = {"DomainName": play_domain}
    return _checked(client.call(cssapi.CERT_BINDINGS, params, parse_certs))


def packages(client: Caller, package_type: int, page: int) -> PackagePage | ApiError:
    params = {"PackageType": package_type, "PageNum": page, "PageSize": PACKAGE_PAGE_SIZE}
    return _checked(client.call(cssapi.PACKAGE_INFO, params, parse_packages))
