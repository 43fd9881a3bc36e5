"""``Simulator``: wires a World to the API gateway, control API, callbacks and HTTP server."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from exporter.simulator.callbacks import CallbackSender
from exporter.simulator.control import ControlApi
from exporter.simulator.counters import Counters
from exporter.simulator.faults import ANY_ACTION, Faults, Window
from exporter.simulator.gateway import Gateway, Reply
from exporter.simulator.policy import Policy
from exporter.simulator.ratelimit import RateLimiter
from exporter.simulator.scenario import DEFAULT_APPID, Scenario
from exporter.simulator.server import SimHTTPServer
from exporter.simulator.world import World

TICK_SECONDS = 0.2


class Simulator:
    """A fake CSS endpoint on loopback.

    Settings not given explicitly come from ``scenario`` (default: the scenario the world was
    built from, if any): faults, rate limits, page-size maxima, account state, callback target,
    RNG seed and appid.
    """

    def __init__(
        self,
        world: World,
        credentials: Mapping[str, str],
        tokens: Mapping[str, str] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        callback_url: str | None = None,
        callback_key: str | None = None,
        *,
        scenario: Scenario | None = None,
        limits: Mapping[str, int] | None = None,
        seed: int | None = None,
        appid: int | None = None,
        wall_clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        tick_seconds: float = TICK_SECONDS,
        policy: Policy | None = None,
    ) -> None:
        if not credentials:
            raise ValueError("at least one SecretId/SecretKey pair is required")
        scenario = scenario if scenario is not None else world.scenario
        self.world = world
        self.host = host
        self._requested_port = port
        self._tick_seconds = tick_seconds
        self.stop_event = threading.Event()
        self._counters = Counters()
        self.faults = Faults(
            dict(scenario.faults) if scenario else None,
            seed=seed if seed is not None else (scenario.seed if scenario else 0),
            clock=monotonic,
            account_state=scenario.account_state if scenario else "ok",
        )
        policy = policy if policy is not None else (scenario.policy if scenario else Policy())
        if scenario is not None and scenario.max_page_size:
            policy = replace(
                policy, max_page_size={**scenario.max_page_size, **policy.max_page_size}
            )
        # The site's documented limits, then the scenario's and the caller's overrides.
        merged_limits = dict(policy.limits)
        merged_limits.update(scenario.limits if scenario else {})
        merged_limits.update(limits or {})
        self.limiter = RateLimiter(merged_limits, clock=monotonic)
        self.gateway = Gateway(
            world,
            credentials,
            tokens or {},
            self.limiter,
            self.faults,
            self._counters,
            policy,
            wall_clock=wall_clock,
        )
        self.control = ControlApi(world, self.faults, self.limiter, self._counters)
        if callback_url is None and scenario is not None and scenario.callback is not None:
            callback_url, callback_key = scenario.callback.url, scenario.callback.key
        if callback_url is not None and not callback_key:
            raise ValueError("a callback URL needs a callback key")
        self.callbacks: CallbackSender | None = None
        if callback_url is not None and callback_key:
            self.callbacks = CallbackSender(
                callback_url,
                callback_key,
                appid=appid
                if appid is not None
                else (scenario.appid if scenario else DEFAULT_APPID),
                counters=self._counters,
                wall_clock=wall_clock,
                history=world.history,
            )
        self.control.callbacks = self.callbacks
        self._server: SimHTTPServer | None = None
        self._threads: list[threading.Thread] = []

    def set_callback_url(self, url: str) -> None:
        """Point callbacks at a receiver that only got its address after the simulator started
        (the demo: the exporter listens on a port chosen at start)."""
        if self.callbacks is None:
            raise RuntimeError("callbacks were not configured")
        self.callbacks.url = url

    # lifecycle ----------------------------------------------------------------------------

    def start(self) -> Simulator:
        """Listen and start background threads; returns once the socket accepts connections."""
        if self._server is not None:
            raise RuntimeError("simulator already started")
        self.stop_event.clear()
        self._server = SimHTTPServer((self.host, self._requested_port), self)
        if self.callbacks is not None:
            self.callbacks.start()
            self.world.subscribe(self.callbacks.on_changes)
        server = self._server
        self._threads = [
            threading.Thread(
                target=lambda: server.serve_forever(poll_interval=0.05),
                name="sim-http",
                daemon=True,
            ),
            threading.Thread(target=self._tick, name="sim-ticker", daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        """Stop promptly, also while connections are held by injected timeouts."""
        server, self._server = self._server, None
        if server is None:
            return
        self.stop_event.set()
        server.shutdown()
        server.server_close()
        server.close_connections()
        if self.callbacks is not None:
            self.world.unsubscribe(self.callbacks.on_changes)
            self.callbacks.stop()
        for thread in self._threads:
            thread.join(1.0)
        self._threads = []

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _tick(self) -> None:
        while not self.stop_event.wait(self._tick_seconds):
            self.world.advance()

    # addresses ----------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("simulator not started")
        return int(self._server.server_address[1])

    @property
    def endpoint(self) -> str:
        """``host:port``, what the SDK's ``HttpProfile(endpoint=...)`` wants."""
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.endpoint}"

    # knobs --------------------------------------------------------------------------------

    def counters(self) -> dict[str, dict[str, int]]:
        """Requests served: ``{action: {outcome: count}}``."""
        return self._counters.requests()

    def callback_counters(self) -> dict[str, int]:
        return self._counters.callbacks()

    def reset_counters(self) -> None:
        self._counters.reset()

    def start_window(
        self, kind: str, seconds: float, action: str = ANY_ACTION, code: str | None = None
    ) -> Window:
        """``kind`` is ``throttle`` or ``auth_failure``."""
        return self.faults.start_window(kind, seconds, action, code)

    def set_account_state(self, state: str) -> None:
        self.faults.set_account_state(state)

    def set_limit(self, action: str, limit: int) -> None:
        self.limiter.set_limit(action, limit)

    @property
    def policy(self) -> Policy:
        return self.gateway.policy

    def set_policy(self, policy: Policy) -> None:
        """What the account may do from now on (the site's limits are not changed)."""
        self.gateway.policy = policy

    # App protocol (used by the HTTP server) -----------------------------------------------

    def handle_api(self, headers: dict[str, str], body: bytes) -> Reply:
        return self.gateway.handle(headers, body)

    def handle_control(self, method: str, path: str, body: bytes) -> tuple[int, dict[str, Any]]:
        return self.control.handle(method, path, body)

    def render_metrics(self) -> str:
        return self._counters.render(self.world.counts())
