"""TLS and basic auth end to end: a throwaway CA, server and client certificates, a real server.

The certificates are made here with `cryptography` (EC P-256, valid for a day) and never leave
the test's temporary directory.
"""

from __future__ import annotations

import base64
import datetime
import http.client
import ipaddress
import logging
import socket
import ssl
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import bcrypt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from exporter.web import Limits, WebConfig, WebServer, load_web_config, parse_web_config
from tests import fakes

# --------------------------------------------------------------------------------------------
# A throwaway PKI


@dataclass
class Issued:
    cert: Path
    key: Path


@dataclass
class Pki:
    dir: Path
    ca: Issued
    server: Issued
    client: Issued
    # A client certificate from the same CA whose SAN is not in any allow list.
    other_client: Issued
    # A client certificate from a CA the server does not know.
    rogue_client: Issued


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write(path: Path, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> Issued:
    cert_path, key_path = path.with_suffix(".crt"), path.with_suffix(".key")
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return Issued(cert_path, key_path)


def _ca(
    path: Path, common_name: str
) -> tuple[Issued, x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return _write(path, cert, key), cert, key


def _leaf(
    path: Path,
    common_name: str,
    sans: list[x509.GeneralName],
    usage: x509.ObjectIdentifier,
    ca_cert: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
) -> Issued:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    return _write(path, cert, key)


def make_pki(directory: Path) -> Pki:
    """A CA, a server certificate for localhost/127.0.0.1 and client certificates."""
    directory.mkdir(parents=True, exist_ok=True)
    ca, ca_cert, ca_key = _ca(directory / "ca", "test CA")
    server = _leaf(
        directory / "server",
        "localhost",
        [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))],
        ExtendedKeyUsageOID.SERVER_AUTH,
        ca_cert,
        ca_key,
    )
    client = _leaf(
        directory / "client",
        "prometheus",
        [x509.DNSName("prometheus.example"), x509.RFC822Name("scraper@example.com")],
        ExtendedKeyUsageOID.CLIENT_AUTH,
        ca_cert,
        ca_key,
    )
    other = _leaf(
        directory / "other-client",
        "someone",
        [x509.DNSName("someone.example")],
        ExtendedKeyUsageOID.CLIENT_AUTH,
        ca_cert,
        ca_key,
    )
    _, rogue_cert, rogue_key = _ca(directory / "rogue-ca", "rogue CA")
    rogue = _leaf(
        directory / "rogue-client",
        "prometheus",
        [x509.DNSName("prometheus.example")],
        ExtendedKeyUsageOID.CLIENT_AUTH,
        rogue_cert,
        rogue_key,
    )
    return Pki(directory, ca, server, client, other, rogue)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


# --------------------------------------------------------------------------------------------
# Server and clients

USER, PASSWORD = "prometheus", "correct horse battery staple"
# Cost 4: the cheapest bcrypt, so that the tests do not wait on it.
HASH = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()


class FakeBackend(fakes.FakeBackend):
    pass


Serve = Callable[..., WebServer]


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Serve]:
    """Start a WebServer on a free loopback port with a web config given as YAML."""
    servers: list[WebServer] = []

    def start(yaml_text: str, limits: Limits | None = None) -> WebServer:
        path = tmp_path / f"web-{len(servers)}.yml"
        path.write_text(yaml_text)
        config = parse_web_config(yaml_text, str(path), str(tmp_path))
        server = WebServer("127.0.0.1:0", FakeBackend(), config, limits=limits)
        server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def client_context(
    pki: Pki, cert: Issued | None = None, tls_version: ssl.TLSVersion | None = None
) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(pki.ca.cert))
    if cert is not None:
        ctx.load_cert_chain(str(cert.cert), str(cert.key))
    if tls_version is not None:
        ctx.minimum_version = ctx.maximum_version = tls_version
    return ctx


@dataclass
class Reply:
    status: int
    headers: http.client.HTTPMessage
    body: bytes


def request(
    server: WebServer,
    path: str = "/metrics",
    auth: str | None = None,
    ctx: ssl.SSLContext | None = None,
    method: str = "GET",
) -> Reply:
    conn: http.client.HTTPConnection
    if ctx is None:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    else:
        conn = http.client.HTTPSConnection("127.0.0.1", server.port, timeout=10, context=ctx)
    try:
        conn.request(method, path, headers={"Authorization": auth} if auth else {})
        res = conn.getresponse()
        return Reply(res.status, res.headers, res.read())
    finally:
        conn.close()


def tls_config(pki: Pki, extra: str = "") -> str:
    return (
        "tls_server_config:\n"
        f"  cert_file: {pki.server.cert}\n"
        f"  key_file: {pki.server.key}\n" + extra
    )


REQUIRE_CLIENT_CERT = """\
  client_auth_type: RequireAndVerifyClientCert
  client_ca_file: {ca}
"""

HEADERS = """\
http_server_config:
  headers:
    X-Frame-Options: deny
    X-Content-Type-Options: nosniff
    Strict-Transport-Security: max-age=31536000
"""


# --------------------------------------------------------------------------------------------
# Basic auth


def test_basic_auth_on_plain_http(serve: Serve) -> None:
    server = serve(f"basic_auth_users:\n  {USER}: {HASH}\n" + HEADERS)
    good = request(server, auth=basic(USER, PASSWORD))
    assert (good.status, good.body) == (200, b"up 1\n")
    assert good.headers["X-Frame-Options"] == "deny"

    for auth in (
        None,
        basic(USER, "wrong"),
        basic("someone-else", PASSWORD),
        basic(USER, PASSWORD + " "),
        "Bearer abc",
        "Basic !!!notbase64",
    ):
        for path in ("/metrics", "/", "/-/healthy", "/-/ready", "/nope"):
            res = request(server, path, auth=auth)
            assert res.status == 401, (auth, path)
            assert res.body == b"Unauthorized\n"
            assert res.headers["WWW-Authenticate"] == "Basic"
            assert res.headers["X-Content-Type-Options"] == "nosniff"
    head = request(server, "/metrics", method="HEAD")
    assert (head.status, head.body) == (401, b"")
    post = request(server, "/-/reload", method="POST")
    assert post.status == 401


def test_callback_path_needs_no_basic_auth(serve: Serve) -> None:
    server = serve(f"basic_auth_users:\n  {USER}: {HASH}\n")
    # Never 401: CSS cannot send credentials (GET is 405, a POST reaches the receiver).
    for method in ("GET", "POST"):
        for path in ("/callbacks/live", "/callbacks/live?t=1&sign=x"):
            assert request(server, path, method=method).status != 401, (method, path)
    # Only that exact path: nothing reaches another route through it.
    for path in (
        "/callbacks/live/../metrics",
        "/callbacks/live/",
        "/callbacks/liveX",
        "/callbacks",
    ):
        assert request(server, path).status == 401, path


def test_no_web_config_changes_nothing(serve: Serve) -> None:
    server = serve("")
    res = request(server)
    assert (res.status, res.body) == (200, b"up 1\n")
    assert "WWW-Authenticate" not in res.headers
    assert "X-Frame-Options" not in res.headers


# --------------------------------------------------------------------------------------------
# TLS


def test_tls_with_client_certificates_and_basic_auth(serve: Serve, pki: Pki) -> None:
    server = serve(
        tls_config(pki, REQUIRE_CLIENT_CERT.format(ca=pki.ca.cert))
        + HEADERS
        + f"basic_auth_users:\n  {USER}: {HASH}\n"
    )
    assert server.scheme == "https"
    good = client_context(pki, pki.client)
    res = request(server, auth=basic(USER, PASSWORD), ctx=good)
    assert (res.status, res.body) == (200, b"up 1\n")
    assert res.headers["Strict-Transport-Security"] == "max-age=31536000"

    bad_password = request(server, auth=basic(USER, "nope"), ctx=good)
    assert (bad_password.status, bad_password.body) == (401, b"Unauthorized\n")
    # The callback receiver skips basic auth, not TLS.
    assert request(server, "/callbacks/live", ctx=good).status == 405

    for ctx in (client_context(pki), client_context(pki, pki.rogue_client)):
        # TLS 1.3 reports a refused client certificate after the client's handshake ends, so
        # the failure may come on the request or on the answer.
        with pytest.raises((ssl.SSLError, ConnectionError, http.client.RemoteDisconnected)):
            request(server, auth=basic(USER, PASSWORD), ctx=ctx)
    # The server is still there.
    assert request(server, auth=basic(USER, PASSWORD), ctx=good).status == 200


def test_client_allowed_sans(serve: Serve, pki: Pki) -> None:
    server = serve(
        tls_config(pki, REQUIRE_CLIENT_CERT.format(ca=pki.ca.cert))
        + "  client_allowed_sans: [scraper@example.com, other.example]\n"
    )
    assert request(server, ctx=client_context(pki, pki.client)).status == 200
    with pytest.raises((ssl.SSLError, ConnectionError, http.client.RemoteDisconnected)):
        request(server, ctx=client_context(pki, pki.other_client))
    assert request(server, ctx=client_context(pki, pki.client)).status == 200


def test_verify_client_cert_if_given(serve: Serve, pki: Pki) -> None:
    server = serve(
        tls_config(
            pki, f"  client_auth_type: VerifyClientCertIfGiven\n  client_ca_file: {pki.ca.cert}\n"
        )
    )
    assert request(server, ctx=client_context(pki)).status == 200
    assert request(server, ctx=client_context(pki, pki.client)).status == 200
    with pytest.raises((ssl.SSLError, ConnectionError, http.client.RemoteDisconnected)):
        request(server, ctx=client_context(pki, pki.rogue_client))


def test_relative_paths_and_inline_pem(serve: Serve, pki: Pki) -> None:
    # Relative to the web config file's directory, as in the toolkit.
    server = serve(tls_config(pki).replace(str(pki.dir) + "/", "../" + pki.dir.name + "/"))
    assert request(server, ctx=client_context(pki)).status == 200
    indent = "\n    "
    inline = (
        "tls_server_config:\n  cert: |"
        + indent
        + indent.join(pki.server.cert.read_text().splitlines())
        + "\n  key: |"
        + indent
        + indent.join(pki.server.key.read_text().splitlines())
        + "\n"
    )
    server = serve(inline)
    assert request(server, ctx=client_context(pki)).status == 200


def _raw_exchange(port: int, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(data)
        chunks = []
        try:
            while chunk := sock.recv(4096):
                chunks.append(chunk)
        except ConnectionError:
            pass
        return b"".join(chunks)


def test_plain_http_to_tls_port_fails_cleanly(
    serve: Serve, pki: Pki, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG, logger="exporter.web")
    server = serve(tls_config(pki))
    answer = _raw_exchange(server.port, b"GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n")
    # Either the connection is just closed, or it says why; never a page, never a hang.
    assert answer == b"" or answer.startswith(b"HTTP/1.0 400 Bad Request\r\n"), answer
    assert b"up 1" not in answer
    # Garbage that is not even HTTP: closed without a word.
    assert _raw_exchange(server.port, b"\x00\x01\x02\x03" * 8) == b""
    # http.client sees a clean failure or the 400, not a hang.
    try:
        res = request(server)
        assert res.status == 400
    except (ConnectionError, http.client.HTTPException):
        pass
    assert request(server, ctx=client_context(pki)).status == 200
    assert any("TLS port" in r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG)
    out, err = capfd.readouterr()
    assert "Traceback" not in out + err


def _tls11_handshake(port: int, pki: Pki) -> str:
    """The TLS version a TLS 1.1-only client gets, or raises ssl.SSLError."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # TLSVersion.TLSv1_1 is
        old = client_context(pki, tls_version=ssl.TLSVersion.TLSv1_1)
    # OpenSSL 3 refuses TLS 1.1 below security level 0, on the client too: lower it so that the
    # client really offers TLS 1.1 and the server is the one to decide.
    old.set_ciphers("DEFAULT:@SECLEVEL=0")
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        old.wrap_socket(raw, server_hostname="localhost") as conn,
    ):
        return str(conn.version())


def test_tls11_refused_when_min_version_is_tls12(serve: Serve, pki: Pki) -> None:
    refusing = serve(tls_config(pki, "  min_version: TLS12\n"))
    with pytest.raises(ssl.SSLError) as refused:
        _tls11_handshake(refusing.port, pki)
    # "protocol version": the server's alert on seeing TLS 1.1; "no protocols available" would
    # mean this client's OpenSSL cannot even offer it. Either way no TLS 1.1 session.
    assert any(
        reason in str(refused.value) for reason in ("PROTOCOL_VERSION", "NO_PROTOCOLS_AVAILABLE")
    ), refused.value
    assert (
        request(refusing, ctx=client_context(pki, tls_version=ssl.TLSVersion.TLSv1_2)).status == 200
    )
    assert (
        request(refusing, ctx=client_context(pki, tls_version=ssl.TLSVersion.TLSv1_3)).status == 200
    )

    # The control: it is min_version that refuses, since TLS11 lets the same client in.
    accepting = serve(tls_config(pki, "  min_version: TLS11\n"))
    try:
        version = _tls11_handshake(accepting.port, pki)
    except ssl.SSLError as exc:
        if "NO_PROTOCOLS_AVAILABLE" in str(exc):
            pytest.skip("this OpenSSL cannot offer TLS 1.1 at all")
        raise
    assert version == "TLSv1.1"


def test_tls13_only(serve: Serve, pki: Pki) -> None:
    server = serve(tls_config(pki, "  min_version: TLS13\n"))
    with pytest.raises((ssl.SSLError, ConnectionError)):
        request(server, ctx=client_context(pki, tls_version=ssl.TLSVersion.TLSv1_2))
    assert (
        request(server, ctx=client_context(pki, tls_version=ssl.TLSVersion.TLSv1_3)).status == 200
    )


def test_stalled_handshake_blocks_nobody(serve: Serve, pki: Pki) -> None:
    server = serve(tls_config(pki), Limits(tls_handshake_timeout=3.0))
    stalled = [socket.create_connection(("127.0.0.1", server.port), timeout=10) for _ in range(3)]
    try:
        # The accept loop is free: a real client is served while the others say nothing, and
        # they are still open then (served before, not after, their timeout dropped them).
        assert request(server, ctx=client_context(pki)).status == 200
        for sock in stalled:
            sock.setblocking(False)
            with pytest.raises(BlockingIOError):
                sock.recv(1)
            sock.setblocking(True)
        # And the silent ones are dropped after the handshake timeout.
        for sock in stalled:
            assert sock.recv(1) == b""
    finally:
        for sock in stalled:
            sock.close()


def test_bad_certificate_is_reported_before_binding(pki: Pki, tmp_path: Path) -> None:
    other_key = make_pki(tmp_path / "other").server.key
    config = WebConfig.model_validate(
        {"tls_server_config": {"cert_file": str(pki.server.cert), "key_file": str(other_key)}}
    )
    with pytest.raises(Exception, match="private key does not match the certificate"):
        WebServer("127.0.0.1:0", FakeBackend(), config)


# --------------------------------------------------------------------------------------------
# Reloading the web config


def _der(path: Path) -> bytes:
    return ssl.PEM_cert_to_DER_cert(path.read_text())


def _reloaded_ok(server: WebServer) -> None:
    """Wait for the watcher's next successful reload (a failed one mid-rotation is allowed)."""
    for _ in range(3):
        generation = server.reload_generation
        assert server.wait_reloaded(generation + 1, timeout=10)
        if server.stats.snapshot().config_reload_ok:
            return
    raise AssertionError("the web config was not reloaded")


def test_certificate_rotated_on_disk_without_a_restart(pki: Pki, tmp_path: Path) -> None:
    cert, key = tmp_path / "tls.crt", tmp_path / "tls.key"
    cert.write_bytes(pki.server.cert.read_bytes())
    key.write_bytes(pki.server.key.read_bytes())
    path = tmp_path / "web.yml"
    path.write_text(f"tls_server_config:\n  cert_file: {cert}\n  key_file: {key}\n")
    server = WebServer("127.0.0.1:0", FakeBackend(), load_web_config(path), watch_interval=0.05)
    server.start()
    try:
        new = make_pki(tmp_path / "new")
        ctx = client_context(pki)
        ctx.load_verify_locations(str(new.ca.cert))
        old = http.client.HTTPSConnection("127.0.0.1", server.port, timeout=10, context=ctx)
        old.request("GET", "/metrics")
        assert old.getresponse().read() == b"up 1\n"
        assert old.sock is not None
        assert old.sock.getpeercert(binary_form=True) == _der(pki.server.cert)

        cert.write_bytes(new.server.cert.read_bytes())
        key.write_bytes(new.server.key.read_bytes())
        _reloaded_ok(server)

        fresh = http.client.HTTPSConnection("127.0.0.1", server.port, timeout=10, context=ctx)
        fresh.request("GET", "/metrics")
        assert fresh.getresponse().read() == b"up 1\n"
        assert fresh.sock is not None
        assert fresh.sock.getpeercert(binary_form=True) == _der(new.server.cert)
        # The established connection was kept, with the certificate it started with.
        old.request("GET", "/-/ready")
        assert old.getresponse().read() == b"Ready\n"
        assert old.sock.getpeercert(binary_form=True) == _der(pki.server.cert)
        old.close()
        fresh.close()
    finally:
        server.stop()


def test_bad_new_web_config_is_kept_out_and_counted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "web.yml"
    path.write_text(f"basic_auth_users:\n  {USER}: {HASH}\n")
    server = WebServer("127.0.0.1:0", FakeBackend(), load_web_config(path), watch_interval=60)
    server.start()
    try:
        assert request(server, auth=basic(USER, PASSWORD)).status == 200
        path.write_text(f"basic_auth_users:\n  {USER}: hunter2-not-a-hash\n")
        ok, message = server.reload_config()
        assert not ok
        assert message.startswith(f"web config {path}: basic_auth_users.{USER}: not a bcrypt")
        assert "hunter2" not in message + caplog.text
        assert server.reload_failures == 1
        samples = {
            m.name: m.samples[0].value for m in server.collector().collect() if len(m.samples) == 1
        }
        assert samples["tencent_live_exporter_web_config_last_reload_successful"] == 0
        assert samples["tencent_live_exporter_web_config_reload_failures"] == 1
        # The old users still hold.
        assert request(server, auth=basic(USER, PASSWORD)).status == 200
        assert request(server).status == 401

        new_hash = bcrypt.hashpw(b"new password", bcrypt.gensalt(4)).decode()
        path.write_text(f"basic_auth_users:\n  {USER}: {new_hash}\n")
        assert server.reload_config() == (True, "web config reloaded")
        assert request(server, auth=basic(USER, PASSWORD)).status == 401
        assert request(server, auth=basic(USER, "new password")).status == 200
    finally:
        server.stop()


def test_tls_cannot_be_switched_off_by_a_reload(pki: Pki, tmp_path: Path) -> None:
    path = tmp_path / "web.yml"
    path.write_text(tls_config(pki))
    server = WebServer("127.0.0.1:0", FakeBackend(), load_web_config(path))
    server.start()
    try:
        path.write_text("")
        ok, message = server.reload_config()
        assert not ok and "TLS cannot be turned off without a restart" in message
        assert request(server, ctx=client_context(pki)).status == 200
    finally:
        server.stop()
