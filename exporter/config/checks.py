"""Checks that combine several keys: account names and references, targets, duplicate streams.

They read a plain tree (the raw YAML, or a model dump for models built in code) and tolerate
malformed parts, which pydantic reports separately. Each problem is reported at the key to
change, as ``(loc, message)``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Hashable, Mapping
from typing import Any, cast

from pydantic import TypeAdapter, ValidationError

from exporter.config.expect import schedule_problems
from exporter.config.fields import (
    ACCOUNT_NAME_RE,
    ENDPOINT_RE,
    MAX_PAGE_SIZE,
    MIN_PAGE_SIZE,
    url_like,
)
from exporter.config.playback import playback_problems
from exporter.cssapi import DEFAULT_ENDPOINT, ONLINE_LIST, SITE_FACTS, SITES, STRICT, site_of
from exporter.problems import key_path

Loc = tuple[Hashable, ...]
Problems = list[tuple[Loc, str]]
# (account, domain, app): the place a stream name is unique in.
Place = tuple[str | None, str, str]

_BOOL = TypeAdapter(bool)


def _as_bool(value: object) -> bool | None:
    """A flag as pydantic would read it (true, "yes", ...); None when it cannot be read."""
    try:
        return _BOOL.validate_python(value)
    except ValidationError:
        return None


def discovers(target: Mapping[Any, Any]) -> bool | None:
    """Target.discovers on a plain tree; None when a malformed key makes it unknown."""
    streams = target.get("streams")
    if streams is not None and not isinstance(streams, list):
        return None
    discover = target.get("discover")
    if discover is None:
        return not streams
    return _as_bool(discover)


def target_problems(target: Mapping[Any, Any], loc: Loc) -> Problems:
    """Checks that combine several keys of one target, each reported at the key to change."""
    discovering = discovers(target)
    if discovering is None:
        return []
    if not discovering and not target.get("streams"):
        return [((*loc, "streams"), "at least one stream is required unless discover is true")]
    if discovering and target.get("mode") == "state":
        if target.get("discover") is None:
            fix = "list the streams, or use auto or online_list"
        else:
            fix = "use auto or online_list, or set discover: false"
        message = (
            "state polls listed streams only and cannot discover (discovery reads the online"
            f" list): {fix}"
        )
        return [((*loc, "mode"), message)]
    return []


def _account_names(
    accounts: list[Any], show: Callable[[Loc, str], str], problems: Problems
) -> tuple[dict[str, int], bool]:
    """{name: index of its first account}, and whether every account's name is usable."""
    first_account: dict[str, int] = {}
    all_names_known = True
    for index, account in enumerate(accounts):
        name = account.get("name") if isinstance(account, Mapping) else None
        if not isinstance(name, str) or not ACCOUNT_NAME_RE.fullmatch(name):
            all_names_known = False
            continue
        if name in first_account:
            loc: Loc = ("accounts", index, "name")
            problems.append(
                (
                    loc,
                    f"duplicate account name {show(loc, json.dumps(name))}"
                    f" (first at accounts[{first_account[name]}])",
                )
            )
        else:
            first_account[name] = index
    return first_account, all_names_known


def _stream_name(stream: object) -> tuple[str | None, bool]:
    """(name, written as a mapping) of one streams item; None for an unusable name."""
    if isinstance(stream, str):
        name: object = stream
        mapping = False
    elif isinstance(stream, Mapping):
        name, mapping = stream.get("name"), True
    else:
        return None, False
    # A URL-like name is reported on its own and must not be echoed in a duplicate message.
    if not isinstance(name, str) or not name or url_like(name):
        return None, mapping
    return name, mapping


def _duplicate_streams(
    streams: list[Any],
    t_index: int,
    place: Place,
    seen: dict[Place, dict[str, Loc]],
    show: Callable[[Loc, str], str],
    problems: Problems,
) -> None:
    known = seen.setdefault(place, {})
    names = [stream if type(stream) is str else _stream_name(stream)[0] for stream in streams]
    # The common case, every name new and usable, in one pass of C loops.
    if None not in names and len(set(names)) == len(names) and known.keys().isdisjoint(names):
        usable = cast(list[str], names)
        known.update((name, ("targets", t_index, "streams", i)) for i, name in enumerate(usable))
        return
    domain, app = place[1], place[2]
    for s_index, stream in enumerate(streams):
        stream_loc: Loc = ("targets", t_index, "streams", s_index)
        name, mapping = _stream_name(stream)
        if name is None:
            continue
        name_loc = (*stream_loc, "name") if mapping else stream_loc
        if name in known:
            label = "/".join(
                (
                    show(("targets", t_index, "domain"), domain),
                    show(("targets", t_index, "app"), app),
                    show(name_loc, name),
                )
            )
            first = key_path(known[name])
            problems.append((stream_loc, f"duplicate stream {label} (first at {first})"))
        else:
            known[name] = stream_loc


def _site(account: object) -> str | None:
    """The site of a raw account mapping (cssapi.site_of), or None when it cannot be read."""
    if not isinstance(account, Mapping):
        return None
    site = account.get("site")
    if site is not None and site not in SITES:
        return None  # reported at the key itself
    endpoint = account.get("endpoint", DEFAULT_ENDPOINT)
    match = ENDPOINT_RE.fullmatch(endpoint) if isinstance(endpoint, str) else None
    if match is None:
        return None
    return site_of(match["host"], site)


def page_size_problem(target: Mapping[Any, Any], loc: Loc, site: str | None) -> Problems:
    """A page_size the account's site does not allow (the model checks the widest range)."""
    size = target.get("page_size")
    if site is None or isinstance(size, bool) or not isinstance(size, int):
        return []
    low, high = SITE_FACTS[site].page_sizes[ONLINE_LIST]
    if low <= size <= high or not MIN_PAGE_SIZE <= size <= MAX_PAGE_SIZE:
        return []
    where = f"on the {site} site" if site != STRICT else "for an account whose site is not set"
    hint = "" if site != STRICT else " (set the account's site: china allows up to 300000)"
    return [
        (
            (*loc, "page_size"),
            f"{size} is outside {ONLINE_LIST}'s PageSize range {where}, {low} to {high}{hint}",
        )
    ]


def cross_problems(
    data: object,
    shown: Callable[[Loc, str], str] | None = None,
    schedule_names: Collection[str] = (),
) -> Problems:
    """Every check across keys. ``shown`` gives the text to print for a value at a loc (the
    ${VAR} reference instead of what it expanded to); ``schedule_names`` are schedules a
    schedules file defines that could not be read (not unknown, then)."""

    def show(loc: Loc, text: str) -> str:
        return shown(loc, text) if shown is not None else text

    if not isinstance(data, Mapping):
        return []
    problems: Problems = []
    raw_accounts = data.get("accounts")
    accounts = raw_accounts if isinstance(raw_accounts, list) else []
    # With an unusable account name (reported on its own) any reference might have meant it.
    first_account, all_names_known = _account_names(accounts, show, problems)
    known = ", ".join(show(("accounts", i, "name"), name) for name, i in first_account.items())
    single = next(iter(first_account)) if len(accounts) == 1 and first_account else None

    raw_targets = data.get("targets")
    targets = raw_targets if isinstance(raw_targets, list) else []
    seen: dict[Place, dict[str, Loc]] = {}
    # (account, domain, app) -> the targets so far, with whether each discovers streams.
    tracked: dict[Place, list[tuple[int, bool]]] = {}
    for t_index, target in enumerate(targets):
        if not isinstance(target, Mapping):
            continue
        problems.extend(target_problems(target, ("targets", t_index)))
        account = target.get("account")
        account_loc: Loc = ("targets", t_index, "account")
        if account is None:
            account = single
            if len(accounts) > 1:
                problems.append(
                    (account_loc, f"required when several accounts are configured (known: {known})")
                )
        elif isinstance(account, str) and all_names_known and account not in first_account:
            problems.append(
                (
                    account_loc,
                    f"unknown account {show(account_loc, json.dumps(account))} (known: {known})",
                )
            )
        if isinstance(account, str) and account in first_account:
            site = _site(accounts[first_account[account]])
            problems.extend(page_size_problem(target, ("targets", t_index), site))
        domain, app = target.get("domain"), target.get("app", "live")
        if not (isinstance(domain, str) and isinstance(app, str)):
            continue
        # Two targets polling one app would fight over its discovered streams.
        discovering = bool(discovers(target))
        place: Place = (account if isinstance(account, str) else None, domain, app)
        earlier = tracked.setdefault(place, [])
        clash = next((m for m, other in earlier if discovering or other), None)
        if clash is not None:
            domain_loc: Loc = ("targets", t_index, "domain")
            what = "/".join((show(domain_loc, domain), show(("targets", t_index, "app"), app)))
            if discovering:
                message = (
                    f"this target discovers streams of {what}, already tracked by"
                    f" targets[{clash}]: a discovering target must be the only one for its"
                    " account, domain and app"
                )
            else:
                message = (
                    f"{what} is already tracked by targets[{clash}], which discovers its streams:"
                    " list these streams there"
                )
            problems.append((domain_loc, message))
        earlier.append((t_index, discovering))
        streams = target.get("streams")
        if isinstance(streams, list):
            _duplicate_streams(streams, t_index, place, seen, show, problems)
    problems.extend(playback_problems(data, show))
    problems.extend(schedule_problems(data, schedule_names))
    return problems
