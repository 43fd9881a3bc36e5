"""Config loading: every bad config gets exact one-line messages; good configs resolve defaults."""

from __future__ import annotations

import os
import re
import textwrap
from pathlib import Path

import pytest
from pydantic import BaseModel, SecretStr, ValidationError

from exporter.config import (
    Account,
    CallbackSettings,
    Config,
    ConfigError,
    Credentials,
    MetricsSettings,
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
CALLBACK_KEY = "cb-key-0123456789-test-callback"
FRACTION_RANGE = (
    "(must be > 0 and <= 1: the share of each action's per-account limit this exporter may spend)"
)
KNOWN_ACTIONS = (
    "DescribeLiveStreamState, DescribeLiveStreamOnlineList, DescribeLiveStreamPushInfoList,"
    " DescribeLiveForbidStreamList, DescribeAllStreamPlayInfoList, DescribeLiveDomainPlayInfoList,"
    " DescribePlayErrorCodeDetailInfoList, DescribeLiveDomainCertBindings, DescribeLivePackageInfo,"
    " DescribeLiveStreamEventList, DescribeCallbackRecordsList"
)
CALLBACK_PATH_RULE = "must be an absolute path other than /, /metrics and /-/..., got"


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
        # Not named: a key mistyped under credentials may be the secret itself.
        ['accounts[0].credentials["<unknown key>"]: unknown key'],
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
        "accounts:\n  - timeout: 5s\n" + TARGET,
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
        "missing-streams-without-discovery",
        ACCOUNT + "targets:\n  - domain: push.example.com\n    discover: false\n",
        {},
        ["targets[0].streams: at least one stream is required unless discover is true"],
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
        [
            "targets[0].streams[0].expect_live: must be true, false, or a schedule (a mapping"
            ' with weekly/once windows, or schedule: NAME), got "maybe"'
        ],
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
        "budget-fraction-zero",
        "accounts:\n  - name: main\n    budget_fraction: 0\n" + TARGET,
        {},
        [f"accounts[0].budget_fraction: impossible budget_fraction 0 {FRACTION_RANGE}"],
    ),
    (
        "budget-fraction-negative",
        "accounts:\n  - name: main\n    budget_fraction: -0.5\n" + TARGET,
        {},
        [f"accounts[0].budget_fraction: impossible budget_fraction -0.5 {FRACTION_RANGE}"],
    ),
    (
        "budget-fraction-above-one",
        "accounts:\n  - name: main\n    budget_fraction: 1.01\n" + TARGET,
        {},
        [f"accounts[0].budget_fraction: impossible budget_fraction 1.01 {FRACTION_RANGE}"],
    ),
    (
        # A percentage where a fraction is meant.
        "budget-fraction-percentage",
        "accounts:\n  - name: main\n    budget_fraction: 25\n" + TARGET,
        {},
        [f"accounts[0].budget_fraction: impossible budget_fraction 25 {FRACTION_RANGE}"],
    ),
    (
        "budget-fraction-nan-text",
        "accounts:\n  - name: main\n    budget_fraction: NaN\n" + TARGET,
        {},
        [f"accounts[0].budget_fraction: impossible budget_fraction nan {FRACTION_RANGE}"],
    ),
    (
        "budget-fraction-yaml-nan",
        "accounts:\n  - name: main\n    budget_fraction: .nan\n" + TARGET,
        {},
        [f"accounts[0].budget_fraction: impossible budget_fraction nan {FRACTION_RANGE}"],
    ),
    (
        "budget-fraction-not-a-number",
        "accounts:\n  - name: main\n    budget_fraction: lots\n" + TARGET,
        {},
        ['accounts[0].budget_fraction: must be a number, got "lots"'],
    ),
    (
        "budget-fraction-boolean",
        "accounts:\n  - name: main\n    budget_fraction: yes\n" + TARGET,
        {},
        ["accounts[0].budget_fraction: must be a number, got true"],
    ),
    (
        "old-budget-key",
        "accounts:\n  - name: main\n    budget: 50\n" + TARGET,
        {},
        ["accounts[0].budget: unknown key"],
    ),
    (
        "api-limits-unknown-action",
        "accounts:\n  - name: main\n    api_limits: {DescribeLiveStreamStates: 500}\n" + TARGET,
        {},
        [
            'accounts[0].api_limits: unknown action "DescribeLiveStreamStates"'
            f" (known: {KNOWN_ACTIONS})"
        ],
    ),
    (
        "api-limits-zero",
        "accounts:\n  - name: main\n    api_limits: {DescribeLiveStreamState: 0}\n" + TARGET,
        {},
        [
            "accounts[0].api_limits: impossible limit 0 for DescribeLiveStreamState"
            " (must be > 0 and <= 100000 req/s)"
        ],
    ),
    (
        "api-limits-negative",
        "accounts:\n  - name: main\n    api_limits: {DescribeLiveStreamOnlineList: -80}\n" + TARGET,
        {},
        [
            "accounts[0].api_limits: impossible limit -80 for DescribeLiveStreamOnlineList"
            " (must be > 0 and <= 100000 req/s)"
        ],
    ),
    (
        "api-limits-not-a-number",
        "accounts:\n  - name: main\n    api_limits: {DescribeLiveStreamState: lots}\n" + TARGET,
        {},
        ['accounts[0].api_limits.DescribeLiveStreamState: must be a number, got "lots"'],
    ),
    (
        "api-limits-not-a-mapping",
        "accounts:\n  - name: main\n    api_limits: 500\n" + TARGET,
        {},
        ["accounts[0].api_limits: must be a mapping, got 500"],
    ),
    # --- callback keys: secrets, never echoed
    (
        "callback-key-empty",
        "accounts:\n  - name: main\n    callback_keys: ['${CB_KEY}', '']\n" + TARGET,
        {"CB_KEY": CALLBACK_KEY},
        ["accounts[0].callback_keys: callback keys must not be empty"],
    ),
    (
        "callback-key-empty-from-env",
        "accounts:\n  - name: main\n    callback_keys: ['${CB_KEY}', '${CB_OLD:-}']\n" + TARGET,
        {"CB_KEY": CALLBACK_KEY},
        ["accounts[0].callback_keys: callback keys must not be empty"],
    ),
    (
        "callback-keys-not-a-list-not-echoed",
        f"accounts:\n  - name: main\n    callback_keys: {CALLBACK_KEY}\n" + TARGET,
        {},
        ["accounts[0].callback_keys: must be a list, got a string"],
    ),
    (
        "callback-key-number-not-echoed",
        "accounts:\n  - name: main\n    callback_keys: [24681357909]\n" + TARGET,
        {},
        ["accounts[0].callback_keys[0]: must be a string, got a number (quote it)"],
    ),
    (
        "callback-key-mapping-not-echoed",
        f"accounts:\n  - name: main\n    callback_keys: [{{key: {CALLBACK_KEY}}}]\n" + TARGET,
        {},
        ["accounts[0].callback_keys[0]: must be a string, got a mapping"],
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
    # --- target modes, rounds and discovery
    (
        "mode-unknown",
        ACCOUNT + "targets:\n  - domain: d\n    mode: poll\n    streams: [s1]\n",
        {},
        ['targets[0].mode: must be one of auto, state, online_list, got "poll"'],
    ),
    (
        "round-interval-below-minimum",
        ACCOUNT + "targets:\n  - domain: d\n    round_interval: 5s\n",
        {},
        ["targets[0].round_interval: 5s is below the minimum of 10s"],
    ),
    (
        "round-interval-above-maximum",
        ACCOUNT + "targets:\n  - domain: d\n    round_interval: 61m\n",
        {},
        ["targets[0].round_interval: 1h1m is above the maximum of 1h"],
    ),
    (
        "max-streams-zero",
        ACCOUNT + "targets:\n  - domain: d\n    max_streams: 0\n",
        {},
        ["targets[0].max_streams: must be between 1 and 1000000, got 0"],
    ),
    (
        "max-streams-boolean",
        ACCOUNT + "targets:\n  - domain: d\n    max_streams: yes\n",
        {},
        ["targets[0].max_streams: must be a number, got true"],
    ),
    (
        "page-size-zero",
        ACCOUNT + "targets:\n  - domain: d\n    page_size: 0\n",
        {},
        ["targets[0].page_size: must be between 10 and 300000, got 0"],
    ),
    (
        "page-size-above-maximum",
        ACCOUNT + "targets:\n  - domain: d\n    page_size: 300001\n",
        {},
        ["targets[0].page_size: must be between 10 and 300000, got 300001"],
    ),
    (
        "retention-zero",
        ACCOUNT + "targets:\n  - domain: d\n    retention: 0s\n",
        {},
        ["targets[0].retention: must be greater than 0s"],
    ),
    (
        "forbid-check-interval-zero",
        ACCOUNT + "targets:\n  - domain: d\n    forbid_check_interval: 0s\n",
        {},
        ["targets[0].forbid_check_interval: must be greater than 0s"],
    ),
    (
        "down-after-zero",
        ACCOUNT + "targets:\n  - domain: d\n    down_after: 0s\n",
        {},
        ["targets[0].down_after: must be greater than 0s"],
    ),
    (
        "stream-down-after-zero",
        ACCOUNT + "targets:\n  - domain: d\n    streams: [{name: s1, down_after: 0s}]\n",
        {},
        ["targets[0].streams[0].down_after: must be greater than 0s"],
    ),
    (
        "push-info-not-bool",
        ACCOUNT + "targets:\n  - domain: d\n    push_info_ips: sometimes\n",
        {},
        ['targets[0].push_info_ips: must be true or false, got "sometimes"'],
    ),
    (
        "no-streams-discover-false",
        ACCOUNT + "targets:\n  - domain: d\n    discover: false\n    interval: 30s\n",
        {},
        ["targets[0].streams: at least one stream is required unless discover is true"],
    ),
    (
        "discover-not-bool",
        ACCOUNT + "targets:\n  - domain: d\n    discover: maybe\n",
        {},
        ['targets[0].discover: must be true or false, got "maybe"'],
    ),
    (
        "mode-state-discovers-by-default",
        ACCOUNT + "targets:\n  - domain: d\n    mode: state\n",
        {},
        [
            "targets[0].mode: state polls listed streams only and cannot discover (discovery"
            " reads the online list): list the streams, or use auto or online_list"
        ],
    ),
    (
        "mode-state-with-discover-true",
        ACCOUNT + "targets:\n  - domain: d\n    mode: state\n    discover: true\n"
        "    streams: [s1]\n",
        {},
        [
            "targets[0].mode: state polls listed streams only and cannot discover (discovery"
            " reads the online list): use auto or online_list, or set discover: false"
        ],
    ),
    (
        "discovering-target-after-listed-one",
        ACCOUNT
        + y(
            """
            targets:
              - domain: push.example.com
                streams: [s1]
              - domain: push.example.com
                app: other
              - domain: push.example.com
                labels: {team: a}
            """
        ),
        {},
        [
            "targets[2].domain: this target discovers streams of push.example.com/live,"
            " already tracked by targets[0]: a discovering target must be the only one for its"
            " account, domain and app"
        ],
    ),
    (
        "listed-target-after-discovering-one",
        ACCOUNT
        + y(
            """
            targets:
              - domain: push.example.com
                discover: true
                streams: [s1]
              - domain: push.example.com
                streams: [s2]
            """
        ),
        {},
        [
            "targets[1].domain: push.example.com/live is already tracked by targets[0], which"
            " discovers its streams: list these streams there"
        ],
    ),
    (
        "two-discovering-targets-interpolated-not-echoed",
        ACCOUNT + "targets:\n  - domain: ${D}\n  - domain: ${D}\n    app: live\n",
        {"D": "push.example.com"},
        [
            "targets[1].domain: this target discovers streams of ${D}/live, already tracked by"
            " targets[0]: a discovering target must be the only one for its account, domain"
            " and app"
        ],
    ),
    # --- callbacks
    (
        "callbacks-path-relative",
        ACCOUNT + TARGET + "callbacks: {path: callbacks/live}\n",
        {},
        [f'callbacks.path: {CALLBACK_PATH_RULE} "callbacks/live"'],
    ),
    (
        "callbacks-path-metrics",
        ACCOUNT + TARGET + "callbacks: {path: /metrics}\n",
        {},
        [f'callbacks.path: {CALLBACK_PATH_RULE} "/metrics"'],
    ),
    (
        "callbacks-path-reload",
        ACCOUNT + TARGET + "callbacks: {path: /-/reload}\n",
        {},
        [f'callbacks.path: {CALLBACK_PATH_RULE} "/-/reload"'],
    ),
    (
        "callbacks-path-root",
        ACCOUNT + TARGET + "callbacks: {path: /}\n",
        {},
        [f'callbacks.path: {CALLBACK_PATH_RULE} "/"'],
    ),
    (
        "callbacks-max-age-zero",
        ACCOUNT + TARGET + "callbacks: {max_age: 0s}\n",
        {},
        ["callbacks.max_age: must be greater than 0s"],
    ),
    (
        "callbacks-unknown-key",
        ACCOUNT + TARGET + "callbacks: {paht: /cb}\n",
        {},
        ["callbacks.paht: unknown key"],
    ),
    (
        "callbacks-not-a-mapping",
        ACCOUNT + TARGET + "callbacks: /callbacks/live\n",
        {},
        ['callbacks: must be a mapping, got "/callbacks/live"'],
    ),
    # --- empty lists
    (
        "empty-streams-without-discovery",
        ACCOUNT + "targets:\n  - domain: d\n    streams: []\n    discover: no\n",
        {},
        ["targets[0].streams: at least one stream is required unless discover is true"],
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
            'config.yaml:2:3: invalid YAML: a "- " list item inside the "[" on line 1, column 11:'
            ' close it with "]" before the item, or write the list in one style'
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
        "accounts:\n  - name: main\n    budget_fraction: ${BUDGET}\n" + TARGET,
        {"BUDGET": "s3cr3t-budget"},
        ["accounts[0].budget_fraction: must be a number, got ${BUDGET}"],
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
                budget_fraction: 0
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
                discover: false
            unknown: 1
            """
        ),
        {},
        [
            f"accounts[0].budget_fraction: impossible budget_fraction 0 {FRACTION_RANGE}",
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
            "targets[1].streams: at least one stream is required unless discover is true",
            "unknown: unknown key",
        ],
    ),
]

SECRETS = (SECRET_KEY, TOKEN, "987654321", "s3cr3t-budget", CALLBACK_KEY, "24681357909")


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
    assert account.budget_fraction == 0.25
    assert account.api_limits == {}
    # A quarter of each action's documented per-account limit (300, 80, 30 and 100 req/s).
    assert account.budget("DescribeLiveStreamState") == 75.0
    assert account.budget("DescribeLiveStreamOnlineList") == 20.0
    assert account.budget("DescribeLiveStreamPushInfoList") == 7.5
    # With no site set, the stricter site's limit: the China site's 2/s.
    assert account.budget("DescribeLiveForbidStreamList") == 0.5
    assert account.timeout == 5.0
    assert account.max_workers is None
    assert account.callback_keys == []
    (target,) = config.targets
    assert target.account == "main"
    assert target.app == "live"
    assert target.mode == "auto"
    assert target.interval == 60.0
    assert target.round_interval is None
    assert target.effective_round_interval == 60.0
    assert target.stale_after is None
    assert target.effective_stale_after == 180.0
    assert target.labels == {}
    assert target.streams == [StreamEntry(name="s1")]
    assert target.streams[0].expect_live is None
    assert target.streams[0].down_after is None
    assert target.discover is None
    assert not target.discovers
    assert target.retention == 86400.0
    assert target.max_streams == 20000
    assert target.page_size is None  # per the account's site (tests/test_config_sites.py)
    assert target.forbid_check_interval == 600.0
    assert target.push_info is True
    assert target.push_info_ips is False
    assert target.down_after == 300.0
    assert config.callbacks.path == "/callbacks/live"
    assert config.callbacks.max_age == 600.0


def test_explicit_values() -> None:
    config = parse_config(
        y(
            """
            accounts:
              - name: main
                credentials: {secret_id: AKIDx, secret_key: k, token: t}
                endpoint: http://127.0.0.1:9000
                budget_fraction: 0.5
                api_limits: {DescribeLiveStreamState: 500, DescribeLiveStreamOnlineList: 200}
                timeout: 1500ms
                max_workers: 4
                callback_keys: [new-key, old-key]
              - name: backup.2
                endpoint: live.intl.tencentcloudapi.com:443
                budget_fraction: 1
            targets:
              - account: backup.2
                domain: push.example.com
                app: app2
                mode: online_list
                interval: 1m30s
                round_interval: 2m
                stale_after: 10m
                labels: {team: studio}
                streams:
                  - plain
                  - name: fancy
                    labels: {show: morning}
                    expect_live: false
                    down_after: 30s
                discover: true
                retention: 7d
                max_streams: 500
                page_size: 50
                forbid_check_interval: 1m
                push_info: false
                push_info_ips: true
                down_after: 2m
            callbacks:
              path: /hooks/css
              max_age: 1h
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
    assert (main.budget_fraction, main.timeout, main.max_workers) == (0.5, 1.5, 4)
    assert main.budget("DescribeLiveStreamState") == 250.0
    assert main.budget("DescribeLiveStreamOnlineList") == 100.0
    assert main.budget("DescribeLiveStreamPushInfoList") == 15.0
    assert [key.get_secret_value() for key in main.callback_keys] == ["new-key", "old-key"]
    assert backup.budget("DescribeLiveStreamState") == 300.0
    (target,) = config.targets
    assert target.account == "backup.2"
    assert target.mode == "online_list"
    assert (target.interval, target.stale_after, target.effective_stale_after) == (90, 600, 600)
    assert (target.round_interval, target.effective_round_interval) == (120, 120)
    assert target.streams == [
        StreamEntry(name="plain"),
        StreamEntry(name="fancy", labels={"show": "morning"}, expect_live=False, down_after=30),
    ]
    assert target.discover is True
    assert target.discovers
    assert (target.retention, target.max_streams, target.page_size) == (7 * 86400, 500, 50)
    assert target.forbid_check_interval == 60
    assert (target.push_info, target.push_info_ips, target.down_after) == (False, True, 120)
    assert (config.callbacks.path, config.callbacks.max_age) == ("/hooks/css", 3600)


def test_target_without_streams_discovers() -> None:
    config = parse_config(
        y(
            """
            accounts: [{name: a}, {name: b}]
            targets:
              - {account: a, domain: push.example.com}
              - {account: a, domain: push.example.com, app: other, streams: []}
              - {account: b, domain: push.example.com, mode: online_list}
              - {account: a, domain: push2.example.com, mode: state, streams: [s1]}
              - {account: a, domain: push2.example.com, app: x, streams: [s1], discover: no}
            """
        ),
        env={},
    )
    assert [(t.streams, t.discovers) for t in config.targets] == [
        ([], True),
        ([], True),
        ([], True),
        ([StreamEntry(name="s1")], False),
        ([StreamEntry(name="s1")], False),
    ]


@pytest.mark.parametrize(
    ("interval", "round_interval", "effective"),
    [("30s", None, 60.0), ("60s", None, 60.0), ("2m", None, 120.0), ("30s", "15s", 15.0)],
)
def test_effective_round_interval(
    interval: str, round_interval: str | None, effective: float
) -> None:
    extra = f"    round_interval: {round_interval}\n" if round_interval else ""
    config = parse_config(
        ACCOUNT + f"targets:\n  - domain: d\n    interval: {interval}\n" + extra, env={}
    )
    assert config.targets[0].effective_round_interval == effective


def test_api_limits_scale_only_their_action() -> None:
    account = Account(name="a", budget_fraction=0.1, api_limits={"DescribeLiveStreamState": 1000})
    assert account.budget("DescribeLiveStreamState") == pytest.approx(100.0)
    assert account.budget("DescribeLiveStreamOnlineList") == pytest.approx(8.0)


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
    env = {
        "ID": SECRET_ID,
        "KEY": SECRET_KEY,
        "EMPTY": "",
        "REGION": "sh",
        "B": "0.2",
        "CB": CALLBACK_KEY,
    }
    config = parse_config(
        y(
            """
            accounts:
              - name: ${NAME:-main}
                credentials: {secret_id: "${ID}", secret_key: "${KEY}"}
                budget_fraction: ${B}
                timeout: ${TIMEOUT:-2s}
                callback_keys: ["${CB}"]
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
    assert (account.budget_fraction, account.timeout) == (0.2, 2.0)
    assert account.callback_keys == [SecretStr(CALLBACK_KEY)]
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


def test_models_enforce_target_checks_when_built_in_code() -> None:
    with pytest.raises(ValidationError) as caught:
        Target(domain="d", discover=False)
    assert "streams: at least one stream is required unless discover is true" in str(caught.value)
    with pytest.raises(ValidationError) as caught:
        Target(domain="d", mode="state")
    assert "mode: state polls listed streams only and cannot discover" in str(caught.value)
    with pytest.raises(ValidationError) as caught:
        Config(accounts=[Account(name="a")], targets=[Target(domain="d"), Target(domain="d")])
    assert (
        "targets[1].domain: this target discovers streams of d/live, already tracked by targets[0]"
    ) in str(caught.value)
    # The same checks, fed to the models as data without parse_config's deferral.
    with pytest.raises(ValidationError) as caught:
        Config.model_validate(
            {"accounts": [{"name": "a"}], "targets": [{"domain": "d", "discover": False}]}
        )
    assert "streams: at least one stream is required unless discover is true" in str(caught.value)
    assert Target(domain="d").discovers
    assert not Target(domain="d", mode="state", streams=[StreamEntry(name="s")]).discovers


def test_models_resolve_single_account_when_built_in_code() -> None:
    config = Config(
        accounts=[Account(name="only")],
        targets=[Target(domain="d", streams=[StreamEntry(name="s")])],
    )
    assert config.targets[0].account == "only"


def test_models_are_frozen() -> None:
    account = Account(name="a")
    with pytest.raises(ValidationError):
        account.budget_fraction = 1.0


def test_secrets_do_not_leak_from_models() -> None:
    credentials = Credentials(
        secret_id=SECRET_ID, secret_key=SecretStr(SECRET_KEY), token=SecretStr(TOKEN)
    )
    config = Config(
        accounts=[
            Account(name="a", credentials=credentials, callback_keys=[SecretStr(CALLBACK_KEY)])
        ],
        targets=[Target(domain="d", streams=[StreamEntry(name="s")])],
    )
    for text in (repr(config), str(config), summarize(config)):
        assert SECRET_KEY not in text
        assert TOKEN not in text
        assert CALLBACK_KEY not in text
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
                callback_keys: ["${CB}"]
              - name: backup
                endpoint: http://127.0.0.1:9000
                budget_fraction: 0.5
                api_limits: {DescribeLiveStreamState: 100}
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
                mode: state
                interval: 30s
                stale_after: 2m
                streams: [f]
              - account: main
                domain: push.example.com
                app: events
              - account: main
                domain: push2.example.com
                mode: online_list
                streams: [g]
                discover: true
            """
        ),
        env={"ID": SECRET_ID, "KEY": SECRET_KEY, "TOKEN": TOKEN, "CB": CALLBACK_KEY},
    )
    text = summarize(config)
    assert text == y(
        """
        accounts: 2
          main: endpoint live.tencentcloudapi.com, site not set (stricter limits), credentials explicit (secret_id AKID****abcd, with token), budget 0.25 of each action's limit (75 State req/s), timeout 5s, 1 callback key(s)
          backup: endpoint http://127.0.0.1:9000, site not set (stricter limits), credentials from the SDK default chain, budget 0.5 of each action's limit (50 State req/s), timeout 1s500ms, max_workers 4
        targets: 4, streams: 7
          main push.example.com/live: 5 streams, mode auto, every 1m (stale after 3m), labels team=studio, expect_live set on 1
          backup push.example.com/app2: 1 stream, mode state, every 30s (stale after 2m)
          main push.example.com/events: 0 streams + discovery, mode auto, every 1m (stale after 3m)
          main push2.example.com/live: 1 stream + discovery, mode online_list, every 1m (stale after 3m)
        """  # noqa: E501
    ).rstrip("\n")
    assert SECRET_KEY not in text
    assert TOKEN not in text
    assert SECRET_ID not in text
    assert CALLBACK_KEY not in text


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
    # The example shows the defaults: it must not quietly change them.
    defaults = Account(name="main")
    assert config.accounts[0].budget_fraction == defaults.budget_fraction
    assert config.accounts[0].api_limits == defaults.api_limits
    assert config.accounts[0].callback_keys == []
    assert len(config.targets) == 3
    assert all(t.account == "main" for t in config.targets)
    assert any(t.labels for t in config.targets)
    assert any(s.expect_live is not None for t in config.targets for s in t.streams)
    assert any(s.down_after is not None for t in config.targets for s in t.streams)
    first, _, discovering = config.targets
    listed = Target(domain="d", streams=[StreamEntry(name="s")])
    # Written out where the default is derived from other keys: compare what they resolve to.
    derived = {"stale_after", "round_interval", "discover", "page_size"}
    for field in set(Target.model_fields) - {"account", "domain", "labels", "streams"} - derived:
        assert getattr(first, field) == getattr(listed, field), field
    for prop in ("effective_stale_after", "effective_round_interval", "discovers"):
        assert getattr(first, prop) == getattr(listed, prop), prop
    from exporter.cssapi import default_list_page_size

    assert first.page_size == default_list_page_size(config.accounts[0].site_name)
    assert discovering.discovers and not discovering.streams
    assert config.callbacks == Config.model_fields["callbacks"].get_default(
        call_default_factory=True
    )
    assert SECRET_KEY not in summarize(config)


DOCUMENTED_MODELS = (
    Config,
    Account,
    Credentials,
    Target,
    StreamEntry,
    CallbackSettings,
    MetricsSettings,
)


@pytest.mark.parametrize(
    ("model", "field"),
    [(model, field) for model in DOCUMENTED_MODELS for field in model.model_fields],
    ids=lambda item: item if isinstance(item, str) else item.__name__,
)
def test_every_key_is_documented(model: type[BaseModel], field: str) -> None:
    example = (REPO / "config.example.yaml").read_text(encoding="utf-8")
    # As a key (possibly commented out, possibly a list item) or in a commented table of keys.
    as_key = rf"^[ \t]*(?:#[ \t]*)?(?:-[ \t]+)?{field}:"
    in_table = rf"^[ \t]*#[ \t]+{field}[ \t]{{2,}}\S"
    assert re.search(as_key, example, re.MULTILINE) or re.search(in_table, example, re.MULTILINE)
    reference = (REPO / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert re.search(rf"^\| `(?:credentials\.)?{field}` \|", reference, re.MULTILINE)


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
