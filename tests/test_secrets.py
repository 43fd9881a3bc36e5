"""Secrets never leak: every output channel of the exporter is searched for the test secrets.

The secrets are distinctive (all of them contain ``LEAKCHECK``, which nothing else does), so any
fragment that reaches an output is found: the process's stdout and stderr at ``--log.level debug``
through a run with failing calls (AuthFailure from the simulator for a wrong key, timeouts from a
server that never answers), ``/metrics``, the status page, the health endpoints, 401 answers, the
callback receiver's answers, ``POST /-/reload`` after broken configs, SIGHUP reloads, and
``--config.check`` for a valid config and for broken ones whose bad values sit next to the
secrets. The basic-auth password is also looked for in its base64 forms (the Authorization header).
"""

from __future__ import annotations

import base64
import io
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import bcrypt
import pytest
import yaml

from exporter import callbacks, logs
from exporter.client import ClientSettings, CssClient
from exporter.config import ConfigError, parse_config
from exporter.model import ApiError, StreamKey
from exporter.simulator import Simulator
from tests.e2e import SECRET_ID, ExporterProcess, parse_samples, sample, start_simulator, wait_for

SECRET_KEY = "LEAKCHECK-secret-key-7f3a9c1e5b2d"  # wrong for the simulator: AuthFailure
TOKEN = "LEAKCHECK-session-token-2d8e4b6a1c0f"
CALLBACK_KEY = "LEAKCHECK-callback-key-9b1c3e5d7f1a"
OLD_CALLBACK_KEY = "LEAKCHECK-old-callback-key-4a6c8e0b2d"
SLOW_SECRET_KEY = "LEAKCHECK-slow-account-key-5e7a9c1b3d"
SLOW_TOKEN = "LEAKCHECK-slow-account-token-8f0b2d4c6e"
USER = "prometheus"
PASSWORD = "LEAKCHECK-basic-auth-pass-6d8f0a2c4e"
PASSWORD_HASH = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()

SECRETS = (
    SECRET_KEY,
    TOKEN,
    CALLBACK_KEY,
    OLD_CALLBACK_KEY,
    SLOW_SECRET_KEY,
    SLOW_TOKEN,
    PASSWORD,
)


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


FORBIDDEN: tuple[str, ...] = (
    "LEAKCHECK",  # the common prefix: catches any fragment that starts a secret
    *(s[-12:] for s in SECRETS),  # and the tails: catches fragments cut at the front
    _b64(f"{USER}:{PASSWORD}"),
    _b64(PASSWORD),
    _b64(f":{PASSWORD}"),
    PASSWORD_HASH,  # not a secret, but it can be attacked offline: keep it out too
    PASSWORD_HASH[7:29],  # its salt
)

DOMAIN = "push.example.com"
SLOW_DOMAIN = "slow.example.com"
GOOD_AUTH = {"Authorization": "Basic " + _b64(f"{USER}:{PASSWORD}")}


def assert_clean(text: str | bytes, where: str) -> None:
    if isinstance(text, bytes):
        text = text.decode("latin-1")
    for secret in FORBIDDEN:
        assert secret not in text, f"{where} contains {secret!r}:\n{text[:2000]}"


# --- configs -----------------------------------------------------------------------------------


def good_config(sim_url: str, slow_url: str) -> dict[str, Any]:
    return {
        "accounts": [
            {
                "name": "primary",
                "endpoint": sim_url,
                "credentials": {"secret_id": SECRET_ID, "secret_key": SECRET_KEY, "token": TOKEN},
                "callback_keys": [CALLBACK_KEY, OLD_CALLBACK_KEY],
                "timeout": "1s",
            },
            {
                "name": "slow",
                "endpoint": slow_url,
                "credentials": {
                    "secret_id": SECRET_ID,
                    "secret_key": SLOW_SECRET_KEY,
                    "token": SLOW_TOKEN,
                },
                "timeout": "1s",
            },
        ],
        "targets": [
            {
                "account": "primary",
                "domain": DOMAIN,
                "mode": "state",
                "interval": "10s",
                "streams": ["s1", "s2"],
            },
            {
                "account": "slow",
                "domain": SLOW_DOMAIN,
                "mode": "state",
                "interval": "10s",
                "streams": ["t1"],
            },
        ],
    }


TARGETS_YAML = f"""\
targets:
  - account: primary
    domain: {DOMAIN}
    streams: [s1]
"""


def _account_yaml(credentials: str, extra: str = "") -> str:
    return (
        "accounts:\n"
        "  - name: primary\n"
        "    endpoint: 127.0.0.1:9\n"
        "    credentials:\n" + credentials + extra + TARGETS_YAML
    )


_KEYS = f"      secret_id: {SECRET_ID}\n      secret_key: {SECRET_KEY}\n"
_CALLBACKS = f"    callback_keys: [{CALLBACK_KEY}, {OLD_CALLBACK_KEY}]\n"

# Broken configs whose bad value sits at or next to a secret: (name, YAML text, env).
BAD_CONFIGS: list[tuple[str, str, dict[str, str]]] = [
    (
        "secret_key a list",
        _account_yaml(f"      secret_id: {SECRET_ID}\n      secret_key: [{SECRET_KEY}]\n"),
        {},
    ),
    (
        "secret_key a mapping",
        _account_yaml(f"      secret_id: {SECRET_ID}\n      secret_key: {{value: {SECRET_KEY}}}\n"),
        {},
    ),
    ("token a list", _account_yaml(_KEYS + f"      token: [{TOKEN}]\n"), {}),
    ("token with a space", _account_yaml(_KEYS + f'      token: "{TOKEN} x"\n'), {}),
    (
        "secret_key with a newline",
        _account_yaml(f'      secret_id: {SECRET_ID}\n      secret_key: "{SECRET_KEY}\\n"\n'),
        {},
    ),
    (
        "secret_key without secret_id",
        _account_yaml(f"      secret_key: {SECRET_KEY}\n      token: {TOKEN}\n"),
        {},
    ),
    (
        "misspelt secret_key",
        _account_yaml(f"      secret_id: {SECRET_ID}\n      secret_kye: {SECRET_KEY}\n"),
        {},
    ),
    (
        "duplicate secret_key",
        _account_yaml(_KEYS + f"      secret_key: {SLOW_SECRET_KEY}\n"),
        {},
    ),
    (
        "credentials a list",
        _account_yaml("").replace(
            "    credentials:\n", f"    credentials: [{SECRET_ID}, {SECRET_KEY}]\n"
        ),
        {},
    ),
    ("callback_keys a string", _account_yaml(_KEYS, f"    callback_keys: {CALLBACK_KEY}\n"), {}),
    (
        "callback_keys with bad items",
        _account_yaml(
            _KEYS, f"    callback_keys: [{CALLBACK_KEY}, 5, {{k: {OLD_CALLBACK_KEY}}}, [x]]\n"
        ),
        {},
    ),
    (
        "callback_keys with an empty key",
        _account_yaml(_KEYS, f'    callback_keys: [{CALLBACK_KEY}, ""]\n'),
        {},
    ),
    (
        "bad timeout next to secrets",
        _account_yaml(_KEYS, _CALLBACKS + "    timeout: forever\n"),
        {},
    ),
    (
        "bad name next to secrets",
        _account_yaml(_KEYS, _CALLBACKS).replace("name: primary", "name: prim ary!"),
        {},
    ),
    (
        "secret from the environment in a wrong place",
        _account_yaml(_KEYS, "    timeout: ${EXPORTER_TIMEOUT}\n"),
        {"EXPORTER_TIMEOUT": SLOW_SECRET_KEY},
    ),
    (
        "secret_key from an unset variable",
        _account_yaml(
            f"      secret_id: {SECRET_ID}\n      secret_key: ${{EXPORTER_SECRET_KEY_UNSET}}\n"
        ),
        {},
    ),
    (
        "unclosed quote at the secret",
        _account_yaml(f'      secret_id: {SECRET_ID}\n      secret_key: "{SECRET_KEY}\n'),
        {},
    ),
    (
        "colon after the secret",
        _account_yaml(f"      secret_id: {SECRET_ID}\n      secret_key: {SECRET_KEY}: x\n"),
        {},
    ),
    ("tab after the secret", _account_yaml(_KEYS + f"\t  token: {TOKEN}\n"), {}),
    ("the file is the secret", SECRET_KEY + "\n", {}),
    ("the file is a key=value", f"secret_key {SECRET_KEY}\ntoken {TOKEN}\n", {}),
]


def _check_bad_config_problems(text: str, env: dict[str, str]) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(text, env=env, source="config.yaml")
    return info.value.problems


@pytest.mark.parametrize(("name", "text", "env"), BAD_CONFIGS, ids=[b[0] for b in BAD_CONFIGS])
def test_config_errors_never_show_a_secret(name: str, text: str, env: dict[str, str]) -> None:
    problems = _check_bad_config_problems(text, env)
    assert problems
    for problem in problems:
        assert "\n" not in problem
        assert_clean(problem, f"config problem for {name}")


def test_secret_written_as_a_key_is_not_shown() -> None:
    text = _account_yaml(f"      secret_id: {SECRET_ID}\n      {SECRET_KEY}: x\n")
    problems = _check_bad_config_problems(text, {})
    assert any("<unknown key>" in problem for problem in problems), problems
    for problem in problems:
        assert_clean(problem, "config problem")


# --- the SDK's own logger ------------------------------------------------------------------------


class _AuthFailureHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = json.dumps(
            {
                "Response": {
                    "Error": {
                        "Code": "AuthFailure.SignatureFailure",
                        "Message": "The provided credentials could not be validated.",
                    },
                    "RequestId": "00000000-0000-4000-8000-00000000a001",
                }
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    sdk = logging.getLogger("tencentcloud_sdk_common")
    saved = (root.handlers[:], root.level, sdk.level)
    yield
    root.handlers[:], root.level = saved[0], saved[1]
    sdk.setLevel(saved[2])
    logging.captureWarnings(False)


def test_sdk_debug_log_is_scrubbed(restore_logging: None) -> None:
    """Even with the SDK's logger turned up to debug (it logs whole requests, X-TC-Token
    included), the formatter scrubs every registered secret; the exporter keeps that logger at
    warning besides."""
    stream = io.StringIO()
    logs.setup("debug", "logfmt", stream=stream)
    logging.getLogger("tencentcloud_sdk_common").setLevel(logging.DEBUG)
    logs.register_secrets([SECRET_KEY, TOKEN])
    server = ThreadingHTTPServer(("127.0.0.1", 0), _AuthFailureHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    hanging = socket.socket()
    hanging.bind(("127.0.0.1", 0))
    hanging.listen(4)
    try:
        for host, timeout in (
            (f"127.0.0.1:{server.server_address[1]}", 5.0),
            (f"127.0.0.1:{hanging.getsockname()[1]}", 0.5),
        ):
            settings = ClientSettings("a", host, "http", timeout, SECRET_ID, SECRET_KEY, TOKEN)
            result = CssClient(settings).stream_state(StreamKey("a", DOMAIN, "live", "s1"))
            assert isinstance(result, ApiError)
            assert result.code in ("AuthFailure.SignatureFailure", "Timeout")
            assert_clean(result.message, "ApiError message")
    finally:
        server.shutdown()
        server.server_close()
        hanging.close()
    text = stream.getvalue()
    assert "SendRequest" in text and "X-TC-Token" in text  # the SDK did log the request
    assert "GetResponse" in text
    assert logs.REDACTED in text
    assert_clean(text, "SDK debug log")


# --- the exporter process ------------------------------------------------------------------------


def _request(
    url: str, method: str = "GET", body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, dict(resp.headers.items()), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers.items()), exc.read()


def _answer_text(status: int, headers: dict[str, str], body: bytes) -> str:
    head = "\n".join(f"{k}: {v}" for k, v in headers.items())
    return f"{status}\n{head}\n\n{body.decode('latin-1')}"


def _callback_body(t: int, key: str | None, domain: str = DOMAIN, **fields: Any) -> bytes:
    body: dict[str, Any] = {
        "app": domain,
        "appid": 12345678,
        "appname": "live",
        "channel_id": "s1",
        "errcode": 0,
        "errmsg": "ok",
        "event_time": t - 600,
        "event_type": 1,
        "node": "127.0.0.1",
        "sequence": str(t * 1000),
        "stream_id": "s1",
        "t": t,
        "user_ip": "127.0.0.1",
        "sign": callbacks.sign(key, t) if key is not None else "0" * 32,
    }
    body.update(fields)
    return json.dumps(body).encode()


@pytest.fixture
def sim() -> Iterator[Simulator]:
    s = start_simulator({"streams": [{"domain": DOMAIN, "stream": "s1", "state": "active"}]})
    yield s
    s.stop()


@pytest.fixture
def hanging_url() -> Iterator[str]:
    """A port that accepts connections and never answers: every call there times out."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    listener.close()


def _config_check(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("TENCENTCLOUD_")}
    proc = subprocess.run(
        [sys.executable, "-m", "exporter", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**base, **(env or {})},
    )
    return proc.returncode, proc.stdout + proc.stderr


def test_config_check_output_has_no_secret(
    tmp_path: Path, sim: Simulator, hanging_url: str
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(good_config(sim.url, hanging_url)))
    web = tmp_path / "web.yml"
    web.write_text(yaml.safe_dump({"basic_auth_users": {USER: PASSWORD_HASH}}))
    code, out = _config_check("--config.check", "--config.file", str(config))
    assert code == 0, out
    assert "configuration is valid" in out and "2 callback key(s)" in out
    assert_clean(out, "--config.check (valid)")
    code, out = _config_check(
        "--config.check", "--config.file", str(config), "--web.config.file", str(web)
    )
    assert code == 0, out
    assert "basic auth for 1 user" in out
    assert_clean(out, "--config.check (valid, web config)")

    # Broken configs at --config.check; a few at start-up too (the same loader, after
    # logging is set up). Four processes at a time: each spends a second importing.
    runs: list[tuple[str, tuple[str, ...], Path, dict[str, str]]] = []
    for i, (name, text, env) in enumerate(BAD_CONFIGS):
        bad = tmp_path / f"bad-{i}.yaml"
        bad.write_text(text)
        runs.append((name, ("--config.check",), bad, env))
        if i % 4 == 0:
            runs.append((name, ("--web.listen-address", "127.0.0.1:0"), bad, env))

    def run(item: tuple[str, tuple[str, ...], Path, dict[str, str]]) -> tuple[int, str]:
        _, args, path, env = item
        return _config_check(*args, "--config.file", str(path), env=env)

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(run, runs))
    for (name, args, _, _), (code, out) in zip(runs, results, strict=True):
        assert code == 1, (name, args, out)
        assert out.strip(), name
        assert "Traceback" not in out, out
        assert_clean(out, f"{' '.join(args)} with {name}")

    # Broken web configs: the plain password where the hash belongs, and a hash next to junk.
    for users in (
        {USER: PASSWORD},
        {USER: [PASSWORD]},
        {USER: PASSWORD_HASH, "bad:user": PASSWORD_HASH},
        {USER: PASSWORD_HASH.replace("$2b$04$", "$2b$03$")},
    ):
        web.write_text(yaml.safe_dump({"basic_auth_users": users}))
        code, out = _config_check(
            "--config.check", "--config.file", str(config), "--web.config.file", str(web)
        )
        assert code == 1, out
        assert_clean(out, f"--config.check with web config {list(users)}")


def test_no_output_channel_leaks_a_secret(tmp_path: Path, sim: Simulator, hanging_url: str) -> None:
    config = good_config(sim.url, hanging_url)
    config_path = tmp_path / "config.yaml"
    good_text = yaml.safe_dump(config)
    config_path.write_text(good_text)
    web = tmp_path / "web.yml"
    web.write_text(yaml.safe_dump({"basic_auth_users": {USER: PASSWORD_HASH}}))
    outputs: list[tuple[str, str]] = []  # (where, text)

    exp = ExporterProcess(config_path, ["--web.config.file", str(web)])
    try:
        base = exp.url

        def get(path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
            status, head, body = _request(base + path, headers={**GOOD_AUTH, **(headers or {})})
            outputs.append((f"GET {path}", _answer_text(status, head, body)))
            return status, body

        def post(path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
            status, head, answer = _request(base + path, "POST", body, headers)
            outputs.append((f"POST {path}", _answer_text(status, head, answer)))
            return status, answer

        # Both accounts fail: AuthFailure (wrong key) and Timeout (nobody answers).
        def failures_counted() -> bool:
            m = parse_samples(get("/metrics")[1].decode())
            codes = {dict(ls).get("code") for (n, ls) in m if n == "tencent_live_api_errors_total"}
            return "Timeout" in codes and any(c and c.startswith("AuthFailure") for c in codes)

        wait_for(failures_counted, 30, "AuthFailure and Timeout counted")

        # Callbacks: no basic auth on this path, the signature guards it.
        now = int(time.time())
        cb = {"Content-Type": "application/json"}
        assert post("/callbacks/live", _callback_body(now + 600, None), cb)[0] == 401
        assert post("/callbacks/live", _callback_body(now + 600, "wrong-key"), cb)[0] == 401
        answer = post("/callbacks/live", _callback_body(now + 600, CALLBACK_KEY), cb)
        assert answer[0] == 200, answer
        old = _callback_body(now + 601, OLD_CALLBACK_KEY, sequence=str(now * 1000 + 1))
        assert post("/callbacks/live", old, cb)[0] == 200
        # Expired: acknowledged (so that CSS stops retrying), not applied; no secret echoed.
        assert post("/callbacks/live", _callback_body(now - 5, CALLBACK_KEY), cb)[0] == 200
        other = _callback_body(now + 600, CALLBACK_KEY, domain="other.example.com")
        assert post("/callbacks/live", other, cb)[0] == 401
        # The key itself, or its signature, where the sign belongs: never echoed.
        for sign in (CALLBACK_KEY, CALLBACK_KEY[:32], callbacks.sign(CALLBACK_KEY, now)):
            body = _callback_body(now + 600, None, sign=sign)
            assert post("/callbacks/live", body, cb)[0] == 401
        assert post("/callbacks/live", b"{not json", cb)[0] == 400
        assert post("/callbacks/live", _callback_body(now + 600, None, sign=5), cb)[0] == 400
        assert get("/callbacks/live")[0] == 405

        # 401s: no credentials, a wrong password, a wrong user, garbage.
        for headers in (
            {},
            {"Authorization": "Basic " + _b64(f"{USER}:wrong-password")},
            {"Authorization": "Basic " + _b64(f"nobody:{PASSWORD}")},
            {"Authorization": "Basic !!!not-base64"},
            {"Authorization": f"Bearer {PASSWORD}"},
        ):
            for path in ("/metrics", "/", "/-/reload"):
                status, head, body = _request(base + path, headers=headers)
                assert status == 401, (path, headers, status)
                outputs.append((f"401 {path}", _answer_text(status, head, body)))

        # Every page, with good credentials.
        assert get("/metrics")[0] == 200
        assert get("/metrics", {"Accept": "application/openmetrics-text; version=1.0.0"})[0] == 200
        status, page = get("/")
        assert status == 200 and b"AuthFailure" in page and b"Timeout" in page
        assert get("/?state=unknown")[0] == 200
        get("/-/ready")
        assert get("/-/healthy")[0] == 200
        assert get("/nowhere")[0] == 404

        # Reloads of broken configs: answered 500 with the reason, the old config kept.
        reloads = [(name, text) for name, text, env in BAD_CONFIGS if not env]  # env is fixed
        for name, text in reloads:
            config_path.write_text(text)
            status, reason = post("/-/reload", b"", GOOD_AUTH)
            assert status == 500, (name, status, reason)
            assert reason.strip(), name
        exp.proc.send_signal(signal.SIGHUP)  # the last bad one again, by signal this time

        def failed_reloads() -> int:
            return sum("reload failed" in line for line in exp.log_lines)

        wait_for(lambda: failed_reloads() > len(reloads), 10, "SIGHUP reload logged")
        m = parse_samples(get("/metrics")[1].decode())
        assert sample(m, "tencent_live_exporter_config_last_reload_successful") == 0
        config_path.write_text(good_text)
        assert post("/-/reload", b"", GOOD_AUTH)[0] == 200
        get("/metrics")
        get("/")
    finally:
        exp.stop()
    assert exp.proc.stdout is not None
    stdout = exp.proc.stdout.read()
    exp.proc.stdout.close()
    assert exp.proc.stderr is not None
    exp.proc.stderr.close()

    log = "\n".join(exp.log_lines)
    assert "AuthFailure" in log and "reload failed" in log  # the run did log its failures
    assert not any("Traceback" in line for line in exp.log_lines)
    # The SDK's logger stays at warning even at --log.level debug: no request dumps at all.
    assert "SendRequest" not in log and "GetResponse" not in log
    outputs.append(("stderr", log))
    outputs.append(("stdout", stdout))
    for where, text in outputs:
        assert_clean(text, where)
