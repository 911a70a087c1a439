"""`winpod audit`: what already runs in a cluster, evaluated with the engine, page by page.

Memory stays bounded by the page size, not the cluster: objects are listed with limit/continue
and dropped after evaluation; per-object output streams; PolicyReport results are spooled to a
temporary file (one JSON line each, with per-namespace offsets) and read back one namespace at
a time.

Pods owned by a controller that the audit also lists (ReplicaSet, StatefulSet, DaemonSet, Job,
ReplicationController), ReplicaSets owned by a Deployment and Jobs owned by a CronJob are not
evaluated again: their controller's template is, and it is what a fix changes. Their number is
reported. Pods owned by anything else (a custom controller, or no owner) are evaluated.
"""

from __future__ import annotations

import tempfile
import time
from array import array
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import IO, Any

import orjson

from ..clusterview import ClusterView
from ..config import Action
from ..engine.evaluate import Engine
from ..engine.findings import Evaluation
from ..engine.judge import context_of, judge
from ..engine.subject import subject_of
from .client import ClusterError, describe_error, list_pages
from .policyreport import ObjectRef, error_result, evaluation_results, timestamp


@dataclass(frozen=True, slots=True)
class AuditedKind:
    kind: str
    api_version: str
    plural: str

    @property
    def group(self) -> str:
        return self.api_version.rpartition("/")[0]

    def path(self, namespace: str | None) -> str:
        base = "/api/v1" if self.api_version == "v1" else f"/apis/{self.api_version}"
        where = f"/namespaces/{namespace}" if namespace else ""
        return f"{base}{where}/{self.plural}"


KINDS = (
    AuditedKind("Deployment", "apps/v1", "deployments"),
    AuditedKind("StatefulSet", "apps/v1", "statefulsets"),
    AuditedKind("DaemonSet", "apps/v1", "daemonsets"),
    AuditedKind("ReplicaSet", "apps/v1", "replicasets"),
    AuditedKind("CronJob", "batch/v1", "cronjobs"),
    AuditedKind("Job", "batch/v1", "jobs"),
    AuditedKind("ReplicationController", "v1", "replicationcontrollers"),
    AuditedKind("PodTemplate", "v1", "podtemplates"),
    AuditedKind("Pod", "v1", "pods"),
)

# (API group, kind) of controllers whose template the audit evaluates.
_COVERING_OWNERS = {(k.group, k.kind) for k in KINDS if k.kind not in ("Pod", "PodTemplate")}


def covering_owner(obj: Mapping[str, Any]) -> str | None:
    """ "Kind/name" of the audited controller that owns this object, if any."""
    meta = obj.get("metadata")
    owners = meta.get("ownerReferences") if isinstance(meta, Mapping) else None
    if not isinstance(owners, list):
        return None
    for owner in owners:
        if not isinstance(owner, Mapping) or owner.get("controller") is not True:
            continue
        group = str(owner.get("apiVersion") or "").rpartition("/")[0]
        if (group, owner.get("kind")) in _COVERING_OWNERS:
            return f"{owner.get('kind')}/{owner.get('name')}"
    return None


@dataclass
class AuditSummary:
    listed: Counter[str] = field(default_factory=Counter)  # by kind
    checked: int = 0
    covered: Counter[str] = field(default_factory=Counter)  # by kind of the skipped object
    denied: int = 0
    warned: int = 0
    clean: int = 0
    errors: int = 0
    findings: Counter[str] = field(default_factory=Counter)  # by action (and "exempted")
    rules: Counter[tuple[str, str]] = field(default_factory=Counter)  # (rule, action)
    namespaces: set[str] = field(default_factory=set)
    pages: int = 0
    seconds: float = 0.0
    started: float = field(default_factory=time.monotonic)  # the audit's own clock, from creation

    def as_dict(self) -> dict[str, Any]:
        return {
            "listed": dict(self.listed),
            "listedTotal": sum(self.listed.values()),
            "checked": self.checked,
            "skippedCoveredByController": dict(self.covered),
            "denied": self.denied,
            "warned": self.warned,
            "clean": self.clean,
            "errors": self.errors,
            "findings": dict(self.findings),
            "rules": [
                {"rule": rule, "action": action, "count": count}
                for (rule, action), count in sorted(self.rules.items(), key=lambda i: (-i[1], i[0]))
            ],
            "namespaces": len(self.namespaces),
            "pages": self.pages,
            "seconds": round(self.seconds, 3),
        }


@dataclass(frozen=True, slots=True)
class Audited:
    """One evaluated object, handed to the output as it is produced."""

    ref: ObjectRef
    evaluation: Evaluation | None
    error: str | None = None


class ResultSpool:
    """PolicyReport results on disk, read back one namespace at a time."""

    def __init__(self) -> None:
        # Closed by close(); a context manager cannot span the audit's generator.
        self._file: IO[bytes] = tempfile.TemporaryFile(prefix="winpod-audit-")  # noqa: SIM115
        self._offsets: dict[str, array[int]] = {}
        self.summaries: dict[str, Counter[str]] = {}

    def add(self, namespace: str, result: dict[str, Any]) -> None:
        self._offsets.setdefault(namespace, array("q")).append(self._file.tell())
        self.summaries.setdefault(namespace, Counter())[result["result"]] += 1
        self._file.write(orjson.dumps(result) + b"\n")

    def namespaces(self) -> list[str]:
        return sorted(self._offsets)

    def results(self, namespace: str) -> Iterator[dict[str, Any]]:
        end = self._file.tell()
        try:
            for offset in self._offsets.get(namespace, ()):
                self._file.seek(offset)
                yield orjson.loads(self._file.readline())
        finally:
            self._file.seek(end)

    def close(self) -> None:
        self._file.close()


Evaluate = Callable[[Mapping[str, Any], str], Evaluation]


def engine_evaluator(engine: Engine, view: ClusterView, *, mutate: bool = False) -> Evaluate:
    """Evaluate as the webhook would in this cluster: its RuntimeClasses, the namespace's
    policy, its version; with `mutate`, the verdict on the object after winpod's mutation."""

    def evaluate(obj: Mapping[str, Any], namespace: str) -> Evaluation:
        subject = subject_of(dict(obj), namespace=namespace)
        return judge(engine, subject, context_of(view, namespace), mutate=mutate).evaluation

    return evaluate


def list_objects(
    client: Any,
    namespaces: list[str] | None,
    page_size: int,
    summary: AuditSummary,
    kinds: tuple[AuditedKind, ...] = KINDS,
) -> Iterator[tuple[AuditedKind, dict[str, Any]]]:
    """Every object of the audited kinds, one page in memory at a time."""
    from kubernetes.client import ApiException

    for kind in kinds:
        scopes: list[str | None] = list(namespaces) if namespaces else [None]
        for namespace in scopes:
            path = kind.path(namespace)
            try:
                for page in list_pages(client, path, page_size=page_size):
                    summary.pages += 1
                    for obj in page:
                        summary.listed[kind.kind] += 1
                        yield kind, obj
            except ApiException as exc:
                if exc.status == 410:
                    raise ClusterError(
                        f"listing {path}: the paged list expired before it finished (410 Gone: "
                        "the apiserver compacted its history); run again, or with a larger "
                        "--page-size"
                    ) from exc
                raise ClusterError(f"listing {path}: {describe_error(exc)}") from exc
            except ClusterError:
                raise
            except Exception as exc:
                raise ClusterError(f"listing {path}: {describe_error(exc)}") from exc


def audit(
    objects: Iterator[tuple[AuditedKind, dict[str, Any]]],
    evaluate: Evaluate,
    summary: AuditSummary,
    *,
    spool: ResultSpool | None = None,
    progress: Callable[[AuditSummary], None] | None = None,
) -> Iterator[Audited]:
    """Evaluate each object; yield the ones with findings or errors (clean ones only count)."""
    ts = timestamp()
    for kind, obj in objects:
        found_meta = obj.get("metadata")
        meta: dict[str, Any] = found_meta if isinstance(found_meta, dict) else {}
        namespace = str(meta.get("namespace") or "")
        if covering_owner(obj):
            summary.covered[kind.kind] += 1
            continue
        obj.setdefault("kind", kind.kind)  # list items arrive without kind/apiVersion
        obj.setdefault("apiVersion", kind.api_version)
        ref = ObjectRef(
            kind.api_version,
            kind.kind,
            namespace,
            str(meta.get("name") or ""),
            str(meta.get("uid") or ""),
        )
        summary.namespaces.add(namespace)
        try:
            evaluation = evaluate(obj, namespace)
        except ValueError as exc:  # ShapeError: a malformed object, reported, never a crash
            summary.errors += 1
            message = f"{kind.kind} {namespace}/{ref.name}: cannot be evaluated: {exc}"
            if spool is not None:
                spool.add(namespace, error_result(ref, message, ts))
            yield Audited(ref, None, message)
            continue
        summary.checked += 1
        _count(summary, evaluation)
        if spool is not None:
            for result in evaluation_results(ref, evaluation, ts):
                spool.add(namespace, result)
        if evaluation.findings:
            yield Audited(ref, evaluation)
        if progress is not None:
            progress(summary)
    summary.seconds = time.monotonic() - summary.started


def _count(summary: AuditSummary, evaluation: Evaluation) -> None:
    active = [f for f in evaluation.findings if not f.exempted]
    for finding in evaluation.findings:
        key = "exempted" if finding.exempted else finding.action.value
        summary.findings[key] += 1
        if not finding.exempted:
            summary.rules[(finding.rule, finding.action.value)] += 1
    if any(f.action is Action.DENY for f in active):
        summary.denied += 1
    elif any(f.action is Action.WARN for f in active):
        summary.warned += 1
    elif not active:
        summary.clean += 1
    else:
        summary.warned += 1  # audit-only findings: reported with the warned objects
