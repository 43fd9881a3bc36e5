"""The playback and platform-health actions: viewers that follow each stream's state, play-domain
error ratios, certificates, packages, and Tencent's data lag.

Fields are those of ``tencentcloud.live.v20180801.models`` (every declared field answered, as the
conformance tests check). A stream has viewers only in the minutes it was ``active`` at the
minute's start; those viewers are scripted per stream name (``playback.viewers`` of the scenario,
a list cycles minute by minute) and split over the play domains that serve its push domain (by
``share``) and over two protocols. A minute's data exists ``data_lag`` after the minute began;
before that DescribeAllStreamPlayInfoList answers it with no data and the error codes with zeros,
as Tencent pads the minutes it has no data for (SDK models: HttpCodeInfo.ValueList).

The model follows the world's state changes from the moment it is attached (``attach``; else at
the first playback call): earlier minutes read as the state then.
"""

from __future__ import annotations

import bisect
import math
import threading
import weakref
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any

from exporter.simulator.errors import invalid_value, missing_parameter
from exporter.simulator.model import ACTIVE, StreamKey
from exporter.simulator.playback_scenario import PlaybackScenario, PlayDomainSpec
from exporter.simulator.world import StateChange, World

_BEIJING = timezone(timedelta(hours=8))
MINUTE = 60
MONTH = 31 * 86_400  # QueryTime: "支持最近1个月的数据查询"
DAY = 86_400  # error codes: "只支持最近1天的数据查询"
REALTIME_LAG = 240  # DescribeLiveDomainPlayInfoList: "默认查询4分钟前的准实时数据"
CODES = {"4xx": "404", "5xx": "502"}  # the HTTP code each class is answered as
FLV_SHARE = 0.6  # viewers on FLV; the rest on HLS


def beijing(t: float) -> str:
    return datetime.fromtimestamp(t, tz=_BEIJING).strftime("%Y-%m-%d %H:%M:%S")


def iso_utc(t: float) -> str:
    return datetime.fromtimestamp(t, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: object, name: str) -> float:
    """``YYYY-MM-DDThh:mm:ssZ`` (UTC) or ``YYYY-MM-DD hh:mm:ss`` (Beijing), as the API reads."""
    if not isinstance(value, str) or not value:
        raise missing_parameter(name) if value in (None, "") else invalid_value(name, "not a time")
    try:
        if "T" in value:
            parsed = datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
        else:
            parsed = datetime.strptime(value, "%Y-%m-%d %H:%M:%S").replace(tzinfo=_BEIJING)
    except ValueError:
        raise invalid_value(
            name, f"{value!r} is not YYYY-MM-DDThh:mm:ssZ or YYYY-MM-DD hh:mm:ss"
        ) from None
    return parsed.timestamp()


class PlaybackModel:
    """The account's playback: scripted viewers over the world's state history. Thread-safe.

    Lock order: the world's lock -> the model's (the world calls ``_changed`` under its lock);
    the model never calls the world while holding its own.
    """

    def __init__(self, world: World, scenario: PlaybackScenario) -> None:
        self._world = world
        self._lock = threading.Lock()
        self._scenario = scenario
        self._history: dict[StreamKey, list[tuple[float, str]]] = {}
        world.subscribe(self._changed)
        with self._lock:
            for s in world.streams():
                self._history[(s.domain, s.app, s.stream)] = [(-math.inf, s.state)]

    @property
    def scenario(self) -> PlaybackScenario:
        return self._scenario

    def set_scenario(self, scenario: PlaybackScenario) -> None:
        self._scenario = scenario  # replaced whole, never changed

    def set_error_ratio(self, play_domain: str, code_class: str, ratio: float) -> None:
        s = self._scenario
        domains = tuple(
            replace(d, error_ratios={**d.error_ratios, code_class: ratio})
            if d.name == play_domain
            else d
            for d in s.play_domains
        )
        self._scenario = replace(s, play_domains=domains)

    def _changed(self, changes: list[StateChange]) -> None:
        with self._lock:
            for c in changes:
                runs = self._history.setdefault((c.domain, c.app, c.stream), [(-math.inf, c.old)])
                if c.at >= runs[-1][0]:
                    runs.append((c.at, c.new))
                else:
                    bisect.insort(runs, (c.at, c.new))
                if len(runs) > 64:  # a day of history is all any query reads
                    del runs[1 : len(runs) - 32]

    def _states_at(self, t: float) -> list[StreamKey]:
        self._world.advance()  # transitions due by now reach _changed first
        with self._lock:
            active = []
            for key, runs in self._history.items():
                i = bisect.bisect_right(runs, (t, "~")) - 1
                if i >= 0 and runs[i][1] == ACTIVE:
                    active.append(key)
            return sorted(active)

    # -- figures -------------------------------------------------------------------------------

    def scripted(self, stream: str, minute: float) -> int:
        """The viewers scripted for a stream name at a minute (whatever its state)."""
        s = self._scenario
        values = s.viewers.get(stream)
        if values is None:
            return s.default_viewers
        return values[int(minute // MINUTE) % len(values)]

    def finished(self, minute: float) -> bool:
        return minute + self._scenario.data_lag <= self._world.now()

    def plays(self, minute: float) -> list[tuple[PlayDomainSpec, StreamKey, int, int]]:
        """(play domain, stream, viewers, bit/s per viewer) at a minute, viewers > 0."""
        s = self._scenario
        out: list[tuple[PlayDomainSpec, StreamKey, int, int]] = []
        for key in self._states_at(minute):
            viewers = self.scripted(key[2], minute)
            serving = [d for d in s.play_domains if key[0] in d.push_domains]
            if not viewers or not serving:
                continue
            spec = self._world.spec_of(*key)
            bitrate = (spec.quality.video_bitrate + spec.quality.audio_bitrate) if spec else 0
            total = sum(d.share for d in serving)
            shares = [int(viewers * d.share / total) for d in serving]
            shares[0] += viewers - sum(shares)
            out.extend((d, key, n, bitrate) for d, n in zip(serving, shares, strict=True) if n)
        return out

    def requests(self, play_domains: set[str] | None, minute: float) -> int:
        per = self._scenario.requests_per_viewer
        return sum(
            n * per
            for d, _, n, _ in self.plays(minute)
            if play_domains is None or d.name in play_domains
        )


_models: weakref.WeakKeyDictionary[World, PlaybackModel] = weakref.WeakKeyDictionary()
_models_lock = threading.Lock()


def attach(world: World, scenario: PlaybackScenario | None = None) -> PlaybackModel:
    """The world's playback model, following its states from now on (made once per world)."""
    with _models_lock:
        model = _models.get(world)
        if model is None:
            if scenario is None:
                scenario = getattr(world.scenario, "playback", None) or PlaybackScenario()
            model = _models[world] = PlaybackModel(world, scenario)
        elif scenario is not None:
            model.set_scenario(scenario)
        return model


# -- request readers ---------------------------------------------------------------------------


def play_domains(params: Mapping[str, Any], name: str = "PlayDomains") -> set[str] | None:
    value = params.get(name)
    if value is None or value == []:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise invalid_value(name, "expected a list of domain names")
    return set(value)


def minute_of(t: float) -> float:
    return math.floor(t / MINUTE) * MINUTE


__all__ = [
    "PlaybackModel",
    "attach",
    "beijing",
    "iso_utc",
    "minute_of",
    "parse_time",
    "play_domains",
]
