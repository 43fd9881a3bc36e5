"""The exporter's own instruments (API usage, polling health, build info) on a private registry.

Per-stream families live in exposition.py, which renders them incrementally.
"""

from __future__ import annotations

import platform
from collections.abc import Callable, Iterable

import prometheus_client
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector
from prometheus_client.metrics_core import Metric
from prometheus_client.samples import Sample

from exporter import __version__
from exporter.model import ApiError

# *_created series double the size of every counter family for no benefit to alerting.
prometheus_client.disable_created_metrics()

API_DURATION_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


# Labels that tell a child's samples apart, not the children themselves.
_SAMPLE_LABELS = frozenset(("le", "quantile"))


def sorted_children(family: Metric) -> Metric:
    """The family with its children ordered by label values, each child's samples kept in order.

    prometheus_client emits children in first-use order, which for per-action API series is
    whichever call finished first: the same state would render in a different order each run.
    """
    groups: dict[tuple[str, ...], list[Sample]] = {}
    for sample in family.samples:
        key = tuple(v for k, v in sample.labels.items() if k not in _SAMPLE_LABELS)
        groups.setdefault(key, []).append(sample)
    out = Metric(family.name, family.documentation, family.type, family.unit)
    out.samples = [s for key in sorted(groups) for s in groups[key]]
    return out


class SortedRegistry(CollectorRegistry):
    """A registry whose exposition is the same for the same values, whatever order they came in."""

    def collect(self) -> Iterable[Metric]:
        for family in super().collect():
            yield sorted_children(family)


class ExporterMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else SortedRegistry(auto_describe=True)
        r = self.registry
        ProcessCollector(registry=r)
        self.build_info = Gauge(
            "tencent_live_exporter_build_info",
            "Exporter build information; the value is always 1.",
            ["version", "python_version"],
            registry=r,
        )
        self.build_info.labels(__version__, platform.python_version()).set(1)
        self.api_requests = Counter(
            "tencent_live_api_requests",
            "Calls made to the Tencent CSS API, by account and action.",
            ["account", "action"],
            registry=r,
        )
        self.api_errors = Counter(
            "tencent_live_api_errors",
            "Failed calls to the Tencent CSS API, by Tencent error code or transport class.",
            ["account", "action", "code"],
            registry=r,
        )
        self.api_duration = Histogram(
            "tencent_live_api_request_duration_seconds",
            "Duration of calls to the Tencent CSS API.",
            ["account", "action"],
            buckets=API_DURATION_BUCKETS,
            registry=r,
        )
        self.budget = Gauge(
            "tencent_live_api_budget_requests_per_second",
            "Configured share of the account's API limit the exporter may spend, by action.",
            ["account", "action"],
            registry=r,
        )
        self.allowed_rate = Gauge(
            "tencent_live_api_allowed_requests_per_second",
            "Request rate the exporter currently allows itself; drops below the budget after "
            "RequestLimitExceeded answers and recovers while the API stays quiet.",
            ["account", "action"],
            registry=r,
        )
        self.backoff = Gauge(
            "tencent_live_api_backoff_seconds",
            "Current back-off delay of the account after authentication or account-state "
            "errors; 0 when the account is healthy.",
            ["account"],
            registry=r,
        )
        self.queue = Gauge(
            "tencent_live_poll_queue_length",
            "Stream polls that are due but not yet sent, by account.",
            ["account"],
            registry=r,
        )
        self.workers = Gauge(
            "tencent_live_poll_workers",
            "Worker threads available to send polls, by account.",
            ["account"],
            registry=r,
        )
        self.target_streams = Gauge(
            "tencent_live_target_streams",
            "Streams tracked for the target (configured and discovered).",
            ["account", "target"],
            registry=r,
        )
        self.target_interval = Gauge(
            "tencent_live_target_interval_seconds",
            "Effective poll interval of the target; larger than configured when its streams "
            "do not fit the account's budget at the configured interval.",
            ["account", "target"],
            registry=r,
        )
        self.target_configured_interval = Gauge(
            "tencent_live_target_configured_interval_seconds",
            "Poll interval of the target as configured.",
            ["account", "target"],
            registry=r,
        )
        self.poll_lag = Gauge(
            "tencent_live_target_poll_lag_seconds",
            "How late the most recent poll of the target was sent relative to its slot.",
            ["account", "target"],
            registry=r,
        )
        self.polls_skipped = Counter(
            "tencent_live_target_polls_skipped",
            "Polls or rounds not sent: 'pending' when the previous one had not finished "
            "(polling is behind), 'backoff' while the account is backing off.",
            ["account", "target", "reason"],
            registry=r,
        )
        self.target_mode = Gauge(
            "tencent_live_target_mode",
            "How the target is polled, as a state set: state (one DescribeLiveStreamState per "
            "stream) or online_list (paged DescribeLiveStreamOnlineList rounds).",
            ["account", "target", "mode"],
            registry=r,
        )
        self.target_discovered = Gauge(
            "tencent_live_target_discovered_streams",
            "Streams tracked because they were seen online (discovery).",
            ["account", "target"],
            registry=r,
        )
        self.target_capped = Gauge(
            "tencent_live_target_discovery_capped_streams",
            "Online streams not tracked in the last round because the target's max_streams "
            "cap was reached.",
            ["account", "target"],
            registry=r,
        )
        self.rounds = Counter(
            "tencent_live_target_rounds",
            "Online-list rounds by result: ok, error, or inconsistent (the list changed while "
            "it was paged, so absences were not trusted).",
            ["account", "target", "result"],
            registry=r,
        )
        self.target_last_success = Gauge(
            "tencent_live_target_last_success_timestamp_seconds",
            "Unix time of the target's last successful poll (state mode) or complete list round.",
            ["account", "target"],
            registry=r,
        )
        self.callback_requests = Counter(
            "tencent_live_callback_requests",
            "CSS callback requests by result (accepted, or why they were not).",
            ["result"],
            registry=r,
        )
        self.callback_events = Counter(
            "tencent_live_callback_events",
            "Accepted CSS callback events by account and event (push, interrupt, push_error).",
            ["account", "event"],
            registry=r,
        )
        self.callback_last_event = Gauge(
            "tencent_live_callback_last_event_timestamp_seconds",
            "Unix time of the last accepted CSS callback event.",
            ["account"],
            registry=r,
        )
        self.reload_ok = Gauge(
            "tencent_live_exporter_config_last_reload_successful",
            "1 if the last configuration (re)load succeeded.",
            registry=r,
        )
        self.reload_time = Gauge(
            "tencent_live_exporter_config_last_reload_success_timestamp_seconds",
            "Unix time of the last successful configuration (re)load.",
            registry=r,
        )
        self.ready = Gauge(
            "tencent_live_exporter_ready",
            "1 once every target has completed its first poll round.",
            registry=r,
        )

    def forget_targets(self) -> None:
        """Drop gauges of the previous config's targets and accounts (a reload re-sets them).

        Counters keep their series: a target that stays keeps counting from where it was.
        """
        for gauge in (
            self.budget,
            self.allowed_rate,
            self.backoff,
            self.queue,
            self.workers,
            self.target_streams,
            self.target_interval,
            self.target_configured_interval,
            self.poll_lag,
            self.target_mode,
            self.target_discovered,
            self.target_capped,
            self.target_last_success,
        ):
            gauge.clear()

    def call_hook(self, account: str) -> Callable[[str, float, ApiError | None], None]:
        """The client's per-call hook for one account."""
        requests = {}
        durations = {}

        def hook(action: str, seconds: float, error: ApiError | None) -> None:
            if action not in requests:
                requests[action] = self.api_requests.labels(account, action)
                durations[action] = self.api_duration.labels(account, action)
            requests[action].inc()
            durations[action].observe(seconds)
            if error is not None:
                self.api_errors.labels(account, action, error.code).inc()

        return hook
