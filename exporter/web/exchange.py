"""The request loop of one connection: read a head, decide, read the body, answer, repeat.

HTTP/1.1 as the RFCs have it, on every path: a body is read in full or the connection is closed
after the answer (with a short lingering read, so the client sees the answer rather than a
reset); ``Expect: 100-continue`` gets its interim answer only when the body is wanted; chunked
bodies are decoded; HEAD answers carry the GET headers and no body; pipelined requests are
answered in order; HTTP/1.0 connections close unless they asked for keep-alive.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import TYPE_CHECKING

from exporter import courtesy
from exporter.callbacks.origin import Origin
from exporter.web.connection import Connection
from exporter.web.http1 import BadRequest, ChunkedBody, Request, TooLarge, parse_head, response_head
from exporter.web.outflow import WRITE_SLICE, Closed
from exporter.web.routes import Response, Router, text

if TYPE_CHECKING:
    from exporter.web.limits import Limits
    from exporter.web.live import LiveWebConfig, WebSnapshot
    from exporter.web.stats import WebStats

__all__ = ["Exchange"]

log = logging.getLogger(__name__)

_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


class Exchange:
    def __init__(
        self,
        conn: Connection,
        router: Router,
        live: LiveWebConfig,
        limits: Limits,
        stats: WebStats,
    ) -> None:
        self.conn = conn
        self.router = router
        self.live = live
        self.limits = limits
        self.stats = stats
        self._read_by = 0.0  # when the current request must have been read (head and body)

    async def run(self) -> None:
        conn = self.conn
        try:
            await conn.ready  # the TLS handshake, if any
            first = True
            while not conn.closed:
                if not first:
                    # The next request is served once the last answer has been taken.
                    conn.deadline("write", self.limits.write_timeout, "write_timeout")
                    await conn.outflow.caught_up(WRITE_SLICE)
                request = await self._read_head(first)
                if request is None:
                    break
                first = False
                with courtesy.demand():  # long jobs leave the GIL free now and then meanwhile
                    served = await self._serve(request)
                if not served:
                    break
        except (Closed, ConnectionError):
            pass
        except OSError as exc:  # the socket went away under a transport call (ENOTCONN, ...)
            log.debug("connection from %s: %s", conn.peer, exc)
            conn.expire_now("")
            return
        except Exception:
            log.error("error serving %s", conn.peer, exc_info=True)
            conn.expire_now("")
            return
        conn.close()
        conn.deadline("closing", self.limits.write_timeout, "write_timeout")

    # -- reading ---------------------------------------------------------------------------

    async def _read_head(self, first: bool) -> Request | None:
        conn, limits = self.conn, self.limits
        if not conn.inbuf:
            if first:
                conn.deadline("head", limits.read_header_timeout, "read_header_timeout")
            else:
                conn.deadline("idle", limits.idle_timeout, "idle_timeout")
            try:
                await conn.wait_data()
            except Closed:
                return None
        now = conn.loop.time()
        self._read_by = now + limits.read_timeout
        conn.deadline("head", limits.read_header_timeout, "read_header_timeout")
        while True:
            # Empty lines before a request line are ignored (RFC 9112 section 2.2).
            while conn.inbuf[:2] == b"\r\n":
                del conn.inbuf[:2]
            end = conn.inbuf.find(b"\r\n\r\n")
            if end >= 0:
                break
            if len(conn.inbuf) > limits.max_header_bytes:
                return await self._refuse_head(431, "request header fields too large")
            if conn.eof:
                return None
            await conn.wait_data()
        if end > limits.max_header_bytes:
            return await self._refuse_head(431, "request header fields too large")
        head = bytes(conn.inbuf[:end])
        del conn.inbuf[: end + 4]
        conn.consumed()
        conn.progressed()
        try:
            return parse_head(head)
        except BadRequest as bad:
            callback_path = getattr(self.router.backend, "callback_path", None)
            if (
                bad.length
                and callback_path
                and head.split(b" ", 2)[1:2] == [callback_path.encode()]
            ):
                await self.router.count_bad_length(bad.reason)
            return await self._refuse_head(bad.status, bad.reason)

    def _for_callbacks(self, head: bytes) -> bool:
        callback_path = getattr(self.router.backend, "callback_path", None)
        parts = head.split(b"\r\n", 1)[0].split(b" ")
        return (
            bool(callback_path)
            and len(parts) == 3
            and (parts[1].partition(b"?")[0] == str(callback_path).encode())
        )

    async def _refuse_head(self, status: int, reason: str) -> Request | None:
        """Answer a head the server cannot go on after, and close."""
        self.stats.refused("header_too_large" if status == 431 else "bad_request")
        self.stats.closed("bad_request")
        answer = text(status, f"{_phrase(status)}: {reason}", close=True)
        await self._send(None, answer, self.live.current, body_unread=True)
        return None  # nothing more is read from this connection

    async def _read_body(self, request: Request, limit: int) -> bytes:
        """Raises TooLarge, BadRequest or Closed."""
        conn = self.conn
        remaining = max(0.0, self._read_by - conn.loop.time())
        conn.deadline("body", remaining, "read_timeout")
        if request.expect_continue:
            await conn.outflow.write(_CONTINUE)
        if request.chunked:
            chunked = ChunkedBody(limit)
            while not chunked.feed(conn.inbuf):
                conn.consumed()
                if conn.eof:
                    raise Closed()
                await conn.wait_data()
            conn.consumed()
            return chunked.body()
        length = request.content_length or 0
        if length > limit:
            raise TooLarge(length)
        parts: list[bytes] = []
        left = length
        while left:
            if conn.inbuf:
                take = min(left, len(conn.inbuf))
                parts.append(bytes(conn.inbuf[:take]))
                del conn.inbuf[:take]
                left -= take
                conn.consumed()
                continue
            if conn.eof:
                raise Closed()
            await conn.wait_data()
        return b"".join(parts)

    # -- one request -----------------------------------------------------------------------

    async def _serve(self, request: Request) -> bool:
        """Answer one request; False when the connection is to be closed."""
        snapshot = self.live.current  # one web config for the whole request
        origin = Origin(
            self.conn.peer,
            forwarded_for=request.header("x-forwarded-for"),
            secure=self.conn.secure,
        )
        route = self.router.route(request, origin)
        answer: Response | None = None
        if route.auth:
            answer = await self.router.authorize(request, snapshot, self.conn.priority)
        if answer is None:
            answer = route.answer
        if answer is not None:
            return await self._send(request, answer, snapshot, body_unread=request.has_body)
        body = b""
        unread = False
        if request.has_body and route.body_limit == 0:
            unread = True  # not wanted here: answered, then the connection is closed
        elif request.has_body:
            try:
                body = await self._read_body(request, route.body_limit)
            except TooLarge as big:
                answer = await self.router.refuse_too_large(route, big.size)
                return await self._send(request, answer, snapshot, body_unread=True)
            except BadRequest as bad:
                self.stats.refused("bad_request")
                self.stats.closed("bad_request")
                answer = text(bad.status, f"{_phrase(bad.status)}: {bad.reason}", close=True)
                return await self._send(request, answer, snapshot, body_unread=True)
        conn = self.conn
        conn.progressed()
        # Waiting for a thread, the connection may still be closed to make room; running, not.
        conn.deadline("queued", None)
        answer = await self.router.run(
            route, body, conn.priority, started=lambda: conn.deadline("handler", None)
        )
        return await self._send(request, answer, snapshot, body_unread=unread)

    async def _send(
        self,
        request: Request | None,
        answer: Response,
        snapshot: WebSnapshot,
        body_unread: bool,
    ) -> bool:
        conn = self.conn
        keep = (
            request is not None
            and request.keep_alive
            and not answer.close
            and not body_unread
            and not conn.eof
        )
        size = sum(map(len, answer.chunks))
        headers = [("Content-Type", answer.content_type), ("Content-Length", str(size))]
        headers += snapshot.headers
        headers += answer.headers
        if not keep:
            headers.append(("Connection", "close"))
        elif request is not None and request.version == (1, 0):
            headers.append(("Connection", "keep-alive"))
        head = response_head(answer.status, headers)
        if answer.status < 400:
            conn.served += 1  # only answers that served the client earn it a better place
        conn.deadline("write", self.limits.write_timeout, "write_timeout")
        if request is not None and request.method == "HEAD":
            await conn.outflow.write(head)
        else:
            await self._write_body(head, answer.chunks)
        if keep:
            return True
        if body_unread:
            await self._linger()
        return False

    async def _write_body(self, head: bytes, chunks: list[bytes]) -> None:
        """Small pieces are joined so that an answer is a few large writes, not thousands; the
        head goes with the first: separate small sends meet Nagle and delayed ACK."""
        outflow = self.conn.outflow
        batch = [head]
        size = len(head)
        room = outflow.room()  # as much as the client can take at once, on top of a slice

        async def send(data: bytes) -> None:
            nonlocal room
            await outflow.write(data, room)
            room = outflow.room()

        for chunk in chunks:
            big = len(chunk) >= WRITE_SLICE  # sliced by the outflow, without a copy
            if size and (big or size + len(chunk) > WRITE_SLICE + room):
                await send(b"".join(batch))  # what came before goes first
                batch, size = [], 0
            if big:
                await send(chunk)
                continue
            batch.append(chunk)
            size += len(chunk)
        if batch:
            await outflow.write(b"".join(batch), room)

    async def _linger(self) -> None:
        """Closing with unread input makes the kernel send a reset, which can destroy the
        answer in flight: end our side, then read and drop for a moment before closing."""
        conn = self.conn
        conn.inbuf.clear()
        conn.consumed()
        conn.shutdown_write()
        conn.deadline("linger", self.limits.linger_timeout, "")
        try:
            while True:
                await conn.wait_data()
                conn.inbuf.clear()
                conn.consumed()
        except Closed:
            pass


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"
