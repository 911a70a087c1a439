"""Field paths with wildcards, compiled once into fast matchers.

Grammar (dot separated segments):
  name             a mapping key
  name[*]          every element of the list under `name`
  name[3]          one element
  *                every key of a mapping (the last such key is reported to operators)
  ["a.b/c"]        a key with dots or slashes, e.g. annotations["kubernetes.io/os"]
A matcher walks an object and returns (path, value, last_wildcard_key) for each place the path
reaches. Values that are absent or null are not returned: Kubernetes treats null as unset.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

Hit = tuple[str, Any, str | None]
Matcher = Callable[[Any], list[Hit]]

_SEGMENT_RE = re.compile(
    r"""
    (?P<name>[A-Za-z_$][A-Za-z0-9_\-$]*)(?P<index>\[(?:\*|\d+)\])?
    | (?P<star>\*)
    | \[\"(?P<quoted>[^"\]]+)\"\]
    """,
    re.VERBOSE,
)


class PathError(ValueError):
    """A path that does not follow the grammar; the message quotes it."""


def parse_path(path: str) -> list[tuple[str, str | int | None]]:
    """Split a path into steps: ("key", name) | ("each", None) | ("index", n) | ("anykey", None)."""
    if not isinstance(path, str) or not path:
        raise PathError(f"empty or non-string path: {path!r}")
    steps: list[tuple[str, str | int | None]] = []
    pos = 0
    while pos < len(path):
        match = _SEGMENT_RE.match(path, pos)
        if not match:
            raise PathError(f"bad path {path!r} at character {pos + 1}")
        if match.group("name"):
            steps.append(("key", match.group("name")))
            index = match.group("index")
            if index == "[*]":
                steps.append(("each", None))
            elif index:
                steps.append(("index", int(index[1:-1])))
        elif match.group("star"):
            steps.append(("anykey", None))
        else:
            steps.append(("key", match.group("quoted")))
        pos = match.end()
        if pos < len(path):
            if path[pos] == ".":
                pos += 1
                if pos == len(path):
                    raise PathError(f"bad path {path!r}: ends with a dot")
            elif path[pos] != "[":
                raise PathError(f"bad path {path!r} at character {pos + 1}")
    return steps


def _render_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z_$][A-Za-z0-9_\-$]*", key) else f'["{key}"]'


def join(prefix: str, key: str) -> str:
    rendered = _render_key(key)
    if rendered.startswith("["):
        return prefix + rendered
    return f"{prefix}.{rendered}" if prefix else rendered


def compile_path(path: str) -> Matcher:
    steps = parse_path(path)
    if all(kind == "key" for kind, _ in steps):
        return _compile_plain([str(name) for _, name in steps], path)
    return _compile_wild(steps)


def _compile_plain(keys: list[str], path: str) -> Matcher:
    rendered = ""
    for key in keys:
        rendered = join(rendered, key)

    def match(root: Any) -> list[Hit]:
        node = root
        for key in keys:
            if not isinstance(node, dict):
                return []
            node = node.get(key)
            if node is None:
                return []
        return [(rendered, node, None)]

    return match


def _compile_wild(steps: list[tuple[str, str | int | None]]) -> Matcher:
    def match(root: Any) -> list[Hit]:
        frontier: list[Hit] = [("", root, None)]
        for kind, arg in steps:
            following: list[Hit] = []
            for at, node, lastkey in frontier:
                if kind == "key":
                    if isinstance(node, dict):
                        child = node.get(arg)
                        if child is not None:
                            following.append((join(at, str(arg)), child, lastkey))
                elif kind == "each":
                    if isinstance(node, list):
                        for i, child in enumerate(node):
                            if child is not None:
                                following.append((f"{at}[{i}]", child, lastkey))
                elif kind == "index":
                    if isinstance(node, list) and isinstance(arg, int) and arg < len(node):
                        child = node[arg]
                        if child is not None:
                            following.append((f"{at}[{arg}]", child, lastkey))
                else:  # anykey
                    if isinstance(node, dict):
                        for key, child in node.items():
                            if child is not None:
                                following.append((join(at, str(key)), child, str(key)))
            if not following:
                return []
            frontier = following
        return frontier

    return match
