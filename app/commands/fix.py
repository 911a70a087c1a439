"""`winpod fix FILE...`: write the placement the mutating webhook would add into the manifests.

`winpod mutate` shows the Pod a template would create; this edits the file in git instead: the
patch the engine computes for each object (the one /mutate would send, at the object's template
path: spec.template.spec... for workloads, spec.jobTemplate.spec.template.spec... for CronJobs,
the Pod itself for Pods) is applied to the document where it stands.

What is kept: everything the change does not touch. Each YAML document is read with a
round-trip reader (ruamel.yaml), so comments, key order and quoting survive, and a document
nothing changes in is written back byte for byte, `---` separators and all. A changed document
is rendered twice by that reader (as read and as changed) and only the lines that differ
between the two are spliced into the original text: spacing and indentation the reader would
normalize elsewhere in the document stay as written. A new key goes at the end of its mapping,
above any comments that trail it (those introduce what follows). The result is read back and
must be exactly the changed object, else the document is written as the reader renders it.

JSON files (*.json, or text that starts with `{` and parses as JSON) are rewritten as JSON,
with the same line splicing (the file's indentation for the new lines); several objects in a
row, as `kubectl get -o json` streams them, are each their own document. YAML is read as YAML
1.2; a duplicate key is an input error (which of the two the apiserver takes is not winpod's
to guess when writing).

Exit codes: 0 nothing to change, or everything changed (in place, or shown with --diff);
1 with --check when something would change (nothing is written); 2 a usage error or an input
that could not be read or parsed, which is named with its line and left untouched (the other
files are still fixed: one broken file should not hold back the rest). An object winpod would
still deny is fixed for placement all the same and the denial printed (stderr); it does not
change the exit code: fix only writes what the webhook would write, and `winpod check` (the
winpod-check pre-commit hook) is the gate for denials, so a denial fix cannot repair would
otherwise fail this command on every run.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .options import OptionError, add_engine_options, engine_from

if TYPE_CHECKING:
    from ..engine.evaluate import Engine
    from ..engine.osinfer import RuntimeClassInfo

HELP = "write the placement the mutating webhook would add into manifest files (or --diff)"

EXIT_OK, EXIT_CHANGES, EXIT_ERROR = 0, 1, 2

# ruamel.yaml's ways to indent, tried in turn: a changed document is rendered in the one that
# reproduces most of its lines, so the lines it adds are indented like their neighbours.
# (mapping, sequence, offset of the dash): a dash and one space, then the item.
_STYLES = tuple((m, o + 2, o) for m in (2, 4) for o in (0, 2, 4))
# Wide enough that the reader never folds a long value onto a second line.
_WIDTH = 1 << 16


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = (
        "exit codes: 0 nothing to change, or changed; 1 with --check, something would change;"
        " 2 a usage error or a file that could not be read or parsed (left untouched). Objects"
        " winpod would still deny are fixed for placement and the denial printed (stderr),"
        " with no effect on the exit code: `winpod check` is the gate for denials."
    )
    parser.add_argument(
        "paths",
        nargs="+",
        metavar="FILE",
        help="a manifest file (YAML or JSON), or a directory (searched recursively for *.yaml,"
        " *.yml, *.json)",
    )
    parser.add_argument(
        "--diff",
        action="store_true",
        help="print a unified diff of the changes instead of writing them",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing; list what would change and exit 1 if anything would (for CI)",
    )
    add_engine_options(parser)


def _say(message: str) -> None:
    print(f"winpod fix: {message}", file=sys.stderr)


class _InputError(Exception):
    def __init__(self, line: int | None, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


@dataclass(slots=True)
class _Document:
    """One YAML document or JSON value of a file, or the text between two (data None)."""

    raw: str  # as in the file
    start: int  # 0-based line of its first line in the file
    data: Any = None  # the round-trip tree (ruamel.yaml) or the JSON value
    fixed: str | None = None  # the new text, when something changed


@dataclass(slots=True)
class _File:
    name: str
    path: Path
    raw: bytes
    bom: bytes
    codec: str
    is_json: bool
    documents: list[_Document] = field(default_factory=list)

    def text(self) -> str:
        return "".join(d.fixed if d.fixed is not None else d.raw for d in self.documents)

    def encoded(self) -> bytes:
        return self.bom + self.text().encode(self.codec)


@dataclass(slots=True)
class _Target:
    """An object in a document: the document itself, or an item of a List."""

    prefix: tuple[str, ...]  # pointer tokens from the document to the object
    obj: dict[str, Any]  # plain values, as the engine reads them
    line: int  # 1-based, in the file


def run(args: argparse.Namespace) -> int:
    engine = _engine(args)
    if isinstance(engine, int):
        return engine
    from ..engine.kubeversion import beyond_latest

    note = beyond_latest(engine.default_version)
    if note:
        _say(f"warning: {note}")

    errors = 0  # files named with an error (and left untouched)
    files: list[_File] = []
    for name, path in _expand(args.paths):
        if path is None:
            _say(f"error: {name}: no such file or directory")
            errors += 1
            continue
        try:
            files.append(_read(name, path))
        except _InputError as exc:
            where = f"{name}:{exc.line}" if exc.line else name
            _say(f"error: {where}: {exc.message} (left untouched)")
            errors += 1

    runtime = _runtime_classes(engine, files)
    changed_files = changed_objects = 0
    for file in files:
        try:
            objects = _fix(engine, file, runtime)
        except _InputError as exc:
            where = f"{file.name}:{exc.line}" if exc.line else file.name
            _say(f"error: {where}: {exc.message} (left untouched)")
            errors += 1
            continue
        if not objects:
            continue
        changed_files += 1
        changed_objects += objects
        if args.diff:
            sys.stdout.write(_unified_diff(file))
        elif args.check:
            print(f"would fix {file.name}")
        if args.diff or args.check:
            continue
        try:
            file.path.write_bytes(file.encoded())
        except OSError as exc:
            _say(f"error: {file.name}: cannot write: {exc.strerror}")
            errors += 1
            continue
        print(f"fixed {file.name}")

    files_word = _plural(changed_files, "file")
    objects_word = _plural(changed_objects, "object")
    if not changed_files:
        summary = f"no changes ({_plural(len(files), 'file')})"
    elif args.check or args.diff:
        summary = f"would fix {files_word} ({objects_word})"
    else:
        summary = f"fixed {files_word} ({objects_word})"
    if errors:
        summary += f"; {_plural(errors, 'file')} with errors, left untouched"
    # With --diff, stdout is the diff alone (for `git apply` or a review comment).
    print(f"winpod fix: {summary}", file=sys.stderr if args.diff else sys.stdout)
    if errors:
        return EXIT_ERROR
    return EXIT_CHANGES if args.check and changed_files else EXIT_OK


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _engine(args: argparse.Namespace) -> Engine | int:
    """The engine as `winpod check` builds it from the same options, or the exit code."""
    try:
        return engine_from(args)
    except OptionError as exc:
        _say(f"error: {exc}")
        return EXIT_ERROR


def _expand(paths: Sequence[str]) -> Iterator[tuple[str, Path | None]]:
    """Each file once; directories searched as `winpod check` searches them (recursively,
    for *.yaml, *.yml and *.json, hidden directories such as .git left out)."""
    import os

    from ..manifests import MANIFEST_SUFFIXES

    seen: set[Path] = set()
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found: list[Path] = []
            for directory, subdirectories, names in os.walk(path):
                subdirectories[:] = [d for d in subdirectories if not d.startswith(".")]
                found.extend(
                    Path(directory) / n
                    for n in names
                    if Path(n).suffix.lower() in MANIFEST_SUFFIXES
                )
            items = [(str(p), p) for p in sorted(found) if p.is_file()]
        elif path.exists():
            items = [(raw, path)]
        else:
            yield raw, None
            continue
        for name, item in items:
            key = item.resolve()
            if key not in seen:
                seen.add(key)
                yield name, item


# --- reading -------------------------------------------------------------------------------


def _read(name: str, path: Path) -> _File:
    import codecs

    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise _InputError(None, f"cannot read: {exc.strerror}") from None
    # Written back in the encoding it came in (PowerShell's Out-File writes UTF-16).
    bom, codec = b"", "utf-8"
    for mark, name_of in (
        (codecs.BOM_UTF8, "utf-8"),
        (codecs.BOM_UTF16_LE, "utf-16-le"),
        (codecs.BOM_UTF16_BE, "utf-16-be"),
    ):
        if raw.startswith(mark):
            bom, codec = mark, name_of
            break
    try:
        text = raw[len(bom) :].decode(codec)
    except UnicodeDecodeError as exc:
        raise _InputError(None, f"not a text file (not UTF-8 at byte {exc.start})") from None
    if "\x00" in text:
        raise _InputError(None, "not a text file (contains NUL bytes)")
    file = _File(name, path, raw, bom, codec, is_json=False)
    stripped = text.lstrip()
    if name.lower().endswith(".json") or stripped[:1] in ("{", "["):
        documents = _json_documents(text)
        if not isinstance(documents, _InputError):
            file.is_json = True
            file.documents = documents
            return file
        if name.lower().endswith(".json"):
            raise documents
        # "{" may start a YAML flow mapping too: let YAML judge
    file.documents = _yaml_documents(text)
    return file


def _json_documents(text: str) -> list[_Document] | _InputError:
    import json

    from ..manifests import MAX_DEPTH

    decoder = json.JSONDecoder()
    documents: list[_Document] = []
    pos = 0
    while pos < len(text):
        end = pos
        while end < len(text) and text[end].isspace():
            end += 1
        if end > pos:
            documents.append(_Document(text[pos:end], text.count("\n", 0, pos)))
            pos = end
        if pos >= len(text):
            break
        line = text.count("\n", 0, pos)
        try:
            value, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            return _InputError(exc.lineno, f"not valid JSON: {exc.msg}")
        except RecursionError:
            return _InputError(line + 1, f"not a manifest: nested deeper than {MAX_DEPTH} levels")
        try:
            _plain(value)
        except _InputError as exc:
            return _InputError(line + 1, exc.message)
        documents.append(_Document(text[pos:end], line, value))
        pos = end
    return documents


def _split_yaml(text: str) -> Iterator[tuple[int, str]]:
    """The documents of a YAML stream as (first line, text): each starts at its `---` (or at
    its directives); a `---` in the first column can be nothing else (the spec forbids it
    inside a scalar), so cutting there leaves every document as the parser would see it."""
    lines = text.splitlines(keepends=True)
    start = 0
    in_directives = False
    for index, line in enumerate(lines):
        bare = line.rstrip("\r\n")
        if bare.startswith("%"):
            cut = not in_directives
            in_directives = True
        elif bare == "---" or bare.startswith(("--- ", "---\t")):
            cut = not in_directives
            in_directives = False
        else:
            continue
        if cut and index > start:
            yield start, "".join(lines[start:index])
            start = index
    if start < len(lines):
        yield start, "".join(lines[start:])


def _yaml_documents(text: str) -> list[_Document]:
    from ruamel.yaml.constructor import DuplicateKeyError
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    from ..manifests import MAX_DEPTH

    reader = _yaml()
    documents: list[_Document] = []
    for start, chunk in _split_yaml(text):
        try:
            data = reader.load(chunk)
            _plain(data)
        except DuplicateKeyError as exc:
            # The apiserver (through kubectl) takes the last of the two, this reader the first:
            # an object winpod would judge is refused, anything else (a tool's config met by a
            # pre-commit hook) is simply left alone.
            if _kind_of(chunk) is not None:
                mark = exc.problem_mark
                line = start + mark.line + 1 if mark is not None else start + 1
                raise _InputError(
                    line, f"duplicate key: {' '.join(str(exc.problem).split())}"
                ) from None
            data = None
        except MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line = start + mark.line + 1 if mark is not None else start + 1
            problem = exc.problem or exc.context or "cannot parse"
            message = f"not valid YAML: {' '.join(str(problem).split())}"
            if "{{" in chunk:
                message += " (this looks like a template: render it first, e.g. `helm template`)"
            raise _InputError(line, message) from None
        except YAMLError as exc:
            raise _InputError(start + 1, f"not valid YAML: {exc}") from None
        except RecursionError:
            raise _InputError(
                start + 1, f"not a manifest: nested deeper than {MAX_DEPTH} levels"
            ) from None
        except _InputError as exc:
            raise _InputError(start + 1, exc.message) from None
        documents.append(_Document(chunk, start, data))
    return documents


def _kind_of(chunk: str) -> str | None:
    """The kind of a document that has duplicate keys, if winpod judges that kind."""
    from ..engine.visit import CHECKED_KINDS

    reader = _yaml()
    reader.allow_duplicate_keys = True
    try:
        data = reader.load(chunk)
    except Exception:  # the duplicate is reported all the same
        return "(unreadable)"
    kind = data.get("kind") if isinstance(data, dict) else None
    if isinstance(kind, str) and (kind in CHECKED_KINDS or kind.endswith("List")):
        return kind
    return None


def _yaml(style: tuple[int, int, int] | None = None, explicit_start: bool = False) -> Any:
    from ruamel.yaml import YAML

    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = _WIDTH
    if style is not None:
        yaml.indent(mapping=style[0], sequence=style[1], offset=style[2])
    yaml.explicit_start = explicit_start
    return yaml


def _plain(value: Any) -> Any:
    """The value as plain dicts, lists and scalars (what the engine reads), within the limits
    `winpod check` has: shared (aliased) nodes are walked, and counted, once per use."""
    from ruamel.yaml.scalarbool import ScalarBoolean

    from ..manifests import MAX_DEPTH, MAX_EXPANDED

    count = 0

    def scalar(node: Any) -> Any:
        # The round-trip reader's scalars subclass the built-in types (to remember their
        # style); its booleans subclass int, so they are told apart first.
        if type(node) in _BUILTIN_SCALARS or node is None:
            return node
        if isinstance(node, ScalarBoolean):
            return bool(node)
        for kind in _BUILTIN_SCALARS[1:]:
            if isinstance(node, kind):
                return kind(node)
        return node

    def convert(node: Any, depth: int) -> Any:
        nonlocal count
        count += 1
        if count > MAX_EXPANDED:
            raise _InputError(
                None,
                f"not a manifest: its YAML aliases expand to more than {MAX_EXPANDED:,} nodes"
                " (an alias bomb?)",
            )
        if isinstance(node, dict | list) and depth > MAX_DEPTH:
            raise _InputError(None, f"not a manifest: nested deeper than {MAX_DEPTH} levels")
        if isinstance(node, dict):
            return {scalar(k): convert(v, depth + 1) for k, v in node.items()}
        if isinstance(node, list):
            return [convert(v, depth + 1) for v in node]
        return scalar(node)

    return convert(value, 1)


_BUILTIN_SCALARS = (bool, str, int, float)


# --- fixing --------------------------------------------------------------------------------


def _runtime_classes(engine: Engine, files: list[_File]) -> Mapping[str, RuntimeClassInfo]:
    """The config's RuntimeClasses under the ones the inputs ship: what ships is what runs."""
    from ..engine.osinfer import runtime_class_index

    found = [
        target.obj
        for file in files
        for document in file.documents
        for target in _targets(document)
        if target.obj.get("kind") == "RuntimeClass"
    ]
    return {**engine.runtime_classes, **runtime_class_index(found)}


def _targets(document: _Document) -> list[_Target]:
    data = document.data
    if not isinstance(data, dict):
        return []  # empty, or not an object: `winpod check` reports what is not a manifest
    plain = _plain(data)
    line = document.start + _line_in(data, 1)
    kind = plain.get("kind")
    items = plain.get("items")
    if isinstance(kind, str) and kind.endswith("List") and isinstance(items, list):
        nodes = data["items"]
        return [
            _Target(
                ("items", str(index)),
                item,
                document.start + _line_in(nodes[index], line - document.start),
            )
            for index, item in enumerate(items)
            if isinstance(item, dict)
        ]
    return [_Target((), plain, line)]


def _line_in(node: Any, default: int) -> int:
    """The 1-based line of a node in its document, which the round-trip reader records (a
    JSON value has no such record: `default`)."""
    lc = getattr(node, "lc", None)
    if lc is not None and lc.line is not None:
        return int(lc.line) + 1
    return default


def _fix(engine: Engine, file: _File, runtime: Mapping[str, RuntimeClassInfo]) -> int:
    """Apply each object's patch to its document; the number of objects changed."""
    from ..engine.mutate import mutate_object
    from ..engine.visit import ShapeError

    changed = 0
    for document in file.documents:
        ops: list[dict[str, Any]] = []
        for target in _targets(document):
            where = f"{file.name}:{target.line}"
            ref = _ref(target.obj)
            try:
                result = mutate_object(engine, target.obj, runtime_classes=runtime)
            except ShapeError as exc:
                raise _InputError(target.line, f"{ref}: {exc}") from None
            except Exception as exc:  # an engine bug must not hide the other files' results
                raise _InputError(
                    target.line,
                    f"{ref}: internal error in winpod ({type(exc).__name__}: {exc});"
                    " please report it",
                ) from None
            for warning in result.warnings:
                print(f"{where}: {ref}: {warning}", file=sys.stderr)
            for finding in result.evaluation.findings:
                if finding.blocks:
                    print(f"{where}: {ref}: would be denied: {finding.line()}", file=sys.stderr)
            if result.patch:
                changed += 1
                prefix = "".join(f"/{token}" for token in target.prefix)
                ops.extend({**op, "path": prefix + op["path"]} for op in result.patch)
        if ops:
            document.fixed = _rewritten(file, document, ops)
    return changed


def _ref(obj: Mapping[str, Any]) -> str:
    metadata = obj.get("metadata")
    metadata = metadata if isinstance(metadata, dict) else {}
    name = metadata.get("name") or metadata.get("generateName") or "(unnamed)"
    namespace = metadata.get("namespace")
    where = f"{namespace}/" if isinstance(namespace, str) else ""
    return f"{obj.get('kind')} {where}{name}"


def _rewritten(file: _File, document: _Document, ops: list[dict[str, Any]]) -> str:
    """The document's new text: the original with the changed lines spliced in."""
    crlf = "\r\n" in document.raw
    original = document.raw.replace("\r\n", "\n")
    if file.is_json:
        render = _json_renderer(original, document.data)
    else:
        render = _yaml_renderer(original, document.data)
    before = render()
    for op in ops:
        _apply(document.data, op, yaml=not file.is_json)
    after = render()
    expected = _fingerprint(_plain(document.data))
    merged = _merge(original, before, after, comments=not file.is_json)
    if merged is not None and _reads_as(merged, expected, file.is_json):
        new = merged
    elif _reads_as(after, expected, file.is_json):
        _say(
            f"note: {file.name}:{document.start + 1}: the document is written as the"
            f" {'JSON' if file.is_json else 'YAML'} writer lays it out (its own layout could"
            " not be kept around the change)"
        )
        new = after
    else:
        raise _InputError(
            document.start + 1,
            "internal error in winpod: the fixed document does not read back as the fix;"
            " please report it",
        )
    return new.replace("\n", "\r\n") if crlf else new


def _yaml_renderer(original: str, data: Any) -> Any:
    import io

    explicit = original.lstrip("\n").startswith("---")
    lines = set(original.splitlines())

    def dump(style: tuple[int, int, int]) -> str:
        out = io.StringIO()
        _yaml(style, explicit_start=explicit).dump(data, out)
        return out.getvalue()

    # The style that reproduces most of the document's lines as they are.
    best = max(_STYLES, key=lambda s: sum(line in lines for line in dump(s).splitlines()))
    return lambda: dump(best)


def _json_renderer(original: str, data: Any) -> Any:
    import json

    indent: int | str | None = None
    for line in original.splitlines()[1:]:
        if line.strip():
            lead = line[: len(line) - len(line.lstrip())]
            indent = len(lead) if lead.strip(" ") == "" else lead
            break
    compact = indent is None and '": ' not in original
    separators = (",", ":") if compact else None
    trailing = original[len(original.rstrip()) :]

    def dump() -> str:
        return json.dumps(data, indent=indent, separators=separators, ensure_ascii=False) + trailing

    return dump


def _apply(root: Any, op: Mapping[str, Any], *, yaml: bool) -> None:
    """One RFC 6902 `add` or `remove` on the document's tree."""
    tokens = [t.replace("~1", "/").replace("~0", "~") for t in op["path"].split("/")[1:]]
    node = root
    for token in tokens[:-1]:
        node = node[int(token)] if isinstance(node, list) else node[token]
    last = tokens[-1]
    if op["op"] == "remove":
        del node[int(last) if isinstance(node, list) else last]
        return
    value = _node(op["value"]) if yaml else _copy(op["value"])
    if isinstance(node, list):
        if last == "-":
            node.append(value)
        else:
            node.insert(int(last), value)
    else:
        node[last] = value


def _node(value: Any) -> Any:
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    if isinstance(value, dict):
        mapping = CommentedMap()
        for key, item in value.items():
            mapping[key] = _node(item)
        return mapping
    if isinstance(value, list):
        return CommentedSeq(_node(item) for item in value)
    return value


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def _fingerprint(value: Any) -> str:
    import json

    # Text, not equality: NaN is not equal to itself, and key order is part of the promise.
    return json.dumps(value, default=repr, ensure_ascii=False)


def _reads_as(text: str, expected: str, is_json: bool) -> bool:
    import json

    try:
        value = json.loads(text) if is_json else _yaml().load(text)
        return _fingerprint(_plain(value)) == expected
    except Exception:  # whatever it is, it is not the fix
        return False


def _merge(original: str, before: str, after: str, *, comments: bool) -> str | None:
    """`original` with the edits that turn `before` into `after` (the reader's renderings of
    the document as read and as changed), line by line; None when an edit falls on a line the
    reader renders differently from the original."""
    from difflib import SequenceMatcher

    ends_bare = not original.endswith("\n")
    a = (original + "\n" if ends_bare else original).splitlines(keepends=True)
    b = before.splitlines(keepends=True)
    c = after.splitlines(keepends=True)
    where: dict[int, int] = {}
    for block in SequenceMatcher(None, a, b, autojunk=False).get_matching_blocks():
        for k in range(block.size):
            where[block.b + k] = block.a + k
    out: list[str] = []
    pos = 0
    for tag, i1, i2, j1, j2 in SequenceMatcher(None, b, c, autojunk=False).get_opcodes():
        if tag == "equal":
            continue
        if tag == "insert":
            if i1 > 0 and i1 - 1 in where:
                start = where[i1 - 1] + 1
            elif i1 in where:
                start = where[i1]
            else:
                return None
            if comments:
                start = _above_trailing_comments(a, start, c[j1:j2], pos)
            end = start
        else:
            span = [where.get(k) for k in range(i1, i2)]
            first = span[0]
            if first is None or span != list(range(first, first + len(span))):
                return None
            start, end = first, first + len(span)
        if start < pos:
            return None
        out.extend(a[pos:start])
        out.extend(c[j1:j2])
        pos = end
    out.extend(a[pos:])
    text = "".join(out)
    return text[:-1] if ends_bare and text.endswith("\n") else text


def _above_trailing_comments(lines: list[str], start: int, added: list[str], floor: int) -> int:
    """Where lines added at the end of a mapping go: above the blank lines and the comments
    that trail it, when those are less indented than the new lines (they introduce what
    comes next, at an outer level, and the reader had hung them on the last value)."""
    first = next((line for line in added if line.strip()), None)
    if first is None:
        return start
    indent = len(first) - len(first.lstrip(" "))
    while start > floor:
        line = lines[start - 1]
        stripped = line.strip()
        if stripped and not (
            stripped.startswith("#") and len(line) - len(line.lstrip(" ")) < indent
        ):
            break
        start -= 1
    return start


def _unified_diff(file: _File) -> str:
    import difflib

    before = file.raw[len(file.bom) :].decode(file.codec).splitlines(keepends=True)
    after = file.text().splitlines(keepends=True)
    out: list[str] = []
    for line in difflib.unified_diff(before, after, file.name, file.name):
        out.append(line)
        if not line.endswith("\n"):
            out.append("\n\\ No newline at end of file\n")
    return "".join(out)
