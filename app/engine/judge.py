"""The one engine call every surface makes: judge a Subject in its Context, optionally as the
mutating webhook would leave it first.

`Context` says where the object is admitted: the target Kubernetes version, the RuntimeClasses,
the namespace's policy. `context_of` builds it in the one place that knows the precedence (an
explicit setting, then what the cluster says, then the engine's config), for the webhook, for
`winpod check` (with or without --cluster) and for `winpod audit` alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from .kubeversion import KubeVersion
from .osinfer import RuntimeClassInfo
from .settings import NamespacePolicy

if TYPE_CHECKING:
    from .evaluate import Engine
    from .findings import Evaluation
    from .mutate import MutationResult
    from .subject import Subject


class ClusterFacts(Protocol):
    """What a cluster says (a ClusterView answers it; None: use the engine's config)."""

    def runtime_classes(self) -> Mapping[str, RuntimeClassInfo] | None: ...

    def namespace_policy(self, namespace: str) -> NamespacePolicy | None: ...

    def version(self) -> KubeVersion | None: ...


@dataclass(frozen=True, slots=True)
class Context:
    version: KubeVersion | None = None  # None: the engine's default
    runtime_classes: Mapping[str, RuntimeClassInfo] | None = None  # None: the config's
    namespace_policy: NamespacePolicy | None = None  # None: the config's entry
    # None: every finding is built (check, audit). A surface that shows only the first few
    # (the webhook) builds this many per rule and outcome and counts the rest (Finding.more).
    findings_per_rule: int | None = None


def context_of(
    cluster: ClusterFacts | None,
    namespace: str | None,
    *,
    version: KubeVersion | None = None,
    runtime_classes: Mapping[str, RuntimeClassInfo] | None = None,
    findings_per_rule: int | None = None,
) -> Context:
    """Explicit values win, then the cluster's, then (None) the engine's config."""
    if cluster is not None:
        if version is None:
            version = cluster.version()
        if runtime_classes is None:
            runtime_classes = cluster.runtime_classes()
    policy = cluster.namespace_policy(namespace) if cluster is not None and namespace else None
    return Context(version, runtime_classes, policy, findings_per_rule)


@dataclass(slots=True)
class Judgement:
    subject: Subject
    evaluation: Evaluation
    mutation: MutationResult | None = None  # with mutate=True, for a checked kind


def judge(engine: Engine, subject: Subject, context: Context, *, mutate: bool = False) -> Judgement:
    if mutate and subject.template is not None:
        from .mutate import mutate_subject

        result = mutate_subject(engine, subject, context)
        return Judgement(subject, result.evaluation, result)
    return Judgement(subject, engine.evaluate_subject(subject, context))
