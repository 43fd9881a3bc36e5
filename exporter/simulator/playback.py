"""The playback and platform-health actions: viewers that follow each stream's state, play-domain
error ratios, certificates, packages, and Tencent's data lag.

Fields are those of ``tencentcloud.live.v20180801.models`` (every declared field answered, as the
conformance tests check). A stream has viewers only in the minutes it was ``active`` at the
minute's start; those viewers are scripted per stream name (``playback.viewers`` of the scenario,
a list cycles minute by minute) and split over the play domains that serve its push domain (by
``share``) and over two protocols. A minute's data exists ``data_lag`` after the minute began;
before that DescribeAllStreamPlayInfoList answers it with no data and the error codes with zeros,
as Tencent pads the minutes it has no data for (SDK models: HttpCodeInfo.ValueList).

The model follows the world's state changes from the moment it is attached (``attach``; else at
the first playback call): earlier minutes read as the state then.
"""

from __future__ import annotations

import bisect
import math
import threading
import weakref
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any

from exporter.cssapi import (
    ALL_STREAM_PLAY,
    CERT_BINDINGS,
    DOMAIN_PLAY,
    PACKAGE_INFO,
    PLAY_ERROR_CODES,
)
from exporter.simulator.errors import ApiError, invalid_value, missing_parameter
from exporter.simulator.model import ACTIVE, StreamKey
from exporter.simulator.playback_scenario import PackageSpec, PlaybackScenario, PlayDomainSpec
from exporter.simulator.policy import Policy
from exporter.simulator.world import StateChange, World

_BEIJING = timezone(timedelta(hours=8))
MINUTE = 60
MONTH = 31 * 86_400  # QueryTime: "支持最近1个月的数据查询"
DAY = 86_400  # error codes: "只支持最近1天的数据查询"
REALTIME_LAG = 240  # DescribeLiveDomainPlayInfoList: "默认查询4分钟前的准实时数据"
CODES = {"4xx": "404", "5xx": "502"}  # the HTTP code each class is answered as
FLV_SHARE = 0.6  # viewers on FLV; the rest on HLS


def beijing(t: float) -> str:
    return datetime.fromtimestamp(t, tz=_BEIJING).strftime("%Y-%m-%d %H:%M:%S")


def iso_utc(t: float) -> str:
    return datetime.fromtimestamp(t, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: object, name: str) -> float:
    """``YYYY-MM-DDThh:mm:ssZ`` (UTC) or ``YYYY-MM-DD hh:mm:ss`` (Beijing), as the API reads."""
    if not isinstance(value, str) or not value:
        raise missing_parameter(name) if value in (None, "") else invalid_value(name, "not a time")
    try:
        if "T" in value:
            parsed = datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
        else:
            parsed = datetime.strptime(value, "%Y-%m-%d %H:%M:%S").replace(tzinfo=_BEIJING)
    except ValueError:
        raise invalid_value(
            name, f"{value!r} is not YYYY-MM-DDThh:mm:ssZ or YYYY-MM-DD hh:mm:ss"
        ) from None
    return parsed.timestamp()


class PlaybackModel:
    """The account's playback: scripted viewers over the world's state history. Thread-safe.

    Lock order: the world's lock -> the model's (the world calls ``_changed`` under its lock);
    the model never calls the world while holding its own.
    """

    def __init__(self, world: World, scenario: PlaybackScenario) -> None:
        self._world = world
        self._lock = threading.Lock()
        self._scenario = scenario
        self._history: dict[StreamKey, list[tuple[float, str]]] = {}
        world.subscribe(self._changed)
        with self._lock:
            for s in world.streams():
                self._history[(s.domain, s.app, s.stream)] = [(-math.inf, s.state)]

    @property
    def scenario(self) -> PlaybackScenario:
        return self._scenario

    def set_scenario(self, scenario: PlaybackScenario) -> None:
        self._scenario = scenario  # replaced whole, never changed

    def set_error_ratio(self, play_domain: str, code_class: str, ratio: float) -> None:
        s = self._scenario
        domains = tuple(
            replace(d, error_ratios={**d.error_ratios, code_class: ratio})
            if d.name == play_domain
            else d
            for d in s.play_domains
        )
        self._scenario = replace(s, play_domains=domains)

    def _changed(self, changes: list[StateChange]) -> None:
        with self._lock:
            for c in changes:
                runs = self._history.setdefault((c.domain, c.app, c.stream), [(-math.inf, c.old)])
                if c.at >= runs[-1][0]:
                    runs.append((c.at, c.new))
                else:
                    bisect.insort(runs, (c.at, c.new))
                if len(runs) > 64:  # a day of history is all any query reads
                    del runs[1 : len(runs) - 32]

    def _states_at(self, t: float) -> list[StreamKey]:
        self._world.advance()  # transitions due by now reach _changed first
        with self._lock:
            active = []
            for key, runs in self._history.items():
                i = bisect.bisect_right(runs, (t, "~")) - 1
                if i >= 0 and runs[i][1] == ACTIVE:
                    active.append(key)
            return sorted(active)

    # -- figures -------------------------------------------------------------------------------

    def scripted(self, stream: str, minute: float) -> int:
        """The viewers scripted for a stream name at a minute (whatever its state)."""
        s = self._scenario
        values = s.viewers.get(stream)
        if values is None:
            return s.default_viewers
        return values[int(minute // MINUTE) % len(values)]

    def finished(self, minute: float) -> bool:
        return minute + self._scenario.data_lag <= self._world.now()

    def plays(self, minute: float) -> list[tuple[PlayDomainSpec, StreamKey, int, int]]:
        """(play domain, stream, viewers, bit/s per viewer) at a minute, viewers > 0."""
        s = self._scenario
        out: list[tuple[PlayDomainSpec, StreamKey, int, int]] = []
        for key in self._states_at(minute):
            viewers = self.scripted(key[2], minute)
            serving = [d for d in s.play_domains if key[0] in d.push_domains]
            if not viewers or not serving:
                continue
            spec = self._world.spec_of(*key)
            bitrate = (spec.quality.video_bitrate + spec.quality.audio_bitrate) if spec else 0
            total = sum(d.share for d in serving)
            shares = [int(viewers * d.share / total) for d in serving]
            shares[0] += viewers - sum(shares)
            out.extend((d, key, n, bitrate) for d, n in zip(serving, shares, strict=True) if n)
        return out

    def requests(self, play_domains: set[str] | None, minute: float) -> int:
        per = self._scenario.requests_per_viewer
        return sum(
            n * per
            for d, _, n, _ in self.plays(minute)
            if play_domains is None or d.name in play_domains
        )


_models: weakref.WeakKeyDictionary[World, PlaybackModel] = weakref.WeakKeyDictionary()
_models_lock = threading.Lock()


def attach(world: World, scenario: PlaybackScenario | None = None) -> PlaybackModel:
    """The world's playback model, following its states from now on (made once per world)."""
    with _models_lock:
        model = _models.get(world)
        if model is None:
            if scenario is None:
                scenario = getattr(world.scenario, "playback", None) or PlaybackScenario()
            model = _models[world] = PlaybackModel(world, scenario)
        elif scenario is not None:
            model.set_scenario(scenario)
        return model


# -- request readers ---------------------------------------------------------------------------


def _only(params: Mapping[str, Any], allowed: set[str]) -> None:
    for name in params:
        if name not in allowed:
            raise ApiError("UnknownParameter", f"The parameter `{name}` is not recognized.")


def _domains(params: Mapping[str, Any], name: str = "PlayDomains") -> set[str] | None:
    value = params.get(name)
    if value is None or value == []:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise invalid_value(name, "expected a list of domain names")
    return set(value)


def _int(params: Mapping[str, Any], name: str, default: int | None, low: int, high: int) -> int:
    value = params.get(name)
    if value is None:
        if default is None:
            raise missing_parameter(name)
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid_value(name, f"expected an integer, got {value!r}")
    if not low <= value <= high:
        raise invalid_value(name, f"{value} is out of range [{low}, {high}]")
    return value


def _minute(t: float) -> float:
    return math.floor(t / MINUTE) * MINUTE


# -- actions -----------------------------------------------------------------------------------


def describe_all_stream_play(
    world: World, params: Mapping[str, Any], policy: Policy
) -> dict[str, Any]:
    _only(params, {"QueryTime", "PlayDomains"})
    text = params.get("QueryTime")
    minute = _minute(parse_time(text, "QueryTime"))
    wanted = _domains(params)
    model = attach(world)
    now = world.now()
    if minute < now - MONTH:
        raise invalid_value("QueryTime", "only the last month can be queried")
    data = []
    if model.finished(minute):
        for domain, key, viewers, bitrate in model.plays(minute):
            if wanted is not None and domain.name not in wanted:
                continue
            flv = int(viewers * FLV_SHARE)
            for protocol, n in (("Flv", flv), ("Hls", viewers - flv)):
                if n:
                    data.append(
                        {
                            "PlayDomain": domain.name,
                            "StreamName": key[2],
                            "Rate": 0,
                            "Protocol": protocol,
                            "Bandwidth": round(n * bitrate / 1e6, 6),
                            "Online": n,
                            "Request": n * model.scenario.requests_per_viewer,
                        }
                    )
    return {"QueryTime": text, "DataInfoList": data}


def describe_domain_play(world: World, params: Mapping[str, Any], policy: Policy) -> dict[str, Any]:
    _only(params, {"PlayDomains"})
    wanted = _domains(params)
    model = attach(world)
    minute = _minute(world.now()) - REALTIME_LAG
    names = [d.name for d in model.scenario.play_domains if wanted is None or d.name in wanted]
    sums = {name: [0.0, 0, 0] for name in names}  # Mbps, online, requests
    for domain, _, viewers, bitrate in model.plays(minute):
        if domain.name in sums:
            acc = sums[domain.name]
            acc[0] += viewers * bitrate / 1e6
            acc[1] += viewers
            acc[2] += viewers * model.scenario.requests_per_viewer
    infos = []
    for name in names:
        mbps, online, requests = sums[name]
        infos.append(
            {
                "Domain": name,
                "DetailInfoList": [
                    _detail("Mainland", mbps, int(online), int(requests)),
                    _detail("Oversea", 0.0, 0, 0),
                ],
            }
        )
    return {
        "Time": beijing(minute),
        "TotalBandwidth": round(sum(s[0] for s in sums.values()), 6),
        "TotalFlux": round(sum(s[0] for s in sums.values()) * MINUTE / 8, 6),
        "TotalRequest": int(sum(s[2] for s in sums.values())),
        "TotalOnline": int(sum(s[1] for s in sums.values())),
        "DomainInfoList": infos,
    }


def _detail(region: str, mbps: float, online: int, requests: int) -> dict[str, Any]:
    # Flux in MB over the minute from the Mbps.
    return {
        "MainlandOrOversea": region,
        "Bandwidth": round(mbps, 6),
        "Flux": round(mbps * MINUTE / 8, 6),
        "Online": online,
        "Request": requests,
    }


def describe_play_error_codes(
    world: World, params: Mapping[str, Any], policy: Policy
) -> dict[str, Any]:
    _only(
        params,
        {"StartTime", "EndTime", "Granularity", "StatType", "PlayDomains", "MainlandOrOversea"},
    )
    start = _minute(parse_time(params.get("StartTime"), "StartTime"))
    end = _minute(parse_time(params.get("EndTime"), "EndTime"))
    _int(params, "Granularity", None, 1, 1)
    stat = params.get("StatType")
    if stat in (None, ""):
        raise missing_parameter("StatType")
    classes = stat.split(",") if isinstance(stat, str) else []
    if not classes or any(c not in CODES for c in classes) or len(set(classes)) != len(classes):
        raise invalid_value("StatType", f"{stat!r} is not 4xx, 5xx or 4xx,5xx")
    region = params.get("MainlandOrOversea")
    if region not in (None, "", "Mainland", "Oversea", "China", "Foreign", "Global"):
        raise invalid_value("MainlandOrOversea", f"{region!r} is not a known region")
    now = world.now()
    if end < start:
        raise invalid_value("EndTime", "EndTime is before StartTime")
    if start < now - DAY:
        raise invalid_value("StartTime", "only the last day can be queried")
    wanted = _domains(params)
    model = attach(world)
    domains = [d for d in model.scenario.play_domains if wanted is None or d.name in wanted]
    per = model.scenario.requests_per_viewer
    # (all requests, errors per class) of each minute; zeros for the minutes not finished.
    minutes: list[tuple[float, int, dict[str, int]]] = []
    t = start
    while t <= end:
        by_domain: dict[str, int] = {}
        if model.finished(t):
            for d, _, n, _ in model.plays(t):
                by_domain[d.name] = by_domain.get(d.name, 0) + n * per
        errors = {
            cls: sum(
                round(by_domain.get(d.name, 0) * d.error_ratios.get(cls, 0.0)) for d in domains
            )
            for cls in classes
        }
        minutes.append((t, sum(by_domain.get(d.name, 0) for d in domains), errors))
        t += MINUTE
    out = []
    for cls in classes:
        values = [
            {
                "Time": iso_utc(m),
                "Numbers": errors[cls],
                "Percentage": round(100.0 * errors[cls] / requests, 2) if requests else 0.0,
            }
            for m, requests, errors in minutes
        ]
        out.append({"HttpCode": CODES[cls], "ValueList": values})
    return {"HttpCodeList": out, "StatType": stat}


def describe_cert_bindings(
    world: World, params: Mapping[str, Any], policy: Policy
) -> dict[str, Any]:
    _only(params, {"DomainSearch", "Offset", "Length", "DomainName", "OrderBy"})
    offset = _int(params, "Offset", 0, 0, 1 << 31)
    length = _int(params, "Length", 50, 1, 1 << 31)
    order = params.get("OrderBy")
    if order not in (None, "", "ExpireTimeAsc", "ExpireTimeDesc"):
        raise invalid_value("OrderBy", f"{order!r} is not ExpireTimeAsc or ExpireTimeDesc")
    exact, search = params.get("DomainName"), params.get("DomainSearch")
    model = attach(world)
    rows = []
    for i, d in enumerate(model.scenario.play_domains):
        cert = d.certificate
        if cert is None or (exact and d.name != exact) or (search and search not in d.name):
            continue
        expires = (
            cert.expires if cert.expires is not None else world.started + (cert.expires_in or 0.0)
        )
        rows.append((expires, i, d, cert.https))
    rows.sort(key=lambda r: r[0], reverse=order == "ExpireTimeDesc")
    if not order:
        rows.sort(key=lambda r: r[1])
    found = [
        {
            "DomainName": d.name,
            "CertificateAlias": f"cert-{d.name}",
            "CertType": 1,
            "Status": 1 if https else 0,
            "CertExpireTime": beijing(expires),
            "CertId": 10_000 + i,
            "CloudCertId": f"ssl-{i:08d}",
            "UpdateTime": beijing(world.started),
        }
        for expires, i, d, https in rows
    ]
    return {"LiveDomainCertBindings": found[offset : offset + length], "TotalNum": len(found)}


_PACKAGE_KINDS = {0: (0,), 1: (1, 2), 2: (3,)}
# Every simulated package was bought at the same time: the buy-time orders keep the scenario's.
_ORDERS: dict[str, Callable[[PackageSpec], float]] = {
    "BuyTimeDesc": lambda p: 0.0,
    "BuyTimeAsc": lambda p: 0.0,
    "ExpireTimeDesc": lambda p: -p.expires_in,
    "ExpireTimeAsc": lambda p: p.expires_in,
}


def describe_package_info(
    world: World, params: Mapping[str, Any], policy: Policy
) -> dict[str, Any]:
    _only(params, {"PackageType", "OrderBy", "PageNum", "PageSize"})
    package_type = _int(params, "PackageType", None, 0, 2)
    order = params.get("OrderBy")
    if order not in (None, "", *_ORDERS):
        raise invalid_value("OrderBy", f"{order!r} is not a known order")
    if package_type == 2 and order in ("ExpireTimeDesc", "ExpireTimeAsc"):
        raise invalid_value("OrderBy", "co-hosting packages cannot be ordered by expiry")
    low, high = policy.page_range(PACKAGE_INFO)
    paged = params.get("PageNum") is not None and params.get("PageSize") is not None
    page_num = _int(params, "PageNum", 1, 1, 1 << 31)
    page_size = _int(params, "PageSize", high, low, high)
    model = attach(world)
    packages = [p for p in model.scenario.packages if p.type in _PACKAGE_KINDS[package_type]]
    if order:
        packages.sort(key=_ORDERS[order])
    total = len(packages)
    if paged:
        packages = packages[(page_num - 1) * page_size : page_num * page_size]
    bought = world.started - 30 * 86_400
    return {
        "LivePackageInfoList": [
            {
                "Id": p.id,
                "Total": p.total,
                "Used": p.used,
                "Left": p.total - p.used,
                "BuyTime": beijing(bought),
                "ExpireTime": beijing(world.started + p.expires_in),
                "Type": p.type,
                "Status": p.status,
                "WillRenew": p.will_renew,
                "RenewalResult": 1 if p.will_renew else 0,
            }
            for p in packages
        ],
        "PackageBillMode": 204,  # daily traffic billing
        "TotalPage": math.ceil(total / page_size) if paged and total else (1 if total else 0),
        "TotalNum": total,
        "PageNum": page_num,
        "PageSize": page_size,
        "FluxPackageBillMode": "204,204,204,204" if package_type == 0 else "",
    }


Handler = Callable[[World, Mapping[str, Any], Policy], dict[str, Any]]

PLAYBACK_HANDLERS: dict[str, Handler] = {
    ALL_STREAM_PLAY: describe_all_stream_play,
    DOMAIN_PLAY: describe_domain_play,
    PLAY_ERROR_CODES: describe_play_error_codes,
    CERT_BINDINGS: describe_cert_bindings,
    PACKAGE_INFO: describe_package_info,
}

__all__ = ["PLAYBACK_HANDLERS", "PlaybackModel", "attach", "beijing", "iso_utc"]
