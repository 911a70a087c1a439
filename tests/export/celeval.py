"""The exported policies evaluated offline, as kube-apiserver evaluates them: CEL by
cel-expr-python (the CEL C++ runtime), the Kubernetes CEL library functions the export uses
emulated here (cel-go's strings extension and Kubernetes' lists, regex and quantity libraries),
variables evaluated lazily and once, matchConditions first, then validations, audit annotations
or the JSONPatch mutation.

This is a test harness: the apiserver tests (test_apiserver_agreement.py) hold the same
objects to the real thing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from cel_expr_python import cel
from winpod.engine.quantity import parse_quantity

_T = cel.Type


def _index_of(items: list[Any], item: Any) -> int:
    for index, value in enumerate(items):
        if _cel_equal(value, item):
            return index
    return -1


def _cel_equal(a: Any, b: Any) -> bool:
    # CEL: booleans never equal numbers (Python says True == 1).
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_cel_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_cel_equal(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def _quantity_value(text: str) -> Fraction | None:
    # The CEL quantity library parses with resource.ParseQuantity, the grammar the engine's
    # parser implements; it takes no surrounding spaces, which the engine forgives.
    return parse_quantity(text) if text == text.strip() else None


def _quantity(text: str) -> str:
    value = _quantity_value(text)
    if value is None:
        raise ValueError(f"quantities must match the regular expression: {text!r}")
    return f"quantity:{value.numerator}/{value.denominator}"


def _compare(a: str, b: str) -> int:
    x, y = (Fraction(s.removeprefix("quantity:")) for s in (a, b))
    return (x > y) - (x < y)


def _find(text: str, pattern: str) -> str:
    match = re.search(pattern, text)
    return match.group(0) if match else ""


def _overload(name: str, ret: Any, params: list[Any], impl: Any, member: bool = True) -> Any:
    return cel.Overload(name, ret, params, is_member=member, impl=impl)


_FUNCTIONS = [
    cel.FunctionDecl("lowerAscii", [_overload("lower_ascii", _T.STRING, [_T.STRING], lambda s: "".join(c.lower() if c.isascii() else c for c in s))]),
    cel.FunctionDecl("trim", [_overload("trim", _T.STRING, [_T.STRING], lambda s: s.strip())]),
    cel.FunctionDecl("split", [_overload("split", _T.List(_T.STRING), [_T.STRING, _T.STRING], lambda s, sep: s.split(sep))]),
    cel.FunctionDecl(
        "join",
        [
            _overload("join", _T.STRING, [_T.List(_T.DYN)], lambda items: "".join(items)),
            _overload("join_sep", _T.STRING, [_T.List(_T.DYN), _T.STRING], lambda items, sep: sep.join(items)),
        ],
    ),
    cel.FunctionDecl("find", [_overload("find", _T.STRING, [_T.STRING, _T.STRING], _find)]),
    cel.FunctionDecl(
        "substring",
        [
            _overload("substring", _T.STRING, [_T.STRING, _T.INT], lambda s, i: s[i:]),
            _overload("substring_range", _T.STRING, [_T.STRING, _T.INT, _T.INT], lambda s, i, j: s[i:j]),
        ],
    ),
    # The runtime picks overloads by the arguments' kinds; dyn matches none, so one each.
    cel.FunctionDecl(
        "indexOf",
        [
            _overload(f"list_index_of_{n}", _T.INT, [_T.List(_T.DYN), kind], _index_of)
            for n, kind in enumerate(
                (_T.Map(_T.DYN, _T.DYN), _T.List(_T.DYN), _T.STRING, _T.INT, _T.UINT, _T.DOUBLE, _T.BOOL)
            )
        ],
    ),
    cel.FunctionDecl("isQuantity", [_overload("is_quantity", _T.BOOL, [_T.STRING], lambda s: _quantity_value(s) is not None, member=False)]),
    cel.FunctionDecl("quantity", [_overload("quantity", _T.STRING, [_T.STRING], _quantity, member=False)]),
    cel.FunctionDecl("compareTo", [_overload("compare_to", _T.INT, [_T.STRING, _T.STRING], _compare)]),
]  # fmt: skip

_ENV = cel.NewEnv(
    variables={
        name: _T.DYN for name in ("object", "oldObject", "request", "namespaceObject", "variables")
    },
    functions=_FUNCTIONS,
)
_VARIABLE = re.compile(r"\bvariables\.([A-Za-z_][A-Za-z0-9_]*)")
_JSONPATCH = (
    ("JSONPatch{op: ", "{'op': "),
    (", path: ", ", 'path': "),
    (", value: ", ", 'value': "),
)


class CELError(Exception):
    pass


@dataclass
class _Expression:
    source: str
    uses: tuple[str, ...]

    def __post_init__(self) -> None:
        try:
            self.compiled = _ENV.compile(self.source, disable_check=True)
        except Exception as exc:  # the binding raises RuntimeError with CEL's message
            raise CELError(f"{exc}: {self.source[:300]}") from exc

    def value(self, data: Mapping[str, Any]) -> Any:
        """The expression's value over `data`; CELError where it fails."""
        try:
            result = self.compiled.eval(data=dict(data))
        except Exception as exc:
            raise CELError(f"{exc}: {self.source[:300]}") from exc
        value = result.plain_value()
        if result.type() == _T.ERROR or isinstance(value, Exception):
            raise CELError(f"{value}: {self.source[:500]}")
        return value


def _expression(source: str) -> _Expression:
    for old, new in _JSONPATCH:
        source = source.replace(old, new)
    return _Expression(source, tuple(dict.fromkeys(_VARIABLE.findall(source))))


def evaluate(source: str, data: Mapping[str, Any]) -> Any:
    """One expression's value over `data`; CELError where it fails."""
    return _expression(source).value(data)


@dataclass
class Outcome:
    """What the apiserver would do with the request under one policy."""

    matched: bool
    failed: list[str] = field(default_factory=list)  # messages of the failed validations
    annotations: dict[str, str] = field(default_factory=dict)
    patch: list[dict[str, Any]] = field(default_factory=list)


class Policy:
    def __init__(self, obj: Mapping[str, Any]) -> None:
        spec = obj["spec"]
        self.name = obj["metadata"]["name"]
        self.kind = obj["kind"]
        self.variables = {
            v["name"]: _expression(v["expression"]) for v in spec.get("variables", [])
        }
        self.conditions = [_expression(c["expression"]) for c in spec.get("matchConditions", [])]
        self.validations = [
            (
                _expression(v["expression"]),
                _expression(v["messageExpression"]),
                v.get("message", ""),
            )
            for v in spec.get("validations", [])
        ]
        self.annotations = [
            (a["key"], _expression(a["valueExpression"])) for a in spec.get("auditAnnotations", [])
        ]
        self.mutations = [
            _expression(m["jsonPatch"]["expression"]) for m in spec.get("mutations", [])
        ]

    def evaluate(self, request: Mapping[str, Any], shared: dict[str, Any] | None = None) -> Outcome:
        """`shared`: variable values by expression, kept across the policies of one request
        (each policy has its own variables in the apiserver; equal expressions give equal
        values, so sharing only saves time)."""
        data = {
            "object": request.get("object"),
            "oldObject": request.get("oldObject"),
            "request": dict(request["request"]),
            "namespaceObject": request.get("namespaceObject"),
        }
        cache: dict[str, Any] = shared if shared is not None else {}
        values: dict[str, Any] = {}

        def run(expression: _Expression) -> Any:
            for name in expression.uses:
                if name not in values:
                    source = self.variables[name].source
                    if source not in cache:
                        cache[source] = run(self.variables[name])
                    values[name] = cache[source]
            return expression.value({**data, "variables": {n: values[n] for n in expression.uses}})

        for condition in self.conditions:
            if run(condition) is not True:
                return Outcome(False)
        outcome = Outcome(True)
        for expression, message_expression, message in self.validations:
            if run(expression) is not True:
                try:
                    outcome.failed.append(str(run(message_expression)))
                except CELError:
                    outcome.failed.append(message)
        for key, expression in self.annotations:
            value = run(expression)
            if value:
                outcome.annotations[key] = str(value)
        for mutation in self.mutations:
            outcome.patch.extend(run(mutation))
        return outcome


def request_for(
    obj: Mapping[str, Any], operation: str = "CREATE", old: Any = None
) -> dict[str, Any]:
    meta = obj.get("metadata") or {}
    return {
        "object": obj,
        "oldObject": old,
        "request": {
            "kind": {"group": "", "version": "v1", "kind": obj.get("kind", "")},
            "operation": operation,
            "namespace": meta.get("namespace") or "",
            "name": meta.get("name") or "",
        },
        "namespaceObject": {"metadata": {"name": meta.get("namespace") or "default"}},
    }


def without_nulls(value: Any) -> Any:
    """What the apiserver hands CEL: the typed object as unstructured, nulls gone."""
    if isinstance(value, dict):
        return {k: without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [without_nulls(v) for v in value]
    return value
