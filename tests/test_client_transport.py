"""The client's transport with real sockets on loopback: one deadline per whole call, and each
way of not reaching the API as its own error code with a one-line message naming the endpoint.

Each test starts the misbehaving peer it needs (a closed port, a TLS endpoint with a self-signed
certificate, a port that never accepts, a server that resets, one that trickles its answer);
the official SDK under ``CssClient`` makes the calls.
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from exporter.client import EMPTY_PAGE, ClientSettings, CssClient, classify
from exporter.model import ApiError, ErrorClass, StreamKey, StreamState

SECRET_ID = "AKIDtransport000000000000000000000000"
SECRET_KEY = "transport-secret-key-never-shown-4f2a"
KEY = StreamKey("t", "push.example.com", "live", "s1")
GOOD = (
    b'{"Response": {"StreamState": "active", "RequestId": "6a7f1a3e-0000-4000-8000-000000000001"}}'
)

Call = tuple[str, float, "ApiError | None"]


def client(
    host: str, timeout: float, scheme: str = "http", calls: list[Call] | None = None
) -> CssClient:
    settings = ClientSettings("t", host, scheme, timeout, SECRET_ID, SECRET_KEY)
    hook = None if calls is None else (lambda a, s, e: calls.append((a, s, e)))
    return CssClient(settings, on_call=hook)


def assert_transport_error(result: object, code: str, endpoint: str, *words: str) -> ApiError:
    assert isinstance(result, ApiError), result
    assert result.code == code, (result.code, result.message)
    assert result.error_class is ErrorClass.TRANSPORT is classify(code)
    message = result.message
    assert message.startswith(endpoint + ": "), message
    for word in words:
        assert word in message, message
    assert "\n" not in message and len(message) <= 300
    assert all(ch.isprintable() for ch in message), message
    assert SECRET_KEY not in message and "Traceback" not in message
    return result


def http_answer(body: bytes, status: str = "200 OK") -> bytes:
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def read_request(conn: socket.socket) -> bytes:
    """One request (headers and a Content-Length body) off ``conn``."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            break
        body += chunk
    return head


class Peer:
    """A loopback TCP server that runs ``serve(conn)`` for every connection, in a thread."""

    def __init__(
        self, serve: Callable[[socket.socket], None], wrap: ssl.SSLContext | None = None
    ) -> None:
        self._serve = serve
        self._wrap = wrap
        self.stop = threading.Event()
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.host = f"127.0.0.1:{self.listener.getsockname()[1]}"
        self.connections = 0
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError), conn:
            if self._wrap is not None:
                conn = self._wrap.wrap_socket(conn, server_side=True)
            self._serve(conn)

    def close(self) -> None:
        self.stop.set()
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()
        self._thread.join(5)


@pytest.fixture
def peers() -> Iterator[Callable[..., Peer]]:
    made: list[Peer] = []

    def make(serve: Callable[[socket.socket], None], wrap: ssl.SSLContext | None = None) -> Peer:
        peer = Peer(serve, wrap)
        made.append(peer)
        return peer

    yield make
    for peer in made:
        peer.close()


def answer_good(conn: socket.socket) -> None:
    while read_request(conn):
        conn.sendall(http_answer(GOOD))


# --- each transport cause ----------------------------------------------------------------------


def test_closed_port_is_connection_refused() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        host = f"127.0.0.1:{s.getsockname()[1]}"
    # Closed now: nothing listens there.
    result = client(host, 5).stream_state(KEY)
    assert_transport_error(result, "ConnectionRefused", f"http://{host}", "connection refused")


def test_unresolvable_name_is_dns_failure() -> None:
    host = "css-api.example.invalid"  # RFC 6761: never resolves; no network needed to say so
    result = client(host, 5, scheme="https").stream_state(KEY)
    assert_transport_error(result, "DNSFailure", f"https://{host}", "DNS lookup failed")


def self_signed(directory: Path) -> ssl.SSLContext:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "self.crt", directory / "self.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    return context


def test_self_signed_certificate_is_tls_error(tmp_path: Path, peers: Callable[..., Peer]) -> None:
    peer = peers(answer_good, wrap=self_signed(tmp_path))
    result = client(peer.host, 5, scheme="https").stream_state(KEY)
    assert_transport_error(
        result, "TLSError", f"https://{peer.host}", "TLS failure", "certificate verify failed"
    )


def test_plain_http_on_a_tls_endpoint_is_tls_error(peers: Callable[..., Peer]) -> None:
    def plain(conn: socket.socket) -> None:
        conn.sendall(http_answer(GOOD))  # at once: the client's TLS handshake reads HTTP

    peer = peers(plain)
    result = client(peer.host, 5, scheme="https").stream_state(KEY)
    assert_transport_error(result, "TLSError", f"https://{peer.host}", "TLS failure")


def test_port_that_accepts_but_never_answers_is_a_timeout_at_the_deadline() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)  # the kernel completes the handshake; nobody reads or answers
    host = f"127.0.0.1:{listener.getsockname()[1]}"
    try:
        calls: list[Call] = []
        started = time.monotonic()
        result = client(host, 0.5, calls=calls).stream_state(KEY)
        elapsed = time.monotonic() - started
        assert_transport_error(result, "Timeout", f"http://{host}", "within the timeout")
        assert elapsed >= 0.5
        assert len(calls) == 1 and calls[0][2] is result and calls[0][1] >= 0.5
    finally:
        listener.close()


def test_port_whose_queue_is_full_is_a_connect_timeout() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)  # room for one connection, which the filler takes: SYNs are dropped
    host = f"127.0.0.1:{listener.getsockname()[1]}"
    filler = socket.create_connection(listener.getsockname(), timeout=5)
    try:
        started = time.monotonic()
        result = client(host, 0.5).stream_state(KEY)
        assert_transport_error(result, "Timeout", f"http://{host}", "within the timeout")
        assert time.monotonic() - started >= 0.5
    finally:
        filler.close()
        listener.close()


def test_reset_by_the_peer_is_connection_reset(peers: Callable[..., Peer]) -> None:
    def reset(conn: socket.socket) -> None:
        read_request(conn)
        # Linger 0: close sends RST instead of FIN.
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    peer = peers(reset)
    result = client(peer.host, 5).stream_state(KEY)
    assert_transport_error(result, "ConnectionReset", f"http://{peer.host}")


def test_closed_before_answering_is_connection_reset(peers: Callable[..., Peer]) -> None:
    peer = peers(read_request)  # reads the request, then closes without a word
    result = client(peer.host, 5).stream_state(KEY)
    assert_transport_error(result, "ConnectionReset", f"http://{peer.host}")


def test_answer_cut_off_mid_body_is_connection_reset(peers: Callable[..., Peer]) -> None:
    def cut(conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(http_answer(GOOD)[:-20])

    peer = peers(cut)
    result = client(peer.host, 5).stream_state(KEY)
    assert_transport_error(result, "ConnectionReset", f"http://{peer.host}")


# --- the deadline ------------------------------------------------------------------------------


def trickler(start_at: int, interval: float) -> Callable[[socket.socket], None]:
    """Answers GOOD, the first ``start_at`` bytes at once and then one byte per ``interval``."""

    def serve(conn: socket.socket) -> None:
        read_request(conn)
        data = http_answer(GOOD)
        conn.sendall(data[:start_at])
        for i in range(start_at, len(data)):
            time.sleep(interval)
            conn.sendall(data[i : i + 1])

    return serve


@pytest.mark.parametrize(
    "start_at",
    [pytest.param(0, id="status-line"), pytest.param(len(http_answer(GOOD)) - 40, id="body")],
)
def test_trickling_answer_is_a_timeout_at_the_deadline(
    peers: Callable[..., Peer], start_at: int
) -> None:
    # Each byte comes well within any per-read timeout; the whole would take over 20 s.
    peer = peers(trickler(start_at, 0.15))
    calls: list[Call] = []
    started = time.monotonic()
    result = client(peer.host, 1.0, calls=calls).stream_state(KEY)
    elapsed = time.monotonic() - started
    assert_transport_error(result, "Timeout", f"http://{peer.host}", "within the timeout")
    # At the deadline, not when the answer would have been complete: the slack is for a loaded
    # machine, far below the 6 s the last 40 bytes alone would take.
    assert 1.0 <= elapsed < 4.0, elapsed
    assert calls[0][2] is result


def test_slow_answer_within_the_deadline_succeeds(peers: Callable[..., Peer]) -> None:
    peer = peers(trickler(len(http_answer(GOOD)) - 5, 0.05))
    assert client(peer.host, 10.0).stream_state(KEY) is StreamState.ACTIVE


def test_deadline_applies_per_call_on_a_kept_alive_connection(peers: Callable[..., Peer]) -> None:
    """Many quick calls on one connection add up to more than the timeout: each has its own."""
    peer = peers(answer_good)
    c = client(peer.host, 1.0)
    started = time.monotonic()
    while time.monotonic() - started < 2.2:
        assert c.stream_state(KEY) is StreamState.ACTIVE
    assert peer.connections == 1


def test_a_timed_out_connection_is_not_reused(peers: Callable[..., Peer]) -> None:
    first = threading.Event()

    def serve(conn: socket.socket) -> None:
        if not first.is_set():
            first.set()
            trickler(0, 0.2)(conn)
        else:
            answer_good(conn)

    peer = peers(serve)
    c = client(peer.host, 0.5)
    assert isinstance(c.stream_state(KEY), ApiError)
    assert c.stream_state(KEY) is StreamState.ACTIVE
    assert peer.connections == 2


# --- HTTP statuses -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code", "cls"),
    [
        ("429 Too Many Requests", "HTTPError.429", ErrorClass.THROTTLED),
        ("503 Service Unavailable", "HTTPError.503", ErrorClass.THROTTLED),
        ("502 Bad Gateway", "HTTPError", ErrorClass.TRANSPORT),
        ("404 Not Found", "HTTPError", ErrorClass.TRANSPORT),
    ],
)
def test_http_status_codes(
    peers: Callable[..., Peer], status: str, code: str, cls: ErrorClass
) -> None:
    def serve(conn: socket.socket) -> None:
        while read_request(conn):
            conn.sendall(http_answer(b"<html>busy \x01\x02</html>", status))

    peer = peers(serve)
    result = client(peer.host, 5).online_page("push.example.com", "live", 1, 100)
    assert isinstance(result, ApiError)
    assert (result.code, result.error_class) == (code, cls)
    number = status.split()[0]
    assert result.message == f"non-200 HTTP answer: {status} from http://{peer.host}"
    assert number in result.message and "busy" not in result.message


# --- the environment ---------------------------------------------------------------------------


def test_proxy_from_the_environment_is_read_once_at_start(
    peers: Callable[..., Peer], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The SDK reads HTTP_PROXY when the client is made and passes it with every request;
    requests itself no longer looks at the environment per call (trust_env off)."""
    seen: list[bytes] = []

    def proxy(conn: socket.socket) -> None:
        while head := read_request(conn):
            seen.append(head.split(b"\r\n", 1)[0])
            conn.sendall(http_answer(GOOD))

    via = peers(proxy)
    for name in ("HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy", "HTTPS_PROXY", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", f"http://{via.host}")
    target = "css-api.example.invalid:8080"  # only the proxy can reach it
    proxied = client(target, 5)
    assert proxied.stream_state(KEY) is StreamState.ACTIVE
    assert seen == [f"POST http://{target}/ HTTP/1.1".encode()]

    # Set after a client's start, the variable changes nothing for that client's thread.
    direct = peers(answer_good)
    plain = client(direct.host, 5)
    monkeypatch.delenv("HTTP_PROXY")
    assert plain.stream_state(KEY) is StreamState.ACTIVE  # made (and read the env) now
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # discard port: would fail
    assert plain.stream_state(KEY) is StreamState.ACTIVE
    assert len(seen) == 1


def test_every_action_goes_through_the_deadline_adapter(peers: Callable[..., Peer]) -> None:
    peer = peers(trickler(0, 0.2))
    c = client(peer.host, 0.4)
    for result in (
        c.stream_state(KEY),
        c.online_page("push.example.com", "live", 1, 100),
        c.push_page("push.example.com", "live", 1, 100),
        c.forbid_page(1, 100),
    ):
        assert isinstance(result, ApiError) and result.code == "Timeout"


# --- the send gate -----------------------------------------------------------------------------


def test_send_limits_keep_every_second_of_arrivals_within_the_budget(
    peers: Callable[..., Peer],
) -> None:
    """Three threads share one client with a State budget of 5/s and no pacer in front: the
    requests reach the server at most 5 in any second, however they bunch."""
    arrivals: list[float] = []
    lock = threading.Lock()

    def serve(conn: socket.socket) -> None:
        while read_request(conn):
            with lock:
                arrivals.append(time.monotonic())
            conn.sendall(http_answer(GOOD))

    peer = peers(serve)
    limits = (("DescribeLiveStreamState", 5.0),)
    settings = ClientSettings("t", peer.host, "http", 5.0, SECRET_ID, SECRET_KEY, None, limits)
    c = CssClient(settings)
    results: list[object] = []
    warm = threading.Barrier(3)

    def burst() -> None:
        # One call to open this thread's connection, then all at once: arrivals are then
        # timed on kept-alive connections, as in steady polling.
        results.append(c.forbid_page(1, 10))  # an action without a gate
        warm.wait(10)
        for _ in range(4):
            results.append(c.stream_state(KEY))

    threads = [threading.Thread(target=burst) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert results.count(StreamState.ACTIVE) == 12
    gated = sorted(arrivals)[3:]  # after the three ungated warm-up calls
    # Within 50 ms of a whole second the server's own timing decides (the gate lets a send out
    # exactly one second after the one it replaces); ungated, all 12 arrive within milliseconds.
    busiest, j = 0, 0
    for i, t in enumerate(gated):
        while gated[j] <= t - 0.95:
            j += 1
        busiest = max(busiest, i - j + 1)
    assert busiest <= 5
    # 12 calls at 5 a second: 5 at once, 5 a second later, 2 a second after that (less the
    # same 50 ms: the first arrival may come later after its send than the last one does).
    assert gated[-1] - gated[0] >= 1.95


NOTHING_LIVE_ANSWER = (
    b'{"Response": {"Error": {"Code": "FailedOperation.HasNotLivingStream", "Message": "none"},'
    b' "RequestId": "6a7f1a3e-0000-4000-8000-000000000002"}}'
)


def test_nothing_live_is_an_empty_page_of_either_list(peers: Callable[..., Peer]) -> None:
    # PushInfoList answers it when nothing is online (css-api-facts.md); OnlineList reads it the
    # same way should it ever come, rather than turning a whole domain unknown.
    def serve(conn: socket.socket) -> None:
        while read_request(conn):
            conn.sendall(http_answer(NOTHING_LIVE_ANSWER))

    peer = peers(serve)
    c = client(peer.host, 5)
    for result in (
        c.online_page("push.example.com", "live", 1, 100),
        c.push_page("push.example.com", "live", 1, 100),
    ):
        assert result == EMPTY_PAGE
