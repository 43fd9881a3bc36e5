"""YAML for every file the exporter reads: unique keys, safe types, bounded work, plain errors.

The config, the web config and the simulator's scenarios all come from YAML written by hand (or
generated for large fleets), so they share one loader:
- only plain data is built, as ``yaml.safe_load`` does, and a repeated key is an error (a second
  ``targets:`` block would otherwise drop every target above it without a word);
- the work is bounded: anchors and aliases may add at most ``MAX_ALIAS_NODES`` nodes to the
  document (a nine-level "billion laughs" of 25 KB would otherwise expand to 387 million), an
  alias may not refer to the collection that contains it, and nesting stops at ``MAX_DEPTH``;
- a syntax error is one line, ``file:line:col: invalid YAML: <plain words>`` (see yamlerrors).

Speed: a 100,000-stream config is 180,000 nodes. PyYAML's loaders build a node tree and then
walk it with a generic constructor, about 1.5 s and 70 MB for that file; here the C parser's
events are folded straight into lists and dicts (0.3 s, no node tree). Documents using what
that fast path leaves out (merge keys, explicit tags, complex keys, a repeated key or anchor)
go through PyYAML's own node loaders, checked by the same bounds.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator
from typing import Any

import yaml
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from exporter import heap
from exporter.courtesy import PACE_ITEMS, breathe
from exporter.problems import ProblemsError, show
from exporter.yamlerrors import describe

__all__ = ["MAX_ALIAS_NODES", "MAX_DEPTH", "parse_yaml"]

# Aliases may add this many nodes to a document: a list of 1,000 streams shared by 100 targets.
MAX_ALIAS_NODES = 100_000
# Far deeper than any config; PyYAML's pure-Python composer recurses once per level.
MAX_DEPTH = 64
# Above this size a file the C parser refuses is not parsed again in Python for its wording
# (4 s at 100,000 streams): libyaml's own error is worded instead.
_REPARSE_MAX_CHARS = 1024 * 1024

_MERGE_TAG = "tag:yaml.org,2002:merge"
_STR_TAG = "tag:yaml.org,2002:str"
_PLAIN_TAGS = frozenset(
    f"tag:yaml.org,2002:{name}" for name in ("null", "bool", "int", "float", "timestamp")
)
_DEFAULT_TAGS = (None, "!", "tag:yaml.org,2002:seq", "tag:yaml.org,2002:map")


class _Unusual(Exception):
    """The fast path does not handle this document; PyYAML's node loader will."""


class _Bound(Exception):
    """A document over one of the bounds, at a mark."""

    def __init__(self, mark: Any, problem: str) -> None:
        super().__init__(problem)
        self.mark = mark
        self.problem = problem


_RECURSIVE = "an alias refers to the collection that contains it (a recursive structure)"


def _too_deep() -> str:
    return f"nested more than {MAX_DEPTH} levels deep"


def _bomb() -> str:
    return (
        f"aliases expand the document by more than {MAX_ALIAS_NODES} nodes (a YAML bomb?):"
        " write the repeated parts out instead"
    )


# ---------------------------------------------------------------------------------------------
# The node loaders (PyYAML's composers), for what the fast path leaves out and for error words


class UniqueKeyLoader(yaml.SafeLoader):
    """safe_load, except that a repeated key is an error, and nesting is bounded."""

    _depth = 0

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                loader: Any = self  # the stubs leave peek_event untyped
                raise _Bound(loader.peek_event().start_mark, _too_deep())
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        first_line: dict[Hashable, int] = {}
        for key_node, _ in node.value:
            # Merge keys (<<) legitimately repeat and override; only literal keys are checked.
            if key_node.tag == _MERGE_TAG or not isinstance(key_node, ScalarNode):
                continue
            key = self.construct_object(key_node)
            if key in first_line:
                raise ConstructorError(
                    None,
                    None,
                    f"duplicate key {show(key)} (first on line {first_line[key]})",
                    key_node.start_mark,
                )
            first_line[key] = key_node.start_mark.line + 1
        # Named, not super(): the C-parser loader below borrows this method.
        return SafeConstructor.construct_mapping(self, node, deep=deep)


_CNodeLoader: type[yaml.SafeLoader] | None = None
_CParser: Any = None
if hasattr(yaml, "CSafeLoader"):
    _CNodeLoader = type(
        "_CUniqueKeyLoader",
        (yaml.CSafeLoader,),
        {"construct_mapping": UniqueKeyLoader.construct_mapping},
    )
    _CParser = getattr(yaml.cyaml, "CParser")  # noqa: B009 (not in the stubs' exports)


def _check_graph(root: Node) -> None:
    """Bounds on a composed node graph, whose aliases are shared nodes: expansion, cycles, depth."""
    sizes: dict[int, int] = {}
    on_path: set[int] = set()
    distinct = 0
    # Iterative post-order: (node, children still to visit, depth).
    stack: list[tuple[Node, Iterator[Node], int]] = []

    def children(node: Node) -> Iterator[Node]:
        if isinstance(node, SequenceNode):
            yield from node.value
        elif isinstance(node, MappingNode):
            for key, value in node.value:
                yield key
                yield value

    def enter(node: Node, depth: int) -> None:
        nonlocal distinct
        if depth > MAX_DEPTH:
            raise _Bound(node.start_mark, _too_deep())
        distinct += 1
        on_path.add(id(node))
        stack.append((node, children(node), depth))

    enter(root, 1)
    while stack:
        node, pending, depth = stack[-1]
        child = next(pending, None)
        if child is None:
            stack.pop()
            on_path.discard(id(node))
            total = 1
            for grandchild in children(node):
                total += sizes[id(grandchild)]
            sizes[id(node)] = total
            if total - distinct > MAX_ALIAS_NODES:
                raise _Bound(node.start_mark, _bomb())
        elif id(child) in on_path:
            raise _Bound(child.start_mark, _RECURSIVE)
        elif id(child) not in sizes:
            enter(child, depth + 1)


def _node_load(text: str, loader_class: type[yaml.SafeLoader]) -> object:
    loader = loader_class(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_graph(node)
        return loader.construct_document(node)
    finally:
        loader.dispose()


# ---------------------------------------------------------------------------------------------
# The fast path: C parser events folded into data


_RESOLVERS: dict[Any, list[tuple[str, Any]]] = yaml.resolver.Resolver.yaml_implicit_resolvers
_WILDCARD_RESOLVERS = _RESOLVERS.get(None, [])
_CONSTRUCTORS: dict[Any, Callable[..., Any]] = SafeConstructor.yaml_constructors


def _resolve(value: str) -> str:
    """The tag of a plain scalar, as PyYAML's resolver finds it (first character, then regex)."""
    for tag, regexp in _RESOLVERS.get(value[:1], ()):
        if regexp.match(value):
            return str(tag)
    for tag, regexp in _WILDCARD_RESOLVERS:
        if regexp.match(value):
            return str(tag)
    return _STR_TAG


def _fast_load(text: str) -> object:
    """The document's data from the C parser's events, as SafeLoader would build it."""
    parser = _CParser(text)
    constructor = SafeConstructor()
    scalar_event, alias_event = yaml.ScalarEvent, yaml.AliasEvent
    sequence_start, mapping_start = yaml.SequenceStartEvent, yaml.MappingStartEvent
    collection_end = (yaml.SequenceEndEvent, yaml.MappingEndEvent)
    try:
        parser.get_event()  # StreamStart
        if isinstance(parser.get_event(), yaml.StreamEndEvent):
            return None
        root: object = None
        # A frame: [container, expecting a key, the key, anchor, expanded nodes before it].
        stack: list[list[Any]] = []
        anchors: dict[str, tuple[object, int]] = {}
        open_anchors: set[str] = set()
        nodes = added = 0
        while True:
            event = parser.get_event()
            kind = type(event)
            value: object
            if kind is scalar_event:
                nodes += 1
                if not nodes % PACE_ITEMS:
                    breathe()
                text_value: str = event.value
                tag = event.tag
                if tag is None or tag == "!":
                    tag = _resolve(text_value) if event.implicit[0] else _STR_TAG
                if tag == _STR_TAG:
                    value = text_value
                elif tag in _PLAIN_TAGS:
                    node = ScalarNode(tag, text_value, event.start_mark, event.end_mark)
                    value = _CONSTRUCTORS[tag](constructor, node)
                else:
                    raise _Unusual
                if event.anchor is not None:
                    if event.anchor in anchors or event.anchor in open_anchors:
                        raise _Unusual
                    anchors[event.anchor] = (value, 1)
            elif kind is sequence_start or kind is mapping_start:
                if event.tag not in _DEFAULT_TAGS:
                    raise _Unusual
                nodes += 1
                value = [] if kind is sequence_start else {}
                if len(stack) >= MAX_DEPTH:
                    raise _Bound(event.start_mark, _too_deep())
                anchor = event.anchor
                if anchor is not None:
                    if anchor in anchors or anchor in open_anchors:
                        raise _Unusual
                    open_anchors.add(anchor)
                frame = [value, True, None, anchor, nodes + added - 1]
            elif kind in collection_end:
                done = stack.pop()
                if done[3] is not None:
                    open_anchors.discard(done[3])
                    anchors[done[3]] = (done[0], nodes + added - done[4])
                continue
            elif kind is alias_event:
                name = event.anchor
                if name in open_anchors:
                    raise _Bound(event.start_mark, _RECURSIVE)
                if name not in anchors:
                    raise _Unusual  # PyYAML words "found undefined alias"
                value, size = anchors[name]
                added += size
                if added > MAX_ALIAS_NODES:
                    raise _Bound(event.start_mark, _bomb())
            elif kind is yaml.DocumentEndEvent:
                if not isinstance(parser.get_event(), yaml.StreamEndEvent):
                    raise _Unusual  # a second document: PyYAML words the error
                return root
            else:
                raise _Unusual
            # Attach the value to its parent.
            if stack:
                parent = stack[-1]
                container = parent[0]
                if type(container) is list:
                    container.append(value)
                elif parent[1]:
                    if type(value) is list or type(value) is dict or value in container:
                        raise _Unusual  # a complex or repeated key: PyYAML words it
                    parent[2] = value
                    parent[1] = False
                else:
                    container[parent[2]] = value
                    parent[1] = True
            else:
                root = value
            if kind is sequence_start or kind is mapping_start:
                stack.append(frame)
    finally:
        parser.dispose()


# ---------------------------------------------------------------------------------------------
# The entry point


def _line(where: str, mark: Any, problem: str) -> str:
    at = f"{where}:{mark.line + 1}:{mark.column + 1}" if mark is not None else where
    return f"{at}: invalid YAML: {problem}"


def _reparse_in_python(exc: yaml.YAMLError, text: str) -> bool:
    # libyaml refuses escapes of lone surrogates ("\ud800") that PyYAML reads: the loaders then
    # refuse them with the key path, which says more than a position.
    problem = str(getattr(exc, "problem", "") or "")
    return len(text) <= _REPARSE_MAX_CHARS or "escape" in problem


def parse_yaml(
    text: str,
    where: str,
    error: Callable[[str], Exception] = ProblemsError,
    fast: bool = True,
) -> object:
    """The data of one YAML document; ``error`` (one line, prefixed ``where``) if it is not YAML.

    ``where`` names the file as the caller's messages do (``config.yaml``, ``web config x.yml``).
    ``fast=False`` uses only the pure-Python parser (small files, where its speed does not
    matter).
    """
    with heap.paused():
        try:
            if fast and _CParser is not None and _CNodeLoader is not None:
                try:
                    return _fast_load(text)
                except _Unusual:
                    return _node_load(text, _CNodeLoader)
                except yaml.YAMLError as exc:
                    if not _reparse_in_python(exc, text):
                        raise
            return _node_load(text, UniqueKeyLoader)
        except _Bound as exc:
            raise error(_line(where, exc.mark, exc.problem)) from None
        except yaml.YAMLError as exc:
            described = describe(exc, text)
            if described is None:
                raise error(f"{where}: invalid YAML: {' '.join(str(exc).split())}") from None
            line, column, words = described
            raise error(f"{where}:{line}:{column}: invalid YAML: {words}") from None
        except (ValueError, TypeError, OverflowError) as exc:
            # A value with an explicit tag it does not fit (!!int x): PyYAML raises bare errors.
            raise error(f"{where}: invalid YAML: a tagged value cannot be read ({exc})") from None
