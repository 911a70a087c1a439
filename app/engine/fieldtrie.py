"""All field tests of a rule set merged into one trie of paths, walked once per object.

A pod meets only the tests whose paths it actually has: the walk follows the object's keys
that some test needs, so its cost tracks the fields present, not the number of rules. The
trie is compiled at start-up into one Python function per rule set (`compile_walker`).
"""

from __future__ import annotations

import functools
import itertools
import linecache
import re
import weakref
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


def compile_walker(
    root: TrieNode, guard: Guard | None = None, *, label: str | None = None
) -> Walker:
    """Turn the trie into one straight-line Python function: `walker(value, path, emit)` emits
    every payload whose path `value` (found at `path`) reaches, nulls counting as absent.

    Done once per rule set at start-up: the generated code reads each key with a constant,
    keeps list indexes in locals and builds a path string only for a payload it emits, where
    interpreting the trie per object cost a recursive call and a path string per node.

    The source is registered with `linecache` under a name of its own ("<winpod walker 3:
    `label`>"; without a label, the trie's top keys), so a traceback through a walker shows its
    lines, and `walker_source` returns it."""
    return _WalkerSource(guard).compile(root, label)


def walker_source(walker: Walker) -> str:
    """The Python source `compile_walker` generated for `walker`, comments included."""
    source = getattr(walker, "winpod_source", None)
    if not isinstance(source, str):
        raise TypeError(f"not a walker made by compile_walker: {walker!r}")
    return source


# A node with this many leaf keys scans the object's keys against a table when it has fewer.
_LEAF_TABLE_MIN = 4
# One name (^name$) or a group of names (^(a|b)$); without the group, ^a|b$ is "^a or b$".
_LITERALS = re.compile(r"\^(?:([A-Za-z0-9_]+)|\(([A-Za-z0-9_]+(?:\|[A-Za-z0-9_]+)*)\))\$")
# Numbers the walkers of this process, so each gets a file name of its own in tracebacks.
_WALKER_NUMBERS = itertools.count(1)


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
    if match is None:
        return None
    # A name listed twice is still one key: looked up twice, it would be emitted twice.
    return list(dict.fromkeys((match.group(1) or match.group(2)).split("|")))


def _text(text: str, limit: int = 100) -> str:
    """Rule-file text (keys, rule ids) made fit for a comment or a file name: one line of
    printable characters, so it can end neither the comment nor the line it sits on."""
    if text.isprintable():
        safe = text
    else:
        safe = "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)
    return safe if len(safe) <= limit else safe[: limit - 3] + "..."


@functools.lru_cache(maxsize=4096)  # the same keys and rule ids come back in every walker
def _slug(text: str) -> str:
    """Rule-file text as part of a Python name: ASCII letters, digits and underscores."""
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_")[:40].rstrip("_") or "x"


def _rule_of(payload: Any) -> tuple[str, str, str]:
    """(the rule a payload serves, what to say of it at its emit, a label for its name),
    duck-typed on the engine's payloads: a tuple with a rule (`.id`) at index 2 and the test's
    order at index 1, or an apiserver fact (`.field.rule`); else the payload's repr."""
    if isinstance(payload, tuple) and len(payload) > 2:
        rule = getattr(payload[2], "id", None)
        if isinstance(rule, str):
            order = payload[1]
            return rule, f"{rule} (test {order})" if isinstance(order, int) else rule, rule
    owner = getattr(getattr(payload, "field", None), "rule", None)
    if isinstance(owner, str):
        return owner, f"{owner} (the apiserver's view of the field)", "api_" + owner
    text = _text(repr(payload), 40)
    return text, text, text


def _step(where: str, step: str) -> str:
    """A trie path for comments, as the rule files write it: spec.volumes[*].*.defaultMode."""
    if step.startswith("["):
        return where + step
    return f"{where}.{step}" if where else step


class _WalkerSource:
    def __init__(self, guard: Guard | None) -> None:
        self.guard = guard
        self.lines: list[str] = []
        # Keys, payloads, predicates and patterns enter the code as names bound in its
        # namespace, never as text: a rule file's key cannot inject code or break quoting.
        # Their names and the comments carry keys and rule ids only through `_slug`/`_text`.
        self.names: dict[str, Any] = {"render_key": render_key, "after_path": _after_path}
        self.counter = 0
        self.served: dict[int, list[str]] = {}  # id(node) -> the rules its subtree serves

    def compile(self, root: TrieNode, label: str | None) -> Walker:
        number = next(_WALKER_NUMBERS)
        rules = self._served(root)
        if label is None:
            top = [render_key(name) for name in root.keys] + ["*"] * bool(root.anykeys)
            shown = ", ".join(top[:3]) + (f", +{len(top) - 3}" if len(top) > 3 else "")
            label = f"{shown or 'nothing'}; {len(rules)} rules"
        filename = f"<winpod walker {number}: {_text(label, 80)}>"
        function = f"walker_{number}"
        self.lines.append(f"def {function}(v_root, base, emit):")
        self.lines.append(f"    # {filename[1:-1]}: generated by winpod.engine.fieldtrie.")
        self.lines.append(
            "    # v_<key>_<n> holds the value found at a key, K_ and S_ are the key and its"
        )
        self.lines.append(
            "    # path segment, P_ and T_ a rule's payload and test (P_api_: the apiserver's);"
        )
        self.lines.append("    # the comment above a block names its path and the rules it serves.")
        self.lines.append("    dot = '.' if base else ''")
        self.lines.append("    k = None  # no map wildcard above: no key to report")
        self._node(root, "v_root", ["base"], "k", 1, 0, "", "root", known_nonempty=False)
        self.lines.append("    return None")
        source = "\n".join(self.lines) + "\n"
        namespace = dict(self.names)
        exec(compile(source, filename, "exec"), namespace)
        # Popped: the function then holds its namespace but the namespace not the function, so
        # a dropped walker is freed at once and its finalizer forgets its lines.
        walker = namespace.pop(function)
        walker.winpod_source = source
        # mtime None: linecache.checkcache keeps lines that have no file behind them.
        linecache.cache[filename] = (len(source), None, source.splitlines(keepends=True), filename)
        weakref.finalize(walker, linecache.cache.pop, filename, None).atexit = False
        compiled: Walker = walker
        return compiled

    def _name(self, prefix: str, label: str, value: Any) -> str:
        name = self._var(prefix, label)
        self.names[name] = value
        return name

    def _var(self, prefix: str, label: str) -> str:
        # The counter keeps names unique whatever two keys slug to.
        self.counter += 1
        return f"{prefix}_{_slug(label)}_{self.counter}"

    def _served(self, node: TrieNode) -> list[str]:
        found = self.served.get(id(node))
        if found is None:
            rules = dict.fromkeys(_rule_of(payload)[0] for payload in node.payloads)
            children = [*node.keys.values(), *(child for _, child in node.anykeys.values())]
            children += [*([node.each] if node.each is not None else []), *node.indexes.values()]
            for child in children:
                rules.update(dict.fromkeys(self._served(child)))
            found = self.served[id(node)] = list(rules)
        return found

    def _about(self, where: str, node: TrieNode, note: str = "") -> str:
        """A comment: a block's path (and `note`), and the rules below it; all of it
        sanitised, since paths, key filters and rule ids come from rule files."""
        rules = self._served(node)
        shown = ", ".join(_text(rule, 60) for rule in rules[:3])
        more = f", +{len(rules) - 3} more" if len(rules) > 3 else ""
        noun = "rule" if len(rules) == 1 else "rules"
        return "# " + _text(f"{where or '(root)'}{note}: {noun} {shown}{more}", 300)

    def _emit(
        self, node: TrieNode, var: str, parts: list[str], key: str, indent: int, where: str
    ) -> None:
        pad = "    " * indent
        path = "f'" + "".join("{" + part + "}" for part in parts) + "'"
        for payload in node.payloads:
            _, what, label = _rule_of(payload)
            self.lines.append(f"{pad}# {_text(f'{where} -> {what}', 300)}")
            item = self._name("P", label, payload)
            test = self.guard(payload) if self.guard is not None else None
            if test is None:
                self.lines.append(f"{pad}emit({item}, {var}, {key}, {path})")
            else:
                check = self._name("T", label, test)
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
        where: str,
        known_nonempty: bool,
    ) -> None:
        """One named key; `key` None: the key's own name is the reported wildcard key."""
        pad = "    " * indent
        sub, constant = self._var("v", name), self._name("K", name, name)
        rendered = render_key(name)
        dotted = rendered if rendered.startswith("[") else "." + rendered
        inner = _step(where, rendered)
        if not _is_leaf(child):  # a leaf's emits say it
            self.lines.append(pad + self._about(inner, child))
        self.lines.append(f"{pad}{sub} = {var}.get({constant})")
        self.lines.append(f"{pad}if {sub} is not None:")
        if dotted.startswith("[") or known_nonempty:
            segment = [self._name("S", name, dotted)]
        else:
            segment = ["dot", self._name("S", name, rendered)]
        self._node(
            child,
            sub,
            parts + segment,
            key or constant,
            indent + 1,
            depth + 1,
            inner,
            name,
            known_nonempty=True,
        )

    def _leaf_table(
        self,
        leaves: list[tuple[str, TrieNode]],
        var: str,
        parts: list[str],
        key: str,
        indent: int,
        where: str,
        label: str,
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
        constant = self._name("L", label, table)
        entry, value, found, payload, test = (self._var(p, "in_" + label) for p in "evnpc")
        prefix = "f'" + "".join("{" + part + "}" for part in parts) + "'"
        segment = f"{entry}[1]" if known_nonempty else f"({entry}[1] if base else {entry}[2])"
        names = ", ".join(render_key(name) for name, _ in leaves[:4])
        names += f", +{len(leaves) - 4}" if len(leaves) > 4 else ""
        self.lines.append(
            f"{pad}# {_text(_step(where, '{' + names + '}'))}: {len(leaves)} leaf keys."
        )
        self.lines.append(
            f"{pad}# An object with fewer keys is scanned against the table {constant}"
        )
        self.lines.append(
            f"{pad}# (its keys -> payloads, tests and path segments); else each is looked up."
        )
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
            self._key(name, child, var, parts, key, indent + 1, 0, where, known_nonempty)
        # Leaves have no children, so depth is not used below them.

    def _node(
        self,
        node: TrieNode,
        var: str,
        parts: list[str],
        key: str,
        indent: int,
        depth: int,
        where: str,
        label: str,
        *,
        known_nonempty: bool,
    ) -> None:
        """`where`: the node's path as rule files write it, for comments; `label`: the key it
        is reached by, for the names of its variables."""
        if depth > MAX_STEPS:
            raise ValueError(f"field paths deeper than {MAX_STEPS} steps are not supported")
        self._emit(node, var, parts, key, indent, where)
        pad = "    " * indent
        if node.keys or node.anykeys:
            self.lines.append(f"{pad}if isinstance({var}, dict):")
            keys = list(node.keys.items())
            leaves = [(name, child) for name, child in keys if _is_leaf(child)]
            if len(leaves) >= _LEAF_TABLE_MIN:
                # Many leaf keys (securityContext's fields): a small mapping is cheaper to scan
                # than the keys are to look up one by one.
                self._leaf_table(leaves, var, parts, key, indent + 1, where, label, known_nonempty)
                keys = [(name, child) for name, child in keys if not _is_leaf(child)]
            for name, child in keys:
                self._key(name, child, var, parts, key, indent + 1, depth, where, known_nonempty)
            for pattern, child in node.anykeys.values():
                inner = _step(where, "*")
                literals = _literal_alternatives(pattern)
                if literals is not None:
                    # ^(secret|configMap)$ is a few lookups, not a regex on every key.
                    names = ", ".join(literals)
                    note = f" (the filter lists names, so each is looked up: {names})"
                    self.lines.append(f"{pad}    {self._about(inner, child, note)}")
                    for name in literals:
                        self._key(
                            name, child, var, parts, None, indent + 1, depth, where, known_nonempty
                        )
                    continue
                name, sub = self._var("n", label), self._var("v", label + "_any")
                note = f" (keys matching {pattern.pattern})" if pattern is not None else ""
                self.lines.append(f"{pad}    {self._about(inner, child, note)}")
                self.lines.append(f"{pad}    for {name}, {sub} in {var}.items():")
                self.lines.append(f"{pad}        if {sub} is None:")
                self.lines.append(f"{pad}            continue")
                self.lines.append(f"{pad}        {name} = str({name})")
                if pattern is not None:
                    search = self._name("R", label, pattern.search)
                    self.lines.append(f"{pad}        if not {search}({name}):")
                    self.lines.append(f"{pad}            continue")
                # Rendered only in the path of a payload emitted (an expression in the f-string).
                segment = (
                    f"after_path({name})"
                    if known_nonempty
                    else f"(after_path({name}) if base else render_key({name}))"
                )
                self._node(
                    child,
                    sub,
                    [*parts, segment],
                    name,
                    indent + 2,
                    depth + 1,
                    inner,
                    label + "_any",
                    known_nonempty=True,
                )
        if node.each is not None or node.indexes:
            keyword = "elif" if node.keys or node.anykeys else "if"
            self.lines.append(f"{pad}{keyword} isinstance({var}, list):")
            if node.each is not None:
                inner = where + "[*]"
                index, sub = self._var("i", label), self._var("v", label + "_item")
                self.lines.append(f"{pad}    {self._about(inner, node.each)}")
                self.lines.append(f"{pad}    for {index}, {sub} in enumerate({var}):")
                self.lines.append(f"{pad}        if {sub} is not None:")
                brackets = [self._name("S", "open", "["), index, self._name("S", "close", "]")]
                self._node(
                    node.each,
                    sub,
                    [*parts, *brackets],
                    key,
                    indent + 3,
                    depth + 1,
                    inner,
                    label + "_item",
                    known_nonempty=True,
                )
            for position, child in node.indexes.items():
                inner = f"{where}[{int(position)}]"
                sub = self._var("v", f"{label}_{int(position)}")
                self.lines.append(f"{pad}    {self._about(inner, child)}")
                self.lines.append(f"{pad}    if len({var}) > {int(position)}:")
                self.lines.append(f"{pad}        {sub} = {var}[{int(position)}]")
                self.lines.append(f"{pad}        if {sub} is not None:")
                fixed = self._name("S", f"index_{int(position)}", f"[{int(position)}]")
                self._node(
                    child,
                    sub,
                    [*parts, fixed],
                    key,
                    indent + 3,
                    depth + 1,
                    inner,
                    f"{label}_{int(position)}",
                    known_nonempty=True,
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
