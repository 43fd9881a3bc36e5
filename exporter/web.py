"""HTTP: /metrics, the landing page and the health endpoints. The only module scrapers talk to."""

from __future__ import annotations

import contextlib
import logging
import socket
import ssl
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, Protocol

from exporter import __version__, callbacks

if TYPE_CHECKING:
    from exporter.webconfig import WebConfig

log = logging.getLogger(__name__)

TEXT_FORMAT = "text/plain; version=0.0.4; charset=utf-8"
# A client that has not finished the TLS handshake by then is dropped.
TLS_HANDSHAKE_TIMEOUT = 10.0
_PLAIN_HTTP_TO_TLS = (
    b"HTTP/1.0 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n"
    b"Connection: close\r\n\r\nClient sent an HTTP request to an HTTPS server.\n"
)


OPENMETRICS_FORMAT = "application/openmetrics-text; version=1.0.0; charset=utf-8"


class Backend(Protocol):
    callback_path: str | None

    def metrics_chunks(self, openmetrics: bool, compressed: bool) -> list[bytes]: ...

    def ready(self) -> bool: ...

    def status_page(self, query: dict[str, str]) -> str: ...

    def handle_callback(self, body: bytes, content_type: str | None) -> tuple[int, bytes]: ...

    def reload(self) -> tuple[bool, str]: ...

    def handle_rejection(self, rejection: callbacks.Rejection) -> None: ...


def wants_openmetrics(accept: str) -> bool:
    """Content negotiation as Prometheus does it: OpenMetrics only when asked for by name."""
    return "application/openmetrics-text" in accept


def wants_gzip(accept_encoding: str) -> bool:
    return any(
        part.split(";", 1)[0].strip().lower() in ("gzip", "*")
        and "q=0" not in part.replace(" ", "").split(";", 1)[-1]
        for part in accept_encoding.split(",")
    )


def parse_listen_address(address: str) -> tuple[str, int]:
    """Prometheus-style ``host:port``; an empty host (``:9879``) means all interfaces."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"invalid listen address {address!r}: want host:port, e.g. :9879")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, int(port)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = f"tencent-live-exporter/{__version__}"
    backend: Backend

    def log_message(self, format: str, *args: object) -> None:
        log.debug("%s %s", self.address_string(), format % args)

    def _web_config(self) -> WebConfig | None:
        web_config: WebConfig | None = getattr(self.server, "web_config", None)
        return web_config

    def _denied(self) -> bool:
        """Basic auth (web config) for every endpoint but the CSS callback receiver.

        Answers 401 itself and returns True when the request must go no further.
        """
        web_config = self._web_config()
        if web_config is None or not web_config.auth_enabled:
            return False
        callback_path = getattr(self.backend, "callback_path", None)
        if callback_path is not None and self.path.partition("?")[0] == callback_path:
            return False  # CSS calls it without credentials; its signature guards it
        if web_config.authorized(self.headers.get("Authorization")):
            return False
        extra = {"WWW-Authenticate": "Basic"}
        if self.headers.get("Content-Length", "0").strip() not in ("", "0") or self.headers.get(
            "Transfer-Encoding"
        ):
            # The body is not read: it would otherwise be taken for the next request.
            extra["Connection"] = "close"
            self.close_connection = True
        self._send(401, b"Unauthorized\n", extra=extra)
        return True

    def _send(
        self,
        status: int,
        body: bytes,
        content_type: str = "text/plain; charset=utf-8",
        extra: dict[str, str] | None = None,
    ) -> None:
        self._send_chunks([body], content_type, extra or {}, status)

    def _send_chunks(
        self, chunks: list[bytes], content_type: str, extra: dict[str, str], status: int = 200
    ) -> None:
        """A body as pieces (a large one as its cached pieces: no copy of the whole exposition
        is made). Headers and a small body go in one write: separate sends meet Nagle and
        delayed ACK."""
        headers = {"Content-Type": content_type, "Content-Length": str(sum(map(len, chunks)))}
        web_config = self._web_config()
        if web_config is not None:
            headers.update(web_config.headers)
        headers.update(extra)
        head = [f"HTTP/1.1 {status} {self.responses.get(status, ('',))[0]}"]
        head += [f"{k}: {v}" for k, v in headers.items()]
        first = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1")
        if self.command == "HEAD":
            self.wfile.write(first)
        else:
            # Small pieces are joined so that a scrape is a few large writes, not thousands.
            batch = [first]
            size = len(first)
            for chunk in chunks:
                batch.append(chunk)
                size += len(chunk)
                if size >= 1 << 20:
                    self.wfile.write(b"".join(batch))
                    batch, size = [], 0
            if batch:
                self.wfile.write(b"".join(batch))
        self.wfile.flush()

    def do_HEAD(self) -> None:
        self.do_GET()  # which checks auth

    def do_GET(self) -> None:
        if self._denied():
            return
        path, _, raw_query = self.path.partition("?")
        backend = self.backend
        if path == "/metrics":
            openmetrics = wants_openmetrics(self.headers.get("Accept", ""))
            compressed = wants_gzip(self.headers.get("Accept-Encoding", ""))
            chunks = backend.metrics_chunks(openmetrics, compressed)
            extra = {"Content-Encoding": "gzip"} if compressed else {}
            self._send_chunks(chunks, OPENMETRICS_FORMAT if openmetrics else TEXT_FORMAT, extra)
        elif path == "/":
            query = {k: v[-1] for k, v in urllib.parse.parse_qs(raw_query).items()}
            page = backend.status_page(query).encode("utf-8", "replace")
            self._send(200, page, "text/html; charset=utf-8")
        elif path in ("/-/reload", backend.callback_path):
            refused = callbacks.check_method(self.command)
            if path == backend.callback_path and refused is not None:
                backend.handle_rejection(refused)
            self._send(405, b"This endpoint requires a POST request\n", extra={"Allow": "POST"})
        elif path == "/-/healthy":
            self._send(200, b"Healthy\n")
        elif path == "/-/ready":
            if backend.ready():
                self._send(200, b"Ready\n")
            else:
                self._send(503, b"Not ready: the first poll round has not completed\n")
        else:
            self._send(404, b"Not found\n")

    def do_POST(self) -> None:
        if self._denied():
            return
        path = self.path.partition("?")[0]
        backend = self.backend
        if path == backend.callback_path and path is not None:
            self._callback()
        elif path == "/-/reload":
            ok, message = backend.reload()
            self._send(200 if ok else 500, f"{message}\n".encode())
        else:
            self._send(405, b"Method not allowed\n", extra={"Allow": "GET, HEAD"})

    def _callback(self) -> None:
        refused = callbacks.check_length(self.headers.get("Content-Length"))
        if refused is not None:
            # The body is not read: close so that it is not taken for the next request.
            self.close_connection = True
            self.backend.handle_rejection(refused)
            self._send(
                refused.status,
                f"{refused.reason}: {refused.message}\n".encode(),
                extra={"Connection": "close"},
            )
            return
        body = self.rfile.read(int(self.headers["Content-Length"]))
        status, answer = self.backend.handle_callback(body, self.headers.get("Content-Type"))
        content_type = "application/json" if status == 200 else "text/plain; charset=utf-8"
        self._send(status, answer, content_type)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # socketserver's 5 drops SYNs when clients connect at once
    allow_reuse_address = True
    web_config: WebConfig | None = None
    ssl_context: ssl.SSLContext | None = None

    def finish_request(self, request: Any, client_address: Any) -> None:
        # Runs in the connection's own thread: a slow or broken TLS client holds only that.
        ctx = self.ssl_context
        if ctx is None:
            super().finish_request(request, client_address)
            return
        conn = _tls_handshake(request, str(client_address[0]), ctx, self.web_config)
        if conn is None:
            return
        try:
            super().finish_request(conn, client_address)
        finally:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_WR)
            conn.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, ConnectionError | ssl.SSLError | TimeoutError):
            # Clients vanish mid-request all the time; no traceback for that.
            log.debug("connection from %s: %s", client_address[0], exc)
        else:
            log.error("error serving %s", client_address[0], exc_info=True)

    def server_bind(self) -> None:
        if self.address_family == socket.AF_INET6:
            # Accept IPv4 too on the all-interfaces IPv6 socket.
            self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()


def _tls_handshake(
    sock: socket.socket, peer: str, ctx: ssl.SSLContext, web_config: WebConfig | None
) -> ssl.SSLSocket | None:
    """The TLS side of a freshly accepted connection, or None (closed, logged at debug)."""
    try:
        sock.settimeout(TLS_HANDSHAKE_TIMEOUT)
        first = sock.recv(1, socket.MSG_PEEK)
        if not first:
            log.debug("connection from %s closed before the TLS handshake", peer)
            return None
        if first != b"\x16":  # not a TLS handshake record
            if first.isalpha():  # plain HTTP: say so, as Go servers do
                log.debug("plain HTTP from %s on the TLS port; answered 400, closed", peer)
                sock.sendall(_PLAIN_HTTP_TO_TLS)
                _drain_and_close(sock)
            else:
                log.debug("non-TLS data from %s on the TLS port; connection closed", peer)
            return None
        conn = ctx.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
    except OSError as exc:
        log.debug("connection from %s failed before the TLS handshake: %s", peer, exc)
        return None
    try:
        conn.do_handshake()
        if web_config is not None and not web_config.client_cert_allowed(conn.getpeercert()):
            log.info("TLS client %s: certificate has none of client_allowed_sans; closed", peer)
            conn.close()
            return None
        conn.settimeout(None)
    except OSError as exc:  # ssl.SSLError is an OSError
        log.debug("TLS handshake with %s failed: %s", peer, exc)
        conn.close()
        return None
    return conn


def _drain_and_close(sock: socket.socket) -> None:
    # Closing with unread input makes the kernel send RST, which can destroy the answer.
    try:
        sock.shutdown(socket.SHUT_WR)
        sock.settimeout(1.0)
        for _ in range(16):
            if not sock.recv(4096):
                break
    except OSError:
        pass


def _bind(host: str, port: int, handler: type[BaseHTTPRequestHandler]) -> _Server:
    if host == "":
        try:
            cls = type("Server6", (_Server,), {"address_family": socket.AF_INET6})
            return cls(("::", port), handler)
        except OSError:
            # No IPv6 on this machine: all IPv4 interfaces then.
            return _Server(("0.0.0.0", port), handler)
    if ":" in host:
        cls = type("Server6", (_Server,), {"address_family": socket.AF_INET6})
        return cls((host, port), handler)
    return _Server((host, port), handler)


class WebServer:
    def __init__(self, address: str, backend: Backend, web_config: WebConfig | None = None) -> None:
        host, port = parse_listen_address(address)
        # Built before binding: a bad certificate must not leave a bound socket behind.
        ctx = web_config.ssl_context() if web_config is not None else None
        handler = type("Handler", (_Handler,), {"backend": backend})
        self._server = _bind(host, port, handler)
        self._server.web_config = web_config
        self._server.ssl_context = ctx
        if web_config is not None:
            where = f" {web_config.source}" if web_config.source else ""
            log.info("web config%s: %s", where, web_config.describe())
        self._thread: threading.Thread | None = None

    @property
    def scheme(self) -> str:
        return "https" if self._server.ssl_context is not None else "http"

    @property
    def address(self) -> str:
        host, port = self._server.server_address[:2]
        host = str(host)
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:  # shutdown() waits forever for a loop that never ran
            self._server.shutdown()
            self._thread = None
        self._server.server_close()
