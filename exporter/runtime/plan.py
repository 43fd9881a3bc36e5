"""Planning: a validated config becomes the immutable specs of its accounts and targets.

Pure: no I/O, no threads, no clock. Everything that a config decides about polling is decided
here, once (modes, stretched intervals, freshness windows, budgets, worker counts, the shard's
share of the streams), so that the running parts only read it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

from exporter import cssapi, rounds
from exporter.broadcast import Watch
from exporter.client import ClientSettings
from exporter.config import Account, Config, Target
from exporter.courtesy import paced
from exporter.exposition import LabelPairs
from exporter.model import StreamKey
from exporter.runtime.expectations import Expectations
from exporter.runtime.history import HistorySpec, plan_history
from exporter.runtime.playback import PlaybackSpec, plan_playback
from exporter.schedule import default_workers, stretch_factor
from exporter.sharding import Shard
from exporter.state import Policy


@dataclass(frozen=True)
class StreamSpec:
    extra: LabelPairs  # labels after account/domain/app/stream, sorted by name
    down_after: float | None
    watch: Watch | None = None  # schedule and thresholds (runtime/expectations.py), shared


@dataclass(frozen=True)
class TargetSpec:
    """One target as planned: how it is polled and which configured streams this shard owns."""

    name: str
    account: str
    domain: str
    app: str
    mode: str  # resolved at planning: "state" or "online_list" (auto may switch to state later)
    auto: bool
    discovers: bool
    interval: float  # state polls, after stretching to fit the budget
    configured_interval: float
    round_interval: float
    forbid_interval: float
    page_size: int
    max_streams: int
    retention: float
    push_info: bool
    push_ips: bool
    policy: Policy
    labels: LabelPairs  # the target's labels: what discovered streams are exposed with
    keys: tuple[StreamKey, ...]  # configured streams this shard owns

    @property
    def where(self) -> tuple[str, str, str]:
        """(account, domain, app): what discovered streams belong to, across reloads."""
        return (self.account, self.domain, self.app)

    @property
    def identity(self) -> tuple[str, str, str, str, str]:
        """A target with the same identity after a reload keeps its schedule and progress."""
        return (self.name, self.account, self.domain, self.app, self.mode)

    @property
    def poll_interval(self) -> float:
        """The cadence the target is polled at in its planned mode."""
        return self.interval if self.mode == "state" else self.round_interval


@dataclass(frozen=True)
class AccountSpec:
    """One account as planned: how to call the API and what it may spend per action."""

    name: str
    site: str  # cssapi.CHINA, INTL or STRICT (not known: the stricter facts)
    settings: ClientSettings
    budgets: Mapping[str, float]  # requests/s per action, this shard's share
    workers: int  # state-poll workers (the other actions' lanes size themselves)
    forbid_interval: float | None  # None: no online_list target needs the forbid list
    history: HistorySpec | None = None  # None: no event-list or callback-audit round
    playback: PlaybackSpec | None = None  # None: no play domains, no playback call

    @property
    def connection(self) -> tuple[str, str, str | None, str | None, str | None]:
        """What a back-off is about: a change of any of these may have fixed it."""
        s = self.settings
        return (s.endpoint_host, s.scheme, s.secret_id, s.secret_key, s.token)


@dataclass(frozen=True)
class Plan:
    """Everything derived from a config before anything starts.

    ``specs`` and ``policies`` hold every configured stream once; they are read when the plan is
    applied and not kept afterwards (at 100k streams they are tens of MB).
    """

    accounts: tuple[AccountSpec, ...]
    targets: tuple[TargetSpec, ...]
    specs: Mapping[StreamKey, StreamSpec]
    policies: Mapping[StreamKey, Policy]
    stretch: Mapping[str, float]


def configured_streams(
    account: str,
    target: Target,
    expectations: Expectations | None = None,
    known: Mapping[StreamKey, StreamKey] | None = None,
) -> dict[StreamKey, StreamSpec]:
    """The target's streams and their specs; keys found in ``known`` are that very object."""
    out: dict[StreamKey, StreamSpec] = {}
    same = (known or {}).get
    # Streams of a target mostly share their labels: one spec object for all of them keeps
    # 100k streams from holding 100k equal tuples.
    shared: dict[StreamSpec, StreamSpec] = {}
    expect = expectations or Expectations.without_schedules()
    bare: StreamSpec | None = None  # the spec of every entry that is only a name
    for entry in paced(target.streams):
        key = StreamKey(account, target.domain, target.app, entry.name)
        key = same(key, key)
        if bare is not None and entry.bare():
            out[key] = bare
            continue
        extra = {**target.labels, **entry.labels}
        expected = expect.of(target, entry)
        if expected.label is not None:
            extra["expect_live"] = expected.label
        down_after = None
        if expected.pages:
            down_after = entry.down_after if entry.down_after is not None else target.down_after
        spec = StreamSpec(tuple(sorted(extra.items())), down_after, expected.watch)
        out[key] = spec = shared.setdefault(spec, spec)
        if bare is None and entry.bare():
            bare = spec
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


def client_settings(account: Account, budgets: Mapping[str, float]) -> ClientSettings:
    """``budgets`` also bound each action's sends at the socket (ratelimit.SendGate): the pacer
    releases calls evenly, but they reach the socket bunched by thread wake-ups, and Tencent
    counts what arrives in each second."""
    c = account.credentials
    return ClientSettings(
        account=account.name,
        endpoint_host=account.endpoint_host,
        scheme=account.endpoint_scheme,
        timeout=account.timeout,
        secret_id=c.secret_id,
        secret_key=c.secret_key.get_secret_value() if c.secret_key else None,
        token=c.token.get_secret_value() if c.token else None,
        send_limits=tuple(sorted(budgets.items())),
    )


def _owned(
    config: Config, shard: Shard, known: Mapping[StreamKey, StreamKey]
) -> list[tuple[str, Target, str, dict[StreamKey, StreamSpec]]]:
    """(name, target, account, streams) of the targets this shard polls."""
    names = target_names(list(config.targets))
    default_account = config.accounts[0].name
    expectations = Expectations(config)
    owned = []
    for name, t in zip(names, config.targets, strict=True):
        account = t.account or default_account
        streams = configured_streams(account, t, expectations, known)
        if t.discovers:
            # A discovering target is listed by one shard; the others would only repeat it.
            if not shard.owns(f"{account}/{t.domain}/{t.app}"):
                continue
        elif shard.enabled:  # unsharded, every stream is owned: no identity to format
            streams = {
                k: v
                for k, v in streams.items()
                if shard.owns(f"{k.account}/{k.domain}/{k.app}/{k.stream}")
            }
        if not streams and not t.discovers:
            continue
        owned.append((name, t, account, streams))
    return owned


def plan(
    config: Config, shard: Shard | None = None, known: Mapping[StreamKey, StreamKey] | None = None
) -> Plan:
    """``known``: the running snapshot's stream keys, reused (see configured_streams)."""
    shard = shard or Shard()
    owned = _owned(config, shard, known or {})
    # Only per-stream polling grows with the number of streams: stretch those intervals.
    by_account: dict[str, list[tuple[int, float]]] = {}
    for _, t, account, streams in owned:
        if rounds.choose_mode(t.mode, len(streams), t.discovers) == "state":
            by_account.setdefault(account, []).append((len(streams), t.interval))
    stretch = {
        a.name: stretch_factor(by_account.get(a.name, []), a.budget(cssapi.STATE) * shard.fraction)
        for a in config.accounts
    }
    by_name = {a.name: a for a in config.accounts}
    targets: list[TargetSpec] = []
    specs: dict[StreamKey, StreamSpec] = {}
    policies: dict[StreamKey, Policy] = {}
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
        targets.append(
            TargetSpec(
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
                page_size=t.page_size or cssapi.default_list_page_size(by_name[account].site_name),
                max_streams=t.max_streams,
                retention=t.retention,
                push_info=t.push_info,
                push_ips=t.push_info_ips,
                policy=policy,
                labels=tuple(sorted(t.labels.items())),
                keys=tuple(streams),
            )
        )
        specs.update(streams)
        policies.update(dict.fromkeys(streams, policy))
    default = config.accounts[0].name
    named = [(t.account or default, t) for t in config.targets]
    accounts = tuple(
        _account_spec(
            a,
            shard,
            targets,
            plan_playback(a, named, shard),
            plan_history(a, config),
        )
        for a in config.accounts
    )
    return Plan(accounts, tuple(targets), specs, policies, stretch)


def _account_spec(
    account: Account,
    shard: Shard,
    targets: list[TargetSpec],
    playback: PlaybackSpec | None = None,
    history: HistorySpec | None = None,
) -> AccountSpec:
    budgets = {action: account.budget(action) * shard.fraction for action in cssapi.ACTIONS}
    forbid = [
        t.forbid_interval for t in targets if t.account == account.name and t.mode == "online_list"
    ]
    return AccountSpec(
        name=account.name,
        site=account.site_name,
        settings=client_settings(account, budgets),
        budgets=budgets,
        workers=account.max_workers or default_workers(budgets[cssapi.STATE]),
        forbid_interval=min(forbid) if forbid else None,
        playback=playback,
        history=history,
    )
