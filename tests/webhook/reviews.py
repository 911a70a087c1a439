"""Pods, workloads and AdmissionReviews as the apiserver sends them, for the webhook tests."""

from __future__ import annotations

import copy
import itertools
from typing import Any

from winpod.webhook.review import AdmissionReviewOut

from tests.conftest import Reply

SERVERCORE = "mcr.microsoft.com/windows/servercore:ltsc2022"
NGINX = "nginx:1.27"

_uids = itertools.count(1)

# kind -> (group, version, resource, path from the object to the pod template)
WORKLOADS: dict[str, tuple[str, str, str, tuple[str, ...]]] = {
    "Pod": ("", "v1", "pods", ()),
    "PodTemplate": ("", "v1", "podtemplates", ("template",)),
    "ReplicationController": ("", "v1", "replicationcontrollers", ("spec", "template")),
    "Deployment": ("apps", "v1", "deployments", ("spec", "template")),
    "ReplicaSet": ("apps", "v1", "replicasets", ("spec", "template")),
    "StatefulSet": ("apps", "v1", "statefulsets", ("spec", "template")),
    "DaemonSet": ("apps", "v1", "daemonsets", ("spec", "template")),
    "Job": ("batch", "v1", "jobs", ("spec", "template")),
    "CronJob": ("batch", "v1", "cronjobs", ("spec", "jobTemplate", "spec", "template")),
}


def container(image: str = SERVERCORE, name: str = "app", **extra: Any) -> dict[str, Any]:
    # Memory limit equal to the request: the Windows memory rule stays quiet unless a test
    # changes it.
    resources = {"requests": {"memory": "256Mi"}, "limits": {"memory": "256Mi"}}
    return {"name": name, "image": image, "resources": resources, **extra}


def windows_pod(name: str = "win", *containers: dict[str, Any], **spec: Any) -> dict[str, Any]:
    """A Windows pod that passes every rule: a Windows image, placed on Windows nodes."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "os": {"name": "windows"},
            "nodeSelector": {"kubernetes.io/os": "windows"},
            "tolerations": [
                {"key": "os", "operator": "Equal", "value": "windows", "effect": "NoSchedule"}
            ],
            "containers": list(containers) or [container()],
            **spec,
        },
    }


def linux_pod(name: str = "lin", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "nodeSelector": {"kubernetes.io/os": "linux"},
            "containers": [{"name": "app", "image": NGINX}],
            **spec,
        },
    }


def privileged_windows_pod(name: str = "bad") -> dict[str, Any]:
    """Denied by windows-privileged at spec.containers[0].securityContext.privileged."""
    return windows_pod(name, container(securityContext={"privileged": True}))


def memory_mismatch_windows_pod(name: str = "mem") -> dict[str, Any]:
    """Warned by windows-memory-limits: limit 1Gi, request 512Mi."""
    resources = {"requests": {"memory": "512Mi"}, "limits": {"memory": "1Gi"}}
    return windows_pod(name, {"name": "app", "image": SERVERCORE, "resources": resources})


def workload(kind: str, pod: dict[str, Any], name: str = "wl") -> dict[str, Any]:
    """`pod` as the template of a `kind` object (a Pod is returned as it is)."""
    group, version, _, path = WORKLOADS[kind]
    if not path:
        named = copy.deepcopy(pod)
        named["metadata"]["name"] = name
        return named
    template = {"metadata": {"labels": {"app": name}}, "spec": copy.deepcopy(pod["spec"])}
    obj: dict[str, Any] = {
        "apiVersion": f"{group}/{version}" if group else version,
        "kind": kind,
        "metadata": {"name": name, "namespace": "default"},
    }
    node = obj
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node[path[-1]] = template
    if kind == "CronJob":
        obj["spec"]["schedule"] = "*/5 * * * *"
    return obj


def review(
    obj: dict[str, Any] | None,
    *,
    operation: str = "CREATE",
    uid: str | None = None,
    api_version: str = "admission.k8s.io/v1",
    namespace: str | None = "default",
    kind: str | None = None,
    sub_resource: str | None = None,
    old: dict[str, Any] | None = None,
    dry_run: bool = False,
) -> dict[str, Any]:
    kind = kind or (obj or old or {}).get("kind", "Pod")
    group, version, resource, _ = WORKLOADS.get(kind, ("", "v1", kind.lower() + "s", ()))
    metadata = (obj or old or {}).get("metadata")
    name = metadata.get("name", "") if isinstance(metadata, dict) else ""
    request: dict[str, Any] = {
        "uid": uid or f"uid-{next(_uids)}",
        "kind": {"group": group, "version": version, "kind": kind},
        "resource": {"group": group, "version": version, "resource": resource},
        "requestKind": {"group": group, "version": version, "kind": kind},
        "name": name,
        "operation": operation,
        "userInfo": {"username": "kubernetes-admin", "groups": ["system:masters"]},
        "object": obj,
        "oldObject": old,
        "dryRun": dry_run,
        "options": {"apiVersion": "meta.k8s.io/v1", "kind": f"{operation.title()}Options"},
    }
    if namespace is not None:
        request["namespace"] = namespace
    if sub_resource:
        request["subResource"] = sub_resource
    return {"apiVersion": api_version, "kind": "AdmissionReview", "request": request}


def answer(reply: Reply, sent: dict[str, Any]) -> dict[str, Any]:
    """The response of a 200 AdmissionReview, checked against the wire model and the uid."""
    assert reply.status == 200, reply.body
    assert reply.headers["content-type"] == "application/json"
    body = reply.json()
    AdmissionReviewOut.model_validate(body)
    assert body["apiVersion"] == sent["apiVersion"]
    assert body["response"]["uid"] == sent["request"]["uid"]
    response: dict[str, Any] = body["response"]
    return response
