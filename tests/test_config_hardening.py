"""Config files as an accident or an attacker writes them: YAML mistakes worded plainly, pasted
push URLs, alias bombs, deep nesting, oversize files, FIFOs and devices, stalled reads, and text
that cannot be encoded. Each is one line naming where, never a traceback, never the secret."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml

from exporter import safefile
from exporter.config import ConfigError, StreamEntry, load_config, parse_config
from exporter.safeyaml import MAX_ALIAS_NODES, MAX_DEPTH, parse_yaml
from exporter.yamlerrors import describe

REPO = Path(__file__).resolve().parent.parent
GOOD = "accounts: [{name: main}]\ntargets:\n  - domain: push.example.com\n    streams: [s1]\n"
PUSH_SECRET = "9f8e7d6c5b4a39281706f5e4d3c2b1a0"


def problems(text: str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, env={} if env is None else env, source="config.yaml")
    for line in caught.value.problems:
        assert "\n" not in line
        line.encode("utf-8")  # printable, whatever the input held
    return caught.value.problems


# ---------------------------------------------------------------------------------------------
# YAML syntax errors in plain words

# (id, text, the one problem)
YAML_MISTAKES = [
    (
        "indent-key-less",
        "accounts:\n  - name: main\n   timeout: 5s\ntargets: []\n",
        'config.yaml:3:4: invalid YAML: bad indentation: the key "timeout" at column 4, but the'
        " list started on line 2 has its items at column 3",
    ),
    (
        "indent-key-more",
        "accounts:\n  - name: main\n      timeout: 5s\n",
        "config.yaml:3:14: invalid YAML: bad indentation: this key is indented more than line 2,"
        " so it reads as part of that line's value: line the keys up",
    ),
    (
        "indent-top-level-key",
        "accounts:\n  - name: main\n targets: []\n",
        'config.yaml:3:2: invalid YAML: bad indentation: the key "targets" at column 2, but the'
        " mapping started on line 1 has its keys at column 1",
    ),
    (
        "indent-list-item",
        "targets:\n  - domain: d\n    streams:\n    - a\n   - b\n",
        'config.yaml:5:4: invalid YAML: bad indentation: a list item ("-") at column 4, but the'
        " list started on line 2 has its items at column 3",
    ),
    (
        "list-item-where-key",
        "accounts:\n  - name: main\ntargets: 1\n- domain: d\n",
        'config.yaml:4:1: invalid YAML: a list item ("-") where the mapping started on line 1'
        " expects a key: check the indentation",
    ),
    (
        "tab",
        "accounts:\n\t- name: main\n",
        "config.yaml:2:1: invalid YAML: a tab character: YAML allows only spaces here (indent"
        " with spaces)",
    ),
    (
        "tab-in-indentation",
        "accounts:\n  - name: main\n\t  timeout: 5s\n",
        "config.yaml:3:1: invalid YAML: a tab character: YAML allows only spaces here (indent"
        " with spaces)",
    ),
    (
        "unclosed-bracket",
        "accounts: [{name: main}\n",
        'config.yaml:2:1: invalid YAML: the "[" on line 1, column 11 is never closed (add "]")',
    ),
    (
        "unclosed-bracket-before-next-key",
        "targets:\n  - domain: d\n    streams: [a, b\n    interval: 30s\n",
        'config.yaml:4:13: invalid YAML: the "[" on line 3, column 14 is not closed: expected ","'
        ' or "]" before ":"',
    ),
    (
        "unclosed-brace",
        "accounts: [{name: main]\n",
        'config.yaml:1:23: invalid YAML: the "{" on line 1, column 12 is not closed: expected ","'
        ' or "}" before "]"',
    ),
    (
        "closing-bracket-alone",
        "accounts: [{name: main}]]\n",
        'config.yaml:1:25: invalid YAML: "]" closes nothing: there is no matching opening'
        " bracket before it",
    ),
    (
        "unclosed-double-quote",
        'accounts:\n  - name: "main\ntargets: []\n',
        'config.yaml:4:1: invalid YAML: the double quote (") on line 2, column 11 is never closed',
    ),
    (
        "unclosed-single-quote",
        "accounts:\n  - name: 'main\n",
        "config.yaml:3:1: invalid YAML: the single quote (') on line 2, column 11 is never closed",
    ),
    (
        "key-without-value",
        "accounts:\n  - name: main\n    timeout\ntargets: []\n",
        'config.yaml:4:1: invalid YAML: a key without a value: "timeout" on line 3 has no ":"'
        " after it",
    ),
    (
        "colon-without-space",
        "accounts:\n  - name:main\n    timeout: 5s\n",
        'config.yaml:3:12: invalid YAML: line 2 has no ": " after its key, so this line is read'
        " as part of it (a key needs a colon and a space)",
    ),
    (
        "second-colon-in-value",
        "targets:\n  - domain: push: example\n",
        'config.yaml:2:17: invalid YAML: a second ": " on one line: a value that contains ": "'
        ' must be quoted (e.g. "a: b")',
    ),
    (
        "undefined-alias",
        "accounts: *main\n",
        'config.yaml:1:11: invalid YAML: the alias "*main" refers to no anchor "&main" defined'
        " before it",
    ),
    (
        "unknown-tag",
        "accounts: !main x\n",
        'config.yaml:1:11: invalid YAML: unknown tag "!main": quote the value if it should start'
        ' with "!"',
    ),
    (
        "two-documents",
        "accounts: []\n---\ntargets: []\n",
        'config.yaml:2:1: invalid YAML: a second document (after "---"): the file must hold one'
        " document",
    ),
    (
        "bad-escape",
        'accounts: [{name: "a\\qb"}]\n',
        'config.yaml:1:22: invalid YAML: invalid escape "\\q" in a double-quoted value: write'
        ' "\\\\" for a backslash, or use single quotes',
    ),
    (
        "control-character",
        "accounts: [{name: ma\x01in}]\n",
        "config.yaml:1:21: invalid YAML: character U+0001 is not allowed in YAML (write it as an"
        ' escape such as "\\x01" inside double quotes, or remove it)',
    ),
]


@pytest.mark.parametrize(("text", "expected"), [(t, e) for _, t, e in YAML_MISTAKES])
def test_yaml_mistakes_in_plain_words(text: str, expected: str) -> None:
    assert problems(text) == [expected]


@pytest.mark.parametrize(
    "text", [t for name, t, _ in YAML_MISTAKES if name not in ("bad-escape", "control-character")]
)
def test_both_parsers_word_a_mistake_alike(text: str) -> None:
    # Big files are worded from libyaml's error, small ones from PyYAML's: the same words.
    worded = []
    for loader in (yaml.SafeLoader, yaml.CSafeLoader):
        with pytest.raises(yaml.YAMLError) as caught:
            yaml.load(text, Loader=loader)
        worded.append(describe(caught.value, text))
    assert worded[0] == worded[1]


def test_big_file_error_is_worded_without_reparsing() -> None:
    # Over 1 MiB the pure-Python parser is not run again (4 s at 100,000 streams).
    text = "accounts:\n  - name: main\n   timeout: 5s\n" + "# padding\n" * 120_000
    assert problems(text) == [YAML_MISTAKES[0][2]]


def test_yaml_line_numbers_survive_crlf() -> None:
    text = "accounts:\r\n  - name: main\r\n   timeout: 5s\r\n"
    assert problems(text)[0].startswith("config.yaml:3:4: invalid YAML: bad indentation")


# ---------------------------------------------------------------------------------------------
# Pasted push URLs as stream names

URL_LIKE = (
    "stream name looks like a push URL or carries a query string (not shown: it may hold a"
    ' push secret): give the bare stream name, the part after "/<app>/" and before "?"'
)


@pytest.mark.parametrize(
    "name",
    [
        f"rtmp://push.example.com/live/room1?txSecret={PUSH_SECRET}&txTime=6650A8C0",
        f"room1?txSecret={PUSH_SECRET}&txTime=6650A8C0",
        f"room1&txSecret={PUSH_SECRET}",
        f"room1&TXTIME=6650A8C0{PUSH_SECRET}",
        f"webrtc://push.example.com/live/{PUSH_SECRET}",
        f"rtmp:push.example.com/live/{PUSH_SECRET}",
        f"room1?sign={PUSH_SECRET}",
    ],
)
def test_url_like_stream_names_are_refused_without_echo(name: str) -> None:
    text = (
        "accounts: [{name: main}]\ntargets:\n  - domain: push.example.com\n"
        f"    streams:\n      - '{name}'\n      - {{name: '{name}'}}\n"
    )
    found = problems(text)
    # Both spellings refused; the pair is not also reported as a duplicate, which would quote it.
    assert found == [
        f"targets[0].streams[0]: {URL_LIKE}",
        f"targets[0].streams[1].name: {URL_LIKE}",
    ]
    assert PUSH_SECRET not in "\n".join(found)


def test_url_like_names_are_refused_in_code_too() -> None:
    with pytest.raises(ValueError, match="looks like a push URL") as caught:
        StreamEntry(name=f"live/x?txSecret={PUSH_SECRET}")
    assert PUSH_SECRET not in str(caught.value)


@pytest.mark.parametrize("name", ["rtmp-backup", "room_txt", "sports.main-1", "a" * 256, "直播-1"])
def test_names_that_merely_resemble_urls_are_fine(name: str) -> None:
    text = GOOD.replace("[s1]", f"['{name}']")
    assert parse_config(text, env={}).targets[0].streams[0].name == name


def test_domain_with_a_query_string_is_not_echoed() -> None:
    text = GOOD.replace(
        "push.example.com", f"rtmp://push.example.com/live/x?txSecret={PUSH_SECRET}"
    )
    found = problems(text)
    assert found == [
        "targets[0].domain: must be the bare push domain, e.g. push.example.com; this looks like"
        " a push URL with a query string (not shown: it may hold a push secret)"
    ]


# ---------------------------------------------------------------------------------------------
# Anchors, aliases and nesting


def bomb(levels: int, merge: bool = False) -> str:
    """The "billion laughs": each level a list of nine aliases of the level below."""
    lines = ["accounts: [{name: main}]", 'l0: &l0 ["lol"]']
    for level in range(1, levels + 1):
        lines.append(f"l{level}: &l{level} [" + ", ".join([f"*l{level - 1}"] * 9) + "]")
    if merge:  # a merge key sends the document through PyYAML's node loader instead
        lines.append("m: &m {a: 1}\nn: {<<: *m}")
    lines.append(f"targets: [{{domain: d, streams: *l{levels}}}]")
    return "\n".join(lines) + "\n"


BOMB = (
    f"invalid YAML: aliases expand the document by more than {MAX_ALIAS_NODES} nodes (a YAML"
    " bomb?): write the repeated parts out instead"
)


@pytest.mark.parametrize("merge", [False, True], ids=["fast-path", "node-loader"])
@pytest.mark.parametrize("levels", [5, 6, 7, 9, 12])
def test_alias_bombs_are_refused(levels: int, merge: bool) -> None:
    (problem,) = problems(bomb(levels, merge))
    assert problem.startswith("config.yaml:") and problem.endswith(BOMB), problem


@pytest.mark.parametrize("levels", [2, 4])
def test_small_alias_expansions_are_parsed(levels: int) -> None:
    # Under the cap the document is read, and the config's own checks speak.
    found = problems(bomb(levels))
    assert found[0] == "l0: unknown key"
    assert not any("YAML bomb" in line for line in found)


def test_aliases_and_merge_keys_within_the_cap_work() -> None:
    text = (
        "accounts: [{name: main}]\n"
        "targets:\n"
        "  - &base {domain: push.example.com, interval: 30s, streams: &names [a, b, c]}\n"
        "  - {<<: *base, domain: push2.example.com}\n"
        "  - {domain: push3.example.com, streams: *names}\n"
    )
    config = parse_config(text, env={})
    assert [len(t.streams) for t in config.targets] == [3, 3, 3]
    assert config.targets[1].interval == 30


@pytest.mark.parametrize(("fast", "column"), [(True, 11), (False, 4)])
def test_recursive_alias_is_refused(fast: bool, column: int) -> None:
    # The fast path marks the alias; PyYAML's node graph knows only the anchor's place.
    with pytest.raises(ConfigError) as caught:
        parse_yaml("a: &a [x, *a]\n", "f.yaml", ConfigError, fast=fast)
    assert caught.value.problems == [
        f"f.yaml:1:{column}: invalid YAML: an alias refers to the collection that contains it"
        " (a recursive structure)"
    ]


@pytest.mark.parametrize("fast", [True, False])
@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 5_000])
def test_deep_nesting_is_refused(depth: int, fast: bool) -> None:
    # 5,000 levels made PyYAML's composer raise RecursionError, a traceback.
    with pytest.raises(ConfigError) as caught:
        parse_yaml("[" * depth + "]" * depth, "f.yaml", ConfigError, fast=fast)
    assert caught.value.problems == [
        f"f.yaml:1:{MAX_DEPTH + 1}: invalid YAML: nested more than {MAX_DEPTH} levels deep"
    ]


def test_nesting_up_to_the_limit_is_parsed() -> None:
    assert parse_yaml("[" * MAX_DEPTH + "]" * MAX_DEPTH, "f.yaml") is not None


def test_fast_path_builds_what_safe_load_builds() -> None:
    text = (
        "a: [1, -2, 0x1f, 1.5, .inf, null, ~, '', true, no, 2024-05-01, '007', \"x\\ty\"]\n"
        "b: {c: &c {d: e}, f: *c, g: !!str 12, h: !!float 1}\n"
        "? k\n: v\n"
        "i: |\n  block\n  text\n"
    )
    assert parse_yaml(text, "f.yaml") == yaml.safe_load(text)


# ---------------------------------------------------------------------------------------------
# Files: size, kind, time


def test_oversize_file_is_refused_before_parsing(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(GOOD, encoding="utf-8")
    limit = len(GOOD.encode()) - 1
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={}, max_bytes=limit)
    assert caught.value.problems == [
        f"{path}: cannot read config: the file is {limit + 1} bytes, over the limit of"
        f" {limit} bytes"
    ]
    assert load_config(path, env={}, max_bytes=limit + 1).targets[0].domain == "push.example.com"


def test_default_size_limit_is_32_mib(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    with open(path, "wb") as handle:
        handle.truncate(32 * 1024 * 1024 + 1)  # sparse: nothing is written or read
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    assert caught.value.problems == [
        f"{path}: cannot read config: the file is 33554433 bytes, over the limit of 33554432"
        " bytes (32 MiB)"
    ]


def test_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    # No writer ever opens it: a plain open() would block the reload thread for good.
    path = tmp_path / "config.yaml"
    os.mkfifo(path)
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    assert caught.value.problems == [f"{path}: cannot read config: a FIFO, not a regular file"]


def test_device_is_refused() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config("/dev/zero", env={})
    assert caught.value.problems == [
        "/dev/zero: cannot read config: a character device, not a regular file"
    ]


def test_stalled_read_times_out(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # A stalled network file system blocks read() in the kernel; here the read waits for an
    # event that only the test sets, after the caller has given up.
    release = threading.Event()

    def stalled(path: str, max_bytes: int) -> bytes:
        release.wait()
        return b""

    monkeypatch.setattr(safefile, "_read_bytes", stalled)
    try:
        with pytest.raises(ConfigError) as caught:
            load_config(tmp_path / "config.yaml", env={}, read_timeout=0.05)
    finally:
        release.set()
    assert caught.value.problems == [
        f"{tmp_path / 'config.yaml'}: cannot read config: no answer within 0.05s (a stalled"
        " network file system?)"
    ]


def test_unreadable_file(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root reads files whatever their mode")
    path = tmp_path / "config.yaml"
    path.write_text(GOOD, encoding="utf-8")
    path.chmod(0)
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    assert caught.value.problems == [f"{path}: cannot read config: Permission denied"]


# ---------------------------------------------------------------------------------------------
# Text that cannot be encoded

SURROGATE = 'cannot be encoded as UTF-8 (a lone surrogate, e.g. from an escape like "\\ud800")'


def test_lone_surrogates_are_refused_at_their_key_path() -> None:
    text = (
        "accounts: [{name: main}]\n"
        "targets:\n"
        "  - domain: push.example.com\n"
        '    labels: {team: "a\\ud800", "k\\udc80": v}\n'
        '    streams: ["s\\ud800", {name: ok, labels: {tier: "\\udfff"}}]\n'
    )
    assert problems(text) == [
        f"targets[0].labels.team: {SURROGATE}",
        f'targets[0].labels["k\\udc80"]: key {SURROGATE}',
        f"targets[0].streams[0]: {SURROGATE}",
        f"targets[0].streams[1].labels.tier: {SURROGATE}",
    ]


def test_lone_surrogate_from_the_environment_is_refused_unechoed() -> None:
    text = GOOD.replace("push.example.com", "${DOMAIN}")
    assert problems(text, {"DOMAIN": "push\udcff.example.com"}) == [
        f"targets[0].domain: the environment variable's value {SURROGATE}"
    ]


def test_surrogate_in_config_check_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(GOOD.replace("[s1]", '["s1", {name: s2, labels: {a: "x\\ud800"}}]'))
    result = subprocess.run(
        [sys.executable, "-m", "exporter", "--config.check", "--config.file", str(path)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.splitlines() == [f"targets[0].streams[1].labels.a: {SURROGATE}"]
    assert "Traceback" not in result.stderr


# ---------------------------------------------------------------------------------------------
# The fast path for bare names builds what validation builds


def test_bare_names_give_the_entries_validation_gives() -> None:
    config = parse_config(GOOD.replace("[s1]", "[s1, s2, {name: s3}]"), env={})
    streams = config.targets[0].streams
    assert streams == [StreamEntry(name="s1"), StreamEntry(name="s2"), StreamEntry(name="s3")]
    named = StreamEntry.named("s1")
    assert named.model_dump() == StreamEntry(name="s1").model_dump()
    assert named.model_fields_set == {"name"}
    assert named.model_copy(update={"name": "x"}).name == "x"
    assert StreamEntry.named("s1").model_fields_set == {"name"}  # the shared set is untouched
    assert named.labels is not StreamEntry.named("s2").labels
