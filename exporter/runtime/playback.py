"""Planning of an account's playback calls: which play domains serve which push domains, and
at what interval each account-wide round runs (None: not made). Pure, like ``plan.py``."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from exporter.config import Account, Target
from exporter.sharding import Shard


@dataclass(frozen=True)
class PlaybackSpec:
    """One account's playback rounds, planned. Frozen and comparable: an unchanged spec keeps the
    account's lanes across a reload."""

    # (play domain, the push domains it serves), both sorted.
    play_domains: tuple[tuple[str, tuple[str, ...]], ...]
    viewers_interval: float | None
    domains_interval: float | None
    errors_interval: float | None
    errors_window: float
    certs_interval: float | None
    packages_interval: float | None
    data_lag: float
    # Streams nobody tracks are summed per play domain: only when one process sees every
    # tracked stream (with shards, another shard's streams would count as untracked).
    untracked: bool

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.play_domains)

    def served(self, play_domain: str) -> tuple[str, ...]:
        for name, push in self.play_domains:
            if name == play_domain:
                return push
        return ()

    @property
    def push_domains(self) -> frozenset[str]:
        return frozenset(d for _, push in self.play_domains for d in push)


def play_domain_map(account: Account, targets: Iterable[tuple[str, Target]]) -> dict[str, set[str]]:
    """Play domain -> push domains, from the account's ``play_domains`` and its targets'
    (``targets``: (account name, target) of every configured target)."""
    out: dict[str, set[str]] = {}
    for entry in account.play_domains:
        out.setdefault(entry.name, set()).update(entry.push_domains)
    for name, target in targets:
        if name == account.name:
            for play in target.play_domains:
                out.setdefault(play, set()).add(target.domain)
    return out


def plan_playback(
    account: Account, targets: Iterable[tuple[str, Target]], shard: Shard
) -> PlaybackSpec | None:
    """The account's playback rounds; None without play domains (no playback call at all)."""
    mapping = play_domain_map(account, targets)
    if not mapping:
        return None
    s = account.playback
    # One shard makes the account-wide rounds (their figures are the same for every shard);
    # each shard asks for the viewers of its own streams.
    lead = shard.owns(f"{account.name}/playback")

    def every(enabled: bool, interval: float, lead_only: bool = True) -> float | None:
        return interval if enabled and (lead or not lead_only) else None

    return PlaybackSpec(
        play_domains=tuple(sorted((p, tuple(sorted(push))) for p, push in mapping.items())),
        viewers_interval=every(s.viewers, s.interval, lead_only=False),
        domains_interval=every(s.domain_stats, s.interval),
        errors_interval=every(s.error_codes, s.error_interval),
        errors_window=s.error_window,
        certs_interval=every(s.certificates, s.health_interval),
        packages_interval=every(s.packages, s.health_interval),
        data_lag=s.data_lag,
        untracked=shard.count == 1,
    )
