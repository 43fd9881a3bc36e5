"""Config loading: every bad config gets exact one-line messages; good configs resolve defaults."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from exporter.config import (
    Account,
    Config,
    ConfigError,
    Credentials,
    StreamEntry,
    Target,
    load_config,
    parse_config,
    parse_duration,
    summarize,
)
from exporter.cssapi import DEFAULT_ENDPOINT
from exporter.durations import format_duration

REPO = Path(__file__).resolve().parent.parent
SECRET_KEY = "Gu5t9xGARNpq86cd98joQYCN3-test-secret"
TOKEN = "tmp-session-token-0123456789-test"
SECRET_ID = "AKIDz8krbsJ5yKBZQpn74WFkmLPx3abcd"


def y(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


ACCOUNT = y(
    """
    accounts:
      - name: main
    """
)
TARGET = y(
    """
    targets:
      - domain: push.example.com
        streams: [s1]
    """
)
BUDGET_RANGE = (
    "(must be > 0 and <= 300 req/s, the documented DescribeLiveStreamState limit per account)"
)


# (id, yaml, env, expected problems in order)
BAD_CONFIGS: list[tuple[str, str, dict[str, str], list[str]]] = [
    # --- unknown keys at each level
    ("unknown-top-level-key", ACCOUNT + TARGET + "extra: 1\n", {}, ["extra: unknown key"]),
    (
        "unknown-account-key",
        y(
            """
            accounts:
              - name: main
                budgett: 10
            """
        )
        + TARGET,
        {},
        ["accounts[0].budgett: unknown key"],
    ),
    (
        "unknown-credentials-key",
        y(
            """
            accounts:
              - name: main
                credentials: {secret_id: AKIDx, secret_key: k, secretkey: k}
            """
        )
        + TARGET,
        {},
        ["accounts[0].credentials.secretkey: unknown key"],
    ),
    (
        "unknown-target-key",
        ACCOUNT
        + y(
            """
            targets:
              - domain: push.example.com
                intervall: 30s
                streams: [s1]
            """
        ),
        {},
        ["targets[0].intervall: unknown key"],
    ),
    (
        "unknown-stream-key",
        ACCOUNT
        + y(
            """
            targets:
              - domain: push.example.com
                streams:
                  - {name: s1, expect: true}
            """
        ),
        {},
        ["targets[0].streams[0].expect: unknown key"],
    ),
    # --- missing required keys
    ("missing-accounts", TARGET, {}, ["accounts: required key is missing"]),
    ("missing-targets", ACCOUNT, {}, ["targets: required key is missing"]),
    (
        "missing-account-name",
        "accounts:\n  - budget: 10\n" + TARGET,
        {},
        ["accounts[0].name: required key is missing"],
    ),
    (
        "missing-domain",
        ACCOUNT + "targets:\n  - streams: [s1]\n",
        {},
        ["targets[0].domain: required key is missing"],
    ),
    (
        "missing-streams",
        ACCOUNT + "targets:\n  - domain: push.example.com\n",
        {},
        ["targets[0].streams: required key is missing"],
    ),
    (
        "missing-stream-name",
        ACCOUNT + "targets:\n  - domain: d\n    streams: [{expect_live: true}]\n",
        {},
        ["targets[0].streams[0].name: required key is missing"],
    ),
    # --- wrong types
    (
        "accounts-not-a-list",
        "accounts: main\n" + TARGET,
        {},
        ['accounts: must be a list, got "main"'],
    ),
    (
        "target-not-a-mapping",
        ACCOUNT + "targets: [push.example.com]\n",
        {},
        ['targets[0]: must be a mapping, got "push.example.com"'],
    ),
    (
        "domain-null",
        ACCOUNT + "targets:\n  - domain:\n    streams: [s1]\n",
        {},
        ["targets[0].domain: must be a string, got null"],
    ),
    (
        "stream-numeric-name",
        ACCOUNT + "targets:\n  - domain: d\n    streams: [12345]\n",
        {},
        ["targets[0].streams[0]: must be a stream name or a mapping, got 12345 (quote it)"],
    ),
    (
        "expect-live-not-bool",
        ACCOUNT + "targets:\n  - domain: d\n    streams: [{name: s1, expect_live: maybe}]\n",
        {},
        ['targets[0].streams[0].expect_live: must be true or false, got "maybe"'],
    ),
    (
        "max-workers-fraction",
        "accounts:\n  - name: main\n    max_workers: 2.5\n" + TARGET,
        {},
        ["accounts[0].max_workers: must be a whole number, got 2.5"],
    ),
    (
        "max-workers-zero",
        "accounts:\n  - name: main\n    max_workers: 0\n" + TARGET,
        {},
        ["accounts[0].max_workers: must be between 1 and 256, got 0"],
    ),
    # --- durations
    (
        "bad-duration",
        ACCOUNT + "targets:\n  - domain: d\n    interval: fast\n    streams: [s1]\n",
        {},
        ['targets[0].interval: invalid duration "fast" (use e.g. 30s, 5m, 1h)'],
    ),
    (
        "duration-wrong-type",
        ACCOUNT + "targets:\n  - domain: d\n    interval: [30s]\n    streams: [s1]\n",
        {},
        ["targets[0].interval: must be a duration like 30s, 5m or 1h, got a list"],
    ),
    (
        "interval-below-minimum",
        ACCOUNT + "targets:\n  - domain: d\n    interval: 5s\n    streams: [s1]\n",
        {},
        ["targets[0].interval: 5s is below the minimum of 10s"],
    ),
    (
        "interval-above-maximum",
        ACCOUNT + "targets:\n  - domain: d\n    interval: 2h\n    streams: [s1]\n",
        {},
        ["targets[0].interval: 2h is above the maximum of 1h"],
    ),
    (
        "stale-after-below-interval",
        ACCOUNT
        + "targets:\n  - domain: d\n    interval: 1m\n    stale_after: 30s\n    streams: [s1]\n",
        {},
        ["targets[0].stale_after: 30s is shorter than interval (1m)"],
    ),
    (
        "timeout-zero",
        "accounts:\n  - name: main\n    timeout: 0\n" + TARGET,
        {},
        ["accounts[0].timeout: must be greater than 0s"],
    ),
    (
        "timeout-too-long",
        "accounts:\n  - name: main\n    timeout: 2m\n" + TARGET,
        {},
        ["accounts[0].timeout: 2m is above the maximum of 1m"],
    ),
    # --- duplicates and references
    (
        "duplicate-stream-same-target",
        ACCOUNT + "targets:\n  - domain: push.example.com\n    streams: [s1, s2, s1]\n",
        {},
        [
            "targets[0].streams[2]: duplicate stream push.example.com/live/s1"
            " (first at targets[0].streams[0])"
        ],
    ),
    (
        "duplicate-stream-across-targets",
        ACCOUNT
        + y(
            """
            targets:
              - domain: push.example.com
                streams: [a, b, s1]
              - domain: push.example.com
                interval: 30s
                streams:
                  - {name: s1, expect_live: true}
                  - other
            """
        ),
        {},
        [
            "targets[1].streams[0]: duplicate stream push.example.com/live/s1"
            " (first at targets[0].streams[2])"
        ],
    ),
    (
        "duplicate-account-name",
        y(
            """
            accounts:
              - name: main
              - name: main
            targets:
              - account: main
                domain: d
                streams: [s1]
            """
        ),
        {},
        ['accounts[1].name: duplicate account name "main" (first at accounts[0])'],
    ),
    (
        "unknown-account",
        y(
            """
            accounts:
              - name: main
              - name: backup
            targets:
              - account: main
                domain: d
                streams: [s1]
              - account: foo
                domain: d
                streams: [s2]
            """
        ),
        {},
        ['targets[1].account: unknown account "foo" (known: main, backup)'],
    ),
    (
        "missing-account-with-several",
        y(
            """
            accounts:
              - name: main
              - name: backup
            targets:
              - domain: d
                streams: [s1]
            """
        ),
        {},
        ["targets[0].account: required when several accounts are configured (known: main, backup)"],
    ),
    # --- credentials
    (
        "secret-id-without-key",
        "accounts:\n  - name: main\n    credentials: {secret_id: AKIDabc}\n" + TARGET,
        {},
        [
            "accounts[0].credentials: secret_id and secret_key must be given together"
            " (secret_key is missing)"
        ],
    ),
    (
        "secret-key-without-id",
        f"accounts:\n  - name: main\n    credentials: {{secret_key: {SECRET_KEY}}}\n" + TARGET,
        {},
        [
            "accounts[0].credentials: secret_id and secret_key must be given together"
            " (secret_id is missing)"
        ],
    ),
    (
        "token-without-key",
        f"accounts:\n  - name: main\n    credentials: {{token: {TOKEN}}}\n" + TARGET,
        {},
        ["accounts[0].credentials: token requires secret_id and secret_key"],
    ),
    (
        "secret-key-wrong-type-not-echoed",
        "accounts:\n  - name: main\n    credentials: {secret_id: AKIDabc, secret_key: 987654321}\n"
        + TARGET,
        {},
        ["accounts[0].credentials.secret_key: must be a string, got a number (quote it)"],
    ),
    (
        "token-wrong-type-not-echoed",
        "accounts:\n  - name: main\n    credentials:\n"
        f"      secret_id: AKIDabc\n      secret_key: k\n      token: [{TOKEN}]\n" + TARGET,
        {},
        ["accounts[0].credentials.token: must be a string, got a list"],
    ),
    (
        "secret-key-with-whitespace",
        "accounts:\n  - name: main\n    credentials: {secret_id: AKIDabc, secret_key: '${KEY}'}\n"
        + TARGET,
        {"KEY": SECRET_KEY + "\n"},
        ["accounts[0].credentials.secret_key: must not contain whitespace"],
    ),
    # --- budgets
    (
        "budget-zero",
        "accounts:\n  - name: main\n    budget: 0\n" + TARGET,
        {},
        [f"accounts[0].budget: impossible budget 0 {BUDGET_RANGE}"],
    ),
    (
        "budget-negative",
        "accounts:\n  - name: main\n    budget: -1\n" + TARGET,
        {},
        [f"accounts[0].budget: impossible budget -1 {BUDGET_RANGE}"],
    ),
    (
        "budget-above-documented-limit",
        "accounts:\n  - name: main\n    budget: 301\n" + TARGET,
        {},
        [f"accounts[0].budget: impossible budget 301 {BUDGET_RANGE}"],
    ),
    (
        "budget-not-a-number",
        "accounts:\n  - name: main\n    budget: lots\n" + TARGET,
        {},
        ['accounts[0].budget: must be a number, got "lots"'],
    ),
    (
        "budget-boolean",
        "accounts:\n  - name: main\n    budget: yes\n" + TARGET,
        {},
        ["accounts[0].budget: must be a number, got true"],
    ),
    # --- endpoints and names
    (
        "endpoint-with-path",
        "accounts:\n  - name: main\n    endpoint: https://live.tencentcloudapi.com/v1\n" + TARGET,
        {},
        [
            'accounts[0].endpoint: invalid endpoint "https://live.tencentcloudapi.com/v1"'
            " (use host[:port] or http(s)://host[:port], no path)"
        ],
    ),
    (
        "endpoint-bad-scheme",
        "accounts:\n  - name: main\n    endpoint: ftp://live.tencentcloudapi.com\n" + TARGET,
        {},
        [
            'accounts[0].endpoint: invalid endpoint "ftp://live.tencentcloudapi.com"'
            " (use host[:port] or http(s)://host[:port], no path)"
        ],
    ),
    (
        "endpoint-bad-port",
        "accounts:\n  - name: main\n    endpoint: 127.0.0.1:99999\n" + TARGET,
        {},
        [
            'accounts[0].endpoint: invalid endpoint "127.0.0.1:99999"'
            " (use host[:port] or http(s)://host[:port], no path)"
        ],
    ),
    (
        "account-name-invalid",
        "accounts:\n  - name: my account\n" + TARGET,
        {},
        [
            'accounts[0].name: invalid account name "my account"'
            ' (use 1-64 letters, digits, "_", "." or "-")'
        ],
    ),
    (
        "domain-with-scheme",
        ACCOUNT + "targets:\n  - domain: rtmp://push.example.com/live\n    streams: [s1]\n",
        {},
        [
            "targets[0].domain: must be the bare push domain, e.g. push.example.com"
            ' (no scheme or path), got "rtmp://push.example.com/live"'
        ],
    ),
    (
        "stream-name-whitespace",
        ACCOUNT + "targets:\n  - domain: d\n    streams: ['host alice']\n",
        {},
        ["targets[0].streams[0]: stream name must not contain whitespace"],
    ),
    (
        "stream-name-too-long",
        ACCOUNT + f"targets:\n  - domain: d\n    streams: [{'x' * 257}]\n",
        {},
        ["targets[0].streams[0]: stream name must be at most 256 characters"],
    ),
    # --- labels
    (
        "label-name-invalid",
        ACCOUNT + "targets:\n  - domain: d\n    labels: {Team-x: a}\n    streams: [s1]\n",
        {},
        ["targets[0].labels.Team-x: invalid label name (must match [a-zA-Z_][a-zA-Z0-9_]*)"],
    ),
    (
        "label-name-reserved",
        ACCOUNT + "targets:\n  - domain: d\n    labels: {stream: a}\n    streams: [s1]\n",
        {},
        ['targets[0].labels.stream: "stream" is a label the exporter sets itself'],
    ),
    (
        "label-name-double-underscore",
        ACCOUNT + "targets:\n  - domain: d\n    streams: [{name: s1, labels: {__name__: a}}]\n",
        {},
        [
            'targets[0].streams[0].labels.__name__: label names starting with "__"'
            " are reserved by Prometheus"
        ],
    ),
    (
        "label-name-boolean",
        ACCOUNT + "targets:\n  - domain: d\n    labels: {on: a}\n    streams: [s1]\n",
        {},
        ["targets[0].labels.true: label name must be a string, got true (quote it)"],
    ),
    (
        "label-value-number",
        ACCOUNT + "targets:\n  - domain: d\n    labels: {room: 101}\n    streams: [s1]\n",
        {},
        ["targets[0].labels.room: must be a string, got 101 (quote it)"],
    ),
    (
        "label-value-boolean",
        ACCOUNT + "targets:\n  - domain: d\n    streams: [{name: s1, labels: {vip: true}}]\n",
        {},
        ["targets[0].streams[0].labels.vip: must be a string, got true (quote it)"],
    ),
    # --- empty lists
    (
        "empty-streams",
        ACCOUNT + "targets:\n  - domain: d\n    streams: []\n",
        {},
        ["targets[0].streams: at least one stream is required"],
    ),
    (
        "empty-accounts",
        "accounts: []\n" + TARGET,
        {},
        ["accounts: at least one account is required"],
    ),
    ("empty-targets", ACCOUNT + "targets: []\n", {}, ["targets: at least one target is required"]),
    # --- file level
    (
        "yaml-syntax-error",
        "accounts: [\n  - name: main\n",
        {},
        [
            "config.yaml:2:3: invalid YAML: while parsing a flow node,"
            " expected the node content, but found '-'"
        ],
    ),
    (
        "yaml-duplicate-key",
        ACCOUNT + TARGET + "targets: []\n",
        {},
        ['config.yaml:6:1: invalid YAML: duplicate key "targets" (first on line 3)'],
    ),
    ("empty-file", "", {}, ["config.yaml: config is empty"]),
    ("comments-only", "# nothing yet\n", {}, ["config.yaml: config is empty"]),
    (
        "top-level-list",
        "- accounts\n- targets\n",
        {},
        ["config.yaml: top level must be a mapping with accounts and targets, got a list"],
    ),
    # --- interpolation
    (
        "missing-env-var",
        "accounts:\n  - name: main\n    credentials:\n"
        "      secret_id: ${TENCENT_ID}\n      secret_key: ${TENCENT_KEY}\n" + TARGET,
        {"TENCENT_ID": SECRET_ID},
        ["accounts[0].credentials.secret_key: environment variable TENCENT_KEY is not set"],
    ),
    (
        "missing-env-var-in-account-name-hides-reference-checks",
        y(
            """
            accounts:
              - name: main
              - name: ${BACKUP_NAME}
            targets:
              - account: backup
                domain: d
                streams: [s1]
            """
        ),
        {},
        ["accounts[1].name: environment variable BACKUP_NAME is not set"],
    ),
    (
        "unterminated-reference",
        ACCOUNT + "targets:\n  - domain: push-${REGION.example.com\n    streams: [s1]\n",
        {},
        [
            "targets[0].domain: invalid ${...} reference"
            " (use ${VAR} or ${VAR:-default}; $${ for a literal ${)"
        ],
    ),
    (
        "interpolated-duplicate-stream-not-echoed",
        ACCOUNT + "targets:\n  - domain: d\n    streams: [s1, '${S}']\n",
        {"S": "s1"},
        ["targets[0].streams[1]: duplicate stream d/live/${S} (first at targets[0].streams[0])"],
    ),
    (
        "bad-reference",
        ACCOUNT + "targets:\n  - domain: push-${}.example.com\n    streams: [s1]\n",
        {},
        [
            "targets[0].domain: invalid ${...} reference"
            " (use ${VAR} or ${VAR:-default}; $${ for a literal ${)"
        ],
    ),
    (
        "interpolated-value-not-echoed",
        "accounts:\n  - name: main\n    budget: ${BUDGET}\n" + TARGET,
        {"BUDGET": "s3cr3t-budget"},
        ["accounts[0].budget: must be a number, got ${BUDGET}"],
    ),
    (
        "interpolated-duration-not-echoed",
        ACCOUNT + "targets:\n  - domain: d\n    interval: ${INTERVAL}\n    streams: [s1]\n",
        {"INTERVAL": "5s"},
        ["targets[0].interval: ${INTERVAL} is below the minimum of 10s"],
    ),
    # --- several problems at once, reported in file order
    (
        "multiple-problems",
        y(
            """
            accounts:
              - name: main
                budget: 0
                credentials: {secret_id: AKIDabc}
              - name: backup
                endpoint: http://127.0.0.1:8080/
            targets:
              - domain: push.example.com
                interval: 5s
                labels: {Team: a, app: b}
                streams: [s1, s1]
              - account: nope
                domain: push.example.com
                streams: []
            unknown: 1
            """
        ),
        {},
        [
            f"accounts[0].budget: impossible budget 0 {BUDGET_RANGE}",
            "accounts[0].credentials: secret_id and secret_key must be given together"
            " (secret_key is missing)",
            'accounts[1].endpoint: invalid endpoint "http://127.0.0.1:8080/"'
            " (use host[:port] or http(s)://host[:port], no path)",
            "targets[0].interval: 5s is below the minimum of 10s",
            'targets[0].labels.app: "app" is a label the exporter sets itself',
            "targets[0].streams[1]: duplicate stream push.example.com/live/s1"
            " (first at targets[0].streams[0])",
            "targets[0].account: required when several accounts are configured"
            " (known: main, backup)",
            'targets[1].account: unknown account "nope" (known: main, backup)',
            "targets[1].streams: at least one stream is required",
            "unknown: unknown key",
        ],
    ),
]

SECRETS = (SECRET_KEY, TOKEN, "987654321", "s3cr3t-budget")


@pytest.mark.parametrize(
    ("text", "env", "expected"),
    [pytest.param(text, env, expected, id=case_id) for case_id, text, env, expected in BAD_CONFIGS],
)
def test_bad_config(text: str, env: dict[str, str], expected: list[str]) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, env=env, source="config.yaml")
    error = caught.value
    assert error.problems == expected
    assert str(error) == "\n".join(expected)
    for secret in SECRETS:
        assert secret not in str(error)
    # Nothing chained either: a traceback would print the pydantic error with its inputs.
    assert error.__cause__ is None
    assert error.__context__ is None or error.__suppress_context__


def test_bad_config_table_is_large_and_unique() -> None:
    ids = [case[0] for case in BAD_CONFIGS]
    assert len(ids) >= 30
    assert len(set(ids)) == len(ids)


# ---------------------------------------------------------------------------------------------
# Good configs


def test_defaults_resolved() -> None:
    config = parse_config(ACCOUNT + TARGET, env={})
    (account,) = config.accounts
    assert account.name == "main"
    assert account.credentials.uses_default_chain
    assert account.endpoint == DEFAULT_ENDPOINT
    assert account.endpoint_host == "live.tencentcloudapi.com"
    assert account.endpoint_scheme == "https"
    assert account.budget == 50.0
    assert account.timeout == 5.0
    assert account.max_workers is None
    (target,) = config.targets
    assert target.account == "main"
    assert target.app == "live"
    assert target.interval == 60.0
    assert target.stale_after is None
    assert target.effective_stale_after == 180.0
    assert target.labels == {}
    assert target.streams == [StreamEntry(name="s1")]
    assert target.streams[0].expect_live is None


def test_explicit_values() -> None:
    config = parse_config(
        y(
            """
            accounts:
              - name: main
                credentials: {secret_id: AKIDx, secret_key: k, token: t}
                endpoint: http://127.0.0.1:9000
                budget: 12.5
                timeout: 1500ms
                max_workers: 4
              - name: backup.2
                endpoint: live.intl.tencentcloudapi.com:443
            targets:
              - account: backup.2
                domain: push.example.com
                app: app2
                interval: 1m30s
                stale_after: 10m
                labels: {team: studio}
                streams:
                  - plain
                  - name: fancy
                    labels: {show: morning}
                    expect_live: false
            """
        ),
        env={},
    )
    main, backup = config.accounts
    assert not main.credentials.uses_default_chain
    assert main.credentials.token is not None
    assert main.credentials.token.get_secret_value() == "t"
    assert (main.endpoint_scheme, main.endpoint_host) == ("http", "127.0.0.1:9000")
    assert (backup.endpoint_scheme, backup.endpoint_host) == (
        "https",
        "live.intl.tencentcloudapi.com:443",
    )
    assert (main.budget, main.timeout, main.max_workers) == (12.5, 1.5, 4)
    (target,) = config.targets
    assert target.account == "backup.2"
    assert (target.interval, target.stale_after, target.effective_stale_after) == (90, 600, 600)
    assert target.streams == [
        StreamEntry(name="plain"),
        StreamEntry(name="fancy", labels={"show": "morning"}, expect_live=False),
    ]


def test_same_stream_name_in_other_app_or_account_is_not_a_duplicate() -> None:
    config = parse_config(
        y(
            """
            accounts: [{name: a}, {name: b}]
            targets:
              - {account: a, domain: d, streams: [s1]}
              - {account: a, domain: d, app: other, streams: [s1]}
              - {account: b, domain: d, streams: [s1]}
            """
        ),
        env={},
    )
    assert [t.account for t in config.targets] == ["a", "a", "b"]


def test_interpolation() -> None:
    env = {"ID": SECRET_ID, "KEY": SECRET_KEY, "EMPTY": "", "REGION": "sh", "B": "20"}
    config = parse_config(
        y(
            """
            accounts:
              - name: ${NAME:-main}
                credentials: {secret_id: "${ID}", secret_key: "${KEY}"}
                budget: ${B}
                timeout: ${TIMEOUT:-2s}
            targets:
              - domain: push-${REGION}.example.com
                app: ${EMPTY:-live}
                labels: {note: "costs $$5, literal $${HOME}", both: "${REGION}-${REGION}"}
                streams: ["$${NOT_A_VAR}", "${UNSET:-}x"]
            """
        ),
        env=env,
    )
    (account,) = config.accounts
    assert account.name == "main"
    assert account.credentials.secret_id == SECRET_ID
    assert account.credentials.secret_key == SecretStr(SECRET_KEY)
    assert (account.budget, account.timeout) == (20.0, 2.0)
    (target,) = config.targets
    assert target.domain == "push-sh.example.com"
    assert target.app == "live"
    # Only "$${" is an escape; a lone "$$" stays as written.
    assert target.labels == {"note": "costs $$5, literal ${HOME}", "both": "sh-sh"}
    assert [s.name for s in target.streams] == ["${NOT_A_VAR}", "x"]


def test_interpolation_defaults_to_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TLE_TEST_DOMAIN", "push.from-env.example.com")
    config = parse_config(ACCOUNT + "targets:\n  - domain: ${TLE_TEST_DOMAIN}\n    streams: [s]\n")
    assert config.targets[0].domain == "push.from-env.example.com"


def test_interpolation_does_not_touch_keys_or_non_strings() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(ACCOUNT + TARGET + "${X}: 1\n", env={"X": "accounts"})
    assert caught.value.problems == ['["${X}"]: unknown key']


def test_yaml_merge_keys_are_not_duplicates() -> None:
    text = y(
        """
        accounts: [{name: main}]
        targets:
          - &t
            domain: push.example.com
            streams: [s1]
            interval: 30s
          - <<: *t
            domain: push2.example.com
            interval: 45s
        """
    )
    config = parse_config(text, env={})
    assert [(t.domain, t.interval) for t in config.targets] == [
        ("push.example.com", 30.0),
        ("push2.example.com", 45.0),
    ]


# ---------------------------------------------------------------------------------------------
# Models used directly (by other modules and their tests)


def test_models_enforce_cross_checks_when_built_in_code() -> None:
    with pytest.raises(ValidationError) as caught:
        Config(
            accounts=[Account(name="a"), Account(name="b")],
            targets=[Target(account="a", domain="d", streams=[StreamEntry(name="s")])] * 2,
        )
    assert "targets[1].streams[0]: duplicate stream d/live/s (first at targets[0].streams[0])" in (
        str(caught.value)
    )


def test_models_resolve_single_account_when_built_in_code() -> None:
    config = Config(
        accounts=[Account(name="only")],
        targets=[Target(domain="d", streams=[StreamEntry(name="s")])],
    )
    assert config.targets[0].account == "only"


def test_models_are_frozen() -> None:
    account = Account(name="a")
    with pytest.raises(ValidationError):
        account.budget = 1.0


def test_secrets_do_not_leak_from_models() -> None:
    credentials = Credentials(
        secret_id=SECRET_ID, secret_key=SecretStr(SECRET_KEY), token=SecretStr(TOKEN)
    )
    config = Config(
        accounts=[Account(name="a", credentials=credentials)],
        targets=[Target(domain="d", streams=[StreamEntry(name="s")])],
    )
    for text in (repr(config), str(config)):
        assert SECRET_KEY not in text
        assert TOKEN not in text
    with pytest.raises(ValidationError) as caught:
        Config.model_validate(
            {"accounts": [{"name": "a", "credentials": {"secret_key": [SECRET_KEY]}}]}
        )
    assert SECRET_KEY not in str(caught.value)


# ---------------------------------------------------------------------------------------------
# Durations


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("90s", 90.0),
        ("1m30s", 90.0),
        ("2h", 7200.0),
        ("500ms", 0.5),
        ("1d", 86400.0),
        ("1w", 604800.0),
        ("1y", 31536000.0),
        ("1h2m3s4ms", 3723.004),
        ("0s", 0.0),
        (" 30s ", 30.0),
        ("45", 45.0),
        ("2.5", 2.5),
        (30, 30.0),
        (1.5, 1.5),
        (0, 0.0),
    ],
)
def test_parse_duration(value: str | int | float, seconds: float) -> None:
    assert parse_duration(value) == pytest.approx(seconds)


@pytest.mark.parametrize(
    "value",
    ["", "fast", "1.5m", "1s1m", "1m1m", "-5s", "5 s", "s", "1e3", "5S", -1, float("nan"), True],
)
def test_parse_duration_rejects(value: str | int | float) -> None:
    with pytest.raises(ValueError):
        parse_duration(value)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (0.5, "500ms"), (10, "10s"), (60, "1m"), (90, "1m30s"), (180, "3m"), (3600, "1h")],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text
    assert parse_duration(text) == seconds


# ---------------------------------------------------------------------------------------------
# Summary


def test_summarize_matches_and_hides_secrets() -> None:
    config = parse_config(
        y(
            """
            accounts:
              - name: main
                credentials:
                  secret_id: ${ID}
                  secret_key: ${KEY}
                  token: ${TOKEN}
              - name: backup
                endpoint: http://127.0.0.1:9000
                budget: 12.5
                timeout: 1500ms
                max_workers: 4
            targets:
              - account: main
                domain: push.example.com
                labels: {team: studio}
                streams: [a, b, {name: c, expect_live: true}, d, e]
              - account: backup
                domain: push.example.com
                app: app2
                interval: 30s
                stale_after: 2m
                streams: [f, g]
            """
        ),
        env={"ID": SECRET_ID, "KEY": SECRET_KEY, "TOKEN": TOKEN},
    )
    text = summarize(config)
    assert text == y(
        """
        accounts: 2
          main: endpoint live.tencentcloudapi.com, credentials explicit (secret_id AKID****abcd, with token), budget 50 req/s, timeout 5s
          backup: endpoint http://127.0.0.1:9000, credentials from the SDK default chain, budget 12.5 req/s, timeout 1s500ms, max_workers 4
        targets: 2, streams: 7
          main push.example.com/live: 5 streams every 1m (stale after 3m), labels team=studio, expect_live set on 1
          backup push.example.com/app2: 2 streams every 30s (stale after 2m)
        """  # noqa: E501
    ).rstrip("\n")
    assert SECRET_KEY not in text
    assert TOKEN not in text
    assert SECRET_ID not in text


def test_summarize_masks_short_secret_ids_completely() -> None:
    config = parse_config(
        "accounts:\n  - name: main\n    credentials: {secret_id: AKIDshort, secret_key: k}\n"
        + TARGET,
        env={},
    )
    assert "credentials explicit (secret_id ****)" in summarize(config)


# ---------------------------------------------------------------------------------------------
# Files


def test_load_config_file(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(ACCOUNT + TARGET, encoding="utf-8")
    assert load_config(path, env={}).targets[0].domain == "push.example.com"
    assert load_config(str(path), env={}).accounts[0].name == "main"


def test_load_config_names_the_file_in_yaml_errors(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("accounts: [\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    (problem,) = caught.value.problems
    assert problem.startswith(f"{path}:2:1: invalid YAML: ")


def test_load_config_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    assert caught.value.problems == [f"{path}: cannot read config: No such file or directory"]


def test_load_config_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path, env={})
    assert caught.value.problems == [f"{tmp_path}: cannot read config: Is a directory"]


def test_load_config_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_bytes(b"accounts: [{name: \xff}]\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    assert caught.value.problems == [f"{path}: cannot read config: not UTF-8 (byte 18)"]


def test_example_config_is_valid() -> None:
    env = {"TENCENTCLOUD_SECRET_ID": SECRET_ID, "TENCENTCLOUD_SECRET_KEY": SECRET_KEY}
    config = load_config(REPO / "config.example.yaml", env=env)
    assert [a.name for a in config.accounts] == ["main"]
    assert config.accounts[0].credentials.secret_id == SECRET_ID
    assert len(config.targets) == 2
    assert all(t.account == "main" for t in config.targets)
    assert any(t.labels for t in config.targets)
    assert any(s.expect_live is not None for t in config.targets for s in t.streams)
    assert SECRET_KEY not in summarize(config)


def test_example_config_without_env_names_the_variables() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(REPO / "config.example.yaml", env={})
    path = os.fspath(REPO / "config.example.yaml")
    assert path not in str(caught.value)
    assert caught.value.problems == [
        "accounts[0].credentials.secret_id: environment variable TENCENTCLOUD_SECRET_ID is not set",
        "accounts[0].credentials.secret_key: environment variable TENCENTCLOUD_SECRET_KEY"
        " is not set",
    ]


def test_config_error_keeps_one_line_per_problem() -> None:
    assert ConfigError("a: b").problems == ["a: b"]
    error = ConfigError(["a: first\nsecond", "b: ok"])
    assert error.problems == ["a: first second", "b: ok"]
    assert str(error) == "a: first second\nb: ok"
