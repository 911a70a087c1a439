"""Where pods live inside objects, and the one visitor over a pod's containers.

Every rule that looks at containers goes through `containers_of`, which walks initContainers,
containers and ephemeralContainers alike, so no rule can forget a kind of container.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .text import type_name

CONTAINER_KINDS = ("initContainers", "containers", "ephemeralContainers")

# kind -> the path (as keys) from the object to the pod template ({metadata, spec}).
_TEMPLATE_KEYS: dict[str, tuple[str, ...]] = {
    "Pod": (),
    "PodTemplate": ("template",),
    "Deployment": ("spec", "template"),
    "ReplicaSet": ("spec", "template"),
    "StatefulSet": ("spec", "template"),
    "DaemonSet": ("spec", "template"),
    "ReplicationController": ("spec", "template"),
    "Job": ("spec", "template"),
    "CronJob": ("spec", "jobTemplate", "spec", "template"),
}

CHECKED_KINDS = frozenset(_TEMPLATE_KEYS)


# Not frozen: built per object (why: app/engine/__init__.py).
@dataclass(slots=True)
class PodTemplate:
    """A pod (or pod template) found in an object: `prefix` + a pod-rooted path is the path in
    the object, e.g. "spec.template." + "spec.containers[0].image"."""

    prefix: str
    pod: dict[str, Any]


# Not frozen: built per object (why: app/engine/__init__.py).
@dataclass(slots=True)
class ContainerRef:
    path: str  # pod-rooted, e.g. "spec.initContainers[1]"
    kind: str  # initContainers | containers | ephemeralContainers
    index: int
    container: dict[str, Any]

    @property
    def name(self) -> str:
        name = self.container.get("name")
        return name if isinstance(name, str) else f"#{self.index}"


class ShapeError(ValueError):
    """The object's structure is not what its kind requires; the message names the path."""


def pod_template_of(obj: Mapping[str, Any], kind: Any = None) -> PodTemplate | None:
    """The pod inside a checked object (judged as `kind` when given, else its own), or None
    for kinds winpod does not check."""
    if kind is None:
        kind = obj.get("kind")
    if not isinstance(kind, str) or kind not in _TEMPLATE_KEYS:
        return None
    node: Any = obj
    prefix = ""
    for key in _TEMPLATE_KEYS[kind]:
        child = node.get(key) if isinstance(node, dict) else None
        if child is None:
            # A workload without a template has no pod to check (the apiserver rejects it anyway).
            return PodTemplate(prefix + key + ".", {})
        if not isinstance(child, dict):
            raise ShapeError(f"{prefix}{key}: expected an object, got {type_name(child)}")
        node = child
        prefix = f"{prefix}{key}."
    return PodTemplate(prefix, node)


def containers_of(pod: dict[str, Any]) -> list[ContainerRef]:
    spec = pod.get("spec")
    if not isinstance(spec, dict):
        return []
    found: list[ContainerRef] = []
    for kind in CONTAINER_KINDS:
        items = spec.get(kind)
        if items is None:
            continue
        if not isinstance(items, list):
            raise ShapeError(f"spec.{kind}: expected a list, got {type_name(items)}")
        for index, container in enumerate(items):
            if not isinstance(container, dict):
                raise ShapeError(
                    f"spec.{kind}[{index}]: expected an object, got {type_name(container)}"
                )
            found.append(ContainerRef(f"spec.{kind}[{index}]", kind, index, container))
    return found
