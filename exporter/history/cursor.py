"""How far each account's event list has been read, kept across restarts in a small state file.

Why a state file: the interrupts of a gap (the exporter down or restarting) are counted after the
restart by reading the event list from where the last process stopped. Without the file the new
process cannot tell what the old one counted, so it starts at its own start time: nothing
before is counted twice, and nothing from the gap is counted at all (documented in
docs/configuration.md, ``state_file``).

The file is JSON, ``{"version": 1, "event_list": {"<account>/<domain>/<app>": <unix seconds>}}``
(how far the event list of each push domain and app was read), written to a
temporary file beside it and renamed over it (never half written). A missing file is a first
start; an unreadable or malformed one is logged once and treated as missing. Reads and writes
happen in the event-list job's thread (the only user), never under a lock another owner takes.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
import threading

__all__ = ["EventCursors"]

log = logging.getLogger(__name__)

_VERSION = 1
_MAX_BYTES = 1 << 20


class EventCursors:
    def __init__(self, started: float) -> None:
        self.started = started
        self._lock = threading.Lock()
        self._until: dict[str, float] = {}  # key -> read up to (this process)
        self._partial: set[str] = set()  # keys whose last read was cut short
        self._loaded: dict[str, dict[str, float]] = {}  # path -> what the file said
        self._warned: set[str] = set()

    def since(self, key: str, path: str | None, backfill: float, now: float) -> tuple[float, bool]:
        """Where ``key``'s next read starts, and whether a read of this process ended there
        complete (a reader may then overlap the next read with it): where its last read ended,
        else where the last process stopped (within ``backfill`` of ``now``, from the file at
        ``path``), else this process's start."""
        with self._lock:
            until = self._until.get(key)
            if until is not None:
                return until, key not in self._partial
            saved = self._load(path).get(key) if path is not None else None
        if saved is None or saved > now:
            return self.started, False
        return max(saved, now - backfill), False

    def advance(self, key: str, path: str | None, until: float, complete: bool = True) -> None:
        """``key`` is read up to ``until`` (``complete``: everything up to there, not a read cut
        short at its page budget); kept in the file at ``path`` (None: in memory)."""
        with self._lock:
            if until <= self._until.get(key, float("-inf")):
                return
            self._until[key] = until
            if complete:
                self._partial.discard(key)
            else:
                self._partial.add(key)
            if path is None:
                return
            data = dict(self._load(path))
            data[key] = until
            self._loaded[path] = data
        self._write(path, data)

    def _load(self, path: str | None) -> dict[str, float]:
        """Callers hold the lock."""
        if path is None:
            return {}
        cached = self._loaded.get(path)
        if cached is not None:
            return cached
        data: dict[str, float] = {}
        try:
            with open(path, "rb") as f:
                raw = json.loads(f.read(_MAX_BYTES + 1))
            accounts = raw.get("event_list") if isinstance(raw, dict) else None
            if not isinstance(raw, dict) or raw.get("version") != _VERSION:
                raise ValueError("not a version 1 state file")
            if not isinstance(accounts, dict):
                raise ValueError("event_list is not a mapping")
            for name, value in accounts.items():
                if isinstance(name, str) and isinstance(value, int | float):
                    data[name] = float(value)
        except FileNotFoundError:
            pass
        except (OSError, ValueError) as exc:
            self._warn(path, f"cannot read the state file {path}: {exc}; starting afresh")
        self._loaded[path] = data
        return data

    def _write(self, path: str, data: dict[str, float]) -> None:
        body = json.dumps({"version": _VERSION, "event_list": data}, sort_keys=True)
        directory = os.path.dirname(os.path.abspath(path))
        try:
            fd, tmp = tempfile.mkstemp(prefix=".state-", dir=directory)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as f:
                    f.write(body + "\n")
                os.replace(tmp, path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
        except OSError as exc:
            self._warn(path, f"cannot write the state file {path}: {exc}")

    def _warn(self, path: str, message: str) -> None:
        if path not in self._warned:
            self._warned.add(path)
            log.warning("%s", message)
