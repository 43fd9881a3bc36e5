"""A captured (t, sign) pair replayed with forged bodies cannot mask an outage or fake one.

CSS signs only ``t``: one genuine callback seen on the way signs any body until ``t``. The attack
from the issue: replay that pair every 2 s for 60 s, with push events for 20 streams that are
really down (to mask an outage) and interrupt events for 20 live streams (to fake one). The
exporter polls them with DescribeLiveStreamState every 10 s, in process against the simulator
(official SDK on the wire), on a fake clock.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from exporter.app import App
from exporter.callbacks import sign
from exporter.callbacks.origin import Origin
from exporter.config import Config
from exporter.model import StreamKey, StreamState
from exporter.polling.tick import TICK_SECONDS
from exporter.simulator import Simulator, World
from tests.drive import SharedClock
from tests.e2e import SECRET_ID, SECRET_KEY, parse_samples, sample

DOMAIN = "push-f.example.com"
KEY = "forged-callback-key-9a1b"
INTERVAL = 10.0
DOWN = [f"down-{i:02d}" for i in range(20)]
LIVE = [f"live-{i:02d}" for i in range(20)]


@pytest.fixture(params=[False, True], ids=["no-allow-list", "allow-list"])
def setup(request: pytest.FixtureRequest) -> Iterator[tuple[App, SharedClock, bool]]:
    world = World()
    for name in DOWN:
        world.add_stream(DOMAIN, "live", name, state="inactive")
    for name in LIVE:
        world.add_stream(DOMAIN, "live", name, state="active")
    # One fake clock for polling, verdicts and the simulator's rate limits.
    clock = SharedClock(1_800_000_000.0)
    sim = Simulator(world, credentials={SECRET_ID: SECRET_KEY}, monotonic=clock)
    sim.start()
    callbacks: dict[str, object] = {}
    if request.param:
        callbacks = {"allow_networks": ["203.0.113.0/24"]}  # CSS's (for the test) addresses
    config = Config.model_validate(
        {
            "accounts": [
                {
                    "name": "f",
                    "endpoint": sim.url,
                    "credentials": {"secret_id": SECRET_ID, "secret_key": SECRET_KEY},
                    "callback_keys": [KEY],
                }
            ],
            "targets": [
                {
                    "domain": DOMAIN,
                    "mode": "state",
                    "interval": f"{INTERVAL:.0f}s",
                    "push_info": False,
                    "streams": DOWN + LIVE,
                }
            ],
            "callbacks": callbacks,
        }
    )
    app = App(config, "127.0.0.1:0", clock=clock, wall=clock, sleep=clock.sleep)
    yield app, clock, request.param
    app.web.stop()
    sim.stop()


def body(stream: str, event: int, event_time: int, t: int, signature: str, seq: str) -> bytes:
    return json.dumps(
        {
            "event_type": event,
            "app": DOMAIN,
            "appname": "live",
            "stream_id": stream,
            "event_time": event_time,
            "sequence": seq,
            "t": t,
            "sign": signature,
        }
    ).encode()


def state(app: App, stream: str) -> StreamState:
    status = app.store.get(StreamKey("f", DOMAIN, "live", stream))
    assert status is not None
    return status.state


def test_a_replayed_pair_masks_no_outage_and_fakes_none(
    setup: tuple[App, SharedClock, bool],
) -> None:
    app, wall, allow_list = setup
    poller = app.poller
    poller.first_round()
    poller.run_pending()
    assert {state(app, n) for n in DOWN} == {StreamState.INACTIVE}
    assert {state(app, n) for n in LIVE} == {StreamState.ACTIVE}

    # The genuine callback the attacker captured: the pair of one second, event time T0.
    t0_event = int(wall.now)
    t0 = t0_event + 600
    pair = sign(KEY, t0)
    attacker = Origin("198.51.100.7")  # not one of the allowed networks
    answers: dict[int, int] = {}
    start = wall.now
    wrong_since: dict[str, float] = {}
    worst = 0.0
    n = 0
    while wall.now - start < 60:
        if (wall.now - start) % 2 < TICK_SECONDS:  # a replay burst every 2 s
            n += 1
            for i, name in enumerate(DOWN + LIVE):
                event = 1 if name in DOWN else 0
                # Varied to look new: the current time, or the captured second with a new
                # sequence (a retry of the same body is a duplicate and changes nothing anyway).
                at = int(wall.now) if n % 2 else t0_event
                forged = body(name, event, at, t0, pair, f"forged-{n}-{i}")
                status, _ = app.handle_callback(forged, "application/json", origin=attacker)
                answers[status] = answers.get(status, 0) + 1
        wall.now += TICK_SECONDS
        poller.tick()
        poller.run_pending()
        for name in DOWN + LIVE:
            truth = StreamState.INACTIVE if name in DOWN else StreamState.ACTIVE
            if state(app, name) is not truth:
                wrong_since.setdefault(name, wall.now)
                worst = max(worst, wall.now - wrong_since[name])
            else:
                wrong_since.pop(name, None)
    # No false state lasted longer than one poll interval (plus the sources' agree window, in
    # which a push still counts because the API lags CSS).
    assert worst <= INTERVAL + 10, worst
    assert not wrong_since, sorted(wrong_since)[:5]
    samples = parse_samples(app.render_metrics().decode())
    if allow_list:
        assert set(answers) == {403}
        refused = sample(samples, "tencent_live_callback_requests_total", result="forbidden_source")
        assert refused == sum(answers.values())
        assert worst == 0.0
    else:
        # Bodies claiming another event time than the pair's are refused and counted; those of
        # the pair's own second count against max_events_per_signature (1000) and are outvoted
        # by the next poll.
        replayed = sample(samples, "tencent_live_callback_requests_total", result="replayed")
        assert replayed is not None and replayed == answers[401] > 0
        assert answers[200] <= 1000


def test_a_pair_signs_at_most_max_events_new_events() -> None:
    from exporter.callbacks.origin import SignatureUses

    uses = SignatureUses()
    for _ in range(3):
        assert uses.refuses(2000, "s", 1400.0, cap=3, now=1500.0) is None
        uses.used(2000, "s", 1400.0)
    assert uses.refuses(2000, "s", 1400.0, cap=3, now=1500.0) == (
        "this signature has signed 3 events already"
    )
    assert uses.refuses(2000, "s", 1500.0, cap=3, now=1500.0) == (
        "this signature was made for an event at another time"
    )
    assert uses.refuses(2001, "s", 1500.0, cap=3, now=1500.0) is None  # another pair
    assert uses.refuses(2000, "s", 1400.0, cap=3, now=2000.5) is None  # expired: forgotten
    assert len(uses) == 0


def test_the_client_behind_trusted_proxies() -> None:
    from exporter.callbacks.origin import allowed, client, external_plain_http, networks

    proxies = networks(["10.0.0.0/8"])
    allow = networks(["203.0.113.0/24"])
    via_proxy = Origin("10.1.2.3", forwarded_for="203.0.113.9, 10.9.9.9")
    assert client(via_proxy, proxies) == "203.0.113.9"
    assert allowed(via_proxy, allow, proxies)
    spoofed = Origin("198.51.100.1", forwarded_for="203.0.113.9")  # not a trusted proxy
    assert client(spoofed, proxies) == "198.51.100.1"
    assert not allowed(spoofed, allow, proxies)
    assert allowed(spoofed, (), proxies)  # no allow list: everything
    assert external_plain_http(spoofed)
    assert not external_plain_http(Origin("127.0.0.1"))
    assert not external_plain_http(Origin("198.51.100.1", secure=True))


def test_the_status_page_flags_callbacks_over_plain_http_from_outside() -> None:
    from prometheus_client import CollectorRegistry

    from exporter.callbacks.sink import CallbackSink
    from exporter.exposition import Exposition
    from exporter.metrics import ExporterMetrics
    from exporter.runtime import snapshot
    from exporter.runtime.membership import Membership
    from exporter.state import StateStore

    store = StateStore()
    sink = CallbackSink(
        store, Membership(store, Exposition(CollectorRegistry())), ExporterMetrics(), lambda: 1.0
    )
    runtime, _ = snapshot.build(
        Config.model_validate(
            {"accounts": [{"name": "a"}], "targets": [{"domain": DOMAIN, "streams": ["s"]}]}
        )
    )
    sink.handle(runtime, b"{}", "application/json", origin=Origin("127.0.0.1"))
    sink.handle(runtime, b"{}", "application/json", origin=Origin("198.51.100.1", secure=True))
    assert sink.plain_http() == (0, None)
    sink.handle(runtime, b"{}", "application/json", origin=Origin("198.51.100.1"))
    assert sink.plain_http() == (1, 1.0)
