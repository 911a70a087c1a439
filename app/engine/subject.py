"""One object as the engine judges it, built once: its kind, its names, the pod inside it, and
the check that the fields the rules read have the types their kind requires.

Every surface builds one Subject per object (the webhook from the review's object and kind, the
CLI from a manifest, audit from a listed object) and hands it down: nothing re-derives the pod
template. The rules read fields defensively and skip what has the wrong type, which is right
for reading and wrong for a gate: `securityContext: "privileged"` must not make a pod pass
because no rule saw an object there, so a wrong type is a ShapeError naming the path.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .text import type_name
from .visit import (
    CHECKED_KINDS,
    CONTAINER_KINDS,
    PodTemplate,
    ShapeError,
    pod_template_of,
)

_METADATA_TYPES = (("labels", dict), ("annotations", dict))
_SPEC_TYPES = (
    *((key, dict) for key in ("nodeSelector", "securityContext", "os", "affinity", "resources")),
    ("overhead", dict),
    *((key, list) for key in ("volumes", "tolerations", *CONTAINER_KINDS)),
)
# Lists the rules walk item by item: each item must be an object.
_OBJECT_LISTS = ("volumes", "tolerations")
_CONTAINER_TYPES = (
    ("securityContext", dict),
    ("resources", dict),
    *((key, list) for key in ("volumeMounts", "volumeDevices", "env", "ports")),
)


# Not frozen: built per object (why: winpod/engine/__init__.py).
@dataclass(slots=True)
class Subject:
    obj: dict[str, Any]  # as given (its own `kind` may be missing or differ)
    kind: str  # the kind it is judged as
    name: str | None
    namespace: str | None
    template: PodTemplate | None  # None: a kind winpod does not check

    @property
    def ref(self) -> str:
        where = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind} {where}{self.name or '(unnamed)'}"

    @property
    def pod(self) -> dict[str, Any] | None:
        return self.template.pod if self.template is not None else None


def subject_of(obj: Any, *, kind: str | None = None, namespace: str | None = None) -> Subject:
    """The Subject for `obj`. `kind` is authoritative when given (an admission request's: an
    object with a missing or different `kind` must not dodge the rules); `namespace` overrides
    metadata.namespace (admission requests carry it apart). Raises ShapeError."""
    if not isinstance(obj, dict):
        raise ShapeError(f"object: expected an object, got {type_name(obj)}")
    raw_kind = obj.get("kind")
    if kind is not None and kind in CHECKED_KINDS:
        resolved = kind
    else:
        resolved = raw_kind if isinstance(raw_kind, str) else (kind or "(no kind)")
    raw_metadata = obj.get("metadata")
    metadata: Mapping[str, Any] = raw_metadata if isinstance(raw_metadata, dict) else {}
    raw_name = metadata.get("name")
    name = raw_name if isinstance(raw_name, str) and raw_name else None
    generate_name = metadata.get("generateName")
    if name is None and isinstance(generate_name, str) and generate_name:
        name = generate_name + "*"
    raw_namespace = metadata.get("namespace")
    if namespace is None and isinstance(raw_namespace, str) and raw_namespace:
        namespace = raw_namespace
    template = pod_template_of(obj, resolved)
    if template is not None:
        if template.prefix:  # a workload: its own metadata too (the pod's is checked below)
            _expect(obj, "metadata", dict, "")
        check_shape(template)
    return Subject(obj, resolved, name, namespace, template)


def check_shape(template: PodTemplate) -> None:
    """Raise ShapeError naming the first field whose type cannot be right."""
    pod, prefix = template.pod, template.prefix
    metadata = _expect(pod, "metadata", dict, prefix)
    if metadata:
        _check(metadata, _METADATA_TYPES, prefix + "metadata.")
        for key in ("labels", "annotations"):
            for name, value in (metadata.get(key) or {}).items():
                if not isinstance(value, str):
                    raise ShapeError(
                        f"{prefix}metadata.{key}[{name!r}]: expected a string, got"
                        f" {type_name(value)} (quote it in YAML)"
                    )
    spec = _expect(pod, "spec", dict, prefix)
    if not spec:
        return
    _check(spec, _SPEC_TYPES, prefix + "spec.")
    for key in _OBJECT_LISTS:
        for index, item in enumerate(spec.get(key) or ()):
            if not isinstance(item, dict):
                raise ShapeError(
                    f"{prefix}spec.{key}[{index}]: expected an object, got {type_name(item)}"
                )
    for kind in CONTAINER_KINDS:
        for index, container in enumerate(spec.get(kind) or ()):
            if not isinstance(container, dict):
                raise ShapeError(
                    f"{prefix}spec.{kind}[{index}]: expected an object, got {type_name(container)}"
                )
            # Inline, and the path only on failure: a pod can carry hundreds of containers.
            for key, expected in _CONTAINER_TYPES:
                value = container.get(key)
                if value is not None and not isinstance(value, expected):
                    _expect(container, key, expected, f"{prefix}spec.{kind}[{index}].")


def _check(parent: dict[str, Any], types: tuple[tuple[str, type], ...], where: str) -> None:
    for key, expected in types:
        value = parent.get(key)
        if value is not None and not isinstance(value, expected):
            _expect(parent, key, expected, where)


def _expect(parent: dict[str, Any], key: str, kind: type, where: str) -> Any:
    """`parent[key]`, or ShapeError if it is there with another type than `kind`."""
    value = parent.get(key)
    if value is not None and not isinstance(value, kind):
        expected = "an object" if kind is dict else "a list"
        raise ShapeError(f"{where}{key}: expected {expected}, got {type_name(value)}")
    return value
