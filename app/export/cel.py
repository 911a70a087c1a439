"""Small helpers that write CEL source text: literals, presence tests, and field paths of the
rule grammar (policies/README.md) as comprehensions.

Everything here returns CEL as a string. The objects a policy sees are plain JSON-like maps
(the apiserver converts typed objects to unstructured ones before CEL runs, and drops nulls),
so presence is `'key' in map` and a field of the wrong kind is skipped by `type(x) == map`
guards, as the engine's walker skips it.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..engine.paths import parse_path

# A field path step: ("key", name) | ("each", None) | ("index", n) | ("anykey", None)
Step = tuple[str, str | int | None]
# A map key as it follows a path: ".name" or '["a/b"]' (winpod.engine.paths.render_key).
PLAIN_KEY = r"^[A-Za-z_$][A-Za-z0-9_\-$]*$"
# Between the hits of one rule in one message, and between the lines of a denial: a
# messageExpression may not return a line break.
SEP = " | "

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_RESERVED = frozenset(
    [
        "as",
        "break",
        "const",
        "continue",
        "else",
        "false",
        "for",
        "function",
        "if",
        "import",
        "in",
        "let",
        "loop",
        "package",
        "namespace",
        "null",
        "return",
        "true",
        "var",
        "void",
        "while",
    ]
)


def lit(value: Any) -> str:
    """A CEL literal for a JSON scalar (or a list of them)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        escaped = (
            value.replace("\\", "\\\\")
            .replace("'", "\\'")
            .replace("\n", "\\n")
            .replace("\r", "\\r")
            .replace("\t", "\\t")
        )
        return f"'{escaped}'"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(lit(v) for v in value) + "]"
    raise TypeError(f"no CEL literal for {type(value).__name__}")


def field(expr: str, key: str) -> str:
    """`expr.key`, or `expr['key']` for a key that is not an identifier."""
    if _IDENT.fullmatch(key) and key not in _RESERVED:
        return f"{expr}.{key}"
    return f"{expr}[{lit(key)}]"


def has(expr: str, key: str) -> str:
    return f"({lit(key)} in {expr})"


def get(expr: str, key: str, default: str) -> str:
    """`expr.key` when present, else `default` (a CEL expression)."""
    return f"({has(expr, key)} ? {field(expr, key)} : {default})"


def any_of(parts: Sequence[str]) -> str:
    kept = [p for p in parts if p != "false"]
    if not kept:
        return "false"
    if "true" in kept:
        return "true"
    return kept[0] if len(kept) == 1 else "(" + " || ".join(kept) + ")"


def all_of(parts: Sequence[str]) -> str:
    kept = [p for p in parts if p != "true"]
    if not kept:
        return "true"
    if "false" in kept:
        return "false"
    return kept[0] if len(kept) == 1 else "(" + " && ".join(kept) + ")"


def concat(lists: Sequence[str]) -> str:
    """Lists joined with `+` ([] when there are none)."""
    kept = [item for item in lists if item != "[]"]
    if not kept:
        return "[]"
    if len(kept) == 1:
        return kept[0]
    # A balanced sum: `a + b + c ...` nests one level per term, and parsers limit nesting.
    half = len(kept) // 2
    return f"({concat(kept[:half])} + {concat(kept[half:])})"


def when(condition: str, then: str, otherwise: str = "[]") -> str:
    if condition == "true":
        return then
    if condition == "false":
        return otherwise
    return f"({condition} ? {then} : {otherwise})"


def value_text(expr: str) -> str:
    """A value as message text: strings as they are, numbers and booleans in CEL's form."""
    return (
        f"(type({expr}) == string ? {expr} : (type({expr}) == int || type({expr}) == uint"
        f" || type({expr}) == double || type({expr}) == bool) ? string({expr}) : '…')"
    )


class Path:
    """A field path being built as CEL string concatenation, literal parts merged."""

    def __init__(self, parts: Sequence[tuple[bool, str]] = ()) -> None:
        self.parts: tuple[tuple[bool, str], ...] = tuple(parts)  # (is_literal, text)

    @classmethod
    def of(cls, expr: str) -> Path:
        return cls(((False, expr),))

    def plus(self, text: str) -> Path:
        if self.parts and self.parts[-1][0]:
            return Path((*self.parts[:-1], (True, self.parts[-1][1] + text)))
        return Path((*self.parts, (True, text)))

    def plus_expr(self, expr: str) -> Path:
        return Path((*self.parts, (False, expr)))

    def key(self, name: str, first: bool) -> Path:
        plain = re.fullmatch(PLAIN_KEY, name) is not None
        if plain:
            return self.plus(name if first else "." + name)
        return self.plus(f'["{name}"]')

    def cel(self) -> str:
        if not self.parts:
            return "''"
        return " + ".join(lit(text) if literal else text for literal, text in self.parts)


_names = itertools.count(1)


def fresh(stem: str = "x") -> str:
    """A comprehension variable no other one uses (CEL scopes them, but unique names read
    better in a generated expression and never shadow `variables`)."""
    return f"{stem}{next(_names)}"


def reset_names() -> None:
    global _names
    _names = itertools.count(1)


@dataclass(frozen=True)
class Leaf:
    """One field test, as CEL: `exists` is true where the test fires; `hits(render)` is a
    list of strings, one text per place it fires, built by `render(value, key, path)`."""

    steps: tuple[Step, ...]
    key_filter: str | None
    predicate: Any  # (value_expr, key_expr) -> CEL bool

    def exists(self, root: str) -> str:
        return self._exists(root, 0, "''")

    def _run(
        self, x: str, i: int, path: Path | None, first: bool
    ) -> tuple[list[str], str, int, Path | None]:
        """The guards and the accessor for the run of plain keys and indexes from step i
        (one flat condition, not one nesting level per step), and the step after the run."""
        guards: list[str] = []
        while i < len(self.steps) and self.steps[i][0] in ("key", "index"):
            kind, arg = self.steps[i]
            if kind == "key":
                name = str(arg)
                guards += [f"type({x}) == map", has(x, name)]
                x = field(x, name)
                if path is not None:
                    path = path.key(name, first)
            else:
                n = int(arg or 0)
                guards += [f"type({x}) == list", f"size({x}) > {n}"]
                x = f"{x}[{n}]"
                if path is not None:
                    path = path.plus(f"[{n}]")
            first = False
            i += 1
        return guards, x, i, path

    def _exists(self, x: str, i: int, key: str) -> str:
        guards, x, i, _ = self._run(x, i, None, False)
        if i == len(self.steps):
            return all_of([*guards, str(self.predicate(x, key))])
        kind, _ = self.steps[i]
        v = fresh("v")
        if kind == "each":
            return all_of(
                [*guards, f"type({x}) == list", f"{x}.exists({v}, {self._exists(v, i + 1, key)})"]
            )
        k = fresh("k")
        inner = self._exists(f"{x}[{k}]", i + 1, k)
        if self._filters_at(i):
            inner = f"{k}.matches({lit(self.key_filter)}) && {inner}"
        return all_of([*guards, f"type({x}) == map", f"{x}.exists({k}, {inner})"])

    def _filters_at(self, i: int) -> bool:
        last = max((j for j, (kind, _) in enumerate(self.steps) if kind == "anykey"), default=-1)
        return self.key_filter is not None and i == last

    def hits(self, root: str, path: Path, render: Any, first: bool) -> str:
        """A CEL list(string): the texts of the hits, one per place (several places found
        under one list item come joined by SEP: CEL has no flatten)."""
        return self._hits(root, 0, "''", path, render, first)

    def _hits(
        self, x: str, i: int, key: str, path: Path, render: Any, first: bool, depth: int = 0
    ) -> str:
        guards, x, i, moved = self._run(x, i, path, first)
        assert moved is not None
        path = moved
        if depth >= 2 and i < len(self.steps):
            # Past two wildcards the rest of the path is named as the rule writes it: CEL
            # parsers limit nesting, and the places above already say where to look.
            rest = "".join(
                "[*]"
                if kind == "each"
                else ".*"
                if kind == "anykey"
                else f"[{arg}]"
                if kind == "index"
                else path_key(str(arg))
                for kind, arg in self.steps[i:]
            )
            test = self._exists(x, i, key)
            return when(all_of([*guards, test]), f"[{render(lit('…'), key, path.plus(rest))}]")
        if i == len(self.steps):
            body = f"[{render(x, key, path)}]"
            return when(all_of([*guards, str(self.predicate(x, key))]), body)
        kind, _ = self.steps[i]
        v = fresh("v")
        if kind == "each":
            sub = path.plus("[").plus_expr(f"string({x}.indexOf({v}))").plus("]")
            inner = self._hits(v, i + 1, key, sub, render, False, depth + 1)
            test = self._exists(v, i + 1, key)
            body = f"{x}.filter({v}, {test}).map({v}, {inner}.join({lit(SEP)}))"
            return when(all_of([*guards, f"type({x}) == list"]), body)
        k = fresh("k")
        rendered = f"({k}.matches({lit(PLAIN_KEY)}) ? '.' + {k} : '[\"' + {k} + '\"]')"
        sub = path.plus_expr(rendered)
        inner = self._hits(f"{x}[{k}]", i + 1, k, sub, render, False, depth + 1)
        test = self._exists(f"{x}[{k}]", i + 1, k)
        if self._filters_at(i):
            test = f"{k}.matches({lit(self.key_filter)}) && {test}"
        body = f"{x}.filter({k}, {test}).map({k}, {inner}.join({lit(SEP)}))"
        return when(all_of([*guards, f"type({x}) == map"]), body)


def path_key(name: str) -> str:
    return "." + name if re.fullmatch(PLAIN_KEY, name) else f'["{name}"]'


def steps_of(path: str) -> tuple[Step, ...]:
    return tuple(parse_path(path))


def placeholders(template: str) -> Iterator[tuple[bool, str]]:
    """A message template as (is_placeholder, text) parts: "mode {value} x" ->
    (False, "mode "), (True, "value"), (False, " x")."""
    position = 0
    for match in re.finditer(r"\{([A-Za-z_][A-Za-z0-9_]*)\}", template):
        if match.start() > position:
            yield False, template[position : match.start()]
        yield True, match.group(1)
        position = match.end()
    if position < len(template):
        yield False, template[position:]


def render(template: str, values: dict[str, str]) -> str:
    """A message template as a CEL string expression; `values` maps each placeholder to CEL
    (a placeholder with no value renders empty, as the engine renders a missing parameter)."""
    parts = []
    for is_placeholder, text in placeholders(template):
        parts.append(values.get(text, "''") if is_placeholder else lit(text))
    if not parts:
        return "''"
    return " + ".join(parts)


def line_text(path: str, message: str, fix: str) -> str:
    """One hit as CEL text with literal message and fix: "path: message; fix"."""
    return f"{path} + ': ' + {lit(message)} + '; ' + {lit(fix)}"


def homogeneous(expr: str) -> str:
    """`expr` with every map literal's values wrapped in dyn(): the apiserver compiles with
    homogeneous aggregate literals, and a map mixing strings with values read from the object
    (dyn) is refused ("expected type 'dyn' but found 'string'")."""
    out, _ = _scan(expr, 0, None)
    return out


def _skip_string(text: str, i: int) -> int:
    quote = text[i]
    if text.startswith(quote * 3, i):
        end = text.index(quote * 3, i + 3)
        return end + 3
    j = i + 1
    while text[j] != quote:
        j += 2 if text[j] == "\\" else 1
    return j + 1


def _scan(text: str, i: int, closer: str | None) -> tuple[str, int]:
    """Copy text from i up to `closer` (not included), rewriting map literals."""
    out: list[str] = []
    while i < len(text):
        char = text[i]
        if closer is not None and char == closer:
            return "".join(out), i
        if char in "'\"":
            end = _skip_string(text, i)
            out.append(text[i:end])
            i = end
        elif char == "{":
            before = "".join(out).rstrip()
            is_message = bool(before) and (before[-1].isalnum() or before[-1] == "_")
            body, end = _scan(text, i + 1, "}")
            out.append("{" + (body if is_message else _wrap_entries(body)) + "}")
            i = end + 1
        elif char in "([":
            match = ")" if char == "(" else "]"
            body, end = _scan(text, i + 1, match)
            out.append(char + body + match)
            i = end + 1
        else:
            out.append(char)
            i += 1
    return "".join(out), i


def _bracket_depths(text: str) -> Iterator[tuple[int, str, int]]:
    """(index, character, bracket depth after it) for each character outside string literals."""
    depth = i = 0
    while i < len(text):
        char = text[i]
        if char in "'\"":
            i = _skip_string(text, i)
            continue
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        yield i, char, depth
        i += 1


def _split_top(text: str, separator: str) -> list[str]:
    parts, start = [], 0
    for i, char, depth in _bracket_depths(text):
        if char == separator and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts


def _wrap_entries(body: str) -> str:
    if not body.strip():
        return body
    entries = []
    for entry in _split_top(body, ","):
        pieces = _split_top(entry, ":")
        key, value = pieces[0], ":".join(pieces[1:])
        stripped = value.strip()
        if not stripped.startswith("dyn("):
            value = f" dyn({stripped})"
        entries.append(f"{key}:{value}")
    return ",".join(entries)


# --- one expression from variables ------------------------------------------------------------

_VARIABLE_REF = re.compile(r"\bvariables\.([A-Za-z_][A-Za-z0-9_]*)\b")
_COMPREHENSION = re.compile(r"\.(?:all|exists|exists_one|map|filter)\(")
_WRITTEN_IN = 160  # characters
_READS_WRITTEN_IN = 8  # reads; more binds it (more bound layers nest too deep for parsers)
_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")  # a name and its fields
_SHALLOW = 4  # brackets deep


def _outside_strings(text: str, pattern: re.Pattern[str]) -> Iterator[re.Match[str]]:
    """The matches of `pattern` in `text` that are not inside a string literal."""
    i, start = 0, 0
    while i < len(text):
        if text[i] in "'\"":
            yield from pattern.finditer(text, start, i)
            i = _skip_string(text, i)
            start = i
        else:
            i += 1
    yield from pattern.finditer(text, start, len(text))


def _substitute(text: str, values: Mapping[str, str]) -> str:
    out, position = [], 0
    for match in _outside_strings(text, _VARIABLE_REF):
        name = match.group(1)
        if name in values:
            out.append(text[position : match.start()])
            out.append(values[name])
            position = match.end()
    out.append(text[position:])
    return "".join(out)


def nesting(text: str) -> int:
    """How deep brackets nest in `text` (outside string literals)."""
    return max((depth for _, _, depth in _bracket_depths(text)), default=0)


def inline(variables: Sequence[tuple[str, str]], expression: str) -> str:
    """`expression` with the `variables.NAME` it uses (directly or through other variables)
    written in, so it can run where a policy's variables cannot (matchConditions), or as one
    program instead of one per variable: the apiserver evaluates every variable, validation,
    message and condition as a program of its own, at a cost per program that dwarfs what
    most of these compute.

    A short accessor is written in place; any other variable is evaluated once and bound by
    a one-element comprehension (CEL here has no cel.bind), a level of nesting per layer of
    the variables' dependencies. Unlike a policy's variables, bound ones are
    evaluated even where the expression does not read them: they never fail (each guards
    what it reads), so this changes no result. `expression` is a CEL bool."""
    layers, body, _ = _layers(variables, expression, "z{0}_{1}", "z{0}.{1}")
    return _nest(layers, body)


def inline_branches(
    variables: Sequence[tuple[str, str]], branches: Sequence[tuple[str, str]]
) -> str:
    """Whether some branch's guard and test both hold, written in as `inline` does, with the
    variables the guards read bound once, outside, and those only a test reads bound inside
    its branch: a branch whose guard fails computes nothing of its own (one program of every
    test computes every variable any of them reads). Guards and tests are CEL bools."""
    branches = [(g, t) for g, t in branches if g != "false" and t != "false"]
    if not branches:
        return "false"
    marks = [f"__branch{i}__" for i in range(len(branches))]
    outer = any_of([all_of([g, m]) for (g, _), m in zip(branches, marks, strict=True)])
    layers, body, values = _layers(variables, outer, "z{0}_{1}", "z{0}.{1}")
    # Inside a branch, what the guards bound is read where it is (its reference, or the text
    # written in); the branch's own layers take other names so they hide none of it.
    known = [(name, values.get(name, value)) for name, value in variables]
    for mark, (_, test) in zip(marks, branches, strict=True):
        inner, inner_body, _ = _layers(known, test, "y{0}_{1}", "y{0}.{1}")
        body = body.replace(mark, _nest(inner, inner_body), 1)
    return _nest(layers, body)


def _nest(layers: Sequence[tuple[str, str]], body: str) -> str:
    for var, value in reversed(layers):
        body = f"[{value}].all({var}, {body})"
    return body


def layered(
    variables: Sequence[tuple[str, str]], expression: str
) -> tuple[list[tuple[str, str]], str]:
    """`expression` and the variables it uses (directly or through others) as a few
    variables, one per layer of their dependencies, as `inline` binds them: a program for
    each layer instead of one for each variable. Returns the variables and the expression."""
    layers, body, _ = _layers(
        variables, expression, f"{_VARS}.z{{0}}_{{1}}", f"{_VARS}.z{{0}}.{{1}}"
    )
    return [(var.removeprefix(f"{_VARS}."), value) for var, value in layers], body


_VARS = "variables"


def _layers(
    variables: Sequence[tuple[str, str]], expression: str, single: str, member: str
) -> tuple[list[tuple[str, str]], str, dict[str, str]]:
    """The layers of bound variables ((name, CEL value), outermost first), `expression`
    reading them, and what reads each variable used (its reference or its text). `single`
    names a layer of one variable, `member` one of a layer's variables (format strings of
    the layer's index and the variable's name)."""
    defined = dict(variables)
    order = {name: i for i, (name, _) in enumerate(variables)}
    uses: dict[str, list[str]] = {
        name: [m.group(1) for m in _outside_strings(body, _VARIABLE_REF)]
        for name, body in variables
    }
    top = [m.group(1) for m in _outside_strings(expression, _VARIABLE_REF)]
    needed: set[str] = set()
    pending = [n for n in top if n in defined]
    while pending:
        name = pending.pop()
        if name not in needed:
            needed.add(name)
            pending.extend(n for n in uses[name] if n in defined)
    # Written in: what is cheaper to read again than to bind (a short accessor with no
    # comprehension); bound: the rest, even what is read once (written into the expression
    # it would nest deeper, and parsers limit nesting). In dependency order, so a variable's
    # size counts the accessors written into it.
    counts: dict[str, int] = dict.fromkeys(needed, 0)
    for name in [*top, *(n for v in needed for n in uses[v])]:
        if name in counts:
            counts[name] += 1
    bound: list[str] = []
    written: list[str] = []
    size: dict[str, int] = {}
    for name in sorted(needed, key=order.__getitem__):
        body = defined[name]
        size[name] = len(body) + sum(
            size[n] - len(n) for n in uses[name] if n in defined and n in written
        )
        # Each read of a written-in variable computes it again: only a plain accessor, or
        # a small one read a few times, is cheaper written in than bound.
        small = size[name] <= _WRITTEN_IN and not _COMPREHENSION.search(body)
        small = small and (counts[name] <= _READS_WRITTEN_IN or _PLAIN.fullmatch(body) is not None)
        shallow = counts[name] == 1 and nesting(body) <= _SHALLOW
        (written if small or shallow else bound).append(name)
    # Layers: a bound variable sits one below the deepest bound variable it reads (through
    # the written-in ones).
    level: dict[str, int] = {}

    def depth(name: str) -> int:
        if name in level:
            return level[name]
        deps = [n for n in uses[name] if n in defined]
        below = max((depth(n) + (1 if n in bound else 0) for n in deps), default=0)
        level[name] = below
        return below

    layers: dict[int, list[str]] = {}
    for name in bound:
        layers.setdefault(depth(name), []).append(name)
    refs: dict[str, str] = {}
    for index in sorted(layers):
        names = layers[index]
        for name in names:
            refs[name] = (single if len(names) == 1 else member).format(index, name)
    texts: dict[str, str] = {}

    def text(name: str) -> str:
        if name not in texts:
            body = defined[name]
            deps = {n for n in uses[name] if n in defined}
            values = {n: refs[n] if n in refs else f"({text(n)})" for n in deps}
            texts[name] = _substitute(body, values)
        return texts[name]

    for name in written:
        text(name)
    values = {n: refs[n] if n in refs else f"({text(n)})" for n in needed}
    body = _substitute(expression, {n: values[n] for n in set(top) if n in defined})
    out: list[tuple[str, str]] = []
    for index in sorted(layers):
        names = layers[index]
        if len(names) == 1:
            out.append((refs[names[0]], text(names[0])))
        else:
            value = "{" + ", ".join(f"{lit(n)}: dyn({text(n)})" for n in names) + "}"
            out.append((refs[names[0]].rsplit(".", 1)[0], value))
    return out, body, values
