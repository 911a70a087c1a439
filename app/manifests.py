"""Reading manifests for `winpod check`: files, directories and stdin into objects with lines.

YAML is composed once with the C loader and each object is constructed from its node, so the
node tree stays around to turn a finding's path into a line number (only for findings, which is
cheap). JSON (one object, or several in a row as `kubectl get -o json` streams) is read with the
json module; its objects carry the line they start on.

Inputs are read as a stream (`iter_inputs`): one file at a time, and in it one document at a
time, so a consumer that judges each document before asking for the next holds one document's
objects and nodes, however many the file has (`read_inputs` collects them all, for small jobs).

What counts as an error (exit code 2 in `winpod check`): a path that does not exist, a file that
is not text, YAML or JSON that does not parse, a document that is not a mapping (HTML, prose,
a bare list), a document nested deeper than MAX_DEPTH levels, and YAML whose aliases expand to
more than MAX_EXPANDED nodes (an alias bomb: what is shared in the file is walked, and printed,
once per use). What is not: an empty file or an empty document, and a mapping without `kind`
(values files, tool configs met while walking a directory), which is skipped and listed with
-v (`winpod check --strict` makes both errors).
"""

from __future__ import annotations

import codecs
import fnmatch
import json
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import yaml

from .engine.text import type_name

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")
# Kubernetes objects are a dozen levels deep, CRD schemas a few dozen: past this an input is
# not a manifest, and recursion in readers (and in winpod) must never be its limit.
MAX_DEPTH = 100
# A document whose aliases, walked as they are used, would exceed this many nodes.
MAX_EXPANDED = 1_000_000
STDIN = "-"
STDIN_NAME = "<stdin>"

_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_TEMPLATE_RE = re.compile(r"\{\{[-\s]|\{\{\s*\.")


@dataclass(slots=True)
class Manifest:
    """One object from the input, where it came from, and (for YAML) its node for line lookup."""

    obj: dict[str, Any]
    file: str
    line: int  # 1-based line the object starts on
    node: yaml.Node | None = None


@dataclass(frozen=True, slots=True)
class InputError:
    file: str
    line: int | None
    message: str

    def describe(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.message}"


@dataclass(frozen=True, slots=True)
class Skipped:
    """An input document that is not a Kubernetes object at all (no `kind`)."""

    file: str
    line: int
    reason: str


@dataclass(frozen=True, slots=True)
class FileDone:
    """The end of one input file: `items` manifests, skipped documents and errors came from it
    (0: the file is empty)."""

    file: str
    items: int


@dataclass(frozen=True, slots=True)
class NoManifests:
    """A directory argument in which nothing was left to read."""

    path: str
    reason: str


Item = Manifest | InputError | Skipped | FileDone | NoManifests


@dataclass(slots=True)
class Inputs:
    manifests: list[Manifest] = field(default_factory=list)
    errors: list[InputError] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    empty_files: list[str] = field(default_factory=list)


def read_inputs(
    paths: Sequence[str], stdin: IO[bytes] | None = None, exclude: Sequence[str] = ()
) -> Inputs:
    """Every path read at once (see iter_inputs), for callers that need them all."""
    inputs = Inputs()
    for item in iter_inputs(paths, stdin, exclude):
        if isinstance(item, Manifest):
            inputs.manifests.append(item)
        elif isinstance(item, InputError):
            inputs.errors.append(item)
        elif isinstance(item, Skipped):
            inputs.skipped.append(item)
        elif isinstance(item, FileDone):
            inputs.files.append(item.file)
            if item.items == 0:
                inputs.empty_files.append(item.file)
    return inputs


def iter_inputs(
    paths: Sequence[str], stdin: IO[bytes] | None = None, exclude: Sequence[str] = ()
) -> Iterator[Item]:
    """Each path (file, directory walked recursively, or "-" for stdin) in order: its
    manifests, skipped documents and errors as they are read, then a FileDone. `exclude`:
    shell globs matched against each file's path (and its name) in a walked directory."""
    for name, data in _sources(paths, stdin, exclude):
        if isinstance(data, InputError | NoManifests):
            yield data
            continue
        count = 0
        for item in _read_one(name, data):
            count += 1
            yield item
        yield FileDone(name, count)


def _sources(
    paths: Sequence[str], stdin: IO[bytes] | None, exclude: Sequence[str]
) -> Iterator[tuple[str, bytes | InputError | NoManifests]]:
    for raw in paths:
        if raw == STDIN:
            stream = stdin
            if stream is None:
                import sys

                stream = sys.stdin.buffer
            yield STDIN_NAME, stream.read()
            continue
        path = Path(raw)
        if path.is_dir():
            found = sorted(
                p
                for p in _walk(path)
                if p.suffix.lower() in MANIFEST_SUFFIXES
                and p.is_file()
                and not _excluded(p, path, exclude)
            )
            if not found:
                why = "no manifests (*.yaml, *.yml, *.json)" + (
                    " left after --exclude" if exclude else ""
                )
                yield raw, NoManifests(raw, why)
                continue
            for file in found:
                yield str(file), _read_bytes(file)
        elif path.exists():
            yield raw, _read_bytes(path)
        else:
            yield raw, InputError(raw, None, "no such file or directory")


def _excluded(path: Path, root: Path, patterns: Sequence[str]) -> bool:
    if not patterns:
        return False
    relative = path.relative_to(root).as_posix()
    return any(
        fnmatch.fnmatch(relative, pattern)
        or fnmatch.fnmatch(path.as_posix(), pattern)
        or fnmatch.fnmatch(path.name, pattern)
        for pattern in patterns
    )


def _walk(root: Path) -> Iterator[Path]:
    # Hidden directories (.git, .github) hold no manifests to check and can be huge.
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for name in filenames:
            yield Path(dirpath) / name


def _read_bytes(path: Path) -> bytes | InputError:
    try:
        return path.read_bytes()
    except OSError as exc:
        return InputError(str(path), None, f"cannot read: {exc.strerror}")


def decode(data: bytes) -> str:
    """UTF-8 (with or without BOM) or, as Windows PowerShell's Out-File writes, UTF-16 with BOM."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16")
    return data.decode("utf-8-sig")


def _read_one(name: str, data: bytes) -> Iterator[Item]:
    try:
        text = decode(data)
    except UnicodeDecodeError as exc:
        yield InputError(name, None, f"not a text file (not UTF-8 at byte {exc.start})")
        return
    del data  # the text is what is read from here on: one copy of the file, not two
    if "\x00" in text:
        yield InputError(name, None, "not a text file (contains NUL bytes)")
        return
    stripped = text.lstrip()
    if not stripped:
        return
    if name.lower().endswith(".json") or stripped[0] in "{[":
        found = _read_json(name, text)
        if not isinstance(found, InputError):
            for value, line in found:
                yield from _objects(name, value, line, None)
            return
        if name.lower().endswith(".json"):
            yield found  # the JSON error; YAML would only add a second opinion
            return
        # "{" may start a YAML flow mapping too: let YAML judge
    yield from _read_yaml(name, text)


def _read_json(name: str, text: str) -> list[tuple[Any, int]] | InputError:
    decoder = json.JSONDecoder()
    pos = 0
    found: list[tuple[Any, int]] = []
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            break
        line = text.count("\n", 0, pos) + 1
        try:
            value, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            return InputError(name, exc.lineno, f"not valid JSON: {exc.msg}")
        except RecursionError:
            return InputError(name, line, f"not a manifest: nested deeper than {MAX_DEPTH} levels")
        if _deeper_than(value, MAX_DEPTH):
            return InputError(name, line, f"not a manifest: nested deeper than {MAX_DEPTH} levels")
        found.append((value, line))
    return found


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether a JSON value nests more than `limit` levels (iterative: no recursion to spend)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        current, depth = stack.pop()
        if isinstance(current, dict):
            children: Any = current.values()
        elif isinstance(current, list):
            children = current
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


# --- fast construction -----------------------------------------------------------------------
# PyYAML's C loader composes nodes in C but constructs objects in Python, through a generic
# machinery (generators, recursion bookkeeping) that costs more than the composing. Manifests
# are plain mappings, sequences and scalars: built here directly, with the loader's own
# constructors for each scalar tag, so the values are the ones construct_document would make.
# Anything else (merge keys, timestamps, sets, non-string keys) falls back to the loader for
# the whole document. Aliases share one object as PyYAML's do (no exponential blow-up).

_STR, _MAP, _SEQ = "tag:yaml.org,2002:str", "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"
_SCALARS: dict[str, str] = {
    "tag:yaml.org,2002:int": "construct_yaml_int",
    "tag:yaml.org,2002:bool": "construct_yaml_bool",
    "tag:yaml.org,2002:null": "construct_yaml_null",
    "tag:yaml.org,2002:float": "construct_yaml_float",
}
_PLAIN_TAGS: dict[str, str] = {}  # value -> tag of a plain scalar: resolving is pure and repetitive


class _Unusual(Exception):
    """The document has a node the fast path leaves to the loader."""


class _TooBig(Exception):
    """The document is nested too deep, or its aliases expand too far; the message says."""


class _FastLoader(_LOADER):  # type: ignore[misc]
    # The safe loader has no path resolvers: the composer's per-node calls to keep their
    # state (descend, ascend) have nothing to do.
    def descend_resolver(self, current_node: Any, current_index: Any) -> None:
        return None

    def ascend_resolver(self) -> None:
        return None

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        # The C parser asks this for every scalar; the answer depends only on the value.
        if kind is yaml.ScalarNode and implicit[0]:
            tag = _PLAIN_TAGS.get(value)
            if tag is None:
                tag = super().resolve(kind, value, implicit)
                if len(_PLAIN_TAGS) < 100_000:
                    _PLAIN_TAGS[value] = tag
            return tag
        return super().resolve(kind, value, implicit)


def _construct(loader: Any, root: yaml.Node) -> Any:
    built: dict[int, Any] = {}
    aliased = False

    def build(node: yaml.Node, depth: int) -> Any:
        nonlocal aliased
        tag, kind = node.tag, type(node)
        if kind is yaml.ScalarNode:
            if tag == _STR:
                return node.value
            name = _SCALARS.get(tag)
            if name is None:
                raise _Unusual
            return getattr(loader, name)(node)
        done = built.get(id(node))
        if done is not None:
            aliased = True
            return done
        if depth > MAX_DEPTH:
            raise _TooBig(f"not a manifest: nested deeper than {MAX_DEPTH} levels")
        if kind is yaml.MappingNode and tag == _MAP:
            mapping: dict[str, Any] = {}
            built[id(node)] = mapping
            for key, value in node.value:
                if type(key) is not yaml.ScalarNode or key.tag != _STR:
                    raise _Unusual
                mapping[key.value] = build(value, depth + 1)
            return mapping
        if kind is yaml.SequenceNode and tag == _SEQ:
            items: list[Any] = []
            built[id(node)] = items
            items.extend(build(item, depth + 1) for item in node.value)
            return items
        raise _Unusual

    try:
        value = build(root, 1)
    except _Unusual:
        _check_size(root)  # the loader's own construction has no such limits
        return loader.construct_document(root)
    if aliased:
        _check_size(root)
    return value


def _check_size(root: yaml.Node) -> None:
    """Raise _TooBig for a node graph deeper than MAX_DEPTH or whose aliases, each walked where
    it is used, exceed MAX_EXPANDED nodes. Counted over the graph with each shared node once
    (an alias bomb is a few dozen nodes that expand to billions)."""
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()  # on the current path: meeting one again is a cycle
    # Post-order, iteratively: (node, depth, children done?)
    stack: list[tuple[yaml.Node, int, bool]] = [(root, 1, False)]
    while stack:
        node, depth, ready = stack.pop()
        if id(node) in sizes:
            continue
        if depth > MAX_DEPTH:
            raise _TooBig(f"not a manifest: nested deeper than {MAX_DEPTH} levels")
        if isinstance(node, yaml.ScalarNode):
            sizes[id(node)] = 1
            continue
        if isinstance(node, yaml.MappingNode):
            children = [child for pair in node.value for child in pair]
        else:
            children = list(node.value)
        if not ready:
            if id(node) in open_nodes:
                raise _TooBig("not a manifest: a YAML alias contains itself (it expands forever)")
            open_nodes.add(id(node))
            stack.append((node, depth, True))
            stack.extend((child, depth + 1, False) for child in children if id(child) not in sizes)
            continue
        open_nodes.discard(id(node))
        total = 1 + sum(sizes.get(id(child), 1) for child in children)
        if total > MAX_EXPANDED:
            raise _TooBig(
                f"not a manifest: its YAML aliases expand to more than {MAX_EXPANDED:,} nodes"
                " (an alias bomb?)"
            )
        sizes[id(node)] = total


def _read_yaml(name: str, text: str) -> Iterator[Item]:
    loader = _FastLoader(text)
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            line = node.start_mark.line + 1
            try:
                value = _construct(loader, node)
            except _TooBig as exc:
                yield InputError(name, line, str(exc))
                continue
            yield from _objects(name, value, line, node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = exc.problem or exc.context or "cannot parse"
        if "nesting depth" in problem:
            message = f"not a manifest: nested deeper than the YAML reader allows ({problem})"
        else:
            message = f"not valid YAML: {problem}"
        if _TEMPLATE_RE.search(text):
            message += " (this looks like a template: render it first, e.g. `helm template`)"
        yield InputError(name, line, message)
    except yaml.YAMLError as exc:
        yield InputError(name, None, f"not valid YAML: {exc}")
    except RecursionError:
        yield InputError(name, None, f"not a manifest: nested deeper than {MAX_DEPTH} levels")
    except (ValueError, TypeError) as exc:
        # The C constructor raises these for e.g. an unhashable (mapping) key.
        yield InputError(name, None, f"not valid YAML: {exc}")
    finally:
        loader.dispose()


def _describe_type(value: Any) -> str:
    if isinstance(value, str):
        text = " ".join(value.split())
        return f"text {text[:40]!r}" + ("..." if len(text) > 40 else "")
    return type_name(value)


def _objects(name: str, value: Any, line: int, node: yaml.Node | None) -> Iterator[Item]:
    if value is None:
        return  # an empty document (`---` alone, or only comments)
    if not isinstance(value, dict):
        hint = ""
        if isinstance(value, str) and value.lstrip().startswith("<"):
            hint = " (HTML? a download that saved an error page instead of the file)"
        yield InputError(
            name, line, f"not a Kubernetes object: the document is {_describe_type(value)}{hint}"
        )
        return
    kind = value.get("kind")
    if not isinstance(kind, str) or not kind:
        yield Skipped(name, line, "no kind: not a Kubernetes object")
        return
    items = value.get("items")
    if kind.endswith("List") and isinstance(items, list):
        item_nodes = _child_nodes(node, "items")
        for index, item in enumerate(items):
            item_node = item_nodes[index] if item_nodes and index < len(item_nodes) else None
            item_line = item_node.start_mark.line + 1 if item_node is not None else line
            if isinstance(item, dict) and isinstance(item.get("kind"), str):
                # A List inside a List does not occur in practice; one level is enough.
                yield Manifest(item, name, item_line, item_node)
            else:
                yield InputError(name, item_line, f"items[{index}] is not a Kubernetes object")
        return
    yield Manifest(value, name, line, node)


def _child_nodes(node: yaml.Node | None, key: str) -> list[yaml.Node] | None:
    if not isinstance(node, yaml.MappingNode):
        return None
    for key_node, value_node in node.value:
        if isinstance(key_node, yaml.ScalarNode) and key_node.value == key:
            if isinstance(value_node, yaml.SequenceNode):
                return list(value_node.value)
            return None
    return None


# --- finding path -> line -------------------------------------------------------------------

_STEP_RE = re.compile(
    r"""\.?(?:\["(?P<quoted>(?:[^"\\]|\\.)*)"\]|\[(?P<index>\d+)\]|(?P<name>[^.\[\]]+))"""
)


def path_steps(path: str) -> list[str | int]:
    """`spec.containers[0].volumeMounts[1].subPath` or `metadata.annotations["a.b/c"]` as keys
    and indexes; stops at anything it cannot read (the line is then the nearest found)."""
    steps: list[str | int] = []
    pos = 0
    while pos < len(path):
        match = _STEP_RE.match(path, pos)
        if not match or match.end() == pos:
            break
        if match.group("quoted") is not None:
            steps.append(match.group("quoted").replace('\\"', '"'))
        elif match.group("index") is not None:
            steps.append(int(match.group("index")))
        else:
            steps.append(match.group("name"))
        pos = match.end()
    return steps


def position_of(manifest: Manifest, path: str) -> tuple[int, int]:
    """The 1-based (line, column) of the deepest node of `path` that exists in the source (a
    key's own position for mapping entries); the object's line and column 1 when the source
    has no nodes (JSON)."""
    node = manifest.node
    if node is None:
        return manifest.line, 1
    mark = node.start_mark
    for step in path_steps(path):
        if isinstance(step, int):
            if not isinstance(node, yaml.SequenceNode) or step >= len(node.value):
                break
            node = node.value[step]
            mark = node.start_mark
        else:
            if not isinstance(node, yaml.MappingNode):
                break
            for key_node, value_node in node.value:
                if isinstance(key_node, yaml.ScalarNode) and key_node.value == step:
                    node = value_node
                    mark = key_node.start_mark
                    break
            else:
                break
    return mark.line + 1, mark.column + 1


def line_of(manifest: Manifest, path: str) -> int:
    return position_of(manifest, path)[0]
