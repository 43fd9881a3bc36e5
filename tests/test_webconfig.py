"""The web config file: broken-file corpus, valid files, header rules, bcrypt auth and its cache.

Each file in tests/corpus/webconfig/*.yml is broken on purpose and starts with one
``# expect: <line>`` comment per problem that loading it must report, in order; ``{file}`` stands
for the file's path and ``{dir}`` for its directory.
"""

from __future__ import annotations

import base64
import logging
import os
import ssl
import subprocess
import sys
from pathlib import Path

import bcrypt
import pytest

from exporter import logs
from exporter.web import (
    BCRYPT_HINT,
    CIPHER_SUITES,
    Authenticator,
    WebConfig,
    WebConfigError,
    load_web_config,
    parse_web_config,
    server_context,
)
from exporter.web import auth as web_auth
from tests.test_web_tls import Pki, make_pki

ROOT = Path(__file__).resolve().parent.parent
CORPUS = Path(__file__).resolve().parent / "corpus" / "webconfig"
CASES = sorted(CORPUS.glob("*.yml"))

PASSWORD = "s3cret-scrape-password"
# Cost 4, the cheapest, keeps the tests fast; real files use 10 or more.
HASH_2B = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()
HASH_2A = "$2a$" + HASH_2B[4:]
HASH_2Y = "$2y$" + HASH_2B[4:]


def expected_lines(path: Path) -> list[str]:
    lines = []
    for raw in path.read_bytes().decode("latin-1").splitlines():
        if not raw.startswith("# expect: "):
            break
        text = raw.removeprefix("# expect: ")
        lines.append(text.replace("{file}", str(path)).replace("{dir}", str(path.parent)))
    return lines


def test_corpus_is_big_enough() -> None:
    assert len(CASES) >= 20
    assert all(expected_lines(case) for case in CASES), "every case states its error"


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_broken_web_config(case: Path) -> None:
    with pytest.raises(WebConfigError) as caught:
        load_web_config(case)
    assert caught.value.problems == expected_lines(case)
    for line in caught.value.problems:
        assert "\n" not in line
        assert line.startswith(f"web config {case}")
    text = str(caught.value)
    # Never a hash, a password or key material in a message.
    for secret in ("$2y$10$", "hunter2", "$apr1$", "20240101", "12345678", "MIIB"):
        assert secret not in text


def test_missing_and_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(WebConfigError) as caught:
        load_web_config(tmp_path / "nope.yml")
    assert caught.value.problems == [f"web config {tmp_path / 'nope.yml'}: file not found"]
    with pytest.raises(WebConfigError) as caught:
        load_web_config(tmp_path)
    assert caught.value.problems == [f"web config {tmp_path}: cannot read: Is a directory"]


# --------------------------------------------------------------------------------------------
# Valid files


def test_empty_file_means_nothing_enabled(tmp_path: Path) -> None:
    for text in ("", "# just a comment\n", "tls_server_config:\nhttp_server_config:\n"):
        path = tmp_path / "web.yml"
        path.write_text(text)
        config = load_web_config(path)
        assert server_context(config) is None
        assert not config.tls_enabled and not config.auth_enabled
        assert config.headers == {}
        assert Authenticator(config.basic_auth_users).authorized(None)
        assert config.describe() == "TLS off, no basic auth"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def test_full_config_with_relative_paths(
    pki: Pki, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    conf_dir = pki.dir / "conf"
    conf_dir.mkdir(exist_ok=True)
    path = conf_dir / "web.yml"
    path.write_text(
        f"""
tls_server_config:
  cert_file: ../{pki.server.cert.name}
  key_file: ../{pki.server.key.name}
  client_auth_type: RequireAndVerifyClientCert
  client_ca_file: ../{pki.ca.cert.name}
  client_allowed_sans: [prometheus.example, 127.0.0.1]
  min_version: TLS12
  max_version: TLS13
  cipher_suites:
    - TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
    - TLS_AES_128_GCM_SHA256
  prefer_server_cipher_suites: false
http_server_config:
  http2: false
  headers:
    X-Frame-Options: sameorigin
    X-Content-Type-Options: nosniff
    X-XSS-Protection: ""
basic_auth_users:
  alice: {HASH_2Y}
  bob: {HASH_2B}
"""
    )
    monkeypatch.chdir(tmp_path)  # relative to the file, not to the working directory
    config = load_web_config(path)
    assert config.tls_server_config.cert_file == str(pki.server.cert)
    ctx = server_context(config)
    assert ctx is not None
    assert ctx.verify_mode == ssl.CERT_REQUIRED
    assert ctx.minimum_version == ssl.TLSVersion.TLSv1_2
    assert ctx.maximum_version == ssl.TLSVersion.TLSv1_3
    assert not ctx.options & ssl.OP_CIPHER_SERVER_PREFERENCE
    tls12 = {c["name"] for c in ctx.get_ciphers() if c["protocol"] == "TLSv1.2"}
    assert tls12 == {"ECDHE-ECDSA-AES128-GCM-SHA256"}
    # A blank header means unset.
    assert config.headers == {"X-Frame-Options": "sameorigin", "X-Content-Type-Options": "nosniff"}
    assert config.describe() == (
        "TLS on (TLS12 to TLS13, client certificates RequireAndVerifyClientCert),"
        " basic auth for 2 users, headers X-Frame-Options, X-Content-Type-Options"
    )
    assert config.source == str(path)
    # Hashes are secrets as far as the logs are concerned; repr shows none either.
    assert HASH_2Y[7:] not in repr(config)
    assert logs.redact(f"x {HASH_2Y} y") == f"x {logs.REDACTED} y"


def test_inline_pem(pki: Pki, tmp_path: Path) -> None:
    config = WebConfig.model_validate(
        {
            "tls_server_config": {
                "cert": pki.server.cert.read_text(),
                "key": pki.server.key.read_text(),
                "client_ca": pki.ca.cert.read_text(),
                "client_auth_type": "VerifyClientCertIfGiven",
            }
        }
    )
    ctx = server_context(config)
    assert ctx is not None and ctx.verify_mode == ssl.CERT_OPTIONAL
    assert ctx.cert_store_stats()["x509_ca"] == 1
    assert "PRIVATE KEY" not in repr(config)


@pytest.mark.parametrize(
    ("auth_type", "mode"),
    [
        ("NoClientCert", ssl.CERT_NONE),
        ("RequestClientCert", ssl.CERT_NONE),
        ("RequireAnyClientCert", ssl.CERT_REQUIRED),
        ("RequireClientCert", ssl.CERT_REQUIRED),  # the toolkit's older name
        ("VerifyClientCertIfGiven", ssl.CERT_OPTIONAL),
        ("RequireAndVerifyClientCert", ssl.CERT_REQUIRED),
    ],
)
def test_client_auth_types(pki: Pki, auth_type: str, mode: ssl.VerifyMode) -> None:
    tls: dict[str, object] = {
        "cert_file": str(pki.server.cert),
        "key_file": str(pki.server.key),
        "client_auth_type": auth_type,
    }
    if auth_type not in ("NoClientCert", "RequestClientCert"):
        tls["client_ca_file"] = str(pki.ca.cert)
    ctx = server_context(WebConfig.model_validate({"tls_server_config": tls}))
    assert ctx is not None and ctx.verify_mode == mode


def test_key_problems_are_named_without_content(pki: Pki, tmp_path: Path) -> None:
    other = make_pki(tmp_path / "other")
    path = tmp_path / "web.yml"
    path.write_text(
        f"tls_server_config: {{cert_file: {pki.server.cert}, key_file: {other.server.key}}}\n"
    )
    with pytest.raises(WebConfigError) as caught:
        load_web_config(path)
    assert caught.value.problems == [
        f"web config {path}: tls_server_config.key_file: private key does not match the certificate"
    ]
    encrypted = tmp_path / "encrypted.key"
    encrypted.write_text(
        "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIFHzBJBgkqhkiG9w0BBQ0w\n"
        "-----END ENCRYPTED PRIVATE KEY-----\n"
    )
    path.write_text(f"tls_server_config: {{cert_file: {pki.server.cert}, key_file: {encrypted}}}\n")
    with pytest.raises(WebConfigError) as caught:
        load_web_config(path)
    assert caught.value.problems == [
        f"web config {path}: tls_server_config.key_file: encrypted private keys are not"
        f" supported in {encrypted}"
    ]
    assert "MIIFHzBJ" not in str(caught.value)
    path.write_text(
        f"tls_server_config:\n  cert_file: {pki.server.cert}\n  key: |\n    not a key at all\n"
    )
    with pytest.raises(WebConfigError) as caught:
        load_web_config(path)
    assert caught.value.problems == [
        f"web config {path}: tls_server_config.key: no PEM private key"
    ]
    assert "not a key at all" not in str(caught.value)


def test_curve_preferences_accepted_and_logged(pki: Pki, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="exporter.web")
    config = WebConfig.model_validate(
        {
            "tls_server_config": {
                "cert_file": str(pki.server.cert),
                "key_file": str(pki.server.key),
                "curve_preferences": ["X25519", "CurveP256"],
            }
        }
    )
    assert server_context(config) is not None
    assert "curve_preferences is ignored" in caplog.text


def test_every_cipher_suite_maps_to_this_openssl(pki: Pki) -> None:
    for name, openssl_name in CIPHER_SUITES.items():
        config = WebConfig.model_validate(
            {
                "tls_server_config": {
                    "cert_file": str(pki.server.cert),
                    "key_file": str(pki.server.key),
                    "cipher_suites": [name],
                }
            }
        )
        ctx = server_context(config)
        assert ctx is not None
        if openssl_name is not None:
            assert openssl_name in {c["name"] for c in ctx.get_ciphers()}, name


# --------------------------------------------------------------------------------------------
# Header rules


@pytest.mark.parametrize(
    ("headers", "ok"),
    [
        ({"Strict-Transport-Security": "max-age=63072000; includeSubDomains"}, True),
        ({"Content-Security-Policy": "default-src 'none'"}, True),
        ({"X-XSS-Protection": "1; mode=block"}, True),
        ({"X-Frame-Options": "deny"}, True),
        ({"X-Frame-Options": "sameorigin"}, True),
        ({"X-Frame-Options": "DENY"}, False),  # the toolkit's values are exact
        ({"X-Content-Type-Options": "nosniff"}, True),
        ({"X-Frame-Options": ""}, True),  # blank: unset
        ({"Server": "nginx"}, False),
        ({"Set-Cookie": "a=b"}, False),
        ({"Content-Security-Policy": "a\nb"}, False),
        ({"X-XSS-Protection": "0\x00"}, False),
    ],
)
def test_header_rules(headers: dict[str, str], ok: bool) -> None:
    data = {"http_server_config": {"headers": headers}}
    if ok:
        config = WebConfig.model_validate(data)
        assert config.headers == {k: v for k, v in headers.items() if v}
    else:
        with pytest.raises(ValueError):
            WebConfig.model_validate(data)


# --------------------------------------------------------------------------------------------
# Basic auth


def basic(user: str | bytes, password: str | bytes) -> str:
    u = user.encode() if isinstance(user, str) else user
    p = password.encode() if isinstance(password, str) else password
    return "Basic " + base64.b64encode(u + b":" + p).decode()


def users(**hashes: str) -> Authenticator:
    """The authenticator of a web config with these users."""
    config = WebConfig.model_validate({"basic_auth_users": hashes})
    return Authenticator(config.basic_auth_users)


@pytest.mark.parametrize("hashed", [HASH_2A, HASH_2B, HASH_2Y], ids=["2a", "2b", "2y"])
def test_bcrypt_variants(hashed: str) -> None:
    config = users(alice=hashed)
    assert config.authorized(basic("alice", PASSWORD))
    assert not config.authorized(basic("alice", PASSWORD + "x"))


def test_rejected_headers() -> None:
    config = users(alice=HASH_2B, bob=HASH_2Y)
    for header in (
        None,
        "",
        "Basic",
        "Basic ",
        "Bearer " + base64.b64encode(f"alice:{PASSWORD}".encode()).decode(),
        "Basic !!!",
        "Basic " + base64.b64encode(f"alice{PASSWORD}".encode()).decode(),  # no colon
        basic("Alice", PASSWORD),  # usernames are case-sensitive
        basic("carol", PASSWORD),
        basic("", PASSWORD),
        basic("alice", ""),
        basic("alice", PASSWORD.upper()),
        "Basic " + "A" * 5000,
    ):
        assert not config.authorized(header), header
    assert config.authorized(basic("alice", PASSWORD))
    assert config.authorized("basic " + basic("bob", PASSWORD).split()[1])  # scheme any case
    assert config.authorized("  " + basic("bob", PASSWORD) + "  ")


def test_unicode_and_long_passwords() -> None:
    name, password = "jörg", "pässwörd-🔑"
    config = users(**{name: bcrypt.hashpw(password.encode(), bcrypt.gensalt(4)).decode()})
    assert config.authorized(basic(name, password))
    # bcrypt reads 72 bytes: a longer password matches its hash the way htpasswd made it.
    long = "x" * 100
    config = users(alice=bcrypt.hashpw(long[:72].encode(), bcrypt.gensalt(4)).decode())
    assert config.authorized(basic("alice", long))
    assert config.authorized(basic("alice", long[:72]))
    assert not config.authorized(basic("alice", long[:71]))
    # A colon in the password is fine: only the first one separates.
    config = users(alice=bcrypt.hashpw(b"a:b:c", bcrypt.gensalt(4)).decode())
    assert config.authorized(basic("alice", "a:b:c"))


class CountingCheckpw:
    def __init__(self) -> None:
        self.calls: list[bytes] = []
        self.real = bcrypt.checkpw

    def __call__(self, password: bytes, hashed: bytes) -> bool:
        self.calls.append(hashed)
        return self.real(password, hashed)


def test_successes_are_cached_failures_are_not(monkeypatch: pytest.MonkeyPatch) -> None:
    counter = CountingCheckpw()
    monkeypatch.setattr(bcrypt, "checkpw", counter)
    config = users(alice=HASH_2B)
    good = basic("alice", PASSWORD)
    for _ in range(20):  # a scrape every 15 s pays bcrypt once
        assert config.authorized(good)
    assert len(counter.calls) == 1
    for _ in range(3):
        assert not config.authorized(basic("alice", "guess"))
    assert len(counter.calls) == 4
    # An unknown user costs a bcrypt check too (against a hash of a random password), so
    # that timing does not tell which usernames exist.
    assert not config.authorized(basic("mallory", PASSWORD))
    assert len(counter.calls) == 5
    assert counter.calls[-1] != HASH_2B.encode()
    assert config.cache_size() == 1
    # Nothing in the cache is the password or derived from it without the process's key.
    for key in config._cache:
        assert PASSWORD.encode() not in key
        assert len(key) == 32


def test_cache_is_bounded_lru(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(web_auth, "AUTH_CACHE_SIZE", 3)
    passwords = [f"password-{i}" for i in range(5)]
    config = users(
        **{
            f"user{i}": bcrypt.hashpw(p.encode(), bcrypt.gensalt(4)).decode()
            for i, p in enumerate(passwords)
        }
    )
    for i, p in enumerate(passwords):
        assert config.authorized(basic(f"user{i}", p))
    assert config.cache_size() == 3
    counter = CountingCheckpw()
    monkeypatch.setattr(bcrypt, "checkpw", counter)
    assert config.authorized(basic("user4", passwords[4]))  # recent: cached
    assert counter.calls == []
    assert config.authorized(basic("user0", passwords[0]))  # evicted: checked again
    assert len(counter.calls) == 1


def test_two_configs_do_not_share_a_cache() -> None:
    a, b = users(alice=HASH_2B), users(alice=HASH_2B)
    assert a.authorized(basic("alice", PASSWORD))
    assert a.cache_size() == 1 and b.cache_size() == 0
    # A reloaded file with another hash for alice does not accept the old password.
    c = users(alice=bcrypt.hashpw(b"new password", bcrypt.gensalt(4)).decode())
    assert not c.authorized(basic("alice", PASSWORD))


# --------------------------------------------------------------------------------------------
# Command line


def run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TENCENTCLOUD_")}
    return subprocess.run(
        [sys.executable, "-m", "exporter", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
    )


CONFIG = """\
accounts:
  - name: main
targets:
  - domain: push.example.com
    streams: [a]
"""


def test_cli_rejects_bad_web_config(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG)
    bad = tmp_path / "bad.yml"
    bad.write_text("basic_auth_users:\n  alice: hunter2-plaintext\n")
    for extra in (("--config.check",), ("--web.listen-address", "127.0.0.1:0")):
        res = run(*extra, "--config.file", str(config), "--web.config.file", str(bad))
        assert res.returncode == 1, res.stderr
        assert "Traceback" not in res.stderr
        lines = res.stderr.strip().splitlines()
        assert lines == [f"web config {bad}: basic_auth_users.alice: {BCRYPT_HINT}"]
        assert "hunter2" not in res.stderr + res.stdout
    res = run(
        "--config.check", "--config.file", str(config), "--web.config.file", str(tmp_path / "x")
    )
    assert res.returncode == 1
    assert res.stderr.strip() == f"web config {tmp_path / 'x'}: file not found"


def test_cli_checks_a_good_web_config(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG)
    good = tmp_path / "web.yml"
    good.write_text(f"basic_auth_users:\n  alice: {HASH_2Y}\n")
    res = run("--config.check", "--config.file", str(config), "--web.config.file", str(good))
    assert res.returncode == 0, res.stderr
    assert f"{good}: web config is valid: TLS off, basic auth for 1 user" in res.stdout
    assert HASH_2Y not in res.stdout + res.stderr


def test_parse_without_file_names_no_path() -> None:
    with pytest.raises(WebConfigError) as caught:
        parse_web_config("tls_server_config: {min_version: TLS9}", "inline")
    assert str(caught.value).startswith("web config inline: tls_server_config.min_version: ")
