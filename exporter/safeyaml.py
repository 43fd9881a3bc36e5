"""YAML for every file the exporter reads: unique keys, safe types, one-line errors.

The config, the web config and the simulator's scenarios all come from YAML written by hand, so
they share one loader: a repeated key is an error (a second ``targets:`` block would otherwise
drop every target above it without a word), only plain data is built (as ``yaml.safe_load``),
and a syntax error is one line naming ``file:line:col``.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import yaml

from exporter.problems import ProblemsError, show

__all__ = ["parse_yaml"]

_MERGE_TAG = "tag:yaml.org,2002:merge"


class UniqueKeyLoader(yaml.SafeLoader):
    """safe_load, except that a repeated key is an error instead of silently replacing the first."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        first_line: dict[Hashable, int] = {}
        for key_node, _ in node.value:
            # Merge keys (<<) legitimately repeat and override; only literal keys are checked.
            if key_node.tag == _MERGE_TAG or not isinstance(key_node, yaml.ScalarNode):
                continue
            key = self.construct_object(key_node)
            if key in first_line:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"duplicate key {show(key)} (first on line {first_line[key]})",
                    key_node.start_mark,
                )
            first_line[key] = key_node.start_mark.line + 1
        # Named, not super(): the C-parser loader below borrows this method.
        return yaml.constructor.SafeConstructor.construct_mapping(self, node, deep=deep)


# The C parser when PyYAML has it: ten times faster on a 10k-stream config, which a reload
# reads. Its error messages are vaguer, so a file it rejects is parsed again in Python.
_FastLoader: type[yaml.SafeLoader] | None = None
if hasattr(yaml, "CSafeLoader"):
    _FastLoader = type(
        "_FastUniqueKeyLoader",
        (yaml.CSafeLoader,),
        {"construct_mapping": UniqueKeyLoader.construct_mapping},
    )


def parse_yaml(
    text: str, where: str, error: type[ProblemsError] = ProblemsError, fast: bool = True
) -> object:
    """The data of one YAML document; ``error`` (one line, prefixed ``where``) if it is not YAML.

    ``where`` names the file as the caller's messages do (``config.yaml``, ``web config x.yml``).
    """
    if fast and _FastLoader is not None:
        try:
            # A SafeLoader subclass, so no arbitrary Python objects, as with yaml.safe_load.
            return yaml.load(text, Loader=_FastLoader)
        except yaml.YAMLError:
            pass  # reported below, with the pure-Python parser's clearer message
    try:
        return yaml.load(text, Loader=UniqueKeyLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        at = f"{where}:{mark.line + 1}:{mark.column + 1}" if mark else where
        # PyYAML's own order: "while scanning a quoted scalar, found unexpected end of stream".
        problem = ", ".join(part for part in (exc.context, exc.problem) if part) or "cannot parse"
        raise error([f"{at}: invalid YAML: {problem}"]) from None
    except yaml.YAMLError as exc:
        raise error([f"{where}: invalid YAML: {exc}"]) from None
