"""Pieces of Kubernetes objects that tests in several directories build alike: node affinity,
Deployments around a pod spec, the Windows RuntimeClass, a projected Secret volume."""

from __future__ import annotations

from typing import Any

Obj = dict[str, Any]

OS_LABEL = "kubernetes.io/os"
BUILD_LABEL = "node.kubernetes.io/windows-build"
# A container securityContext as charts written for Pod Security `restricted` set it: every
# field but runAsNonRoot is one the apiserver refuses on a pod stamped spec.os.name windows.
RESTRICTED_CONTEXT: Obj = {
    "runAsNonRoot": True,
    "runAsUser": 1000,
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}


def match(key: str, operator: str, *values: str) -> Obj:
    """One node selector requirement (an entry of a term's matchExpressions)."""
    return {"key": key, "operator": operator, "values": list(values)}


def required_node_affinity(*terms: list[Obj]) -> Obj:
    """spec.affinity requiring a node that meets one of `terms`, each a list of requirements
    that must all hold (an empty list is the empty term, which no node meets)."""
    return {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": term} if term else {} for term in terms]
            }
        }
    }


def deployment(name: str, pod_spec: Obj, namespace: str | None = None) -> Obj:
    """A Deployment named `name` running `pod_spec`, its pods selected by the label app=<name>."""
    metadata: Obj = {"name": name} if namespace is None else {"name": name, "namespace": namespace}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata,
        "spec": {
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": pod_spec},
        },
    }


def windows_runtime_class(tolerations: list[Obj] | None = None) -> Obj:
    """RuntimeClass windows-2022: process-isolated containers on Windows Server 2022 nodes."""
    scheduling: Obj = {"nodeSelector": {OS_LABEL: "windows", BUILD_LABEL: "10.0.20348"}}
    if tolerations is not None:
        scheduling["tolerations"] = tolerations
    return {
        "apiVersion": "node.k8s.io/v1",
        "kind": "RuntimeClass",
        "metadata": {"name": "windows-2022"},
        "handler": "runhcs-wcow-process",
        "scheduling": scheduling,
    }


def projected_secret_volume(mode: int) -> Obj:
    """Volume p projecting key k of Secret s as the file k with `mode`."""
    secret = {"name": "s", "items": [{"key": "k", "path": "k", "mode": mode}]}
    return {"name": "p", "projected": {"sources": [{"secret": secret}]}}


def linux_pod(**container: Any) -> Obj:
    """Pod l stamped spec.os.name linux, its one container an nginx with `container`'s fields."""
    return {
        "kind": "Pod",
        "metadata": {"name": "l"},
        "spec": {
            "os": {"name": "linux"},
            "containers": [{"name": "c", "image": "nginx", **container}],
        },
    }
