"""Facts about the Tencent Cloud CSS API shared by the exporter and the simulator.

Kept free of any imports from the rest of the package so that the simulator can use the
same names without depending on exporter internals.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

SERVICE = "live"
API_VERSION = "2018-08-01"
DEFAULT_ENDPOINT = "live.tencentcloudapi.com"

STATE = "DescribeLiveStreamState"
ONLINE_LIST = "DescribeLiveStreamOnlineList"
PUSH_INFO_LIST = "DescribeLiveStreamPushInfoList"
FORBID_LIST = "DescribeLiveForbidStreamList"

# What viewers see (playback) and platform health: account-wide calls, none per stream.
ALL_STREAM_PLAY = "DescribeAllStreamPlayInfoList"
DOMAIN_PLAY = "DescribeLiveDomainPlayInfoList"
PLAY_ERROR_CODES = "DescribePlayErrorCodeDetailInfoList"
CERT_BINDINGS = "DescribeLiveDomainCertBindings"
PACKAGE_INFO = "DescribeLivePackageInfo"
PLAYBACK_ACTIONS: tuple[str, ...] = (
    ALL_STREAM_PLAY,
    DOMAIN_PLAY,
    PLAY_ERROR_CODES,
    CERT_BINDINGS,
    PACKAGE_INFO,
)

# Why streams stopped, and whether callbacks arrived: account-wide history (polling/history/).
EVENT_LIST = "DescribeLiveStreamEventList"
CALLBACK_RECORDS = "DescribeCallbackRecordsList"
HISTORY_ACTIONS: tuple[str, ...] = (EVENT_LIST, CALLBACK_RECORDS)

ACTIONS: tuple[str, ...] = (
    STATE,
    ONLINE_LIST,
    PUSH_INFO_LIST,
    FORBID_LIST,
    *PLAYBACK_ACTIONS,
    *HISTORY_ACTIONS,
)

INTL_ENDPOINT = "live.intl.tencentcloudapi.com"

CHINA = "china"
INTL = "intl"
STRICT = "strict"  # site not known: the stricter of the two sites' facts
SITES: tuple[str, ...] = (CHINA, INTL)


@dataclass(frozen=True)
class SiteFacts:
    """What one Tencent Cloud site documents for the actions in use.

    ``limits``: per-account requests per second. ``page_sizes``: the PageSize range, inclusive.
    ``forbid_list``: whether the site's SDKs still have DescribeLiveForbidStreamList.
    """

    name: str
    limits: Mapping[str, int]
    page_sizes: Mapping[str, tuple[int, int]]
    forbid_list: bool


# The China site (cloud.tencent.com/document/api/267/...): DescribeLiveStreamState 300/s
# (267/20474), DescribeLiveStreamOnlineList 80/s with PageSize 10..300000 and the advice to take
# all online streams in one page once a minute (267/20472; tccli api.json 3.1.155.1
# DescribeLiveStreamOnlineListRequest.PageSize), DescribeLiveStreamPushInfoList 30/s with
# PageSize 1..100000 and PageNum 1..10000 (267/20473; api.json), DescribeLiveForbidStreamList
# 2/s with PageSize 1..100 (267/33187), deleted from the China SDKs on 2025-11-28 (Go SDK
# SERVICE_CHANGELOG v1.3.4; absent from tccli api.json 3.1.155.1 and from
# tencentcloud-sdk-python-live 3.1.195).
#
# Playback and platform health, China site: DescribeAllStreamPlayInfoList 20/s (267/43743),
# DescribeLiveDomainPlayInfoList 100/s (267/35968), DescribePlayErrorCodeDetailInfoList 100/s
# (267/35967), DescribeLiveDomainCertBindings 20/s (267/78656, Length default and documented
# page of 50), DescribeLivePackageInfo 20/s with PageSize 10..100 (267/40942); all five in
# tencentcloud-sdk-python-live 3.1.195 and in tccli api.json 3.1.155.1.
#
# History, China site: DescribeLiveStreamEventList 300/s with PageSize 1..100, PageNum * PageSize
# within 10,000 records, StartTime within 2 months and a span of at most 1 month (267/33186;
# api.json 3.1.155.1 DescribeLiveStreamEventListRequest). DescribeCallbackRecordsList (China API
# only; in tencentcloud-sdk-python-live 3.1.195 and api.json 3.1.155.1, where StreamName, PageNum
# and PageSize are required and a span is at most 1 day within the last 14 days) documents no
# rate limit and no PageSize range: 20/s (the least any CSS query action documents) and the
# event list's 1..100 stand in for them.
CHINA_FACTS = SiteFacts(
    CHINA,
    limits={
        STATE: 300,
        ONLINE_LIST: 80,
        PUSH_INFO_LIST: 30,
        FORBID_LIST: 2,
        ALL_STREAM_PLAY: 20,
        DOMAIN_PLAY: 100,
        PLAY_ERROR_CODES: 100,
        CERT_BINDINGS: 20,
        PACKAGE_INFO: 20,
        EVENT_LIST: 300,
        CALLBACK_RECORDS: 20,
    },
    page_sizes={
        ONLINE_LIST: (10, 300_000),
        PUSH_INFO_LIST: (1, 100_000),
        FORBID_LIST: (1, 100),
        PACKAGE_INFO: (10, 100),
        EVENT_LIST: (1, 100),
        CALLBACK_RECORDS: (1, 100),
    },
    forbid_list=False,
)
# The international site (tencentcloud.com/document/api/267/...): State 300/s (30799, one 2019
# page says 500), OnlineList 100/s with PageSize 10..100 (30798), PushInfoList 500/s with PageSize
# up to 1000 (30800), ForbidStreamList 100/s with PageSize 1..100 (30801, 2023 edition; a 2019
# edition said 500), still in tencentcloud-sdk-go-intl-en.
#
# Playback and platform health, international site: DescribeAllStreamPlayInfoList 20/s (37306),
# DescribeLiveDomainPlayInfoList 100/s (37304, 2022 edition; dropped from
# tencentcloud-sdk-go-intl-en in v3.0.456, 2022-06), DescribePlayErrorCodeDetailInfoList 100/s
# (37301), DescribeLiveDomainCertBindings 20/s (49645). DescribeLivePackageInfo has no
# international page and is in no international SDK: the China site's 20/s and PageSize
# 10..100 stand in for it. An account that cannot call an action at all (retired, or denied by
# CAM) is detected from its answer at run time (polling/playback_book.py).
#
# History, international site: DescribeLiveStreamEventList 300/s (30800, 2023 edition; a 2019
# edition said 500) with PageSize 1..100, the same 10,000 records, 60 days and 30-day span.
# DescribeCallbackRecordsList has no international page: the China site's stand-ins apply.
INTL_FACTS = SiteFacts(
    INTL,
    limits={
        STATE: 300,
        ONLINE_LIST: 100,
        PUSH_INFO_LIST: 500,
        FORBID_LIST: 100,
        ALL_STREAM_PLAY: 20,
        DOMAIN_PLAY: 100,
        PLAY_ERROR_CODES: 100,
        CERT_BINDINGS: 20,
        PACKAGE_INFO: 20,
        EVENT_LIST: 300,
        CALLBACK_RECORDS: 20,
    },
    page_sizes={
        ONLINE_LIST: (10, 100),
        PUSH_INFO_LIST: (1, 1000),
        FORBID_LIST: (1, 100),
        PACKAGE_INFO: (10, 100),
        EVENT_LIST: (1, 100),
        CALLBACK_RECORDS: (1, 100),
    },
    forbid_list=True,
)


def _stricter(a: SiteFacts, b: SiteFacts) -> SiteFacts:
    pages = {
        action: (
            max(a.page_sizes[action][0], b.page_sizes[action][0]),
            min(a.page_sizes[action][1], b.page_sizes[action][1]),
        )
        for action in a.page_sizes
    }
    limits = {action: min(a.limits[action], b.limits[action]) for action in a.limits}
    return SiteFacts(STRICT, limits, pages, a.forbid_list and b.forbid_list)


STRICT_FACTS = _stricter(CHINA_FACTS, INTL_FACTS)
SITE_FACTS: dict[str, SiteFacts] = {CHINA: CHINA_FACTS, INTL: INTL_FACTS, STRICT: STRICT_FACTS}

# The stricter site's limits: what an account of unknown site may count on.
DOCUMENTED_LIMITS: dict[str, int] = dict(STRICT_FACTS.limits)

# The event list pages through at most 10,000 records per query (PageNum * PageSize, 267/33186).
EVENT_LIST_MAX_RECORDS = 10_000
# Spans a query may cover: the event list a month (267/33186), the callback records a day.
EVENT_LIST_MAX_SPAN = 30 * 86400.0
CALLBACK_RECORDS_MAX_SPAN = 86400.0

# China: one list page per round for typical fleets, as Tencent advises (the online list "suits
# fewer than 20,000 streams", 267/20472); larger fleets page at this size.
CHINA_LIST_PAGE_SIZE = 20_000


def site_of(endpoint_host: str, site: str | None = None) -> str:
    """The site an account is on: as configured, intl for the international endpoint, else
    unknown (the stricter facts apply)."""
    if site is not None:
        return site
    host = endpoint_host.rsplit(":", 1)[0] if endpoint_host.count(":") == 1 else endpoint_host
    return INTL if host == INTL_ENDPOINT else STRICT


def default_list_page_size(site: str) -> int:
    """DescribeLiveStreamOnlineList PageSize when a target does not set one."""
    if site == CHINA:
        return CHINA_LIST_PAGE_SIZE
    return SITE_FACTS[site].page_sizes[ONLINE_LIST][1]


# Values DescribeLiveStreamState answers.
STREAM_STATES: tuple[str, ...] = ("active", "inactive", "forbid")
