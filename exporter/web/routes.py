"""What each path does: basic auth, the lifecycle switch, which pool runs it, the backend call.

`Router.route` decides from the request head alone (before any body is read) what the request
may send and who answers it; the handlers themselves are blocking backend calls, run in the
pool of their kind: ``scrape`` (/metrics, /-/healthy, /-/ready), ``page`` (the status page),
``callback`` (the CSS receiver) and ``lifecycle`` (/-/reload).
"""

from __future__ import annotations

import contextlib
import logging
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from exporter import callbacks
from exporter.callbacks.origin import Origin
from exporter.web.auth import Attempt
from exporter.web.http1 import Request, wants_gzip, wants_openmetrics
from exporter.web.pools import Busy, Pool
from exporter.web.stats import WebStats

if TYPE_CHECKING:
    from exporter.web.live import WebSnapshot

__all__ = ["OPENMETRICS_FORMAT", "TEXT_FORMAT", "Backend", "Response", "Route", "Router"]

log = logging.getLogger(__name__)

TEXT_FORMAT = "text/plain; version=0.0.4; charset=utf-8"
OPENMETRICS_FORMAT = "application/openmetrics-text; version=1.0.0; charset=utf-8"
PLAIN = "text/plain; charset=utf-8"
# A body sent to /-/reload is read and dropped up to this size (a bigger one closes).
RELOAD_BODY_LIMIT = 64 * 1024
_STANDARD_METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE", "CONNECT")


class Backend(Protocol):
    callback_path: str | None

    def metrics_chunks(self, openmetrics: bool, compressed: bool) -> list[bytes]: ...

    def ready(self) -> bool: ...

    def healthy(self) -> bool: ...

    def status_page(self, query: dict[str, str]) -> str: ...

    def handle_callback(
        self, body: bytes, content_type: str | None, origin: Origin | None = None
    ) -> tuple[int, bytes]: ...

    def reload(self) -> tuple[bool, str]: ...

    def handle_rejection(self, rejection: callbacks.Rejection) -> None: ...


@dataclass(slots=True)
class Response:
    status: int
    chunks: list[bytes]
    content_type: str = PLAIN
    headers: list[tuple[str, str]] = field(default_factory=list)
    close: bool = False


def text(status: int, message: str, *headers: tuple[str, str], close: bool = False) -> Response:
    return Response(status, [f"{message}\n".encode()], PLAIN, list(headers), close)


POST_ONLY = "This endpoint requires a POST request"
BUSY = "Service Unavailable: too many requests of this kind at once; retry"


@dataclass(slots=True)
class Route:
    """How a request is answered: at once (``answer``), or by ``handle`` in pool ``kind``."""

    kind: str = ""
    answer: Response | None = None
    handle: Callable[[bytes], Response] | None = None
    body_limit: int = 0  # bytes of body this route reads (more: too_large)
    auth: bool = True  # basic auth applies (all but the callback receiver)
    too_large: Callable[[int], Response] | None = None


class Router:
    def __init__(
        self,
        backend: Backend,
        pools: dict[str, Pool],
        bcrypt: Pool,
        stats: WebStats,
        lifecycle: Callable[[], bool],
    ) -> None:
        self.backend = backend
        self.pools = pools
        self._bcrypt = bcrypt
        self._stats = stats
        self._lifecycle = lifecycle

    # -- from the head alone ---------------------------------------------------------------

    def route(self, request: Request, origin: Origin | None = None) -> Route:
        """``origin``: where the request came from (the callback path's allow list)."""
        path, method = request.path, request.method
        backend = self.backend
        callback_path = getattr(backend, "callback_path", None)
        if callback_path is not None and path == callback_path:
            return self._callback_route(request, origin)
        if method not in ("GET", "HEAD", "POST"):
            if method in _STANDARD_METHODS:
                allow = "POST" if path == "/-/reload" else "GET, HEAD"
                return Route(answer=text(405, "Method not allowed", ("Allow", allow)))
            return Route(answer=text(501, "Not implemented"))
        if method == "POST":
            if path != "/-/reload":
                return Route(answer=text(405, "Method not allowed", ("Allow", "GET, HEAD")))
            if not self._lifecycle():
                self._stats.refused("lifecycle_disabled")
                # Prometheus' words and status for a lifecycle endpoint left off.
                return Route(answer=text(403, "Lifecycle API is not enabled."))
            return Route("lifecycle", handle=self._reload, body_limit=RELOAD_BODY_LIMIT)
        if path == "/metrics":
            openmetrics = wants_openmetrics(request.header("accept") or "")
            compressed = wants_gzip(request.header("accept-encoding") or "")
            return Route("scrape", handle=lambda _: self._metrics(openmetrics, compressed))
        if path == "/":
            query = {k: v[-1] for k, v in urllib.parse.parse_qs(request.query).items()}
            return Route("page", handle=lambda _: self._page(query))
        if path == "/-/reload":
            return Route(answer=text(405, POST_ONLY, ("Allow", "POST")))
        if path == "/-/healthy":
            return Route("scrape", handle=self._healthy)
        if path == "/-/ready":
            return Route("scrape", handle=self._ready)
        return Route(answer=text(404, "Not found"))

    def _callback_route(self, request: Request, origin: Origin | None) -> Route:
        bad_method = callbacks.check_method(request.method)
        if bad_method is not None:
            not_post = text(405, POST_ONLY, ("Allow", "POST"))
            return Route(
                "callback", handle=lambda _: self._rejected(bad_method, not_post), auth=False
            )
        bad_length = (
            None if request.chunked else callbacks.check_length(request.header("content-length"))
        )
        if bad_length is not None:  # missing (411) or too large (413): the body is not read
            answer = text(
                bad_length.status, f"{bad_length.reason}: {bad_length.message}", close=True
            )
            return Route(
                "callback", handle=lambda _: self._rejected(bad_length, answer), auth=False
            )
        content_type = request.header("content-type")
        return Route(
            "callback",
            handle=lambda body: self._callback(body, content_type, origin),
            body_limit=callbacks.MAX_BODY_BYTES,
            auth=False,
            too_large=self._callback_too_large,
        )

    # -- auth ------------------------------------------------------------------------------

    async def authorize(
        self, request: Request, snapshot: WebSnapshot, priority: int = 0
    ) -> Response | None:
        """None when the request may go on; else the answer (401, or 503 while bcrypt is busy)."""
        auth = snapshot.auth
        if auth is None:
            return None
        verdict = auth.precheck(request.header("authorization"))
        if isinstance(verdict, Attempt):
            try:
                verdict = await self._bcrypt.run(auth.verify, verdict, priority=priority)
            except Busy:
                self._stats.refused("auth_busy")
                return text(503, BUSY, ("Retry-After", "1"))
        if verdict:
            return None
        self._stats.refused("unauthorized")
        return text(401, "Unauthorized", ("WWW-Authenticate", "Basic"))

    async def run(
        self,
        route: Route,
        body: bytes,
        priority: int = 0,
        started: Callable[[], None] | None = None,
    ) -> Response:
        assert route.handle is not None
        try:
            return await self.pools[route.kind].run(
                route.handle, body, priority=priority, started=started
            )
        except Busy:
            self._stats.refused("handlers_busy")
            return text(503, BUSY, ("Retry-After", "1"))

    async def refuse_too_large(self, route: Route, size: int) -> Response:
        self._stats.refused("body_too_large")
        if route.too_large is None:
            return text(413, "Content Too Large", close=True)
        try:
            return await self.pools[route.kind].run(route.too_large, size)
        except Busy:
            return text(413, "Content Too Large", close=True)

    async def count_bad_length(self, message: str) -> None:
        """A callback whose Content-Length framing is refused is a bad_length rejection too."""
        rejection = callbacks.Rejection("bad_length", 400, message)
        with contextlib.suppress(Busy):
            await self.pools["callback"].run(self.backend.handle_rejection, rejection)

    # -- handlers (blocking: run in a pool) --------------------------------------------------

    def _metrics(self, openmetrics: bool, compressed: bool) -> Response:
        chunks = self.backend.metrics_chunks(openmetrics, compressed)
        headers = [("Content-Encoding", "gzip")] if compressed else []
        return Response(200, chunks, OPENMETRICS_FORMAT if openmetrics else TEXT_FORMAT, headers)

    def _page(self, query: dict[str, str]) -> Response:
        page = self.backend.status_page(query).encode("utf-8", "replace")
        return Response(200, [page], "text/html; charset=utf-8")

    def _healthy(self, _: bytes) -> Response:
        if self.backend.healthy():
            return text(200, "Healthy")
        return text(503, "Not healthy: an exporter thread has stopped (see its log)")

    def _ready(self, _: bytes) -> Response:
        if self.backend.ready():
            return text(200, "Ready")
        return text(503, "Not ready: the first poll round has not completed")

    def _reload(self, _: bytes) -> Response:
        ok, message = self.backend.reload()
        return text(200 if ok else 500, message)

    def _callback(self, body: bytes, content_type: str | None, origin: Origin | None) -> Response:
        status, answer = self.backend.handle_callback(body, content_type, origin)
        return Response(status, [answer], "application/json" if status == 200 else PLAIN)

    def _callback_too_large(self, size: int) -> Response:
        limit = callbacks.MAX_BODY_BYTES
        rejection = callbacks.Rejection(
            "too_large",
            callbacks.STATUS["too_large"],
            f"body of {size} bytes or more is over the limit of {limit} bytes",
        )
        return self._rejected(rejection, text(413, f"too_large: {rejection.message}", close=True))

    def _rejected(self, rejection: callbacks.Rejection, answer: Response) -> Response:
        self.backend.handle_rejection(rejection)
        return answer
