"""The runtime snapshot: what one loaded config means while it runs, immutable.

Built beside the running snapshot on reload and swapped in with one assignment, as
blackbox_exporter's SafeConfig does. A reader (a callback, the status page, a poll job) takes one
reference and keeps it for what it is doing, so it never sees half of a reload.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from exporter.callbacks.origin import Network, networks
from exporter.config import Config
from exporter.exposition.filter import MetricFilter
from exporter.runtime.plan import AccountSpec, Plan, TargetSpec, plan
from exporter.sharding import Shard


@dataclass(frozen=True)
class Runtime:
    accounts: Mapping[str, AccountSpec]
    targets: tuple[TargetSpec, ...]
    callback_path: str | None
    callback_max_age: float
    # Push domain -> the callback keys of every account with a target on it.
    callback_keys: Mapping[str, tuple[str, ...]]
    # Every value that must never appear in a log line (keys, tokens, callback keys).
    secrets: frozenset[str]
    callback_max_events: int = 1000  # new events one (t, sign) pair may sign
    callback_allow: tuple[Network, ...] = ()  # source networks; () allows any
    callback_trusted: tuple[Network, ...] = ()  # proxies whose X-Forwarded-For counts
    shard: Shard = field(default_factory=Shard)
    metric_filter: MetricFilter = field(default_factory=MetricFilter)  # config metrics
    generation: int = 0
    by_name: Mapping[str, TargetSpec] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_name", MappingProxyType({t.name: t for t in self.targets}))

    def target(self, name: str) -> TargetSpec | None:
        return self.by_name.get(name)

    def targets_for(self, domain: str, app: str) -> tuple[TargetSpec, ...]:
        """The targets a callback for ``domain``/``app`` concerns."""
        return tuple(t for t in self.targets if t.domain == domain and t.app == app)

    def keys_for(self, domain: str) -> tuple[str, ...]:
        return self.callback_keys.get(domain, ())


def build(
    config: Config,
    shard: Shard | None = None,
    generation: int = 0,
    running: Runtime | None = None,
) -> tuple[Runtime, Plan]:
    """The runtime for ``config``, and the plan it came from (its stream specs are read once).

    A stream the ``running`` snapshot knows keeps its key object: the owners' tables are keyed
    by those, and fresh equal keys in the new snapshot would keep a second set of them alive
    (100,000 objects, 10 MB at 100k streams, and as many for the collector to walk).
    """
    shard = shard or Shard()
    known = {k: k for t in running.targets for k in t.keys} if running is not None else {}
    p = plan(config, shard, known)
    del known
    domains: dict[str, set[str]] = {}
    for t in config.targets:
        domains.setdefault(t.domain, set()).add(t.account or config.accounts[0].name)
    keys = {
        domain: tuple(
            key.get_secret_value()
            for a in config.accounts
            if a.name in accounts
            for key in a.callback_keys
        )
        for domain, accounts in domains.items()
    }
    secrets = frozenset(
        s.get_secret_value()
        for a in config.accounts
        for s in (a.credentials.secret_key, a.credentials.token, *a.callback_keys)
        if s is not None
    )
    runtime = Runtime(
        accounts=MappingProxyType({a.name: a for a in p.accounts}),
        targets=p.targets,
        callback_path=config.callbacks.path,
        callback_max_age=config.callbacks.max_age,
        callback_keys=MappingProxyType(keys),
        secrets=secrets,
        callback_max_events=config.callbacks.max_events_per_signature,
        callback_allow=networks(config.callbacks.allow_networks),
        callback_trusted=networks(config.callbacks.trusted_proxies),
        shard=shard,
        metric_filter=MetricFilter(tuple(config.metrics.allow), tuple(config.metrics.deny)),
        generation=generation,
    )
    return runtime, p
