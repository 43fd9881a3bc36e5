"""TC3-HMAC-SHA256, implemented independently of the SDK so that the simulator checks the
exporter's requests against the published algorithm rather than against the SDK's own code."""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

ALGORITHM = "TC3-HMAC-SHA256"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"

_AUTH_RE = re.compile(
    r"^TC3-HMAC-SHA256\s+"
    r"Credential=(?P<secret_id>[^/\s,]+)/(?P<date>\d{4}-\d{2}-\d{2})/(?P<service>[^/\s,]+)/tc3_request,\s*"
    r"SignedHeaders=(?P<signed>[a-z0-9;\-]+),\s*"
    r"Signature=(?P<signature>[0-9a-f]{64})\s*$"
)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def utc_date(timestamp: int) -> str:
    """The ``YYYY-MM-DD`` credential-scope date for a Unix timestamp."""
    return datetime.fromtimestamp(timestamp, tz=timezone.utc).strftime("%Y-%m-%d")


def canonical_request(
    *,
    method: str,
    uri: str,
    query: str,
    headers: Mapping[str, str],
    signed_headers: Sequence[str],
    payload_hash: str,
) -> str:
    """Build the canonical request.

    ``headers`` maps lower-case header names to values; the published algorithm lower-cases
    and trims values too, which is a no-op for what the SDK sends.
    """
    canonical_headers = "".join(
        f"{name}:{headers[name].strip().lower()}\n" for name in signed_headers
    )
    return "\n".join(
        [method, uri, query, canonical_headers, ";".join(signed_headers), payload_hash]
    )


def string_to_sign(timestamp: int | str, date: str, service: str, canonical: str) -> str:
    scope = f"{date}/{service}/tc3_request"
    digest = sha256_hex(canonical.encode("utf-8"))
    return f"{ALGORITHM}\n{timestamp}\n{scope}\n{digest}"


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode("utf-8"), hashlib.sha256).digest()


def signing_key(secret_key: str, date: str, service: str) -> bytes:
    k_date = _hmac(("TC3" + secret_key).encode("utf-8"), date)
    k_service = _hmac(k_date, service)
    return _hmac(k_service, "tc3_request")


def signature(
    secret_key: str, date: str, service: str, timestamp: int | str, canonical: str
) -> str:
    """The hex signature for a canonical request (pure; no I/O, no clock)."""
    key = signing_key(secret_key, date, service)
    sts = string_to_sign(timestamp, date, service, canonical)
    return hmac.new(key, sts.encode("utf-8"), hashlib.sha256).hexdigest()


def sign_request(
    *,
    secret_key: str,
    service: str,
    timestamp: int,
    content_type: str,
    host: str,
    payload: bytes,
    method: str = "POST",
    uri: str = "/",
    query: str = "",
) -> str:
    """Signature of a request signed over ``content-type;host``, as every SDK does."""
    canonical = canonical_request(
        method=method,
        uri=uri,
        query=query,
        headers={"content-type": content_type, "host": host},
        signed_headers=("content-type", "host"),
        payload_hash=sha256_hex(payload),
    )
    return signature(secret_key, utc_date(timestamp), service, timestamp, canonical)


def authorization_header(secret_id: str, date: str, service: str, sig: str) -> str:
    return (
        f"{ALGORITHM} Credential={secret_id}/{date}/{service}/tc3_request, "
        f"SignedHeaders=content-type;host, Signature={sig}"
    )


@dataclass(frozen=True)
class Authorization:
    secret_id: str
    date: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str


def parse_authorization(value: str | None) -> Authorization:
    """Parse an ``Authorization`` header; raises ``ValueError`` when it is garbled."""
    if not value:
        raise ValueError("missing Authorization header")
    match = _AUTH_RE.match(value.strip())
    if match is None:
        raise ValueError("Authorization header is not TC3-HMAC-SHA256")
    signed = tuple(match["signed"].split(";"))
    if "content-type" not in signed or "host" not in signed or list(signed) != sorted(signed):
        raise ValueError("SignedHeaders must be sorted and include content-type and host")
    return Authorization(
        secret_id=match["secret_id"],
        date=match["date"],
        service=match["service"],
        signed_headers=signed,
        signature=match["signature"],
    )


class SigningKeyCache:
    """Caches derived signing keys: three of the five HMACs depend only on key and date."""

    def __init__(self) -> None:
        self._keys: dict[tuple[str, str, str], bytes] = {}

    def signature(
        self, secret_key: str, date: str, service: str, timestamp: int | str, canonical: str
    ) -> str:
        cache_key = (secret_key, date, service)
        key = self._keys.get(cache_key)
        if key is None:
            if len(self._keys) > 256:
                self._keys.clear()
            key = signing_key(secret_key, date, service)
            self._keys[cache_key] = key
        sts = string_to_sign(timestamp, date, service, canonical)
        return hmac.new(key, sts.encode("utf-8"), hashlib.sha256).hexdigest()
