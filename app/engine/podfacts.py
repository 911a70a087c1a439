"""Facts about one pod computed once, shared by OS inference and every rule."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from .visit import ContainerRef, containers_of

# What a missing section reads as: one shared empty mapping, read-only, so no rule can write
# into it and hand the change to every later pod.
_EMPTY: Mapping[str, Any] = MappingProxyType({})


def _dict(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else _EMPTY


@dataclass(slots=True)
class PodFacts:
    pod: dict[str, Any]
    spec: Mapping[str, Any]
    metadata: Mapping[str, Any]
    containers: list[ContainerRef]
    pod_security_context: Mapping[str, Any]
    pod_windows_options: Mapping[str, Any]
    pod_host_process: bool | None
    # Per container, in the same order as `containers`:
    security_contexts: list[Mapping[str, Any]] = field(default_factory=list)
    container_windows_options: list[Mapping[str, Any]] = field(default_factory=list)
    container_host_process: list[bool] = field(default_factory=list)  # effective value
    any_host_process: bool = False
    all_host_process: bool = False
    os_name: str | None = None
    # Filled by OS inference, which classifies images: (path, image, "windows"|"linux"|None).
    images: list[tuple[str, str, str | None]] = field(default_factory=list)


def pod_facts(pod: dict[str, Any]) -> PodFacts:
    spec = _dict(pod.get("spec"))
    metadata = _dict(pod.get("metadata"))
    containers = containers_of(pod)
    pod_sc = _dict(spec.get("securityContext"))
    pod_wo = _dict(pod_sc.get("windowsOptions"))
    pod_hp = pod_wo.get("hostProcess")
    pod_host_process = pod_hp if isinstance(pod_hp, bool) else None
    contexts = [_dict(ref.container.get("securityContext")) for ref in containers]
    options = [_dict(sc.get("windowsOptions")) for sc in contexts]
    effective = []
    for wo in options:
        value = wo.get("hostProcess")
        effective.append(value if isinstance(value, bool) else bool(pod_host_process))
    os_name = _dict(spec.get("os")).get("name")
    return PodFacts(
        pod=pod,
        spec=spec,
        metadata=metadata,
        containers=containers,
        pod_security_context=pod_sc,
        pod_windows_options=pod_wo,
        pod_host_process=pod_host_process,
        security_contexts=contexts,
        container_windows_options=options,
        container_host_process=effective,
        any_host_process=any(effective) or pod_host_process is True,
        all_host_process=bool(effective) and all(effective),
        os_name=os_name if isinstance(os_name, str) else None,
    )
