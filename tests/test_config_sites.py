"""Per-site API facts in the config: limits, page sizes, the site an account is on."""

from __future__ import annotations

import pytest

from exporter import cssapi
from exporter.config import ConfigError, parse_config
from exporter.runtime.plan import plan

SITES = {
    # site key as written: (endpoint, what it resolves to)
    "china": ("live.tencentcloudapi.com", "china"),
    "intl": ("live.tencentcloudapi.com", "intl"),
    None: ("live.tencentcloudapi.com", "strict"),
    "by-endpoint": ("live.intl.tencentcloudapi.com", "intl"),
}


def config(site: str | None, page_size: int | None = None, endpoint: str | None = None) -> str:
    account = "accounts:\n  - name: a\n"
    if endpoint:
        account += f"    endpoint: {endpoint}\n"
    if site:
        account += f"    site: {site}\n"
    target = "targets:\n  - domain: d.example.com\n    mode: online_list\n    streams: [s]\n"
    if page_size is not None:
        target += f"    page_size: {page_size}\n"
    return account + target


@pytest.mark.parametrize(
    ("site", "size", "ok"),
    [
        ("china", 9, False),
        ("china", 10, True),
        ("china", 100, True),
        ("china", 101, True),
        ("intl", 9, False),
        ("intl", 10, True),
        ("intl", 100, True),
        ("intl", 101, False),
        (None, 9, False),
        (None, 10, True),
        (None, 100, True),
        (None, 101, False),
    ],
)
def test_page_size_within_the_sites_range(site: str | None, size: int, ok: bool) -> None:
    text = config(site, size)
    if ok:
        assert parse_config(text).targets[0].page_size == size
        return
    with pytest.raises(ConfigError) as caught:
        parse_config(text)
    (line,) = caught.value.problems
    assert line.startswith("targets[0].page_size: ")
    if size == 9:
        assert line == "targets[0].page_size: must be between 10 and 300000, got 9"
    elif site == "intl":
        assert line == (
            "targets[0].page_size: 101 is outside DescribeLiveStreamOnlineList's PageSize range"
            " on the intl site, 10 to 100"
        )
    else:
        assert "whose site is not set" in line and "set the account's site" in line


@pytest.mark.parametrize("site", list(SITES))
def test_the_site_sets_limits_and_the_default_page_size(site: str | None) -> None:
    endpoint, resolved = SITES[site]
    written = None if site in (None, "by-endpoint") else site
    cfg = parse_config(config(written, endpoint=endpoint))
    account = cfg.accounts[0]
    assert account.site_name == resolved
    facts = cssapi.SITE_FACTS[resolved]
    for action in cssapi.ACTIONS:
        assert account.budget(action) == pytest.approx(0.25 * facts.limits[action])
    (target,) = plan(cfg).targets
    # China: one large page per round, as Tencent advises; elsewhere the largest allowed.
    expected = 20_000 if resolved == "china" else 100
    assert target.page_size == expected


def test_forbid_list_limits_are_the_documented_ones() -> None:
    assert cssapi.CHINA_FACTS.limits[cssapi.FORBID_LIST] == 2
    assert cssapi.INTL_FACTS.limits[cssapi.FORBID_LIST] == 100
    assert cssapi.STRICT_FACTS.limits[cssapi.FORBID_LIST] == 2
    assert cssapi.STRICT_FACTS.page_sizes[cssapi.ONLINE_LIST] == (10, 100)


def test_api_limits_still_override_the_site() -> None:
    text = config("china").replace(
        "    site: china\n", "    site: china\n    api_limits: {DescribeLiveForbidStreamList: 20}\n"
    )
    assert parse_config(text).accounts[0].budget(cssapi.FORBID_LIST) == pytest.approx(5.0)


def test_an_unknown_site_is_one_line() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(config("mars"))
    assert caught.value.problems == ['accounts[0].site: must be one of china, intl, got "mars"']


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("app", "a" * 129, "app must be at most 128 characters"),
        ("domain", "d" * 254, "domain must be at most 253 characters"),
    ],
)
def test_name_lengths_are_capped_like_the_callbacks(key: str, value: str, message: str) -> None:
    text = "accounts:\n  - name: a\ntargets:\n  - domain: d.example.com\n    streams: [s]\n"
    text = (
        text.replace("domain: d.example.com", f"domain: {value}")
        if key == "domain"
        else (text.replace("    streams: [s]\n", f"    app: {value}\n    streams: [s]\n"))
    )
    with pytest.raises(ConfigError) as caught:
        parse_config(text)
    assert caught.value.problems == [f"targets[0].{key}: {message}"]
