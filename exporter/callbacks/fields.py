"""How each field of a callback body is read: what a number, an identifier or free text may be.

A reader returns the value or raises :class:`FieldError`, whose message names the field and
quotes the offending value the way :func:`exporter.problems.show` does for JSON.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from typing import Any, TypeVar

from exporter.problems import show

__all__ = [
    "HOSTNAME",
    "MAX_ABNORMAL_EVENTS",
    "FieldError",
    "abnormal_events",
    "free_text",
    "int_field",
    "optional",
    "sequence",
    "text",
    "uint",
]

_UINT = re.compile(r"0|[1-9][0-9]{0,17}")
_INT = re.compile(r"-?(?:0|[1-9][0-9]{0,17})")
_LABEL = r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
HOSTNAME = re.compile(rf"(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})*")

_T = TypeVar("_T")


class FieldError(ValueError):
    """A field that is present but not acceptable: ``field <name>: <problem>``."""

    def __init__(self, name: str, problem: str) -> None:
        super().__init__(f"field {name}: {problem}")


def uint(name: str, value: Any) -> int:
    """A non-negative integer, as a JSON number or a decimal string (no sign, no leading 0)."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 10**18:
        return value
    if isinstance(value, str) and _UINT.fullmatch(value):
        return int(value)
    raise FieldError(
        name, f"want a non-negative integer or decimal string, got {show(value, json=True)}"
    )


def int_field(name: str, value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) < 10**18:
        return value
    if isinstance(value, str) and _INT.fullmatch(value):
        return int(value)
    raise FieldError(name, f"want an integer or decimal string, got {show(value, json=True)}")


def text(name: str, value: Any) -> str:
    """A required identifier: a non-empty string of printable Unicode."""
    result = free_text(name, value)
    if not result:
        raise FieldError(name, "want a non-empty string, got an empty one")
    return result


def free_text(name: str, value: Any) -> str:
    """A string without control characters or lone surrogates (it ends up in logs and labels)."""
    if not isinstance(value, str):
        raise FieldError(name, f"want a string, got {show(value, json=True)}")
    for offset, char in enumerate(value):
        category = unicodedata.category(char)
        if category == "Cc":
            raise FieldError(name, f"control character U+{ord(char):04X} at offset {offset}")
        if category == "Cs":
            raise FieldError(name, f"lone surrogate U+{ord(char):04X} at offset {offset}")
    return value


def sequence(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return str(value)
    if isinstance(value, str):
        return text("sequence", value)
    raise FieldError(
        "sequence", f"want a string or a non-negative integer, got {show(value, json=True)}"
    )


def optional(obj: dict[str, Any], name: str, check: Callable[[str, Any], _T]) -> _T | None:
    """An optional field: absent, null or "" is None; anything else must pass ``check``."""
    value = obj.get(name)
    if value is None or value == "":
        return None
    return check(name, value)


MAX_ABNORMAL_EVENTS = 64  # entries of one push-error body (CSS lists at most its 11 types)


def abnormal_events(value: Any) -> tuple[tuple[int, int], ...]:
    """A push-error body's ``abnormal_event``: (type, count) per entry. Each entry is an object
    with an integer ``type`` and an optional ``count`` (default 1); its ``detail`` and
    descriptions are not kept."""
    name = "abnormal_event"
    if not isinstance(value, list):
        raise FieldError(name, f"want an array, got {show(value, json=True)}")
    if len(value) > MAX_ABNORMAL_EVENTS:
        raise FieldError(name, f"more than {MAX_ABNORMAL_EVENTS} entries")
    out: list[tuple[int, int]] = []
    for index, entry in enumerate(value):
        where = f"{name}[{index}]"
        if not isinstance(entry, dict):
            raise FieldError(where, f"want an object, got {show(entry, json=True)}")
        if "type" not in entry:
            raise FieldError(f"{where}.type", "missing")
        kind = uint(f"{where}.type", entry["type"])
        raw = entry.get("count")
        count = 1 if raw is None or raw == "" else uint(f"{where}.count", raw)
        out.append((kind, count))
    return tuple(out)
