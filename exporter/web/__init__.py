"""HTTP: /metrics, the status page, health and lifecycle endpoints, the CSS callback receiver.

- :mod:`.server`: `WebServer` (accepting, pools, reload, the file watcher);
- :mod:`.openconns`: the open connections under the cap, and which of them make room;
- :mod:`.connection`, :mod:`.outflow`, :mod:`.tlssession`, :mod:`.exchange`, :mod:`.http1`: one
  connection, its answers' flow control, its TLS, its request loop, and HTTP/1.1 framing;
- :mod:`.pools`: the bounded, prioritised thread pools;
- :mod:`.routes`: what each path does, and the `Backend` the app implements;
- :mod:`.limits`: timeouts, caps and buffers with their defaults; the open files limit;
- :mod:`.schema`, :mod:`.config`, :mod:`.errors`: the web config file (exporter-toolkit format),
  its loading, and its problems;
- :mod:`.tls`: the TLS context factory; :mod:`.auth`: basic auth with its cache of successes;
- :mod:`.live`: the web config in force and its reload; :mod:`.stats`: what the server counts.
"""

from __future__ import annotations

from exporter.web.auth import AUTH_CACHE_SIZE, Authenticator
from exporter.web.config import WebConfigError, load_web_config, parse_web_config
from exporter.web.http1 import wants_gzip, wants_openmetrics
from exporter.web.limits import Limits, raise_nofile_limit
from exporter.web.routes import OPENMETRICS_FORMAT, TEXT_FORMAT, Backend
from exporter.web.schema import (
    ALLOWED_HEADERS,
    BCRYPT_HINT,
    HTTPServerConfig,
    TLSServerConfig,
    WebConfig,
)
from exporter.web.server import WebServer, parse_listen_address
from exporter.web.tls import CIPHER_SUITES, CLIENT_AUTH_TYPES, CURVES, TLS_VERSIONS, server_context

__all__ = [
    "ALLOWED_HEADERS",
    "AUTH_CACHE_SIZE",
    "BCRYPT_HINT",
    "CIPHER_SUITES",
    "CLIENT_AUTH_TYPES",
    "CURVES",
    "OPENMETRICS_FORMAT",
    "TEXT_FORMAT",
    "TLS_VERSIONS",
    "Authenticator",
    "Backend",
    "HTTPServerConfig",
    "Limits",
    "TLSServerConfig",
    "WebConfig",
    "WebConfigError",
    "WebServer",
    "load_web_config",
    "parse_listen_address",
    "parse_web_config",
    "raise_nofile_limit",
    "server_context",
    "wants_gzip",
    "wants_openmetrics",
]
