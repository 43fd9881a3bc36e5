"""The playback and platform-health actions over the playback model (``playback.py``): every
field ``tencentcloud.live.v20180801.models`` declares, parameters checked as the docs state them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from exporter.cssapi import (
    ALL_STREAM_PLAY,
    CERT_BINDINGS,
    DOMAIN_PLAY,
    PACKAGE_INFO,
    PLAY_ERROR_CODES,
)
from exporter.simulator.errors import invalid_value, missing_parameter
from exporter.simulator.params import int_param, only
from exporter.simulator.playback import (
    CODES,
    DAY,
    FLV_SHARE,
    MINUTE,
    MONTH,
    REALTIME_LAG,
    attach,
    beijing,
    iso_utc,
    minute_of,
    parse_time,
    play_domains,
)
from exporter.simulator.playback_scenario import PackageSpec
from exporter.simulator.policy import Policy
from exporter.simulator.world import World

# -- actions -----------------------------------------------------------------------------------


def describe_all_stream_play(
    world: World, params: Mapping[str, Any], policy: Policy
) -> dict[str, Any]:
    only(params, {"QueryTime", "PlayDomains"})
    text = params.get("QueryTime")
    minute = minute_of(parse_time(text, "QueryTime"))
    wanted = play_domains(params)
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
    only(params, {"PlayDomains"})
    wanted = play_domains(params)
    model = attach(world)
    minute = minute_of(world.now()) - REALTIME_LAG
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
    only(
        params,
        {"StartTime", "EndTime", "Granularity", "StatType", "PlayDomains", "MainlandOrOversea"},
    )
    start = minute_of(parse_time(params.get("StartTime"), "StartTime"))
    end = minute_of(parse_time(params.get("EndTime"), "EndTime"))
    int_param(params, "Granularity", None, 1, 1)
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
    wanted = play_domains(params)
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
    only(params, {"DomainSearch", "Offset", "Length", "DomainName", "OrderBy"})
    offset = int_param(params, "Offset", 0, 0, 1 << 31)
    length = int_param(params, "Length", 50, 1, 1 << 31)
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
    only(params, {"PackageType", "OrderBy", "PageNum", "PageSize"})
    package_type = int_param(params, "PackageType", None, 0, 2)
    order = params.get("OrderBy")
    if order not in (None, "", *_ORDERS):
        raise invalid_value("OrderBy", f"{order!r} is not a known order")
    if package_type == 2 and order in ("ExpireTimeDesc", "ExpireTimeAsc"):
        raise invalid_value("OrderBy", "co-hosting packages cannot be ordered by expiry")
    low, high = policy.page_range(PACKAGE_INFO)
    paged = params.get("PageNum") is not None and params.get("PageSize") is not None
    page_num = int_param(params, "PageNum", 1, 1, 1 << 31)
    page_size = int_param(params, "PageSize", high, low, high)
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
