"""Wires a validated config into running parts; owns start, stop and reload.

The store and the exposition outlive reloads: a reload builds a new poller beside the old one,
then swaps it in, so streams that stay in the config keep their state and counters.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from exporter import __version__, callbacks, cssapi, logs, malloc, rounds
from exporter.client import ClientSettings, CssClient
from exporter.config import Account, Config, ConfigError, Target
from exporter.exposition import Exposition, LabelPairs
from exporter.metrics import ExporterMetrics
from exporter.model import ApiError, Observation, PushInfo, Source, StreamKey, StreamState
from exporter.poller import AccountRuntime, Hooks, Poller, TargetRuntime
from exporter.ratelimit import Backoff, RateLimiter
from exporter.schedule import default_workers, stretch_factor
from exporter.sharding import Shard
from exporter.state import Outcome, Policy, StateStore, StreamStatus
from exporter.statuspage import (
    ApiErrorRow,
    BudgetRow,
    StatusSnapshot,
    StreamRow,
    TargetRow,
    render_status_page,
)
from exporter.web import WebServer
from exporter.webconfig import WebConfig

log = logging.getLogger(__name__)

RECENT_ERRORS = 50
_EVENTS = {
    callbacks.EventType.PUSH: "push",
    callbacks.EventType.INTERRUPT: "interrupt",
    callbacks.EventType.PUSH_ERROR: "push_error",
}


@dataclass(frozen=True)
class StreamSpec:
    extra: LabelPairs  # labels after account/domain/app/stream, sorted by name
    down_after: float | None


def configured_streams(account: str, target: Target) -> dict[StreamKey, StreamSpec]:
    out: dict[StreamKey, StreamSpec] = {}
    # Streams of a target mostly share their labels: one spec object for all of them keeps
    # 100k streams from holding 100k equal tuples.
    shared: dict[StreamSpec, StreamSpec] = {}
    for entry in target.streams:
        key = StreamKey(account, target.domain, target.app, entry.name)
        extra = {**target.labels, **entry.labels}
        if entry.expect_live is not None:
            extra["expect_live"] = "true" if entry.expect_live else "false"
        down_after = None
        if entry.expect_live:
            down_after = entry.down_after if entry.down_after is not None else target.down_after
        spec = StreamSpec(tuple(sorted(extra.items())), down_after)
        out[key] = shared.setdefault(spec, spec)
    return out


def target_names(targets: list[Target]) -> list[str]:
    """Readable, unique names for targets: ``domain/app``, numbered when repeated."""
    base = [f"{t.domain}/{t.app}" for t in targets]
    counts = Counter(base)
    seen: Counter[str] = Counter()
    names = []
    for b in base:
        seen[b] += 1
        names.append(b if counts[b] == 1 else f"{b}#{seen[b]}")
    return names


def client_settings(account: Account) -> ClientSettings:
    c = account.credentials
    return ClientSettings(
        account=account.name,
        endpoint_host=account.endpoint_host,
        scheme=account.endpoint_scheme,
        timeout=account.timeout,
        secret_id=c.secret_id,
        secret_key=c.secret_key.get_secret_value() if c.secret_key else None,
        token=c.token.get_secret_value() if c.token else None,
    )


@dataclass
class Plan:
    """Everything derived from a config before anything starts."""

    targets: list[TargetRuntime]
    specs: dict[StreamKey, StreamSpec]
    policies: dict[StreamKey, Policy]
    stretch: dict[str, float]
    discovery_labels: dict[str, LabelPairs] = field(default_factory=dict)  # by target name


def plan(config: Config, shard: Shard | None = None) -> Plan:
    shard = shard or Shard()
    names = target_names(list(config.targets))
    default_account = config.accounts[0].name
    owned: list[tuple[str, Target, str, dict[StreamKey, StreamSpec]]] = []
    for name, t in zip(names, config.targets, strict=True):
        account = t.account or default_account
        streams = configured_streams(account, t)
        if t.discovers:
            # A discovering target is listed by one shard; the others would only repeat it.
            if not shard.owns(f"{account}/{t.domain}/{t.app}"):
                continue
        else:
            streams = {
                k: v
                for k, v in streams.items()
                if shard.owns(f"{k.account}/{k.domain}/{k.app}/{k.stream}")
            }
            if not streams:
                continue
        owned.append((name, t, account, streams))
    # Only per-stream polling grows with the number of streams: stretch those intervals.
    by_account: dict[str, list[tuple[int, float]]] = {}
    for _, t, account, streams in owned:
        if rounds.choose_mode(t.mode, len(streams), t.discovers) == "state":
            by_account.setdefault(account, []).append((len(streams), t.interval))
    stretch = {
        a.name: stretch_factor(by_account.get(a.name, []), a.budget(cssapi.STATE) * shard.fraction)
        for a in config.accounts
    }
    result = Plan([], {}, {}, stretch)
    for name, t, account, streams in owned:
        factor = stretch[account]
        mode = rounds.choose_mode(t.mode, len(streams), t.discovers)
        interval = t.interval * factor if mode == "state" else t.interval
        stale_after = t.effective_stale_after * (factor if mode == "state" else 1.0)
        round_interval = t.effective_round_interval
        if mode == "online_list":
            # A list round confirms every stream once per round.
            stale_after = max(stale_after, 3 * round_interval)
        policy = Policy(stale_after, max(3 * t.forbid_check_interval, stale_after))
        result.targets.append(
            TargetRuntime(
                name=name,
                account=account,
                domain=t.domain,
                app=t.app,
                mode=mode,
                auto=t.mode == "auto",
                discovers=t.discovers,
                interval=interval,
                configured_interval=t.interval,
                round_interval=round_interval,
                forbid_interval=t.forbid_check_interval,
                page_size=t.page_size,
                max_streams=t.max_streams,
                retention=t.retention,
                push_info=t.push_info,
                push_ips=t.push_info_ips,
                policy=policy,
                keys=list(streams),
            )
        )
        result.specs.update(streams)
        result.policies.update(dict.fromkeys(streams, policy))
        result.discovery_labels[name] = tuple(sorted(t.labels.items()))
    return result


def _without_streams(config: Config) -> Config:
    """The config minus its stream lists, which the store and exposition already hold: 100k
    validated stream entries are tens of MB that nothing reads after planning."""
    targets = [t.model_copy(update={"streams": []}) for t in config.targets]
    return config.model_copy(update={"targets": targets})


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
    ) -> None:
        self.config = _without_streams(config)
        self._wall = wall
        self.shard = shard or Shard()
        self._loader = loader
        self._clock = clock
        self.started = time.time()
        self.metrics = ExporterMetrics()
        self.exposition = Exposition(self.metrics.registry, self._read_statuses)
        self.store = StateStore(listener=self.exposition.stream_changed)
        self.recent_errors: collections.deque[ApiErrorRow] = collections.deque(maxlen=RECENT_ERRORS)
        self._reload_lock = threading.Lock()
        self._stop_render = threading.Event()
        self._render_thread: threading.Thread | None = None
        self.callback_path: str | None = config.callbacks.path
        self.poller = self._build(config)
        self.metrics.reload_ok.set(1)
        self.metrics.reload_time.set(time.time())
        self.web = WebServer(listen_address, self, web_config)

    # -- building and reloading ------------------------------------------------------------

    def _read_statuses(self, keys: list[StreamKey]) -> list[StreamStatus | None]:
        return self.store.get_many(keys)

    def _register_secrets(self, config: Config) -> None:
        logs.register_secrets(
            s.get_secret_value()
            for a in config.accounts
            for s in (a.credentials.secret_key, a.credentials.token, *a.callback_keys)
            if s is not None
        )

    def _build(self, config: Config, previous: Poller | None = None) -> Poller:
        """A poller for ``config``, with the store and exposition brought in line with it."""
        self._register_secrets(config)
        p = plan(config, self.shard)
        for account, factor in p.stretch.items():
            if factor > 1.0:
                log.warning(
                    "account %s: configured streams need %.0f%% of its State budget; "
                    "stretching their poll intervals by %.2fx to stay within it",
                    account,
                    factor * 100,
                    factor,
                )
        self._discovery_labels = p.discovery_labels
        if previous is not None:
            # Discovered streams survive a reload of a target that still discovers.
            old = {(t.account, t.domain, t.app): t for t in previous.targets if t.discovers}
            for t in p.targets:
                prior = old.get((t.account, t.domain, t.app))
                if t.discovers and prior is not None:
                    t.discovered = {k: v for k, v in prior.discovered.items() if k not in p.specs}
        wanted: dict[StreamKey, StreamSpec] = dict(p.specs)
        policies = dict(p.policies)
        for t in p.targets:
            for key in t.discovered:
                wanted[key] = self._discovered_spec(t, key)
                policies[key] = t.policy
        for key in set(self.store.keys()) - set(wanted):
            self.store.remove(key)
            self.exposition.remove_stream(key)
        self.exposition.set_streams(
            (key, spec.extra, spec.down_after) for key, spec in wanted.items()
        )
        for key in wanted:
            self.store.add(key, policies[key])
        accounts = {}
        for a in config.accounts:
            hook = self.metrics.call_hook(a.name)
            accounts[a.name] = AccountRuntime(
                name=a.name,
                client=CssClient(client_settings(a), on_call=self._recording(a.name, hook)),
                limiters={
                    action: RateLimiter(a.budget(action) * self.shard.fraction, clock=self._clock)
                    for action in cssapi.ACTIONS
                },
                # An account in back-off stays in back-off across a reload.
                backoff=previous.accounts[a.name].backoff
                if previous is not None and a.name in previous.accounts
                else Backoff(),
                workers=a.max_workers
                or default_workers(a.budget(cssapi.STATE) * self.shard.fraction),
            )
        hooks = Hooks(
            discover=self._discover,
            drop=self._drop,
            set_push=self.exposition.set_push,
            push_keys=self.exposition.push_keys,
        )
        poller = Poller(
            p.targets, accounts, self.store, self.metrics, hooks, clock=self._clock, wall=self._wall
        )
        for t in p.targets:
            what = f"{len(t.keys)} streams" + (" + discovery" if t.discovers else "")
            every = t.interval if t.mode == "state" else t.round_interval
            log.info(
                "target %s (account %s): %s, mode %s%s, every %.0fs",
                t.name,
                t.account,
                what,
                t.mode,
                " (auto)" if t.auto else "",
                every,
            )
        return poller

    def _recording(
        self, account: str, hook: Callable[[str, float, ApiError | None], None]
    ) -> Callable[[str, float, ApiError | None], None]:
        def record(action: str, seconds: float, error: ApiError | None) -> None:
            hook(action, seconds, error)
            if error is not None:
                self.recent_errors.appendleft(
                    ApiErrorRow(
                        time.time(),
                        account,
                        action,
                        error.code,
                        logs.redact(error.message),
                        error.request_id,
                    )
                )

        return record

    def _discovered_spec(self, t: TargetRuntime, key: StreamKey) -> StreamSpec:
        return StreamSpec(self._discovery_labels.get(t.name, ()), None)

    def _discover(self, t: TargetRuntime, keys: list[StreamKey]) -> None:
        for key in keys:
            spec = self._discovered_spec(t, key)
            self.exposition.set_stream(key, spec.extra, spec.down_after)
            self.store.add(key, t.policy)

    def _drop(self, t: TargetRuntime, keys: list[StreamKey]) -> None:
        for key in keys:
            self.store.remove(key)
            self.exposition.remove_stream(key)

    def reload(self) -> tuple[bool, str]:
        """Load the config again and swap it in; a bad one keeps the old config running."""
        if self._loader is None:
            return False, "no configuration file to reload (demo mode)"
        with self._reload_lock:
            try:
                config = self._loader()
            except ConfigError as exc:
                self.metrics.reload_ok.set(0)
                message = "; ".join(exc.problems)
                log.error("reload failed, keeping the running configuration: %s", message)
                return False, message
            except OSError as exc:
                self.metrics.reload_ok.set(0)
                log.error("reload failed, keeping the running configuration: %s", exc)
                return False, str(exc)
            # The new poller is built beside the old one, which keeps polling meanwhile; then
            # the old one stops (in-flight calls get a short bound) and the new one starts.
            old = self.poller
            self.metrics.forget_targets()
            new = self._build(config, previous=old)
            old.stop(timeout=1.0)
            self.config = _without_streams(config)
            self.callback_path = config.callbacks.path
            self.poller = new
            new.start(previous=old)
            # Answer only once /metrics shows the new set of streams.
            self.exposition.flush()
            self.metrics.reload_ok.set(1)
            self.metrics.reload_time.set(time.time())
            log.info("configuration reloaded: %d streams tracked", len(self.store))
            return True, "configuration reloaded"

    # -- callbacks -------------------------------------------------------------------------

    def _callback_keys(self, domain: str) -> list[str]:
        accounts = {t.account for t in self.config.targets if t.domain == domain}
        return [
            key.get_secret_value()
            for a in self.config.accounts
            if a.name in accounts
            for key in a.callback_keys
        ]

    def _callback_targets(self, domain: str, app: str) -> Iterable[TargetRuntime]:
        return (t for t in self.poller.targets if t.domain == domain and t.app == app)

    def handle_callback(
        self, body: bytes, content_type: str | None, now: float | None = None
    ) -> tuple[int, bytes]:
        """One CSS callback request: (HTTP status, body). Never raises, never blocks on I/O."""
        wall = self._wall() if now is None else now
        parsed = callbacks.parse_callback(
            body,
            content_type=content_type,
            keys_for=self._callback_keys,
            now=wall,
            max_age=self.config.callbacks.max_age,
        )
        if isinstance(parsed, callbacks.Rejection):
            self.metrics.callback_requests.labels(parsed.reason).inc()
            log.debug("callback rejected: %s: %s", parsed.reason, parsed.message)
            return parsed.status, f"{parsed.reason}: {parsed.message}\n".encode()
        result = self._apply_callback(parsed, wall)
        self.metrics.callback_requests.labels(result).inc()
        return 200, callbacks.OK_BODY

    def handle_rejection(self, rejection: callbacks.Rejection) -> None:
        """A callback refused before its body was read (bad or oversized Content-Length)."""
        self.metrics.callback_requests.labels(rejection.reason).inc()

    def _count_event(self, account: str, event: callbacks.CallbackEvent, now: float) -> None:
        self.metrics.callback_events.labels(account, _EVENTS[event.event]).inc()
        self.metrics.callback_last_event.labels(account).set(now)

    def _apply_callback(self, event: callbacks.CallbackEvent, now: float) -> str:
        targets = list(self._callback_targets(event.domain, event.app))
        result = "unknown_stream"
        for t in targets:
            key = StreamKey(t.account, t.domain, t.app, event.stream)
            if key not in self.store:
                room = t.max_streams - len(t.discovered)
                if not (t.discovers and event.event is callbacks.EventType.PUSH and room > 0):
                    continue
                t.discovered[key] = now
                t.membership_changed()
                self._discover(t, [key])
            if event.event is callbacks.EventType.PUSH_ERROR:
                self._count_event(t.account, event, now)
                result = "accepted"
                continue
            state = (
                StreamState.ACTIVE
                if event.event is callbacks.EventType.PUSH
                else StreamState.INACTIVE
            )
            # CSS's clock and ours differ a little: an event is never in our future.
            at = min(event.event_time, now)
            outcome = self.store.apply(
                Observation(key, at, Source.CALLBACK, state=state, sequence=event.sequence), now
            )
            if outcome is Outcome.APPLIED:
                self._count_event(t.account, event, now)
            result = "accepted" if outcome is Outcome.APPLIED else outcome.value
        return result

    # -- web backend -----------------------------------------------------------------------

    def render_metrics(self) -> bytes:
        return self.exposition.render()

    def metrics_chunks(self, openmetrics: bool, compressed: bool) -> list[bytes]:
        return self.exposition.render_chunks(openmetrics=openmetrics, compressed=compressed)

    def ready(self) -> bool:
        return self.poller.ready()

    def status_snapshot(self) -> StatusSnapshot:
        rows = []
        for key, status in self.store.snapshot().items():
            spec_labels = self.exposition.extra_labels(key)
            error = None
            if status.last_error_code is not None:
                error = f"{status.last_error_code}: {logs.redact(status.last_error_message or '')}"
            rows.append(
                StreamRow(
                    key.account,
                    key.domain,
                    key.app,
                    key.stream,
                    spec_labels,
                    status.state.value,
                    status.last_change,
                    status.change_source,
                    error,
                    status.last_error_time,
                )
            )
        budgets = []
        for name, acc in self.poller.accounts.items():
            for action, limiter in acc.limiters.items():
                budgets.append(
                    BudgetRow(name, action, limiter.max_rate, limiter.rate, acc.backoff.delay)
                )
        targets = [
            TargetRow(
                t.account,
                t.name,
                t.mode,
                len(t.keys) + len(t.discovered),
                t.interval if t.mode == "state" else t.round_interval,
                t.last_success,
            )
            for t in self.poller.targets
        ]
        return StatusSnapshot(
            version=__version__,
            now=time.time(),
            started=self.started,
            ready=self.ready(),
            streams=rows,
            errors=list(self.recent_errors),
            budgets=budgets,
            targets=targets,
            reload_ok=bool(self.metrics.reload_ok._value.get()),
            last_reload=self.metrics.reload_time._value.get() or None,
        )

    def status_page(self, query: dict[str, str]) -> str:
        return render_status_page(self.status_snapshot(), query)

    def set_push(self, updates: Mapping[StreamKey, PushInfo | None]) -> None:
        self.exposition.set_push(updates)

    # -- lifecycle -------------------------------------------------------------------------

    def _render_loop(self) -> None:
        trim = malloc.Trimmer()
        while not self._stop_render.is_set():
            if self.exposition.wait_dirty(0.5):
                # Let a burst of changes (a list round) settle into one render.
                self._stop_render.wait(0.05)
                self.exposition.flush()
                trim()

    def start(self) -> None:
        self.exposition.flush()
        self._render_thread = threading.Thread(target=self._render_loop, name="render", daemon=True)
        self._render_thread.start()
        self.web.start()
        log.info("listening on %s", self.web.address)
        self.poller.start()

    def stop(self, timeout: float = 3.0) -> None:
        """Stop polling, give in-flight calls ``timeout`` to finish, then close the server."""
        self.poller.stop(timeout)
        self._stop_render.set()
        self.web.stop()
