"""The playback rounds in process with a fake clock: viewers for the minute asked, matching by
name over play domains, untracked sums, never a false zero, rereads, unavailable calls, the cost.

A scripted client answers in Tencent's JSON shapes and the exporter's own parse functions read
them; what the SDK and the simulator do on the wire is tested in test_playback_e2e.py and
tests/simulator/test_sim_playback.py.
"""

from __future__ import annotations

import datetime
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from exporter import cssapi
from exporter.client.playback import iso_minute
from exporter.exposition import unpack_playback
from exporter.model import ApiError, ErrorClass, StreamKey, StreamState
from exporter.polling.playback_collector import PlaybackCollector
from exporter.polling.playback_viewers import asked_minute
from tests.test_poller import DOMAIN, FakeApi, Rig, config

PLAY_A = "play-a.example.com"
PLAY_B = "play-b.example.com"
OTHER_PUSH = "push-other.example.com"
_BEIJING = datetime.timezone(datetime.timedelta(hours=8))


def beijing(t: float) -> str:
    return datetime.datetime.fromtimestamp(t, tz=_BEIJING).strftime("%Y-%m-%d %H:%M:%S")


class FakePlayApi(FakeApi):
    """FakeApi plus the generic call the playback rounds make, answering in Tencent's shapes."""

    def __init__(self) -> None:
        super().__init__()
        # (play domain, stream) -> viewers at the minute asked (a function of the minute).
        self.viewers: Callable[[float], dict[tuple[str, str], int]] = lambda minute: {}
        self.errors_5xx: dict[float, int] = {}  # minute -> 5xx count (grows as minutes finish)
        self.certs: dict[str, float] = {}
        self.packages: list[dict[str, Any]] = []
        self.asked: list[tuple[str, dict[str, Any]]] = []

    def call(
        self,
        action: str,
        params: dict[str, Any],
        parse: Callable[[dict[str, Any]], Any] | None = None,
        empty: Any = None,
    ) -> Any:
        if action not in cssapi.PLAYBACK_ACTIONS:  # other rounds' calls: not this test's
            return ApiError("InternalError", ErrorClass.SERVER, "not scripted here")
        self.asked.append((action, params))
        err = self._error(action)
        if err is not None:
            return err
        response = getattr(self, "_" + action)(params)
        assert parse is not None
        try:
            return parse(response)
        except ValueError:
            return ApiError("BadResponse", ErrorClass.TRANSPORT, "bad")

    def _DescribeAllStreamPlayInfoList(self, params: dict[str, Any]) -> dict[str, Any]:
        minute = datetime.datetime.fromisoformat(params["QueryTime"].replace("Z", "+00:00"))
        data = []
        for (play, stream), online in self.viewers(minute.timestamp()).items():
            if play not in params["PlayDomains"]:
                continue
            # Split over two protocols, as Tencent answers per protocol and bitrate.
            flv = online // 2
            for protocol, n in (("Flv", flv), ("Hls", online - flv)):
                data.append(
                    {
                        "PlayDomain": play,
                        "StreamName": stream,
                        "Rate": 0,
                        "Protocol": protocol,
                        "Bandwidth": n * 2.0,
                        "Online": n,
                        "Request": n * 3,
                    }
                )
        return {"QueryTime": params["QueryTime"], "DataInfoList": data}

    def _DescribeLiveDomainPlayInfoList(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "Time": beijing(1_800_000_000.0),
            "TotalBandwidth": 8.0,
            "TotalFlux": 480.0,
            "TotalRequest": 10,
            "TotalOnline": 5,
            "DomainInfoList": [
                {
                    "Domain": d,
                    "DetailInfoList": [
                        {
                            "MainlandOrOversea": "Mainland",
                            "Bandwidth": 4.0,
                            "Flux": 30.0,
                            "Online": 2,
                            "Request": 6,
                        },
                        {
                            "MainlandOrOversea": "Oversea",
                            "Bandwidth": 4.0,
                            "Flux": 30.0,
                            "Online": 3,
                            "Request": 6,
                        },
                    ],
                }
                for d in params["PlayDomains"]
            ],
        }

    def _DescribePlayErrorCodeDetailInfoList(self, params: dict[str, Any]) -> dict[str, Any]:
        start = datetime.datetime.fromisoformat(params["StartTime"].replace("Z", "+00:00"))
        end = datetime.datetime.fromisoformat(params["EndTime"].replace("Z", "+00:00"))
        values = []
        t = start.timestamp()
        while t <= end.timestamp():
            values.append({"Time": iso_minute(t), "Numbers": self.errors_5xx.get(t, 0)})
            t += 60
        return {
            "HttpCodeList": [{"HttpCode": "502", "ValueList": values}],
            "StatType": params["StatType"],
        }

    def _DescribeLiveDomainCertBindings(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params["DomainName"]
        found = []
        if name in self.certs:
            expires = beijing(self.certs[name])
            found.append({"DomainName": name, "Status": 1, "CertExpireTime": expires})
        return {"LiveDomainCertBindings": found, "TotalNum": len(found)}

    def _DescribeLivePackageInfo(self, params: dict[str, Any]) -> dict[str, Any]:
        kinds = {0: (0,), 1: (1, 2), 2: (3,)}[params["PackageType"]]
        found = [p for p in self.packages if p["Type"] in kinds]
        return {"LivePackageInfoList": found, "TotalPage": 1, "TotalNum": len(found)}


def play_config(
    streams: list[str], play_domains: list[dict[str, Any]] | None = None, **playback: Any
) -> Any:
    targets = [
        {"domain": DOMAIN, "mode": "state", "interval": "10s", "streams": streams},
        {"domain": OTHER_PUSH, "mode": "state", "interval": "10s", "streams": ["elsewhere"]},
    ]
    if play_domains is None:
        play_domains = [
            {"name": PLAY_A, "push_domains": [DOMAIN]},
            {"name": PLAY_B, "push_domains": [DOMAIN, OTHER_PUSH]},
        ]
    return config(targets, play_domains=play_domains, playback=playback)


def rig(streams: list[str], **playback: Any) -> tuple[Rig, FakePlayApi]:
    api = FakePlayApi()
    r = Rig(play_config(streams, **playback), api)
    for name in streams:
        api.states[name] = StreamState.ACTIVE
    return r, api


def viewers_of(r: Rig, stream: str, domain: str = DOMAIN) -> tuple[float, float, float] | None:
    key = StreamKey("a", domain, "live", stream)
    packed = r.exposition._playback.get(key)
    return unpack_playback(packed) if packed is not None else None


def metrics(r: Rig) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    registry = CollectorRegistry()
    registry.register(PlaybackCollector(r.poller))
    out = {}
    for family in text_string_to_metric_families(generate_latest(registry).decode()):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def value(m: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> Any:
    for (n, ls), v in m.items():
        if n == name and set(labels.items()) <= ls:
            return v
    return None


def start(r: Rig) -> None:
    r.poller.first_round()
    r.poller.run_pending()


def test_viewers_for_the_minute_asked_summed_over_protocols_and_play_domains() -> None:
    r, api = rig(["s1", "s2", "off"])
    api.viewers = lambda minute: {
        (PLAY_A, "s1"): 10 + int(minute // 60) % 7,  # depends on the minute asked
        (PLAY_B, "s1"): 5,
        (PLAY_B, "s2"): 4,
        (PLAY_A, "guest"): 9,  # nobody tracks it
        (PLAY_B, "elsewhere"): 2,  # tracked on the other push domain PLAY_B serves
    }
    start(r)
    minute = asked_minute(r.wall.now, 300)
    [query] = [p for a, p in api.asked if a == cssapi.ALL_STREAM_PLAY]
    assert query == {"QueryTime": iso_minute(minute), "PlayDomains": [PLAY_A, PLAY_B]}
    expected = 10 + int(minute // 60) % 7 + 5
    assert viewers_of(r, "s1") == (expected, expected * 2.0 * 125_000, expected * 3 / 60)
    assert viewers_of(r, "s2") == (4, 4 * 2.0 * 125_000, 4 * 3 / 60)
    assert viewers_of(r, "off") == (0, 0, 0)  # Tencent's data has no playback for it
    assert viewers_of(r, "elsewhere", OTHER_PUSH) == (2, 500_000.0, 0.1)
    m = metrics(r)
    assert value(m, "tencent_live_playback_data_timestamp_seconds") == minute
    assert value(m, "tencent_live_playback_untracked_viewers", play_domain=PLAY_A) == 9
    assert value(m, "tencent_live_playback_untracked_streams", play_domain=PLAY_A) == 1
    assert value(m, "tencent_live_playback_untracked_viewers", play_domain=PLAY_B) == 0
    r.exposition.flush(r.store.get_many)
    body = b"".join(r.exposition.render_chunks()).decode()
    assert f'tencent_live_stream_viewers{{account="a",domain="{DOMAIN}",app="live",' in body


def test_a_name_tracked_twice_on_served_push_domains_counts_as_untracked() -> None:
    r, api = rig(["s1", "shared"])
    r.apply(
        config(
            [
                {"domain": DOMAIN, "mode": "state", "interval": "10s", "streams": ["shared"]},
                {"domain": OTHER_PUSH, "mode": "state", "interval": "10s", "streams": ["shared"]},
            ],
            play_domains=[{"name": PLAY_B, "push_domains": [DOMAIN, OTHER_PUSH]}],
        )
    )
    api.viewers = lambda minute: {(PLAY_B, "shared"): 8}
    start(r)
    assert viewers_of(r, "shared") == (0, 0, 0)
    assert viewers_of(r, "shared", OTHER_PUSH) == (0, 0, 0)
    assert value(metrics(r), "tencent_live_playback_untracked_viewers", play_domain=PLAY_B) == 8


def test_one_call_per_new_minute_and_minutes_missed_are_counted() -> None:
    r, api = rig(["s1"])
    api.viewers = lambda minute: {(PLAY_A, "s1"): 3}
    start(r)
    r.advance(600)
    calls = [p["QueryTime"] for a, p in api.asked if a == cssapi.ALL_STREAM_PLAY]
    assert len(calls) == len(set(calls)) == 11  # the first, then one a minute, never twice
    assert value(metrics(r), "tencent_live_playback_missed_data_seconds_total") == 0
    # Six minutes without an answer: the next call asks for the newest minute.
    api.errors[cssapi.ALL_STREAM_PLAY] = [ApiError("InternalError", ErrorClass.SERVER, "x")] * 12
    r.advance(360)
    api.errors.clear()
    r.advance(60)
    assert value(metrics(r), "tencent_live_playback_missed_data_seconds_total") >= 5 * 60


def test_a_throttled_viewer_call_leaves_the_values_aged_not_zeroed() -> None:
    r, api = rig(["s1"])
    api.viewers = lambda minute: {(PLAY_A, "s1"): 40}
    start(r)
    before = value(metrics(r), "tencent_live_playback_data_timestamp_seconds")
    throttled = ApiError("RequestLimitExceeded", ErrorClass.THROTTLED, "slow down")
    api.errors[cssapi.ALL_STREAM_PLAY] = [throttled] * 4  # the call and its 3 retries
    acc = r.poller.dispatcher.account("a")
    assert acc is not None
    rate = acc.limiter(cssapi.ALL_STREAM_PLAY).rate
    r.advance(60)
    m = metrics(r)
    assert viewers_of(r, "s1") == (40, 40 * 2.0 * 125_000, 40 * 3 / 60)
    assert value(m, "tencent_live_playback_data_timestamp_seconds") == before
    assert value(m, "tencent_live_playback_rounds_total", round="viewers", result="error") == 1
    assert acc.limiter(cssapi.ALL_STREAM_PLAY).rate < rate  # AIMD on its own lane
    assert acc.guard.backoff.delay == 0
    r.advance(60)
    assert value(metrics(r), "tencent_live_playback_data_timestamp_seconds") > before


def test_one_empty_answer_is_held_back_a_second_is_believed() -> None:
    r, api = rig(["s1"])
    playing = {"on": True}
    api.viewers = lambda minute: {(PLAY_A, "s1"): 12} if playing["on"] else {}
    start(r)
    playing["on"] = False
    r.advance(60)
    assert viewers_of(r, "s1") == (12, 12 * 2.0 * 125_000, 12 * 3 / 60)
    assert value(metrics(r), "tencent_live_playback_rounds_total", result="held") == 1
    r.advance(60)
    assert viewers_of(r, "s1") == (0, 0, 0)


@pytest.mark.parametrize("code", ["InvalidAction", "AuthFailure.UnauthorizedOperation"])
def test_a_call_the_account_cannot_make_is_turned_off_without_backing_off(code: str) -> None:
    r, api = rig(["s1"])
    denied = ApiError(code, ErrorClass.CLIENT if code == "InvalidAction" else ErrorClass.AUTH, "x")
    api.errors[cssapi.DOMAIN_PLAY] = [denied]
    start(r)
    r.advance(300)
    assert sum(1 for a, _ in api.asked if a == cssapi.DOMAIN_PLAY) == 1
    acc = r.poller.dispatcher.account("a")
    assert acc is not None and acc.guard.backoff.delay == 0
    assert r.state("s1") is StreamState.ACTIVE
    assert api.calls[cssapi.STATE] > 30  # state polls went on
    m = metrics(r)
    assert value(m, "tencent_live_playback_available", action=cssapi.DOMAIN_PLAY) == 0
    assert value(m, "tencent_live_playback_available", action=cssapi.ALL_STREAM_PLAY) == 1


def test_error_counters_only_move_forward_when_minutes_are_reread() -> None:
    r, api = rig(["s1"], error_interval="1m", error_window="5m")
    now_minute = (r.wall.now // 60) * 60
    api.errors_5xx = {now_minute - 120: 5, now_minute - 60: 2}
    start(r)
    m = metrics(r)
    assert value(m, "tencent_live_play_domain_responses_total", code_class="5xx") == 7
    # The minute read with 2 had not finished: it is 6 when read again; an older minute whose
    # count Tencent lowered is not taken back.
    api.errors_5xx = {now_minute - 120: 4, now_minute - 60: 6}
    r.advance(60)
    m = metrics(r)
    five = value(
        m, "tencent_live_play_domain_responses_total", play_domain=PLAY_A, code_class="5xx"
    )
    assert five == 11
    assert value(m, "tencent_live_play_domain_responses_total", code_class="4xx") == 0


def test_domain_stats_certificates_and_packages() -> None:
    r, api = rig(["s1"])
    expires = r.wall.now + 10 * 86_400
    api.certs = {PLAY_A: expires}
    api.packages = [
        {
            "Id": "pkg-1",
            "Total": 1000,
            "Used": 950,
            "Left": 50,
            "BuyTime": beijing(r.wall.now - 86_400),
            "ExpireTime": beijing(r.wall.now + 3 * 86_400),
            "Type": 0,
            "Status": 1,
            "WillRenew": 0,
        },
        {
            "Id": "pkg-old",
            "Total": 60,
            "Used": 60,
            "Left": 0,
            "BuyTime": beijing(r.wall.now - 90 * 86_400),
            "ExpireTime": beijing(r.wall.now - 30 * 86_400),
            "Type": 1,
            "Status": 2,
        },
        {
            "Id": "pkg-t",
            "Total": 600,
            "Used": 60,
            "Left": 540,
            "BuyTime": beijing(r.wall.now - 86_400),
            "ExpireTime": beijing(r.wall.now + 300 * 86_400),
            "Type": 1,
            "Status": 1,
        },
    ]
    start(r)
    m = metrics(r)
    assert value(m, "tencent_live_play_domain_viewers", play_domain=PLAY_A) == 5
    assert value(m, "tencent_live_play_domain_bytes_per_second", play_domain=PLAY_B) == 1e6
    assert value(m, "tencent_live_play_domain_requests_per_second", play_domain=PLAY_A) == 0.2
    assert value(m, "tencent_live_play_domain_traffic_bytes", play_domain=PLAY_A) == 60e6
    cert = "tencent_live_play_domain_certificate_expiry_timestamp_seconds"
    assert value(m, cert, play_domain=PLAY_A) == pytest.approx(expires, abs=1)
    assert value(m, cert, play_domain=PLAY_B) is None  # no certificate bound
    assert value(m, "tencent_live_package_used_ratio", package="pkg-1") == 0.95
    assert value(m, "tencent_live_package_remaining_bytes", package="pkg-1") == 50
    assert value(m, "tencent_live_package_remaining_seconds", package="pkg-t") == 540 * 60
    assert value(m, "tencent_live_package_status", package="pkg-1", status="in_use") == 1
    assert value(m, "tencent_live_package_used_ratio", package="pkg-old") is None


def test_without_play_domains_no_playback_call_is_made() -> None:
    api = FakePlayApi()
    r = Rig(config([{"domain": DOMAIN, "mode": "state", "streams": ["s1"]}]), api)
    start(r)
    r.advance(3600)
    assert api.asked == []
    assert metrics(r) == {}


def test_switched_off_calls_are_not_made() -> None:
    r, api = rig(["s1"], viewers=False, packages=False, certificates=False)
    start(r)
    r.advance(600)
    made = Counter(a for a, _ in api.asked)
    assert set(made) == {cssapi.DOMAIN_PLAY, cssapi.PLAY_ERROR_CODES}


def test_calls_per_hour_for_10000_streams_on_3_play_domains() -> None:
    """The cost the issue asks for: under 200 calls an hour in all, whatever the streams."""
    names = [f"s{i:05d}" for i in range(10_000)]
    plays = ["play-1.example.com", "play-2.example.com", "play-3.example.com"]
    api = FakePlayApi()
    cfg = config(
        [{"domain": DOMAIN, "mode": "online_list", "streams": names, "push_info": False}],
        play_domains=[{"name": p, "push_domains": [DOMAIN]} for p in plays],
    )
    r = Rig(cfg, api)
    api.viewers = lambda minute: {(plays[i % 3], n): 1 + i % 5 for i, n in enumerate(names[:3000])}
    start(r)
    api.asked.clear()
    r.advance(3600)
    made = Counter(a for a, _ in api.asked)
    total = sum(made.values())
    assert made[cssapi.ALL_STREAM_PLAY] == 60
    assert made[cssapi.DOMAIN_PLAY] == 60
    assert made[cssapi.PLAY_ERROR_CODES] == 3 * 12
    assert made[cssapi.CERT_BINDINGS] == 3 and made[cssapi.PACKAGE_INFO] == 3
    assert total == 162 < 200, made


def test_a_reload_without_play_domains_drops_the_viewer_values_and_series() -> None:
    r, api = rig(["s1"])
    api.viewers = lambda minute: {(PLAY_A, "s1"): 7}
    start(r)
    assert viewers_of(r, "s1") == (7, 7 * 2.0 * 125_000, 7 * 3 / 60)
    # PLAY_B stays (for the other push domain only): s1 is served by no play domain any more.
    r.apply(play_config(["s1"], [{"name": PLAY_B, "push_domains": [OTHER_PUSH]}]))
    r.advance(60)
    assert viewers_of(r, "s1") is None
    m = metrics(r)
    assert value(m, "tencent_live_playback_untracked_viewers", play_domain=PLAY_A) is None
    assert value(m, "tencent_live_playback_untracked_viewers", play_domain=PLAY_B) == 0
    # No play domain at all: the next viewer round (without a call) drops every value.
    r.apply(config([{"domain": DOMAIN, "mode": "state", "interval": "10s", "streams": ["s1"]}]))
    asked = len(api.asked)
    r.advance(600)
    assert len(api.asked) == asked
    assert r.exposition.playback_keys() == []
    assert metrics(r) == {}
