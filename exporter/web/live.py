"""The web config in force, and its reload: one immutable snapshot swapped with one assignment.

A request takes `LiveWebConfig.current` once and keeps it to its end; a new connection takes the
SSL context in force when it is accepted, so established connections keep the certificate they
were set up with while new ones get the new one (exporter-toolkit re-reads its file the same
way). A reload that fails keeps the previous snapshot, logs each problem and is counted.
"""

from __future__ import annotations

import logging
import os
import ssl
import threading
from dataclasses import dataclass

from exporter import logs
from exporter.web.auth import Authenticator
from exporter.web.config import WebConfigError, load_web_config
from exporter.web.schema import WebConfig
from exporter.web.stats import WebStats
from exporter.web.tls import server_context

__all__ = ["LiveWebConfig", "WebSnapshot"]

log = logging.getLogger(__name__)

Signature = tuple[tuple[str, int, int, int] | None, ...]


@dataclass(frozen=True, slots=True)
class WebSnapshot:
    config: WebConfig | None
    ssl_context: ssl.SSLContext | None
    auth: Authenticator | None  # None without users
    headers: tuple[tuple[str, str], ...]  # added to every answer

    @property
    def auth_enabled(self) -> bool:
        return self.auth is not None


def _snapshot(config: WebConfig | None, previous: WebSnapshot | None) -> WebSnapshot:
    """Raises WebConfigError when a certificate or key cannot be used."""
    if config is None:
        return WebSnapshot(None, None, None, ())
    ctx = server_context(config)
    auth = None
    if config.auth_enabled:
        old = previous.auth if previous is not None else None
        # The same users keep their cache: a reload does not make every scraper pay bcrypt.
        reuse = old is not None and old.same_users(config.basic_auth_users)
        auth = old if reuse else Authenticator(config.basic_auth_users)
    return WebSnapshot(config, ctx, auth, tuple(config.headers.items()))


def _files(config: WebConfig | None, path: str | None) -> list[str]:
    files = [path] if path else []
    if config is not None:
        tls = config.tls_server_config
        files += [p for p in (tls.cert_file, tls.key_file, tls.client_ca_file) if p]
    return files


def _signature(files: list[str]) -> Signature:
    out: list[tuple[str, int, int, int] | None] = []
    for name in files:
        try:
            st = os.stat(name)
        except OSError:
            out.append(None)
            continue
        out.append((name, st.st_mtime_ns, st.st_size, st.st_ino))
    return tuple(out)


class LiveWebConfig:
    """Owns the web config snapshot; `reload` is safe from any thread (reloads are serialised)."""

    def __init__(self, config: WebConfig | None, path: str | None, stats: WebStats) -> None:
        self.path = path
        self._stats = stats
        self._lock = threading.Lock()
        self.current = _snapshot(config, None)
        self.generation = 0
        self._reloaded = threading.Condition(self._lock)
        self._seen = _signature(_files(config, path))
        self._pending: Signature | None = None

    @property
    def tls(self) -> bool:
        return self.current.ssl_context is not None

    def reload(self) -> tuple[bool, str]:
        """Re-read the web config file; on any problem keep the one in force."""
        if self.path is None:
            return True, "no web config file"
        with self._lock:
            ok, message = self._reload_locked()
            self._stats.reloaded(ok)
            self.generation += 1
            self._reloaded.notify_all()
        return ok, message

    def _reload_locked(self) -> tuple[bool, str]:
        assert self.path is not None
        try:
            config = load_web_config(self.path)
            if config.tls_enabled != self.tls:
                raise WebConfigError(
                    f"web config {self.path}: TLS cannot be turned "
                    f"{'on' if config.tls_enabled else 'off'} without a restart"
                )
            snapshot = _snapshot(config, self.current)
        except WebConfigError as exc:
            for problem in exc.problems:
                log.error("web config not reloaded, keeping the previous one: %s", problem)
            self._seen = _signature(_files(self.current.config, self.path))
            return False, logs.redact("; ".join(exc.problems))
        self.current = snapshot
        self._seen = _signature(_files(config, self.path))
        log.info("web config %s reloaded: %s", self.path, config.describe())
        return True, "web config reloaded"

    def changed_on_disk(self) -> bool:
        """Whether the file or one it names changed and has stayed unchanged since the last
        look: a certificate and its key are written one after the other, and a reload between
        the two would only fail."""
        if self.path is None:
            return False
        now = _signature(_files(self.current.config, self.path))
        if now == self._seen:
            self._pending = None
            return False
        if now != self._pending:
            self._pending = now
            return False
        self._pending = None
        return True

    def wait_generation(self, generation: int, timeout: float) -> bool:
        """Wait until at least ``generation`` reloads have run (tests watch the watcher)."""
        with self._reloaded:
            return self._reloaded.wait_for(lambda: self.generation >= generation, timeout)
