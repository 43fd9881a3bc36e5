"""The web config's schema (``--web.config.file``): TLS, basic auth and response headers.

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

Reading a file into these models, and how its problems are worded, is `config`'s job.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    StrictBool,
    ValidationInfo,
    field_validator,
    model_validator,
)

from exporter.problems import kind, one_of, quote_hint, show
from exporter.web.errors import Loc, invalid, many
from exporter.web.tls import (
    CERT_REQUIRED,
    CIPHER_SUITES,
    CLIENT_AUTH_ALIASES,
    CLIENT_AUTH_TYPES,
    CURVES,
    NEEDS_CLIENT_CA,
    TLS_VERSIONS,
)

__all__ = [
    "ALLOWED_HEADERS",
    "BCRYPT_HINT",
    "HTTPServerConfig",
    "TLSServerConfig",
    "WebConfig",
]

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
BCRYPT_HINT = (
    "not a bcrypt hash (want $2a$, $2b$ or $2y$, a cost, then 53 characters;"
    " make one with: htpasswd -nBC 10 \"\" | tr -d ':\\n')"
)

# ---------------------------------------------------------------------------------------------
# Field checks


def _check_cipher(name: str) -> str:
    if name not in CIPHER_SUITES:
        raise invalid(
            f"unknown cipher suite {show(name)} (use the Go names of secure suites, e.g."
            " TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256)"
        )
    return name


def _check_curve(name: str) -> str:
    if name not in CURVES:
        raise invalid(f"unknown curve {show(name)} (use {one_of(CURVES)})")
    return name


def _check_san(value: str) -> str:
    if not value:
        raise invalid("must not be empty")
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
        value = CLIENT_AUTH_ALIASES.get(value, value)
        if value not in CLIENT_AUTH_TYPES:
            raise invalid(
                f"unknown client auth type {show(value)} (use {one_of(CLIENT_AUTH_TYPES)})"
            )
        return value

    @field_validator("min_version", "max_version")
    @classmethod
    def _known_version(cls, value: str) -> str:
        if value not in TLS_VERSIONS:
            raise invalid(f"unknown TLS version {show(value)} (use {one_of(TLS_VERSIONS)})")
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
        if not has_ca and auth in NEEDS_CLIENT_CA:
            found.append(
                (("client_auth_type",), f"{auth} needs client_ca_file or client_ca to verify with")
            )
        if self.client_allowed_sans is not None and auth not in CERT_REQUIRED:
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
            raise many(found)
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
                found.append(((str(name),), f"header name must be a string, got {show(name)}"))
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
                found.append(((name,), f"must be a string, got {show(value)}{quote_hint(value)}"))
                continue
            if "\r" in value or "\n" in value or "\0" in value:
                found.append(((name,), "must not contain line breaks or NUL"))
                continue
            allowed = ALLOWED_HEADERS[name]
            if value and allowed is not None and value not in allowed:
                found.append(((name,), f"invalid value {show(value)} (use {one_of(allowed)})"))
        if found:
            raise many(found)
        return headers


class WebConfig(BaseModel):
    """The whole web config file. Build it with `load_web_config`, or in code."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    tls_server_config: TLSServerConfig = Field(default_factory=TLSServerConfig)
    http_server_config: HTTPServerConfig = Field(default_factory=HTTPServerConfig)
    basic_auth_users: dict[str, SecretStr] = Field(default_factory=dict)
    # In the toolkit's format, but not implemented here: refused rather than ignored.
    rate_limit: Any = None

    _source: str | None = PrivateAttr(default=None)

    @model_validator(mode="before")
    @classmethod
    def _nulls_are_unset(cls, data: Any) -> Any:
        return _drop_nulls(data)

    @field_validator("rate_limit")
    @classmethod
    def _no_rate_limit(cls, value: object) -> object:
        if value is not None:
            raise invalid("not supported by this exporter (remove it)")
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
                    ((str(name),), f"username must be a string, got {show(name)} (quote it)")
                )
            elif not name:
                found.append(((name,), "username must not be empty"))
            elif ":" in name:
                # Basic auth splits user:password at the first colon: this user could never log in.
                found.append(((name,), 'username must not contain ":"'))
            if not isinstance(hashed, str | SecretStr):
                # Never the value itself: it is meant to be a (secret) hash.
                found.append(
                    ((str(name),), f"must be a string (a bcrypt hash), got {kind(hashed)}")
                )
                continue
            text = hashed.get_secret_value() if isinstance(hashed, SecretStr) else hashed
            if not _BCRYPT_RE.fullmatch(text):
                found.append(((name,), BCRYPT_HINT))
        if found:
            raise many(found)
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
