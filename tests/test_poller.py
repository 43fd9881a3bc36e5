"""The poller in process with a fake clock: tick, dispatch, lanes and every kind of round.

No threads and no sleeps: the lanes run what is queued in the test's thread
(``Poller.run_pending``), the rate limiters sleep by moving the fake clock, and a scripted API
client answers. What the SDK and the simulator do on the wire is tested elsewhere
(test_discovery, test_modes, test_e2e); here it is the poller's own decisions.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable
from typing import Any

import pytest

from exporter import cssapi
from exporter.client import Page
from exporter.config import Config
from exporter.exposition import Exposition
from exporter.model import ApiError, ErrorClass, PushInfo, StreamKey, StreamState
from exporter.polling.engine import Poller
from exporter.polling.pager import MAX_PAGES
from exporter.polling.tick import TICK_SECONDS
from exporter.runtime import snapshot
from exporter.runtime.membership import Membership
from exporter.runtime.plan import AccountSpec, TargetSpec
from exporter.state import StateStore

DOMAIN = "push.example.com"


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> bool:
        """The limiters' sleep: time passes at once; never stopped."""
        self.now += max(0.0, seconds)
        return False


class FakeApi:
    """A scripted CSS API: stream states, the online list, bans, and errors to answer next."""

    def __init__(self) -> None:
        self.states: dict[str, StreamState] = {}
        self.others_online = 0  # streams online in the domain but not tracked
        self.banned: set[str] = set()
        self.errors: dict[str, list[ApiError]] = {}  # action -> answers to give first
        self.total_pages: int | None = None  # a broken TotalPage
        self.denied_domains: set[str] = set()  # CAM denies these domains' calls
        self.forbid_without_place = False  # forbid entries without DomainName/AppName
        self.domains_banned: dict[str, str] = {}  # stream -> the domain of its ban
        self.calls: Counter[str] = Counter()
        self.log: list[tuple[str, object]] = []

    def _error(self, action: str) -> ApiError | None:
        self.calls[action] += 1
        queue = self.errors.get(action)
        return queue.pop(0) if queue else None

    def _online(self) -> list[str]:
        mine = sorted(n for n, s in self.states.items() if s is StreamState.ACTIVE)
        return mine + [f"other-{i:05d}" for i in range(self.others_online)]

    def _denied(self, domain: str) -> ApiError | None:
        if domain in self.denied_domains:
            return ApiError("AuthFailure.UnauthorizedOperation", ErrorClass.AUTH, "CAM")
        return None

    def stream_state(self, key: StreamKey) -> StreamState | ApiError:
        self.log.append((cssapi.STATE, key.stream))
        err = self._error(cssapi.STATE) or self._denied(key.domain)
        if err is not None:
            return err
        if key.stream in self.banned and self.domains_banned.get(key.stream, key.domain) == (
            key.domain
        ):
            return StreamState.FORBID
        return self.states.get(key.stream, StreamState.INACTIVE)

    def _page(self, names: list[str], page: int, size: int, item: Any) -> Page:
        total_pages = self.total_pages or max(1, -(-len(names) // size))
        chunk = names[(page - 1) * size : page * size] or (names[:1] if self.total_pages else [])
        return Page([item(n) for n in chunk], len(names), total_pages)

    def online_page(self, domain: str, app: str, page: int, size: int) -> Page | ApiError:
        self.log.append((cssapi.ONLINE_LIST, page))
        err = self._error(cssapi.ONLINE_LIST) or self._denied(domain)
        if err is not None:
            return err
        return self._page(self._online(), page, size, lambda n: (domain, app, n))

    def push_page(
        self, domain: str, app: str, page: int, size: int, ips: bool = False
    ) -> Page | ApiError:
        self.log.append((cssapi.PUSH_INFO_LIST, page))
        err = self._error(cssapi.PUSH_INFO_LIST)
        if err is not None:
            return err
        info = PushInfo(video_bitrate=1e6, resolution="1280*720")
        return self._page(self._online(), page, size, lambda n: (app, n, info))

    def forbid_page(self, page: int, size: int) -> Page | ApiError:
        self.log.append((cssapi.FORBID_LIST, page))
        err = self._error(cssapi.FORBID_LIST)
        if err is not None:
            return err

        def entry(name: str) -> tuple[str, str, str]:
            if self.forbid_without_place:
                return ("", "", name)
            return (self.domains_banned.get(name, DOMAIN), "live", name)

        return self._page(sorted(self.banned), page, size, entry)


def config(targets: list[dict[str, Any]], **account: Any) -> Config:
    return Config.model_validate(
        {
            "accounts": [
                {
                    "name": "a",
                    "budget_fraction": 1.0,
                    "credentials": {"secret_id": "AKIDpoller", "secret_key": "poller-key"},
                    **account,
                }
            ],
            "targets": targets,
        }
    )


class Rig:
    """The owners the app wires, around a fake API and a fake clock."""

    def __init__(self, cfg: Config, api: FakeApi | None = None) -> None:
        self.clock = FakeClock()
        self.wall = FakeClock(1_800_000_000.0)
        self.api = api or FakeApi()
        self.store = StateStore()
        self.exposition = Exposition(_registry())
        self.membership = Membership(self.store, self.exposition)
        self.poller = Poller(
            self.store,
            self.exposition,
            self.membership,
            clock=self.clock,
            wall=self.wall,
            sleep=self.clock.sleep,
            client=self._client,
        )
        self.clients: list[AccountSpec] = []
        self.generation = 0
        self.apply(cfg)

    def _client(self, spec: AccountSpec) -> FakeApi:
        self.clients.append(spec)
        return self.api

    def apply(self, cfg: Config) -> None:
        runtime, plan = snapshot.build(cfg, generation=self.generation)
        self.generation += 1
        self.membership.apply(runtime, plan)
        self.poller.apply(runtime)

    def target(self, name: str = f"{DOMAIN}/live") -> TargetSpec:
        runtime = self.poller.runtime
        assert runtime is not None
        t = runtime.target(name)
        assert t is not None
        return t

    def state(self, stream: str, target: str = f"{DOMAIN}/live") -> StreamState:
        t = self.target(target)
        status = self.store.get(StreamKey(t.account, t.domain, t.app, stream))
        assert status is not None
        return status.state

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` pass in ticks, running what each tick queued (as the workers do)."""
        end = self.clock.now + seconds
        while self.clock.now < end:
            self.clock.now = min(end, self.clock.now + TICK_SECONDS)
            self.wall.now += TICK_SECONDS
            self.poller.tick()
            self.poller.run_pending()

    def progress(self, name: str = f"{DOMAIN}/live") -> Any:
        p = self.poller.progress.get(name)
        assert p is not None
        return p


def _registry() -> Any:
    from prometheus_client import CollectorRegistry

    return CollectorRegistry()


def streams(n: int, prefix: str = "s") -> list[str]:
    return [f"{prefix}{i:03d}" for i in range(n)]


def state_target(names: Iterable[str], **extra: Any) -> dict[str, Any]:
    return {"domain": DOMAIN, "mode": "state", "interval": "10s", "streams": list(names), **extra}


def test_first_round_then_every_stream_once_per_interval_in_its_slot() -> None:
    rig = Rig(config([state_target(streams(20), push_info=False)]))
    for name in streams(20):
        rig.api.states[name] = StreamState.ACTIVE
    rig.poller.first_round()
    rig.poller.run_pending()
    assert rig.api.calls[cssapi.STATE] == 20
    assert {rig.state(n) for n in streams(20)} == {StreamState.ACTIVE}
    assert rig.poller.ready()
    # The first round went out off-phase; then each stream is polled once per interval, and
    # not right after the first round (the half-interval gap).
    rig.api.log.clear()
    rig.advance(30)
    per_stream = Counter(s for action, s in rig.api.log if action == cssapi.STATE)
    assert set(per_stream) == set(streams(20))
    assert set(per_stream.values()) <= {2, 3}
    assert sum(per_stream.values()) in range(40, 61)


def test_a_round_still_pending_is_skipped_and_counted_not_queued_twice() -> None:
    rig = Rig(
        config([{"domain": DOMAIN, "mode": "online_list", "streams": ["x"], "push_info": False}])
    )
    rig.poller.first_round()  # queues the first list round (and the forbid round)
    assert rig.poller.dispatcher.pending() == 2
    rig.clock.now += 61  # the next round is due while the first was never run
    rig.poller.tick()
    assert rig.poller.dispatcher.pending() == 2
    assert dict(rig.progress().skipped) == {"pending": 1, "backoff": 0}
    rig.poller.run_pending()
    assert rig.api.calls[cssapi.ONLINE_LIST] == 1
    assert rig.poller.dispatcher.pending() == 0


def test_list_round_pages_the_whole_list_then_its_push_round() -> None:
    rig = Rig(
        config(
            [
                {
                    "domain": DOMAIN,
                    "mode": "online_list",
                    "page_size": 10,
                    "streams": ["s000", "s001"],
                }
            ]
        )
    )
    rig.api.states = {"s000": StreamState.ACTIVE, "s001": StreamState.INACTIVE}
    rig.api.others_online = 45  # 46 online: 5 pages of 10
    rig.poller.first_round()
    rig.poller.run_pending()
    pages = [p for action, p in rig.api.log if action == cssapi.ONLINE_LIST]
    assert pages == [1, 2, 3, 4, 5]
    assert rig.api.calls[cssapi.PUSH_INFO_LIST] == 1  # 46 streams fit one push page
    # Continued in the same chain: the push round came right after the last list page.
    order = [a for a, _ in rig.api.log if a != cssapi.FORBID_LIST]
    assert order == [cssapi.ONLINE_LIST] * 5 + [cssapi.PUSH_INFO_LIST]
    assert (rig.state("s000"), rig.state("s001")) == (StreamState.ACTIVE, StreamState.INACTIVE)
    assert dict(rig.progress().rounds) == {"ok": 1, "error": 0, "inconsistent": 0}


def test_a_broken_total_page_stops_at_the_page_cap() -> None:
    rig = Rig(
        config([{"domain": DOMAIN, "mode": "online_list", "streams": ["s000"], "push_info": False}])
    )
    rig.api.states = {"s000": StreamState.ACTIVE}
    rig.api.total_pages = 10**9  # every page says there are a billion, and has an item
    rig.poller.dispatcher.dispatch(_list_round(rig))
    rig.poller.run_pending()
    assert rig.api.calls[cssapi.ONLINE_LIST] == MAX_PAGES


def _list_round(rig: Rig) -> Any:
    from exporter.polling.list_round import ListRound

    return ListRound(rig.poller.ctx, rig.target(), rig.clock.now)


def test_a_failed_page_is_retried_once_then_the_round_is_an_error() -> None:
    rig = Rig(
        config([{"domain": DOMAIN, "mode": "online_list", "streams": ["s000"], "push_info": False}])
    )
    transient = ApiError("InternalError", ErrorClass.SERVER)
    rig.api.errors[cssapi.ONLINE_LIST] = [transient]
    rig.poller.dispatcher.dispatch(_list_round(rig))
    rig.poller.run_pending()
    assert rig.api.calls[cssapi.ONLINE_LIST] == 2
    assert dict(rig.progress().rounds)["ok"] == 1
    rig.api.errors[cssapi.ONLINE_LIST] = [transient, transient]
    rig.poller.dispatcher.dispatch(_list_round(rig))
    rig.poller.run_pending()
    assert dict(rig.progress().rounds)["error"] == 1
    # An error is no verdict: the stream keeps what the good round said.
    assert rig.state("s000") is StreamState.INACTIVE


def test_forbid_list_unavailable_falls_back_to_state_polls_of_offline_streams() -> None:
    names = streams(12)
    rig = Rig(
        config(
            [
                {
                    "domain": DOMAIN,
                    "mode": "online_list",
                    "streams": names,
                    "push_info": False,
                    "forbid_check_interval": "2m",
                }
            ]
        )
    )
    for name in names[:6]:
        rig.api.states[name] = StreamState.ACTIVE
    rig.api.banned = {names[7]}
    rig.api.errors[cssapi.FORBID_LIST] = [ApiError("InvalidAction", ErrorClass.CLIENT)]
    rig.poller.first_round()
    rig.poller.run_pending()
    guard = rig.poller.guard("a")
    assert guard is not None and guard.forbid_supported is False
    assert guard.backoff.delay == 0  # an answer about the forbid list never backs off
    rig.api.log.clear()
    rig.advance(120)
    polled = {s for action, s in rig.api.log if action == cssapi.STATE}
    # Each offline stream once per forbid interval; the active ones never.
    assert polled == set(names[6:])
    assert rig.state(names[7]) is StreamState.FORBID
    assert rig.api.calls[cssapi.FORBID_LIST] == 1  # not asked again


def test_auto_switches_to_state_polls_when_the_list_costs_more() -> None:
    names = streams(11)
    rig = Rig(config([{"domain": DOMAIN, "interval": "60s", "page_size": 10, "streams": names}]))
    assert rig.target().mode == "online_list"
    for name in names:
        rig.api.states[name] = StreamState.ACTIVE
    rig.api.others_online = 200  # 211 online: 22 pages a minute for 11 streams
    rig.poller.first_round()
    rig.poller.run_pending()
    assert rig.progress().mode == "state"
    rig.api.log.clear()
    rig.advance(60)
    actions = Counter(a for a, _ in rig.api.log)
    assert actions[cssapi.ONLINE_LIST] == 0
    assert actions[cssapi.STATE] == 11
    assert actions[cssapi.PUSH_INFO_LIST] >= 1  # push info now comes on its own cadence


def test_auth_failure_backs_off_the_account_and_skips_polls() -> None:
    rig = Rig(config([state_target(streams(5), push_info=False)]))
    rig.api.errors[cssapi.STATE] = [ApiError("AuthFailure.SecretIdNotFound", ErrorClass.AUTH)]
    rig.poller.first_round()
    rig.poller.run_pending()
    guard = rig.poller.guard("a")
    assert guard is not None and guard.backoff.delay == 15
    # The other four polls of the first round were not sent, and complete the round anyway.
    assert rig.api.calls[cssapi.STATE] == 1
    assert dict(rig.progress().skipped)["backoff"] == 4
    assert rig.poller.ready()
    rig.advance(20)  # after 15 s one probe goes out, succeeds, and polling resumes
    assert guard.backoff.delay == 0
    assert rig.api.calls[cssapi.STATE] > 2


def test_reload_hands_over_the_schedule_instead_of_polling_everything_again() -> None:
    old = streams(10)
    cfg = config(
        [
            state_target(old, push_info=False),
            {
                "domain": "other.example.com",
                "mode": "online_list",
                "streams": ["o"],
                "push_info": False,
            },
        ]
    )
    rig = Rig(cfg)
    rig.poller.first_round()
    rig.poller.run_pending()
    rig.advance(3)
    rig.api.log.clear()
    added = "s999"
    lists_before = rig.api.calls[cssapi.ONLINE_LIST]
    cfg2 = config(
        [
            state_target([*old, added], push_info=False),
            {
                "domain": "other.example.com",
                "mode": "online_list",
                "streams": ["o"],
                "push_info": False,
            },
            {
                "domain": "new.example.com",
                "mode": "online_list",
                "streams": ["n"],
                "push_info": False,
            },
        ]
    )
    rig.apply(cfg2)
    rig.poller.first_round()  # what apply() does on a started poller: the hand-over
    rig.poller.run_pending()
    # Only what is new goes out at once: the added stream and the added target's round.
    assert [s for a, s in rig.api.log if a == cssapi.STATE] == [added]
    assert rig.api.calls[cssapi.ONLINE_LIST] == lists_before + 1
    assert len(rig.clients) == 1  # the account's lanes (and client) were kept


def test_changed_credentials_clear_the_back_off_and_poll_at_once() -> None:
    cfg = config([{"domain": DOMAIN, "mode": "online_list", "streams": ["x"], "push_info": False}])
    rig = Rig(cfg)
    rig.api.errors[cssapi.ONLINE_LIST] = [ApiError("AuthFailure.SignatureFailure", ErrorClass.AUTH)]
    rig.poller.first_round()
    rig.poller.run_pending()
    guard = rig.poller.guard("a")
    assert guard is not None and guard.backoff.delay == 15
    calls = rig.api.calls[cssapi.ONLINE_LIST]
    fixed = config(
        [{"domain": DOMAIN, "mode": "online_list", "streams": ["x"], "push_info": False}],
        credentials={"secret_id": "AKIDpoller", "secret_key": "fixed-key"},
    )
    rig.apply(fixed)
    rig.poller.first_round()
    rig.poller.run_pending()
    assert guard.backoff.delay == 0
    assert rig.api.calls[cssapi.ONLINE_LIST] == calls + 1  # the round went out at once
    assert rig.state("x") is StreamState.INACTIVE


@pytest.mark.parametrize("throttled", [True, False])
def test_throttling_slows_only_its_own_action(throttled: bool) -> None:
    rig = Rig(config([state_target(streams(3), push_info=False)]))
    acc = rig.poller.dispatcher.account("a")
    assert acc is not None
    if throttled:
        rig.api.errors[cssapi.STATE] = [ApiError("RequestLimitExceeded", ErrorClass.THROTTLED)]
    rig.poller.first_round()
    rig.poller.run_pending()
    state = acc.limiter(cssapi.STATE)
    assert (state.rate < state.max_rate) is throttled
    others = [acc.limiter(a) for a in cssapi.ACTIONS if a != cssapi.STATE]
    assert all(lim.rate == lim.max_rate for lim in others)
    assert acc.guard.backoff.delay == 0


def test_lanes_run_on_threads_and_stop_within_the_timeout() -> None:
    # The same poller with real threads and the real clock: calls go out and stop() returns.
    api = FakeApi()
    api.states = {n: StreamState.ACTIVE for n in streams(5)}
    store = StateStore()
    exposition = Exposition(_registry())
    membership = Membership(store, exposition)
    done = threading.Event()

    class Signalling(FakeApi):
        def stream_state(self, key: StreamKey) -> StreamState | ApiError:
            result = api.stream_state(key)
            if api.calls[cssapi.STATE] >= 5:
                done.set()
            return result

    poller = Poller(store, exposition, membership, client=lambda spec: Signalling())
    runtime, plan = snapshot.build(config([state_target(streams(5), push_info=False)]))
    membership.apply(runtime, plan)
    poller.apply(runtime)
    poller.start()
    try:
        assert done.wait(10)
        # Threads only for the lanes that had work: an action the account never uses (here,
        # every one but the state polls and the forbid list) costs no thread.
        names = {t.name for t in threading.enumerate()}
        assert any(n.startswith("poll-a-StreamState-") for n in names)
        assert not any("StreamPushInfoList" in n or "StreamOnlineList" in n for n in names)
    finally:
        poller.stop(timeout=2.0)
    assert poller.ready()


# -- Tencent's answers on real accounts -------------------------------------------------------


def list_targets(*domains: str, **extra: Any) -> list[dict[str, Any]]:
    return [
        {
            "domain": d,
            "mode": "online_list",
            "streams": ["s000", "dup"],
            "push_info": False,
            **extra,
        }
        for d in domains
    ]


@pytest.mark.parametrize(
    "code",
    [
        "ActionOffline",
        "InvalidAction",
        "UnsupportedOperation",
        "UnauthorizedOperation",
        "AuthFailure.UnauthorizedOperation",
    ],
)
def test_a_forbid_list_the_account_cannot_use_is_dropped_without_backing_off(code: str) -> None:
    from exporter.client import classify

    rig = Rig(config(list_targets(DOMAIN)))
    rig.api.errors[cssapi.FORBID_LIST] = [ApiError(code, classify(code), "no")]
    rig.api.banned = {"dup"}
    rig.poller.first_round()
    rig.poller.run_pending()
    guard = rig.poller.guard("a")
    assert guard is not None
    assert guard.forbid_supported is False and guard.health().forbid_reason == code
    assert guard.backoff.delay == 0
    assert rig.api.calls[cssapi.FORBID_LIST] == 1  # not retried, not asked again
    rig.advance(600)  # the default forbid_check_interval: the fallback state polls find it
    assert rig.state("dup") is StreamState.FORBID
    assert rig.api.calls[cssapi.FORBID_LIST] == 1


@pytest.mark.parametrize(
    "code",
    [
        "AuthFailure.SignatureFailure",
        "AuthFailure.SignatureExpire",
        "AuthFailure.SecretIdNotFound",
        "AuthFailure.InvalidSecretId",
        "AuthFailure.TokenFailure",
        "AuthFailure.InvalidAuthorization",
        "ResourceNotFound.StopService",
    ],
)
def test_credential_and_account_errors_back_off_the_whole_account(code: str) -> None:
    from exporter.client import classify

    rig = Rig(config(list_targets(DOMAIN, "other.example.com")))
    rig.api.errors[cssapi.ONLINE_LIST] = [ApiError(code, classify(code), "no")]
    rig.poller.first_round()
    rig.poller.run_pending()
    guard = rig.poller.guard("a")
    assert guard is not None and guard.backoff.delay == 15
    assert guard.health().denied == ()
    # The other target's round, queued behind, was not sent either: the whole account waits.
    other = rig.progress("other.example.com/live")
    assert dict(other.skipped)["backoff"] == 1


@pytest.mark.parametrize("code", ["AuthFailure.UnauthorizedOperation", "UnauthorizedOperation"])
def test_a_permission_denied_on_one_domain_backs_off_only_that_domain(code: str) -> None:
    names = ["s000", "dup"]
    targets = [
        {"domain": d, "mode": "state", "interval": "10s", "streams": names, "push_info": False}
        for d in (DOMAIN, "denied.example.com")
    ]
    rig = Rig(config(targets))
    rig.api.states = dict.fromkeys(names, StreamState.ACTIVE)
    rig.api.denied_domains = {"denied.example.com"}
    rig.poller.first_round()
    rig.poller.run_pending()
    rig.advance(60)
    guard = rig.poller.guard("a")
    assert guard is not None
    assert guard.backoff.delay == 0
    assert [(d, c) for d, c, _ in guard.health().denied] == [
        ("denied.example.com", "AuthFailure.UnauthorizedOperation")
    ]
    assert guard.domain_delay("denied.example.com") > 0 and guard.domain_delay(DOMAIN) == 0
    ok = rig.progress(f"{DOMAIN}/live")
    assert dict(ok.skipped)["backoff"] == 0
    assert {rig.state(n) for n in names} == {StreamState.ACTIVE}
    denied = [rig.state(n, "denied.example.com/live") for n in names]
    assert denied == [StreamState.UNKNOWN, StreamState.UNKNOWN]  # never inactive
    assert dict(rig.progress("denied.example.com/live").skipped)["backoff"] > 0


def test_a_ban_without_domain_is_applied_where_unambiguous_and_confirmed_where_not() -> None:
    rig = Rig(config(list_targets(DOMAIN, "other.example.com")))
    rig.api.forbid_without_place = True
    rig.api.banned = {"s000", "dup"}
    rig.api.domains_banned = {"dup": "other.example.com"}  # dup is banned on one domain only
    # s000 is tracked on one domain only: unambiguous.
    rig.apply(
        config(
            [
                {"domain": DOMAIN, "mode": "online_list", "streams": ["dup"], "push_info": False},
                {
                    "domain": "other.example.com",
                    "mode": "online_list",
                    "streams": ["s000", "dup"],
                    "push_info": False,
                },
            ]
        )
    )
    rig.poller.first_round()
    rig.poller.run_pending()
    assert rig.state("s000", "other.example.com/live") is StreamState.FORBID
    # "dup" is tracked on both domains: each was asked with a state poll instead.
    asked = [str(s) for a, s in rig.api.log if a == cssapi.STATE]
    assert sorted(asked) == ["dup", "dup"]
    assert rig.state("dup", "other.example.com/live") is StreamState.FORBID
    assert rig.state("dup") is StreamState.INACTIVE


def test_a_throttled_forbid_page_is_retried_at_the_slower_pace() -> None:
    rig = Rig(config(list_targets(DOMAIN)))
    rig.api.banned = {f"b{i:03d}" for i in range(450)}  # five pages of 100
    throttled = ApiError("RequestLimitExceeded", ErrorClass.THROTTLED, "2/s")
    rig.api.errors[cssapi.FORBID_LIST] = [throttled, throttled]
    rig.poller.first_round()
    rig.poller.run_pending()
    acc = rig.poller.dispatcher.account("a")
    assert acc is not None
    limiter = acc.limiter(cssapi.FORBID_LIST)
    assert limiter.rate < limiter.max_rate
    pages = [p for a, p in rig.api.log if a == cssapi.FORBID_LIST]
    assert pages == [1, 1, 1, 2, 3, 4, 5]  # page 1 twice more, then the whole list
    guard = rig.poller.guard("a")
    assert guard is not None and guard.forbid_supported is True


def test_reloads_between_ticks_skip_no_slot() -> None:
    # A reload loop once starved polling: each reload moved the window the next tick looked at.
    cfg = config([state_target(streams(50), push_info=False)])
    rig = Rig(cfg)
    rig.poller.first_round()
    rig.poller.run_pending()
    rig.advance(10)  # past the first round's off-phase polls
    rig.api.calls.clear()
    for _ in range(30):  # 30 s with five reloads a second
        for _ in range(5):
            rig.clock.now += TICK_SECONDS / 5
            rig.apply(cfg)
            rig.poller.first_round()  # what apply() does on a started poller
        rig.wall.now += TICK_SECONDS
        rig.poller.tick()
        rig.poller.run_pending()
    # 50 streams every 10 s, none skipped (the limiters' fake sleeps add a little time).
    assert 150 <= rig.api.calls[cssapi.STATE] <= 160


def test_a_clock_correction_ends_a_signature_expire_back_off_at_once() -> None:
    rig = Rig(config([state_target(streams(3), push_info=False)]))
    skew = ApiError("AuthFailure.SignatureExpire", ErrorClass.AUTH, "clock off")
    rig.api.errors[cssapi.STATE] = [skew]
    rig.poller.first_round()
    rig.poller.run_pending()
    guard = rig.poller.guard("a")
    assert guard is not None and guard.backoff.delay == 15
    assert not guard.admit(rig.clock.now)  # backing off
    rig.wall.now += 120  # NTP steps the wall clock; the monotonic one does not move
    assert guard.admit(rig.clock.now)  # the cause may be gone: a call goes out at once
    assert guard.backoff.delay == 0


def test_other_auth_errors_wait_out_their_back_off_whatever_the_clock() -> None:
    rig = Rig(config([state_target(streams(3), push_info=False)]))
    rig.api.errors[cssapi.STATE] = [
        ApiError("AuthFailure.SignatureFailure", ErrorClass.AUTH, "wrong key")
    ]
    rig.poller.first_round()
    rig.poller.run_pending()
    guard = rig.poller.guard("a")
    assert guard is not None
    rig.wall.now += 120
    assert not guard.admit(rig.clock.now)
