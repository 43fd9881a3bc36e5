"""Play domains and playback settings in the config: one-line errors at the key to change, the
plan they make (which calls, how often), and every key documented."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import BaseModel

from exporter.config import ConfigError, parse_config
from exporter.config.playback import PlaybackSettings, PlayDomain
from exporter.runtime.plan import plan
from exporter.sharding import Shard

REPO = Path(__file__).resolve().parent.parent

BASE = """
accounts:
  - name: main
{account}
targets:
  - domain: push.example.com
    streams: [s1]
{target}
"""


def text(account: str = "", target: str = "") -> str:
    return BASE.format(account=account, target=target)


PLAY = "    play_domains:\n      - {name: play.example.com, push_domains: [push.example.com]}\n"


@pytest.mark.parametrize(
    ("account", "target", "expected"),
    [
        (
            "    play_domains:\n      - {name: play.example.com, push_domains: [push.other.com]}\n",
            "",
            'accounts[0].play_domains[0].push_domains[0]: "push.other.com" is not the domain of any'
            ' target of account "main" (its targets\' domains: push.example.com)',
        ),
        (
            PLAY + "      - {name: play.example.com, push_domains: [push.example.com]}\n",
            "",
            'accounts[0].play_domains[1].name: duplicate play domain "play.example.com" (first at'
            " accounts[0].play_domains[0].name): list its push domains once",
        ),
        (
            "    play_domains:\n"
            "      - {name: 'https://play.example.com', push_domains: [push.example.com]}\n",
            "",
            "accounts[0].play_domains[0].name: must be the bare play domain, e.g."
            ' play.example.com (no scheme, port or path), got "https://play.example.com"',
        ),
        (
            "    play_domains:\n      - {name: play.example.com, push_domains: []}\n",
            "",
            "accounts[0].play_domains[0].push_domains: at least one push domain is required",
        ),
        (
            "    play_domains:\n      - {name: play.example.com}\n",
            "",
            "accounts[0].play_domains[0].push_domains: required key is missing",
        ),
        (
            "    playback: {interval: 30s}\n",
            "",
            "accounts[0].playback.interval: 30s is outside 1m to 1h",
        ),
        (
            "    playback: {error_interval: 10m, error_window: 5m}\n",
            "",
            "accounts[0].playback: error_window (5m) must be at least error_interval (10m):"
            " minutes between two reads would be missed",
        ),
        (
            "    playback: {error_window: 2d}\n",
            "",
            "accounts[0].playback.error_window: 2d is outside 2m to 1d",
        ),
        (
            "    playback: {viewer: true}\n",
            "",
            "accounts[0].playback.viewer: unknown key",
        ),
        (
            "",
            "    play_domains: ['play.example.com?txSecret=abc']\n",
            "targets[0].play_domains[0]: must be the bare play domain, e.g. play.example.com;"
            " this looks like a URL with a query string (not shown: it may hold a signature)",
        ),
    ],
)
def test_bad_playback_config_is_one_line_at_its_key(
    account: str, target: str, expected: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(text(account, target))
    assert caught.value.problems == [expected]
    assert "txSecret=abc" not in str(caught.value)


def test_a_play_domain_belongs_to_one_account() -> None:
    config = """
accounts:
  - name: a
    play_domains: [{name: play.example.com, push_domains: [push.a.com]}]
  - name: b
targets:
  - {account: a, domain: push.a.com, streams: [s]}
  - {account: b, domain: push.b.com, streams: [s], play_domains: [play.example.com]}
"""
    with pytest.raises(ConfigError) as caught:
        parse_config(config)
    assert caught.value.problems == [
        'targets[1].play_domains[0]: play domain "play.example.com" is already on account "a"'
        " (accounts[0].play_domains[0].name): a domain belongs to one account"
    ]


def test_the_plan_merges_account_and_target_play_domains_and_the_switches() -> None:
    cfg = parse_config(
        text(
            PLAY + "    playback: {domain_stats: false, health_interval: 6h, data_lag: 6m}\n",
            "    play_domains: [play.example.com, hd.example.com]\n",
        )
    )
    (account,) = plan(cfg).accounts
    p = account.playback
    assert p is not None
    assert p.play_domains == (
        ("hd.example.com", ("push.example.com",)),
        ("play.example.com", ("push.example.com",)),
    )
    assert (p.viewers_interval, p.domains_interval, p.errors_interval) == (60.0, None, 300.0)
    assert (p.certs_interval, p.packages_interval, p.data_lag) == (21600.0, 21600.0, 360.0)
    assert p.untracked


def test_without_play_domains_nothing_is_planned() -> None:
    (account,) = plan(parse_config(text())).accounts
    assert account.playback is None


def test_with_shards_one_shard_makes_the_account_wide_rounds() -> None:
    cfg = parse_config(text(PLAY))
    specs = [plan(cfg, Shard(i, 4)).accounts[0].playback for i in range(4)]
    assert all(s is not None and s.viewers_interval == 60.0 for s in specs)
    leads = [s for s in specs if s is not None and s.domains_interval is not None]
    assert len(leads) == 1
    assert not any(s is not None and s.untracked for s in specs)


@pytest.mark.parametrize(
    ("model", "field"),
    [(m, f) for m in (PlayDomain, PlaybackSettings) for f in m.model_fields],
    ids=lambda item: item if isinstance(item, str) else item.__name__,
)
def test_every_playback_key_is_documented(model: type[BaseModel], field: str) -> None:
    example = (REPO / "config.example.yaml").read_text(encoding="utf-8")
    assert re.search(rf"^[ \t]*(?:#[ \t]*)?(?:-[ \t]+)?{field}:", example, re.MULTILINE)
    reference = (REPO / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert re.search(rf"^\| `{field}` \|", reference, re.MULTILINE)
