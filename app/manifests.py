"""Reading manifests for `winpod check`: files, directories and stdin into objects with lines.

YAML is composed once with the C loader and each object is constructed from its node, so the
node tree stays around to turn a finding's path into a line number (only for findings, which is
cheap). JSON (one object, or several in a row as `kubectl get -o json` streams) is read with the
json module; its objects carry the line they start on.

What counts as an error (exit code 2 in `winpod check`): a path that does not exist, a file that
is not text, YAML or JSON that does not parse, a document that is not a mapping (HTML, prose,
a bare list). What is not: an empty file or an empty document, and a mapping without `kind`
(values files, tool configs met while walking a directory), which is skipped and listed with -v.
"""

from __future__ import annotations

import codecs
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


@dataclass(slots=True)
class Inputs:
    manifests: list[Manifest] = field(default_factory=list)
    errors: list[InputError] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    empty_files: list[str] = field(default_factory=list)


def read_inputs(paths: Sequence[str], stdin: IO[bytes] | None = None) -> Inputs:
    """Read every path (file, directory walked recursively, or "-" for stdin), in order."""
    inputs = Inputs()
    for name, data in _sources(paths, stdin, inputs.errors):
        inputs.files.append(name)
        before = len(inputs.manifests) + len(inputs.skipped)
        errors_before = len(inputs.errors)
        _read_one(name, data, inputs)
        nothing = len(inputs.manifests) + len(inputs.skipped) == before
        if nothing and len(inputs.errors) == errors_before:
            inputs.empty_files.append(name)
    return inputs


def _sources(
    paths: Sequence[str], stdin: IO[bytes] | None, errors: list[InputError]
) -> Iterator[tuple[str, bytes]]:
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
                p for p in _walk(path) if p.suffix.lower() in MANIFEST_SUFFIXES and p.is_file()
            )
            for file in found:
                data = _read_bytes(file, errors)
                if data is not None:
                    yield str(file), data
        elif path.exists():
            data = _read_bytes(path, errors)
            if data is not None:
                yield raw, data
        else:
            errors.append(InputError(raw, None, "no such file or directory"))


def _walk(root: Path) -> Iterator[Path]:
    # Hidden directories (.git, .github) hold no manifests to check and can be huge.
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for name in filenames:
            yield Path(dirpath) / name


def _read_bytes(path: Path, errors: list[InputError]) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError as exc:
        errors.append(InputError(str(path), None, f"cannot read: {exc.strerror}"))
        return None


def decode(data: bytes) -> str:
    """UTF-8 (with or without BOM) or, as Windows PowerShell's Out-File writes, UTF-16 with BOM."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16")
    return data.decode("utf-8-sig")


def _read_one(name: str, data: bytes, inputs: Inputs) -> None:
    try:
        text = decode(data)
    except UnicodeDecodeError as exc:
        inputs.errors.append(
            InputError(name, None, f"not a text file (not UTF-8 at byte {exc.start})")
        )
        return
    if "\x00" in text:
        inputs.errors.append(InputError(name, None, "not a text file (contains NUL bytes)"))
        return
    stripped = text.lstrip()
    if not stripped:
        return
    if name.lower().endswith(".json") or stripped[0] in "{[":
        if _read_json(name, text, inputs):
            return
        if name.lower().endswith(".json"):
            return  # the JSON error is recorded; YAML would only add a second opinion
        del inputs.errors[-1]  # "{" may start a YAML flow mapping too: let YAML judge
    _read_yaml(name, text, inputs)


def _read_json(name: str, text: str, inputs: Inputs) -> bool:
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
            inputs.errors.append(InputError(name, exc.lineno, f"not valid JSON: {exc.msg}"))
            return False
        found.append((value, line))
    for value, line in found:
        _add_object(name, value, line, None, inputs)
    return True


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


class _FastLoader(_LOADER):  # type: ignore[misc]
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

    def build(node: yaml.Node) -> Any:
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
            return done
        if kind is yaml.MappingNode and tag == _MAP:
            mapping: dict[str, Any] = {}
            built[id(node)] = mapping
            for key, value in node.value:
                if type(key) is not yaml.ScalarNode or key.tag != _STR:
                    raise _Unusual
                mapping[key.value] = build(value)
            return mapping
        if kind is yaml.SequenceNode and tag == _SEQ:
            items: list[Any] = []
            built[id(node)] = items
            items.extend(build(item) for item in node.value)
            return items
        raise _Unusual

    try:
        return build(root)
    except _Unusual:
        return loader.construct_document(root)


def _read_yaml(name: str, text: str, inputs: Inputs) -> None:
    loader = _FastLoader(text)
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            line = node.start_mark.line + 1
            value = _construct(loader, node)
            _add_object(name, value, line, node, inputs)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = exc.problem or exc.context or "cannot parse"
        message = f"not valid YAML: {problem}"
        if _TEMPLATE_RE.search(text):
            message += " (this looks like a template: render it first, e.g. `helm template`)"
        inputs.errors.append(InputError(name, line, message))
    except yaml.YAMLError as exc:
        inputs.errors.append(InputError(name, None, f"not valid YAML: {exc}"))
    except (ValueError, TypeError, RecursionError) as exc:
        # The C constructor raises these for e.g. an unhashable (mapping) key.
        inputs.errors.append(InputError(name, None, f"not valid YAML: {exc}"))
    finally:
        loader.dispose()


def _describe_type(value: Any) -> str:
    if isinstance(value, str):
        text = " ".join(value.split())
        return f"text {text[:40]!r}" + ("..." if len(text) > 40 else "")
    return type_name(value)


def _add_object(name: str, value: Any, line: int, node: yaml.Node | None, inputs: Inputs) -> None:
    if value is None:
        return  # an empty document (`---` alone, or only comments)
    if not isinstance(value, dict):
        hint = ""
        if isinstance(value, str) and value.lstrip().startswith("<"):
            hint = " (HTML? a download that saved an error page instead of the file)"
        inputs.errors.append(
            InputError(
                name,
                line,
                f"not a Kubernetes object: the document is {_describe_type(value)}{hint}",
            )
        )
        return
    kind = value.get("kind")
    if not isinstance(kind, str) or not kind:
        inputs.skipped.append(Skipped(name, line, "no kind: not a Kubernetes object"))
        return
    items = value.get("items")
    if kind.endswith("List") and isinstance(items, list):
        item_nodes = _child_nodes(node, "items")
        for index, item in enumerate(items):
            item_node = item_nodes[index] if item_nodes and index < len(item_nodes) else None
            item_line = item_node.start_mark.line + 1 if item_node is not None else line
            if isinstance(item, dict) and isinstance(item.get("kind"), str):
                # A List inside a List does not occur in practice; one level is enough.
                inputs.manifests.append(Manifest(item, name, item_line, item_node))
            else:
                inputs.errors.append(
                    InputError(name, item_line, f"items[{index}] is not a Kubernetes object")
                )
        return
    inputs.manifests.append(Manifest(value, name, line, node))


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


def line_of(manifest: Manifest, path: str) -> int:
    """The 1-based line of the deepest node of `path` that exists in the source (a key's own
    line for mapping entries); the object's line when the source has no nodes (JSON)."""
    node = manifest.node
    if node is None:
        return manifest.line
    line = node.start_mark.line + 1
    for step in path_steps(path):
        if isinstance(step, int):
            if not isinstance(node, yaml.SequenceNode) or step >= len(node.value):
                break
            node = node.value[step]
            line = node.start_mark.line + 1
        else:
            if not isinstance(node, yaml.MappingNode):
                break
            for key_node, value_node in node.value:
                if isinstance(key_node, yaml.ScalarNode) and key_node.value == step:
                    node = value_node
                    line = key_node.start_mark.line + 1
                    break
            else:
                break
    return line
