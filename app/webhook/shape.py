"""A quick structural check of the pod inside an object, before the rules see it.

The rules read fields defensively and skip what has the wrong type, which is right for a
linter and wrong for an admission gate: `securityContext: "privileged"` must not make a pod
pass because the rule saw no object there. The apiserver's own decoding makes such objects
rare, but the webhook answers whatever arrives, so odd types here are a denial that names the
path. Only fields the Windows rules read are checked; the rest is the apiserver's business.
"""

from __future__ import annotations

from typing import Any

from ..engine.visit import CONTAINER_KINDS, ShapeError, pod_template_of

_METADATA_TYPES = (("labels", dict), ("annotations", dict))
_SPEC_TYPES = (
    *((key, dict) for key in ("nodeSelector", "securityContext", "os", "affinity", "resources")),
    ("overhead", dict),
    *((key, list) for key in ("volumes", "tolerations", *CONTAINER_KINDS)),
)
_CONTAINER_TYPES = (
    ("securityContext", dict),
    ("resources", dict),
    *((key, list) for key in ("volumeMounts", "volumeDevices", "env", "ports")),
)


def check_shape(obj: dict[str, Any]) -> None:
    """Raise ShapeError naming the first field whose type cannot be right."""
    template = pod_template_of(obj)
    if template is None:
        return
    pod, prefix = template.pod, template.prefix
    metadata = _expect(pod, "metadata", dict, prefix)
    if metadata:
        _check(metadata, _METADATA_TYPES, prefix + "metadata.")
    spec = _expect(pod, "spec", dict, prefix)
    if not spec:
        return
    _check(spec, _SPEC_TYPES, prefix + "spec.")
    for kind in CONTAINER_KINDS:
        for index, container in enumerate(spec.get(kind) or ()):
            if not isinstance(container, dict):
                raise ShapeError(
                    f"{prefix}spec.{kind}[{index}]: expected an object, got {_type_name(container)}"
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
        raise ShapeError(f"{where}{key}: expected {expected}, got {_type_name(value)}")
    return value


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    return {
        str: "a string",
        int: "a number",
        float: "a number",
        list: "a list",
        dict: "an object",
    }.get(type(value), type(value).__name__)
