"""Object -> findings: the one entry point every surface (webhook, CLI, audit) calls."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from app.config import ACTION_RANK, Action, Config, NamespacePolicy
from app.engine.checks import FUNCTIONS, PRECONDITIONS, CheckFunction, RuleInput
from app.engine.fieldtrie import TrieNode, Walker, compile_walker
from app.engine.findings import Evaluation, Finding
from app.engine.images import ImageClassifier
from app.engine.kubeversion import LATEST, KubeVersion, parse_version
from app.engine.osinfer import OSDecision, OSInferrer, RuntimeClassInfo, runtime_class_index
from app.engine.podfacts import PodFacts, pod_facts
from app.engine.rules import Catalog, CompiledRule, FieldTest, load_catalog
from app.engine.visit import CHECKED_KINDS, ShapeError, pod_template_of

_NO_POLICY = NamespacePolicy()


_Test = tuple[int, int, CompiledRule, FieldTest]  # (rule order, test order, rule, test)
# (rule order, rule, function, precondition, action, message, fix): unpacked once at start-up.
_Function = tuple[
    int, CompiledRule, CheckFunction, Callable[[PodFacts], bool] | None, Action, str, str
]


@dataclass(frozen=True, slots=True)
class _RuleSet:
    """The catalog compiled for one version and one OS: check functions, and every field test
    merged into one trie for the pod and one for each container, each compiled to a walker."""

    functions: tuple[_Function, ...]
    pod_tests: Walker
    container_tests: Walker


def _layout(rules: list[CompiledRule]) -> _RuleSet:
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
    return _RuleSet(
        tuple(functions), compile_walker(pod, _predicate), compile_walker(container, _predicate)
    )


def _predicate(item: _Test) -> Callable[[Any, str | None], bool]:
    return item[3].test


class Engine:
    """Built once at start-up; `evaluate` is pure and safe to call from many requests."""

    def __init__(self, catalog: Catalog | None = None, config: Config | None = None) -> None:
        self.catalog = catalog if catalog is not None else load_catalog()
        self.config = config if config is not None else Config()
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
        self.inferrer = OSInferrer(
            self.images, [(t.key, t.value, t.effect) for t in self.config.windowsTaints]
        )
        self.runtime_classes = runtime_class_index(self.config.runtimeClasses)
        self._compiled: dict[KubeVersion, dict[str, _RuleSet]] = {}
        self.rules_for(self.default_version)

    def rules_for(self, version: KubeVersion) -> dict[str, _RuleSet]:
        """Rule sets by OS for a version, compiled on first use and kept."""
        by_os = self._compiled.get(version)
        if by_os is None:
            compiled = [
                r for r in self.catalog.compile_for(version, FUNCTIONS, PRECONDITIONS) if r.action
            ]
            by_os = {
                os_name: _layout([r for r in compiled if r.os in (os_name, "any")])
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
        """Evaluate one object. `namespace` overrides metadata.namespace (admission requests
        carry it separately); `namespace_policy` overrides the config's entry for it."""
        raw_kind = obj.get("kind")
        kind = raw_kind if isinstance(raw_kind, str) else "(no kind)"
        raw_metadata = obj.get("metadata")
        metadata: dict[str, Any] = raw_metadata if isinstance(raw_metadata, dict) else {}
        raw_name = metadata.get("name")
        name = raw_name if isinstance(raw_name, str) else None
        generate_name = metadata.get("generateName")
        if not name and isinstance(generate_name, str):
            name = generate_name + "*"
        raw_namespace = metadata.get("namespace")
        if namespace is None and isinstance(raw_namespace, str):
            namespace = raw_namespace
        result = Evaluation(str(kind), namespace, name, checked=False)
        template = pod_template_of(obj)
        if template is None:
            result.skipped_reason = (
                f"kind {kind} is not checked (checked: {', '.join(sorted(CHECKED_KINDS))})"
            )
            return result
        result.checked = True
        facts = pod_facts(template.pod)
        policy = (
            namespace_policy if namespace_policy is not None else self.namespace_policy(namespace)
        )
        runtime = runtime_classes if runtime_classes is not None else self.runtime_classes
        decision = self._decide(facts, runtime, policy)
        result.os = decision
        ruleset = self.rules_for(version or self.default_version)[decision.os]
        data = RuleInput(
            facts=facts,
            os=decision,
            params={},
            images=self.images,
            runtime_classes=runtime,
            exempt_annotation=self.config.exemptAnnotation,
            exempt_reason_annotation=self.config.exemptReasonAnnotation,
        )
        hits = _collect(ruleset, facts, data)
        if not hits:
            return result
        exemptions, reason = self._exemptions(facts)
        cap = _weakest(self.config.maxAction, policy.maxAction)
        os_name_windows = facts.os_name == "windows"
        prefix = template.prefix
        findings = result.findings
        for _, _, _, rule, path, value, key, action, message, fix in hits:
            override = policy.rules.get(rule.id) or self.config.rules.get(rule.id)
            if override == "off":
                continue
            if override:
                action = Action(override)
            elif rule.apiserver_rejects and os_name_windows:
                action = Action.DENY
            if cap is not None and ACTION_RANK[action] > ACTION_RANK[cap]:
                action = cap
            exempted = rule.id in exemptions or "*" in exemptions
            findings.append(
                Finding(
                    rule=rule.id,
                    action=action,
                    path=prefix + path,
                    message=rule.render(message, value, key),
                    fix=rule.render(fix, value, key),
                    exempted=exempted,
                    exemption_reason=reason if exempted else None,
                    apiserver_rejects=rule.apiserver_rejects,
                )
            )
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


# (rule order, test order, container order, rule, path, value, key, action, message, fix)
_Hit = tuple[int, int, int, CompiledRule, str, Any, str | None, Action, str, str]


def _collect(ruleset: _RuleSet, facts: PodFacts, data: RuleInput) -> list[_Hit]:
    hits: list[_Hit] = []
    for order, rule, function, precondition, action, message, fix in ruleset.functions:
        if precondition is not None and not precondition(facts):
            continue
        for hit in function(data if not rule.params else _with_params(data, rule.params)):
            hits.append(
                (
                    order,
                    0,
                    0,
                    rule,
                    hit.path,
                    hit.value,
                    None,
                    hit.action or action,
                    hit.message or message,
                    hit.fix or fix,
                )
            )
    ordinal = -1

    def emit(item: _Test, value: Any, key: str | None, path: str) -> None:
        # Only hits get here: the walker ran the test.
        order, test_order, rule, test = item
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
            )
        )

    ruleset.pod_tests(facts.pod, "", emit)
    container_tests = ruleset.container_tests
    for ordinal, ref in enumerate(facts.containers):  # noqa: B007 (emit reads it)
        container_tests(ref.container, ref.path, emit)
    if len(hits) > 1:
        hits.sort(key=lambda h: (h[0], h[1], h[2]))
    return hits


def _with_params(data: RuleInput, params: Mapping[str, Any]) -> RuleInput:
    return RuleInput(
        facts=data.facts,
        os=data.os,
        params=params,
        images=data.images,
        runtime_classes=data.runtime_classes,
        exempt_annotation=data.exempt_annotation,
        exempt_reason_annotation=data.exempt_reason_annotation,
    )


__all__ = ["Engine", "ShapeError"]
