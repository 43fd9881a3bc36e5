"""One-line problem reports shared by every file the exporter reads (config, web config).

Every loader reports what is wrong as one line per problem, ``<key.path>: <what is wrong>``, all
of them at once, so that an operator fixes a file in one pass. This module holds the pieces the
loaders share: the exception that carries the lines, how a value and a key path are quoted in a
line, and the wording of pydantic's generic errors. What is particular to one file (secrets,
``${ENV}`` interpolation, custom checks) stays in its loader.
"""

from __future__ import annotations

import json
import re
from collections.abc import Hashable, Iterable, Mapping
from typing import Any

from pydantic_core import ErrorDetails

__all__ = [
    "UNENCODABLE",
    "ProblemsError",
    "encodable",
    "key_path",
    "kind",
    "one_of",
    "quote_hint",
    "show",
    "translate",
    "unencodable_paths",
]


class ProblemsError(Exception):
    """A file that cannot be used; ``problems`` holds one line per problem."""

    def __init__(self, problems: Iterable[str] | str) -> None:
        if isinstance(problems, str):
            problems = [problems]
        # A stray newline (e.g. from a YAML message) would break the one-line-per-problem promise,
        # and a lone surrogate quoted from the input would make printing the line raise.
        self.problems: list[str] = [_printable(" ".join(p.splitlines())) for p in problems]
        super().__init__("\n".join(self.problems))


def encodable(text: str) -> bool:
    """Whether ``text`` can be written as UTF-8: false for lone surrogates ("\\ud800")."""
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _printable(text: str) -> str:
    return text if encodable(text) else text.encode("utf-8", "backslashreplace").decode("utf-8")


# Lone surrogates come from YAML escapes such as "\ud800" (valid YAML, not valid UTF-8) or from
# environment variables holding undecodable bytes; a label value or name holding one would make
# every later encode (exposition, logs, pages) raise, so files refuse them at load time.
UNENCODABLE = 'cannot be encoded as UTF-8 (a lone surrogate, e.g. from an escape like "\\ud800")'


def unencodable_paths(node: object, loc: tuple[Hashable, ...] = ()) -> list[tuple[Hashable, ...]]:
    """The locs of every key and string in a YAML tree that ``encodable`` refuses."""
    found: list[tuple[Hashable, ...]] = []
    if isinstance(node, str):
        if not encodable(node):
            found.append(loc)
    elif isinstance(node, Mapping):
        for key, value in node.items():
            if isinstance(key, str) and not encodable(key):
                found.append((*loc, key))
            else:
                found.extend(unencodable_paths(value, (*loc, key)))
    elif isinstance(node, list):
        for index, item in enumerate(node):
            found.extend(unencodable_paths(item, (*loc, index)))
    return found


def show(value: object, *, json: bool = False) -> str:
    """How a (non-secret) input value is quoted in a message.

    ``json=True`` is for a value of a JSON body received from the network (a CSS callback): type
    names are JSON's (see :func:`kind`), and strings and numbers are cut shorter and quoted in
    ASCII, because the message goes back to an unauthenticated sender and into the log.
    """
    if isinstance(value, str):
        return _quote_json(value) if json else _quote(value)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        text = repr(value)
        return text[:21] + "..." if json and len(text) > 24 else text
    return kind(value, json=json)


def _quote(value: str) -> str:
    text = value if len(value) <= 60 else value[:57] + "..."
    return json.dumps(text, ensure_ascii=False)


def _quote_json(value: str) -> str:
    shown = json.dumps(value[:40])  # ASCII, quoted, control characters escaped
    return shown if len(value) <= 40 else shown[:-1] + '..."'


def kind(value: object, *, json: bool = False) -> str:
    """Describes a value by its type only, for places where the value itself must not appear.

    ``json=True`` uses JSON's names for the containers: "an array", "an object".
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array" if json else "a list"
    if isinstance(value, Mapping):
        return "an object" if json else "a mapping"
    return f"a {type(value).__name__}"


def quote_hint(value: object) -> str:
    """YAML reads 007 as 7 and yes as true; quoting is the fix the reader needs."""
    return " (quote it)" if isinstance(value, bool | int | float) else ""


def one_of(names: Iterable[str]) -> str:
    items = list(names)
    return ", ".join(items[:-1]) + " or " + items[-1] if len(items) > 1 else items[0]


# Keys printed bare in a path; anything else (spaces, dots, quotes) is printed as ["..."].
_PLAIN_KEY_RE = re.compile(r"[A-Za-z0-9_-]+")


def key_part(path: str, part: Hashable) -> str:
    """``path`` with one mapping key appended: ``.name`` or ``["odd key"]``."""
    text = show(part) if isinstance(part, bool) or part is None else str(part)
    if _PLAIN_KEY_RE.fullmatch(text):
        return f"{path}.{text}" if path else text
    return f"{path}[{json.dumps(text, ensure_ascii=False)}]"


def key_path(loc: Iterable[Hashable]) -> str:
    """A pydantic loc as a key path: ``tls_server_config.cipher_suites[1]``."""
    parts = list(loc)
    out = ""
    for i, part in enumerate(parts):
        if part == "[key]":
            continue
        dict_key = i + 1 < len(parts) and parts[i + 1] == "[key]"
        if isinstance(part, int) and not isinstance(part, bool) and not dict_key:
            out += f"[{part}]"
        else:
            out = key_part(out, part)
    return out


def translate(error: ErrorDetails, got: str) -> str | None:
    """The wording of pydantic's generic error kinds; None for kinds the caller words itself.

    ``got`` is the offending value as the caller may show it (quoted, or only its kind when it
    is a secret or came from the environment).
    """
    kind_ = error["type"]
    ctx: dict[str, Any] = dict(error.get("ctx") or {})
    if kind_ in ("extra_forbidden", "invalid_key"):
        return "unknown key"
    if kind_ == "missing":
        return "required key is missing"
    if kind_ in ("float_type", "float_parsing", "finite_number"):
        return f"must be a number, got {got}"
    if kind_ in ("int_type", "int_parsing", "int_from_float", "int_parsing_size"):
        return f"must be a whole number, got {got}"
    if kind_ in ("bool_type", "bool_parsing"):
        return f"must be true or false, got {got}"
    if kind_ == "list_type":
        return f"must be a list, got {got}"
    if kind_ == "literal_error":
        # ctx["expected"] reads "'auto', 'state' or 'online_list'".
        choices = str(ctx.get("expected", "")).replace("'", "").replace(" or ", ", ")
        return f"must be one of {choices}, got {got}"
    if kind_ == "value_error":
        return str(ctx.get("error", error["msg"]))
    return None
