"""The callback audit's metrics, read from the history's owner at scrape time."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from exporter.history import History


class HistoryCollector(Collector):
    def __init__(self, history: History) -> None:
        self._history = history

    def collect(self) -> Iterator[Metric]:
        audit = CounterMetricFamily(
            "tencent_live_callback_audit",
            "Callbacks CSS says it sent (DescribeCallbackRecordsList, pushes and interrupts of "
            "the streams audited), by result: delivered (accepted here), refused (CSS recorded "
            "a failed delivery) or not_received (CSS recorded a delivery never accepted here).",
            labels=["account", "result"],
        )
        until = GaugeMetricFamily(
            "tencent_live_callback_audit_last_timestamp_seconds",
            "Unix time up to which the account's callbacks were last audited.",
            labels=["account"],
        )
        for account, view in sorted(self._history.audit.snapshot().items()):
            for result, count in view.counts:
                audit.add_metric([account, result], count)
            if view.audited_until is not None:
                until.add_metric([account], view.audited_until)
        yield audit
        yield until
