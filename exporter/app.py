"""Wires a validated config into running parts, and owns their start and stop."""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from exporter import logs
from exporter.client import ClientSettings, CssClient
from exporter.config import Account, Config, Target
from exporter.exposition import Exposition, LabelPairs
from exporter.metrics import ExporterMetrics
from exporter.model import StreamKey
from exporter.poller import AccountRuntime, Poller, TargetPlan
from exporter.ratelimit import Backoff, RateLimiter
from exporter.schedule import default_workers, stretch_factor
from exporter.state import StateStore
from exporter.web import WebServer

log = logging.getLogger(__name__)


def stream_labels(account: str, target: Target) -> dict[StreamKey, LabelPairs]:
    out: dict[StreamKey, LabelPairs] = {}
    for entry in target.streams:
        key = StreamKey(account, target.domain, target.app, entry.name)
        extra = {**target.labels, **entry.labels}
        if entry.expect_live is not None:
            extra["expect_live"] = "true" if entry.expect_live else "false"
        out[key] = (
            ("account", account),
            ("domain", target.domain),
            ("app", target.app),
            ("stream", entry.name),
            *sorted(extra.items()),
        )
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

    plans: list[TargetPlan]
    labels: dict[StreamKey, LabelPairs]
    stretch: dict[str, float]


def plan(config: Config) -> Plan:
    labels: dict[StreamKey, LabelPairs] = {}
    names = target_names(list(config.targets))
    by_account: dict[str, list[tuple[int, float]]] = {}
    for t in config.targets:
        account = t.account or config.accounts[0].name
        by_account.setdefault(account, []).append((len(t.streams), t.interval))
    stretch = {
        a.name: stretch_factor(by_account.get(a.name, []), a.budget) for a in config.accounts
    }
    plans = []
    for name, t in zip(names, config.targets, strict=True):
        account = t.account or config.accounts[0].name
        target_labels = stream_labels(account, t)
        labels.update(target_labels)
        factor = stretch[account]
        plans.append(
            TargetPlan(
                name=name,
                account=account,
                keys=list(target_labels),
                interval=t.interval * factor,
                configured_interval=t.interval,
                stale_after=t.effective_stale_after * factor,
            )
        )
    return Plan(plans, labels, stretch)


class App:
    def __init__(
        self,
        config: Config,
        listen_address: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        logs.register_secrets(
            s.get_secret_value()
            for a in config.accounts
            for s in (a.credentials.secret_key, a.credentials.token)
            if s is not None
        )
        self.metrics = ExporterMetrics()
        p = plan(config)
        for account, factor in p.stretch.items():
            if factor > 1.0:
                log.warning(
                    "account %s: configured streams need %.0f%% of its budget; stretching its "
                    "poll intervals by %.2fx to stay within the budget",
                    account,
                    factor * 100,
                    factor,
                )
        self.exposition = Exposition(p.labels, self.metrics.registry)
        self.store = StateStore(p.labels, listener=self.exposition.stream_changed)
        accounts = {}
        for a in config.accounts:
            hook = self.metrics.call_hook(a.name)
            accounts[a.name] = AccountRuntime(
                name=a.name,
                client=CssClient(client_settings(a), on_call=hook),
                limiter=RateLimiter(a.budget, clock=clock),
                backoff=Backoff(),
                workers=a.max_workers or default_workers(a.budget),
            )
        self.poller = Poller(p.plans, accounts, self.store, self.metrics, clock=clock)
        for tp in p.plans:
            log.info(
                "target %s (account %s): %d streams every %.0fs, mode state",
                tp.name,
                tp.account,
                len(tp.keys),
                tp.interval,
            )
        self.web = WebServer(listen_address, self)

    # -- web backend -----------------------------------------------------------------------

    def render_metrics(self) -> bytes:
        return self.exposition.render()

    def ready(self) -> bool:
        return self.poller.ready()

    def status_rows(self) -> list[tuple[str, str, str]]:
        rows = []
        for key, status in sorted(self.store.snapshot().items()):
            err = status.last_error
            rows.append((str(key), status.state.value, f"{err.code}: {err.message}" if err else ""))
        return rows

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        self.web.start()
        log.info("listening on %s", self.web.address)
        self.poller.start()

    def stop(self) -> None:
        self.poller.stop()
        self.web.stop()
