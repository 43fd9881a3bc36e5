"""Logging in logfmt or JSON, with every known secret scrubbed from every record.

Secrets are registered once the config is loaded; the scrubbing happens in the formatter, so
it covers our messages, exceptions and the SDK's own logger alike.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
from collections.abc import Iterable
from datetime import datetime, timezone
from typing import TextIO

REDACTED = "<redacted>"
# Secrets by where they come from ("config", "web", ...): a reload replaces its source's set, so
# the registry holds what is configured now, not every key the process ever saw.
_sources: dict[str, frozenset[str]] = {}
_ordered: tuple[str, ...] = ()
_secrets_lock = threading.Lock()


def _usable(values: Iterable[str | None]) -> frozenset[str]:
    # Very short values would redact ordinary words; real keys are far longer.
    return frozenset(v for v in values if v and len(v) >= 6)


def set_secrets(source: str, values: Iterable[str | None]) -> None:
    """Replace the secrets registered by ``source``."""
    global _ordered
    with _secrets_lock:
        _sources[source] = _usable(values)
        every = set().union(*_sources.values())
        _ordered = tuple(sorted(every, key=len, reverse=True))


def register_secrets(values: Iterable[str | None]) -> None:
    """Add secrets that stay registered for the life of the process."""
    with _secrets_lock:
        kept = _sources.get("", frozenset())
    set_secrets("", kept | _usable(values))


def redact(text: str) -> str:
    secrets = _ordered  # one reference: a replacement is atomic
    for s in secrets:
        if s in text:
            text = text.replace(s, REDACTED)
    return text


def _record_message(record: logging.LogRecord) -> str:
    msg = record.getMessage()
    if record.exc_info:
        exc = record.exc_info[1]
        msg = f"{msg}: {type(exc).__name__}: {exc}"
    return redact(msg)


def _timestamp(record: logging.LogRecord) -> str:
    ts = datetime.fromtimestamp(record.created, tz=timezone.utc)
    return ts.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _logfmt_value(value: str) -> str:
    if value and all(c.isalnum() or c in "-._:/@" for c in value):
        return value
    return json.dumps(value, ensure_ascii=False)


class LogfmtFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = {
            "ts": _timestamp(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": _record_message(record),
        }
        return " ".join(f"{k}={_logfmt_value(v)}" for k, v in fields.items())


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(
            {
                "ts": _timestamp(record),
                "level": record.levelname.lower(),
                "logger": record.name,
                "msg": _record_message(record),
            },
            ensure_ascii=False,
        )


LEVELS = ("debug", "info", "warn", "error")


def setup(level: str = "info", fmt: str = "logfmt", stream: TextIO | None = None) -> None:
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else LogfmtFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    py_level = {"debug": logging.DEBUG, "warn": logging.WARNING}.get(level, level.upper())
    root.setLevel(py_level)
    logging.captureWarnings(True)  # warnings (the SDK emits some) as one scrubbed log line
    # The SDK logs whole requests (Authorization, X-TC-Token) at debug; the formatter would
    # scrub known secrets, but tokens refreshed from a CVM role are not known in advance.
    logging.getLogger("tencentcloud_sdk_common").setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    logging.getLogger("urllib3").setLevel(logging.WARNING)
