from __future__ import annotations

import hashlib

import pytest

from exporter.simulator.signing import (
    Authorization,
    canonical_request,
    parse_authorization,
    sign_request,
    signature,
    utc_date,
)

# The official worked example of the TC3-HMAC-SHA256 documentation (CVM, not live).
EXAMPLE_KEY = "Gu5t9xGARNpq86cd98joQYCN3*******"
EXAMPLE_BODY = (
    '{"Limit": 1, "Filters": [{"Values": ["\\u672a\\u547d\\u540d"], "Name": "instance-name"}]}'
)
EXAMPLE_SIGNATURE = "2230eefd229f582d8b1b891af7107b91597240707d778ab3738f756258d7652c"


def test_worked_example_signature() -> None:
    assert (
        sign_request(
            secret_key=EXAMPLE_KEY,
            service="cvm",
            timestamp=1551113065,
            content_type="application/json; charset=utf-8",
            host="cvm.tencentcloudapi.com",
            payload=EXAMPLE_BODY.encode(),
        )
        == EXAMPLE_SIGNATURE
    )


def test_worked_example_from_parts() -> None:
    canonical = canonical_request(
        method="POST",
        uri="/",
        query="",
        headers={
            "content-type": "application/json; charset=utf-8",
            "host": "cvm.tencentcloudapi.com",
        },
        signed_headers=("content-type", "host"),
        payload_hash=hashlib.sha256(EXAMPLE_BODY.encode()).hexdigest(),
    )
    assert canonical.startswith(
        "POST\n/\n\ncontent-type:application/json; charset=utf-8\n"
        "host:cvm.tencentcloudapi.com\n\ncontent-type;host\n"
    )
    assert utc_date(1551113065) == "2019-02-25"
    assert signature(EXAMPLE_KEY, "2019-02-25", "cvm", 1551113065, canonical) == EXAMPLE_SIGNATURE


def test_signature_depends_on_every_input() -> None:
    base = {
        "secret_key": "k",
        "service": "live",
        "timestamp": 1700000000,
        "content_type": "application/json",
        "host": "127.0.0.1:8080",
        "payload": b"{}",
    }
    reference = sign_request(**base)  # type: ignore[arg-type]
    for name, other in [
        ("secret_key", "k2"),
        ("service", "cvm"),
        ("timestamp", 1700000001),
        ("host", "127.0.0.1:8081"),
        ("payload", b"{ }"),
    ]:
        assert sign_request(**{**base, name: other}) != reference  # type: ignore[arg-type]


def test_parse_authorization() -> None:
    sig = "a" * 64
    header = (
        "TC3-HMAC-SHA256 Credential=AKIDx/2024-01-02/live/tc3_request, "
        f"SignedHeaders=content-type;host, Signature={sig}"
    )
    assert parse_authorization(header) == Authorization(
        "AKIDx", "2024-01-02", "live", ("content-type", "host"), sig
    )


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "SKIP",
        "TC3-HMAC-SHA256 Credential=AKIDx/2024-01-02/live/tc3_request, Signature=abc",
        "HMAC-SHA1 Credential=AKIDx/2024-01-02/live/tc3_request, SignedHeaders=host, "
        "Signature=" + "a" * 64,
        "TC3-HMAC-SHA256 Credential=AKIDx/2024-01-02/live/tc3_request, SignedHeaders=host, "
        "Signature=" + "a" * 64,
    ],
)
def test_parse_authorization_rejects_garbage(header: str | None) -> None:
    with pytest.raises(ValueError):
        parse_authorization(header)
