"""The rule format, its strict loader, and rules compiled for one Kubernetes version.

A rule file is data (see policies/README.md). Loading validates every key, compiles every path
and regex, and resolves named check functions, so a bad rule fails at start-up, never per request.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .kubeversion import KubeVersion, parse_version
from .paths import PathError, parse_path
from .text import describe_validation, shorten

if TYPE_CHECKING:
    from .checks import Registered
from .settings import Action, ActionSetting

RULE_ID_RE = re.compile(r"^[a-z0-9][a-z0-9-]{2,62}$")
_OPERATORS = ("present", "equals", "notEquals", "in", "notIn", "matches", "nonEmpty")


class RuleError(Exception):
    """A rule file that cannot be used; the message starts with the file name."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class CheckSpec(_Strict):
    """One field test. `path` is rooted at the pod ({metadata, spec}); `container` is rooted at
    each container of every kind; `any` holds alternatives (each reported where it matches)."""

    path: str | None = None
    container: str | None = None
    any: list[CheckSpec] | None = None
    present: Literal[True] | None = None
    equals: Any = None
    notEquals: Any = None
    in_: list[Any] | None = Field(default=None, alias="in")
    notIn: list[Any] | None = None
    matches: str | None = None
    nonEmpty: Literal[True] | None = None
    keyMatches: str | None = None
    # Leaf-level overrides: one rule, different verdicts by value (true denies, false warns).
    action: Literal["deny", "warn", "audit"] | None = None
    message: str | None = None

    @model_validator(mode="after")
    def _one_target_one_operator(self) -> CheckSpec:
        targets = [k for k in ("path", "container", "any") if getattr(self, k) is not None]
        if len(targets) != 1:
            raise ValueError("a check needs exactly one of path, container or any")
        given = {"in" if k == "in_" else k for k in self.model_fields_set}
        operators = [op for op in _OPERATORS if op in given]
        if self.any is not None:
            if operators or self.keyMatches is not None or self.action or self.message:
                raise ValueError("an `any` check takes no operator of its own")
            if not self.any:
                raise ValueError("`any` needs at least one check")
            return self
        if len(operators) != 1:
            raise ValueError(
                f"a check needs exactly one operator of {', '.join(_OPERATORS)}"
                f" (got {', '.join(operators) or 'none'})"
            )
        path = self.path if self.path is not None else self.container
        try:
            steps = parse_path(str(path))
        except PathError as exc:
            raise ValueError(str(exc)) from exc
        if self.keyMatches is not None and not any(kind == "anykey" for kind, _ in steps):
            raise ValueError("keyMatches needs a `*` map wildcard in the path")
        for pattern in (self.matches, self.keyMatches):
            if pattern is not None:
                try:
                    re.compile(pattern)
                except re.error as exc:
                    raise ValueError(f"bad regular expression {pattern!r}: {exc}") from exc
        return self


class HitText(_Strict):
    """One per-hit variant a check function may choose: what users see instead of the
    version's message (and fix, and action) for that hit."""

    action: Literal["deny", "warn", "audit"] | None = None
    message: str | None = Field(default=None, min_length=1)
    fix: str | None = Field(default=None, min_length=1)


class RuleVersion(_Strict):
    since: str
    action: ActionSetting
    check: CheckSpec | None = None
    function: str | None = None  # name@since of a registered check function
    params: dict[str, Any] = Field(default_factory=dict)
    message: str = Field(min_length=1)
    fix: str = Field(min_length=1)
    # The per-hit texts the function documents: exactly its variants (the loader checks).
    hits: dict[str, HitText] = Field(default_factory=dict)
    # kube-apiserver itself rejects this field for pods with spec.os.name: windows; such a pod
    # can never be created, so a hit on it is a denial whatever the rule's own action.
    apiserverRejects: bool = False

    @field_validator("since")
    @classmethod
    def _since_parses(cls, value: str) -> str:
        parse_version(value)
        return value

    @model_validator(mode="after")
    def _check_or_function(self) -> RuleVersion:
        if (self.check is None) == (self.function is None):
            raise ValueError("a version needs exactly one of check or function")
        if self.params and self.function is None:
            raise ValueError("params go with function")
        if self.hits and self.function is None:
            raise ValueError("hits go with function")
        return self


class RuleSpec(_Strict):
    id: str
    title: str = Field(min_length=1)
    # Which pods: those judged Windows or Linux, those with no OS (unknown), or all of them.
    os: Literal["windows", "linux", "unknown", "any"]
    source: str = Field(pattern=r"^https://")
    notes: str | None = None
    fields: list[str] = Field(default_factory=list)
    versions: list[RuleVersion] = Field(min_length=1)

    @field_validator("id")
    @classmethod
    def _id_shape(cls, value: str) -> str:
        if not RULE_ID_RE.match(value):
            raise ValueError("ids are lower-case words joined by dashes, e.g. windows-subpath")
        return value

    @model_validator(mode="after")
    def _versions_increase(self) -> RuleSpec:
        previous: KubeVersion | None = None
        for entry in self.versions:
            current = parse_version(entry.since)
            if previous is not None and current <= previous:
                raise ValueError(
                    f"versions must have strictly increasing `since` ({previous} then {current})"
                )
            previous = current
        if any(v.function for v in self.versions) and not self.fields:
            raise ValueError("a rule with a check function must list the `fields` it reads")
        return self

    def field_paths(self) -> list[str]:
        """The fields the rule reads, for docs and `winpod explain`."""
        seen: list[str] = list(self.fields)
        for entry in self.versions:
            if entry.check is not None:
                for spec in _leaves(entry.check):
                    text = spec.path if spec.path is not None else f"<container>.{spec.container}"
                    if text not in seen:
                        seen.append(text)
        return seen


def _leaves(spec: CheckSpec) -> Iterator[CheckSpec]:
    if spec.any is not None:
        for child in spec.any:
            yield from _leaves(child)
    else:
        yield spec


# --- compiled form -------------------------------------------------------------------------

Predicate = Callable[[Any, str | None], bool]


@dataclass(frozen=True, slots=True)
class FieldTest:
    container_scope: bool
    path: str  # pod-rooted, or container-rooted when container_scope
    key_filter: str | None  # keyMatches: prunes the last `*` of the path
    test: Predicate
    action: Action | None
    message: str | None


@dataclass(frozen=True, slots=True)
class CompiledRule:
    id: str
    title: str
    os: str
    source: str
    since: KubeVersion
    action: Action | None  # None: the rule is off at this version
    message: str
    fix: str
    apiserver_rejects: bool
    tests: tuple[FieldTest, ...]
    function: Callable[..., Any] | None
    params: dict[str, Any]
    precondition: Callable[..., bool] | None = None
    # variant -> (action or None for the version's, message, fix)
    hits: dict[str, tuple[Action | None, str, str]] = field(default_factory=dict)

    def render(
        self,
        template: str,
        value: Any,
        key: str | None,
        params: Mapping[str, Any] | None = None,
    ) -> str:
        if "{" not in template:
            return template

        def fill(match: re.Match[str]) -> str:
            name = match.group(1)
            if name == "value":
                return _short(value)
            if name == "key":
                return key or ""
            return str(params.get(name, "")) if params else ""

        return _PLACEHOLDER.sub(fill, template)


_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _short(value: Any) -> str:
    return shorten(str(value), 80)


def _predicate(spec: CheckSpec) -> Predicate:
    given = {"in" if k == "in_" else k for k in spec.model_fields_set}
    key_re = re.compile(spec.keyMatches) if spec.keyMatches is not None else None

    def keyed(test: Callable[[Any], bool]) -> Predicate:
        if key_re is None:
            return lambda value, key: test(value)
        pattern = key_re
        return lambda value, key: key is not None and bool(pattern.search(key)) and test(value)

    if "present" in given:
        return keyed(lambda value: True)
    if "equals" in given:
        expected = spec.equals
        return keyed(lambda value: _same(value, expected))
    if "notEquals" in given:
        unexpected = spec.notEquals
        return keyed(lambda value: not _same(value, unexpected))
    if "in" in given:
        options = list(spec.in_ or [])
        return keyed(lambda value: any(_same(value, o) for o in options))
    if "notIn" in given:
        excluded = list(spec.notIn or [])
        return keyed(lambda value: not any(_same(value, o) for o in excluded))
    if "matches" in given:
        pattern = re.compile(str(spec.matches))
        return keyed(lambda value: isinstance(value, str) and bool(pattern.search(value)))
    return keyed(lambda value: bool(value) if isinstance(value, list | dict | str) else True)


def _same(value: Any, expected: Any) -> bool:
    # YAML and JSON both give bool for true/false; never let True == 1 match.
    if isinstance(value, bool) or isinstance(expected, bool):
        return type(value) is type(expected) and value == expected
    return bool(value == expected)


def _field_tests(spec: CheckSpec) -> Iterator[FieldTest]:
    for leaf in _leaves(spec):
        container_scope = leaf.container is not None
        path = str(leaf.container if container_scope else leaf.path)
        yield FieldTest(
            container_scope,
            path,
            leaf.keyMatches,
            _predicate(leaf),
            Action(leaf.action) if leaf.action else None,
            leaf.message,
        )


@dataclass(frozen=True, slots=True)
class Catalog:
    rules: dict[str, RuleSpec]
    files: dict[str, Path]

    def __len__(self) -> int:
        return len(self.rules)

    def compile_for(
        self, version: KubeVersion, registry: Mapping[str, Registered] | None = None
    ) -> list[CompiledRule]:
        if registry is None:
            from .checks import REGISTRY

            registry = REGISTRY
        compiled: list[CompiledRule] = []
        for spec in self.rules.values():
            entry = select_version(spec, version)
            if entry is None:
                continue
            registered = registry[entry.function] if entry.function else None
            compiled.append(
                CompiledRule(
                    id=spec.id,
                    title=spec.title,
                    os=spec.os,
                    source=spec.source,
                    since=parse_version(entry.since),
                    action=None if entry.action == "off" else Action(entry.action),
                    message=entry.message,
                    fix=entry.fix,
                    apiserver_rejects=entry.apiserverRejects,
                    tests=tuple(_field_tests(entry.check)) if entry.check else (),
                    function=registered.function if registered else None,
                    params=dict(entry.params),
                    precondition=registered.precondition if registered else None,
                    hits={
                        name: (
                            Action(text.action) if text.action else None,
                            text.message or entry.message,
                            text.fix or entry.fix,
                        )
                        for name, text in entry.hits.items()
                    },
                )
            )
        return compiled


def select_version(spec: RuleSpec, version: KubeVersion) -> RuleVersion | None:
    """The newest version entry whose `since` is not after `version`; None before the first."""
    chosen: RuleVersion | None = None
    for entry in spec.versions:
        if parse_version(entry.since) <= version:
            chosen = entry
    return chosen


_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_rule_file(path: Path, known_functions: Mapping[str, Registered]) -> RuleSpec:
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_LOADER)
    except (OSError, UnicodeDecodeError) as exc:
        raise RuleError(f"{path}: cannot read: {exc}") from exc
    except yaml.YAMLError as exc:
        raise RuleError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise RuleError(f"{path}: a rule file must be a mapping")
    try:
        spec = RuleSpec.model_validate(data)
    except ValidationError as exc:
        raise RuleError(f"{path}: {describe_validation(exc)}") from exc
    if spec.id != path.stem:
        raise RuleError(f"{path}: id {spec.id!r} must equal the file name ({path.stem!r})")
    for index, entry in enumerate(spec.versions):
        if entry.function:
            _check_function_entry(path, index, entry, known_functions)
    return spec


def _check_function_entry(
    path: Path, index: int, entry: RuleVersion, registry: Mapping[str, Registered]
) -> None:
    where = f"{path}: versions.{index}"
    registered = registry.get(entry.function or "")
    if registered is None:
        raise RuleError(
            f"{where}.function: unknown check function {entry.function!r}"
            f" (known: {', '.join(sorted(registry))})"
        )
    if parse_version(registered.since) > parse_version(entry.since):
        raise RuleError(
            f"{where}.function: {registered.key} is newer than the version ({entry.since});"
            " a version may use a function shipped for it or before it"
        )
    documented, declared = set(entry.hits), set(registered.variants)
    if documented != declared:
        missing = ", ".join(sorted(declared - documented)) or "none"
        extra = ", ".join(sorted(documented - declared)) or "none"
        raise RuleError(
            f"{where}.hits: must document exactly the variants of {registered.key}"
            f" (missing: {missing}; unknown: {extra})"
        )
    for name, text in entry.hits.items():
        allowed = {"value", "key", *registered.variants[name]}
        for template in (text.message, text.fix):
            for used in _PLACEHOLDER.findall(template or ""):
                if used not in allowed:
                    raise RuleError(
                        f"{where}.hits.{name}: {{{used}}} is not a parameter of this hit"
                        f" (it has: {', '.join(sorted(allowed))})"
                    )


def default_policies_dir() -> Path:
    """The rules shipped with the package: winpod/policies/ once installed from a wheel or an
    sdist, the checkout's policies/ beside app/ in an editable install."""
    here = Path(__file__).resolve().parent.parent
    for candidate in (here / "policies", here.parent / "policies"):
        if candidate.is_dir() and any(candidate.glob("*.yaml")):
            return candidate
    raise RuleError(f"no policies directory found near {here}")


def load_catalog(
    directories: Iterable[Path] | None = None,
    known_functions: Mapping[str, Registered] | None = None,
) -> Catalog:
    if known_functions is None:
        from .checks import REGISTRY

        known_functions = REGISTRY
    known = known_functions
    dirs = list(directories) if directories is not None else [default_policies_dir()]
    rules: dict[str, RuleSpec] = {}
    files: dict[str, Path] = {}
    for directory in dirs:
        if not directory.is_dir():
            raise RuleError(f"{directory}: not a directory of rules")
        for path in sorted(directory.glob("*.y*ml")):
            spec = load_rule_file(path, known)
            if spec.id in rules:
                raise RuleError(f"{path}: duplicate rule id {spec.id!r} (also in {files[spec.id]})")
            rules[spec.id] = spec
            files[spec.id] = path
    if not rules:
        raise RuleError(f"no rule files (*.yaml) in {', '.join(str(d) for d in dirs)}")
    return Catalog(rules, files)
