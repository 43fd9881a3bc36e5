"""The web config file (``--web.config.file``): TLS, basic auth and response headers.

The format is the Prometheus exporter-toolkit's, shared by node_exporter, blackbox_exporter and
the rest (https://github.com/prometheus/exporter-toolkit/blob/master/docs/web-configuration.md),
so that one file works for every exporter on a host. Differences, all reported clearly:

- ``rate_limit`` is not supported (rejected, not silently ignored).
- ``RequireAnyClientCert`` needs a client CA: Python's ssl module verifies every client
  certificate it requires, so it behaves like ``RequireAndVerifyClientCert``.
- ``RequestClientCert`` does not ask for a certificate (the toolkit never uses it either).
- ``curve_preferences`` and ``http_server_config.http2`` are accepted and ignored.
- A ``tls_server_config`` that sets anything at all turns TLS on, and then needs a certificate
  and a key (the toolkit silently serves plain HTTP when only, say, ``min_version`` is set).

Problems are reported one per line as ``web config <file>: <key.path>: <what is wrong>``. No
message ever contains a password hash or a private key.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import difflib
import hashlib
import hmac
import ipaddress
import logging
import os
import re
import secrets
import ssl
import tempfile
import threading
import warnings
from collections import OrderedDict
from collections.abc import Hashable, Iterator, Mapping
from typing import Annotated, Any

import bcrypt
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    StrictBool,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails, PydanticCustomError

from exporter import logs
from exporter.problems import ProblemsError, key_path, kind, one_of, quote_hint, show
from exporter.safeyaml import parse_yaml

__all__ = [
    "ALLOWED_HEADERS",
    "CIPHER_SUITES",
    "CLIENT_AUTH_TYPES",
    "CURVES",
    "TLS_VERSIONS",
    "HTTPServerConfig",
    "TLSServerConfig",
    "WebConfig",
    "WebConfigError",
    "load_web_config",
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
_CLIENT_AUTH_ALIASES = {"RequireClientCert": "RequireAnyClientCert"}
_NEEDS_CLIENT_CA = ("RequireAnyClientCert", "VerifyClientCertIfGiven", "RequireAndVerifyClientCert")
_CERT_REQUIRED = ("RequireAnyClientCert", "RequireAndVerifyClientCert")

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

# The toolkit allows exactly these headers; None means any value.
ALLOWED_HEADERS: dict[str, tuple[str, ...] | None] = {
    "Strict-Transport-Security": None,
    "X-Content-Type-Options": ("nosniff",),
    "X-Frame-Options": ("deny", "sameorigin"),
    "X-XSS-Protection": None,
    "Content-Security-Policy": None,
}

# $2a$/$2b$/$2y$, a two-digit cost of 4 to 31, then 22 characters of salt and 31 of hash.
_BCRYPT_RE = re.compile(r"\$2[aby]\$(0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{53}")
_BCRYPT_HINT = (
    "not a bcrypt hash (want $2a$, $2b$ or $2y$, a cost, then 53 characters;"
    " make one with: htpasswd -nBC 10 \"\" | tr -d ':\\n')"
)
# bcrypt only ever reads this many bytes of a password.
_BCRYPT_MAX_PASSWORD = 72
# Longer Authorization headers are refused without any work.
_MAX_AUTH_HEADER = 4096
# Successful credentials remembered so that a scrape every 15 s does not pay bcrypt each time.
AUTH_CACHE_SIZE = 1024

_CUSTOM = "webconfig"
_MULTI = "webconfig_multi"
Loc = tuple[Hashable, ...]


class WebConfigError(ProblemsError):
    """A web config that cannot be used; `problems` holds one line per problem."""


_show = show
_kind = kind
_quote_hint = quote_hint
_one_of = one_of
_path = key_path


def _invalid(message: str) -> PydanticCustomError:
    # The message is already final; braces in it must not be read as placeholders.
    return PydanticCustomError(_CUSTOM, "{message}", {"message": message})


def _problems(found: list[tuple[Loc, str]]) -> PydanticCustomError:
    """Several problems at once, each at a location relative to the validated field or model."""
    text = "; ".join(f"{_path(loc)}: {msg}" if loc else msg for loc, msg in found)
    return PydanticCustomError(_MULTI, "{message}", {"message": text, "problems": found})


# ---------------------------------------------------------------------------------------------
# Field checks


def _check_cipher(name: str) -> str:
    if name not in CIPHER_SUITES:
        raise _invalid(
            f"unknown cipher suite {_show(name)} (use the Go names of secure suites, e.g."
            " TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256)"
        )
    return name


def _check_curve(name: str) -> str:
    if name not in CURVES:
        raise _invalid(f"unknown curve {_show(name)} (use {_one_of(CURVES)})")
    return name


def _check_san(value: str) -> str:
    if not value:
        raise _invalid("must not be empty")
    return value


def _drop_nulls(data: Any) -> Any:
    """YAML ``key:`` with no value means "not set", as in the toolkit."""
    if isinstance(data, Mapping):
        return {k: v for k, v in data.items() if v is not None}
    return data


class TLSServerConfig(BaseModel):
    """``tls_server_config``: TLS is on as soon as any key is set."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    cert: str | None = None
    key: SecretStr | None = None
    client_ca: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    client_auth_type: str = "NoClientCert"
    client_ca_file: str | None = None
    client_allowed_sans: list[Annotated[str, AfterValidator(_check_san)]] | None = None
    min_version: str = "TLS12"
    max_version: str = "TLS13"
    cipher_suites: list[Annotated[str, AfterValidator(_check_cipher)]] | None = None
    prefer_server_cipher_suites: StrictBool = True
    curve_preferences: list[Annotated[str, AfterValidator(_check_curve)]] | None = None

    @model_validator(mode="before")
    @classmethod
    def _nulls_are_unset(cls, data: Any) -> Any:
        return _drop_nulls(data)

    @field_validator("cert", "client_ca", "cert_file", "key_file", "client_ca_file")
    @classmethod
    def _empty_is_unset(cls, value: str | None) -> str | None:
        return value or None

    @field_validator("key")
    @classmethod
    def _empty_key_is_unset(cls, value: SecretStr | None) -> SecretStr | None:
        return value if value is not None and value.get_secret_value() else None

    @field_validator("cert_file", "key_file", "client_ca_file")
    @classmethod
    def _resolve(cls, value: str | None, info: ValidationInfo) -> str | None:
        # Relative paths are relative to the web config file, as in the toolkit.
        base = (info.context or {}).get("base_dir")
        if value is None or base is None:
            return value
        return os.path.normpath(os.path.join(base, os.path.expanduser(value)))

    @field_validator("client_auth_type")
    @classmethod
    def _known_auth_type(cls, value: str) -> str:
        value = _CLIENT_AUTH_ALIASES.get(value, value)
        if value not in CLIENT_AUTH_TYPES:
            raise _invalid(
                f"unknown client auth type {_show(value)} (use {_one_of(CLIENT_AUTH_TYPES)})"
            )
        return value

    @field_validator("min_version", "max_version")
    @classmethod
    def _known_version(cls, value: str) -> str:
        if value not in TLS_VERSIONS:
            raise _invalid(f"unknown TLS version {_show(value)} (use {_one_of(TLS_VERSIONS)})")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> TLSServerConfig:
        if not self.enabled:
            return self
        found: list[tuple[Loc, str]] = []
        for inline, path in (
            ("cert", "cert_file"),
            ("key", "key_file"),
            ("client_ca", "client_ca_file"),
        ):
            if getattr(self, inline) is not None and getattr(self, path) is not None:
                found.append(((inline,), f"{inline} and {path} are both set; use one of them"))
        if self.cert is None and self.cert_file is None:
            found.append(((), "TLS needs a certificate: missing one of cert or cert_file"))
        if self.key is None and self.key_file is None:
            found.append(((), "TLS needs a private key: missing one of key or key_file"))
        if TLS_VERSIONS[self.max_version] < TLS_VERSIONS[self.min_version]:
            found.append(
                (("max_version",), f"{self.max_version} is below min_version {self.min_version}")
            )
        has_ca = self.client_ca is not None or self.client_ca_file is not None
        auth = self.client_auth_type
        if has_ca and auth == "NoClientCert":
            found.append(
                (
                    ("client_auth_type",),
                    "a client CA is set but client_auth_type is NoClientCert, so client"
                    " certificates would never be checked (use RequireAndVerifyClientCert)",
                )
            )
        if not has_ca and auth in _NEEDS_CLIENT_CA:
            found.append(
                (("client_auth_type",), f"{auth} needs client_ca_file or client_ca to verify with")
            )
        if self.client_allowed_sans is not None and auth not in _CERT_REQUIRED:
            found.append(
                (
                    ("client_allowed_sans",),
                    "needs client_auth_type RequireAndVerifyClientCert or RequireAnyClientCert"
                    f" (with {auth} a client may send no certificate at all)",
                )
            )
        if self.cipher_suites is not None and not self.cipher_suites:
            found.append((("cipher_suites",), "must not be empty (omit it for the defaults)"))
        if found:
            raise _problems(found)
        return self

    @property
    def enabled(self) -> bool:
        return any(getattr(self, name) is not None for name in self.model_fields_set)


class HTTPServerConfig(BaseModel):
    """``http_server_config``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # The server speaks HTTP/1.1 only; accepted for compatibility.
    http2: StrictBool = True
    headers: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _nulls_are_unset(cls, data: Any) -> Any:
        return _drop_nulls(data)

    @field_validator("headers", mode="before")
    @classmethod
    def _allowed_headers(cls, headers: object) -> object:
        if not isinstance(headers, Mapping):
            return headers  # pydantic reports the type
        found: list[tuple[Loc, str]] = []
        by_lower = {name.lower(): name for name in ALLOWED_HEADERS}
        for name, value in headers.items():
            if not isinstance(name, str):
                found.append(((str(name),), f"header name must be a string, got {_show(name)}"))
                continue
            if name not in ALLOWED_HEADERS:
                hint = (
                    f"did you mean {by_lower[name.lower()]}?"
                    if name.lower() in by_lower
                    else f"allowed: {', '.join(ALLOWED_HEADERS)}"
                )
                found.append(((name,), f"this header cannot be configured ({hint})"))
                continue
            if not isinstance(value, str):
                found.append(((name,), f"must be a string, got {_show(value)}{_quote_hint(value)}"))
                continue
            if "\r" in value or "\n" in value or "\0" in value:
                found.append(((name,), "must not contain line breaks or NUL"))
                continue
            allowed = ALLOWED_HEADERS[name]
            if value and allowed is not None and value not in allowed:
                found.append(((name,), f"invalid value {_show(value)} (use {_one_of(allowed)})"))
        if found:
            raise _problems(found)
        return headers


def _bcrypt_cost(hashed: str) -> int:
    return int(hashed[4:6])


class WebConfig(BaseModel):
    """The whole web config file. Build it with `load_web_config`, or in code."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    tls_server_config: TLSServerConfig = Field(default_factory=TLSServerConfig)
    http_server_config: HTTPServerConfig = Field(default_factory=HTTPServerConfig)
    basic_auth_users: dict[str, SecretStr] = Field(default_factory=dict)
    # In the toolkit's format, but not implemented here: refused rather than ignored.
    rate_limit: Any = None

    _source: str | None = PrivateAttr(default=None)
    _cache: OrderedDict[bytes, None] = PrivateAttr(default_factory=OrderedDict)
    _cache_lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)
    # bcrypt is slow on purpose; one at a time keeps a flood of bad passwords to one core.
    _bcrypt_lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)
    _cache_key: bytes = PrivateAttr(default_factory=lambda: secrets.token_bytes(32))
    _dummy_hash: bytes | None = PrivateAttr(default=None)
    _ssl_context: ssl.SSLContext | None = PrivateAttr(default=None)

    @model_validator(mode="before")
    @classmethod
    def _nulls_are_unset(cls, data: Any) -> Any:
        return _drop_nulls(data)

    @field_validator("rate_limit")
    @classmethod
    def _no_rate_limit(cls, value: object) -> object:
        if value is not None:
            raise _invalid("not supported by this exporter (remove it)")
        return value

    @field_validator("basic_auth_users", mode="before")
    @classmethod
    def _bcrypt_hashes(cls, users: object) -> object:
        if not isinstance(users, Mapping):
            return users  # pydantic reports the type
        found: list[tuple[Loc, str]] = []
        for name, hashed in users.items():
            if not isinstance(name, str):
                found.append(
                    ((str(name),), f"username must be a string, got {_show(name)} (quote it)")
                )
            elif not name:
                found.append(((name,), "username must not be empty"))
            elif ":" in name:
                # Basic auth splits user:password at the first colon: this user could never log in.
                found.append(((name,), 'username must not contain ":"'))
            if not isinstance(hashed, str | SecretStr):
                # Never the value itself: it is meant to be a (secret) hash.
                found.append(
                    ((str(name),), f"must be a string (a bcrypt hash), got {_kind(hashed)}")
                )
                continue
            text = hashed.get_secret_value() if isinstance(hashed, SecretStr) else hashed
            if not _BCRYPT_RE.fullmatch(text):
                found.append(((name,), _BCRYPT_HINT))
        if found:
            raise _problems(found)
        return users

    # -- what the web server uses ------------------------------------------------------------

    @property
    def source(self) -> str | None:
        """The file this was loaded from, if any."""
        return self._source

    @property
    def tls_enabled(self) -> bool:
        return self.tls_server_config.enabled

    @property
    def auth_enabled(self) -> bool:
        return bool(self.basic_auth_users)

    @property
    def headers(self) -> dict[str, str]:
        """Headers to add to every response (a blank value means unset)."""
        return {k: v for k, v in self.http_server_config.headers.items() if v}

    def describe(self) -> str:
        """One line for logs and --config.check; no secrets."""
        tls = self.tls_server_config
        parts = []
        if tls.enabled:
            auth = tls.client_auth_type
            parts.append(
                f"TLS on ({tls.min_version} to {tls.max_version}"
                + (f", client certificates {auth}" if auth != "NoClientCert" else "")
                + ")"
            )
        else:
            parts.append("TLS off")
        users = len(self.basic_auth_users)
        parts.append(
            f"basic auth for {users} user{'' if users == 1 else 's'}" if users else "no basic auth"
        )
        if self.headers:
            parts.append(f"headers {', '.join(self.headers)}")
        return ", ".join(parts)

    def _problem(self, loc: Loc, message: str) -> str:
        where = f"web config {self._source}" if self._source else "web config"
        return f"{where}: {_path(loc)}: {message}" if loc else f"{where}: {message}"

    def ssl_context(self) -> ssl.SSLContext | None:
        """A server-side SSLContext, or None when TLS is off.

        Reads the certificate files the first time (load_web_config does that); later calls
        return the same context. Raises WebConfigError when a file cannot be read or used.
        """
        if self._ssl_context is not None:
            return self._ssl_context
        tls = self.tls_server_config
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
        self._load_cert_chain(ctx, found)
        self._load_client_ca(ctx, found)
        auth = tls.client_auth_type
        if auth in _CERT_REQUIRED:
            ctx.verify_mode = ssl.CERT_REQUIRED
        elif auth == "VerifyClientCertIfGiven":
            ctx.verify_mode = ssl.CERT_OPTIONAL
        else:
            ctx.verify_mode = ssl.CERT_NONE
        if found:
            raise WebConfigError(self._problem(loc, msg) for loc, msg in found)
        self._ssl_context = ctx
        return ctx

    def _load_cert_chain(self, ctx: ssl.SSLContext, found: list[tuple[Loc, str]]) -> None:
        tls = self.tls_server_config
        cert_loc: Loc = ("tls_server_config", "cert_file" if tls.cert_file else "cert")
        key_loc: Loc = ("tls_server_config", "key_file" if tls.key_file else "key")
        cert = _read_pem(tls.cert_file, tls.cert, cert_loc, found)
        key = _read_pem(
            tls.key_file, tls.key.get_secret_value() if tls.key else None, key_loc, found
        )
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

    def _load_client_ca(self, ctx: ssl.SSLContext, found: list[tuple[Loc, str]]) -> None:
        tls = self.tls_server_config
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

    def client_cert_allowed(self, peercert: Mapping[str, Any] | None) -> bool:
        """Whether a verified client certificate has one of ``client_allowed_sans``."""
        allowed = self.tls_server_config.client_allowed_sans
        if allowed is None:
            return True
        if not peercert:
            return False
        wanted = {_normal_san(s) for s in allowed}
        for san_kind, value in peercert.get("subjectAltName", ()):
            if san_kind in ("DNS", "email", "URI", "IP Address") and _normal_san(value) in wanted:
                return True
        return False

    def authorized(self, header: str | None) -> bool:
        """Whether an Authorization header value passes basic auth (always, without users)."""
        users = self.basic_auth_users
        if not users:
            return True
        if not header or len(header) > _MAX_AUTH_HEADER:
            return False
        scheme, _, encoded = header.strip().partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError):
            return False
        username, sep, password = decoded.partition(b":")
        if not sep:
            return False
        # Keyed with a per-process secret: the cache holds no password, nor a plain hash of one.
        cache_key = hmac.new(self._cache_key, decoded, hashlib.sha256).digest()
        with self._cache_lock:
            if cache_key in self._cache:
                self._cache.move_to_end(cache_key)
                return True
        stored: SecretStr | None = None
        for name, hashed in users.items():
            # Every name is compared, in constant time, so timing tells nothing about them.
            if hmac.compare_digest(name.encode("utf-8"), username):
                stored = hashed
        expected = stored.get_secret_value().encode() if stored is not None else self._dummy()
        with self._bcrypt_lock:
            try:
                ok = bcrypt.checkpw(password[:_BCRYPT_MAX_PASSWORD], expected)
            except ValueError:
                ok = False
        if not (ok and stored is not None):
            return False
        with self._cache_lock:
            self._cache[cache_key] = None
            while len(self._cache) > AUTH_CACHE_SIZE:
                self._cache.popitem(last=False)
        return True

    def _dummy(self) -> bytes:
        """A hash of a random password, checked for unknown users so they cost the same time."""
        if self._dummy_hash is None:
            cost = max(_bcrypt_cost(h.get_secret_value()) for h in self.basic_auth_users.values())
            self._dummy_hash = bcrypt.hashpw(secrets.token_bytes(16), bcrypt.gensalt(cost))
        return self._dummy_hash

    def auth_cache_size(self) -> int:
        with self._cache_lock:
            return len(self._cache)


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


# ---------------------------------------------------------------------------------------------
# Loading


def _secret_loc(loc: Loc) -> bool:
    return (len(loc) >= 2 and loc[0] == "basic_auth_users" and loc[-1] != "[key]") or loc[:2] == (
        "tls_server_config",
        "key",
    )


def _message(error: ErrorDetails) -> list[tuple[Loc, str]]:
    loc: Loc = tuple(error["loc"])
    kind = error["type"]
    value = error.get("input")
    ctx: dict[str, Any] = dict(error.get("ctx") or {})
    got = _kind(value) if _secret_loc(loc) else _show(value)
    hint = _quote_hint(value)
    if kind == _MULTI:
        return [((*loc, *rel), msg) for rel, msg in ctx["problems"]]
    if kind == _CUSTOM:
        return [(loc, str(ctx["message"]))]
    if kind == "extra_forbidden":
        return [(loc, "unknown key" + _did_you_mean(loc))]
    if kind == "missing":
        return [(loc, "required key is missing")]
    if kind in ("bool_type", "bool_parsing"):
        return [(loc, f"must be true or false, got {got}")]
    if kind == "string_type":
        if loc and loc[-1] == "[key]":
            what = "username" if loc[0] == "basic_auth_users" else "header name"
            return [(loc, f"{what} must be a string, got {got}{hint}")]
        if loc[:1] == ("basic_auth_users",):
            return [(loc, f"must be a string (a bcrypt hash), got {got}")]
        return [(loc, f"must be a string, got {got}{hint}")]
    if kind in ("model_type", "model_attributes_type", "dict_type", "mapping_type"):
        return [(loc, f"must be a mapping, got {got}")]
    if kind == "list_type":
        return [(loc, f"must be a list, got {got}")]
    if kind == "value_error":
        return [(loc, str(ctx.get("error", error["msg"])))]
    return [(loc, error["msg"])]


def _did_you_mean(loc: Loc) -> str:
    models: dict[Loc, type[BaseModel]] = {
        (): WebConfig,
        ("tls_server_config",): TLSServerConfig,
        ("http_server_config",): HTTPServerConfig,
    }
    model = models.get(loc[:-1])
    if model is None:
        return ""
    close = difflib.get_close_matches(str(loc[-1]), list(model.model_fields), n=1, cutoff=0.7)
    return f" (did you mean {close[0]}?)" if close else ""


def _order(loc: Loc, raw: object) -> tuple[int, ...]:
    """Where a loc is in the file, so that problems come out in file order."""
    out: list[int] = []
    node = raw
    for part in loc:
        if part == "[key]":
            continue
        if isinstance(node, Mapping):
            # Keys that YAML read as numbers are located by their text.
            keys = [str(k) for k in node]
            index = keys.index(str(part)) if str(part) in keys else len(keys)
            out.append(index)
            node = list(node.values())[index] if index < len(keys) else None
        elif isinstance(node, list) and isinstance(part, int):
            out.append(part)
            node = node[part] if 0 <= part < len(node) else None
        else:
            out.append(0)
            node = None
    return tuple(out)


def parse_web_config(text: str, source: str, base_dir: str | None = None) -> WebConfig:
    """Parse YAML text into a WebConfig (without reading certificate files)."""
    prefix = f"web config {source}"
    raw = parse_yaml(text, prefix, WebConfigError, fast=False)
    if raw is None:
        # An empty file is valid for the toolkit: no TLS, no auth.
        raw = {}
    if not isinstance(raw, dict):
        raise WebConfigError(f"{prefix}: top level must be a mapping, got {_kind(raw)}")
    try:
        config = WebConfig.model_validate(raw, context={"base_dir": base_dir})
    except ValidationError as exc:
        found = [item for error in exc.errors() for item in _message(error)]
        found.sort(key=lambda item: _order(item[0], raw))
        raise WebConfigError(
            f"{prefix}: {_path(loc)}: {msg}" if loc else f"{prefix}: {msg}" for loc, msg in found
        ) from None
    config._source = source
    return config


def load_web_config(path: str | os.PathLike[str]) -> WebConfig:
    """Read, validate and check a web config file, certificates included.

    Raises WebConfigError with one line per problem.
    """
    source = os.fspath(path)
    prefix = f"web config {source}"
    try:
        with open(source, "rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        raise WebConfigError(f"{prefix}: file not found") from None
    except OSError as exc:
        raise WebConfigError(f"{prefix}: cannot read: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise WebConfigError(f"{prefix}: cannot read: not UTF-8 (line {line})") from None
    config = parse_web_config(text, source, os.path.dirname(os.path.abspath(source)))
    # Hashes are not passwords, but they can be attacked offline: keep them out of logs too.
    logs.register_secrets(h.get_secret_value() for h in config.basic_auth_users.values())
    key = config.tls_server_config.key
    if key is not None:
        logs.register_secrets([key.get_secret_value(), key.get_secret_value().strip()])
    config.ssl_context()  # reads and checks the certificate and key files
    return config
