"""What a fleet of streams costs a Prometheus server, in series, under the config's metric
allow/deny lists (exporter/exposition/filter.py): the table the docs use and the estimate
``--config.check`` prints."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from exporter.exposition.bucket import ALL_FAMILIES
from exporter.exposition.filter import MetricFilter

__all__ = ["SERIES_PER_STREAM", "SeriesEstimate", "describe", "estimate"]


# Series each stream adds, per family: (family, series, when); see Family.when.
SERIES_PER_STREAM: tuple[tuple[str, int, str], ...] = tuple(
    (f.name, f.series, f.when) for f in ALL_FAMILIES
)


@dataclass(frozen=True)
class SeriesEstimate:
    streams: int
    low: int  # every stream off air, no history
    high: int  # every stream on air with push quality and viewers, one interrupt reason each
    discovering: Sequence[tuple[str, int]]  # (target, max_streams) of discovery targets


def per_stream(enabled: MetricFilter, when: set[str]) -> int:
    """Series of a stream that has ``when``: conditions (Family.when) and the names of the
    quality threshold families it has (one per threshold set)."""
    return sum(
        n
        for family, n, cond in SERIES_PER_STREAM
        if (cond in when or family in when) and enabled(family)
    )


def estimate(config: object, enabled: MetricFilter) -> SeriesEstimate:
    """Series the configured streams cost (duck-typed on exporter.config.Config)."""
    low = high = count = 0
    discovering: list[tuple[str, int]] = []
    # (account, push domain) pairs a play domain serves: their streams have viewer values.
    viewing = {
        (a.name, push)
        for a in getattr(config, "accounts", [])
        for play in a.play_domains
        for push in play.push_domains
    }
    cost: dict[tuple[frozenset[str], frozenset[str]], tuple[int, int]] = {}
    for t in getattr(config, "targets", []):
        extra = {"history"}
        if t.push_info:
            extra.add("active")
        if t.play_domains or (t.account, t.domain) in viewing:
            extra.add("viewers")
        if t.discovers:
            discovering.append((f"{t.domain}/{t.app}", t.max_streams))
        for entry in t.streams:
            count += 1
            base = {"always"}
            expect = entry.expect_live if entry.expect_live is not None else t.expect_live
            if expect is not None:
                base.add("expect_live")
                if not isinstance(expect, bool):
                    base.add("schedule")
            for quality in (t.quality, entry.quality):
                if quality is not None:
                    base.update(
                        f"tencent_live_stream_{name}"
                        for name, value in quality
                        if value is not None
                    )
            shape = (frozenset(base), frozenset(extra))
            known = cost.get(shape)
            if known is None:
                known = cost[shape] = (
                    per_stream(enabled, base),
                    per_stream(enabled, base | extra),
                )
            low += known[0]
            high += known[1]
    return SeriesEstimate(count, low, high, discovering)


def describe(est: SeriesEstimate, enabled: MetricFilter) -> list[str]:
    """Lines for --config.check."""
    lines = [
        f"series: {est.low:,} to {est.high:,} per-stream series for {est.streams:,} configured"
        " streams (from all off air to all on air with push quality, viewers and an interrupt"
        " each), plus the exporter's own few hundred"
    ]
    full = per_stream(enabled, {"always", "active", "viewers", "history"})  # not expected live
    for name, cap in est.discovering:
        lines.append(
            f"  discovery target {name}: up to {cap:,} more streams, {full} series each at most"
        )
    if not enabled.everything:
        lines.append(
            f"  metrics: allow {list(enabled.allow) or 'all'}, deny {list(enabled.deny) or 'none'}"
        )
    return lines
