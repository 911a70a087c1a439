"""Pods and workloads for the audit tests and the bench, built to trigger well-known rules."""

from __future__ import annotations

from typing import Any

from tests.rules import builders

RESOURCES = {
    "limits": {"memory": "512Mi", "cpu": "500m"},
    "requests": {"memory": "512Mi", "cpu": "500m"},
}


def pod_spec(
    os_name: str, *, privileged: bool = False, memory_medium: bool = False
) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": "app",
        "image": "example.com/app:1",
        "resources": RESOURCES,
    }
    if privileged:
        container["securityContext"] = {"privileged": True}
    spec: dict[str, Any] = {
        "nodeSelector": {"kubernetes.io/os": os_name},
        "containers": [container],
    }
    if os_name == "windows":
        spec["tolerations"] = [
            {"key": "os", "operator": "Equal", "value": "windows", "effect": "NoSchedule"}
        ]
    if memory_medium:
        spec["volumes"] = [{"name": "scratch", "emptyDir": {"medium": "Memory"}}]
        container["volumeMounts"] = [{"name": "scratch", "mountPath": "C:\\scratch"}]
    return spec


def pod(
    namespace: str,
    name: str,
    os_name: str = "linux",
    *,
    owner: tuple[str, str, str] | None = None,
    **kwargs: Any,
) -> dict[str, Any]:
    """owner: (apiVersion, kind, name) of the controlling owner."""
    meta: dict[str, Any] = {"name": name, "namespace": namespace}
    if owner is not None:
        meta["ownerReferences"] = [
            {
                "apiVersion": owner[0],
                "kind": owner[1],
                "name": owner[2],
                "uid": f"uid-{owner[2]}",
                "controller": True,
            }
        ]
    return {"metadata": meta, "spec": pod_spec(os_name, **kwargs)}


def deployment(
    namespace: str,
    name: str,
    os_name: str = "linux",
    *,
    runtime_class: str | None = None,
    **kwargs: Any,
) -> dict[str, Any]:
    spec = pod_spec(os_name, **kwargs)
    if runtime_class is not None:
        spec.pop("nodeSelector")
        spec.pop("tolerations", None)
        spec["runtimeClassName"] = runtime_class
    return builders.deployment(name, spec, namespace)


def replica_set(
    namespace: str, name: str, deployment_name: str, os_name: str = "linux", **kwargs: Any
) -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "namespace": namespace,
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "name": deployment_name,
                    "uid": f"uid-{deployment_name}",
                    "controller": True,
                }
            ],
        },
        "spec": {
            "selector": {"matchLabels": {"app": deployment_name}},
            "template": {
                "metadata": {"labels": {"app": deployment_name}},
                "spec": pod_spec(os_name, **kwargs),
            },
        },
    }
