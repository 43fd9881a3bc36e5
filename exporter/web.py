"""HTTP: /metrics, the landing page and the health endpoints. The only module scrapers talk to."""

from __future__ import annotations

import gzip
import html
import logging
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Protocol

from exporter import __version__

log = logging.getLogger(__name__)

TEXT_FORMAT = "text/plain; version=0.0.4; charset=utf-8"
# Below this size compressing costs more than it saves.
GZIP_MIN_BYTES = 1024


class Backend(Protocol):
    def render_metrics(self) -> bytes: ...

    def ready(self) -> bool: ...

    def status_rows(self) -> list[tuple[str, str, str]]: ...


def parse_listen_address(address: str) -> tuple[str, int]:
    """Prometheus-style ``host:port``; an empty host (``:9879``) means all interfaces."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"invalid listen address {address!r}: want host:port, e.g. :9879")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, int(port)


def landing_page(rows: list[tuple[str, str, str]]) -> str:
    body = "".join(
        f"<tr><td>{html.escape(a)}</td><td>{html.escape(b)}</td><td>{html.escape(c)}</td></tr>"
        for a, b, c in rows
    )
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        "<title>Tencent Live Exporter</title></head><body>"
        f"<h1>Tencent Live Exporter</h1><p>Version {html.escape(__version__)}</p>"
        "<ul><li><a href='/metrics'>Metrics</a></li>"
        "<li><a href='/-/healthy'>Health</a></li>"
        "<li><a href='/-/ready'>Readiness</a></li></ul>"
        "<h2>Streams</h2><table><tr><th>Stream</th><th>State</th><th>Last error</th></tr>"
        f"{body}</table></body></html>"
    )


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = f"tencent-live-exporter/{__version__}"
    backend: Backend

    def log_message(self, format: str, *args: object) -> None:
        log.debug("%s %s", self.address_string(), format % args)

    def _send(
        self,
        status: int,
        body: bytes,
        content_type: str = "text/plain; charset=utf-8",
        extra: dict[str, str] | None = None,
    ) -> None:
        headers = {"Content-Type": content_type, "Content-Length": str(len(body))}
        headers.update(extra or {})
        head = [f"HTTP/1.1 {status} {self.responses.get(status, ('',))[0]}"]
        head += [f"{k}: {v}" for k, v in headers.items()]
        payload = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1")
        if self.command != "HEAD":
            payload += body
        # One write: headers and body in separate sends meet Nagle and delayed ACK.
        self.wfile.write(payload)
        self.wfile.flush()

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        backend = self.backend
        if path == "/metrics":
            body = backend.render_metrics()
            extra: dict[str, str] = {}
            accept = self.headers.get("Accept-Encoding", "")
            if "gzip" in accept and len(body) >= GZIP_MIN_BYTES:
                body = gzip.compress(body, compresslevel=1)
                extra["Content-Encoding"] = "gzip"
            self._send(200, body, TEXT_FORMAT, extra)
        elif path == "/":
            page = landing_page(backend.status_rows())
            self._send(200, page.encode(), "text/html; charset=utf-8")
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
        self._send(405, b"Method not allowed\n", extra={"Allow": "GET, HEAD"})


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def server_bind(self) -> None:
        if self.address_family == socket.AF_INET6:
            # Accept IPv4 too on the all-interfaces IPv6 socket.
            self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()


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
    def __init__(self, address: str, backend: Backend) -> None:
        host, port = parse_listen_address(address)
        handler = type("Handler", (_Handler,), {"backend": backend})
        self._server = _bind(host, port, handler)
        self._thread: threading.Thread | None = None

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
        self._server.shutdown()
        self._server.server_close()
