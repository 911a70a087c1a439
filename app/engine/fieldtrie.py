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

from app.engine.paths import MAX_STEPS, parse_path, render_key

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


class _WalkerSource:
    def __init__(self, guard: Guard | None) -> None:
        self.guard = guard
        self.lines: list[str] = []
        # Keys, payloads, predicates and patterns enter the code as names bound in its
        # namespace, never as text: a rule file's key cannot inject code or break quoting.
        self.names: dict[str, Any] = {"render_key": render_key}
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
            for name, child in node.keys.items():
                sub = self._var("v")
                self.lines.append(f"{pad}    {sub} = {var}.get({self._name('K', name)})")
                self.lines.append(f"{pad}    if {sub} is not None:")
                if child.dotted.startswith("[") or known_nonempty:
                    segment = [self._name("S", child.dotted)]
                else:
                    segment = ["dot", self._name("S", child.rendered)]
                self._node(child, sub, parts + segment, key, indent + 2, depth + 1,
                           known_nonempty=True)
            for pattern, child in node.anykeys.values():
                name, sub, rendered = self._var("n"), self._var("v"), self._var("r")
                self.lines.append(f"{pad}    for {name}, {sub} in {var}.items():")
                self.lines.append(f"{pad}        if {sub} is None:")
                self.lines.append(f"{pad}            continue")
                self.lines.append(f"{pad}        {name} = str({name})")
                if pattern is not None:
                    search = self._name("R", pattern.search)
                    self.lines.append(f"{pad}        if not {search}({name}):")
                    self.lines.append(f"{pad}            continue")
                separator = "'.'" if known_nonempty else "dot"
                self.lines.append(f"{pad}        {rendered} = render_key({name})")
                self.lines.append(
                    f"{pad}        {rendered} = {rendered} if {rendered}[0] == '[' "
                    f"else {separator} + {rendered}"
                )
                self._node(child, sub, [*parts, rendered], name, indent + 2, depth + 1,
                           known_nonempty=True)
        if node.each is not None or node.indexes:
            keyword = "elif" if node.keys or node.anykeys else "if"
            self.lines.append(f"{pad}{keyword} isinstance({var}, list):")
            if node.each is not None:
                index, sub = self._var("i"), self._var("v")
                self.lines.append(f"{pad}    for {index}, {sub} in enumerate({var}):")
                self.lines.append(f"{pad}        if {sub} is not None:")
                self._node(node.each, sub, [*parts, self._name("S", "["), index, self._name("S", "]")], key, indent + 3,
                           depth + 1, known_nonempty=True)
            for position, child in node.indexes.items():
                sub = self._var("v")
                self.lines.append(f"{pad}    if len({var}) > {int(position)}:")
                self.lines.append(f"{pad}        {sub} = {var}[{int(position)}]")
                self.lines.append(f"{pad}        if {sub} is not None:")
                self._node(child, sub, [*parts, self._name("S", f"[{int(position)}]")], key, indent + 3,
                           depth + 1, known_nonempty=True)


def match_path(
    path: str, obj: Any, last_key_filter: str | None = None
) -> list[tuple[str, Any, str | None]]:
    """Every (path, value, last wildcard key) that `path` reaches in `obj`; for tools and tests."""
    found: list[tuple[str, Any, str | None]] = []
    root = TrieNode()
    root.add(path, None, last_key_filter)
    compile_walker(root)(obj, "", lambda _, value, key, at: found.append((at, value, key)))
    return found
