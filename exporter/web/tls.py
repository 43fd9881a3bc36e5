"""The TLS side of the web config: the server SSLContext factory and the client-certificate checks.

Every name a web config may use for a TLS version, a cipher suite or a curve is here, as Go's
crypto/tls (and so the exporter-toolkit) spells it, with what OpenSSL calls it.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
import re
import ssl
import tempfile
import warnings
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from exporter.web.errors import Loc, WebConfigError, problem_line

if TYPE_CHECKING:
    from exporter.web.schema import TLSServerConfig, WebConfig

__all__ = [
    "CERT_REQUIRED",
    "CIPHER_SUITES",
    "CLIENT_AUTH_ALIASES",
    "CLIENT_AUTH_TYPES",
    "CURVES",
    "NEEDS_CLIENT_CA",
    "TLS_VERSIONS",
    "client_cert_allowed",
    "server_context",
]

log = logging.getLogger(__name__)

TLS_VERSIONS: dict[str, ssl.TLSVersion] = {
    "TLS10": ssl.TLSVersion.TLSv1,
    "TLS11": ssl.TLSVersion.TLSv1_1,
    "TLS12": ssl.TLSVersion.TLSv1_2,
    "TLS13": ssl.TLSVersion.TLSv1_3,
}

CLIENT_AUTH_TYPES = (
    "NoClientCert",
    "RequestClientCert",
    "RequireAnyClientCert",
    "VerifyClientCertIfGiven",
    "RequireAndVerifyClientCert",
)
# The toolkit still accepts this older name of RequireAnyClientCert.
CLIENT_AUTH_ALIASES = {"RequireClientCert": "RequireAnyClientCert"}
NEEDS_CLIENT_CA = ("RequireAnyClientCert", "VerifyClientCertIfGiven", "RequireAndVerifyClientCert")
CERT_REQUIRED = ("RequireAnyClientCert", "RequireAndVerifyClientCert")

# Go's names (tls.CipherSuites(), the secure ones the toolkit accepts) -> OpenSSL's names.
# TLS 1.3 suites cannot be configured in Go or in Python's ssl: accepted, and always enabled.
CIPHER_SUITES: dict[str, str | None] = {
    "TLS_AES_128_GCM_SHA256": None,
    "TLS_AES_256_GCM_SHA384": None,
    "TLS_CHACHA20_POLY1305_SHA256": None,
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA": "ECDHE-ECDSA-AES128-SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA": "ECDHE-ECDSA-AES256-SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA": "ECDHE-RSA-AES128-SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA": "ECDHE-RSA-AES256-SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256": "ECDHE-ECDSA-AES128-GCM-SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384": "ECDHE-ECDSA-AES256-GCM-SHA384",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256": "ECDHE-RSA-AES128-GCM-SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384": "ECDHE-RSA-AES256-GCM-SHA384",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-RSA-CHACHA20-POLY1305",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-ECDSA-CHACHA20-POLY1305",
}

CURVES = ("CurveP256", "CurveP384", "CurveP521", "X25519")


def server_context(config: WebConfig) -> ssl.SSLContext | None:
    """A server-side SSLContext, or None when TLS is off.

    Reads the certificate, key and client CA files each time: a reload (SIGHUP, /-/reload, a
    changed file) builds a new context, which new connections get while old ones keep theirs.
    Raises WebConfigError when a file cannot be read or used.
    """
    tls = config.tls_server_config
    if not tls.enabled:
        return None
    found: list[tuple[Loc, str]] = []
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with warnings.catch_warnings():
        # Python deprecates TLS 1.0 and 1.1; asking for them is the operator's call.
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = TLS_VERSIONS[tls.min_version]
        ctx.maximum_version = TLS_VERSIONS[tls.max_version]
    ciphers = ""
    if tls.cipher_suites:
        names = [CIPHER_SUITES[s] for s in tls.cipher_suites]
        ciphers = ":".join(n for n in names if n is not None)
    legacy = TLS_VERSIONS[tls.min_version] < ssl.TLSVersion.TLSv1_2
    if legacy:
        # OpenSSL 3 allows TLS 1.0 and 1.1 only at security level 0.
        log.warning(
            "web config: min_version %s lowers OpenSSL's security level to 0 so that"
            " such old clients can connect; prefer TLS12",
            tls.min_version,
        )
        ciphers = (ciphers or "DEFAULT") + ":@SECLEVEL=0"
    if ciphers:
        try:
            ctx.set_ciphers(ciphers)
        except ssl.SSLError:
            found.append(
                (
                    ("tls_server_config", "cipher_suites"),
                    "none of these cipher suites is available in this OpenSSL",
                )
            )
    if tls.prefer_server_cipher_suites:
        ctx.options |= ssl.OP_CIPHER_SERVER_PREFERENCE
    else:
        ctx.options &= ~ssl.OP_CIPHER_SERVER_PREFERENCE
    if tls.curve_preferences:
        log.info(
            "web config: tls_server_config.curve_preferences is ignored;"
            " OpenSSL's default key exchange groups are used"
        )
    _load_cert_chain(config.tls_server_config, ctx, found)
    _load_client_ca(config.tls_server_config, ctx, found)
    auth = tls.client_auth_type
    if auth in CERT_REQUIRED:
        ctx.verify_mode = ssl.CERT_REQUIRED
    elif auth == "VerifyClientCertIfGiven":
        ctx.verify_mode = ssl.CERT_OPTIONAL
    else:
        ctx.verify_mode = ssl.CERT_NONE
    if found:
        raise WebConfigError(problem_line(config.source, loc, msg) for loc, msg in found)
    return ctx


def _load_cert_chain(
    tls: TLSServerConfig, ctx: ssl.SSLContext, found: list[tuple[Loc, str]]
) -> None:
    cert_loc: Loc = ("tls_server_config", "cert_file" if tls.cert_file else "cert")
    key_loc: Loc = ("tls_server_config", "key_file" if tls.key_file else "key")
    cert = _read_pem(tls.cert_file, tls.cert, cert_loc, found)
    key = _read_pem(tls.key_file, tls.key.get_secret_value() if tls.key else None, key_loc, found)
    if cert is None or key is None:
        return
    where = f" in {tls.cert_file}" if tls.cert_file else ""
    if "-----BEGIN CERTIFICATE-----" not in cert:
        found.append((cert_loc, f"no PEM certificate{where}"))
        return
    where = f" in {tls.key_file}" if tls.key_file else ""
    if not re.search(r"-----BEGIN [A-Z ]*PRIVATE KEY-----", key):
        found.append((key_loc, f"no PEM private key{where}"))
        return
    if "ENCRYPTED" in key:
        found.append((key_loc, f"encrypted private keys are not supported{where}"))
        return

    def no_password() -> str:
        raise ValueError("encrypted key")  # never prompt on the terminal

    try:
        with _as_files((tls.cert_file, cert), (tls.key_file, key)) as (cert_path, key_path):
            ctx.load_cert_chain(cert_path, key_path, password=no_password)
    except ssl.SSLError as exc:
        if "KEY_VALUES_MISMATCH" in str(exc):
            found.append((key_loc, "private key does not match the certificate"))
        else:
            found.append(
                (("tls_server_config",), f"cannot load certificate and key: {_ssl_reason(exc)}")
            )
    except (OSError, ValueError) as exc:
        found.append((("tls_server_config",), f"cannot load certificate and key: {exc}"))


def _load_client_ca(
    tls: TLSServerConfig, ctx: ssl.SSLContext, found: list[tuple[Loc, str]]
) -> None:
    if tls.client_ca_file is None and tls.client_ca is None:
        return
    loc: Loc = ("tls_server_config", "client_ca_file" if tls.client_ca_file else "client_ca")
    pem = _read_pem(tls.client_ca_file, tls.client_ca, loc, found)
    if pem is None:
        return
    where = f" in {tls.client_ca_file}" if tls.client_ca_file else ""
    if "-----BEGIN CERTIFICATE-----" not in pem:
        found.append((loc, f"no PEM certificate{where}"))
        return
    try:
        ctx.load_verify_locations(cadata=pem)
    except ssl.SSLError as exc:
        found.append((loc, f"cannot load CA certificates{where}: {_ssl_reason(exc)}"))


def client_cert_allowed(config: WebConfig, peercert: Mapping[str, Any] | None) -> bool:
    """Whether a verified client certificate has one of ``client_allowed_sans``."""
    allowed = config.tls_server_config.client_allowed_sans
    if allowed is None:
        return True
    if not peercert:
        return False
    wanted = {_normal_san(s) for s in allowed}
    for san_kind, value in peercert.get("subjectAltName", ()):
        if san_kind in ("DNS", "email", "URI", "IP Address") and _normal_san(value) in wanted:
            return True
    return False


def _normal_san(value: str) -> str:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return value


def _ssl_reason(exc: ssl.SSLError) -> str:
    return str(exc.reason or exc.strerror or exc).replace("_", " ").lower()


def _read_pem(
    path: str | None, inline: str | None, loc: Loc, found: list[tuple[Loc, str]]
) -> str | None:
    if path is None:
        return inline
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        found.append((loc, f"cannot read {path}: {exc.strerror or exc}"))
        return None
    return data.decode("latin-1")


@contextlib.contextmanager
def _as_files(*items: tuple[str | None, str]) -> Iterator[list[str]]:
    """Paths for PEM data: the file itself, or for inline PEM an anonymous in-memory file.

    ssl only loads certificate chains from paths; inline keys never touch the disk on Linux.
    """
    paths: list[str] = []
    with contextlib.ExitStack() as stack:
        for path, text in items:
            if path is not None:
                paths.append(path)
                continue
            data = text.encode("latin-1", errors="replace")
            memfd = getattr(os, "memfd_create", None)
            if memfd is not None and os.path.isdir("/proc/self/fd"):
                fd = memfd("web-config-pem")
                stack.callback(os.close, fd)
                os.write(fd, data)
                paths.append(f"/proc/self/fd/{fd}")
            else:
                tmp = stack.enter_context(tempfile.TemporaryDirectory())
                name = os.path.join(tmp, f"{len(paths)}.pem")
                fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                paths.append(name)
        yield paths
