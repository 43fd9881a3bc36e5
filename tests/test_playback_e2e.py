"""What viewers see, end to end: the exporter's App, the official SDK over loopback, the simulator
as Tencent, one shared fake clock (the simulator's data lag, rate limits and throttling windows
count in it too), so a quarter of an hour takes seconds.

- viewers on /metrics are the simulator's scripted numbers for the minute the exporter asked,
  and that minute is on /metrics (tencent_live_playback_data_timestamp_seconds);
- a stream that goes off air keeps its viewers until Tencent's data for a minute after it stopped
  says zero (its state is inactive long before);
- streams nobody tracks are summed per play domain;
- a throttled viewer call leaves the last values aged (the data minute stays), not zeroed;
- play-domain figures, error counters, certificates and packages reach /metrics too.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from exporter import cssapi
from exporter.app import App
from exporter.config import Config
from exporter.polling.tick import TICK_SECONDS
from exporter.simulator import Simulator, World, load_scenario
from exporter.simulator.playback import PlaybackModel, attach
from tests.drive import SharedClock
from tests.e2e import SECRET_ID, SECRET_KEY

PUSH = "push.example.com"
PLAY = "play.example.com"
PLAY_HD = "play-hd.example.com"
LAG = 300.0
START = 1_800_000_020.0  # 20 s into a minute

SCENARIO: dict[str, Any] = {
    "streams": [
        {"domain": PUSH, "stream": "main", "state": "active"},
        {"domain": PUSH, "stream": "quiet", "state": "active"},
        {"domain": PUSH, "stream": "leaving", "state": "active"},
        {"domain": PUSH, "stream": "guest-1", "state": "active"},
        {"domain": PUSH, "stream": "guest-2", "state": "active"},
    ],
    "playback": {
        "data_lag": "5m",
        "play_domains": [
            {
                "name": PLAY,
                "push_domains": [PUSH],
                "error_ratios": {"5xx": 0.25},
                "certificate": {"expires_in": "10d"},
            },
            {"name": PLAY_HD, "push_domains": [PUSH], "share": 1},
        ],
        "viewers": {
            "streams": {"main": [120, 80, 61], "leaving": 30, "guest-1": 7, "guest-2": 5},
        },
        "packages": [{"id": "flux-1", "type": "traffic", "total": 100, "used": 95}],
    },
}

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


class Run:
    def __init__(self) -> None:
        self.clock = SharedClock(START)
        self.world = World.from_scenario(load_scenario(SCENARIO), clock=self.clock)
        self.model: PlaybackModel = attach(self.world)
        self.sim = Simulator(
            self.world, credentials={SECRET_ID: SECRET_KEY}, monotonic=self.clock
        ).start()
        config = Config.model_validate(
            {
                "accounts": [
                    {
                        "name": "e2e",
                        "endpoint": self.sim.url,
                        "credentials": {"secret_id": SECRET_ID, "secret_key": SECRET_KEY},
                        "play_domains": [
                            {"name": PLAY, "push_domains": [PUSH]},
                            {"name": PLAY_HD, "push_domains": [PUSH]},
                        ],
                    }
                ],
                "targets": [
                    {
                        "domain": PUSH,
                        "mode": "state",
                        "interval": "10s",
                        "streams": ["main", "quiet", "leaving"],
                    }
                ],
            }
        )
        c = self.clock
        self.app = App(config, "127.0.0.1:0", clock=c, wall=c, sleep=c.sleep)
        self.app.poller.first_round()
        self.app.poller.run_pending()

    def advance(self, seconds: float) -> None:
        end = self.clock.now + seconds
        while self.clock.now < end:
            self.clock.now += TICK_SECONDS
            self.app.poller.tick()
            self.app.poller.run_pending()

    def metrics(self) -> Samples:
        out: Samples = {}
        text = self.app.render_metrics().decode()
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                out[(s.name, frozenset(s.labels.items()))] = s.value
        return out

    def stop(self) -> None:
        self.sim.stop()
        self.app.web.stop()


def value(m: Samples, name: str, **labels: str) -> float | None:
    found = [v for (n, ls), v in m.items() if n == name and set(labels.items()) <= ls]
    assert len(found) <= 1, (name, labels, found)
    return found[0] if found else None


@pytest.fixture
def run() -> Iterator[Run]:
    r = Run()
    yield r
    r.stop()


def data_minute(m: Samples) -> float:
    stamp = value(m, "tencent_live_playback_data_timestamp_seconds", account="e2e")
    assert stamp is not None
    return stamp


def test_viewers_are_the_scripted_numbers_of_the_minute_asked(run: Run) -> None:
    for _ in range(4):
        m = run.metrics()
        minute = data_minute(m)
        assert minute == math.floor((run.clock.now - LAG) / 60) * 60
        scripted = run.model.scripted("main", minute)
        assert value(m, "tencent_live_stream_viewers", stream="main") == scripted
        assert value(m, "tencent_live_stream_viewers", stream="quiet") == 0
        # 2 Mbit/s + 128 kbit/s per viewer (the default push quality), in bytes/s.
        bandwidth = value(m, "tencent_live_stream_playback_bytes_per_second", stream="main")
        assert bandwidth == pytest.approx(scripted * 2_128_000 / 8)
        requests = value(m, "tencent_live_stream_playback_requests_per_second", stream="main")
        assert requests == pytest.approx(scripted * 2 / 60)
        # Untracked: guest-1 and guest-2, over the two play domains (half each).
        untracked = [
            value(m, "tencent_live_playback_untracked_viewers", play_domain=p)
            for p in (PLAY, PLAY_HD)
        ]
        assert sum(v or 0 for v in untracked) == 12
        assert value(m, "tencent_live_playback_untracked_streams", play_domain=PLAY) == 2
        run.advance(60)
    assert {run.model.scripted("main", t * 60) for t in range(3)} == {120, 80, 61}


def test_off_air_shows_zero_viewers_only_after_tencent_data_says_so(run: Run) -> None:
    run.advance(40)  # to a minute boundary
    stopped = run.clock.now
    run.world.set_state(PUSH, "live", "leaving", "inactive")
    seen_inactive_with_viewers = False
    zero_at: float | None = None
    for _ in range(8 * 60):
        run.advance(1)
        m = run.metrics()
        minute = data_minute(m)
        viewers = value(m, "tencent_live_stream_viewers", stream="leaving")
        inactive = value(m, "tencent_live_stream_state", stream="leaving", state="inactive")
        if minute < stopped:
            assert viewers == 30, (minute, stopped)
            seen_inactive_with_viewers |= inactive == 1
        else:
            assert viewers == 0
            zero_at = zero_at or run.clock.now
    assert seen_inactive_with_viewers  # the push side knew minutes before the viewers did
    assert zero_at is not None and zero_at - stopped >= LAG


def test_a_throttled_viewer_call_leaves_the_values_aged_not_zeroed(run: Run) -> None:
    run.advance(120)
    before = run.metrics()
    minute = data_minute(before)
    main = value(before, "tencent_live_stream_viewers", stream="main")
    assert main
    run.sim.start_window("throttle", 180, cssapi.ALL_STREAM_PLAY)
    run.advance(170)
    during = run.metrics()
    assert data_minute(during) == minute  # aged: the same minute, its values kept
    assert value(during, "tencent_live_stream_viewers", stream="main") == main
    assert value(during, "tencent_live_stream_viewers", stream="leaving") == 30
    errors = value(
        during,
        "tencent_live_api_errors_total",
        action=cssapi.ALL_STREAM_PLAY,
        code="RequestLimitExceeded",
    )
    assert errors and errors >= 2
    # State polls went on meanwhile: only the viewer lane was throttled.
    assert value(during, "tencent_live_stream_state", stream="main", state="active") == 1
    assert value(during, "tencent_live_api_backoff_seconds", account="e2e") == 0
    run.advance(120)
    after = run.metrics()
    assert data_minute(after) > minute
    scripted = run.model.scripted("main", data_minute(after))
    assert value(after, "tencent_live_stream_viewers", stream="main") == scripted
    missed = value(after, "tencent_live_playback_missed_data_seconds_total", account="e2e")
    assert missed is not None and missed >= 1


def test_play_domains_errors_certificates_and_packages(run: Run) -> None:
    run.advance(600)
    m = run.metrics()
    viewers = value(m, "tencent_live_play_domain_viewers", play_domain=PLAY)
    assert viewers is not None and viewers > 0
    fives = value(m, "tencent_live_play_domain_responses_total", play_domain=PLAY, code_class="5xx")
    requests = value(m, "tencent_live_play_domain_requests_per_second", play_domain=PLAY)
    assert fives is not None and fives > 0 and requests is not None and requests > 0
    responses = "tencent_live_play_domain_responses_total"
    assert value(m, responses, play_domain=PLAY_HD, code_class="5xx") == 0
    expiry = value(
        m, "tencent_live_play_domain_certificate_expiry_timestamp_seconds", play_domain=PLAY
    )
    assert expiry == pytest.approx(run.world.started + 10 * 86_400, abs=1)
    assert value(m, "tencent_live_package_used_ratio", package="flux-1") == 0.95
    for action in cssapi.PLAYBACK_ACTIONS:
        assert value(m, "tencent_live_playback_available", action=action) == 1
        assert value(m, "tencent_live_api_requests_total", action=action)
