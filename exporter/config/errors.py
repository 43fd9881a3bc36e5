"""From pydantic's errors to the config's one-line problems: where (a key path in file order)
and what (in the config's words, never echoing a secret or a value from the environment).

The wording of pydantic's generic error kinds is shared with the web config
(``exporter.problems.translate``); what is particular to this file is here: the custom errors'
templates, secrets under ``credentials`` and ``callback_keys``, ``${VAR}`` values shown as
written, and a stream written as a plain name.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from typing import Any

from pydantic_core import ErrorDetails

from exporter.config.checks import Loc
from exporter.config.expect import EXPECT_TAGS
from exporter.config.fields import CUSTOM
from exporter.problems import key_part, kind, quote_hint, show, translate

__all__ = ["is_secret", "locate", "message"]

_SECRET_FIELDS = frozenset({"secret_id", "secret_key", "token"})


def is_secret(raw_loc: Loc) -> bool:
    return (
        len(raw_loc) >= 3
        and raw_loc[0] == "accounts"
        and raw_loc[2] in ("credentials", "callback_keys")
    )


def locate(loc: Iterable[Hashable], raw: object) -> tuple[str, tuple[int, ...], Loc]:
    """Map a pydantic loc onto the raw tree: (printable path, file-order sort key, raw loc).

    pydantic's loc can go deeper than the raw tree (a stream written as a plain string is
    validated as {"name": ...}) and marks dict keys with "[key]"; both are folded away.
    """
    path = ""
    order: list[int] = []
    raw_loc: list[Hashable] = []
    node: object = raw
    for part in loc:
        # "[key]" marks a dict key; the tags name which form of expect_live was validated.
        if part == "[key]" or part in EXPECT_TAGS:
            continue
        if isinstance(node, str):
            break
        if isinstance(part, int) and not isinstance(node, Mapping):
            path += f"[{part}]"
            order.append(part)
            node = node[part] if isinstance(node, list) and 0 <= part < len(node) else None
        else:
            if isinstance(node, Mapping):
                # pydantic reports a YAML `yes:` key as 1; print the key the way it was read.
                part = next((key for key in node if key == part), part)
                keys = list(node)
                order.append(keys.index(part) if part in node else len(keys))
                node = node.get(part)
            else:
                order.append(0)
                node = None
            text = show(part) if isinstance(part, bool) or part is None else str(part)
            if is_secret((*raw_loc, part)) and len(raw_loc) == 3 and text not in _SECRET_FIELDS:
                # A key someone mistyped under credentials may be the secret itself.
                path = key_part(path, "<unknown key>")
            else:
                path = key_part(path, part)
        raw_loc.append(part)
    return path, tuple(order), tuple(raw_loc)


def _parent_is_streams(raw_loc: Loc) -> bool:
    return len(raw_loc) >= 2 and raw_loc[-2] == "streams" and isinstance(raw_loc[-1], int)


def message(error: ErrorDetails, raw_loc: Loc, interpolated: Mapping[Loc, str]) -> str:
    """The config's wording of one pydantic error at ``raw_loc``."""
    error_kind = error["type"]
    value = error.get("input")
    ctx: dict[str, Any] = dict(error.get("ctx") or {})
    secret = is_secret(raw_loc)

    def got() -> str:
        if secret:
            return kind(value)
        if raw_loc in interpolated:
            return interpolated[raw_loc]
        return show(value)

    if error_kind == CUSTOM:
        text: str = ctx.pop("template")
        if "value" in ctx and (secret or raw_loc in interpolated):
            ctx["value"] = got()
        # Other placeholders are named after the sibling field they quote (e.g. {interval}).
        for name, shown in ctx.items():
            sibling = (*raw_loc[:-1], name)
            if name != "value" and sibling in interpolated:
                shown = interpolated[sibling]
            text = text.replace("{" + name + "}", str(shown))
        return text
    if error_kind == "string_type":
        # Only label maps have keys that are validated, so a bad key is a bad label name.
        what = "label name" if "[key]" in error["loc"] else ""
        return f"{what} must be a string, got {got()}{quote_hint(value)}".lstrip()
    if error_kind in ("model_type", "model_attributes_type", "dict_type", "mapping_type"):
        if _parent_is_streams(raw_loc):
            return f"must be a stream name or a mapping, got {got()}{quote_hint(value)}"
        return f"must be a mapping, got {got()}"
    generic = translate(error, got())
    # Not expected from these models; pydantic's own wording is still one line.
    return generic if generic is not None else error["msg"]
