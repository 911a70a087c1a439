"""Which OS a pod targets, and the evidence for it.

Evidence is ranked: spec.os.name, then placement (nodeSelector, required node affinity,
RuntimeClass scheduling), then HostProcess, then images, then hints (tolerations for the
Windows taint, windowsOptions). The strongest evidence decides; disagreement between two
pieces that both place the pod (anything but hints, and not image against image, which the
mixed-images rule reports) is a conflict the os-conflict rule reports.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from app.engine.images import ImageClassifier
from app.engine.podfacts import PodFacts

OS_LABELS = ("kubernetes.io/os", "beta.kubernetes.io/os")
WINDOWS_BUILD_LABEL = "node.kubernetes.io/windows-build"
# Platform labels that only Windows (or only Linux) nodes carry, e.g. AKS's os-sku.
_SKU_LABEL = "kubernetes.azure.com/os-sku"

# Evidence ranks: lower decides.
RANK_OS_NAME = 0
RANK_PLACEMENT = 1
RANK_HOST_PROCESS = 2
RANK_IMAGE = 3
RANK_HINT = 4
_OSES = frozenset({"windows", "linux"})


# Not frozen: built per object (why: app/engine/__init__.py).
@dataclass(slots=True)
class Evidence:
    os: str
    rank: int
    path: str  # pod-rooted field path
    reason: str

    def describe(self) -> str:
        return f"{self.path} ({self.reason})"


# Not frozen: built per object (why: app/engine/__init__.py).
@dataclass(slots=True)
class OSDecision:
    os: str  # windows | linux | unknown
    evidence: tuple[Evidence, ...]
    conflicts: tuple[tuple[Evidence, Evidence], ...] = ()
    defaulted_from: str | None = None  # set when no evidence and a default applied

    @property
    def deciding(self) -> Evidence | None:
        return self.evidence[0] if self.evidence else None

    def summary(self) -> str:
        if self.defaulted_from:
            return f"{self.os} (no evidence; default from {self.defaulted_from})"
        if not self.evidence:
            return "unknown (no OS evidence)"
        return f"{self.os} ({self.evidence[0].describe()})"


@dataclass(frozen=True, slots=True)
class RuntimeClassInfo:
    name: str
    handler: str
    node_selector: Mapping[str, str]
    tolerations: tuple[Mapping[str, Any], ...]


def runtime_class_index(objects: Iterable[Mapping[str, Any]]) -> dict[str, RuntimeClassInfo]:
    """RuntimeClass objects (as found in manifests or the cluster) by name; malformed ones skipped."""
    index: dict[str, RuntimeClassInfo] = {}
    for obj in objects:
        if not isinstance(obj, Mapping) or obj.get("kind") != "RuntimeClass":
            continue
        meta = obj.get("metadata")
        name = meta.get("name") if isinstance(meta, Mapping) else None
        if not isinstance(name, str):
            continue
        scheduling = obj.get("scheduling")
        scheduling = scheduling if isinstance(scheduling, Mapping) else {}
        selector = scheduling.get("nodeSelector")
        tolerations = scheduling.get("tolerations")
        handler = obj.get("handler")
        index[name] = RuntimeClassInfo(
            name=name,
            handler=handler if isinstance(handler, str) else "",
            node_selector={str(k): str(v) for k, v in selector.items() if isinstance(v, str)}
            if isinstance(selector, Mapping)
            else {},
            tolerations=tuple(t for t in tolerations if isinstance(t, Mapping))
            if isinstance(tolerations, list)
            else (),
        )
    return index


# Selectors repeat across pods (kubernetes.io/os=windows, a build or two): their evidence is
# built once per distinct (path, labels) and shared, read-only.
_SELECTOR_CACHE: dict[tuple[str, str, Any, Any, Any, Any], tuple[Evidence, ...]] = {}
_SELECTOR_CACHE_SIZE = 1024


def _selector_evidence(
    selector: Mapping[str, Any], path: str, via: str
) -> tuple[Evidence, ...]:
    key = (
        path,
        via,
        selector.get(OS_LABELS[0]),
        selector.get(OS_LABELS[1]),
        selector.get(WINDOWS_BUILD_LABEL),
        selector.get(_SKU_LABEL),
    )
    try:
        cached = _SELECTOR_CACHE.get(key)
    except TypeError:  # an unhashable label value (a malformed object): not cached
        return tuple(_selector_evidence_of(selector, path, via))
    if cached is None:
        cached = tuple(_selector_evidence_of(selector, path, via))
        if len(_SELECTOR_CACHE) < _SELECTOR_CACHE_SIZE:
            _SELECTOR_CACHE[key] = cached
    return cached


def _selector_evidence_of(selector: Mapping[str, Any], path: str, via: str) -> list[Evidence]:
    found: list[Evidence] = []
    for label in OS_LABELS:
        value = selector.get(label)
        if isinstance(value, str) and value in _OSES:
            key_path = f'{path}["{label}"]'
            found.append(Evidence(value, RANK_PLACEMENT, key_path, f"{via} {label}={value}"))
    build = selector.get(WINDOWS_BUILD_LABEL)
    if isinstance(build, str) and build:
        found.append(
            Evidence(
                "windows",
                RANK_PLACEMENT,
                f'{path}["{WINDOWS_BUILD_LABEL}"]',
                f"{via} {WINDOWS_BUILD_LABEL}={build}",
            )
        )
    sku = selector.get(_SKU_LABEL)
    if isinstance(sku, str) and sku:
        os_name = "windows" if sku.lower().startswith("windows") else "linux"
        found.append(
            Evidence(
                os_name, RANK_PLACEMENT, f'{path}["{_SKU_LABEL}"]', f"{via} {_SKU_LABEL}={sku}"
            )
        )
    return found


def _term_oses(term: Any) -> set[str]:
    """The OSes a node must have to match one nodeSelectorTerm (all OSes if unconstrained)."""
    allowed = set(_OSES)
    if not isinstance(term, dict):
        return allowed
    expressions = term.get("matchExpressions")
    if not isinstance(expressions, list):
        return allowed
    for expr in expressions:
        if not isinstance(expr, dict):
            continue
        key, op = expr.get("key"), expr.get("operator")
        raw_values = expr.get("values")
        # Only strings can be label values; anything else in a malformed object is ignored.
        values = (
            [v for v in raw_values if isinstance(v, str)] if isinstance(raw_values, list) else []
        )
        if key in OS_LABELS:
            if op == "In":
                allowed &= {v for v in values if v in _OSES}
            elif op == "NotIn":
                allowed -= set(values)
            elif op == "DoesNotExist":
                allowed = set()
        elif key == WINDOWS_BUILD_LABEL:
            if op in ("In", "Exists"):
                allowed &= {"windows"}
            elif op == "DoesNotExist":
                allowed &= {"linux"}
    return allowed


def _affinity_evidence(spec: Mapping[str, Any]) -> list[Evidence]:
    path = "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution"
    affinity = spec.get("affinity")
    node_affinity = affinity.get("nodeAffinity") if isinstance(affinity, dict) else None
    required = (
        node_affinity.get("requiredDuringSchedulingIgnoredDuringExecution")
        if isinstance(node_affinity, dict)
        else None
    )
    terms = required.get("nodeSelectorTerms") if isinstance(required, dict) else None
    if not isinstance(terms, list) or not terms:
        return []
    reachable: set[str] = set()
    for term in terms:  # terms are ORed
        reachable |= _term_oses(term)
    if len(reachable) == 1:
        os_name = next(iter(reachable))
        return [
            Evidence(
                os_name, RANK_PLACEMENT, path, f"required node affinity admits only {os_name} nodes"
            )
        ]
    return []


def _tolerates(tolerations: Any, taint_key: str, taint_value: str | None, effect: str) -> bool:
    if not isinstance(tolerations, list):
        return False
    for tol in tolerations:
        if not isinstance(tol, dict) or tol.get("key") != taint_key:
            continue  # a key-less Exists toleration tolerates everything: not a Windows hint
        if tol.get("effect") not in (None, "", effect):
            continue
        if tol.get("operator") == "Exists" or tol.get("value") == taint_value:
            return True
    return False


class OSInferrer:
    """Built once per config; `infer` is called per pod."""

    def __init__(
        self,
        images: ImageClassifier,
        windows_taints: Iterable[tuple[str, str | None, str]],
    ) -> None:
        self._images = images
        self._taints = tuple(windows_taints)

    def evidence(
        self, facts: PodFacts, runtime_classes: Mapping[str, RuntimeClassInfo]
    ) -> list[Evidence]:
        spec = facts.spec
        found: list[Evidence] = []
        os_name = facts.os_name
        if os_name in _OSES:
            found.append(Evidence(os_name, RANK_OS_NAME, "spec.os.name", f"spec.os.name={os_name}"))
        selector = spec.get("nodeSelector")
        if isinstance(selector, dict):
            found.extend(_selector_evidence(selector, "spec.nodeSelector", "nodeSelector"))
        found.extend(_affinity_evidence(spec))
        rc_name = spec.get("runtimeClassName")
        if isinstance(rc_name, str) and rc_name in runtime_classes:
            rc = runtime_classes[rc_name]
            rc_found = _selector_evidence(
                rc.node_selector, "spec.runtimeClassName", f"RuntimeClass {rc_name} nodeSelector"
            )
            if not rc_found and ("wcow" in rc.handler or "runhcs" in rc.handler):
                rc_found = (
                    Evidence(
                        "windows",
                        RANK_PLACEMENT,
                        "spec.runtimeClassName",
                        f"RuntimeClass {rc_name} handler {rc.handler}",
                    ),
                )
            found.extend(rc_found)
        if facts.pod_host_process:
            found.append(
                Evidence(
                    "windows",
                    RANK_HOST_PROCESS,
                    "spec.securityContext.windowsOptions.hostProcess",
                    "HostProcess pod",
                )
            )
        for ref, host_process in zip(facts.containers, facts.container_host_process, strict=True):
            if host_process and not facts.pod_host_process:
                found.append(
                    Evidence(
                        "windows",
                        RANK_HOST_PROCESS,
                        f"{ref.path}.securityContext.windowsOptions.hostProcess",
                        "HostProcess container",
                    )
                )
        images = facts.images
        images.clear()
        for ref in facts.containers:
            image = ref.container.get("image")
            if isinstance(image, str):
                image_os = self._images.os_of(image)
                image_path = f"{ref.path}.image"
                images.append((image_path, image, image_os))
                if image_os:
                    found.append(
                        Evidence(image_os, RANK_IMAGE, image_path, f"{image_os}-only image {image}")
                    )
        if facts.pod_windows_options and not facts.pod_host_process:
            found.append(
                Evidence(
                    "windows",
                    RANK_HINT,
                    "spec.securityContext.windowsOptions",
                    "windowsOptions set",
                )
            )
        tolerations = spec.get("tolerations")
        for key, value, effect in self._taints:
            if _tolerates(tolerations, key, value, effect):
                found.append(
                    Evidence(
                        "windows",
                        RANK_HINT,
                        "spec.tolerations",
                        f"tolerates the Windows taint {key}={value or ''}:{effect}",
                    )
                )
                break
        found.sort(key=lambda e: e.rank)
        return found

    def infer(
        self,
        facts: PodFacts,
        runtime_classes: Mapping[str, RuntimeClassInfo],
        default_os: str = "unknown",
        default_from: str = "config",
    ) -> OSDecision:
        found = self.evidence(facts, runtime_classes)
        if not found:
            if default_os in _OSES:
                return OSDecision(default_os, (), (), default_from)
            return OSDecision("unknown", ())
        deciding = found[0]
        image_oses = {e.os for e in found if e.rank == RANK_IMAGE}
        # Images that disagree among themselves are the mixed-images rule's finding, not this one.
        skip_images = len(image_oses) > 1
        conflicts = tuple(
            (deciding, other)
            for other in found[1:]
            if other.os != deciding.os
            and other.rank != RANK_HINT
            and not (other.rank == RANK_IMAGE and (skip_images or deciding.rank == RANK_IMAGE))
        )
        return OSDecision(deciding.os, tuple(found), conflicts)
