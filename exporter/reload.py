"""Reloads as Prometheus has them: coalesced, and a no-op when nothing changed.

A reload loop (a script POSTing /-/reload, a flapping config-management agent, SIGHUPs in a
burst) must not starve polling: at most one reload runs and one waits; every request that
arrives while one waits shares that one's result, which reflects the file as it is after the
request. A config equal to the running one changes nothing at all.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from pydantic import SecretStr

from exporter.config import Config
from exporter.courtesy import paced

T = TypeVar("T")


class _Pending(Generic[T]):
    def __init__(self) -> None:
        self.done = threading.Event()
        self.result: T | None = None
        self.error: BaseException | None = None


class Coalescer(Generic[T]):
    """Runs ``work`` for callers, at most one at a time and one queued behind it."""

    def __init__(self, work: Callable[[], T]) -> None:
        self._work = work
        self._running = threading.Lock()  # held while a reload runs
        self._lock = threading.Lock()  # guards _queued
        self._queued: _Pending[T] | None = None

    def __call__(self) -> T:
        with self._lock:
            pending = self._queued
            leader = pending is None
            if pending is None:
                pending = self._queued = _Pending()
        if leader:
            with self._running:
                with self._lock:
                    self._queued = None  # requests from now on need a reload after this one
                try:
                    pending.result = self._work()
                except BaseException as exc:  # handed to every caller sharing this run
                    pending.error = exc
                finally:
                    pending.done.set()
        pending.done.wait()
        if pending.error is not None:
            raise pending.error
        assert pending.result is not None
        return pending.result


def _reveal(value: object) -> object:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, dt.date | dt.time):  # schedules' dated windows and weekly times
        return value.isoformat()
    raise TypeError(type(value).__name__)


def _feed(digest: Any, value: object) -> None:
    text = json.dumps(value, default=_reveal, sort_keys=True, separators=(",", ":"))
    digest.update(text.encode("utf-8", "surrogatepass"))
    digest.update(b"\n")


def fingerprint(config: Config) -> str:
    """A digest of everything a config says, secrets included (only the digest is kept).

    Fed piece by piece, a stream at a time: a dump of a 100k-stream config as one structure
    costs tens of MB during a reload.
    """
    digest = hashlib.sha256()
    _feed(digest, config.model_dump(exclude={"targets"}))
    for target in config.targets:
        _feed(digest, target.model_dump(exclude={"streams"}))
        for stream in paced(target.streams):
            if stream.bare():
                # A NUL, which no name and no repr begins with, then the name: 3x cheaper than
                # the repr, and most of a large fleet's entries are bare.
                digest.update(f"\0{stream.name}\n".encode("utf-8", "surrogatepass"))
            else:
                # repr, not JSON: 4x cheaper, and stream entries hold no secret.
                text = repr(tuple(stream.__dict__.items()))
                digest.update(text.encode("utf-8", "surrogatepass"))
    return digest.hexdigest()
