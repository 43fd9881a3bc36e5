"""One client connection on the server's event loop: buffered input, TLS, flow control, deadlines.

No thread is tied to a connection. Bytes a client sends are kept up to a limit (then the server
stops reading from it: TCP pushes back); bytes for it go through its `Outflow`, a slice at a
time. Every state but "handler" has a deadline; when it passes the connection is aborted (reset,
its descriptor freed at once) and the reason counted.

TLS runs over memory BIOs here rather than in asyncio's ssl transport, so that the server sees
the first byte (plain HTTP on the TLS port is answered 400, as Go does), can check the client
certificate's SANs before any request, and can close a stalled handshake like any other
connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from exporter.web.outflow import WRITE_SLICE, Closed, Outflow
from exporter.web.tlssession import TLSFailure, TLSSession

if TYPE_CHECKING:
    from exporter.web.schema import WebConfig

__all__ = ["Connection"]

log = logging.getLogger(__name__)

PLAIN_HTTP_TO_TLS = (
    b"HTTP/1.0 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n"
    b"Connection: close\r\n\r\nClient sent an HTTP request to an HTTPS server.\n"
)
_READ_SIZE = 64 * 1024
# What a closing connection reads and drops, at most, before giving up on a clean close.
LINGER_BYTES = 256 * 1024


_local = threading.local()


def _scratch() -> bytearray:
    """The read buffer of this event loop's thread: asyncio fills it and hands it to one
    protocol at a time, which copies what it needs, so connections need no buffer each."""
    buf: bytearray | None = getattr(_local, "scratch", None)
    if buf is None:
        buf = _local.scratch = bytearray(_READ_SIZE)
    return buf


class Connection(asyncio.BufferedProtocol):
    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        peer: str,
        ssl_context: ssl.SSLContext | None,
        web_config: WebConfig | None,
        max_unread: int,
        on_expire: Callable[[Connection, str], None],
        on_lost: Callable[[Connection], None],
    ) -> None:
        self.loop = loop
        self.peer = peer
        self.inbuf = bytearray()
        self.state = "handshake" if ssl_context is not None else "new"
        self.last_progress = loop.time()
        self.eof = False
        self.closed = False
        self.transport: asyncio.Transport | None = None
        self.task: asyncio.Task[None] | None = None  # the request loop, kept from the GC
        self.served = 0  # successful answers: a connection that got some is kept longer
        self.outflow = Outflow(self)
        self.ready: asyncio.Future[None] = loop.create_future()
        self._scratch = _scratch()
        self._max_unread = max_unread
        self._on_expire = on_expire
        self._on_lost = on_lost
        self._waiter: asyncio.Future[None] | None = None
        self._paused_reading = False
        self._timer: asyncio.TimerHandle | None = None
        self._deadline_reason = ""
        self._ssl_context = ssl_context
        self._web_config = web_config
        self._tls: TLSSession | None = None
        self._first_byte_seen = ssl_context is None
        self._lingered = 0

    # -- asyncio callbacks -----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        # The server's own slice size bounds what is queued; pause just above one slice.
        transport.set_write_buffer_limits(high=WRITE_SLICE, low=WRITE_SLICE // 4)
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self._ssl_context is not None:
            self._tls = TLSSession(self._ssl_context, self._web_config, self.peer, self._send_raw)
        elif not self.ready.done():
            self.ready.set_result(None)

    def get_buffer(self, sizehint: int) -> memoryview:
        return memoryview(self._scratch)

    def buffer_updated(self, nbytes: int) -> None:
        if self.state == "linger":
            # Dropped: the answer has been sent, the rest of the request is not wanted. A client
            # that keeps sending is not waited for (the linger is for the answer's sake only).
            self._lingered += nbytes
            if self._lingered > LINGER_BYTES:
                self.expire_now("")
            return
        data = bytes(self._scratch[:nbytes])
        if self._tls is not None:
            self._tls_received(data)
        else:
            self.inbuf += data
        if len(self.inbuf) > self._max_unread and not self._paused_reading and self.transport:
            self._paused_reading = True
            self.transport.pause_reading()
        self._wake()

    def eof_received(self) -> bool:
        self.eof = True
        self._wake()
        # Keep our side open once serving: the answer may still be on its way (a half close).
        # Gone before the handshake ended: nothing to answer, close.
        return self.ready.done()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.eof = True
        self._cancel_timer()
        # OpenSSL's buffers for this connection go now, not when the last reference does.
        self._tls = None
        self.inbuf = bytearray()
        if not self.ready.done():
            self.ready.set_exception(Closed())
            self.ready.exception()  # retrieved: a handshake that never ended is no error
        self._wake()
        self.outflow.release()
        self._on_lost(self)

    def pause_writing(self) -> None:
        self.outflow.pause()

    def resume_writing(self) -> None:
        self.outflow.resume()

    # -- TLS -------------------------------------------------------------------------------

    def _tls_received(self, data: bytes) -> None:
        assert self._tls is not None
        if not self._first_byte_seen:
            self._first_byte_seen = True
            if data[:1] != b"\x16":  # not a TLS handshake record
                self._not_tls(data)
                return
        try:
            plain, eof = self._tls.receive(data)
        except TLSFailure:
            self.expire_now("tls_error")
            return
        if self._tls.handshaken and not self.ready.done():
            self.ready.set_result(None)
        self.inbuf += plain
        self.eof = self.eof or eof

    def _send_raw(self, data: bytes) -> None:
        if self.transport is not None and not self.closed:
            self.transport.write(data)

    def _not_tls(self, data: bytes) -> None:
        assert self.transport is not None
        self._tls = None
        if data[:1].isalpha():  # plain HTTP: say so, as Go servers do
            log.debug("plain HTTP from %s on the TLS port; answered 400, closed", self.peer)
            self.transport.write(PLAIN_HTTP_TO_TLS)
            self.state = "linger"
            self.transport.write_eof()
            self._on_expire(self, "tls_error")  # counted; the linger deadline closes it
        else:
            log.debug("non-TLS data from %s on the TLS port; connection closed", self.peer)
            self.expire_now("tls_error")

    # -- what the request code uses ---------------------------------------------------------

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def wait_data(self) -> None:
        """Until more bytes arrive, or the client closes; raises Closed once it is gone."""
        if self.closed:
            raise Closed()
        if self.eof:
            raise Closed()
        self._waiter = self.loop.create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None
        if self.closed:
            raise Closed()

    def consumed(self) -> None:
        """Bytes were taken from ``inbuf``: read from the client again if it was paused."""
        if self._paused_reading and len(self.inbuf) <= self._max_unread // 2 and self.transport:
            self._paused_reading = False
            self.transport.resume_reading()

    @property
    def tls(self) -> bool:
        return self._tls is not None

    def send(self, data: bytes | memoryview) -> None:
        """Onto the wire now, through TLS if the connection has it (the outflow paces it)."""
        if self._tls is not None:
            self._tls.write(data)
        elif self.transport is not None:
            self.transport.write(data)

    def progressed(self) -> None:
        """A request was read in full, or an answer taken: what keeps a connection over others."""
        self.last_progress = self.loop.time()

    def eviction_rank(self) -> tuple[int, float]:
        """Lowest goes first: never answered, then not taking its answers, then by quiet time."""
        kind = 0 if self.served == 0 else 1 if self.outflow.stalled else 2
        return kind, self.last_progress

    @property
    def priority(self) -> int:
        """Its requests' place in a queue: a client served before that takes its answers goes
        first, then new connections, then clients that leave answers unread."""
        if self.outflow.lagging:
            return 2
        return 0 if self.served else 1

    def deadline(self, state: str, seconds: float | None, reason: str = "") -> None:
        """Enter ``state``; abort with ``reason`` unless it changes within ``seconds``."""
        self.state = state
        self._cancel_timer()
        if seconds is not None and not self.closed:
            self._deadline_reason = reason
            self._timer = self.loop.call_later(seconds, self._expired)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expired(self) -> None:
        self._timer = None
        self.expire_now(self._deadline_reason)

    def expire_now(self, reason: str) -> None:
        """Abort: a reset, the descriptor freed now, whatever is queued dropped."""
        if self.closed:
            return
        if reason:
            self._on_expire(self, reason)
        if self.state == "queued" and self.task is not None:
            self.task.cancel()  # its place in the pool's queue goes to the next one
        if self.transport is not None:
            self.transport.abort()

    def close(self) -> None:
        """A clean close after the last answer (TLS: with close_notify)."""
        if self.closed or self.transport is None:
            return
        if self._tls is not None:
            self._tls.close_notify()
        self.transport.close()

    def shutdown_write(self) -> None:
        """Half close: the client sees the end of the answer while the server reads on."""
        if self.closed or self.transport is None:
            return
        if self._tls is not None:
            self._tls.close_notify()
        if self.transport.can_write_eof():
            self.transport.write_eof()

    @property
    def secure(self) -> bool:
        """Whether the connection is TLS."""
        return self._tls is not None

    def peer_certificate(self) -> dict[str, object] | None:
        return self._tls.peer_certificate() if self._tls is not None else None
