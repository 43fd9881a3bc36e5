"""The HTTP server: /metrics, the status page, health, lifecycle and the CSS callback receiver.

One event-loop thread owns every connection (accepting, TLS, reading, writing, deadlines); the
blocking work runs in small pools, one per kind of request, plus one for bcrypt. So the number of
threads is fixed by configuration, not by clients: a thousand idle or slow connections are a
thousand small buffers, not a thousand threads. Over the connection cap, the connections least
worth keeping make room (`OpenConnections`), so a flood of slow or idle clients cannot lock a
scraper out.

Why not `http.server`, cheroot or waitress: `http.server` is a thread per connection with no
deadlines; waitress has no TLS at all; cheroot does the TLS handshake in its accept loop (one
client that never sends a ClientHello stops it, cheroot issue #748) and its socket timeout is per
read, so a client that sends a byte every few seconds holds a worker for ever.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import resource
import socket
import threading
from typing import TYPE_CHECKING

from exporter.web.connection import Connection
from exporter.web.exchange import Exchange
from exporter.web.limits import Limits
from exporter.web.live import LiveWebConfig
from exporter.web.openconns import OpenConnections
from exporter.web.pools import Busy, Pool
from exporter.web.routes import Backend, Router
from exporter.web.stats import WebCollector, WebStats

if TYPE_CHECKING:
    from exporter.web.schema import WebConfig

__all__ = ["WebServer", "parse_listen_address"]

log = logging.getLogger(__name__)

# How often the web config file and the files it names are looked at for changes.
WATCH_INTERVAL = 1.0
# Out of descriptors: accepting pauses this long at first, doubling up to a second.
_ACCEPT_BACKOFF = (0.05, 1.0)
_ACCEPTS_PER_WAKE = 64
_EXHAUSTED = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)
# The client gave up between connecting and being accepted: nothing to do.
_CLIENT_GONE = (errno.ECONNABORTED, errno.EPROTO, errno.ECONNRESET, errno.EPERM)


def parse_listen_address(address: str) -> tuple[str, int]:
    """Prometheus-style ``host:port``; an empty host (``:9879``) means all interfaces."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"invalid listen address {address!r}: want host:port, e.g. :9879")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, int(port)


def _bind(host: str, port: int) -> socket.socket:
    backlog = socket.SOMAXCONN  # connections over the cap wait here, not in the process
    if host == "":
        if socket.has_dualstack_ipv6():
            try:  # all interfaces, IPv4 too, on one IPv6 socket
                return socket.create_server(
                    ("::", port), family=socket.AF_INET6, backlog=backlog, dualstack_ipv6=True
                )
            except OSError:
                pass
        return socket.create_server(("0.0.0.0", port), backlog=backlog)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return socket.create_server((host, port), family=family, backlog=backlog)


class WebServer:
    def __init__(
        self,
        address: str,
        backend: Backend,
        web_config: WebConfig | None = None,
        *,
        limits: Limits | None = None,
        enable_lifecycle: bool = False,
        web_config_file: str | None = None,
        watch_interval: float = WATCH_INTERVAL,
    ) -> None:
        host, port = parse_listen_address(address)
        self.limits = limits or Limits()
        self.stats = WebStats()
        path = web_config_file
        if path is None and web_config is not None and web_config.source:
            path = web_config.source if os.path.isfile(web_config.source) else None
        # Built before binding: a bad certificate must not leave a bound socket behind.
        self._live = LiveWebConfig(web_config, path, self.stats)
        if web_config is not None:
            where = f" {web_config.source}" if web_config.source else ""
            log.info("web config%s: %s", where, web_config.describe())
        self.enable_lifecycle = enable_lifecycle
        self._watch_interval = watch_interval
        self._backend = backend
        self._pools: dict[str, Pool] = {}
        self._open = OpenConnections(self.stats)
        self._build(self.limits)
        self._sock = _bind(host, port)
        self._sock.setblocking(False)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._backoff = 0.0  # >0 while accepting is paused for want of descriptors
        self._accepting = False

    def _build(self, limits: Limits) -> None:
        self.limits = limits
        for pool in self._pools.values():
            pool.shutdown()
        self._pools = {
            kind: Pool(f"web-{kind}", limits.handler_threads, limits.handler_queue)
            for kind in ("scrape", "page", "callback")
        }
        # Reloads are serialised by the app anyway: one thread, a short queue.
        self._pools["lifecycle"] = Pool("web-lifecycle", 1, 4)
        self._bcrypt = Pool("web-bcrypt", 1, limits.bcrypt_queue)
        self._router = Router(
            self._backend, self._pools, self._bcrypt, self.stats, lambda: self.enable_lifecycle
        )
        self._open.set_cap(limits.connection_cap())

    def configure(
        self, *, limits: Limits | None = None, enable_lifecycle: bool | None = None
    ) -> None:
        """Change the bounds or the lifecycle switch; before `start` only."""
        if self._thread is not None:
            raise RuntimeError("WebServer.configure() after start()")
        if limits is not None:
            self._build(limits)
        if enable_lifecycle is not None:
            self.enable_lifecycle = enable_lifecycle

    # -- what the app uses -----------------------------------------------------------------

    @property
    def scheme(self) -> str:
        return "https" if self._live.tls else "http"

    @property
    def address(self) -> str:
        host, port = self._sock.getsockname()[:2]
        host = str(host)
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    @property
    def port(self) -> int:
        return int(self._sock.getsockname()[1])

    @property
    def connection_cap(self) -> int:
        return self._open.cap

    def reload_config(self) -> tuple[bool, str]:
        """Re-read the web config file (certificates, keys, client CA, users, headers).

        Established connections are kept; new ones get the new certificate. A file that does
        not load keeps the previous config: (False, its problems) is returned, each problem
        logged, and `reload_failures` counts it. Safe from any thread.
        """
        return self._live.reload()

    @property
    def reload_failures(self) -> int:
        return self.stats.snapshot().config_reload_failures

    @property
    def reload_generation(self) -> int:
        return self._live.generation

    def wait_reloaded(self, generation: int, timeout: float) -> bool:
        """Wait until ``generation`` reloads of the web config have run (by any path)."""
        return self._live.wait_generation(generation, timeout)

    def collector(self) -> WebCollector:
        """The server's counts as a Prometheus collector, for the app's registry."""
        return WebCollector(self.stats)

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        started = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(loop)
            self._resume_accepting()
            if self._live.path is not None:
                pool = self._pools["lifecycle"]
                FileWatcher(loop, self._live, pool, self._watch_interval).start()
            started.set()
            try:
                loop.run_forever()
            finally:
                tasks = asyncio.all_tasks(loop)
                for task in tasks:
                    task.cancel()
                loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
                loop.close()

        self._thread = threading.Thread(target=run, name="web", daemon=True)
        self._thread.start()
        started.wait()

    def stop(self) -> None:
        thread, loop = self._thread, self._loop
        if thread is not None and loop is not None:
            loop.call_soon_threadsafe(self._shutdown)
            thread.join(10)
            self._thread = None
        self._sock.close()
        for pool in (*self._pools.values(), self._bcrypt):
            pool.shutdown()

    def _shutdown(self) -> None:
        assert self._loop is not None
        if self._accepting:
            self._loop.remove_reader(self._sock)
            self._accepting = False
        self._open.abort_all()
        self._loop.stop()

    # -- accepting -------------------------------------------------------------------------

    def _resume_accepting(self) -> None:
        assert self._loop is not None
        if not self._accepting and self._sock.fileno() >= 0:
            self._loop.add_reader(self._sock, self._accept)
            self._accepting = True

    def _pause_accepting(self, seconds: float) -> None:
        assert self._loop is not None
        if self._accepting:
            self._loop.remove_reader(self._sock)
            self._accepting = False
        self._loop.call_later(seconds, self._resume_accepting)

    def _accept(self) -> None:
        for _ in range(_ACCEPTS_PER_WAKE):
            try:
                sock, addr = self._sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if exc.errno in _CLIENT_GONE:
                    continue
                self._accept_failed(exc)
                return
            if self._backoff:
                log.info("accepting connections again (%d open)", len(self._open))
                self._backoff = 0.0
            self._admit(sock, addr)

    def _accept_failed(self, exc: OSError) -> None:
        exhausted = exc.errno in _EXHAUSTED
        self.stats.accept_failed(exhausted)
        first, most = _ACCEPT_BACKOFF
        if not self._backoff:
            if exhausted:
                limit = _nofile()
                log.warning(
                    "out of file descriptors (open files limit %s, %d connections):"
                    " closing the quietest connection and pausing accepts; raise LimitNOFILE"
                    " or lower --web.max-connections",
                    limit,
                    len(self._open),
                )
            else:
                log.warning("accept() failed, pausing accepts: %s", exc)
        self._backoff = min(most, self._backoff * 2) if self._backoff else first
        if exhausted:
            self._open.evict()  # gives a descriptor back
        # Never a busy loop: the listening socket stays readable while accept() fails.
        self._pause_accepting(self._backoff)

    def _admit(self, sock: socket.socket, addr: tuple[object, ...]) -> None:
        assert self._loop is not None
        if not self._open.room():
            self.stats.closed("rejected")
            sock.close()
            return
        sock.setblocking(False)
        snapshot = self._live.current
        conn = Connection(
            self._loop,
            str(addr[0]),
            snapshot.ssl_context,
            snapshot.config,
            self.limits.max_unread_bytes,
            on_expire=self._expired,
            on_lost=self._open.lost,
        )
        self._open.add(conn)
        exchange = Exchange(conn, self._router, self._live, self.limits, self.stats)
        conn.task = self._loop.create_task(self._serve(conn, sock, exchange))
        conn.task.add_done_callback(lambda _: setattr(conn, "task", None))

    async def _serve(self, conn: Connection, sock: socket.socket, exchange: Exchange) -> None:
        assert self._loop is not None
        try:
            await self._loop.connect_accepted_socket(lambda: conn, sock)
        except OSError as exc:
            log.debug("connection from %s failed at once: %s", conn.peer, exc)
            self._open.lost(conn)
            return
        if conn.state == "handshake":
            conn.deadline("handshake", self.limits.tls_handshake_timeout, "handshake_timeout")
        await exchange.run()

    def _expired(self, conn: Connection, reason: str) -> None:
        self.stats.closed(reason)


class FileWatcher:
    """Looks at the web config file and the files it names, from the event loop; a change is
    reloaded in the lifecycle pool, so that reading the files never holds the loop up."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, live: LiveWebConfig, pool: Pool, interval: float
    ) -> None:
        self._loop = loop
        self._live = live
        self._pool = pool
        self._interval = interval

    def start(self) -> None:
        self._loop.call_later(self._interval, self._look)

    def _look(self) -> None:
        if self._live.changed_on_disk():
            log.info("web config %s or a file it names changed: reloading", self._live.path)
            self._loop.create_task(self._reload())
        self._loop.call_later(self._interval, self._look)

    async def _reload(self) -> None:
        # Busy: a reload is already queued, and it reads the files as they are now.
        with contextlib.suppress(Busy):
            await self._pool.run(self._live.reload)


def _nofile() -> str:
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return "unlimited" if soft == resource.RLIM_INFINITY else str(soft)
