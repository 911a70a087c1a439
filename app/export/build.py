"""The catalog, for one Kubernetes version and one config, as ValidatingAdmissionPolicies (and,
where the apiserver serves them, a MutatingAdmissionPolicy for placement), with bindings.

Actions are per binding in Kubernetes, so each namespace group gets a `deny` policy (one
validation listing every blocking finding, bound with validationActions [Deny]) and a `warn`
policy (one validation per rule, bound with [Warn], plus one audit annotation per rule for
audit findings and exemptions, as the webhook writes them). A namespace group is the config's
`namespaces:` entries that share a policy; the default group's bindings select every other
namespace. The engine's action pipeline (rule action, apiserver escalation on stamped pods,
config overrides, maxAction caps, exemptions) is worked out per group at export time as far
as it is static, and in CEL as far as it depends on the pod.

Cost: the apiserver runs every variable, validation, message and condition as a program of
its own, and a policy's validations, messages and audit annotations each with variables of
their own, messages even where every validation passes. So each policy has a condition, one
program with its variables written in (cel.inline), that lets through only a pod with
something to report (the deny policy: a rule that may deny fires; the warn policy: any rule
fires), and the placement policy one that lets through only a pod it may add placement to,
its patch reading a few layered variables instead of one per fact.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..engine import apifields
from ..engine.evaluate import Engine
from ..engine.kubeversion import KubeVersion
from ..engine.mutate import OS_FIELD_SINCE, json_pointer
from ..engine.osinfer import RuntimeClassInfo
from ..engine.osinfer import tolerates as py_tolerates
from ..engine.rules import CompiledRule
from ..engine.settings import ACTION_RANK, Action, NamespacePolicy
from .cel import (
    all_of,
    any_of,
    concat,
    get,
    has,
    homogeneous,
    inline,
    inline_branches,
    layered,
    lit,
    reset_names,
    when,
)
from .pod import BUILD_LABEL, Settings, annotations_of, template_of, tolerates
from .pod import variables as pod_variables
from .rules import FUNCTIONS, NotExportable, Part, _build_of, linux_only_features, parts_of

API = "admissionregistration.k8s.io/v1"
VALIDATING_FROM = KubeVersion(1, 30)  # ValidatingAdmissionPolicy v1: GA in 1.30
MUTATING_FROM = KubeVersion(1, 36)  # MutatingAdmissionPolicy v1 (v1beta1, gated, in 1.34-1.35)
EXCLUDED_NAMESPACES = ("kube-system", "kube-node-lease")
IGNORE_LABEL = "winpod.io/ignore"
UNAVAILABLE_RULE = "windows-field-unavailable"
V = "variables"

_RESOURCE_RULES = [
    {
        "apiGroups": [""],
        "apiVersions": ["v1"],
        "operations": ["CREATE", "UPDATE"],
        "resources": ["pods", "pods/ephemeralcontainers", "podtemplates", "replicationcontrollers"],
    },
    {
        "apiGroups": ["apps"],
        "apiVersions": ["v1"],
        "operations": ["CREATE", "UPDATE"],
        "resources": ["deployments", "replicasets", "statefulsets", "daemonsets"],
    },
    {
        "apiGroups": ["batch"],
        "apiVersions": ["v1"],
        "operations": ["CREATE", "UPDATE"],
        "resources": ["jobs", "cronjobs"],
    },
]


class ExportError(Exception):
    """The target cannot take the export (a version the apiserver does not serve, ...)."""


@dataclass(frozen=True)
class LeftToWebhook:
    what: str  # a rule id, or a setting
    why: str


@dataclass
class Export:
    version: KubeVersion
    objects: list[dict[str, Any]]
    left: list[LeftToWebhook]
    rules: list[str]  # the rule ids exported
    mutating: bool

    @property
    def expressions(self) -> int:
        """CEL expressions in the objects (variables, validations, messages, conditions,
        annotations, mutations)."""
        count = 0
        for obj in self.objects:
            spec = obj.get("spec", {})
            count += len(spec.get("variables", ())) + len(spec.get("matchConditions", ()))
            for item in spec.get("validations", ()):
                count += 1 + ("messageExpression" in item)
            count += len(spec.get("auditAnnotations", ())) + len(spec.get("mutations", ()))
        return count


@dataclass(frozen=True)
class _ApiFact:
    os: str  # the OS whose spec.os.name makes the apiserver act
    field: apifields.ApiField
    test: str  # present | true | nonEmpty
    rejects: bool
    unavailable: bool


def _api_facts(version: KubeVersion, gates: Mapping[str, bool]) -> list[_ApiFact]:
    facts = []
    for entry in apifields.FIELDS:
        rejects = entry.rejected_for_windows_at(version, gates)
        gone = apifields.unavailable_reason(entry, version, gates) is not None
        if rejects or gone:
            test = entry.windows if rejects and entry.windows else "present"
            facts.append(_ApiFact("windows", entry, test, rejects, gone))
    if version >= apifields.OS_ENFORCED_FROM:
        for entry in apifields.LINUX_FORBIDDEN:
            facts.append(_ApiFact("linux", entry, "present", True, False))
    for fact in facts:
        if fact.field.key_filter is not None or fact.field.names_container:
            raise ExportError(
                f"apiserver fact on {fact.field.path} (annotation keys) at {version}: the export"
                " does not model it; target a release from 1.27"
            )
    return facts


def _steps(path: str) -> tuple[tuple[str, Any], ...]:
    from ..engine.paths import parse_path

    return tuple(parse_path(path))


def _relation(hit: tuple[bool, str], api: apifields.ApiField) -> str:
    """'same', 'under' (the hit is inside the api field), 'no', or 'maybe' (a wildcard makes it
    undecidable here)."""
    if hit[0] != api.container:
        return "no"
    a, b = _steps(hit[1]), _steps(api.path)
    if len(a) < len(b):
        return "no"
    unsure = False
    for x, y in zip(a, b, strict=False):
        if x == y:
            continue
        if "anykey" in (x[0], y[0]) and "key" in (x[0], y[0]):
            unsure = True
            continue
        return "no"
    if unsure:
        return "maybe"
    return "same" if len(a) == len(b) else "under"


def _present(fact: _ApiFact) -> str:
    """CEL: the apiserver's test of the field fires somewhere in the pod."""
    from .cel import Leaf, steps_of

    predicates = {
        "present": lambda v, k: "true",
        "true": lambda v, k: f"(type({v}) == bool && {v} == true)",
        "nonEmpty": lambda v, k: (
            f"((type({v}) == list || type({v}) == map || type({v}) == string) ? size({v}) > 0 : true)"
        ),
    }
    leaf = Leaf(steps_of(fact.field.path), None, predicates[fact.test])
    if fact.field.container:
        return f"{V}.cs.exists(r, {leaf.exists('r.c')})"
    return leaf.exists(f"{V}.pod")


def _present_hits(fact: _ApiFact, message: str, fix: str) -> str:
    from .cel import Leaf, Path, line_text, steps_of

    leaf = Leaf(steps_of(fact.field.path), None, lambda v, k: "true")

    def render(value: str, key: str, at: Path) -> str:
        return line_text(at.cel(), message, fix)

    if fact.field.container:
        return (
            f"{V}.cs.filter(r, {leaf.exists('r.c')}).map(r,"
            f" {leaf.hits('r.c', Path.of('r.p'), render, False)}.join(' | '))"
        )
    return leaf.hits(f"{V}.pod", Path.of(f"{V}.prefix"), render, True)


@dataclass
class _Rule:
    rule: CompiledRule
    parts: list[tuple[Part, frozenset[str], frozenset[str]]]  # (part, rejects on, dropped on)
    synthetic: list[_ApiFact] = field(default_factory=list)


def _weakest(*actions: str | None) -> str | None:
    chosen: str | None = None
    for action in actions:
        if action is None:
            continue
        if chosen is None or ACTION_RANK[Action(action)] < ACTION_RANK[Action(chosen)]:
            chosen = action
    return chosen


def _capped(action: str, cap: str | None) -> str:
    if cap is not None and ACTION_RANK[Action(action)] > ACTION_RANK[Action(cap)]:
        return cap
    return action


@dataclass(frozen=True)
class _Group:
    suffix: str  # "" for the default group
    namespaces: tuple[str, ...]  # empty: every namespace not in another group
    policy: NamespacePolicy


def _groups(engine: Engine, excluded: Sequence[str]) -> list[_Group]:
    by_policy: dict[str, list[str]] = {}
    policies: dict[str, NamespacePolicy] = {}
    for name, policy in sorted(engine.config.namespaces.items()):
        if name in excluded:
            continue
        key = policy.model_dump_json()
        by_policy.setdefault(key, []).append(name)
        policies[key] = policy
    groups = [_Group("", (), NamespacePolicy())]
    for index, (key, names) in enumerate(by_policy.items(), start=1):
        groups.append(_Group(f"-ns{index}", tuple(names), policies[key]))
    return groups


def export(
    engine: Engine,
    version: KubeVersion,
    *,
    runtime_classes: Mapping[str, RuntimeClassInfo] | None = None,
    mutating: bool | None = None,
    failure_policy: str = "Ignore",
    excluded_namespaces: Sequence[str] = EXCLUDED_NAMESPACES,
) -> Export:
    """The exported objects for `version`. `mutating`: None exports the
    MutatingAdmissionPolicy where the target serves it; True insists (ExportError before
    1.36). Raises ExportError for a version the apiserver serves no policy API at."""
    if version < VALIDATING_FROM:
        raise ExportError(
            f"Kubernetes {version} does not serve ValidatingAdmissionPolicy"
            f" admissionregistration.k8s.io/v1 (GA from {VALIDATING_FROM}; v1beta1 in 1.28-1.29"
            " is off by default and not exported): use the webhook (winpod serve)"
        )
    if mutating and version < MUTATING_FROM:
        raise ExportError(
            f"Kubernetes {version} does not serve MutatingAdmissionPolicy"
            f" admissionregistration.k8s.io/v1 (from {MUTATING_FROM}; v1beta1 in 1.34-1.35 is"
            " behind the MutatingAdmissionPolicy gate, off by default): drop --mutating and"
            " keep the mutating webhook for placement"
        )
    reset_names()
    config = engine.config
    runtime = dict(runtime_classes if runtime_classes is not None else engine.runtime_classes)
    facts = _api_facts(version, config.featureGates)
    left: list[LeftToWebhook] = []
    rules: list[_Rule] = []
    compiled = [r for r in engine.catalog.compile_for(version) if r.action is not None]
    probe = Settings(engine, runtime, "unknown", engine.windows_taints)
    for rule in compiled:
        if rule.id == UNAVAILABLE_RULE:
            left.append(
                LeftToWebhook(
                    rule.id,
                    "the apiserver drops these fields before validating admission runs, so no"
                    " policy (nor the validating webhook) sees them; winpod check reports them",
                )
            )
            continue
        try:
            parts = parts_of(rule, engine.catalog.rules[rule.id], version, probe)
            rules.append(_classify(rule, parts, facts))
        except NotExportable as exc:
            left.append(LeftToWebhook(rule.id, str(exc)))
    left.append(
        LeftToWebhook(
            "namespace labels winpod.io/default-os and winpod.io/max-action",
            "read by winpod serve --watch-cluster; the export applies the config's"
            " namespaces: entries through binding selectors",
        )
    )
    served_mutating = version >= MUTATING_FROM if mutating is None else mutating
    if not served_mutating:
        left.append(
            LeftToWebhook(
                "placement (mutation)",
                f"MutatingAdmissionPolicy v1 is served from {MUTATING_FROM}: keep the mutating"
                " webhook for nodeSelector, tolerations and spec.os.name",
            )
        )
    elif config.mutation.windowsDropLinuxFields:
        served_mutating = False
        left.append(
            LeftToWebhook(
                "placement (mutation) with mutation.windowsDropLinuxFields",
                "removing the fields the apiserver rejects depends on the verdict of the pod"
                " without them; keep the mutating webhook",
            )
        )
    else:
        left.append(
            LeftToWebhook(
                "the mutating webhook's 'winpod set ...' warning",
                "a MutatingAdmissionPolicy cannot return warnings; the placement itself is"
                " exported",
            )
        )
    excluded = tuple(excluded_namespaces)
    groups = _groups(engine, excluded)
    listed = tuple(ns for g in groups for ns in g.namespaces)
    objects: list[dict[str, Any]] = []
    for group in groups:
        policy = group.policy
        default_os = policy.defaultOS or config.defaultOS
        settings = Settings(engine, runtime, default_os, engine.windows_taints)
        selector = _selector(group, excluded, listed)
        base = pod_variables(settings, version >= apifields.OS_ENFORCED_FROM)
        base.append(("linuxOnly", linux_only_features()))
        rule_vars, texts, gates = _rule_variables(engine, rules, policy, facts, version)
        common = base + rule_vars
        objects.extend(_validating(group, common, texts, gates, failure_policy, selector, engine))
        if served_mutating:
            objects.extend(
                _mutating(
                    group, base, settings, facts, rules, policy, version, failure_policy, selector
                )
            )
    return Export(version, objects, left, [r.rule.id for r in rules], served_mutating)


def _classify(rule: CompiledRule, parts: list[Part], facts: list[_ApiFact]) -> _Rule:
    classified = []
    for part in parts:
        rejects: set[str] = set()
        dropped: set[str] = set()
        for hit in part.scope_paths:
            for fact in facts:
                relation = _relation(hit, fact.field)
                if relation == "maybe":
                    raise NotExportable(
                        f"its path {hit[1]} may or may not be the apiserver's {fact.field.path}"
                    )
                if relation == "no":
                    continue
                if fact.unavailable:
                    dropped.add(fact.os)
                elif relation == "same" and fact.rejects:
                    if fact.field.rule != rule.id:
                        raise NotExportable(
                            f"it fires at {fact.field.path}, which the apiserver's table gives to"
                            f" {fact.field.rule}"
                        )
                    rejects.add(fact.os)
        classified.append((part, frozenset(rejects), frozenset(dropped)))
    synthetic = [f for f in facts if f.rejects and f.field.rule == rule.id]
    return _Rule(rule, classified, synthetic)


def _selector(group: _Group, excluded: tuple[str, ...], listed: tuple[str, ...]) -> dict[str, Any]:
    expressions: list[dict[str, Any]] = []
    if group.namespaces:
        expressions.append(
            {
                "key": "kubernetes.io/metadata.name",
                "operator": "In",
                "values": list(group.namespaces),
            }
        )
    else:
        out = sorted(set(excluded) | set(listed))
        if out:
            expressions.append(
                {"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": out}
            )
    expressions.append({"key": IGNORE_LABEL, "operator": "NotIn", "values": ["true"]})
    return {"namespaceSelector": {"matchExpressions": expressions}}


def _ex(rule_id: str) -> str:
    return f"({V}.exAll || {lit(rule_id)} in {V}.exNames)"


def _rule_variables(
    engine: Engine,
    rules: list[_Rule],
    policy: NamespacePolicy,
    facts: list[_ApiFact],
    version: KubeVersion,
) -> tuple[list[tuple[str, str]], list[tuple[int, str]], _Gates]:
    """Per rule: rN, the actions of its findings (a CEL list of strings, one per way it
    fires), and rN_m, its findings as {a: action, t: text}. Returns them, (N, rule id), and
    the gates: whether any rule fires that may deny, and that may show otherwise."""
    config = engine.config
    cap = _weakest(config.maxAction, policy.maxAction)
    out: list[tuple[str, str]] = []
    texts: list[tuple[int, str]] = []
    gates = _Gates([], [], [])
    for index, item in enumerate(rules):
        rule = item.rule
        override = policy.rules.get(rule.id) or config.rules.get(rule.id)
        if override == "off":
            continue
        actions, messages = [], []
        entries: list[tuple[str, str, str | None, frozenset[str], str]] = []
        triggers: list[str] = []
        for part, rejects, dropped in item.parts:
            exists = part.exists
            fires = part.fires
            if dropped:
                exists = all_of([f"!({V}.os in {lit(sorted(dropped))})", exists])
                fires = all_of([f"!({V}.os in {lit(sorted(dropped))})", fires])
            triggers.append(fires)
            unstamped = _capped(override or part.action, cap)
            stamped = _capped("deny", cap) if rejects else None
            entries.append((exists, unstamped, stamped, rejects, part.hits))
        for fact in item.synthetic:
            message = (
                "the apiserver rejects this field in any value (even empty) once spec.os.name is"
                f" {fact.os}"
            )
            exists = all_of([f"{V}.stamped", f"{V}.os == {lit(fact.os)}", _present(fact)])
            deny = _capped("deny", cap)
            entries.append(
                (exists, deny, None, frozenset(), _present_hits(fact, message, rule.fix))
            )
            triggers.append(exists)
        gate = "true" if rule.os == "any" else f"{V}.os == {lit(rule.os)}"
        may_deny: list[str] = []
        may_other: list[str] = []
        deny_only: list[str] = []
        for (exists, unstamped, stamped, _, _), fires in zip(entries, triggers, strict=True):
            exists = fires
            possible = {unstamped} | ({stamped} if stamped is not None else set())
            if "deny" in possible:
                may_deny.append(exists)
            (may_other if possible - {"deny"} else deny_only).append(exists)
        # No OS test here: `_Gates.condition` puts each rule under its OS's branch.
        gates.os.append(rule.os)
        gates.deny.append(any_of(may_deny))
        shown = all_of([_SHOWS_DENIALS, any_of(deny_only)])
        gates.other.append(any_of([*may_other, shown]))
        for exists, unstamped, stamped, rejects, hits in entries:
            if stamped is None or stamped == unstamped:
                action = lit(unstamped)
            else:
                action = (
                    f"(({V}.stamped && {V}.os in {lit(sorted(rejects))}) ? {lit(stamped)} :"
                    f" {lit(unstamped)})"
                )
            actions.append(when(exists, f"[{action}]"))
            messages.append(when(exists, f"{hits}.map(t, {{'a': {action}, 't': t}})"))
        out.append((f"r{index}", when(gate, concat(actions))))
        out.append((f"r{index}_m", when(gate, concat(messages))))
        texts.append((index, rule.id))
    return out, texts, gates


@dataclass
class _Gates:
    """Per rule, its target OS and CEL for: it fires in a way that may deny; in a way the warn
    policy shows (a warning, an audit annotation, an exemption, a denial not enforced on an
    update). The tests assume the pod is on the rule's OS: `condition` tests that once."""

    os: list[str]
    deny: list[str]
    other: list[str]

    def condition(self, common: list[tuple[str, str]], which: list[str]) -> str:
        """Whether some rule's test in `which` holds, as one matchCondition: the pod's OS
        first, then only the rules for that OS (and for any): a Linux pod computes none of
        what the Windows rules read."""
        branches = []
        for os_name in dict.fromkeys(self.os):
            tests = [t for o, t in zip(self.os, which, strict=True) if o == os_name]
            guard = "true" if os_name == "any" else f"{V}.os == {lit(os_name)}"
            branches.append((guard, _some(tests)))
        return inline_branches(common, branches)


# The warn policy shows a denial too where the pod is exempted from the rule (only with the
# exemption annotation) or the pod spec is unchanged (only on an update).
_SHOWS_DENIALS = "(variables.exOk || request.operation == 'UPDATE')"


def _validating(
    group: _Group,
    common: list[tuple[str, str]],
    rules: list[tuple[int, str]],
    gates: _Gates,
    failure_policy: str,
    selector: dict[str, Any],
    engine: Engine,
) -> list[dict[str, Any]]:
    variables = [*common, ("unchanged", _unchanged(f"{V}.kind", f"{V}.spec", f"{V}.ann"))]
    # The apiserver runs a policy's validations, its messages and its audit annotations each
    # with variables of their own (messages even where every validation passes): a condition
    # that lets through only pods with something to report, in one program, spares a pod
    # with nothing to report all of them. It says whether some rule fires, from the same
    # variables the validations read.
    gate_deny = gates.condition(common, gates.deny)
    gate_warn = gates.condition(common, gates.other)
    blocked = any_of([f"('deny' in {V}.r{i} && !{_ex(rid)})" for i, rid in rules])
    # Each rule's line of the denial is a variable of its own: one expression of them all
    # takes the apiserver's type checker tens of seconds (it slows with the size of an
    # expression, more than linearly), and variables are checked one by one.
    denials = [
        (f"d{i}", when(f"'deny' in {V}.r{i} && !{_ex(rid)}", f"[{_deny_line(i, rid)}]"))
        for i, rid in rules
    ]
    lines = concat([f"{V}.{name}" for name, _ in denials])
    ref = (
        f"{V}.kind + ' ' + (request.namespace != '' ? request.namespace + '/' : '') +"
        f" (request.name != '' ? request.name : '(unnamed)')"
    )
    deny_name = f"winpod-deny{group.suffix}"
    warn_name = f"winpod-warn{group.suffix}"
    deny = _policy(
        deny_name,
        failure_policy,
        [*variables, *denials],
        validations=[
            {
                "expression": f"!{blocked}",
                "messageExpression": f"{ref} + ' denied by winpod: ' + string(size({lines})) +"
                f" ' rule(s) | ' + {lines}.join(' | ')",
                "message": "denied by winpod (winpod check lists the findings)",
                "reason": "Forbidden",
            }
        ],
        match_conditions=[
            # The policy's own variables, written in (matchConditions cannot read them).
            {"name": "not-exempt-from-every-rule", "expression": inline(common, f"!{V}.exAll")},
            {
                "name": "create-or-pod-spec-changed",
                "expression": inline(
                    variables,
                    f"request.operation != 'UPDATE' || oldObject == null || !{V}.unchanged",
                ),
            },
            {"name": "some-rule-may-deny", "expression": gate_deny},
        ],
    )
    validations, annotations = [], []
    audited_items: list[str] = []
    for i, rid in rules:
        ex = _ex(rid)
        shown = any_of(
            [
                f"('warn' in {V}.r{i} && !{ex})",
                f"({ex} && size({V}.r{i}) > 0)",
                f"({V}.unchanged && 'deny' in {V}.r{i} && !{ex})",
            ]
        )
        texts = concat(
            [
                when(
                    f"'warn' in {V}.r{i} && !{ex}",
                    f"{V}.r{i}_m.filter(h, h.a == 'warn').map(h, h.t)",
                ),
                when(ex, f"{V}.r{i}_m.map(h, 'exempted (' + {V}.exWhy + '): ' + h.t)"),
                when(
                    f"{V}.unchanged && 'deny' in {V}.r{i} && !{ex}",
                    f"{V}.r{i}_m.filter(h, h.a == 'deny').map(h, h.t + ' (not enforced: the pod spec is unchanged)')",
                ),
            ]
        )
        validations.append(
            {
                "expression": f"!{shown}",
                "messageExpression": f"{_shown(texts)} + {lit(f' (rule {rid})')}",
                "message": f"winpod rule {rid} (winpod explain {rid})",
            }
        )
        audited = any_of([f"('audit' in {V}.r{i} && !{ex})", f"({ex} && size({V}.r{i}) > 0)"])
        audit_texts = concat(
            [
                when(
                    f"'audit' in {V}.r{i} && !{ex}",
                    f"{V}.r{i}_m.filter(h, h.a == 'audit').map(h, h.t)",
                ),
                when(ex, f"{V}.r{i}_m.map(h, 'exempted (' + {V}.exWhy + '): ' + h.t)"),
            ]
        )
        audited_items.append(
            when(audited, f"[{audit_texts}.join(' | ') + {lit(f' (rule {rid})')}]")
        )
    # One annotation for them all: the apiserver allows at most 20 per policy.
    annotations.append(
        {
            "key": "findings",
            "valueExpression": f"{V}.audited.join(' | ')",  # empty: no annotation
        }
    )
    warn = _policy(
        warn_name,
        failure_policy,
        [*variables, ("audited", concat(audited_items))],
        validations=validations,
        audit_annotations=annotations,
        match_conditions=[{"name": "some-rule-fires", "expression": gate_warn}],
    )
    return [
        deny,
        _binding("ValidatingAdmissionPolicyBinding", deny_name, selector, ["Deny"]),
        warn,
        _binding("ValidatingAdmissionPolicyBinding", warn_name, selector, ["Warn"]),
    ]


def _some(tests: Sequence[str]) -> str:
    """Whether any test holds, as a flat list (a chain of || nests one level per halving,
    and parsers limit nesting)."""
    kept = [t for t in tests if t != "false"]
    if len(kept) <= 2 or "true" in kept:
        return any_of(kept)
    return "(true in [" + ", ".join(kept) + "])"


def _deny_line(index: int, rule_id: str) -> str:
    hits = f"{V}.r{index}_m.filter(h, h.a == 'deny').map(h, h.t)"
    return f"{_shown(hits)} + {lit(f' (rule {rule_id})')}"


# kube-apiserver drops warnings past 4096 characters in all (and cuts them to 256 once past
# it): one hit per rule, cut, and a count of the others keeps every rule's warning whole.
_HIT_CHARS = 160


def _shown(hits: str) -> str:
    """The first of a CEL list of hit texts (cut to _HIT_CHARS) and how many more there are."""
    first = f"{hits}[0]"
    return (
        f"(size({hits}) == 0 ? '' : (size({first}) > {_HIT_CHARS} ? {first}.substring(0,"
        f" {_HIT_CHARS - 1}) + '…' : {first}) + (size({hits}) > 1 ? ' (and ' + string(size({hits}) -"
        f" 1) + ' more: winpod check lists them)' : ''))"
    )


def _annotation_key(rule_id: str) -> str:
    key = re.sub(r"[^A-Za-z0-9_.-]", "-", rule_id).strip("-_.")[:63].rstrip("-_.")
    return key or "finding"


def _unchanged(kind: str, spec: str, ann: str) -> str:
    old = template_of("oldObject", kind)
    return (
        f"(request.operation == 'UPDATE' && oldObject != null && {get(old, 'spec', '{}')} == {spec}"
        f" && {annotations_of(old)} == {ann})"
    )


def _policy(
    name: str,
    failure_policy: str,
    variables: list[tuple[str, str]],
    *,
    validations: list[dict[str, Any]],
    audit_annotations: list[dict[str, Any]] | None = None,
    match_conditions: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "failurePolicy": failure_policy,
        "matchConstraints": {"resourceRules": [dict(r) for r in _RESOURCE_RULES]},
    }
    if match_conditions:
        spec["matchConditions"] = [_fixed(c, "expression") for c in match_conditions]
    spec["variables"] = [{"name": n, "expression": homogeneous(e)} for n, e in variables]
    spec["validations"] = [_fixed(v, "expression", "messageExpression") for v in validations]
    if audit_annotations:
        spec["auditAnnotations"] = [_fixed(a, "valueExpression") for a in audit_annotations]
    return {
        "apiVersion": API,
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": name, "labels": {"app.kubernetes.io/managed-by": "winpod-export"}},
        "spec": spec,
    }


def _fixed(item: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: homogeneous(v) if k in keys else v for k, v in item.items()}


def _binding(
    kind: str, name: str, selector: dict[str, Any], actions: list[str] | None
) -> dict[str, Any]:
    spec: dict[str, Any] = {"policyName": name, "matchResources": selector}
    if actions is not None:
        spec["validationActions"] = actions
    return {
        "apiVersion": API,
        "kind": kind,
        "metadata": {"name": name, "labels": {"app.kubernetes.io/managed-by": "winpod-export"}},
        "spec": spec,
    }


# --- placement: MutatingAdmissionPolicy ----------------------------------------------------


_PATCH = re.compile(r"JSONPatch\{op: 'add', path: ('(?:[^'\\]|\\.)*'), value: ")


def _patch(op_path: str, value: str) -> str:
    return f"JSONPatch{{op: 'add', path: {lit(op_path)}, value: {value}}}"


def _mutating(
    group: _Group,
    base: list[tuple[str, str]],
    settings: Settings,
    facts: list[_ApiFact],
    rules: list[_Rule],
    policy: NamespacePolicy,
    version: KubeVersion,
    failure_policy: str,
    selector: dict[str, Any],
) -> list[dict[str, Any]]:
    """engine mutate._Planner as a JSONPatch: only `add`s of absent values, so applying it to
    its own result adds nothing (reinvocation-safe)."""
    engine = settings.engine
    config = engine.config
    mutation = config.mutation
    strict = config.profile == "apiserver"
    with_os_field = version >= OS_FIELD_SINCE
    variables = list(base)

    def add(name: str, expr: str) -> None:
        variables.append((name, expr))

    add("opposed", f"(size({V}.ev) > 0 && {V}.ev.exists(e, e.os != {V}.os))")
    # Would the pod, once stamped windows, carry a field the apiserver rejects (a finding the
    # engine marks apiserver_rejects)? Then spec.os.name is left unset.
    windows_rules = {
        r.rule.id
        for r in rules
        if r.rule.os in ("windows", "any")
        and (policy.rules.get(r.rule.id) or config.rules.get(r.rule.id)) != "off"
    }
    rejected = [
        _present(f)
        for f in facts
        if f.os == "windows" and f.rejects and f.field.rule in windows_rules
    ]
    add("stampBlocked", any_of(rejected))
    hyperv = [n for n, i in settings.runtime_classes.items() if "hypervisor" in i.handler]
    hyperv_annotation = "experimental.windows.kubernetes.io/isolation-type"
    affinity = get(f"{V}.spec", "affinity", "{}")
    node_affinity = get(affinity, "nodeAffinity", "{}")
    required = get(node_affinity, "requiredDuringSchedulingIgnoredDuringExecution", "{}")
    preferred = get(node_affinity, "preferredDuringSchedulingIgnoredDuringExecution", "[]")
    names_build = f"[{lit(BUILD_LABEL)}].exists(b, "
    term_mentions = (
        f"(type(t) == map && ({get('t', 'matchExpressions', '[]')} + {get('t', 'matchFields', '[]')})"
        f".exists(e, type(e) == map && {get('e', 'key', chr(39) * 2)} == b))"
    )
    mentions = (
        f"{names_build}{get(required, 'nodeSelectorTerms', '[]')}.exists(t, {term_mentions}) ||"
        f" {preferred}.exists(p, type(p) == map && {has('p', 'preference')} &&"
        f" [p.preference].exists(t, {term_mentions})))"
    )
    windows_builds = f"{V}.imgs.filter(x, x.os == 'windows').map(x, {_build_of('x.t')})"
    single = all_of(
        [
            f"!{V}.anyHP",
            f"!({has(f'{V}.ann', hyperv_annotation)} && {V}.ann[{lit(hyperv_annotation)}] == 'hyperv')",
            f"!({V}.rcName in {lit(sorted(hyperv))})" if hyperv else "true",
            f"!({mentions})",
            f"size({windows_builds}) > 0",
            f"{windows_builds}.all(b, b == {windows_builds}[0])",
            f"{windows_builds}[0] != ''",
        ]
    )
    add("build", f"({single} ? {windows_builds}[0] : '')")
    os_label = "kubernetes.io/os"

    def select(wanted: list[tuple[str, str, str]]) -> str:
        """engine mutate._select: wanted (key, CEL value, CEL condition)."""
        if not wanted:
            return "[]"
        whole = "[]"
        # The map of the wanted keys whose conditions hold.
        entries = [(k, val, cond) for k, val, cond in wanted]
        maps = []
        conditions = [cond for _, _, cond in entries]
        # Enumerate the combinations of optional keys (at most two here).
        from itertools import product

        for choice in product((True, False), repeat=len(entries)):
            chosen = [e for e, keep in zip(entries, choice, strict=True) if keep]
            test = all_of(
                [c if keep else f"!({c})" for c, keep in zip(conditions, choice, strict=True)]
            )
            if chosen:
                value = "{" + ", ".join(f"{lit(k)}: {val}" for k, val, _ in chosen) + "}"
                maps.append((test, f"[{_patch('/spec/nodeSelector', value)}]"))
        for test, patch in reversed(maps):
            whole = when(test, patch, whole)
        keys = concat(
            [
                when(
                    all_of([cond, f"!({has(f'{V}.nsel', k)})"]),
                    f"[{_patch(json_pointer(('spec', 'nodeSelector', k)), val)}]",
                )
                for k, val, cond in entries
            ]
        )
        return f"(!({has(f'{V}.spec', 'nodeSelector')}) ? {whole} : {keys})"

    def set_os(name: str, allowed: str) -> str:
        return when(
            allowed,
            f"(!({has(f'{V}.spec', 'os')}) ? [{_patch('/spec/os', '{' + chr(39) + 'name' + chr(39) + ': ' + lit(name) + '}')}] :"
            f" !({has(f'{V}.spec.os', 'name')}) ? [{_patch('/spec/os/name', lit(name))}] : [])",
        )

    # Windows: nodeSelector, tolerations, spec.os.name.
    wanted: list[tuple[str, str, str]] = []
    if mutation.windowsNodeSelector:
        wanted.append((os_label, "'windows'", "true"))
    if mutation.windowsBuildSelector:
        wanted.append((BUILD_LABEL, f"{V}.build", f"{V}.build != ''"))
    taints = list(config.windowsTaints)
    new_tolerations = []
    for j, taint in enumerate(taints):
        triple = (taint.key, taint.value, taint.effect)
        rc_names = sorted(
            name
            for name, info in settings.runtime_classes.items()
            if any(py_tolerates(t, *triple) for t in info.tolerations)
        )
        earlier = [
            f"{V}.addTol{i}" for i in range(j) if py_tolerates(_toleration(taints[i]), *triple)
        ]
        tolerated = any_of(
            [
                f"{V}.tols.exists(t, {tolerates('t', triple)})",
                f"{V}.rcName in {lit(rc_names)}" if rc_names else "false",
                *earlier,
            ]
        )
        add(f"addTol{j}", f"!{tolerated}")
        value = "{" + ", ".join(f"{lit(k)}: {lit(v)}" for k, v in _toleration(taint).items()) + "}"
        new_tolerations.append((f"{V}.addTol{j}", value))
    tolerate = "[]"
    if mutation.windowsTolerations and new_tolerations:
        whole = concat([when(cond, f"[{value}]") for cond, value in new_tolerations])
        each = concat(
            [
                when(cond, f"[{_patch('/spec/tolerations/-', value)}]")
                for cond, value in new_tolerations
            ]
        )
        tolerate = (
            f"(!({has(f'{V}.spec', 'tolerations')}) ? (size({whole}) > 0 ?"
            f" [{_patch('/spec/tolerations', whole)}] : []) : {each})"
        )
    windows_os = "[]"
    if (mutation.windowsOSName or strict) and with_os_field:
        allowed = "true" if strict else f"!({V}.stampBlocked && !({has(f'{V}.spec', 'os')}))"
        windows_os = set_os("windows", allowed)
    windows_ops = concat([select(wanted), tolerate, windows_os])
    # Linux: nodeSelector, and spec.os.name where asked for.
    linux_parts = []
    if mutation.linuxNodeSelector:
        linux_parts.append(select([(os_label, "'linux'", "true")]))
    if (mutation.linuxOSName or strict) and with_os_field:
        has_options = f"(size({V}.pwo) > 0 || {V}.cs.exists(r, size(r.wo) > 0))"
        linux_parts.append(set_os("linux", "true" if strict else f"!{has_options}"))
    linux_ops = concat(linux_parts)
    unknown_ops = "[]"
    linux_only = FUNCTIONS.get("linux-only-pod-reaches-windows@1.14")
    known = {r.rule.id: r for r in rules}
    if config.mixedCluster and mutation.linuxNodeSelector and linux_only is not None:
        owner = known.get("linux-only-pod-tolerates-windows")
        if owner is not None:
            fires = any_of([p.exists for p, _, _ in owner.parts])
            unknown_ops = when(fires, select([(os_label, "'linux'", "true")]))
    expression = (
        f"({V}.os == 'windows' && !{V}.opposed) ? {windows_ops} : ({V}.os == 'linux' &&"
        f" !{V}.opposed) ? {linux_ops} : {V}.os == 'unknown' ? {unknown_ops} : []"
    )
    name = f"winpod-place{group.suffix}"
    # One program for the patch and one for the condition, no variables: each variable is a
    # program of its own to the apiserver. The condition lets through only a pod the patch
    # changes: applying any patch, even an empty one, has the apiserver convert, default and
    # compare the pod and run the mutating chain once more (reinvocation), where this policy
    # then finds nothing to add.
    layers, patch = layered(variables, expression)
    # (Conditions know no JSONPatch type: there the patches are maps.)
    as_maps = _PATCH.sub(r"{'op': 'add', 'path': \1, 'value': ", expression)
    del as_maps
    changes = _may_add(settings, version)
    place = {
        "apiVersion": API,
        "kind": "MutatingAdmissionPolicy",
        "metadata": {"name": name, "labels": {"app.kubernetes.io/managed-by": "winpod-export"}},
        "spec": {
            "failurePolicy": failure_policy,
            "reinvocationPolicy": "IfNeeded",
            "matchConstraints": {
                "resourceRules": [
                    {
                        "apiGroups": [""],
                        "apiVersions": ["v1"],
                        "operations": ["CREATE"],
                        "resources": ["pods"],
                    }
                ]
            },
            "matchConditions": [{"name": "adds-placement", "expression": homogeneous(changes)}],
            "variables": [{"name": n, "expression": homogeneous(e)} for n, e in layers],
            "mutations": [
                {"patchType": "JSONPatch", "jsonPatch": {"expression": homogeneous(patch)}}
            ],
        },
    }
    return [place, _binding("MutatingAdmissionPolicyBinding", name, selector, None)]


def _may_add(settings: Settings, version: KubeVersion) -> str:
    """CEL, cheap: whether the placement patch may add anything to this pod, true wherever
    it does (and maybe elsewhere). Once the pod carries an OS's nodeSelector label, only that
    OS's placement can be added (spec.os.name or placement naming the other OS makes the
    evidence disagree, and nothing is added): what of it the pod lacks. This is what spares
    the reinvocation pass, which sees the pod placed, the whole decision."""
    config = settings.engine.config
    mutation = config.mutation
    strict = config.profile == "apiserver"
    os_field = version >= OS_FIELD_SINCE
    if not (mutation.windowsNodeSelector and mutation.linuxNodeSelector):
        return "true"
    spec = "object.spec"
    nsel = f"{spec}.nodeSelector"
    labelled = all_of(
        [
            f"type({spec}) == map",
            has(spec, "nodeSelector"),
            f"type({nsel}) == map",
            has(nsel, "kubernetes.io/os"),
        ]
    )
    no_os_name = f"!({has(spec, 'os')} && type({spec}.os) == map && {has(f'{spec}.os', 'name')})"
    windows = []
    if mutation.windowsBuildSelector:
        windows.append(f"!({has(nsel, BUILD_LABEL)})")
    if mutation.windowsTolerations:
        tols = f"({has(spec, 'tolerations')} ? {spec}.tolerations : [])"
        for taint in config.windowsTaints:
            triple = (taint.key, taint.value, taint.effect)
            windows.append(f"!{tols}.exists(t, {tolerates('t', triple)})")
    if (mutation.windowsOSName or strict) and os_field:
        windows.append(no_os_name)
    linux = [no_os_name] if (mutation.linuxOSName or strict) and os_field else []
    label = f"{nsel}['kubernetes.io/os']"
    return (
        f"(!{labelled} || ({label} == 'windows' ? {any_of(windows)} : {label} == 'linux' ?"
        f" {any_of(linux)} : true))"
    )


def _toleration(taint: Any) -> dict[str, str]:
    if taint.value:
        return {"key": taint.key, "operator": "Equal", "value": taint.value, "effect": taint.effect}
    return {"key": taint.key, "operator": "Exists", "effect": taint.effect}
