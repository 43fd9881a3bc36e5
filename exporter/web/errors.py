"""How problems in a web config are worded: one line each, ``web config <file>: <key.path>: ...``.

Shared by the schema (`schema`), its loader (`config`) and the TLS context factory (`tls`),
which all report into the same `WebConfigError`. The generic wording of pydantic's errors is
`exporter.problems`'s; what is particular to this file (hashes and keys are never shown, "did
you mean", file order) is here.
"""

from __future__ import annotations

import difflib
from collections.abc import Hashable, Mapping
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails, PydanticCustomError

from exporter.problems import ProblemsError, key_path, kind, quote_hint, show, translate

__all__ = ["Loc", "WebConfigError", "invalid", "many", "validation_problems"]

Loc = tuple[Hashable, ...]

_CUSTOM = "webconfig"
_MULTI = "webconfig_multi"


class WebConfigError(ProblemsError):
    """A web config that cannot be used; `problems` holds one line per problem."""


def invalid(message: str) -> PydanticCustomError:
    """A finished message for a validator to raise (braces in it are not placeholders)."""
    return PydanticCustomError(_CUSTOM, "{message}", {"message": message})


def many(found: list[tuple[Loc, str]]) -> PydanticCustomError:
    """Several problems at once, each at a location relative to the validated field or model."""
    text = "; ".join(f"{key_path(loc)}: {msg}" if loc else msg for loc, msg in found)
    return PydanticCustomError(_MULTI, "{message}", {"message": text, "problems": found})


def _secret_loc(loc: Loc) -> bool:
    return (len(loc) >= 2 and loc[0] == "basic_auth_users" and loc[-1] != "[key]") or loc[:2] == (
        "tls_server_config",
        "key",
    )


def _message(error: ErrorDetails, models: Mapping[Loc, type[BaseModel]]) -> list[tuple[Loc, str]]:
    loc: Loc = tuple(error["loc"])
    kind_ = error["type"]
    value = error.get("input")
    ctx: dict[str, Any] = dict(error.get("ctx") or {})
    got = kind(value) if _secret_loc(loc) else show(value)
    hint = quote_hint(value)
    if kind_ == _MULTI:
        return [((*loc, *rel), msg) for rel, msg in ctx["problems"]]
    if kind_ == _CUSTOM:
        return [(loc, str(ctx["message"]))]
    if kind_ == "extra_forbidden":
        return [(loc, "unknown key" + _did_you_mean(loc, models))]
    if kind_ == "string_type":
        if loc and loc[-1] == "[key]":
            what = "username" if loc[0] == "basic_auth_users" else "header name"
            return [(loc, f"{what} must be a string, got {got}{hint}")]
        if loc[:1] == ("basic_auth_users",):
            return [(loc, f"must be a string (a bcrypt hash), got {got}")]
        return [(loc, f"must be a string, got {got}{hint}")]
    if kind_ in ("model_type", "model_attributes_type", "dict_type", "mapping_type"):
        return [(loc, f"must be a mapping, got {got}")]
    if kind_ in ("missing", "bool_type", "bool_parsing", "list_type", "value_error"):
        worded = translate(error, got)
        if worded is not None:
            return [(loc, worded)]
    return [(loc, error["msg"])]


def _did_you_mean(loc: Loc, models: Mapping[Loc, type[BaseModel]]) -> str:
    model = models.get(loc[:-1])
    if model is None:
        return ""
    close = difflib.get_close_matches(str(loc[-1]), list(model.model_fields), n=1, cutoff=0.7)
    return f" (did you mean {close[0]}?)" if close else ""


def _order(loc: Loc, raw: object) -> tuple[int, ...]:
    """Where a loc is in the file, so that problems come out in file order."""
    out: list[int] = []
    node = raw
    for part in loc:
        if part == "[key]":
            continue
        if isinstance(node, Mapping):
            # Keys that YAML read as numbers are located by their text.
            keys = [str(k) for k in node]
            index = keys.index(str(part)) if str(part) in keys else len(keys)
            out.append(index)
            node = list(node.values())[index] if index < len(keys) else None
        elif isinstance(node, list) and isinstance(part, int):
            out.append(part)
            node = node[part] if 0 <= part < len(node) else None
        else:
            out.append(0)
            node = None
    return tuple(out)


def validation_problems(
    exc: ValidationError, raw: object, prefix: str, models: Mapping[Loc, type[BaseModel]]
) -> WebConfigError:
    """The error to raise for a file that did not validate, its lines in file order."""
    found = [item for error in exc.errors() for item in _message(error, models)]
    found.sort(key=lambda item: _order(item[0], raw))
    return WebConfigError(
        f"{prefix}: {key_path(loc)}: {msg}" if loc else f"{prefix}: {msg}" for loc, msg in found
    )


def problem_line(source: str | None, loc: Loc, message: str) -> str:
    where = f"web config {source}" if source else "web config"
    return f"{where}: {key_path(loc)}: {message}" if loc else f"{where}: {message}"
