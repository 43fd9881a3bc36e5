"""HTTP/1.1 on every path of the server, one RFC behaviour per test, over raw loopback sockets.

Each test talks bytes to a real WebServer with a FakeBackend, so what is checked is what a
client sees on the wire: statuses, headers, bodies, and whether the connection stays open.
"""

from __future__ import annotations

import contextlib
import errno
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest

from exporter import courtesy
from exporter.callbacks import Rejection
from exporter.callbacks.origin import Origin
from exporter.web import Limits, WebServer, parse_web_config, wants_gzip
from exporter.web.outflow import WRITE_SLICE, Outflow
from tests import fakes


class Backend(fakes.FakeBackend):
    """Records what reached it."""

    def __init__(self) -> None:
        self.callbacks: list[tuple[bytes, str | None]] = []
        self.rejections: list[str] = []
        self.reloads = 0
        self.is_healthy = True

    def handle_callback(
        self, body: bytes, content_type: str | None, origin: Origin | None = None
    ) -> tuple[int, bytes]:
        self.callbacks.append((body, content_type))
        return 200, b'{"code":0}'

    def handle_rejection(self, rejection: Rejection) -> None:
        self.rejections.append(rejection.reason)

    def reload(self) -> tuple[bool, str]:
        self.reloads += 1
        return True, "reloaded"

    def healthy(self) -> bool:
        return self.is_healthy


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    head: bytes = b""
    all_headers: list[tuple[str, str]] = field(default_factory=list)


class Client:
    """A raw HTTP/1.1 client on one connection: send bytes, read answers one by one."""

    def __init__(self, port: int, timeout: float = 10.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self) -> bool:
        chunk = self.sock.recv(65536)
        if not chunk:
            return False
        self.buf += chunk
        return True

    def read_head(self) -> bytes:
        while b"\r\n\r\n" not in self.buf:
            if not self._fill():
                raise ConnectionError(f"closed before a full head: {self.buf!r}")
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        return head

    def answer(self, head_request: bool = False) -> Answer:
        head = self.read_head()
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        pairs = [(k.strip(), v.strip()) for k, _, v in (line.partition(":") for line in lines[1:])]
        headers = {k.lower(): v for k, v in pairs}
        length = 0 if head_request else int(headers.get("content-length", "0"))
        while len(self.buf) < length:
            if not self._fill():
                raise ConnectionError("closed in the middle of a body")
        body, self.buf = self.buf[:length], self.buf[length:]
        return Answer(status, headers, body, head, pairs)

    def closed_by_server(self) -> bool:
        """True once the server has closed (EOF or reset), waiting up to the socket timeout."""
        try:
            while self._fill():
                pass
        except ConnectionResetError:
            pass
        return True

    def close(self) -> None:
        self.sock.close()


Serve = Callable[..., tuple[WebServer, Backend]]


@pytest.fixture
def serve() -> Iterator[Serve]:
    servers: list[WebServer] = []

    def start(
        limits: Limits | None = None,
        lifecycle: bool = True,
        web_config: str | None = None,
        backend: Backend | None = None,
    ) -> tuple[WebServer, Backend]:
        backend = backend or Backend()
        config = parse_web_config(web_config, "inline") if web_config is not None else None
        server = WebServer(
            "127.0.0.1:0", backend, config, limits=limits, enable_lifecycle=lifecycle
        )
        server.start()
        servers.append(server)
        return server, backend

    yield start
    for server in servers:
        server.stop()


def get(path: str = "/metrics", extra: str = "", version: str = "1.1") -> bytes:
    return f"GET {path} HTTP/{version}\r\nHost: x\r\n{extra}\r\n".encode()


def post(path: str, body: bytes, extra: str = "") -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n{extra}\r\n".encode()
        + body
    )


# --------------------------------------------------------------------------------------------
# Bodies are read, or the connection is closed


def test_a_reload_body_is_read_before_the_next_request(serve: Serve) -> None:
    server, backend = serve()
    client = Client(server.port)
    client.send(post("/-/reload", b"x" * 1000) + get())
    first, second = client.answer(), client.answer()
    assert (first.status, first.body) == (200, b"reloaded\n")
    assert (second.status, second.body) == (200, b"up 1\n")  # not a 501 for the body's bytes
    assert backend.reloads == 1


def test_an_unwanted_body_closes_the_connection(serve: Serve) -> None:
    server, _ = serve()
    client = Client(server.port)
    client.send(
        b"GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 20\r\n\r\n" + b"GET /-/ready HTTP/"
    )
    answer = client.answer()
    assert answer.status == 200
    assert answer.headers["connection"] == "close"
    assert client.closed_by_server()
    assert b"Ready" not in client.buf  # the body was not taken for a request


# --------------------------------------------------------------------------------------------
# Expect: 100-continue


def test_expect_continue_gets_an_interim_answer_then_the_final_one(serve: Serve) -> None:
    server, backend = serve()
    client = Client(server.port)
    body = b'{"t": 1}'
    client.send(
        b"POST /callbacks/live HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
        + f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode()
    )
    assert client.read_head() == b"HTTP/1.1 100 Continue"
    client.send(body)
    answer = client.answer()
    assert (answer.status, answer.body) == (200, b'{"code":0}')
    assert backend.callbacks == [(body, "application/json")]


def test_expect_continue_refused_without_reading_the_body(serve: Serve) -> None:
    users = "basic_auth_users:\n  alice: $2b$04$" + "a" * 53 + "\n"
    server, backend = serve(web_config=users)
    client = Client(server.port)
    client.send(
        b"POST /-/reload HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n"
    )
    answer = client.answer()  # no 100 Continue first: the final answer at once
    assert answer.status == 401
    assert answer.headers["connection"] == "close"
    assert client.closed_by_server()
    assert backend.reloads == 0


def test_unknown_expectation_is_417(serve: Serve) -> None:
    server, _ = serve()
    client = Client(server.port)
    client.send(get(extra="Expect: something-else\r\n"))
    assert client.answer().status == 417


# --------------------------------------------------------------------------------------------
# Chunked bodies on the callback path


def test_chunked_callback_body_is_decoded(serve: Serve) -> None:
    server, backend = serve()
    client = Client(server.port)
    client.send(
        b"POST /callbacks/live HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
        b"Content-Type: application/json\r\n\r\n"
        b'4;ext=1\r\n{"t"\r\n5\r\n: 1}\n\r\n0\r\nX-Trailer: y\r\n\r\n' + get()
    )
    assert client.answer().status == 200
    assert client.answer().status == 200  # the connection went on after the last chunk
    assert backend.callbacks == [(b'{"t": 1}\n', "application/json")]


def test_chunked_callback_over_the_limit_is_413(serve: Serve) -> None:
    server, backend = serve()
    client = Client(server.port)
    client.send(
        b"POST /callbacks/live HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"20000\r\n" + b" " * 4096
    )
    answer = client.answer()
    assert answer.status == 413
    assert answer.body.startswith(b"too_large: ")
    assert backend.rejections == ["too_large"]
    assert backend.callbacks == []


def test_malformed_chunks_are_400(serve: Serve) -> None:
    server, backend = serve()
    client = Client(server.port)
    client.send(
        b"POST /callbacks/live HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"zz\r\nhello\r\n0\r\n\r\n"
    )
    assert client.answer().status == 400
    assert client.closed_by_server()
    assert backend.callbacks == []


# --------------------------------------------------------------------------------------------
# HEAD, pipelining, HTTP/1.0


def test_head_has_the_get_headers_and_no_body(serve: Serve) -> None:
    server, _ = serve()
    client = Client(server.port)
    client.send(get() + b"HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n" + get("/-/ready"))
    full = client.answer()
    head = client.answer(head_request=True)
    assert head.status == 200 and head.body == b""
    assert head.headers["content-length"] == full.headers["content-length"] == "5"
    assert head.headers["content-type"] == full.headers["content-type"]
    assert client.answer().body == b"Ready\n"  # nothing of a body came after the HEAD answer


def test_pipelined_requests_are_answered_in_order(serve: Serve) -> None:
    server, _ = serve()
    client = Client(server.port)
    client.send(get("/-/healthy") + get("/nope") + get("/-/ready") + get())
    got = [client.answer() for _ in range(4)]
    assert [(a.status, a.body) for a in got] == [
        (200, b"Healthy\n"),
        (404, b"Not found\n"),
        (200, b"Ready\n"),
        (200, b"up 1\n"),
    ]


def test_http10_closes_unless_keep_alive_is_asked(serve: Serve) -> None:
    server, _ = serve()
    client = Client(server.port)
    client.send(b"GET /metrics HTTP/1.0\r\n\r\n")  # no Host needed in 1.0
    answer = client.answer()
    assert (answer.status, answer.headers["connection"]) == (200, "close")
    assert client.closed_by_server()

    client = Client(server.port)
    client.send(get(version="1.0", extra="Connection: keep-alive\r\n"))
    answer = client.answer()
    assert answer.headers["connection"] == "keep-alive"
    client.send(get("/-/ready", version="1.0", extra="Connection: keep-alive\r\n"))
    assert client.answer().body == b"Ready\n"


def test_http11_connection_close_is_honoured(serve: Serve) -> None:
    server, _ = serve()
    client = Client(server.port)
    client.send(get(extra="Connection: close\r\n") + get("/-/ready"))
    assert client.answer().headers["connection"] == "close"
    assert client.closed_by_server()
    assert b"Ready" not in client.buf


# --------------------------------------------------------------------------------------------
# Content negotiation


@pytest.mark.parametrize(
    ("header", "gzip"),
    [
        ("gzip", True),
        ("gzip;q=0.5", True),
        ("gzip; q=0.5, identity", True),
        ("br, gzip;q=0.001", True),
        ("*", True),
        ("gzip;q=0", False),
        ("gzip;q=0.000", False),
        ("gzip;q=0, *", False),
        ("*;q=0", False),
        ("identity", False),
        ("", False),
    ],
)
def test_accept_encoding_q_values(header: str, gzip: bool) -> None:
    assert wants_gzip(header) is gzip


def test_gzip_with_a_q_value_is_served_gzipped(serve: Serve) -> None:
    class Compressing(Backend):
        def metrics_chunks(self, openmetrics: bool, compressed: bool) -> list[bytes]:
            return [b"gzipped" if compressed else b"plain"]

    server, _ = serve(backend=Compressing())
    client = Client(server.port)
    client.send(get(extra="Accept-Encoding: gzip;q=0.5\r\n"))
    answer = client.answer()
    assert (answer.body, answer.headers["content-encoding"]) == (b"gzipped", "gzip")


# --------------------------------------------------------------------------------------------
# Framing that could smuggle a request (issue 23, item 6)


def test_content_length_with_transfer_encoding_is_refused(serve: Serve) -> None:
    server, backend = serve()
    client = Client(server.port)
    smuggled = b"POST /-/reload HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
    client.send(
        b"POST /callbacks/live HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled
    )
    answer = client.answer()
    assert answer.status == 400
    assert b"both Content-Length and Transfer-Encoding" in answer.body
    assert answer.headers["connection"] == "close"
    assert client.closed_by_server()
    assert backend.reloads == 0  # the smuggled request was never executed
    assert backend.callbacks == []
    assert backend.rejections == ["bad_length"]


@pytest.mark.parametrize(
    "lengths",
    [
        "Content-Length: 5\r\nContent-Length: 5\r\n",
        "Content-Length: 5\r\nContent-Length: 7\r\n",
        "Content-Length: 5, 5\r\n",
        "Content-Length: +5\r\n",
    ],
)
def test_duplicate_or_invalid_content_length_is_refused(serve: Serve, lengths: str) -> None:
    server, backend = serve()
    client = Client(server.port)
    client.send(f"POST /callbacks/live HTTP/1.1\r\nHost: x\r\n{lengths}\r\nhello".encode())
    answer = client.answer()
    assert answer.status == 400
    assert answer.headers["connection"] == "close"
    assert client.closed_by_server()
    assert backend.callbacks == []


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GET /metrics HTTP/1.1\r\n\r\n", 400),  # no Host
        (b"GET /metrics HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
        (b"GET /metrics HTTP/2.0\r\nHost: x\r\n\r\n", 505),
        (b"GET /metrics\r\nHost: x\r\n\r\n", 400),
        (b"GET /metrics HTTP/1.1\r\nHost: x\r\nBad Name: y\r\n\r\n", 400),
        (b"GET /metrics HTTP/1.1\r\nHost: x\r\nA: b\r\n folded\r\n\r\n", 400),
        (b"GET /metrics HTTP/1.1\r\nHost: x\r\nA : b\r\n\r\n", 400),
        (b"POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501),
        (b"POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400),
        (b"POST /x HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
    ],
)
def test_malformed_heads_are_refused_and_closed(
    serve: Serve, request_bytes: bytes, status: int
) -> None:
    server, _ = serve()
    client = Client(server.port)
    client.send(request_bytes)
    answer = client.answer()
    assert answer.status == status
    assert answer.body.count(b"\n") == 1
    assert client.closed_by_server()


def test_absolute_form_and_leading_blank_lines(serve: Serve) -> None:
    server, _ = serve()
    client = Client(server.port)
    client.send(b"\r\nGET http://x/-/ready HTTP/1.1\r\nHost: x\r\n\r\n")
    assert client.answer().body == b"Ready\n"


def test_oversized_head_is_431(serve: Serve) -> None:
    server, _ = serve(Limits(max_header_bytes=2048))
    client = Client(server.port)
    client.send(b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 8192)
    answer = client.answer()
    assert answer.status == 431
    assert client.closed_by_server()
    assert server.stats.snapshot().refused["header_too_large"] == 1


def test_unknown_and_unsupported_methods(serve: Serve) -> None:
    server, backend = serve()
    client = Client(server.port)
    client.send(b"PUT /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
    answer = client.answer()
    assert (answer.status, answer.headers["allow"]) == (405, "GET, HEAD")
    client.send(b"BREW /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
    assert client.answer().status == 501
    client.send(b"DELETE /callbacks/live HTTP/1.1\r\nHost: x\r\n\r\n")
    answer = client.answer()
    assert (answer.status, answer.headers["allow"]) == (405, "POST")
    assert backend.rejections == ["bad_method"]


# --------------------------------------------------------------------------------------------
# Lifecycle and health


def test_reload_is_403_unless_lifecycle_is_enabled(serve: Serve) -> None:
    server, backend = serve(lifecycle=False)
    client = Client(server.port)
    client.send(post("/-/reload", b""))
    answer = client.answer()
    assert (answer.status, answer.body) == (403, b"Lifecycle API is not enabled.\n")
    client.send(get("/-/reload"))
    assert client.answer().status == 405  # GET is wrong either way
    assert backend.reloads == 0


def test_unhealthy_backend_is_503_with_a_reason(serve: Serve) -> None:
    server, backend = serve()
    backend.is_healthy = False
    client = Client(server.port)
    client.send(get("/-/healthy"))
    answer = client.answer()
    assert answer.status == 503
    assert answer.body.startswith(b"Not healthy: ") and answer.body.count(b"\n") == 1


# --------------------------------------------------------------------------------------------
# Timeouts, the connection cap, descriptor exhaustion


def test_read_header_timeout_closes_a_slowloris(serve: Serve) -> None:
    server, _ = serve(Limits(read_header_timeout=0.3, read_timeout=5))
    slow = Client(server.port)
    slow.send(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")  # and never the blank line
    assert slow.closed_by_server()
    assert server.stats.snapshot().closed["read_header_timeout"] == 1


def test_read_timeout_closes_a_slow_body(serve: Serve) -> None:
    server, backend = serve(Limits(read_header_timeout=0.3, read_timeout=0.5))
    slow = Client(server.port)
    slow.send(b"POST /callbacks/live HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
    assert slow.closed_by_server()
    assert server.stats.snapshot().closed["read_timeout"] == 1
    assert backend.callbacks == []


def test_idle_timeout_closes_a_kept_alive_connection(serve: Serve) -> None:
    server, _ = serve(Limits(idle_timeout=0.3))
    client = Client(server.port)
    client.send(get())
    assert client.answer().status == 200
    assert client.closed_by_server()
    assert server.stats.snapshot().closed["idle_timeout"] == 1


def test_write_timeout_drops_a_client_that_never_reads(serve: Serve) -> None:
    class Big(Backend):
        def metrics_chunks(self, openmetrics: bool, compressed: bool) -> list[bytes]:
            return [b"x" * (64 << 20)]

    server, _ = serve(Limits(write_timeout=0.5), backend=Big())
    client = Client(server.port)
    client.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    client.send(get())
    # Nothing is read here; the server gives up on its own and frees the connection.
    assert server.stats.wait_for(lambda s: s.closed["write_timeout"] == 1, timeout=10)
    assert server.stats.wait_for(lambda s: s.open_connections == 0, timeout=10)


def test_a_large_answer_of_mixed_chunks_arrives_whole_and_in_order(serve: Serve) -> None:
    # Small chunks are joined into large writes and big ones are written as they are: the
    # batch before a big chunk must go first, however much room the kernel has.
    chunks = [
        bytes([65 + n % 26]) * size
        for n, size in enumerate([300] * 40 + [WRITE_SLICE * 2] + [900] * 30 + [WRITE_SLICE])
    ]
    chunks += [b"%06d\n" % n for n in range(20_000)]

    class Mixed(Backend):
        def metrics_chunks(self, openmetrics: bool, compressed: bool) -> list[bytes]:
            return chunks

    server, _ = serve(backend=Mixed())
    client = Client(server.port)
    client.send(get())
    answer = client.answer()
    assert answer.status == 200
    assert answer.body == b"".join(chunks)


def test_long_jobs_are_asked_to_rest_while_a_request_is_answered(serve: Serve) -> None:
    seen: list[bool] = []

    class Watching(Backend):
        def metrics_chunks(self, openmetrics: bool, compressed: bool) -> list[bytes]:
            seen.append(courtesy.wanted())
            return [b"x 1\n"]

    server, _ = serve(backend=Watching())
    client = Client(server.port)
    client.send(get())
    assert client.answer().status == 200
    assert seen == [True]
    client.close()
    assert server.stats.wait_for(lambda s: s.open_connections == 0, timeout=10)
    assert not courtesy.wanted()  # the exchange is over: no rest asked for any more


def test_the_room_is_the_kernels_free_send_buffer_and_none_for_a_client_that_does_not_read() -> (
    None
):
    listener = socket.create_server(("127.0.0.1", 0))
    reader = socket.create_connection(listener.getsockname())
    sender, _ = listener.accept()
    listener.close()
    sender.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 256 * 1024)
    reader.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    buffered = [0]

    class Transport:
        def get_write_buffer_size(self) -> int:
            return buffered[0]

        def get_extra_info(self, name: str) -> socket.socket:
            assert name == "socket"
            return sender

    class Conn:
        transport = Transport()
        tls = False

    outflow = Outflow(Conn())  # type: ignore[arg-type]
    try:
        size = sender.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF)
        assert outflow.room() == size // 2  # nothing queued yet
        buffered[0] = 1  # the transport holds bytes already: the client is behind
        assert outflow.room() == 0
        buffered[0] = 0
        sender.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            while True:
                sender.send(b"x" * 65536)  # never read: the kernel's queue fills
        assert outflow.room() < WRITE_SLICE // 4
        Conn.tls = True
        assert outflow.room() == 0
    finally:
        sender.close()
        reader.close()


def test_over_the_cap_the_quietest_connection_makes_room(serve: Serve) -> None:
    server, _ = serve(Limits(max_connections=3))
    idle = [Client(server.port) for _ in range(3)]
    for client in idle:
        client.send(get())
        assert client.answer().status == 200
    fresh = Client(server.port)
    fresh.send(get("/-/ready"))
    assert fresh.answer().body == b"Ready\n"
    assert idle[0].closed_by_server()  # the one quiet longest
    assert server.stats.snapshot().closed["evicted"] == 1
    idle[2].send(get("/-/healthy"))
    assert idle[2].answer().status == 200  # the others were left alone


class FailingAccepts:
    """The listening socket, with accept() failing as if the process were out of descriptors."""

    def __init__(self, sock: socket.socket, failures: int) -> None:
        self._sock = sock
        self.failures = failures
        self.calls = 0
        self.lock = threading.Lock()

    def accept(self) -> tuple[socket.socket, object]:
        with self.lock:
            self.calls += 1
            if self.failures > 0:
                self.failures -= 1
                raise OSError(errno.EMFILE, "Too many open files")
        return self._sock.accept()

    def __getattr__(self, name: str) -> object:
        return getattr(self._sock, name)


def test_descriptor_exhaustion_backs_off_logs_once_and_counts(
    serve: Serve, caplog: pytest.LogCaptureFixture
) -> None:
    server, _ = serve()
    failing = FailingAccepts(server._sock, failures=4)
    server._sock = failing  # type: ignore[assignment]
    client = Client(server.port)
    client.send(get())
    # Served once accept() works again: after back-offs of 0.05, 0.1, 0.2 and 0.4 s.
    assert client.answer().status == 200
    snapshot = server.stats.snapshot()
    assert snapshot.fd_exhausted == 4
    # No busy loop: one accept() per back-off step, not thousands while the socket is readable.
    assert failing.calls <= 6
    warnings = [r for r in caplog.records if "out of file descriptors" in r.getMessage()]
    assert len(warnings) == 1
