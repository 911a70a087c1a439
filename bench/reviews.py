"""AdmissionReview request bodies for the webhook benchmark, as the apiserver sends them.

Built from bench/mix.py's objects, grown the way real objects grow: managedFields, more
containers, more env entries (plain, fieldRef and secretKeyRef), more annotations, plus the
request envelope the apiserver adds (userInfo, requestKind, options). Five shapes, in the
order the load generators cycle through them:

    pod-5k      Pod CREATE, ~5 KB body
    pod-15k     Pod CREATE, ~15 KB body (two containers)
    pod-70k     Pod CREATE, ~70 KB body (four containers and an init container)
    deployment  Deployment CREATE, ~8 KB body
    pod-update  Pod UPDATE with object and oldObject (a label change, spec as it was), ~12 KB

`wrk_set()` is 20 bodies (four of each shape), four of them denied: 20 %. `hey_set()` is one
body per shape, one of the five denied, since hey posts one body per process. `small_set()` is
one ordinary Pod CREATE of ~3.3 KB (no managedFields), the size of most pods: there the fixed
cost per review, not the judging of a large object, is where the time goes.
"""

from __future__ import annotations

import copy
import uuid
from dataclasses import dataclass
from typing import Any

import orjson

from bench.mix import (
    bad_windows_pod,
    deployment,
    hostprocess_pod,
    linux_pod,
    warned_windows_pod,
    windows_app_pod,
)

Obj = dict[str, Any]
SHAPES = ("pod-5k", "pod-15k", "pod-70k", "deployment", "pod-update")
TARGETS = {"pod-5k": 5_000, "pod-15k": 15_000, "pod-70k": 70_000, "deployment": 8_000}


@dataclass(frozen=True)
class Review:
    shape: str
    variant: str  # which bench.mix maker the object came from
    body: bytes
    expect_denied: bool

    @property
    def name(self) -> str:
        return f"{self.shape}-{self.variant}"


def _uid(seed: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, seed))


def _managed_fields(obj: Obj, manager: str) -> list[Obj]:
    """A managedFields entry shaped like the apiserver's: fieldsV1 mirrors the object's keys."""

    def fields(value: Any) -> Any:
        if isinstance(value, dict):
            return {f"f:{k}": fields(v) for k, v in value.items()}
        if isinstance(value, list):
            return {
                f'k:{{"name":"{item.get("name", i)}"}}'
                if isinstance(item, dict)
                else f"v:{i}": fields(item)
                for i, item in enumerate(value)
            }
        return {}

    return [
        {
            "manager": manager,
            "operation": "Update",
            "apiVersion": obj.get("apiVersion", "v1"),
            "time": "2026-11-20T10:15:00Z",
            "fieldsType": "FieldsV1",
            "fieldsV1": {
                "f:metadata": fields(
                    {k: v for k, v in obj["metadata"].items() if k in ("labels", "annotations")}
                ),
                "f:spec": fields(obj.get("spec", {})),
            },
        }
    ]


def _env(n: int) -> Obj:
    if n % 5 == 3:
        return {
            "name": f"POD_FIELD_{n}",
            "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}},
        }
    if n % 5 == 4:
        return {
            "name": f"SECRET_{n}",
            "valueFrom": {"secretKeyRef": {"name": "app-secrets", "key": f"key-{n}"}},
        }
    return {
        "name": f"APP_SETTING_{n}",
        "value": f"https://service-{n}.apps.svc.cluster.local:8443/api",
    }


def _pod_spec_of(obj: Obj) -> Obj:
    spec: Obj = obj["spec"]["template"]["spec"] if obj["kind"] == "Deployment" else obj["spec"]
    return spec


def _grow(obj: Obj, target: int, containers: int, init: bool, managed: bool = True) -> Obj:
    """Add containers, then env entries and annotations until the review is about `target`."""
    obj = copy.deepcopy(obj)
    spec = _pod_spec_of(obj)
    first = spec["containers"][0]
    while len(spec["containers"]) < containers:
        sidecar = copy.deepcopy(first)
        sidecar.pop("securityContext", None)  # the sidecars are clean: only the app is at fault
        sidecar["name"] = f"sidecar-{len(spec['containers'])}"
        sidecar["resources"] = {
            "requests": {"cpu": "100m", "memory": "128Mi"},
            "limits": {"memory": "128Mi"},
        }
        spec["containers"].append(sidecar)
    if init:
        init_container = copy.deepcopy(spec["containers"][-1])
        init_container["name"] = "init-config"
        for probe in ("readinessProbe", "livenessProbe", "ports"):
            init_container.pop(probe, None)
        init_container["command"] = ["powershell", "-Command", "Copy-Item C:\\src\\* C:\\config"]
        spec["initContainers"] = [init_container]
    obj["metadata"].setdefault("annotations", {})
    obj["metadata"]["uid"] = _uid(obj["metadata"]["name"])
    obj["metadata"]["creationTimestamp"] = None
    n = 100
    everyone = spec["containers"] + spec.get("initContainers", [])
    while True:
        if managed:
            obj["metadata"]["managedFields"] = _managed_fields(obj, "kube-controller-manager")
        if len(_review_body(obj, "CREATE")) >= target:
            return obj
        for container in everyone:
            container.setdefault("env", []).append(_env(n))
            n += 1
        if n % 7 == 0:
            obj["metadata"]["annotations"][f"config.example.com/setting-{n}"] = "enabled;" * 6


def _review(obj: Obj, operation: str, old: Obj | None = None) -> Obj:
    kind = obj["kind"]
    group, _, version = obj["apiVersion"].rpartition("/")
    resource = {"Pod": "pods", "Deployment": "deployments"}[kind]
    gvk = {"group": group, "version": version, "kind": kind}
    gvr = {"group": group, "version": version, "resource": resource}
    name = obj["metadata"]["name"]
    return {
        "kind": "AdmissionReview",
        "apiVersion": "admission.k8s.io/v1",
        "request": {
            "uid": _uid(f"{operation}/{kind}/{name}"),
            "kind": gvk,
            "resource": gvr,
            "requestKind": gvk,
            "requestResource": gvr,
            "name": name,
            "namespace": obj["metadata"].get("namespace", "apps"),
            "operation": operation,
            "userInfo": {
                "username": "system:serviceaccount:kube-system:replicaset-controller",
                "uid": _uid("replicaset-controller"),
                "groups": [
                    "system:serviceaccounts",
                    "system:serviceaccounts:kube-system",
                    "system:authenticated",
                ],
            },
            "object": obj,
            "oldObject": old,
            "dryRun": False,
            "options": {"kind": f"{operation.title()}Options", "apiVersion": "meta.k8s.io/v1"},
        },
    }


def _review_body(obj: Obj, operation: str, old: Obj | None = None) -> bytes:
    return orjson.dumps(_review(obj, operation, old))


_MAKERS = {
    "windows": windows_app_pod,
    "hostprocess": hostprocess_pod,
    "bad": bad_windows_pod,
    "warned": warned_windows_pod,
    "linux": linux_pod,
}
# Four variants per shape; "bad" (denied) once in each of the first four shapes: 4 of 20.
_VARIANTS = {
    "pod-5k": ("bad", "windows", "hostprocess", "linux"),
    "pod-15k": ("windows", "bad", "warned", "linux"),
    "pod-70k": ("windows", "hostprocess", "bad", "linux"),
    "deployment": ("windows", "linux", "warned", "bad"),
    "pod-update": ("windows", "hostprocess", "linux", "bad"),
}


def build(shape: str, variant: str, i: int = 0) -> Review:
    pod = _MAKERS[variant](i)
    if shape == "pod-update":
        # Relabelling a running pod: the spec is as it was, so even a bad pod is not denied.
        old = _grow(pod, 6_000, containers=1, init=False)
        new = copy.deepcopy(old)
        new["metadata"]["labels"]["rollout"] = "canary"
        body = _review_body(new, "UPDATE", old)
        return Review(shape, variant, body, expect_denied=False)
    containers, init = {
        "pod-5k": (1, False),
        "pod-15k": (2, False),
        "pod-70k": (4, True),
        "deployment": (1, False),
    }[shape]
    obj = deployment(pod) if shape == "deployment" else pod
    grown = _grow(obj, TARGETS[shape], containers, init)
    return Review(shape, variant, _review_body(grown, "CREATE"), expect_denied=variant == "bad")


def wrk_set() -> list[Review]:
    """20 bodies, shapes interleaved (round-robin order), 4 denied."""
    return [
        build(shape, _VARIANTS[shape][round_], round_) for round_ in range(4) for shape in SHAPES
    ]


# One body per shape for hey, in bench/mix.py's proportions as far as five bodies go: the
# 5 KB pod is the denied one (1 in 5), the Deployment a Linux one, the UPDATE a HostProcess pod.
_HEY_VARIANTS = {
    "pod-5k": "bad",
    "pod-15k": "windows",
    "pod-70k": "windows",
    "deployment": "linux",
    "pod-update": "hostprocess",
}


def hey_set() -> list[Review]:
    """One body per shape (hey posts one body per process), one of the five denied."""
    return [build(shape, _HEY_VARIANTS[shape]) for shape in SHAPES]


SMALL_TARGET = 3_300


def small_set() -> list[Review]:
    """One ~3.3 KB Pod CREATE, an ordinary Windows app pod (allowed): the small-review mode."""
    pod = _grow(windows_app_pod(0), SMALL_TARGET, containers=1, init=False, managed=False)
    return [Review("pod-3k", "windows", _review_body(pod, "CREATE"), expect_denied=False)]


if __name__ == "__main__":
    for review in [*wrk_set(), *small_set()]:
        print(f"{review.name:24} {len(review.body):>7,} bytes  denied={review.expect_denied}")
