"""Which metric families are exposed: the config's ``metrics`` allow and deny lists.

As kube-state-metrics' ``--metric-allowlist``/``--metric-denylist``: families are named by
shell-style patterns (``tencent_live_stream_push_*``) as the text format names them (counters
with ``_total``); with an allow list only matching families are exposed, and the deny list
removes from what is left. The exposition applies it at render: a denied per-stream family's
text is not kept at all.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import Metric

__all__ = ["MetricFilter", "Visible"]


@dataclass(frozen=True)
class MetricFilter:
    allow: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()
    _cache: dict[str, bool] = field(default_factory=dict, compare=False, repr=False)

    def __call__(self, name: str) -> bool:
        """Whether the family ``name`` (as in the text format: counters with ``_total``) is
        exposed."""
        known = self._cache.get(name)
        if known is None:
            allowed = not self.allow or any(fnmatch.fnmatchcase(name, p) for p in self.allow)
            known = allowed and not any(fnmatch.fnmatchcase(name, p) for p in self.deny)
            self._cache[name] = known
        return known

    @property
    def everything(self) -> bool:
        return not self.allow and not self.deny

    def unmatched(self, families: Iterable[str]) -> list[str]:
        """Patterns that match none of ``families`` (most likely a typo)."""
        names = list(families)
        return [
            p
            for p in (*self.allow, *self.deny)
            if not any(fnmatch.fnmatchcase(name, p) for name in names)
        ]


# The suffix the text format adds to a registry family's name, by type.
_TEXT_SUFFIX = {"counter": "_total", "info": "_info"}


class Visible(CollectorRegistry):
    """A registry's families that a filter allows, for generate_latest to collect."""

    def __init__(self, registry: CollectorRegistry, enabled: MetricFilter) -> None:
        super().__init__(auto_describe=False)
        self._source = registry
        self._enabled = enabled

    def collect(self) -> Iterable[Metric]:
        for family in self._source.collect():
            if self._enabled(family.name + _TEXT_SUFFIX.get(family.type, "")):
                yield family
