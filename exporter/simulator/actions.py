"""The CSS actions: request parameters, paging and response fields as the real API has
them (field names checked against ``tencentcloud.live.v20180801.models``)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from exporter.cssapi import FORBID_LIST, ONLINE_LIST, PUSH_INFO_LIST, STATE
from exporter.simulator.errors import ApiError, invalid_value, missing_parameter
from exporter.simulator.history import HISTORY_HANDLERS
from exporter.simulator.params import int_param, only, pages
from exporter.simulator.playback_actions import PLAYBACK_HANDLERS
from exporter.simulator.policy import Policy
from exporter.simulator.world import OnlineStream, World

_BEIJING = timezone(timedelta(hours=8))
PUSH_INFO_MAX_PAGE_NUM = 10000


def iso_utc(t: float) -> str:
    """``2018-06-29T19:00:00Z``, the format of PublishTime, CreateTime and ExpireTime."""
    return _iso_utc_second(int(t))


@functools.lru_cache(maxsize=4096)
def _iso_utc_second(t: int) -> str:
    # Streams pushed in the same second share it: formatting was 44% of a 20k-stream page.
    return datetime.fromtimestamp(t, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def beijing_time(t: float) -> str:
    """``2019-02-01 08:00:00``: Tencent's space-separated times are Beijing time (UTC+8)."""
    return datetime.fromtimestamp(t, tz=_BEIJING).strftime("%Y-%m-%d %H:%M:%S")


# parameter readers --------------------------------------------------------------------------


def _required_str(params: Mapping[str, Any], name: str) -> str:
    value = params.get(name)
    if value is None or value == "":
        raise missing_parameter(name)
    if not isinstance(value, str):
        raise invalid_value(name, f"expected a string, got {type(value).__name__}")
    return value


def _optional_str(params: Mapping[str, Any], name: str) -> str | None:
    value = params.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise invalid_value(name, f"expected a string, got {type(value).__name__}")
    return value


# actions ------------------------------------------------------------------------------------


def describe_stream_state(
    world: World, params: Mapping[str, Any], policy: Policy
) -> dict[str, Any]:
    only(params, {"AppName", "DomainName", "StreamName"})
    domain = _required_str(params, "DomainName")
    app = _required_str(params, "AppName")
    stream = _required_str(params, "StreamName")
    return {"StreamState": world.state_of(domain, app, stream)}


def describe_online_list(world: World, params: Mapping[str, Any], policy: Policy) -> dict[str, Any]:
    only(params, {"DomainName", "AppName", "PageNum", "PageSize", "StreamName"})
    domain = _optional_str(params, "DomainName")
    app = _optional_str(params, "AppName")
    stream = _optional_str(params, "StreamName")
    page_num = int_param(params, "PageNum", 1, 1, None)
    page_size = int_param(params, "PageSize", 10, *policy.page_range(ONLINE_LIST))
    if domain is None:
        domains = world.domains()
        if len(domains) > 1:
            raise ApiError(
                "MissingParameter",
                "The request is missing a required parameter `DomainName` "
                "(required for accounts with more than one push domain).",
            )
        domain = domains[0] if domains else None
    start = (page_num - 1) * page_size
    items: list[OnlineStream] = []
    if domain is None:
        total = 0
    else:
        total, items = world.online(domain, app, start, start + page_size, stream)
    return {
        "OnlineInfo": [
            {
                "StreamName": item.stream,
                "AppName": item.app,
                "DomainName": item.domain,
                "PublishTimeList": [{"PublishTime": iso_utc(item.since)}],
                "PushToDelay": 0,
            }
            for item in items
        ],
        "PageNum": page_num,
        "PageSize": page_size,
        "TotalNum": total,
        "TotalPage": pages(total, page_size),
    }


def _push_data(item: OnlineStream) -> dict[str, Any]:
    q = item.quality
    return {
        "StreamName": item.stream,
        "AppName": item.app,
        "PushDomain": item.domain,
        "ClientIp": q.client_ip,
        "ServerIp": q.server_ip,
        "VideoFps": q.video_fps,
        "AudioFps": q.audio_fps,
        "VideoSpeed": q.video_bitrate,
        "AudioSpeed": q.audio_bitrate,
        "MetaVideoSpeed": q.meta_video_bitrate
        if q.meta_video_bitrate is not None
        else q.video_bitrate,
        "MetaAudioSpeed": q.meta_audio_bitrate
        if q.meta_audio_bitrate is not None
        else q.audio_bitrate,
        "MetaFps": q.meta_fps if q.meta_fps is not None else q.video_fps,
        "Resolution": q.resolution,
        "Vcodec": q.vcodec,
        "Acodec": q.acodec,
        "AsampleRate": q.asample_rate,
        "BeginPushTime": beijing_time(item.since),
    }


def describe_push_info_list(
    world: World, params: Mapping[str, Any], policy: Policy
) -> dict[str, Any]:
    only(params, {"PushDomain", "AppName", "PageNum", "PageSize"})
    domain = _optional_str(params, "PushDomain")
    app = _optional_str(params, "AppName")
    page_num = int_param(params, "PageNum", 1, 1, PUSH_INFO_MAX_PAGE_NUM)
    page_size = int_param(params, "PageSize", 200, *policy.page_range(PUSH_INFO_LIST))
    start = (page_num - 1) * page_size
    total, items = world.online(domain, app, start, start + page_size)
    if total == 0:
        raise ApiError("FailedOperation.HasNotLivingStream")
    return {
        "DataInfoList": [_push_data(item) for item in items],
        "PageNum": page_num,
        "PageSize": page_size,
        "TotalNum": total,
        "TotalPage": pages(total, page_size),
    }


def describe_forbid_list(world: World, params: Mapping[str, Any], policy: Policy) -> dict[str, Any]:
    only(params, {"PageNum", "PageSize", "StreamName"})
    stream = _optional_str(params, "StreamName")
    page_num = int_param(params, "PageNum", 1, 1, None)
    page_size = int_param(params, "PageSize", 10, *policy.page_range(FORBID_LIST))
    start = (page_num - 1) * page_size
    total, items = world.forbidden(stream, start, start + page_size)
    return {
        "ForbidStreamList": [_forbid_entry(item, policy.forbid_without_place) for item in items],
        "PageNum": page_num,
        "PageSize": page_size,
        "TotalNum": total,
        "TotalPage": pages(total, page_size),
    }


def _forbid_entry(item: Any, without_place: bool) -> dict[str, Any]:
    entry = {"StreamName": item.stream}
    if not without_place:
        # The China site's example has neither; the international model says "may return null".
        entry.update(AppName=item.app, DomainName=item.domain)
    entry.update(CreateTime=iso_utc(item.create_time), ExpireTime=iso_utc(item.expire_time))
    return entry


Handler = Callable[[World, Mapping[str, Any], Policy], dict[str, Any]]

HANDLERS: dict[str, Handler] = {
    STATE: describe_stream_state,
    ONLINE_LIST: describe_online_list,
    PUSH_INFO_LIST: describe_push_info_list,
    FORBID_LIST: describe_forbid_list,
    **PLAYBACK_HANDLERS,  # viewers, playback, error codes, certificates, packages
    **HISTORY_HANDLERS,  # the event list, the callback records (simulator/history.py)
}
