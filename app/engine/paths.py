"""Field paths with wildcards, compiled once into fast matchers.

Grammar (dot separated segments):
  name             a mapping key
  name[*]          every element of the list under `name`
  name[3]          one element
  *                every key of a mapping (the last such key is reported to operators)
  ["a.b/c"]        a key with dots or slashes, e.g. annotations["kubernetes.io/os"]
Matching happens in app/engine/fieldtrie.py, which merges every rule's paths into one trie.
"""

from __future__ import annotations

import re

from .memo import short_key_cache

_SEGMENT_RE = re.compile(
    r"""
    (?P<name>[A-Za-z_$][A-Za-z0-9_\-$]*)(?P<index>\[(?:\*|\d+)\])?
    | (?P<star>\*)
    | \[\"(?P<quoted>[^"\]]+)\"\]
    """,
    re.VERBOSE,
)


# Field paths compile to nested Python blocks (app/engine/fieldtrie.py), and Python's parser
# allows 100 levels of indentation; real pod fields are under a dozen steps deep.
MAX_STEPS = 32


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
    if len(steps) > MAX_STEPS:
        raise PathError(f"path {path[:80]!r} has {len(steps)} steps; at most {MAX_STEPS} allowed")
    return steps


_PLAIN_KEY = re.compile(r"[A-Za-z_$][A-Za-z0-9_\-$]*")


@short_key_cache(8192, 317)  # a label key is at most 253 + 1 + 63 characters
def render_key(key: str) -> str:
    return key if _PLAIN_KEY.fullmatch(key) else f'["{key}"]'


def join(prefix: str, key: str) -> str:
    rendered = render_key(key)
    if rendered.startswith("["):
        return prefix + rendered
    return f"{prefix}.{rendered}" if prefix else rendered
