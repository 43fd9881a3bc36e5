"""YAML syntax errors in plain words: what is wrong and where, not the parser's state machine.

PyYAML (and libyaml, its C parser, which words things differently) describe an error by what the
parser expected ("expected <block end>, but found '<block mapping start>'"). Someone editing a
config by hand needs the cause: a line indented one space too far, a tab, a ``[`` never closed,
a key without its colon. ``describe`` reads the parser's context and the text at its marks and
says that; a case it does not recognise keeps the parser's own words.
"""

from __future__ import annotations

import json
import re

import yaml

__all__ = ["describe"]

# Where a "[" or "{" opens a flow collection: at a value's start, not inside a plain scalar.
_OPENER_BEFORE = frozenset(":-,[{?")
_KEY_AT = re.compile(r"""(?:[^\s#'"][^#]*?|"[^"]*"|'[^']*')\s*:(?:\s|$)""")
_ALIAS_AT = re.compile(r"\*([^\s,\[\]{}]+)")
_TAG_AT = re.compile(r"!\S*")


def describe(exc: yaml.YAMLError, text: str) -> tuple[int, int, str] | None:
    """(line, column, message), 1-based, for a parse error in ``text``; None without a mark."""
    if isinstance(exc, yaml.reader.ReaderError):
        line, column = _line_col(text, exc.position)
        char = exc.character
        code = ord(char) if isinstance(char, str) else int(char)
        return (
            line,
            column,
            (
                f"character U+{code:04X} is not allowed in YAML (write it as an escape such as"
                f' "\\x{code:02x}" inside double quotes, or remove it)'
            ),
        )
    if not isinstance(exc, yaml.MarkedYAMLError):
        return None
    mark = exc.problem_mark or exc.context_mark
    if mark is None:
        return None
    words = _Words(exc, text).message()
    return mark.line + 1, mark.column + 1, words


def _line_col(text: str, index: int) -> tuple[int, int]:
    line = text.count("\n", 0, index) + 1
    return line, index - (text.rfind("\n", 0, index) + 1) + 1


class _Words:
    """The plain-words message for one MarkedYAMLError."""

    def __init__(self, exc: yaml.MarkedYAMLError, text: str) -> None:
        self.context = exc.context or ""
        self.problem = exc.problem or ""
        self.text = text
        mark = exc.problem_mark or exc.context_mark
        assert mark is not None
        self.index = min(mark.index, len(text))
        self.column = mark.column + 1
        self.context_mark = exc.context_mark

    # -- the text around the marks

    def _line_at(self, index: int) -> str:
        start = self.text.rfind("\n", 0, index) + 1
        end = self.text.find("\n", index)
        return self.text[start : end if end >= 0 else len(self.text)]

    def _before(self) -> str:
        """The text of the problem's line before the mark."""
        return self.text[self.text.rfind("\n", 0, self.index) + 1 : self.index]

    def _at(self) -> str:
        return self.text[self.index : self.index + 1]

    def _thing_at(self) -> str:
        """What stands at the mark, as the reader sees it."""
        rest = self.text[self.index :].split("\n", 1)[0]
        if not rest.strip() and self.index >= len(self.text.rstrip()):
            return "the end of the file"
        if rest[:1] == "-" and rest[1:2] in ("", " "):
            return 'a list item ("-")'
        if rest[:1] in "]}":
            return f'"{rest[:1]}"'
        if _KEY_AT.match(rest):
            key = rest.split(":", 1)[0].strip()
            return f"the key {_quote(key)}"
        if rest[:1] in ":,":
            return f'"{rest[:1]}"'
        return f"the text {_quote(rest.strip())}"

    def _where(self, index: int) -> str:
        line, column = _line_col(self.text, index)
        return f"line {line}, column {column}"

    def _context_where(self) -> str:
        assert self.context_mark is not None
        return self._where(self.context_mark.index)

    # -- the message

    def message(self) -> str:
        if "\t" in self._before() and not self._before().strip(" \t-"):
            return "a tab in the indentation: YAML indents with spaces only"
        for test in (
            self._tab,
            self._flow,
            self._block,
            self._mapping_value,
            self._simple_key,
            self._quoted,
            self._other,
        ):
            found = test()
            if found:
                return found
        # Not recognised: the parser's own words, in its order.
        return ", ".join(part for part in (self.context, self.problem) if part) or "cannot parse"

    def _tab(self) -> str | None:
        if "tab character" in self.problem:  # libyaml: "found a tab character that violates..."
            return "a tab character: YAML allows only spaces here (indent with spaces)"
        if "cannot start any token" not in self.problem:
            return None
        char = self._at()
        if char == "\t":
            return "a tab character: YAML allows only spaces here (indent with spaces)"
        return f"{_quote(char)} cannot start a value: put the value in quotes"

    def _flow(self) -> str | None:
        if self.context.startswith(("while parsing a flow sequence", "while parsing a flow map")):
            assert self.context_mark is not None
            opener_index = self.context_mark.index
        elif self.context.startswith("while parsing a flow node"):
            found = _unclosed_opener(self.text, self.index)
            if found is None:
                return None
            opener_index = found
        else:
            return None
        opener = self.text[opener_index : opener_index + 1]
        closer = {"[": "]", "{": "}"}.get(opener)
        if closer is None:
            return None
        where = f'the "{opener}" on {self._where(opener_index)}'
        thing = self._thing_at()
        if thing == "the end of the file":
            return f'{where} is never closed (add "{closer}")'
        if thing.startswith("a list item"):
            return (
                f'a "- " list item inside {where}: close it with "{closer}" before the item, or'
                " write the list in one style"
            )
        return f'{where} is not closed: expected "," or "{closer}" before {thing}'

    def _block(self) -> str | None:
        # Python: "expected <block end>, but found ..."; libyaml: "did not find expected key" or
        # "did not find expected '-' indicator".
        if not self.context.startswith("while parsing a block"):
            return None
        if "block end" not in self.problem and "did not find expected" not in self.problem:
            return None
        assert self.context_mark is not None
        thing = self._thing_at()
        if thing in ('"]"', '"}"'):
            return f"{thing} closes nothing: there is no matching opening bracket before it"
        before = self._before()
        if before.strip():
            return (
                f"unexpected {thing.removeprefix('the ')} after a value on the same line: quote"
                " the whole value, or put it on its own line"
            )
        block_column = self.context_mark.column + 1
        sequence = "collection" in self.context or self.text[self.context_mark.index] == "-"
        block = "the list" if sequence else "the mapping"
        items = "its items" if sequence else "its keys"
        started = f"{block} started on line {self.context_mark.line + 1}"
        if self.column == block_column:
            wanted = 'a "-" item' if sequence else "a key"
            return f"{thing} where {started} expects {wanted}: check the indentation"
        return (
            f"bad indentation: {thing} at column {self.column}, but {started} has {items} at"
            f" column {block_column}"
        )

    def _mapping_value(self) -> str | None:
        if not self.problem.startswith("mapping values are not allowed"):
            return None
        before = self._before()
        stripped = before.lstrip(" -")
        if ": " in stripped or stripped.startswith(("'", '"')):
            return (
                'a second ": " on one line: a value that contains ": " must be quoted (e.g. "a: b")'
            )
        previous = _previous_line(self.text, self.index)
        if previous is None:
            return None
        number, line = previous
        indent = len(line) - len(line.lstrip(" "))
        here = len(before) - len(before.lstrip(" "))
        if ": " not in line and not line.rstrip().endswith(":"):
            return (
                f'line {number} has no ": " after its key, so this line is read as part of it'
                " (a key needs a colon and a space)"
            )
        if here > indent:
            return (
                f"bad indentation: this key is indented more than line {number}, so it reads as"
                " part of that line's value: line the keys up"
            )
        return None

    def _simple_key(self) -> str | None:
        if "could not find expected ':'" not in self.problem or self.context_mark is None:
            return None
        key = self._line_at(self.context_mark.index)[self.context_mark.column :].strip()
        return (
            f"a key without a value: {_quote(key)} on line {self.context_mark.line + 1} has no"
            ' ":" after it'
        )

    def _quoted(self) -> str | None:
        if "quoted scalar" not in self.context or self.context_mark is None:
            return None
        if "end of stream" in self.problem:
            quote = self.text[self.context_mark.index : self.context_mark.index + 1]
            name = "double quote" if quote == '"' else "single quote"
            return f"the {name} ({quote}) on {self._context_where()} is never closed"
        if "escape" in self.problem or "hex" in self.problem:
            start = self.text.rfind("\\", self.context_mark.index, self.index + 1)
            escape = self.text[start : start + 2] if start >= 0 else "\\"
            return (
                f'invalid escape "{escape}" in a double-quoted value: write "\\\\" for a'
                " backslash, or use single quotes"
            )
        return None

    def _other(self) -> str | None:
        problem = self.problem
        if problem.startswith("found undefined alias"):
            match = _ALIAS_AT.match(self.text, self.index)
            name = match[1] if match else "?"
            return f'the alias "*{name}" refers to no anchor "&{name}" defined before it'
        if problem.startswith("found duplicate anchor") or "duplicate anchor" in self.context:
            return "an anchor is defined twice: give each anchor (&name) its own name"
        if problem == "but found another document":
            return 'a second document (after "---"): the file must hold one document'
        if problem.startswith("could not determine a constructor for the tag"):
            match = _TAG_AT.match(self.text, self.index)
            tag = match[0] if match else "!"
            return f'unknown tag {_quote(tag)}: quote the value if it should start with "!"'
        if problem.startswith("sequence entries are not allowed"):
            return (
                'a "- " list item right after a key on the same line: start the list on the'
                " next line"
            )
        if problem == "found unhashable key":
            return "a list or a mapping used as a key: keys must be plain values"
        return None


def _quote(text: str) -> str:
    shown = text if len(text) <= 40 else text[:37] + "..."
    return json.dumps(shown, ensure_ascii=False)


def _previous_line(text: str, index: int) -> tuple[int, str] | None:
    """(number, text) of the last line before ``index``'s that holds more than a comment."""
    lines = text[:index].split("\n")
    for number in range(len(lines) - 1, 0, -1):
        line = lines[number - 1]
        if line.strip() and not line.lstrip().startswith("#"):
            return number, line
    return None


def _unclosed_opener(text: str, end: int) -> int | None:
    """The index of the innermost "[" or "{" still open at ``end`` (quotes and comments skipped)."""
    stack: list[int] = []
    quote = ""
    index = 0
    previous = "\n"  # the last character that was not a space
    while index < end:
        char = text[index]
        if quote:
            if char == quote:
                if quote == "'" and text[index + 1 : index + 2] == "'":
                    index += 1  # '' is an escaped quote
                else:
                    quote = ""
            elif char == "\\" and quote == '"':
                index += 1
        elif char == "#" and previous in " \t\n":
            newline = text.find("\n", index)
            index = end if newline < 0 else newline
            previous = "\n"
            continue
        elif char in "'\"" and (previous in _OPENER_BEFORE or previous == "\n" or stack):
            quote = char
        elif char in "[{" and (previous in _OPENER_BEFORE or previous == "\n"):
            stack.append(index)
        elif char in "]}" and stack:
            stack.pop()
        if char not in " \t":
            previous = char
        index += 1
    return stack[-1] if stack else None
