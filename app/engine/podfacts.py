"""Facts about one pod computed once, shared by OS inference and every rule."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from app.engine.visit import ContainerRef, containers_of


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def windows_options(holder: dict[str, Any]) -> dict[str, Any]:
    return _dict(_dict(holder.get("securityContext")).get("windowsOptions"))


@dataclass(slots=True)
class PodFacts:
    pod: dict[str, Any]
    spec: dict[str, Any]
    metadata: dict[str, Any]
    containers: list[ContainerRef]
    pod_host_process: bool | None
    # Effective hostProcess per container (container value, else the pod's), same order.
    container_host_process: list[bool] = field(default_factory=list)

    @property
    def any_host_process(self) -> bool:
        return any(self.container_host_process) or self.pod_host_process is True

    @property
    def all_host_process(self) -> bool:
        return bool(self.container_host_process) and all(self.container_host_process)

    @property
    def os_name(self) -> str | None:
        name = _dict(self.spec.get("os")).get("name")
        return name if isinstance(name, str) else None


def pod_facts(pod: dict[str, Any]) -> PodFacts:
    spec = _dict(pod.get("spec"))
    metadata = _dict(pod.get("metadata"))
    containers = containers_of(pod)
    pod_hp = windows_options(spec).get("hostProcess")
    pod_host_process = pod_hp if isinstance(pod_hp, bool) else None
    effective = []
    for ref in containers:
        value = windows_options(ref.container).get("hostProcess")
        effective.append(value if isinstance(value, bool) else bool(pod_host_process))
    return PodFacts(pod, spec, metadata, containers, pod_host_process, effective)
