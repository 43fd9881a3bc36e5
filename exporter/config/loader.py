"""Reading a config: the file, its YAML, ${ENV} interpolation, and every problem at once.

Every problem is reported as one line "<key.path>: <what is wrong>", all of them at once, in file
order, so an operator can fix a config in one pass. Secrets never reach a message: nothing under
``credentials`` is echoed, and neither is any value that came from an environment variable.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Hashable, Iterable, Mapping

from pydantic import TypeAdapter, ValidationError

from exporter import heap
from exporter.config.checks import Loc, Problems, cross_problems
from exporter.config.errors import locate, message
from exporter.config.expect import ScheduleName, ScheduleSpec
from exporter.config.fields import DEFER_CROSS_CHECKS, plain_name
from exporter.config.models import Config, StreamEntry
from exporter.problems import UNENCODABLE, ProblemsError, encodable, kind
from exporter.safefile import DEFAULT_MAX_BYTES, DEFAULT_READ_TIMEOUT, read_text
from exporter.safeyaml import parse_yaml

__all__ = ["ConfigError", "load_config", "parse_config"]


class ConfigError(ProblemsError):
    """A config that cannot be used; `problems` holds one line per problem."""


# ---------------------------------------------------------------------------------------------
# Interpolation

_REFERENCE_RE = re.compile(r"\$\$\{|\$\{(?P<body>[^}]*)(?P<close>\})?")
_BAD_REFERENCE = "invalid ${...} reference (use ${VAR} or ${VAR:-default}; $${ for a literal ${)"
_BODY_RE = re.compile(r"(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>.*))?", re.DOTALL)


class _Interpolation:
    """Expands ${VAR} and ${VAR:-default} in every string of a tree; $${ is a literal ${.

    It also refuses text that cannot be encoded (lone surrogates), in keys and values, since it
    visits every string anyway. A subtree without references is returned as it is, not copied:
    a 100,000-stream list is mostly plain names.
    """

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self.interpolated: dict[Loc, str] = {}  # loc -> the text as written, for messages
        self.problems: Problems = []

    def tree(self, node: object, loc: Loc) -> object:
        if isinstance(node, str):
            return self.text(node, loc)
        if isinstance(node, dict):
            changed = False
            out: dict[Hashable, object] = {}
            for key, value in node.items():
                if isinstance(key, str) and not key.isascii() and not encodable(key):
                    # Left out of what is validated: pydantic's error locs mangle such a key,
                    # so its complaints about it could not be matched to this problem.
                    self.problems.append(((*loc, key), f"key {UNENCODABLE}"))
                    changed = True
                    continue
                new = self.tree(value, (*loc, key))
                changed = changed or new is not value
                out[key] = new
            return out if changed else node
        if isinstance(node, list):
            copy: list[object] | None = None
            for index, item in enumerate(node):
                if type(item) is str and item.isascii() and "${" not in item:
                    new = item
                else:
                    new = self.tree(item, (*loc, index))
                if new is not item and copy is None:
                    copy = node[:index]
                if copy is not None:
                    copy.append(new)
            return node if copy is None else copy
        return node

    def text(self, node: str, loc: Loc) -> str:
        if not node.isascii() and not encodable(node):
            self.problems.append((loc, UNENCODABLE))
            return node
        if "${" not in node:
            return node
        referenced = False

        def expand(match: re.Match[str]) -> str:
            nonlocal referenced
            if match.group(0) == "$${":
                return "${"
            body = _BODY_RE.fullmatch(match["body"]) if match["close"] else None
            if body is None:
                # The text is not echoed: under credentials it may be part of a secret.
                self.problems.append((loc, _BAD_REFERENCE))
                return ""
            referenced = True
            value = self.env.get(body["name"])
            if body["default"] is not None and not value:
                return str(body["default"])
            if value is None:
                self.problems.append((loc, f"environment variable {body['name']} is not set"))
                return ""
            return value

        result = _REFERENCE_RE.sub(expand, node)
        if referenced:
            self.interpolated[loc] = node
            # Undecodable bytes in the environment arrive as lone surrogates (surrogateescape).
            if not encodable(result):
                self.problems.append((loc, "the environment variable's value " + UNENCODABLE))
        return result


# ---------------------------------------------------------------------------------------------
# Loading


def parse_config(
    text: str,
    env: Mapping[str, str] | None = None,
    source: str = "<config>",
    *,
    base_dir: str | None = None,
) -> Config:
    """Parse YAML text into a Config, or raise ConfigError listing every problem found.

    A ``schedules_file`` is read from ``base_dir`` when relative (default: the directory of
    ``source`` when it is a path, else the working directory).
    """
    environ: Mapping[str, str] = os.environ if env is None else env
    if base_dir is None:
        base_dir = os.path.dirname(source) if not source.startswith("<") else os.getcwd()
    # One pause for YAML and validation: both build a tree of (at 100k streams) millions of
    # objects, none of them garbage.
    with heap.paused():
        return _parse(text, environ, source, base_dir)


# ---------------------------------------------------------------------------------------------
# The schedules file

_SCHEDULES = TypeAdapter(dict[ScheduleName, ScheduleSpec])


def read_schedules(path: str) -> tuple[dict[str, ScheduleSpec], set[str], list[str]]:
    """The named schedules of a schedules file: (valid ones, every name it defines, problems).

    The file is YAML with one key, ``schedules``: a mapping of names to schedules, as the
    config's own ``schedules``. Each problem is one line, ``<path>: <key.path>: <what>``.
    """
    try:
        text = read_text(path, "schedules file", ConfigError)
        tree = parse_yaml(text, path, ConfigError)
    except ConfigError as exc:
        return {}, set(), list(exc.problems)
    if tree is None:
        tree = {}
    if not isinstance(tree, dict):
        return {}, set(), [f"{path}: top level must be a mapping with schedules, got {kind(tree)}"]
    problems = [f"{path}: {key}: unknown key" for key in tree if key != "schedules"]
    schedules = tree.get("schedules") or {}
    if not isinstance(schedules, dict):
        return (
            {},
            set(),
            [*problems, f"{path}: schedules: must be a mapping, got {kind(schedules)}"],
        )
    names = {name for name in schedules if isinstance(name, str)}
    try:
        valid: dict[str, ScheduleSpec] = _SCHEDULES.validate_python(schedules)
    except ValidationError as exc:
        valid = {}
        for error in exc.errors():
            where, _, raw_loc = locate(("schedules", *error["loc"]), tree)
            problems.append(f"{path}: {where}: {message(error, raw_loc, {})}")
    return valid, names, problems


def _with_schedules_file(
    data: object, base_dir: str, add: Callable[[Iterable[Hashable], str], None]
) -> tuple[object, set[str]]:
    """``data`` with the schedules of its schedules_file added to its own ``schedules``, and
    the names a broken file defines (references to them are not reported again)."""
    if not isinstance(data, dict) or not isinstance(data.get("schedules_file"), str):
        return data, set()
    value: str = data["schedules_file"]
    path = value if os.path.isabs(value) else os.path.join(base_dir, value)
    valid, names, problems = read_schedules(path)
    for problem in problems:
        add(("schedules_file",), problem)
    own = data.get("schedules")
    if own is None:
        own = {}
    if not isinstance(own, dict):
        return data, names
    for name in own:
        if name in names:
            add(("schedules", name), f"also defined in schedules_file {value}: keep one")
    merged = {**valid, **own}
    return {**data, "schedules": merged}, (names - set(valid)) if problems else set()


def _parse(text: str, environ: Mapping[str, str], source: str, base_dir: str) -> Config:
    raw = parse_yaml(text, source, ConfigError)
    if raw is None:
        raise ConfigError([f"{source}: config is empty"])
    if not isinstance(raw, dict):
        raise ConfigError(
            [f"{source}: top level must be a mapping with accounts and targets, got {kind(raw)}"]
        )

    interpolation = _Interpolation(environ)
    data = interpolation.tree(raw, ())
    interpolated = interpolation.interpolated

    # (file order, sequence) keeps several problems at one place in the order they were found.
    found: list[tuple[tuple[int, ...], int, str]] = []

    def add(loc: Iterable[Hashable], problem: str) -> None:
        path, order, _ = locate(loc, raw)
        found.append((order, len(found), f"{path}: {problem}"))

    for loc, problem in interpolation.problems:
        add(loc, problem)
    # A failed interpolation leaves "" behind; complaints about that "" would only mislead.
    spoiled = {loc for loc, _ in interpolation.problems}

    def is_spoiled(raw_loc: Loc) -> bool:
        return bool(spoiled) and any(raw_loc[: len(bad)] == bad for bad in spoiled)

    data, unread_schedules = _with_schedules_file(data, base_dir, add)

    config: Config | None = None
    try:
        config = Config.model_validate(_named_entries(data), context={DEFER_CROSS_CHECKS: True})
    except ValidationError as exc:
        for error in exc.errors():
            _, _, raw_loc = locate(error["loc"], raw)
            if not is_spoiled(raw_loc):
                add(error["loc"], message(error, raw_loc, interpolated))

    def shown(loc: Loc, text: str) -> str:
        return interpolated.get(loc, text)

    for loc, problem in cross_problems(data, shown, unread_schedules):
        if not is_spoiled(loc):
            add(loc, problem)

    if found or config is None:
        raise ConfigError(line for _, _, line in sorted(found, key=lambda item: item[:2]))
    return config


def _named_entries(data: object) -> object:
    """``data`` with each valid bare stream name already a StreamEntry (see StreamEntry.named).

    The checks read the tree as written, so this is a copy of the parts it changes. A name that
    ``plain_name`` does not accept stays a string, for validation to word its problem.
    """
    if not isinstance(data, dict) or not isinstance(data.get("targets"), list):
        return data
    targets: list[object] = []
    for target in data["targets"]:
        streams = target.get("streams") if isinstance(target, dict) else None
        if isinstance(streams, list):
            named = StreamEntry.named
            entries = [
                named(item) if type(item) is str and plain_name(item) else item for item in streams
            ]
            target = {**target, "streams": entries}
        targets.append(target)
    return {**data, "targets": targets}


def load_config(
    path: str | os.PathLike[str],
    env: Mapping[str, str] | None = None,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    read_timeout: float = DEFAULT_READ_TIMEOUT,
) -> Config:
    """Read and parse a config file; see parse_config.

    A file over ``max_bytes`` (default 32 MiB), one that is not a regular file (a FIFO, a device,
    a directory) or one whose read takes over ``read_timeout`` seconds is refused, one line.
    """
    source = os.fspath(path)
    text = read_text(source, "config", ConfigError, max_bytes, timeout=read_timeout)
    return parse_config(text, env, source=source)
