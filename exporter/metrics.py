"""The exporter's own instruments (API usage, callbacks, reloads, build info) on a private registry.

Per-stream families live in exposition/, which renders them incrementally; polling's families
are read from their owners at scrape time (polling/collector.py).
"""

from __future__ import annotations

import platform
from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector
from prometheus_client.metrics_core import Metric
from prometheus_client.samples import Sample

from exporter import __version__
from exporter.model import ApiError

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
        if sample.name.endswith("_created"):
            # *_created series double the size of every counter family for no benefit to
            # alerting; dropped here rather than by prometheus_client.disable_created_metrics(),
            # which would change every registry of the process.
            continue
        key = tuple(v for k, v in sample.labels.items() if k not in _SAMPLE_LABELS)
        groups.setdefault(key, []).append(sample)
    out = Metric(family.name, family.documentation, family.type, family.unit)
    out.samples = [s for key in sorted(groups) for s in groups[key]]
    return out


class SortedRegistry(CollectorRegistry):
    """A registry whose exposition is the same for the same values, whatever order they came in,
    without ``*_created`` samples."""

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

    def call_hook(self, account: str) -> Callable[[str, float, ApiError | None], None]:
        """The client's per-call hook for one account."""
        # One dict of pairs, each stored in one assignment: the lane's workers call the hook
        # at once, and with two dicts a second worker found the counter set and the histogram
        # not yet (a KeyError that failed a poll, seen in the chaos soak). Two workers may both
        # create a pair; labels() returns the same children to both.
        children: dict[str, tuple[Counter, Histogram]] = {}

        def hook(action: str, seconds: float, error: ApiError | None) -> None:
            pair = children.get(action)
            if pair is None:
                pair = children[action] = (
                    self.api_requests.labels(account, action),
                    self.api_duration.labels(account, action),
                )
            requests, duration = pair
            requests.inc()
            duration.observe(seconds)
            if error is not None:
                self.api_errors.labels(account, action, error.code).inc()

        return hook
