"""Object -> findings: the one entry point every surface (webhook, CLI, audit) calls."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from . import apifields
from .apifields import ApiField
from .checks import CheckFunction, RuleInput
from .fieldtrie import TrieNode, Walker, compile_walker
from .findings import Evaluation, Finding
from .images import ImageClassifier
from .judge import Context
from .kubeversion import LATEST, KubeVersion, parse_version
from .osinfer import OSDecision, OSInferrer, RuntimeClassInfo, runtime_class_index
from .podfacts import PodFacts, pod_facts
from .rules import Catalog, CompiledRule, FieldTest, Predicate, load_catalog
from .settings import ACTION_RANK, Action, EngineSettings, NamespacePolicy
from .subject import Subject, subject_of
from .visit import CHECKED_KINDS, ShapeError

_NO_POLICY = NamespacePolicy()
# Reports fields the target release does not know or drops (its findings replace the rules').
UNAVAILABLE_RULE = "windows-field-unavailable"


_Test = tuple[int, int, CompiledRule, FieldTest]  # (rule order, test order, rule, test)
# (rule order, rule, function, precondition, action, message, fix): unpacked once at start-up.
_Function = tuple[
    int, CompiledRule, CheckFunction, Callable[[PodFacts], bool] | None, Action, str, str
]


@dataclass(frozen=True, slots=True)
class _ApiTest:
    """A field the apiserver treats specially at this version (app/engine/apifields.py):
    `rejects` with the pod's spec.os.name, or `unavailable` (unknown, or dropped by a gate)."""

    field: ApiField
    rejects: bool
    unavailable: str | None  # why, when the release does not keep the field
    test: Predicate


@dataclass(frozen=True, slots=True)
class _RuleSet:
    """The catalog compiled for one version and one OS: check functions, and every field test
    (the rules' and the apiserver's) merged into one trie for the pod and one for each
    container, each compiled to a walker."""

    functions: tuple[_Function, ...]
    pod_tests: Walker
    container_tests: Walker
    api_os: str | None  # the spec.os.name the apiserver facts apply to ("windows", "linux")
    rules: dict[str, tuple[int, CompiledRule]]  # by id: the rule order and the rule


def _layout(
    rules: list[CompiledRule], api_tests: list[_ApiTest], api_os: str | None, label: str
) -> _RuleSet:
    functions: list[_Function] = []
    pod, container = TrieNode(), TrieNode()
    for order, rule in enumerate(rules):
        if rule.function is not None and rule.action is not None:
            functions.append(
                (order, rule, rule.function, rule.precondition, rule.action, rule.message, rule.fix)
            )
        for test_order, test in enumerate(rule.tests):
            item: _Test = (order, test_order, rule, test)
            (container if test.container_scope else pod).add(test.path, item, test.key_filter)
    for api in api_tests:
        (container if api.field.container else pod).add(api.field.path, api, api.field.key_filter)
    return _RuleSet(
        tuple(functions),
        compile_walker(pod, _predicate, label=f"pod fields, {label}"),
        compile_walker(container, _predicate, label=f"container fields, {label}"),
        api_os,
        {rule.id: (order, rule) for order, rule in enumerate(rules)},
    )


def _predicate(item: _Test | _ApiTest) -> Predicate:
    if isinstance(item, _ApiTest):
        return item.test
    return item[3].test


def _api_tests(version: KubeVersion, os_name: str, gates: Mapping[str, bool]) -> list[_ApiTest]:
    """The apiserver facts that matter at `version` for pods judged as `os_name`."""
    tests: list[_ApiTest] = []
    if os_name == "windows":
        for entry in apifields.FIELDS:
            rejects = entry.rejected_for_windows_at(version, gates)
            why = apifields.unavailable_reason(entry, version, gates)
            if rejects or why:
                kind = entry.windows if rejects and entry.windows else "present"
                tests.append(_ApiTest(entry, rejects, why, apifields.TESTS[kind]))
    elif os_name == "linux" and version >= apifields.OS_ENFORCED_FROM:
        for entry in apifields.LINUX_FORBIDDEN:
            tests.append(_ApiTest(entry, True, None, apifields.TESTS["present"]))
    return tests


class Engine:
    """Built once at start-up; `evaluate` is pure and safe to call from many requests."""

    def __init__(
        self, catalog: Catalog | None = None, config: EngineSettings | None = None
    ) -> None:
        self.catalog = catalog if catalog is not None else load_catalog()
        self.config = config if config is not None else EngineSettings()
        unknown_gates = sorted(set(self.config.featureGates) - apifields.KNOWN_GATES)
        if unknown_gates:
            raise ValueError(
                f"config featureGates names gates winpod does not model: {', '.join(unknown_gates)}"
                f" (known: {', '.join(sorted(apifields.KNOWN_GATES))})"
            )
        unknown = sorted(set(self.config.rules) - set(self.catalog.rules))
        for policy in self.config.namespaces.values():
            unknown += sorted(set(policy.rules) - set(self.catalog.rules))
        if unknown:
            raise ValueError(f"config names unknown rules: {', '.join(sorted(set(unknown)))}")
        self.default_version = (
            parse_version(self.config.kubernetesVersion)
            if self.config.kubernetesVersion
            else LATEST
        )
        self.images = ImageClassifier(self.config.windowsImages, self.config.linuxImages)
        self.windows_taints = tuple((t.key, t.value, t.effect) for t in self.config.windowsTaints)
        self.inferrer = OSInferrer(self.images, self.windows_taints)
        self.runtime_classes = runtime_class_index(self.config.runtimeClasses)
        self._compiled: dict[KubeVersion, dict[str, _RuleSet]] = {}
        self.rules_for(self.default_version)

    def rules_for(self, version: KubeVersion) -> dict[str, _RuleSet]:
        """Rule sets by OS for a version, compiled on first use and kept."""
        by_os = self._compiled.get(version)
        if by_os is None:
            compiled = [r for r in self.catalog.compile_for(version) if r.action]
            by_os = {
                os_name: _layout(
                    [r for r in compiled if r.os in (os_name, "any")],
                    _api_tests(version, os_name, self.config.featureGates),
                    os_name if os_name != "unknown" else None,
                    f"{os_name} pods at {version}",
                )
                for os_name in ("windows", "linux", "unknown")
            }
            self._compiled[version] = by_os
        return by_os

    def namespace_policy(self, namespace: str | None) -> NamespacePolicy:
        if namespace is None:
            return _NO_POLICY
        return self.config.namespaces.get(namespace, _NO_POLICY)

    def infer_os(
        self,
        pod: dict[str, Any],
        *,
        runtime_classes: Mapping[str, RuntimeClassInfo] | None = None,
        namespace_policy: NamespacePolicy | None = None,
        facts: PodFacts | None = None,
    ) -> OSDecision:
        """`facts`: the pod's, when the caller has them already."""
        facts = facts if facts is not None else pod_facts(pod)
        return self._decide(facts, runtime_classes, namespace_policy or _NO_POLICY)

    def _decide(
        self,
        facts: PodFacts,
        runtime_classes: Mapping[str, RuntimeClassInfo] | None,
        policy: NamespacePolicy,
    ) -> OSDecision:
        if policy.defaultOS:
            default, source = policy.defaultOS, "the namespace"
        else:
            default, source = self.config.defaultOS, "config defaultOS"
        return self.inferrer.infer(
            facts,
            runtime_classes if runtime_classes is not None else self.runtime_classes,
            default,
            source,
        )

    def evaluate(
        self,
        obj: Mapping[str, Any],
        *,
        version: KubeVersion | None = None,
        runtime_classes: Mapping[str, RuntimeClassInfo] | None = None,
        namespace: str | None = None,
        namespace_policy: NamespacePolicy | None = None,
    ) -> Evaluation:
        """Evaluate one object (a convenience over `evaluate_subject`). `namespace` overrides
        metadata.namespace; `namespace_policy` overrides the config's entry for it. Raises
        ShapeError for a field of the wrong type."""
        return self.evaluate_subject(
            subject_of(obj, namespace=namespace),
            Context(version, runtime_classes, namespace_policy),
        )

    def evaluate_subject(self, subject: Subject, context: Context) -> Evaluation:
        result = Evaluation(subject.kind, subject.namespace, subject.name, checked=False)
        template = subject.template
        if template is None:
            result.skipped_reason = (
                f"kind {subject.kind} is not checked (checked: {', '.join(sorted(CHECKED_KINDS))})"
            )
            return result
        version = context.version
        runtime_classes = context.runtime_classes
        namespace_policy = context.namespace_policy
        namespace = subject.namespace
        result.checked = True
        facts = pod_facts(template.pod)
        policy = (
            namespace_policy if namespace_policy is not None else self.namespace_policy(namespace)
        )
        runtime = runtime_classes if runtime_classes is not None else self.runtime_classes
        decision = self._decide(facts, runtime, policy)
        result.os = decision
        target = version or self.default_version
        ruleset = self.rules_for(target)[decision.os]
        data = RuleInput(
            facts=facts,
            os=decision,
            params={},
            images=self.images,
            runtime_classes=runtime,
            exempt_annotation=self.config.exemptAnnotation,
            exempt_reason_annotation=self.config.exemptReasonAnnotation,
            windows_taints=self.windows_taints,
        )
        # The apiserver checks spec.os.name from 1.24; the apiserver profile judges every pod
        # placed on an OS as if it carried spec.os.name for it.
        stamped = ruleset.api_os is not None and (
            (facts.os_name == ruleset.api_os and target >= apifields.OS_ENFORCED_FROM)
            or (self.config.profile == "apiserver" and decision.os == ruleset.api_os)
        )
        hits, rejected = _collect(ruleset, facts, data, stamped)
        if not hits:
            return result
        exemptions, reason = self._exemptions(facts)
        cap = _weakest(self.config.maxAction, policy.maxAction)
        prefix = template.prefix
        findings = result.findings
        limit = context.findings_per_rule
        # (rule, action, exempted, would-deny, rejects): the last finding built of that
        # outcome, and how many were built; past the limit a hit only adds to its `more`.
        built: dict[tuple[str, Action, bool, bool, bool], tuple[Finding, int]] = {}
        for _, _, _, rule, path, value, key, action, message, fix, params in hits:
            override = policy.rules.get(rule.id) or self.config.rules.get(rule.id)
            if override == "off":
                continue
            if override:
                action = Action(override)
            rejects = path in rejected
            if rejects and stamped:
                action = Action.DENY  # the apiserver refuses the pod whatever winpod's action
            would_deny = False
            if cap is not None and ACTION_RANK[action] > ACTION_RANK[cap]:
                would_deny = action is Action.DENY
                action = cap
            exempted = rule.id in exemptions or "*" in exemptions
            would_deny = would_deny and not exempted
            if limit is not None:
                outcome = (rule.id, action, exempted, would_deny, rejects)
                last = built.get(outcome)
                if last is not None and last[1] >= limit:
                    last[0].more += 1
                    continue
            finding = Finding(
                rule=rule.id,
                action=action,
                path=prefix + path,
                message=rule.render(message, value, key, params),
                fix=rule.render(fix, value, key, params),
                exempted=exempted,
                exemption_reason=reason if exempted else None,
                apiserver_rejects=rejects,
                would_deny=would_deny,
            )
            findings.append(finding)
            if limit is not None:
                built[outcome] = (finding, 1 if last is None else last[1] + 1)
        return result

    def _exemptions(self, facts: PodFacts) -> tuple[frozenset[str], str | None]:
        annotations = facts.metadata.get("annotations")
        if not isinstance(annotations, dict):
            return frozenset(), None
        names = annotations.get(self.config.exemptAnnotation)
        reason = annotations.get(self.config.exemptReasonAnnotation)
        if not isinstance(names, str) or not isinstance(reason, str) or not reason.strip():
            return frozenset(), None  # no reason, no exemption (the exemption rule says so)
        return frozenset(n.strip() for n in names.split(",") if n.strip()), reason.strip()


def _weakest(*actions: str | None) -> Action | None:
    chosen: Action | None = None
    for action in actions:
        if action is None:
            continue
        candidate = Action(action)
        if chosen is None or ACTION_RANK[candidate] < ACTION_RANK[chosen]:
            chosen = candidate
    return chosen


# (rule order, test order, container order, rule, path, value, key, action, message, fix,
#  the hit's template parameters)
_Hit = tuple[
    int, int, int, CompiledRule, str, Any, str | None, Action, str, str, Mapping[str, Any] | None
]
_ApiHit = tuple[_ApiTest, str, str | None]  # (fact, pod-rooted path, map key)


def _collect(
    ruleset: _RuleSet, facts: PodFacts, data: RuleInput, stamped: bool
) -> tuple[list[_Hit], frozenset[str]]:
    """Every hit of the rule set, and the paths the apiserver would reject once spec.os.name
    is set. The apiserver's view is folded in: a field the release does not keep is reported as
    such (the other rules' hits on it are dropped: nothing reaches the node), and a field the
    apiserver rejects is denied on a stamped pod even where no rule fires
    (`supplementalGroups: []` does nothing on a node, but the apiserver refuses it)."""
    hits: list[_Hit] = []
    api_hits: list[_ApiHit] = []
    ordinal = -1

    def emit(item: _Test | _ApiTest, value: Any, key: str | None, path: str) -> None:
        # Only hits get here: the walker ran the test.
        if item.__class__ is _ApiTest:
            api_hits.append((item, path, key))
            return
        order, test_order, rule, test = item  # type: ignore[misc]
        assert rule.action is not None
        hits.append(
            (
                order,
                test_order,
                ordinal,
                rule,
                path,
                value,
                key,
                test.action or rule.action,
                test.message or rule.message,
                rule.fix,
                None,
            )
        )

    ruleset.pod_tests(facts.pod, "", emit)
    container_tests = ruleset.container_tests
    for ordinal, ref in enumerate(facts.containers):  # noqa: B007 (emit reads it)
        container_tests(ref.container, ref.path, emit)
    rejected: dict[str, ApiField] = {}
    unavailable: dict[str, str] = {}
    if api_hits:
        names = {ref.name for ref in facts.containers}
        for api, path, key in api_hits:
            if api.field.names_container and (key is None or key.split("/", 1)[-1] not in names):
                continue  # a per-container annotation for no container of this pod
            if api.unavailable is not None:
                unavailable[path] = api.unavailable
            elif api.rejects:
                rejected[path] = api.field
        if unavailable:
            data = _with(data, unavailable=tuple(unavailable.items()))
    for order, rule, function, precondition, action, message, fix in ruleset.functions:
        skip = precondition is not None and not precondition(facts)
        if skip and not (unavailable and rule.id == UNAVAILABLE_RULE):
            continue
        for hit in function(data if not rule.params else _with(data, params=rule.params)):
            hit_action, hit_message, hit_fix = action, message, fix
            if hit.variant is not None:  # a per-hit text the rule file documents
                variant_action, hit_message, hit_fix = rule.hits[hit.variant]
                hit_action = variant_action or action
            hits.append(
                (
                    order,
                    0,
                    0,
                    rule,
                    hit.path,
                    hit.value,
                    None,
                    hit_action,
                    hit_message,
                    hit_fix,
                    hit.params,
                )
            )
    if unavailable:
        gone = tuple(unavailable)
        hits = [h for h in hits if h[3].id == UNAVAILABLE_RULE or not _under(h[4], gone)]
    if stamped and rejected:
        fired = {h[4] for h in hits}
        for path, entry in rejected.items():
            owner = ruleset.rules.get(entry.rule)
            if path in fired or owner is None:
                continue
            order, rule = owner
            hits.append(
                (
                    order,
                    9,
                    0,
                    rule,
                    path,
                    None,
                    None,
                    Action.DENY,
                    f"the apiserver rejects this field in any value (even empty) once"
                    f" spec.os.name is {ruleset.api_os}",
                    rule.fix,
                    None,
                )
            )
    if len(hits) > 1:
        hits.sort(key=lambda h: (h[0], h[1], h[2]))
    return hits, frozenset(rejected)


def _under(path: str, roots: tuple[str, ...]) -> bool:
    return any(
        path == root or path.startswith(root + ".") or path.startswith(root + "[") for root in roots
    )


def _with(data: RuleInput, **changes: Any) -> RuleInput:
    return dataclasses.replace(data, **changes)


__all__ = ["Engine", "ShapeError"]
