"""Polling's metrics, read from their owners at scrape time (as kube-state-metrics does).

Nothing is set imperatively: a target that a reload removes has no series from the next scrape
on, and a job still in flight cannot bring one back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from exporter.polling.engine import Poller
from exporter.polling.progress import TargetProgress
from exporter.runtime.membership import Membership

_A = ["account"]
_AA = ["account", "action"]
_AT = ["account", "target"]

_TargetValue = Callable[[TargetProgress], float | None]


class PollingCollector(Collector):
    def __init__(self, poller: Poller, membership: Membership) -> None:
        self._poller = poller
        self._membership = membership

    def collect(self) -> Iterable[Metric]:
        accounts = self._poller.dispatcher.accounts
        budget = GaugeMetricFamily(
            "tencent_live_api_budget_requests_per_second",
            "Configured share of the account's API limit the exporter may spend, by action.",
            labels=_AA,
        )
        allowed = GaugeMetricFamily(
            "tencent_live_api_allowed_requests_per_second",
            "Request rate the exporter currently allows itself; drops below the budget after "
            "RequestLimitExceeded answers and recovers while the API stays quiet.",
            labels=_AA,
        )
        backoff = GaugeMetricFamily(
            "tencent_live_api_backoff_seconds",
            "Current back-off delay of the account after authentication or account-state "
            "errors; 0 when the account is healthy.",
            labels=_A,
        )
        queue = GaugeMetricFamily(
            "tencent_live_poll_queue_length",
            "Stream polls that are due but not yet sent, by account.",
            labels=_A,
        )
        workers = GaugeMetricFamily(
            "tencent_live_poll_workers",
            "Worker threads available to send polls, by account.",
            labels=_A,
        )
        up = GaugeMetricFamily(
            "tencent_live_api_up",
            "1 if the account's last call to the Tencent CSS API got an answer (a success or "
            "an error code), 0 if it failed in transport (DNS, connection, TLS, timeout).",
            labels=_A,
        )
        last_success = GaugeMetricFamily(
            "tencent_live_api_last_success_timestamp_seconds",
            "Unix time of the account's last successful call to the Tencent CSS API.",
            labels=_A,
        )
        forbid = GaugeMetricFamily(
            "tencent_live_api_forbid_list_available",
            "1 if the account may use DescribeLiveForbidStreamList, 0 if it answered that it "
            "cannot (retired, or denied by CAM): bans then come from state polls.",
            labels=_A,
        )
        for name, acc in accounts.items():
            for action, lane in acc.lanes.items():
                budget.add_metric([name, action], lane.limiter.max_rate)
                allowed.add_metric([name, action], lane.limiter.rate)
            backoff.add_metric([name], acc.guard.backoff.delay)
            queue.add_metric([name], float(acc.queued()))
            workers.add_metric([name], float(acc.workers))
            health = acc.guard.health()
            if health.answered is not None:
                up.add_metric([name], 1.0 if health.answered else 0.0)
            if health.last_success is not None:
                last_success.add_metric([name], health.last_success)
            if health.forbid is not None:
                forbid.add_metric([name], 1.0 if health.forbid else 0.0)
        yield from (budget, allowed, backoff, queue, workers, up, last_success, forbid)
        yield from self._targets(self._poller.progress.snapshot().values())

    def _targets(self, targets: Iterable[TargetProgress]) -> Iterable[Metric]:
        targets = sorted(targets, key=lambda p: (p.spec.account, p.spec.name))
        counts = {p.spec.name: self._membership.counts(p.spec.name) for p in targets}

        def gauge(name: str, doc: str, value: _TargetValue) -> GaugeMetricFamily:
            family = GaugeMetricFamily(name, doc, labels=_AT)
            for p in targets:
                v = value(p)
                if v is not None:
                    family.add_metric([p.spec.account, p.spec.name], v)
            return family

        yield gauge(
            "tencent_live_target_streams",
            "Streams tracked for the target (configured and discovered).",
            lambda p: float(counts[p.spec.name][0]),
        )
        yield gauge(
            "tencent_live_target_interval_seconds",
            "Effective poll interval of the target; larger than configured when its streams "
            "do not fit the account's budget at the configured interval.",
            lambda p: p.interval,
        )
        yield gauge(
            "tencent_live_target_configured_interval_seconds",
            "Poll interval of the target as configured.",
            lambda p: p.configured_interval,
        )
        yield gauge(
            "tencent_live_target_poll_lag_seconds",
            "How late the most recent poll of the target was sent relative to its slot.",
            lambda p: p.lag,
        )
        yield gauge(
            "tencent_live_target_discovered_streams",
            "Streams tracked because they were seen online (discovery).",
            lambda p: float(counts[p.spec.name][1]),
        )
        yield gauge(
            "tencent_live_target_discovery_capped_streams",
            "Online streams not tracked in the last round because the target's max_streams "
            "cap was reached.",
            lambda p: float(p.capped),
        )
        accounts = self._poller.dispatcher.accounts

        def denied(p: TargetProgress) -> float:
            acc = accounts.get(p.spec.account)
            return acc.guard.domain_delay(p.spec.domain) if acc is not None else 0.0

        yield gauge(
            "tencent_live_target_backoff_seconds",
            "Back-off delay of the target's push domain after CAM denied the account's key on "
            "it (AuthFailure.UnauthorizedOperation); 0 while the domain is allowed.",
            denied,
        )
        yield gauge(
            "tencent_live_target_last_success_timestamp_seconds",
            "Unix time of the target's last successful poll (state mode) or complete list round.",
            lambda p: p.last_success,
        )
        mode = GaugeMetricFamily(
            "tencent_live_target_mode",
            "How the target is polled, as a state set: state (one DescribeLiveStreamState per "
            "stream) or online_list (paged DescribeLiveStreamOnlineList rounds).",
            labels=["account", "target", "mode"],
        )
        skipped = CounterMetricFamily(
            "tencent_live_target_polls_skipped",
            "Polls or rounds not sent: 'pending' when the previous one had not finished "
            "(polling is behind), 'backoff' while the account is backing off.",
            labels=["account", "target", "reason"],
        )
        rounds = CounterMetricFamily(
            "tencent_live_target_rounds",
            "Online-list rounds by result: ok, error, or inconsistent (the list changed while "
            "it was paged, so absences were not trusted).",
            labels=["account", "target", "result"],
        )
        for p in targets:
            where = [p.spec.account, p.spec.name]
            for m in ("state", "online_list"):
                mode.add_metric([*where, m], 1.0 if p.mode == m else 0.0)
            for reason, count in p.skipped:
                skipped.add_metric([*where, reason], float(count))
            for result, count in p.rounds:
                rounds.add_metric([*where, result], float(count))
        yield from (mode, skipped, rounds)
