"""A realistic mix of admission objects, shared by the engine and webhook benchmarks.

Roughly: 45 % ordinary Windows app pods, 10 % HostProcess DaemonSet pods, 20 % Windows pods
with problems (about a fifth of all objects are denied), 25 % Linux pods and workloads.
"""

from __future__ import annotations

import copy
import random
from typing import Any

Obj = dict[str, Any]
WIN = "mcr.microsoft.com/windows/servercore:ltsc2022"


def _container(name: str, image: str, memory: str = "512Mi", **extra: Any) -> Obj:
    container: Obj = {
        "name": name,
        "image": image,
        "ports": [{"containerPort": 80, "protocol": "TCP"}],
        "env": [{"name": f"VAR_{i}", "value": f"value-{i}"} for i in range(8)],
        "resources": {"requests": {"cpu": "250m", "memory": memory}, "limits": {"memory": memory}},
        "readinessProbe": {"httpGet": {"path": "/healthz", "port": 80}, "periodSeconds": 10},
        "livenessProbe": {"httpGet": {"path": "/healthz", "port": 80}, "periodSeconds": 10},
        "volumeMounts": [{"name": "config", "mountPath": "C:\\config"}],
        "terminationMessagePath": "/dev/termination-log",
        "imagePullPolicy": "IfNotPresent",
    }
    container.update(extra)
    return container


def windows_app_pod(i: int, containers: int = 1) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": f"iis-{i}",
            "namespace": "apps",
            "labels": {"app": "iis", "tier": "web", "pod-template-hash": "5d8f7c9b6"},
            "annotations": {"prometheus.io/scrape": "true"},
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "ReplicaSet",
                    "name": "iis-5d8f7c9b6",
                    "uid": "5b1d4a4e-0000-4000-8000-000000000000",
                    "controller": True,
                }
            ],
        },
        "spec": {
            "nodeSelector": {"kubernetes.io/os": "windows"},
            "tolerations": [
                {"key": "os", "operator": "Equal", "value": "windows", "effect": "NoSchedule"}
            ],
            "containers": [_container(f"app-{c}", WIN) for c in range(containers)],
            "volumes": [
                {"name": "config", "configMap": {"name": "iis-config", "defaultMode": 420}}
            ],
            "dnsPolicy": "ClusterFirst",
            "restartPolicy": "Always",
            "terminationGracePeriodSeconds": 30,
            "securityContext": {"windowsOptions": {"runAsUserName": "ContainerUser"}},
            "serviceAccountName": "default",
        },
    }


def hostprocess_pod(i: int) -> Obj:
    pod = windows_app_pod(i)
    pod["metadata"]["name"] = f"csi-proxy-{i}"
    pod["spec"]["hostNetwork"] = True
    pod["spec"]["securityContext"] = {
        "windowsOptions": {"hostProcess": True, "runAsUserName": "NT AUTHORITY\\SYSTEM"}
    }
    return pod


def bad_windows_pod(i: int) -> Obj:
    pod = windows_app_pod(i)
    container = pod["spec"]["containers"][0]
    container["securityContext"] = {"privileged": True, "runAsUser": 1000}
    container["volumeMounts"][0]["subPath"] = "web.config"
    container["resources"]["limits"]["memory"] = "2Gi"
    pod["spec"]["volumes"].append({"name": "scratch", "emptyDir": {"medium": "Memory"}})
    return pod


def warned_windows_pod(i: int) -> Obj:
    pod = windows_app_pod(i)
    pod["spec"]["containers"][0]["resources"]["limits"]["memory"] = "1Gi"
    return pod


def linux_pod(i: int) -> Obj:
    pod = windows_app_pod(i, containers=2)
    pod["metadata"]["name"] = f"nginx-{i}"
    pod["spec"]["nodeSelector"] = {"kubernetes.io/os": "linux"}
    del pod["spec"]["tolerations"]
    pod["spec"]["securityContext"] = {"runAsNonRoot": True, "runAsUser": 1000, "fsGroup": 2000}
    for container in pod["spec"]["containers"]:
        container["image"] = "nginx:1.27"
        container["securityContext"] = {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
        }
    return pod


def deployment(pod: Obj) -> Obj:
    template = {"metadata": copy.deepcopy(pod["metadata"]), "spec": copy.deepcopy(pod["spec"])}
    template["metadata"].pop("ownerReferences", None)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": pod["metadata"]["name"], "namespace": "apps"},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "iis"}}, "template": template},
    }


def mix(count: int, seed: int = 7) -> list[Obj]:
    rng = random.Random(seed)
    makers = (
        [windows_app_pod] * 9
        + [hostprocess_pod] * 2
        + [bad_windows_pod] * 4
        + [warned_windows_pod]
        + [linux_pod] * 4
    )
    objects = []
    for i in range(count):
        obj = rng.choice(makers)(i)
        if i % 10 == 0:
            obj = deployment(obj)
        objects.append(obj)
    return objects
