"""Scenario files: the streams, limits, faults and callback target of a simulated account.

Every validation error is a ``ScenarioError`` whose message names the offending key path, e.g.
``streams[2].timeline[0].for: invalid duration '3x'``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from exporter import durations
from exporter.cssapi import ACTIONS, STREAM_STATES, STRICT
from exporter.safefile import DEFAULT_MAX_BYTES, read_text
from exporter.safeyaml import parse_yaml
from exporter.simulator.faults import ACCOUNT_OK, FaultConfig, check_action, check_code
from exporter.simulator.generate import DEFAULT_DOMAINS, DEFAULT_MIX, GenerateSpec
from exporter.simulator.model import ACTIVE, ForbidInfo, Phase, Quality, StreamSpec
from exporter.simulator.playback_scenario import PlaybackScenario, parse_playback
from exporter.simulator.policy import FORBID_OK, Policy

DEFAULT_APP = "live"
DEFAULT_APPID = 1250000000


class ScenarioError(ValueError):
    """A scenario (file, dict or control-API body) is invalid; the message names the key."""


@dataclass(frozen=True)
class CallbackConfig:
    url: str
    key: str


@dataclass(frozen=True)
class Scenario:
    streams: tuple[StreamSpec, ...] = ()
    generate: GenerateSpec | None = None
    faults: Mapping[str, FaultConfig] = field(default_factory=dict)
    limits: Mapping[str, int] = field(default_factory=dict)
    # Upper page-size bounds replacing the site's; empty: the site's (see policy.Policy).
    max_page_size: Mapping[str, int] = field(default_factory=dict)
    account_state: str = ACCOUNT_OK
    policy: Policy = field(default_factory=Policy)
    callback: CallbackConfig | None = None
    seed: int = 0
    appid: int = DEFAULT_APPID
    # Play domains, scripted viewers, certificates, packages (simulator/playback_scenario.py).
    playback: PlaybackScenario | None = None


# small typed readers ----------------------------------------------------------------------


def _mapping(value: object, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ScenarioError(f"{where}: expected a mapping, got {type(value).__name__}")
    for key in value:
        if not isinstance(key, str):
            raise ScenarioError(f"{where}: keys must be strings, got {key!r}")
    return value


def _no_unknown(data: Mapping[str, Any], known: set[str], where: str) -> None:
    unknown = sorted(set(data) - known)
    if unknown:
        prefix = f"{where}." if where else ""
        raise ScenarioError(
            f"{prefix}{unknown[0]}: unknown key (expected one of {', '.join(sorted(known))})"
        )


def _str(value: object, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise ScenarioError(f"{where}: expected a non-empty string, got {value!r}")
    return value


def _int(value: object, where: str, minimum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ScenarioError(f"{where}: expected an integer, got {value!r}")
    if minimum is not None and value < minimum:
        raise ScenarioError(f"{where}: must be >= {minimum}, got {value}")
    return value


def _bool(value: object, where: str) -> bool:
    if not isinstance(value, bool):
        raise ScenarioError(f"{where}: expected true or false, got {value!r}")
    return value


def _state(value: object, where: str) -> str:
    if value not in STREAM_STATES:
        raise ScenarioError(f"{where}: expected one of {', '.join(STREAM_STATES)}, got {value!r}")
    assert isinstance(value, str)
    return value


def parse_duration(value: object, where: str = "duration") -> float:
    """Seconds from a number or a string like ``500ms``, ``30s``, ``1m30s``, ``1.5h``, ``1d``.

    The exporter's grammar (exporter.durations), with decimal amounts as well.
    """
    invalid = f"{where}: invalid duration {value!r} (use e.g. 30, '30s', '2m')"
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ScenarioError(invalid)
    if not isinstance(value, str) and not value >= 0:  # negated, so that NaN fails too
        raise ScenarioError(f"{where}: duration must be >= 0, got {value!r}")
    try:
        return durations.parse_duration(value, fractions=True)
    except ValueError:
        raise ScenarioError(invalid) from None


def parse_time(value: object, where: str) -> float:
    """Unix seconds from a number or an ISO 8601 string (``2024-05-01T12:00:00Z``)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, datetime):  # YAML turns unquoted timestamps into datetimes
        dt = value
    elif isinstance(value, str):
        try:
            dt = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise ScenarioError(f"{where}: invalid time {value!r}") from None
    else:
        raise ScenarioError(f"{where}: invalid time {value!r}")
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.timestamp()


# streams ----------------------------------------------------------------------------------

_QUALITY_FIELDS = {f.name: f for f in fields(Quality)}
_STREAM_KEYS = {
    "domain",
    "app",
    "stream",
    "name",
    "state",
    "timeline",
    "repeat",
    "offset",
    "quality",
    "forbid",
}


def parse_quality(data: object, where: str) -> Quality:
    mapping = _mapping(data, where)
    _no_unknown(mapping, set(_QUALITY_FIELDS), where)
    values: dict[str, Any] = {}
    for key, value in mapping.items():
        default = getattr(Quality(), key)
        if isinstance(default, str):
            if not isinstance(value, str):
                raise ScenarioError(f"{where}.{key}: expected a string, got {value!r}")
            values[key] = value
        else:
            values[key] = _int(value, f"{where}.{key}", minimum=0)
    return Quality(**values)


def parse_timeline(data: object, where: str) -> tuple[Phase, ...]:
    if not isinstance(data, list) or not data:
        raise ScenarioError(f"{where}: expected a non-empty list of {{state, for}}")
    phases = []
    for i, item in enumerate(data):
        here = f"{where}[{i}]"
        phase = _mapping(item, here)
        _no_unknown(phase, {"state", "for"}, here)
        if "state" not in phase or "for" not in phase:
            raise ScenarioError(f"{here}: needs both 'state' and 'for'")
        seconds = parse_duration(phase["for"], f"{here}.for")
        if seconds < 0.001:
            raise ScenarioError(f"{here}.for: a phase must last at least 1ms")
        phases.append(Phase(_state(phase["state"], f"{here}.state"), seconds))
    return tuple(phases)


def parse_stream(data: object, where: str = "stream") -> StreamSpec:
    """One stream definition (scenario ``streams:`` item or control-API body)."""
    item = _mapping(data, where)
    _no_unknown(item, _STREAM_KEYS, where)
    if "domain" not in item:
        raise ScenarioError(f"{where}.domain: required")
    name_key = "stream" if "stream" in item else "name"
    if name_key not in item:
        raise ScenarioError(f"{where}.stream: required")
    if "state" in item and "timeline" in item:
        raise ScenarioError(f"{where}: give either 'state' or 'timeline', not both")
    timeline = parse_timeline(item["timeline"], f"{where}.timeline") if "timeline" in item else ()
    forbid = None
    if "forbid" in item:
        fb = _mapping(item["forbid"], f"{where}.forbid")
        _no_unknown(fb, {"create_time", "expire_time"}, f"{where}.forbid")
        forbid = ForbidInfo(
            create_time=(
                parse_time(fb["create_time"], f"{where}.forbid.create_time")
                if "create_time" in fb
                else None
            ),
            expire_time=(
                parse_time(fb["expire_time"], f"{where}.forbid.expire_time")
                if "expire_time" in fb
                else None
            ),
        )
    return StreamSpec(
        domain=_str(item["domain"], f"{where}.domain"),
        app=_str(item.get("app", DEFAULT_APP), f"{where}.app"),
        stream=_str(item[name_key], f"{where}.{name_key}"),
        state=_state(item.get("state", ACTIVE), f"{where}.state"),
        timeline=timeline,
        repeat=_bool(item.get("repeat", True), f"{where}.repeat"),
        offset=parse_duration(item.get("offset", 0), f"{where}.offset"),
        quality=parse_quality(item["quality"], f"{where}.quality")
        if "quality" in item
        else Quality(),
        forbid=forbid,
    )


def parse_fault_config(data: object, where: str) -> FaultConfig:
    mapping = dict(_mapping(data, where))
    for key in ("latency", "jitter", "timeout_hold"):
        if key in mapping:
            mapping[key] = parse_duration(mapping[key], f"{where}.{key}")
    try:
        return FaultConfig.from_mapping(mapping)
    except ValueError as exc:
        raise ScenarioError(f"{where}: {exc}") from None


# top level --------------------------------------------------------------------------------

_TOP_KEYS = {
    "streams",
    "generate",
    "faults",
    "limits",
    "max_page_size",
    "account_state",
    "callback",
    "seed",
    "appid",
    "site",
    "forbid_list",
    "denied_domains",
    "forbid_without_place",
    "playback",
}


def _parse_generate(data: object) -> GenerateSpec:
    where = "generate"
    if isinstance(data, int) and not isinstance(data, bool):
        data = {"count": data}
    gen = _mapping(data, where)
    _no_unknown(
        gen, {"count", "seed", "domains", "apps", "mix", "timeline_fraction", "prefix"}, where
    )
    count = _int(gen.get("count", 0), f"{where}.count", minimum=0)
    domains = gen.get("domains", list(DEFAULT_DOMAINS))
    apps = gen.get("apps", [DEFAULT_APP])
    for key, values in (("domains", domains), ("apps", apps)):
        if not isinstance(values, list) or not values:
            raise ScenarioError(f"{where}.{key}: expected a non-empty list of strings")
        for i, value in enumerate(values):
            _str(value, f"{where}.{key}[{i}]")
    mix_data = _mapping(gen.get("mix", dict(DEFAULT_MIX)), f"{where}.mix")
    mix = []
    for state, weight in mix_data.items():
        _state(state, f"{where}.mix.{state}")
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or weight < 0:
            raise ScenarioError(f"{where}.mix.{state}: expected a weight >= 0, got {weight!r}")
        mix.append((state, float(weight)))
    if not mix or sum(w for _, w in mix) <= 0:
        raise ScenarioError(f"{where}.mix: needs at least one positive weight")
    fraction = gen.get("timeline_fraction", 0.1)
    if (
        isinstance(fraction, bool)
        or not isinstance(fraction, (int, float))
        or not 0 <= fraction <= 1
    ):
        raise ScenarioError(f"{where}.timeline_fraction: expected a number in [0, 1]")
    return GenerateSpec(
        count=count,
        seed=_int(gen.get("seed", 0), f"{where}.seed"),
        domains=tuple(domains),
        apps=tuple(apps),
        mix=tuple(mix),
        timeline_fraction=float(fraction),
        prefix=_str(gen.get("prefix", "gen"), f"{where}.prefix"),
    )


def _parse_action_ints(data: object, where: str, base: Mapping[str, int]) -> dict[str, int]:
    out = dict(base)
    for action, value in _mapping(data, where).items():
        if action not in ACTIONS:
            raise ScenarioError(
                f"{where}.{action}: unknown action (expected one of {', '.join(ACTIONS)})"
            )
        out[action] = _int(value, f"{where}.{action}", minimum=1)
    return out


def _parse_policy(top: Mapping[str, Any]) -> Policy:
    denied = top.get("denied_domains") or []
    if not isinstance(denied, list) or not all(isinstance(d, str) for d in denied):
        raise ScenarioError("denied_domains: expected a list of domain names")
    without = top.get("forbid_without_place", False)
    if not isinstance(without, bool):
        raise ScenarioError("forbid_without_place: expected true or false")
    try:
        return Policy(
            site=_str(top.get("site", STRICT), "site"),
            forbid_list=_str(top.get("forbid_list", FORBID_OK), "forbid_list"),
            denied_domains=frozenset(denied),
            forbid_without_place=without,
        )
    except ValueError as exc:
        raise ScenarioError(str(exc)) from None


def scenario_from_dict(data: Mapping[str, Any]) -> Scenario:
    top = _mapping(data, "scenario")
    _no_unknown(top, _TOP_KEYS, "")
    streams_data = top.get("streams") or []
    if not isinstance(streams_data, list):
        raise ScenarioError("streams: expected a list")
    streams = tuple(parse_stream(item, f"streams[{i}]") for i, item in enumerate(streams_data))
    faults: dict[str, FaultConfig] = {}
    for action, config in _mapping(top.get("faults") or {}, "faults").items():
        try:
            check_action(action)
        except ValueError as exc:
            raise ScenarioError(f"faults.{action}: {exc}") from None
        faults[action] = parse_fault_config(config, f"faults.{action}")
    callback = None
    if top.get("callback") is not None:
        cb = _mapping(top["callback"], "callback")
        _no_unknown(cb, {"url", "key"}, "callback")
        url = _str(cb.get("url"), "callback.url")
        if not url.startswith(("http://", "https://")):
            raise ScenarioError(f"callback.url: expected an http:// or https:// URL, got {url!r}")
        callback = CallbackConfig(url=url, key=_str(cb.get("key"), "callback.key"))
    account = top.get("account_state", ACCOUNT_OK)
    try:
        check_code(account, "account_state")
    except ValueError as exc:
        raise ScenarioError(str(exc)) from None
    return Scenario(
        streams=streams,
        generate=_parse_generate(top["generate"]) if top.get("generate") is not None else None,
        faults=faults,
        limits=_parse_action_ints(top.get("limits") or {}, "limits", {}),
        max_page_size=_parse_action_ints(top.get("max_page_size") or {}, "max_page_size", {}),
        account_state=account,
        policy=_parse_policy(top),
        callback=callback,
        seed=_int(top.get("seed", 0), "seed"),
        appid=_int(top.get("appid", DEFAULT_APPID), "appid", minimum=0),
        playback=parse_playback(top["playback"]) if top.get("playback") is not None else None,
    )


def load_scenario(
    source: str | os.PathLike[str] | Mapping[str, Any] | None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> Scenario:
    """A scenario from a YAML file path, an already-parsed mapping, or None (empty world).

    The file is read and parsed as the exporter's config is: a regular file under ``max_bytes``,
    bounded aliases and nesting, a repeated key is an error (exporter.safefile, safeyaml).
    """
    if source is None:
        return Scenario()
    if isinstance(source, Mapping):
        return scenario_from_dict(source)
    path = Path(source)
    text = read_text(path, "scenario", ScenarioError, max_bytes)
    data = parse_yaml(text, str(path), ScenarioError)
    if data is None:
        return Scenario()
    try:
        return scenario_from_dict(_mapping(data, "scenario"))
    except ScenarioError as exc:
        raise ScenarioError(f"{path}: {exc}") from None


def bundled_scenario(name: str = "demo") -> Path:
    """Path of a scenario shipped with the package (``demo``)."""
    return Path(__file__).with_name("scenarios") / f"{name}.yaml"
