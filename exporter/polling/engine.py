"""The poller: the running parts of polling, their threads, and what a reload changes in them.

It outlives reloads. ``apply`` brings every owner in line with a new runtime snapshot (guards,
lanes, progress, then the ticker's first dispatch of what is new), and the ticker's APScheduler
job reads the current snapshot once per tick. Nothing here blocks a scrape.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from apscheduler.schedulers.background import BackgroundScheduler

from exporter.client import ApiClient, CallHook, CssClient
from exporter.exposition import Exposition
from exporter.polling.context import Context
from exporter.polling.dispatch import Dispatcher
from exporter.polling.guard import AccountGuard
from exporter.polling.progress import Progress, TargetProgress
from exporter.polling.tick import TICK_SECONDS, Ticker
from exporter.runtime.membership import Membership
from exporter.runtime.plan import AccountSpec
from exporter.runtime.snapshot import Runtime
from exporter.state import StateStore
from exporter.supervise import LANES, TICK

log = logging.getLogger(__name__)

# The tick runs every second: a minute without one means its thread is gone.
TICK_STUCK_SECONDS = 60.0


class Poller:
    def __init__(
        self,
        store: StateStore,
        exposition: Exposition,
        membership: Membership,
        call_hook: Callable[[str], CallHook] | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        sleep: Callable[[float], bool] | None = None,
        client: Callable[[AccountSpec], ApiClient] | None = None,
        failed: Callable[[str], None] | None = None,
    ) -> None:
        """``client`` makes an account's API client (default: the official SDK's, reporting
        every call to ``call_hook(account)``); ``sleep`` is the limiters' (fake in tests)."""
        self.progress = Progress()
        self.ticker = Ticker()
        self._failed = failed or (lambda thread: None)
        self.dispatcher = Dispatcher(
            self._skipped, clock=clock, sleep=sleep, failed=lambda: self._failed(LANES)
        )
        self.ctx = Context(
            store=store,
            exposition=exposition,
            membership=membership,
            progress=self.progress,
            dispatcher=self.dispatcher,
            clock=clock,
            wall=wall,
            forget=self.ticker.forget,
        )
        self._call_hook = call_hook
        self._make_client = client
        self._clock = clock
        self._guards: dict[str, AccountGuard] = {}
        self._runtime: Runtime | None = None
        self._scheduler: BackgroundScheduler | None = None
        self._started = False
        self._beat = clock()  # the last tick
        self._ready = False
        self._readiness = 0  # counts the times _ready went back to False (reloads)
        self._lock = threading.Lock()  # serialises apply/start/stop (a reload vs. shutdown)

    @property
    def runtime(self) -> Runtime | None:
        return self._runtime

    def guard(self, account: str) -> AccountGuard | None:
        return self._guards.get(account)

    def _skipped(self, target: str | None, reason: str) -> None:
        if target is not None:
            self.progress.skipped(target, reason)

    def _client(self, spec: AccountSpec) -> ApiClient:
        if self._make_client is not None:
            return self._make_client(spec)
        hook = self._call_hook(spec.name) if self._call_hook is not None else None
        return CssClient(spec.settings, on_call=hook)

    # -- reconfiguration -------------------------------------------------------------------

    def apply(self, runtime: Runtime) -> None:
        """Poll what ``runtime`` says (membership must already follow it)."""
        with self._lock:
            now = self._clock()
            guards: dict[str, AccountGuard] = {}
            reset: list[str] = []
            for name, spec in runtime.accounts.items():
                guard = self._guards.get(name)
                endpoint = f"{spec.settings.scheme}://{spec.settings.endpoint_host}"
                if guard is None:
                    guard = AccountGuard(name, spec.connection, endpoint, wall=self.ctx.wall)
                else:
                    if guard.connection != spec.connection:
                        # A fixed key or endpoint must not wait out a back-off it did not earn.
                        guard.connection = spec.connection
                        guard.endpoint = endpoint
                        guard.reset()
                        reset.append(name)
                guards[name] = guard
            self._guards = guards
            self.dispatcher.set_accounts(runtime.accounts, guards, self._client)
            self.progress.apply(runtime, now)
            self.ticker.periodic.apply(runtime, now)
            for name in reset:
                # Polled at once, like at a start: its streams waited out the back-off.
                self.progress.reschedule_now(name, now)
                self.ticker.periodic.reschedule_now(name, now)
                self.ticker.forget(k for t in runtime.targets if t.account == name for k in t.keys)
            self._runtime = runtime
            self._ready = False  # a new target is not ready before its first round
            self._readiness += 1
            if self._started:
                self.ticker.apply(self.ctx, runtime, now)

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        with self._lock:
            runtime = self._runtime
            assert runtime is not None, "apply a runtime before starting"
            self.dispatcher.start()
            self.ticker.apply(self.ctx, runtime, self._clock())
            scheduler = BackgroundScheduler(daemon=True)
            scheduler.add_job(
                self.tick,
                "interval",
                seconds=TICK_SECONDS,
                id="tick",
                max_instances=1,
                coalesce=True,
                misfire_grace_time=None,
            )
            scheduler.start()
            self._beat = self._clock()
            self._scheduler = scheduler
            # Last: from now on the supervisor expects a running tick, and a reload dispatches.
            self._started = True

    def tick(self) -> None:
        runtime = self._runtime
        self._beat = self._clock()
        if runtime is None:
            return
        try:
            self.ticker.tick(self.ctx, runtime, self._beat)
        except Exception:  # one failed tick must not end the schedule
            log.exception("a poll tick failed; the next one runs as usual")
            self._failed(TICK)

    def ticking(self) -> bool:
        """The tick runs (checked by the supervisor); True when not started."""
        if not self._started:
            return True
        scheduler = self._scheduler
        running = scheduler is not None and scheduler.running
        return running and self._clock() - self._beat < TICK_STUCK_SECONDS

    def lanes_alive(self) -> bool:
        return not self._started or self.dispatcher.alive()

    def stop(self, timeout: float = 2.0) -> None:
        """Stop dispatching, let in-flight calls finish within ``timeout``, then return."""
        with self._lock:
            if self._scheduler is not None:
                if self._scheduler.running:  # not if its thread died
                    self._scheduler.shutdown(wait=False)
                self._scheduler = None
            self._started = False
        self.dispatcher.stop(timeout)

    # -- tests and readiness ---------------------------------------------------------------

    def first_round(self) -> None:
        """Dispatch what a start dispatches, without threads (tests drive it in process)."""
        runtime = self._runtime
        assert runtime is not None
        self.ticker.apply(self.ctx, runtime, self._clock())

    def run_pending(self) -> int:
        """Run every queued call in the calling thread; for tests with a fake clock."""
        return self.dispatcher.run_pending()

    @property
    def readiness(self) -> int:
        """Which readiness ``ready`` speaks of: a reload that adds targets starts a new one."""
        return self._readiness

    def ready(self) -> bool:
        """Every target has completed its first round (state mode: polled every stream once);
        once true, it stays true until a reload."""
        if not self._ready:
            store = self.ctx.store

            def done(p: TargetProgress) -> bool:
                return p.first_round_done or (
                    p.mode == "state" and store.all_attempted(p.spec.keys)
                )

            self._ready = all(done(p) for p in self.progress.snapshot().values())
        return self._ready
