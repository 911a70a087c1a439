"""All field tests of a rule set merged into one trie of paths, walked once per object.

A pod meets only the tests whose paths it actually has: the walk follows the object's keys
that some test needs, so its cost tracks the fields present, not the number of rules. The
trie is compiled at start-up into one Python function per rule set (`compile_walker`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .paths import MAX_STEPS, parse_path, render_key

# Called for each payload whose path is reached: (payload, value, last wildcard key, path).
Emit = Callable[[Any, Any, str | None, str], None]


@dataclass(slots=True)
class TrieNode:
    payloads: list[Any] = field(default_factory=list)
    keys: dict[str, TrieNode] = field(default_factory=dict)
    rendered: str = ""  # this node's key as written in a path, rendered once
    dotted: str = ""  # the same as it follows a parent path (".name" or '["a/b"]')
    each: TrieNode | None = None
    indexes: dict[int, TrieNode] = field(default_factory=dict)
    anykeys: dict[str | None, tuple[re.Pattern[str] | None, TrieNode]] = field(default_factory=dict)

    def add(self, path: str, payload: Any, last_key_filter: str | None = None) -> None:
        steps = parse_path(path)
        last_anykey = max((i for i, (kind, _) in enumerate(steps) if kind == "anykey"), default=-1)
        node = self
        for position, (kind, arg) in enumerate(steps):
            if kind == "key":
                rendered = render_key(str(arg))
                dotted = rendered if rendered.startswith("[") else "." + rendered
                node = node.keys.setdefault(str(arg), TrieNode(rendered=rendered, dotted=dotted))
            elif kind == "each":
                if node.each is None:
                    node.each = TrieNode()
                node = node.each
            elif kind == "index":
                node = node.indexes.setdefault(int(arg or 0), TrieNode())
            else:
                pattern = last_key_filter if position == last_anykey else None
                if pattern not in node.anykeys:
                    compiled = re.compile(pattern) if pattern is not None else None
                    node.anykeys[pattern] = (compiled, TrieNode())
                node = node.anykeys[pattern][1]
        node.payloads.append(payload)


Walker = Callable[[Any, str, Emit], None]
# Per payload: a cheap test run before `emit` (None: always emit). The engine passes each field
# test's predicate, so only hits reach `emit` and only hits pay for their path string.
Guard = Callable[[Any], Callable[[Any, str | None], bool] | None]


def compile_walker(root: TrieNode, guard: Guard | None = None) -> Walker:
    """Turn the trie into one straight-line Python function: `walker(value, path, emit)` emits
    every payload whose path `value` (found at `path`) reaches, nulls counting as absent.

    Done once per rule set at start-up: the generated code reads each key with a constant,
    keeps list indexes in locals and builds a path string only for a payload it emits, where
    interpreting the trie per object cost a recursive call and a path string per node."""
    return _WalkerSource(guard).compile(root)


# A node with this many leaf keys scans the object's keys against a table when it has fewer.
_LEAF_TABLE_MIN = 4
_LITERALS = re.compile(r"\^\(?([A-Za-z0-9_]+(?:\|[A-Za-z0-9_]+)*)\)?\$")


def _after_path(key: str) -> str:
    """A key as it follows a non-empty path: ".name" or '["a/b"]'."""
    rendered = render_key(key)
    return rendered if rendered[0] == "[" else "." + rendered


def _is_leaf(node: TrieNode) -> bool:
    return not (node.keys or node.anykeys or node.each is not None or node.indexes)


def _literal_alternatives(pattern: re.Pattern[str] | None) -> list[str] | None:
    """The names a key filter such as ^(secret|configMap)$ admits, when it is just a list."""
    if pattern is None:
        return None
    match = _LITERALS.fullmatch(pattern.pattern)
    return match.group(1).split("|") if match else None


class _WalkerSource:
    def __init__(self, guard: Guard | None) -> None:
        self.guard = guard
        self.lines: list[str] = []
        # Keys, payloads, predicates and patterns enter the code as names bound in its
        # namespace, never as text: a rule file's key cannot inject code or break quoting.
        self.names: dict[str, Any] = {"render_key": render_key, "after_path": _after_path}
        self.counter = 0

    def compile(self, root: TrieNode) -> Walker:
        self.lines.append("def walker(v0, base, emit):")
        self.lines.append("    dot = '.' if base else ''")
        self.lines.append("    k = None")
        self._node(root, "v0", ["base"], "k", 1, 0, known_nonempty=False)
        self.lines.append("    return None")
        namespace = dict(self.names)
        exec(compile("\n".join(self.lines), "<fieldtrie walker>", "exec"), namespace)
        walker: Walker = namespace["walker"]
        return walker

    def _name(self, prefix: str, value: Any) -> str:
        self.counter += 1
        name = f"{prefix}{self.counter}"
        self.names[name] = value
        return name

    def _var(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def _emit(self, node: TrieNode, var: str, parts: list[str], key: str, indent: int) -> None:
        pad = "    " * indent
        path = "f'" + "".join("{" + part + "}" for part in parts) + "'"
        for payload in node.payloads:
            item = self._name("P", payload)
            test = self.guard(payload) if self.guard is not None else None
            if test is None:
                self.lines.append(f"{pad}emit({item}, {var}, {key}, {path})")
            else:
                check = self._name("T", test)
                self.lines.append(f"{pad}if {check}({var}, {key}):")
                self.lines.append(f"{pad}    emit({item}, {var}, {key}, {path})")

    def _key(
        self,
        name: str,
        child: TrieNode,
        var: str,
        parts: list[str],
        key: str | None,
        indent: int,
        depth: int,
        known_nonempty: bool,
    ) -> None:
        """One named key; `key` None: the key's own name is the reported wildcard key."""
        pad = "    " * indent
        sub, constant = self._var("v"), self._name("K", name)
        self.lines.append(f"{pad}{sub} = {var}.get({constant})")
        self.lines.append(f"{pad}if {sub} is not None:")
        rendered = render_key(name)
        dotted = rendered if rendered.startswith("[") else "." + rendered
        if dotted.startswith("[") or known_nonempty:
            segment = [self._name("S", dotted)]
        else:
            segment = ["dot", self._name("S", rendered)]
        self._node(
            child, sub, parts + segment, key or constant, indent + 1, depth + 1, known_nonempty=True
        )

    def _leaf_table(
        self,
        leaves: list[tuple[str, TrieNode]],
        var: str,
        parts: list[str],
        key: str,
        indent: int,
        known_nonempty: bool,
    ) -> None:
        pad = "    " * indent
        # name -> ((payload, test or None), ...), (segment after a non-empty path, after "")
        table: dict[str, tuple[tuple[tuple[Any, Any], ...], str, str]] = {}
        for name, child in leaves:
            table[name] = (
                tuple(
                    (item, self.guard(item) if self.guard is not None else None)
                    for item in child.payloads
                ),
                child.dotted,
                child.rendered,
            )
        constant = self._name("L", table)
        entry, value, found, payload, test = (self._var(p) for p in "evnpc")
        prefix = "f'" + "".join("{" + part + "}" for part in parts) + "'"
        segment = f"{entry}[1]" if known_nonempty else f"({entry}[1] if base else {entry}[2])"
        self.lines.append(f"{pad}if len({var}) < {len(leaves)}:")
        self.lines.append(f"{pad}    for {found}, {value} in {var}.items():")
        self.lines.append(f"{pad}        {entry} = {constant}.get({found})")
        self.lines.append(f"{pad}        if {entry} is None or {value} is None:")
        self.lines.append(f"{pad}            continue")
        self.lines.append(f"{pad}        for {payload}, {test} in {entry}[0]:")
        self.lines.append(f"{pad}            if {test} is None or {test}({value}, {key}):")
        self.lines.append(
            f"{pad}                emit({payload}, {value}, {key}, {prefix} + {segment})"
        )
        self.lines.append(f"{pad}else:")
        for name, child in leaves:
            self._key(name, child, var, parts, key, indent + 1, 0, known_nonempty)
        # Leaves have no children, so depth is not used below them.

    def _node(
        self,
        node: TrieNode,
        var: str,
        parts: list[str],
        key: str,
        indent: int,
        depth: int,
        *,
        known_nonempty: bool,
    ) -> None:
        if depth > MAX_STEPS:
            raise ValueError(f"field paths deeper than {MAX_STEPS} steps are not supported")
        self._emit(node, var, parts, key, indent)
        pad = "    " * indent
        if node.keys or node.anykeys:
            self.lines.append(f"{pad}if isinstance({var}, dict):")
            keys = list(node.keys.items())
            leaves = [(name, child) for name, child in keys if _is_leaf(child)]
            if len(leaves) >= _LEAF_TABLE_MIN:
                # Many leaf keys (securityContext's fields): a small mapping is cheaper to scan
                # than the keys are to look up one by one.
                self._leaf_table(leaves, var, parts, key, indent + 1, known_nonempty)
                keys = [(name, child) for name, child in keys if not _is_leaf(child)]
            for name, child in keys:
                self._key(name, child, var, parts, key, indent + 1, depth, known_nonempty)
            for pattern, child in node.anykeys.values():
                literals = _literal_alternatives(pattern)
                if literals is not None:
                    # ^(secret|configMap)$ is a few lookups, not a regex on every key.
                    for name in literals:
                        self._key(name, child, var, parts, None, indent + 1, depth, known_nonempty)
                    continue
                name, sub = self._var("n"), self._var("v")
                self.lines.append(f"{pad}    for {name}, {sub} in {var}.items():")
                self.lines.append(f"{pad}        if {sub} is None:")
                self.lines.append(f"{pad}            continue")
                self.lines.append(f"{pad}        {name} = str({name})")
                if pattern is not None:
                    search = self._name("R", pattern.search)
                    self.lines.append(f"{pad}        if not {search}({name}):")
                    self.lines.append(f"{pad}            continue")
                # Rendered only in the path of a payload emitted (an expression in the f-string).
                segment = (
                    f"after_path({name})"
                    if known_nonempty
                    else f"(after_path({name}) if base else render_key({name}))"
                )
                self._node(
                    child, sub, [*parts, segment], name, indent + 2, depth + 1, known_nonempty=True
                )
        if node.each is not None or node.indexes:
            keyword = "elif" if node.keys or node.anykeys else "if"
            self.lines.append(f"{pad}{keyword} isinstance({var}, list):")
            if node.each is not None:
                index, sub = self._var("i"), self._var("v")
                self.lines.append(f"{pad}    for {index}, {sub} in enumerate({var}):")
                self.lines.append(f"{pad}        if {sub} is not None:")
                brackets = [self._name("S", "["), index, self._name("S", "]")]
                self._node(
                    node.each,
                    sub,
                    [*parts, *brackets],
                    key,
                    indent + 3,
                    depth + 1,
                    known_nonempty=True,
                )
            for position, child in node.indexes.items():
                sub = self._var("v")
                self.lines.append(f"{pad}    if len({var}) > {int(position)}:")
                self.lines.append(f"{pad}        {sub} = {var}[{int(position)}]")
                self.lines.append(f"{pad}        if {sub} is not None:")
                fixed = self._name("S", f"[{int(position)}]")
                self._node(
                    child, sub, [*parts, fixed], key, indent + 3, depth + 1, known_nonempty=True
                )


def match_path(
    path: str, obj: Any, last_key_filter: str | None = None
) -> list[tuple[str, Any, str | None]]:
    """Every (path, value, last wildcard key) that `path` reaches in `obj`; for tools and tests."""
    found: list[tuple[str, Any, str | None]] = []
    root = TrieNode()
    root.add(path, None, last_key_filter)
    compile_walker(root)(obj, "", lambda _, value, key, at: found.append((at, value, key)))
    return found
