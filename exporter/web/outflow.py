"""Answers on their way to one client: the send side's flow control, and what it says of the client.

An answer is handed to the transport a slice at a time, each after the previous has drained, so
a client that never reads holds one slice, not a copy of the answer. Whether a client takes its
answers is also what ranks it: one with a full send buffer is the first to go over the
connection cap, and one that has left answers unread queues behind the others.
"""

from __future__ import annotations

import asyncio
import fcntl
import socket
import struct
import termios
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from exporter.web.connection import Connection

__all__ = ["WRITE_SLICE", "Closed", "Outflow"]

# Answers are handed to the transport in slices of this size, each once the last has drained.
WRITE_SLICE = 64 * 1024


def _kernel_queue(sock: socket.socket) -> int:
    """Bytes in the socket's send queue: sent but not acknowledged, or not sent yet."""
    raw = fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0\0\0\0")
    return int(struct.unpack("i", raw)[0])


class Closed(Exception):
    """The connection is gone (closed by the client, aborted by a deadline or an eviction)."""


class Outflow:
    """Used from the event loop thread only, as its connection is (its flags need no lock)."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        # The client is not taking its answers (a full send buffer): first to go over the cap.
        self.stalled = False
        self.lagging = False  # it has left answers unread at least once
        self._paused = False
        self._drain: asyncio.Future[None] | None = None

    def pause(self) -> None:
        self._paused = True

    def resume(self) -> None:
        self._paused = False
        self._conn.progressed()
        self.release()

    def release(self) -> None:
        """Let a write waiting for the transport to drain go on (it drained, or is gone)."""
        if self._drain is not None and not self._drain.done():
            self._drain.set_result(None)

    def room(self) -> int:
        """Bytes the kernel would take now on top of a slice: its free send buffer, halved
        (Linux counts its own bookkeeping in SO_SNDBUF). A client that keeps up gets a 2 MB
        answer in a send or two instead of 30: each send gives up the GIL, and getting it back
        beside a busy reload cost a scrape about a millisecond a send (p99 65-75 ms -> 33-38
        ms, benchmarks/startup.py). A client that does not read has no room: one slice then
        is all it can hold here. 0 over TLS, whose records are cut from what it is given."""
        transport = self._conn.transport
        if transport is None or self._conn.tls or transport.get_write_buffer_size():
            return 0
        sock = transport.get_extra_info("socket")
        if sock is None:
            return 0
        try:
            size = int(sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF))
            return max(0, size - _kernel_queue(sock)) // 2
        except OSError:
            return 0

    async def write(self, data: bytes | memoryview, room: int | None = None) -> None:
        """Hand ``data`` to the client a slice at a time (plus the kernel's ``room``), each
        after the last has drained. ``room``: what the caller has just read it to be, for the
        first piece (two more system calls for nothing otherwise)."""
        conn = self._conn
        view = memoryview(data)
        start = 0
        while start < len(view):
            if conn.closed or conn.transport is None:
                raise Closed()
            end = start + WRITE_SLICE + (self.room() if room is None else room)
            room = None
            conn.send(view[start:end])
            start = end
            while self._paused and not conn.closed:
                self.stalled = True
                self._drain = conn.loop.create_future()
                await self._drain
            self.stalled = False
            conn.progressed()
        if conn.closed:
            raise Closed()

    def unsent(self) -> int:
        """Bytes of earlier answers the client has not taken yet: queued here, and in the
        kernel's send queue (sent but not acknowledged, or not sent for a zero window)."""
        transport = self._conn.transport
        if transport is None:
            return 0
        queued = transport.get_write_buffer_size()
        sock = transport.get_extra_info("socket")
        if sock is None:
            return queued
        try:
            return queued + _kernel_queue(sock)
        except OSError:
            return queued

    async def caught_up(self, limit: int) -> None:
        """Until the client has taken all but ``limit`` bytes of its earlier answers.

        A client that sends requests and never reads the answers would otherwise get an answer
        per request for as long as the kernel's send buffer (megabytes) takes them in, each
        one the server's work. Prometheus sends one request at a time and reads the answer.
        """
        wait = 0.01
        while not self._conn.closed and self.unsent() > limit:
            self.stalled = self.lagging = True
            await asyncio.sleep(wait)
            wait = min(0.25, wait * 2)
        self.stalled = False
        if self._conn.closed:
            raise Closed()
