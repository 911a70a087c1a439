"""Pod -> JSON Patch that places it on the right OS (issue 4). Pure: no framework imports.

Contract (the webhook's /mutate and `winpod mutate` both call this):

    mutate_pod(engine, pod, *, namespace=None, runtime_classes=None, namespace_policy=None)
        -> MutationResult(patch: list[dict], warnings: list[str], mutated: dict,
                          evaluation: Evaluation)

`patch` is RFC 6902 operations against `pod`; `mutated` is the pod with them applied;
`evaluation` is the engine's verdict on the mutated pod (so /mutate can deny early with the same
message /validate gives); `warnings` says what was injected and why (the OS evidence).

`mutate_object` does the same for any checked kind; for workloads the patch paths point into the
pod template (spec.template..., for previews: workloads themselves are never mutated at admission).

Never fight the user: only `add` operations are produced, each for a value that is absent, so an
existing value is never overwritten; evidence that disagrees (a conflict, or images of both OSes)
gets no patch at all, and hints (a toleration, windowsOptions: agents that run on both OSes carry
them too) never decide, so a pod with only hints gets none either; the validating side reports
both. The one exception is opt-in: `mutation.windowsDropLinuxFields` removes the Linux-only
fields Windows ignores so that spec.os.name can be stamped. Reinvocation-safe: what is added only
agrees with the evidence that decided, so mutating the result yields an empty patch.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .checks import RuleInput
from .evaluate import Engine
from .findings import Evaluation
from .images import windows_build_of
from .judge import Context
from .kubeversion import KubeVersion
from .osinfer import (
    WINDOWS_BUILD_LABEL,
    OSDecision,
    RuntimeClassInfo,
    tolerates,
)
from .paths import parse_path
from .podfacts import PodFacts, pod_facts
from .settings import NamespacePolicy, Taint
from .subject import Subject, subject_of
from .text import shorten
from .visit import PodTemplate, pod_template_of

OS_LABEL = "kubernetes.io/os"
# spec.os went GA in 1.25; before that the field is dropped (or rejected) by the apiserver.
OS_FIELD_SINCE = KubeVersion(1, 25)
_HYPERV_ANNOTATION = "experimental.windows.kubernetes.io/isolation-type"
# The apiserver may truncate longer admission warnings.
_MAX_WARNING = 256

Tokens = tuple[str, ...]


@dataclass(frozen=True, slots=True)
class MutationResult:
    patch: list[dict[str, Any]]
    warnings: list[str]
    mutated: dict[str, Any]
    evaluation: Evaluation

    @property
    def changed(self) -> bool:
        return bool(self.patch)


@dataclass(frozen=True, slots=True)
class _Op:
    """One `add` (or, for windowsDropLinuxFields only, `remove`) operation, pod-rooted, as
    unescaped pointer tokens."""

    tokens: Tokens
    value: Any
    remove: bool = False


def mutate_pod(
    engine: Engine,
    pod: dict[str, Any],
    *,
    namespace: str | None = None,
    runtime_classes: Mapping[str, RuntimeClassInfo] | None = None,
    namespace_policy: NamespacePolicy | None = None,
    version: KubeVersion | None = None,
) -> MutationResult:
    """Mutate a Pod (as the /mutate webhook receives it; its kind is Pod whatever it says)."""
    subject = subject_of(pod, kind="Pod", namespace=namespace)
    return mutate_subject(engine, subject, Context(version, runtime_classes, namespace_policy))


def mutate_object(
    engine: Engine,
    obj: dict[str, Any],
    *,
    namespace: str | None = None,
    runtime_classes: Mapping[str, RuntimeClassInfo] | None = None,
    namespace_policy: NamespacePolicy | None = None,
    version: KubeVersion | None = None,
) -> MutationResult:
    """Mutate a Pod, or a workload's pod template (for previews). Kinds that hold no pod get an
    empty patch. May raise ShapeError, like Engine.evaluate."""
    subject = subject_of(obj, namespace=namespace)
    return mutate_subject(engine, subject, Context(version, runtime_classes, namespace_policy))


def json_pointer(tokens: Iterable[str]) -> str:
    """RFC 6901: '~' -> '~0' first, then '/' -> '~1' (kubernetes.io/os -> kubernetes.io~1os)."""
    return "".join("/" + t.replace("~", "~0").replace("/", "~1") for t in tokens)


def mutate_subject(engine: Engine, subject: Subject, context: Context) -> MutationResult:
    """The patch for a Subject (pod-template paths for workloads), and the engine's verdict on
    the object as patched."""
    obj = subject.obj
    template = subject.template
    pod = template.pod if template is not None else {}
    prefix: Tokens = (
        tuple(template.prefix.rstrip(".").split(".")) if template and template.prefix else ()
    )
    version = context.version
    runtime_classes = context.runtime_classes

    def evaluate(target: dict[str, Any]) -> Evaluation:
        # The patched object is the subject's with the same kind and namespace: only the pod
        # changed, and its shape was checked when the subject was built.
        changed = Subject(
            target,
            subject.kind,
            subject.name,
            subject.namespace,
            _template_of(target, subject.kind),
        )
        return engine.evaluate_subject(changed, context)

    def apply(ops: list[_Op]) -> dict[str, Any]:
        return _applied(obj, [(prefix + op.tokens, op.value, op.remove) for op in ops])

    policy = context.namespace_policy
    if policy is None:
        policy = engine.namespace_policy(subject.namespace)
    runtime = runtime_classes if runtime_classes is not None else engine.runtime_classes
    ops: list[_Op] = []
    warnings: list[str] = []
    spec = pod.get("spec")
    mutated = obj
    evaluation: Evaluation | None = None
    if isinstance(spec, dict):
        facts = pod_facts(pod)
        decision = engine.infer_os(
            pod, runtime_classes=runtime, namespace_policy=policy, facts=facts
        )
        target = version or engine.default_version
        plan = _Planner(engine, facts, spec, decision, runtime, target, prefix)
        ops, warning = plan.ops([])
        mutated = apply(ops)
        evaluation = evaluate(mutated)
        # Paths the apiserver rejects once spec.os.name is set: stamping the field on such a pod
        # would turn a pod that runs today into one that cannot be created. The mutated pod's
        # findings are the original's (only placement was added), so one evaluation serves
        # both, and only such a pod is planned and evaluated again.
        rejected = [f.path for f in evaluation.findings if f.apiserver_rejects]
        if rejected and plan.stamped_os and engine.config.profile != "apiserver":
            local = [_pod_path(path, prefix) for path in rejected]
            unstamped, unstamped_warning = plan.ops(local)
            without_os = evaluate(apply(unstamped))
            if engine.config.mutation.windowsDropLinuxFields and not without_os.denied:
                # Everything the apiserver would reject is a Linux-only field that Windows
                # ignores (nothing in the pod cannot work): drop them and stamp the OS.
                ops = ops + [_Op(tokens, None, remove=True) for tokens in _tokens_of(local)]
                warning = _joined(
                    warning,
                    f"removed {', '.join(rejected[:3])}"
                    f"{' and more' if len(rejected) > 3 else ''} (ignored on Windows;"
                    " the apiserver rejects them once spec.os.name is windows)",
                )
                mutated = apply(ops)
                evaluation = evaluate(mutated)
            else:
                ops, warning, mutated, evaluation = (
                    unstamped,
                    unstamped_warning,
                    apply(unstamped),
                    without_os,
                )
        if warning:
            warnings.append(_short(warning))
    patch = [
        {"op": "remove", "path": json_pointer(prefix + op.tokens)}
        if op.remove
        else {"op": "add", "path": json_pointer(prefix + op.tokens), "value": op.value}
        for op in ops
    ]
    if evaluation is None:
        evaluation = evaluate(mutated)
    return MutationResult(patch, warnings, mutated, evaluation)


def _joined(first: str | None, second: str) -> str:
    return f"{first}; {second}" if first else second


def _pod_path(path: str, prefix: Tokens) -> str:
    """A finding's path (object-rooted) as a pod-rooted one."""
    lead = ".".join(prefix) + "." if prefix else ""
    return path[len(lead) :] if lead and path.startswith(lead) else path


def _tokens_of(paths: Iterable[str]) -> list[Tokens]:
    found: list[Tokens] = []
    for path in paths:
        tokens = tuple(str(arg) for kind, arg in parse_path(path))
        if tokens not in found:
            found.append(tokens)
    return found


class _Planner:
    """What to inject into one pod; `ops(rejected)` plans with the paths the apiserver would
    reject once spec.os.name is stamped (non-empty: leave spec.os.name unset)."""

    def __init__(
        self,
        engine: Engine,
        facts: PodFacts,
        spec: dict[str, Any],
        decision: OSDecision,
        runtime: Mapping[str, RuntimeClassInfo],
        version: KubeVersion,
        prefix: Tokens = (),
    ) -> None:
        self.engine, self.facts, self.spec = engine, facts, spec
        # Messages name paths in the object (a workload's spec.template.spec...), as findings do.
        self.lead = ".".join(prefix) + "." if prefix else ""
        self.decision, self.runtime = decision, runtime
        self.version = version
        self.with_os_field = version >= OS_FIELD_SINCE
        self.stamped_os = False

    def ops(self, rejected: list[str]) -> tuple[list[_Op], str | None]:
        engine, facts, spec, decision = self.engine, self.facts, self.spec, self.decision
        settings = engine.config.mutation
        strict = engine.config.profile == "apiserver"
        os_name = decision.os
        adds: list[_Op] = []
        parts: list[str] = []
        skipped = ""
        if os_name not in ("windows", "linux"):
            if (
                engine.config.mixedCluster
                and settings.linuxNodeSelector
                and _linux_only(engine, facts, decision, self.version)
            ):
                # The DaemonSet problem: Linux-only, unplaced, tolerating Windows nodes.
                _select(spec, {OS_LABEL: "linux"}, adds, parts)
                return adds, (
                    f"winpod set {', '.join(parts)} (mixed cluster: the pod uses Linux-only"
                    " features and tolerates Windows nodes)"
                ) if parts else None
            return [], None  # no evidence and no default: leave placement to the user
        deciding = decision.deciding
        opposed = [e for e in decision.evidence if e.os != os_name]
        if deciding is not None and opposed:
            return [], (
                f"winpod injected nothing: conflicting OS evidence, {deciding.describe()}"
                f" vs {opposed[0].describe()}"
            )
        if os_name == "windows":
            wanted: dict[str, str] = {}
            if settings.windowsNodeSelector:
                wanted[OS_LABEL] = "windows"
            if settings.windowsBuildSelector:
                build = _single_build(engine, facts, spec, self.runtime)
                if build:
                    wanted[WINDOWS_BUILD_LABEL] = build
            _select(spec, wanted, adds, parts)
            if settings.windowsTolerations:
                _tolerate(spec, engine.config.windowsTaints, self.runtime, adds, parts)
            if (settings.windowsOSName or strict) and self.with_os_field:
                if rejected and spec.get("os") is None:
                    skipped = (
                        f"left {self.lead}spec.os.name unset: the apiserver would then reject"
                        f" {self.lead}{rejected[0]}"
                        f"{' and more' if len(rejected) > 1 else ''}"
                    )
                else:
                    self.stamped_os = _set_os_name(spec, "windows", adds, parts) or self.stamped_os
        else:
            if settings.linuxNodeSelector:
                _select(spec, {OS_LABEL: "linux"}, adds, parts)
            # The apiserver rejects windowsOptions on a pod whose spec.os.name is linux.
            if (
                (settings.linuxOSName or strict)
                and self.with_os_field
                and (strict or not _has_windows_options(facts))
            ):
                self.stamped_os = _set_os_name(spec, "linux", adds, parts) or self.stamped_os
        if not parts and not skipped:
            return adds, None
        what = "; ".join(
            x for x in (f"winpod set {', '.join(parts)}" if parts else "", skipped) if x
        )
        if deciding is None:
            return adds, (
                f"{what} (no OS evidence; default {os_name} from {decision.defaulted_from})"
            )
        # Long image names are cut, not what was injected.
        room = _MAX_WARNING - len(what) - len(" (evidence: )")
        evidence = f"{self.lead}{deciding.describe()}"
        if len(evidence) > room:
            evidence = evidence[: max(room - 3, 0)] + "..."
        return adds, f"{what} (evidence: {evidence})"


_LINUX_ONLY_RULE = "linux-only-pod-tolerates-windows"


def _linux_only(
    engine: Engine, facts: PodFacts, decision: OSDecision, version: KubeVersion
) -> bool:
    """Whether the linux-only-pod-tolerates-windows rule, as the target version has it, fires
    on these facts."""
    known = engine.rules_for(version)["unknown"].rules.get(_LINUX_ONLY_RULE)
    function = known[1].function if known is not None else None
    if function is None:
        return False
    data = RuleInput(
        facts=facts,
        os=decision,
        params={},
        images=engine.images,
        runtime_classes=engine.runtime_classes,
        exempt_annotation="",
        exempt_reason_annotation="",
        windows_taints=engine.windows_taints,
    )
    return any(True for _ in function(data))


def _select(
    spec: dict[str, Any], wanted: dict[str, str], adds: list[_Op], parts: list[str]
) -> None:
    selector = spec.get("nodeSelector")
    if selector is None:
        added = dict(wanted)
        if added:
            adds.append(_Op(("spec", "nodeSelector"), added))
    elif isinstance(selector, dict):
        # Present with any value (even a different one) is the user's choice.
        added = {k: v for k, v in wanted.items() if selector.get(k) is None}
        adds.extend(_Op(("spec", "nodeSelector", k), v) for k, v in added.items())
    else:
        return  # not a mapping: the apiserver rejects the pod, nothing to place
    if added:
        parts.append("nodeSelector " + ", ".join(f"{k}={v}" for k, v in added.items()))


def _tolerate(
    spec: dict[str, Any],
    taints: Iterable[Taint],
    runtime: Mapping[str, RuntimeClassInfo],
    adds: list[_Op],
    parts: list[str],
) -> None:
    existing = spec.get("tolerations")
    if existing is not None and not isinstance(existing, list):
        return
    present: list[Any] = list(existing or [])
    # The RuntimeClass admission plugin merges these into the pod; count them as present.
    rc_name = spec.get("runtimeClassName")
    if isinstance(rc_name, str) and rc_name in runtime:
        present.extend(runtime[rc_name].tolerations)
    new: list[dict[str, str]] = []
    for taint in taints:
        if any(tolerates(t, taint.key, taint.value, taint.effect) for t in present):
            continue
        toleration = _toleration_for(taint)
        new.append(toleration)
        present.append(toleration)
        parts.append(
            f"toleration {taint.key}{'=' + taint.value if taint.value else ''}:{taint.effect}"
        )
    if not new:
        return
    if existing is None:
        adds.append(_Op(("spec", "tolerations"), new))
    else:
        adds.extend(_Op(("spec", "tolerations", "-"), t) for t in new)


def _toleration_for(taint: Taint) -> dict[str, str]:
    if taint.value:
        return {"key": taint.key, "operator": "Equal", "value": taint.value, "effect": taint.effect}
    return {"key": taint.key, "operator": "Exists", "effect": taint.effect}


def _set_os_name(spec: dict[str, Any], name: str, adds: list[_Op], parts: list[str]) -> bool:
    current = spec.get("os")
    if current is None:
        adds.append(_Op(("spec", "os"), {"name": name}))
    elif isinstance(current, dict) and current.get("name") is None:
        adds.append(_Op(("spec", "os", "name"), name))
    else:
        return False  # already named (the same or, a conflict the validating side reports)
    parts.append(f"spec.os.name={name}")
    return True


def _single_build(
    engine: Engine,
    facts: PodFacts,
    spec: dict[str, Any],
    runtime: Mapping[str, RuntimeClassInfo],
) -> str | None:
    """The one Windows build every Windows image in the pod names, else None."""
    if facts.any_host_process:
        return None  # HostProcess containers run on the host, not in a build-matched silo
    annotations = facts.metadata.get("annotations")
    if isinstance(annotations, dict) and annotations.get(_HYPERV_ANNOTATION) == "hyperv":
        return None  # Hyper-V isolation runs older images on newer hosts
    rc_name = spec.get("runtimeClassName")
    if isinstance(rc_name, str) and rc_name in runtime and "hypervisor" in runtime[rc_name].handler:
        return None
    if WINDOWS_BUILD_LABEL in repr(spec.get("affinity")):
        return None  # the user already constrains builds through affinity
    builds: set[str | None] = set()
    for ref in facts.containers:
        image = ref.container.get("image")
        if isinstance(image, str) and engine.images.os_of(image) == "windows":
            builds.add(windows_build_of(image))
    if len(builds) != 1:
        return None
    return next(iter(builds))


def _has_windows_options(facts: PodFacts) -> bool:
    return bool(facts.pod_windows_options) or any(facts.container_windows_options)


def _applied(obj: dict[str, Any], ops: list[tuple[Tokens, Any, bool]]) -> dict[str, Any]:
    """`obj` with the operations applied, leaving `obj` untouched. Only the dicts and lists on
    the patched paths are copied; the rest is shared with the input (a deep copy of a whole pod
    was most of /mutate's cost). Callers must treat the result as read-only."""
    root = dict(obj)
    copied: set[int] = {id(root)}
    for tokens, value, remove in ops:
        node: Any = root
        for token in tokens[:-1]:
            child = node[int(token)] if isinstance(node, list) else node[token]
            if id(child) not in copied:
                child = dict(child) if isinstance(child, dict) else list(child)
                if isinstance(node, list):
                    node[int(token)] = child
                else:
                    node[token] = child
                copied.add(id(child))
            node = child
        last = tokens[-1]
        if remove:
            if isinstance(node, dict):
                node.pop(last, None)
        elif last == "-" and isinstance(node, list):
            node.append(_json_copy(value))
        else:
            node[last] = _json_copy(value)
    return root


def _json_copy(value: Any) -> Any:
    """A copy of a JSON value (the patch keeps its own): copy.deepcopy's memo and dispatch cost
    three times as much on these few small dicts."""
    if isinstance(value, dict):
        return {k: _json_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_copy(v) for v in value]
    return value


def _short(text: str) -> str:
    return shorten(text, _MAX_WARNING)


def _template_of(obj: dict[str, Any], kind: str) -> PodTemplate | None:
    """The pod template of a patched copy, at the same place as the original's."""
    return pod_template_of(obj, kind)
