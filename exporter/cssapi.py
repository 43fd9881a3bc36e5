"""Facts about the Tencent Cloud CSS API shared by the exporter and the simulator.

Kept free of any imports from the rest of the package so that the simulator can use the
same names without depending on exporter internals.
"""

from __future__ import annotations

SERVICE = "live"
API_VERSION = "2018-08-01"
DEFAULT_ENDPOINT = "live.tencentcloudapi.com"

STATE = "DescribeLiveStreamState"
ONLINE_LIST = "DescribeLiveStreamOnlineList"
PUSH_INFO_LIST = "DescribeLiveStreamPushInfoList"
FORBID_LIST = "DescribeLiveForbidStreamList"

ACTIONS: tuple[str, ...] = (STATE, ONLINE_LIST, PUSH_INFO_LIST, FORBID_LIST)

# Documented per-account limits in requests per second. Where the China and international
# sites disagree the stricter figure is used (see shared/docs/css-api-facts.md).
DOCUMENTED_LIMITS: dict[str, int] = {
    STATE: 300,
    ONLINE_LIST: 80,
    PUSH_INFO_LIST: 30,
    FORBID_LIST: 100,
}

# Values DescribeLiveStreamState answers.
STREAM_STATES: tuple[str, ...] = ("active", "inactive", "forbid")
