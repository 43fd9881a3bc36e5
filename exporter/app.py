"""The application: wires the owners together; start, stop and reload.

Long-lived owners outlive reloads: the state store (stream states), the exposition (rendered
metrics), membership (which streams are tracked), the poller (lanes, guards, progress, the
tick). A reload builds a new runtime snapshot beside the running one, brings each owner in line
with it (membership first, so the streams exist before anything polls them), then swaps the
snapshot in with one assignment; readers take one reference per request.

Lock order, outermost first: the reload coalescer -> Poller apply lock -> Membership -> StateStore /
Exposition (leaves). Progress, guards, lanes and the dispatcher are leaves, never held while
calling another owner.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from exporter import heap, logs
from exporter.callbacks import Rejection
from exporter.callbacks.origin import Origin
from exporter.callbacks.sink import CallbackSink
from exporter.client import CallHook
from exporter.config import Config, ConfigError
from exporter.exposition import Exposition
from exporter.metrics import ExporterMetrics
from exporter.model import ApiError
from exporter.polling.collector import PollingCollector
from exporter.polling.engine import Poller
from exporter.polling.history_collector import HistoryCollector
from exporter.polling.playback_collector import PlaybackCollector
from exporter.reload import Coalescer, fingerprint
from exporter.render import Renderer
from exporter.runtime import snapshot
from exporter.runtime.membership import Membership
from exporter.runtime.plan import Plan
from exporter.runtime.snapshot import Runtime
from exporter.sharding import Shard
from exporter.state import StateStore
from exporter.status import RecentErrors
from exporter.status import snapshot as status_snapshot
from exporter.statuspage import render_status_page
from exporter.supervise import LANES, RELOAD, RENDER, TICK, Supervisor
from exporter.web import WebConfig, WebServer

log = logging.getLogger(__name__)

READY = -1  # App._ready_ticket once its render was served


class App:
    def __init__(
        self,
        config: Config,
        listen_address: str,
        web_config: WebConfig | None = None,
        shard: Shard | None = None,
        loader: Callable[[], Config] | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        sleep: Callable[[float], bool] | None = None,
    ) -> None:
        self.shard = shard or Shard()
        self._loader = loader
        self._wall = wall
        self.started = time.time()
        self.metrics = ExporterMetrics()
        self.supervisor = Supervisor()
        wake = threading.Event()
        self.exposition = Exposition(self.metrics.registry, dirty=wake, wall=wall)
        self.store = StateStore(changed=wake)
        self.renderer = Renderer(
            self.store, self.exposition, wake, failed=lambda: self.supervisor.failed(RENDER)
        )
        self.membership = Membership(self.store, self.exposition)
        self.errors = RecentErrors()
        self.poller = Poller(
            self.store,
            self.exposition,
            self.membership,
            call_hook=self._call_hook,
            clock=clock,
            wall=wall,
            sleep=sleep,
            failed=self.supervisor.failed,
        )
        self.supervisor.watch(RENDER, self.renderer.alive)
        self.supervisor.watch(TICK, self.poller.ticking)
        self.supervisor.watch(LANES, self.poller.lanes_alive)
        self.metrics.registry.register(PollingCollector(self.poller, self.membership))
        self.metrics.registry.register(HistoryCollector(self.exposition.history))
        self.metrics.registry.register(PlaybackCollector(self.poller))
        self.metrics.registry.register(self.supervisor)
        # The gauge is the poller's own word (a scrape cannot wait on the render it is reading);
        # /-/ready also waits for that round to be on /metrics (ready()).
        self.metrics.ready.set_function(lambda: 1 if self.poller.ready() else 0)
        self.callbacks = CallbackSink(
            self.store, self.membership, self.metrics, wall, self.exposition.history
        )
        self._readiness = threading.Lock()
        # The render ticket /-/ready waits on, for the poller's readiness _ready_for; READY
        # once served.
        self._ready_for = -1
        self._ready_ticket = READY
        self._reload = Coalescer(self._reload_now)
        self._fingerprint = fingerprint(config)
        self._reload_ok = True
        self._reload_time: float | None = None
        self.runtime: Runtime = self._apply(*snapshot.build(config, self.shard, 0))
        self.callback_path: str | None = self.runtime.callback_path  # for the web server
        self._reloaded(True)
        self.web = WebServer(listen_address, self, web_config)
        self.metrics.registry.register(self.web.collector())

    # -- building and reloading ------------------------------------------------------------

    def _apply(self, runtime: Runtime, plan: Plan) -> Runtime:
        """Bring every owner in line with ``runtime``; returns it, to be swapped in."""
        logs.set_secrets("config", runtime.secrets)
        for account, factor in plan.stretch.items():
            if factor > 1.0:
                log.warning(
                    "account %s: configured streams need %.0f%% of its State budget; "
                    "stretching their poll intervals by %.2fx to stay within it",
                    account,
                    factor * 100,
                    factor,
                )
        self.membership.apply(runtime, plan)
        self.poller.apply(runtime)
        if self.exposition.set_filter(runtime.metric_filter):
            for pattern in runtime.metric_filter.unmatched(self.exposition.family_names()):
                log.warning("metrics: pattern %r matches no metric family", pattern)
        for t in runtime.targets:
            what = f"{len(t.keys)} streams" + (" + discovery" if t.discovers else "")
            log.info(
                "target %s (account %s): %s, mode %s%s, every %.0fs",
                t.name,
                t.account,
                what,
                t.mode,
                " (auto)" if t.auto else "",
                t.poll_interval,
            )
        return runtime

    def _reloaded(self, ok: bool) -> None:
        self._reload_ok = ok
        self.metrics.reload_ok.set(1 if ok else 0)
        if ok:
            self._reload_time = time.time()
            self.metrics.reload_time.set(self._reload_time)

    def _call_hook(self, account: str) -> CallHook:
        hook = self.metrics.call_hook(account)
        errors = self.errors

        def record(action: str, seconds: float, error: ApiError | None) -> None:
            hook(action, seconds, error)
            if error is not None:
                errors.add(account, action, error)

        return record

    def reload(self) -> tuple[bool, str]:
        """Load the config again and swap it in; a bad one keeps the old config running.
        Coalesced (exporter/reload.py): a burst of requests makes at most two reloads."""
        if self._loader is None:
            return False, "no configuration file to reload (demo mode)"
        return self._reload()

    def _reload_now(self) -> tuple[bool, str]:
        # The web config first: certificates are rotated whether or not the config changed. A
        # bad one keeps the running one and fails the reload, as a bad config does.
        web_ok, web_message = self.web.reload_config()
        ok, message = self._reload_guarded()
        if not web_ok:
            self._reloaded(False)
            return False, web_message if ok else f"{message}; {web_message}"
        return ok, message

    def _reload_guarded(self) -> tuple[bool, str]:
        try:
            return self._reload_config()
        except Exception as exc:  # a bug must not end reloads, nor leave a half-applied state
            log.exception("reload failed unexpectedly, keeping the running configuration")
            self.supervisor.failed(RELOAD)
            self._reloaded(False)
            return False, f"reload failed: {type(exc).__name__}"

    def _reload_config(self) -> tuple[bool, str]:
        # No cyclic collection while the new runtime is built beside the old one, and what is
        # built is frozen once swapped in: at 100k streams the collections a reload used to
        # start walked the whole heap, stalling scrapes by up to 100 ms (exporter/heap.py).
        with heap.paused():
            return self._reload_paused()

    def _reload_paused(self) -> tuple[bool, str]:
        try:
            config = self._loader() if self._loader is not None else None
        except ConfigError as exc:
            self._reloaded(False)
            message = "; ".join(exc.problems)
            log.error("reload failed, keeping the running configuration: %s", message)
            return False, message
        except OSError as exc:
            self._reloaded(False)
            log.error("reload failed, keeping the running configuration: %s", exc)
            return False, str(exc)
        assert config is not None
        digest = fingerprint(config)
        if digest == self._fingerprint:
            # Nothing changed: nothing is rebuilt, no schedule moves, no call goes out.
            self._reloaded(True)
            log.info("configuration reloaded: unchanged")
            return True, "configuration unchanged"
        built = snapshot.build(config, self.shard, self.runtime.generation + 1, self.runtime)
        # The parsed config (every stream entry: 50 MB at 100k streams) is not needed any more:
        # let it go before the owners do their work, which is when RSS peaks.
        del config
        with self.renderer.held():  # one render of the whole change, after it is made
            self.runtime = self._apply(*built)
            del built
            self._fingerprint = digest
            self.callback_path = self.runtime.callback_path
            # Answer only once /metrics shows the new set of streams.
            self.renderer.sync()
        heap.settle()
        self._reloaded(True)
        log.info("configuration reloaded: %d streams tracked", len(self.store))
        return True, "configuration reloaded"

    # -- web backend -----------------------------------------------------------------------

    def handle_callback(
        self,
        body: bytes,
        content_type: str | None,
        origin: Origin | None = None,
        now: float | None = None,
    ) -> tuple[int, bytes]:
        return self.callbacks.handle(self.runtime, body, content_type, now, origin)

    def handle_rejection(self, rejection: Rejection) -> None:
        self.callbacks.rejected(rejection)

    def render_metrics(self) -> bytes:
        """The whole exposition with every change so far rendered (tests, tools)."""
        self.renderer.sync()
        return b"".join(self.exposition.render_chunks())

    def metrics_chunks(self, openmetrics: bool, compressed: bool) -> list[bytes]:
        return self.exposition.render_chunks(openmetrics=openmetrics, compressed=compressed)

    def ready(self) -> bool:
        """Every target's first round done and on /metrics: a scrape right after a 200 from
        /-/ready shows the states that round found, not the exposition of a moment before."""
        with self._readiness:
            which = self.poller.readiness  # before ready(): a reload in between reads as not
            if not self.poller.ready():
                return False
            if self._ready_for != which:  # the first ask since the poller became ready
                self._ready_for, self._ready_ticket = which, self.renderer.ticket()
            if self._ready_ticket != READY and self.renderer.served(self._ready_ticket):
                self._ready_ticket = READY
            return self._ready_ticket == READY

    def healthy(self) -> bool:
        return self.supervisor.healthy()[0]

    def status_page(self, query: dict[str, str]) -> str:
        return render_status_page(
            status_snapshot(
                self.store,
                self.exposition,
                self.poller,
                self.errors,
                self.started,
                self._reload_ok,
                self._reload_time,
                self.callbacks.plain_http(),
            ),
            query,
        )

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        # The first requests go out before the first render (0.3 s at 100k streams), which
        # runs while Tencent answers them; the server listens once /metrics is whole.
        self.poller.start()
        self.renderer.sync()
        self.renderer.start()
        self.web.start()
        log.info("listening on %s", self.web.address)

    def stop(self, timeout: float = 3.0) -> None:
        """Stop polling, give in-flight calls ``timeout`` to finish, then close the server."""
        self.poller.stop(timeout)
        self.renderer.stop()
        self.web.stop()
