"""HTTP/1.1 messages as RFC 9110 and 9112 have them: the request head, body framing, the answer.

Pure functions and small state machines, no I/O: the connection code feeds them bytes. What is
refused and why (each a one-line reason, the connection closed after the answer):

- a request line or header field that is not well formed (obsolete line folding, whitespace
  before the colon, control characters, more than `MAX_HEADER_FIELDS` fields): 400;
- ``Content-Length`` together with ``Transfer-Encoding``, a repeated or comma-listed
  ``Content-Length``, a transfer coding other than ``chunked``, or ``Transfer-Encoding`` in an
  HTTP/1.0 request: 400 (or 501 for an unknown coding) -- the framing an attacker would use to
  smuggle a second request past a proxy (RFC 9112 section 6.3);
- an HTTP/1.1 request without exactly one ``Host``: 400; a major version other than 1: 505;
- an ``Expect`` other than ``100-continue``: 417 (HTTP/1.0 expectations are ignored).
"""

from __future__ import annotations

import email.utils
import re
import time
import urllib.parse
from dataclasses import dataclass, field
from http import HTTPStatus

__all__ = [
    "MAX_HEADER_FIELDS",
    "BadRequest",
    "ChunkedBody",
    "Request",
    "TooLarge",
    "parse_head",
    "response_head",
    "wants_gzip",
    "wants_openmetrics",
]

MAX_HEADER_FIELDS = 100
# A chunk-size line (with extensions) or a trailer section longer than this is an attack.
_MAX_CHUNK_LINE = 4096
_MAX_TRAILERS = 16 * 1024

_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_VERSION = re.compile(rb"HTTP/([0-9])\.([0-9])")
_TARGET = re.compile(rb"[\x21-\x7e]+")
# Field values: visible characters, spaces, tabs and obs-text; no other control characters.
_BAD_VALUE = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
_DIGITS = re.compile(r"[0-9]{1,19}")
_HEX = re.compile(rb"[0-9A-Fa-f]{1,15}")


class BadRequest(Exception):
    """A request that cannot be served: answer ``status`` with ``reason`` and close."""

    def __init__(self, status: int, reason: str, *, length: bool = False) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        # A Content-Length problem, which the callback receiver counts as bad_length.
        self.length = length


class TooLarge(Exception):
    """A body over the route's limit."""

    def __init__(self, size: int) -> None:
        super().__init__(size)
        self.size = size


@dataclass(slots=True)
class Request:
    method: str
    target: str
    path: str
    query: str
    version: tuple[int, int]
    fields: dict[str, list[str]] = field(default_factory=dict)
    keep_alive: bool = True
    content_length: int | None = None
    chunked: bool = False
    expect_continue: bool = False

    def header(self, name: str, default: str | None = None) -> str | None:
        """The field's value (several lines joined with ", ", as RFC 9110 section 5.3 allows)."""
        values = self.fields.get(name.lower())
        return ", ".join(values) if values else default

    @property
    def has_body(self) -> bool:
        return self.chunked or bool(self.content_length)


def parse_head(head: bytes) -> Request:
    """A request head (request line and fields, without the blank line). Raises BadRequest."""
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ")
    if len(parts) != 3:
        raise BadRequest(400, "malformed request line")
    raw_method, raw_target, raw_version = parts
    if not _TOKEN.fullmatch(raw_method):
        raise BadRequest(400, "malformed method")
    version_match = _VERSION.fullmatch(raw_version)
    if version_match is None:
        raise BadRequest(400, "malformed HTTP version")
    major, minor = int(version_match[1]), int(version_match[2])
    if major != 1:
        raise BadRequest(505, f"HTTP/{major}.{minor} is not supported: use HTTP/1.1")
    version = (1, min(minor, 1))  # a higher minor version is served as 1.1 (RFC 9110 2.5)
    if not _TARGET.fullmatch(raw_target):
        raise BadRequest(400, "malformed request target")
    method = raw_method.decode("ascii")
    target = raw_target.decode("ascii")
    path, query = _split_target(method, target)
    fields = _parse_fields(lines[1:])
    request = Request(method, target, path, query, version, fields)
    _check_host(request)
    _check_framing(request)
    tokens = {t.strip().lower() for v in fields.get("connection", ()) for t in v.split(",")}
    if version == (1, 1):
        request.keep_alive = "close" not in tokens
    else:
        request.keep_alive = "keep-alive" in tokens and "close" not in tokens
    expect = request.header("expect")
    if expect is not None and version == (1, 1):  # HTTP/1.0 expectations are ignored
        if expect.strip().lower() != "100-continue":
            raise BadRequest(417, "unsupported expectation (only 100-continue is)")
        request.expect_continue = True
    return request


def _split_target(method: str, target: str) -> tuple[str, str]:
    if target.startswith("/"):
        path, _, query = target.partition("?")
        return path, query
    if target == "*" and method == "OPTIONS":
        return "*", ""
    lower = target.lower()
    if lower.startswith(("http://", "https://")):  # absolute-form, which servers must accept
        parts = urllib.parse.urlsplit(target)
        return parts.path or "/", parts.query
    raise BadRequest(400, "malformed request target")


def _parse_fields(lines: list[bytes]) -> dict[str, list[str]]:
    if len(lines) > MAX_HEADER_FIELDS:
        raise BadRequest(431, f"more than {MAX_HEADER_FIELDS} header fields")
    fields: dict[str, list[str]] = {}
    for line in lines:
        if line[:1] in (b" ", b"\t"):
            raise BadRequest(400, "obsolete line folding in a header field")
        name, sep, value = line.partition(b":")
        if not sep or not _TOKEN.fullmatch(name):  # also whitespace before the colon
            raise BadRequest(400, "malformed header field")
        value = value.strip(b" \t")
        if _BAD_VALUE.search(value):
            raise BadRequest(400, "control character in a header field")
        fields.setdefault(name.decode("ascii").lower(), []).append(value.decode("latin-1"))
    return fields


def _check_host(request: Request) -> None:
    hosts = request.fields.get("host", [])
    if len(hosts) > 1:
        raise BadRequest(400, "more than one Host header")
    if request.version == (1, 1) and not hosts:
        raise BadRequest(400, "missing Host header (required in HTTP/1.1)")


def _check_framing(request: Request) -> None:
    lengths = request.fields.get("content-length", [])
    codings_lines = request.fields.get("transfer-encoding", [])
    if lengths and codings_lines:
        raise BadRequest(400, "both Content-Length and Transfer-Encoding", length=True)
    if len(lengths) > 1:
        raise BadRequest(400, "more than one Content-Length header", length=True)
    if lengths:
        value = lengths[0]
        if not _DIGITS.fullmatch(value):
            raise BadRequest(400, "invalid Content-Length header", length=True)
        request.content_length = int(value)
    if codings_lines:
        if request.version == (1, 0):
            raise BadRequest(400, "Transfer-Encoding in an HTTP/1.0 request")
        codings = [c.strip().lower() for v in codings_lines for c in v.split(",")]
        if codings[-1] != "chunked":
            raise BadRequest(400, "Transfer-Encoding does not end in chunked")
        if codings != ["chunked"]:
            raise BadRequest(501, "unsupported transfer coding (only chunked is)")
        request.chunked = True


class ChunkedBody:
    """Decodes a chunked body fed in pieces; at most ``limit`` bytes of content."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.parts: list[bytes] = []
        self.size = 0
        self._state = "size"
        self._remaining = 0
        self._trailer_bytes = 0

    def feed(self, buf: bytearray) -> bool:
        """Consume what it can from ``buf``; True once the body is complete."""
        while True:
            if self._state == "data":
                if not buf:
                    return False
                take = min(len(buf), self._remaining)
                self.parts.append(bytes(buf[:take]))
                del buf[:take]
                self._remaining -= take
                self.size += take
                if self._remaining == 0:
                    self._state = "crlf"
                continue
            if self._state == "crlf":
                if len(buf) < 2:
                    return False
                if buf[:2] != b"\r\n":
                    raise BadRequest(400, "malformed chunked body")
                del buf[:2]
                self._state = "size"
                continue
            end = buf.find(b"\r\n")
            if end < 0:
                if len(buf) > _MAX_CHUNK_LINE:
                    raise BadRequest(400, "chunk-size line too long")
                return False
            line = bytes(buf[:end])
            del buf[: end + 2]
            if self._state == "size":
                self._chunk_size(line)
            else:  # trailer section: fields are read and ignored, up to the blank line
                self._trailer_bytes += end + 2
                if self._trailer_bytes > _MAX_TRAILERS:
                    raise BadRequest(400, "trailer section too long")
                if not line:
                    return True

    def _chunk_size(self, line: bytes) -> None:
        size_text = line.split(b";", 1)[0].strip(b" \t")
        if len(line) > _MAX_CHUNK_LINE or not _HEX.fullmatch(size_text):
            raise BadRequest(400, "malformed chunk size")
        size = int(size_text, 16)
        if size == 0:
            self._state = "trailer"
            return
        if self.size + size > self.limit:
            raise TooLarge(self.size + size)
        self._remaining = size
        self._state = "data"

    def body(self) -> bytes:
        return b"".join(self.parts)


def wants_openmetrics(accept: str) -> bool:
    """Content negotiation as Prometheus does it: OpenMetrics only when asked for by name."""
    return "application/openmetrics-text" in accept


def wants_gzip(accept_encoding: str) -> bool:
    """Whether gzip is acceptable (RFC 9110 12.5.3): any q above 0, or ``*`` when gzip is not
    named. ``gzip;q=0.5`` is a yes, ``gzip;q=0`` (or ``0.000``) a no."""
    gzip_q: float | None = None
    star_q: float | None = None
    for part in accept_encoding.split(","):
        coding, _, params = part.partition(";")
        coding = coding.strip().lower()
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value.strip())
                except ValueError:
                    q = 0.0
        if coding in ("gzip", "x-gzip"):
            gzip_q = q if gzip_q is None else max(gzip_q, q)
        elif coding == "*":
            star_q = q
    chosen = gzip_q if gzip_q is not None else star_q
    return chosen is not None and chosen > 0


_date_cache: tuple[int, str] = (0, "")


def http_date() -> str:
    """The Date header's value, formatted once a second."""
    global _date_cache
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache = (now, email.utils.formatdate(now, usegmt=True))
    return _date_cache[1]


def response_head(status: int, headers: list[tuple[str, str]]) -> bytes:
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = ""
    lines = [f"HTTP/1.1 {status} {reason}", f"Date: {http_date()}"]
    lines += [f"{name}: {value}" for name, value in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
