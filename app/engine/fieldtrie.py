"""All field tests of a rule set merged into one trie of paths, walked once per object.

A pod meets only the tests whose paths it actually has: the walk follows the object's keys
that some test needs, so its cost tracks the fields present, not the number of rules.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from app.engine.paths import parse_path, render_key

# Called for each payload whose path is reached: (payload, value, last wildcard key, path).
Emit = Callable[[Any, Any, str | None, str], None]


@dataclass(slots=True)
class TrieNode:
    payloads: list[Any] = field(default_factory=list)
    keys: dict[str, TrieNode] = field(default_factory=dict)
    rendered: str = ""  # this node's key as written in a path, rendered once
    dotted: str = ""  # the same as it follows a parent path (".name" or '["a/b"]')
    leaf: bool = True  # no children: the walk emits without descending
    each: TrieNode | None = None
    indexes: dict[int, TrieNode] = field(default_factory=dict)
    anykeys: dict[str | None, tuple[re.Pattern[str] | None, TrieNode]] = field(default_factory=dict)

    def add(self, path: str, payload: Any, last_key_filter: str | None = None) -> None:
        steps = parse_path(path)
        last_anykey = max((i for i, (kind, _) in enumerate(steps) if kind == "anykey"), default=-1)
        node = self
        for position, (kind, arg) in enumerate(steps):
            node.leaf = False
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


def walk(node: TrieNode, value: Any, path: str, key: str | None, emit: Emit) -> None:
    """Emit every payload whose path `value` (found at `path`) reaches. Nulls count as absent."""
    for payload in node.payloads:
        emit(payload, value, key, path)
    if isinstance(value, dict):
        keys = node.keys
        if keys:
            pairs: Iterable[str] = value if len(value) < len(keys) else keys
            for name in pairs:
                child_node = keys.get(name)
                if child_node is None:
                    continue
                child = value.get(name)
                if child is not None:
                    child_path = path + child_node.dotted if path else child_node.rendered
                    if child_node.leaf:
                        for payload in child_node.payloads:
                            emit(payload, child, key, child_path)
                    else:
                        walk(child_node, child, child_path, key, emit)
        for pattern, sub in node.anykeys.values() if node.anykeys else ():
            for name, child in value.items():
                if child is None or (pattern is not None and not pattern.search(str(name))):
                    continue
                rendered = render_key(str(name))
                child_path = (
                    path + rendered
                    if rendered[0] == "["
                    else (f"{path}.{rendered}" if path else rendered)
                )
                walk(sub, child, child_path, str(name), emit)
    elif isinstance(value, list):
        if node.each is not None:
            for index, child in enumerate(value):
                if child is not None:
                    walk(node.each, child, f"{path}[{index}]", key, emit)
        for index, sub in node.indexes.items():
            if index < len(value) and value[index] is not None:
                walk(sub, value[index], f"{path}[{index}]", key, emit)


def match_path(
    path: str, obj: Any, last_key_filter: str | None = None
) -> list[tuple[str, Any, str | None]]:
    """Every (path, value, last wildcard key) that `path` reaches in `obj`; for tools and tests."""
    found: list[tuple[str, Any, str | None]] = []
    root = TrieNode()
    root.add(path, None, last_key_filter)
    walk(root, obj, "", None, lambda _, value, key, at: found.append((at, value, key)))
    return found
