"""Reading the web config file (``--web.config.file``) into the `schema`'s `WebConfig`.

YAML as the other files the exporter reads it (`exporter.safeyaml`, `exporter.safefile`), then
the schema's checks, then the certificate and key files themselves (the `tls` factory). The
models are re-exported here, where they have always been imported from.

Problems are reported one per line as ``web config <file>: <key.path>: <what is wrong>``. No
message ever contains a password hash or a private key.
"""

from __future__ import annotations

import os

from pydantic import BaseModel, ValidationError

from exporter import logs
from exporter.problems import kind
from exporter.safefile import read_bytes
from exporter.safeyaml import parse_yaml
from exporter.web.errors import Loc, WebConfigError, validation_problems
from exporter.web.schema import (
    ALLOWED_HEADERS,
    BCRYPT_HINT,
    HTTPServerConfig,
    TLSServerConfig,
    WebConfig,
)
from exporter.web.tls import server_context

__all__ = [
    "ALLOWED_HEADERS",
    "BCRYPT_HINT",
    "HTTPServerConfig",
    "TLSServerConfig",
    "WebConfig",
    "WebConfigError",
    "load_web_config",
    "parse_web_config",
]

# Where a key of each model sits, for "did you mean" on an unknown key.
_MODELS: dict[Loc, type[BaseModel]] = {
    (): WebConfig,
    ("tls_server_config",): TLSServerConfig,
    ("http_server_config",): HTTPServerConfig,
}


def parse_web_config(text: str, source: str, base_dir: str | None = None) -> WebConfig:
    """Parse YAML text into a WebConfig (without reading certificate files)."""
    prefix = f"web config {source}"
    raw = parse_yaml(text, prefix, WebConfigError, fast=False)
    if raw is None:
        # An empty file is valid for the toolkit: no TLS, no auth.
        raw = {}
    if not isinstance(raw, dict):
        raise WebConfigError(f"{prefix}: top level must be a mapping, got {kind(raw)}")
    try:
        config = WebConfig.model_validate(raw, context={"base_dir": base_dir})
    except ValidationError as exc:
        raise validation_problems(exc, raw, prefix, _MODELS) from None
    config._source = source
    return config


def load_web_config(path: str | os.PathLike[str]) -> WebConfig:
    """Read, validate and check a web config file, certificates included.

    Raises WebConfigError with one line per problem.
    """
    source = os.fspath(path)
    prefix = f"web config {source}"
    try:
        # Regular files only, a size limit and a time limit: a FIFO or a stalled mount would
        # otherwise block a reload for good (messages as before: OSError and its strerror).
        data = read_bytes(source)
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
    server_context(config)  # reads and checks the certificate and key files
    return config
