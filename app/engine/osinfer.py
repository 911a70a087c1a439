"""Which OS a pod targets, and the evidence for it.

Placement decides; hints only hint. Evidence, strongest first: `spec.os.name`; placement
(nodeSelector, required node affinity, RuntimeClass scheduling); well-known OS-only images
(by repository). Hints: HostProcess and other windowsOptions, tolerations of the Windows taint,
drive-letter paths and Windows commands (`.exe`, PowerShell). A hint never decides: a pod with
hints and no evidence is `unknown` (the hints-without-placement rule warns about it), because a
pod is placed by its scheduling constraints, not by what it looks like.

Semantics follow the API: label values are case-sensitive (`kubernetes.io/os: Windows` matches
no node at all), nodeSelectorTerms are ORed, an empty term matches no node. Placement that
matches no node is reported, not counted as evidence. Disagreement between two pieces of
evidence (not image against image, which the mixed-images rule reports) is a conflict.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .images import ImageClassifier
from .podfacts import PodFacts

OS_LABELS = ("kubernetes.io/os", "beta.kubernetes.io/os")
ARCH_LABELS = ("kubernetes.io/arch", "beta.kubernetes.io/arch")
# Kubernetes builds Windows nodes for amd64 only (hack/lib/golang.sh
# KUBE_SUPPORTED_NODE_PLATFORMS), so a pod placed on another architecture is placed on Linux.
_WINDOWS_ARCHES = frozenset({"amd64"})
WINDOWS_BUILD_LABEL = "node.kubernetes.io/windows-build"
# Platform labels that only Windows (or only Linux) nodes carry, e.g. AKS's os-sku.
_SKU_LABEL = "kubernetes.azure.com/os-sku"
_AFFINITY_PATH = "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution"

# Evidence ranks: lower decides. Hints rank last and never decide.
RANK_OS_NAME = 0
RANK_PLACEMENT = 1
RANK_IMAGE = 2
RANK_HINT = 4
_OSES = frozenset({"windows", "linux"})

# C:\app, d:/data: a Windows path. \\.\pipe\... too (named pipes).
_DRIVE_PATH = re.compile(r"^(?:[A-Za-z]:[\\/]|\\\\[.?]\\)")
_WINDOWS_COMMAND = re.compile(
    r"(?i)(?:^|[\\/\s\"'])(?:[\w.-]+\.exe|powershell|pwsh|cmd(?:\.exe)?)(?=$|[\s\"'])"
)


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
class NoNode:
    """Placement that no node can satisfy."""

    path: str
    reason: str


# Not frozen: built per object (why: app/engine/__init__.py).
@dataclass(slots=True)
class OSDecision:
    os: str  # windows | linux | unknown
    evidence: tuple[Evidence, ...]  # what can decide, strongest first
    conflicts: tuple[tuple[Evidence, Evidence], ...] = ()
    defaulted_from: str | None = None  # set when no evidence and a default applied
    hints: tuple[Evidence, ...] = ()
    no_node: tuple[NoNode, ...] = ()
    # The Windows builds placement allows (node.kubernetes.io/windows-build); None: any.
    windows_builds: frozenset[str] | None = None

    @property
    def deciding(self) -> Evidence | None:
        return self.evidence[0] if self.evidence else None

    @property
    def placement(self) -> tuple[Evidence, ...]:
        """Evidence that steers the scheduler (nodeSelector, affinity, RuntimeClass)."""
        return tuple(e for e in self.evidence if e.rank == RANK_PLACEMENT)

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


@dataclass(slots=True)
class _Selected:
    """What one label selector (nodeSelector or a RuntimeClass's) says."""

    evidence: list[Evidence] = field(default_factory=list)
    no_node: list[NoNode] = field(default_factory=list)
    build: str | None = None


def _miscased(value: str) -> str | None:
    """The OS a label value was meant to name when it differs only in case ("Windows")."""
    lowered = value.strip().lower()
    return lowered if lowered in _OSES and value != lowered else None


def _selector(selector: Mapping[str, Any], path: str, via: str) -> _Selected:
    found = _Selected()
    for label in OS_LABELS:
        value = selector.get(label)
        if not isinstance(value, str):
            continue
        key_path = f'{path}["{label}"]'
        if value in _OSES:
            found.evidence.append(
                Evidence(value, RANK_PLACEMENT, key_path, f"{via} {label}={value}")
            )
        elif (meant := _miscased(value)) is not None:
            found.no_node.append(
                NoNode(
                    key_path,
                    f"{via} {label}={value} matches no node: label values are case-sensitive"
                    f" and nodes are labelled {label}={meant}",
                )
            )
    for label in ARCH_LABELS:
        arch = selector.get(label)
        if isinstance(arch, str) and arch and arch not in _WINDOWS_ARCHES:
            found.evidence.append(
                Evidence(
                    "linux",
                    RANK_PLACEMENT,
                    f'{path}["{label}"]',
                    f"{via} {label}={arch} (Windows nodes are amd64 only)",
                )
            )
            break
    build = selector.get(WINDOWS_BUILD_LABEL)
    if isinstance(build, str) and build:
        found.build = build
        found.evidence.append(
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
        found.evidence.append(
            Evidence(
                os_name, RANK_PLACEMENT, f'{path}["{_SKU_LABEL}"]', f"{via} {_SKU_LABEL}={sku}"
            )
        )
    return found


@dataclass(slots=True)
class _Term:
    oses: set[str]  # the OSes a matching node may have; empty: no node matches
    builds: set[str] | None  # the Windows builds it allows; None: any
    miscased: list[str] = field(default_factory=list)


def _term(term: Any) -> _Term:
    """What one nodeSelectorTerm admits. An empty term matches no node (core/v1 NodeSelectorTerm:
    "a null or empty node selector term matches no objects")."""
    if not isinstance(term, dict):
        return _Term(set(), None)
    expressions = term.get("matchExpressions")
    fields = term.get("matchFields")
    expressions = expressions if isinstance(expressions, list) else []
    if not expressions and not (isinstance(fields, list) and fields):
        return _Term(set(), None)
    result = _Term(set(_OSES), None)
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
                result.miscased.extend(v for v in values if _miscased(v))
                result.oses &= {v for v in values if v in _OSES}
            elif op == "NotIn":
                result.oses -= set(values)
            elif op == "DoesNotExist":
                result.oses = set()
        elif key in ARCH_LABELS and op == "In" and values and not set(values) & _WINDOWS_ARCHES:
            result.oses &= {"linux"}
        elif key == WINDOWS_BUILD_LABEL:
            if op == "In":
                result.oses &= {"windows"}
                allowed = set(values)
                result.builds = allowed if result.builds is None else result.builds & allowed
            elif op == "Exists":
                result.oses &= {"windows"}
            elif op == "DoesNotExist":
                result.oses &= {"linux"}
    return result


def _affinity(spec: Mapping[str, Any]) -> tuple[list[Evidence], list[NoNode], set[str] | None]:
    affinity = spec.get("affinity")
    node_affinity = affinity.get("nodeAffinity") if isinstance(affinity, dict) else None
    required = (
        node_affinity.get("requiredDuringSchedulingIgnoredDuringExecution")
        if isinstance(node_affinity, dict)
        else None
    )
    terms = required.get("nodeSelectorTerms") if isinstance(required, dict) else None
    if not isinstance(terms, list) or not terms:
        return [], [], None
    reachable: set[str] = set()
    builds: set[str] | None = set()
    miscased: list[str] = []
    for term in terms:  # terms are ORed
        parsed = _term(term)
        reachable |= parsed.oses
        miscased.extend(parsed.miscased)
        if parsed.oses:
            if parsed.builds is None or builds is None:
                builds = None
            else:
                builds |= parsed.builds
    if not reachable:
        why = (
            f"required node affinity matches no node: label values are case-sensitive"
            f" ({', '.join(sorted(set(miscased)))} is not a node's OS label)"
            if miscased
            else "required node affinity matches no node (every nodeSelectorTerm is empty or"
            " excludes every OS)"
        )
        return [], [NoNode(_AFFINITY_PATH, why)], None
    if len(reachable) == 1:
        os_name = next(iter(reachable))
        evidence = Evidence(
            os_name,
            RANK_PLACEMENT,
            _AFFINITY_PATH,
            f"required node affinity admits only {os_name} nodes",
        )
        return [evidence], [], builds if os_name == "windows" else None
    return [], [], None


def tolerates(toleration: Any, key: str, value: str | None, effect: str) -> bool:
    """Kubernetes' Toleration.ToleratesTaint: an empty effect matches every effect, an empty key
    with operator Exists matches every taint."""
    if not isinstance(toleration, Mapping):
        return False
    wanted_effect = toleration.get("effect") or ""
    if wanted_effect and wanted_effect != effect:
        return False
    tol_key = toleration.get("key") or ""
    operator = toleration.get("operator") or "Equal"
    if not tol_key:
        return operator == "Exists"
    if tol_key != key:
        return False
    if operator == "Exists":
        return True
    return operator == "Equal" and (toleration.get("value") or "") == (value or "")


def tolerates_everything(tolerations: Any) -> bool:
    return isinstance(tolerations, list) and any(
        isinstance(t, Mapping)
        and not t.get("key")
        and t.get("operator") == "Exists"
        and not t.get("effect")
        for t in tolerations
    )


class OSInferrer:
    """Built once per config; `infer` is called per pod."""

    def __init__(
        self,
        images: ImageClassifier,
        windows_taints: Iterable[tuple[str, str | None, str]],
    ) -> None:
        self._images = images
        self._taints = tuple(windows_taints)

    def infer(
        self,
        facts: PodFacts,
        runtime_classes: Mapping[str, RuntimeClassInfo],
        default_os: str = "unknown",
        default_from: str = "config",
    ) -> OSDecision:
        spec = facts.spec
        found: list[Evidence] = []
        no_node: list[NoNode] = []
        builds: set[str] | None = None
        os_name = facts.os_name
        if os_name in _OSES:
            found.append(Evidence(os_name, RANK_OS_NAME, "spec.os.name", f"spec.os.name={os_name}"))
        selector = spec.get("nodeSelector")
        if isinstance(selector, dict):
            selected = _selector(selector, "spec.nodeSelector", "nodeSelector")
            found.extend(selected.evidence)
            no_node.extend(selected.no_node)
            if selected.build:
                builds = {selected.build}
        affinity_evidence, affinity_no_node, affinity_builds = _affinity(spec)
        found.extend(affinity_evidence)
        no_node.extend(affinity_no_node)
        if affinity_builds is not None:
            builds = affinity_builds if builds is None else builds & affinity_builds
        rc_name = spec.get("runtimeClassName")
        if isinstance(rc_name, str) and rc_name in runtime_classes:
            rc = runtime_classes[rc_name]
            selected = _selector(
                rc.node_selector, "spec.runtimeClassName", f"RuntimeClass {rc_name} nodeSelector"
            )
            if not selected.evidence and ("wcow" in rc.handler or "runhcs" in rc.handler):
                selected.evidence.append(
                    Evidence(
                        "windows",
                        RANK_PLACEMENT,
                        "spec.runtimeClassName",
                        f"RuntimeClass {rc_name} handler {rc.handler}",
                    )
                )
            found.extend(selected.evidence)
            no_node.extend(selected.no_node)
            if selected.build:
                builds = {selected.build} if builds is None else builds & {selected.build}
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
        found.sort(key=lambda e: e.rank)
        hints = tuple(self._hints(facts))
        windows_builds = frozenset(builds) if builds is not None else None
        if not found:
            hinted = {h.os for h in hints}
            if default_os in _OSES and hinted <= {default_os}:
                return OSDecision(
                    default_os, (), (), default_from, hints, tuple(no_node), windows_builds
                )
            return OSDecision("unknown", (), (), None, hints, tuple(no_node), windows_builds)
        deciding = found[0]
        image_oses = {e.os for e in found if e.rank == RANK_IMAGE}
        # Images that disagree among themselves are the mixed-images rule's finding, not this one.
        skip_images = len(image_oses) > 1
        conflicts = tuple(
            (deciding, other)
            for other in found[1:]
            if other.os != deciding.os
            and not (other.rank == RANK_IMAGE and (skip_images or deciding.rank == RANK_IMAGE))
        )
        return OSDecision(
            deciding.os, tuple(found), conflicts, None, hints, tuple(no_node), windows_builds
        )

    def _hints(self, facts: PodFacts) -> Iterable[Evidence]:
        if facts.pod_host_process:
            yield Evidence(
                "windows",
                RANK_HINT,
                "spec.securityContext.windowsOptions.hostProcess",
                "HostProcess pod",
            )
        elif facts.pod_windows_options:
            yield Evidence(
                "windows", RANK_HINT, "spec.securityContext.windowsOptions", "windowsOptions set"
            )
        for ref, options, host_process in zip(
            facts.containers,
            facts.container_windows_options,
            facts.container_host_process,
            strict=True,
        ):
            if options.get("hostProcess") is True and not facts.pod_host_process:
                yield Evidence(
                    "windows",
                    RANK_HINT,
                    f"{ref.path}.securityContext.windowsOptions.hostProcess",
                    "HostProcess container",
                )
            elif options and not host_process and not facts.pod_windows_options:
                yield Evidence(
                    "windows",
                    RANK_HINT,
                    f"{ref.path}.securityContext.windowsOptions",
                    "windowsOptions set",
                )
        tolerations = facts.spec.get("tolerations")
        if isinstance(tolerations, list):
            for key, value, effect in self._taints:
                if any(
                    isinstance(t, Mapping) and t.get("key") and tolerates(t, key, value, effect)
                    for t in tolerations
                ):
                    yield Evidence(
                        "windows",
                        RANK_HINT,
                        "spec.tolerations",
                        f"tolerates the Windows taint {key}={value or ''}:{effect}",
                    )
                    break
        yield from _path_and_command_hints(facts)


def _path_and_command_hints(facts: PodFacts) -> Iterable[Evidence]:
    volumes = facts.spec.get("volumes")
    if isinstance(volumes, list):
        for index, volume in enumerate(volumes):
            host_path = volume.get("hostPath") if isinstance(volume, dict) else None
            path = host_path.get("path") if isinstance(host_path, dict) else None
            if isinstance(path, str) and _DRIVE_PATH.match(path):
                yield Evidence(
                    "windows",
                    RANK_HINT,
                    f"spec.volumes[{index}].hostPath.path",
                    f"Windows path {path}",
                )
                return  # one path hint is enough to say what the pod looks like
    for ref in facts.containers:
        container = ref.container
        mounts = container.get("volumeMounts")
        if isinstance(mounts, list):
            for index, mount in enumerate(mounts):
                path = mount.get("mountPath") if isinstance(mount, dict) else None
                if isinstance(path, str) and _DRIVE_PATH.match(path):
                    yield Evidence(
                        "windows",
                        RANK_HINT,
                        f"{ref.path}.volumeMounts[{index}].mountPath",
                        f"Windows path {path}",
                    )
                    return
        working_dir = container.get("workingDir")
        if isinstance(working_dir, str) and _DRIVE_PATH.match(working_dir):
            yield Evidence(
                "windows", RANK_HINT, f"{ref.path}.workingDir", f"Windows path {working_dir}"
            )
            return
        for key in ("command", "args"):
            words = container.get(key)
            if isinstance(words, list) and words:
                first = words[0]
                if isinstance(first, str) and _WINDOWS_COMMAND.search(first):
                    yield Evidence(
                        "windows", RANK_HINT, f"{ref.path}.{key}[0]", f"Windows command {first}"
                    )
                    return
