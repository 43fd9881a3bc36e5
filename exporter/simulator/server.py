"""HTTP/1.1 plumbing: thread per connection, keep-alive, one ``send`` per response.

Each response (status line, headers and body) is written with a single ``sendall`` and the
socket has TCP_NODELAY: split writes would meet Nagle's algorithm on our side and delayed ACKs
on the client's and cost ~40 ms per keep-alive request.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from email.utils import formatdate
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

from exporter.simulator.control import PREFIX
from exporter.simulator.gateway import Reply, error_body

MAX_BODY_BYTES = 1 << 20
IDLE_KEEPALIVE_SECONDS = 75.0


class App(Protocol):
    stop_event: threading.Event

    def handle_api(self, headers: dict[str, str], body: bytes) -> Reply: ...

    def handle_control(self, method: str, path: str, body: bytes) -> tuple[int, dict[str, Any]]: ...

    def render_metrics(self) -> str: ...


class SimHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # socketserver's 5 drops SYNs when clients connect at once
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], app: App) -> None:
        self.app = app
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def track(self, conn: socket.socket) -> None:
        with self._connections_lock:
            self._connections.add(conn)

    def untrack(self, conn: socket.socket) -> None:
        with self._connections_lock:
            self._connections.discard(conn)

    def close_connections(self) -> None:
        """Wake handler threads blocked reading idle keep-alive connections."""
        with self._connections_lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "tencent-live-simulator"
    sys_version = ""
    timeout = IDLE_KEEPALIVE_SECONDS
    server: SimHTTPServer

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.track(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.untrack(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        """Silence per-request logging (and never echo request headers anywhere)."""

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    # --------------------------------------------------------------------------------------

    def _read_body(self) -> bytes | None:
        length_header = self.headers.get("Content-Length")
        if self.headers.get("Transfer-Encoding"):
            return None
        try:
            length = int(length_header) if length_header else 0
        except ValueError:
            return None
        if length < 0 or length > MAX_BODY_BYTES:
            return None
        return self.rfile.read(length) if length else b""

    def _dispatch(self, method: str) -> None:
        app = self.server.app
        path = self.path.split("?", 1)[0]
        body = self._read_body()
        if body is None:
            self.close_connection = True
            payload = error_body(
                "RequestSizeLimitExceeded",
                "The request needs a Content-Length of at most 1 MiB.",
                "00000000-0000-0000-0000-000000000000",
            )
            self._write(200, payload, "application/json")
            return
        if path == "/" and method == "POST":
            headers = {name.lower(): value for name, value in self.headers.items()}
            self._send_reply(app.handle_api(headers, body))
        elif path.startswith(PREFIX):
            status, result = app.handle_control(method, path, body)
            self._write(status, json.dumps(result).encode(), "application/json")
        elif path == "/metrics" and method == "GET":
            self._write(200, app.render_metrics().encode(), "text/plain; version=0.0.4")
        elif path == "/" and method == "GET":
            self._write(200, b'{"simulator":"tencent-live"}', "application/json")
        else:
            self._write(
                404,
                json.dumps({"error": f"not found: {method} {path}"}).encode(),
                "application/json",
            )

    def _send_reply(self, reply: Reply) -> None:
        stop = self.server.app.stop_event
        if reply.delay > 0 and stop.wait(reply.delay):
            self.close_connection = True
            return
        if reply.hold is not None:
            # Injected timeout: never answer, and give the connection up afterwards.
            stop.wait(reply.hold)
            self.close_connection = True
            return
        if reply.trickle is not None:
            # Injected slow answer: all of it, a few bytes at a time, until done or the client
            # hangs up; the connection is given up afterwards.
            self.close_connection = True
            data = self._response(reply.status, reply.body, reply.content_type)
            interval = max(0.01, 1.0 / reply.trickle)
            step = max(1, round(reply.trickle * interval))
            for start in range(0, len(data), step):
                if start and stop.wait(interval):
                    return
                try:
                    self.wfile.write(data[start : start + step])
                except OSError:
                    return
            return
        self._write(reply.status, reply.body, reply.content_type)

    def _write(self, status: int, body: bytes, content_type: str) -> None:
        try:
            self.wfile.write(self._response(status, body, content_type))
        except OSError:
            self.close_connection = True

    def _response(self, status: int, body: bytes, content_type: str) -> bytes:
        try:
            reason = HTTPStatus(status).phrase
        except ValueError:
            reason = "Unknown"
        head = (
            f"HTTP/1.1 {status} {reason}\r\n"
            f"Server: {self.server_version}\r\n"
            f"Date: {formatdate(usegmt=True)}\r\n"
            f"Content-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\n"
        )
        if self.close_connection:
            head += "Connection: close\r\n"
        return head.encode("latin-1") + b"\r\n" + body
