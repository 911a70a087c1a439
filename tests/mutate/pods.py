"""Pods, engines and checks shared by the mutation tests."""

from __future__ import annotations

import copy
import functools
from typing import Any

import jsonpatch
import kubernetes_validate
from winpod.config import Config
from winpod.engine.evaluate import Engine
from winpod.engine.rules import Catalog, load_catalog

IIS = "mcr.microsoft.com/windows/servercore/iis:windowsservercore-ltsc2022"
NANO_2019 = "mcr.microsoft.com/windows/nanoserver:ltsc2019"
SERVERCORE_2022 = "mcr.microsoft.com/windows/servercore:ltsc2022"
NANO_UNTAGGED = "mcr.microsoft.com/windows/nanoserver"
NGINX = "nginx:1.27"
PAUSE = "registry.k8s.io/pause:3.10"  # multi-OS: says nothing about the OS

OS_TOLERATION = {"key": "os", "operator": "Equal", "value": "windows", "effect": "NoSchedule"}
SCHEMA_VERSION = "1.30"


@functools.cache
def catalog() -> Catalog:
    return load_catalog()


def engine(**config: Any) -> Engine:
    return Engine(catalog=catalog(), config=Config.model_validate(config))


def container(image: str, name: str = "app", **extra: Any) -> dict[str, Any]:
    # A memory limit equal to the request keeps the Windows memory rule quiet.
    resources = {"requests": {"memory": "256Mi"}, "limits": {"memory": "256Mi"}}
    return {"name": name, "image": image, "resources": resources, **extra}


def pod(*images: str, name: str = "p", **spec: Any) -> dict[str, Any]:
    containers = [container(image, f"c{i}") for i, image in enumerate(images)]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"containers": containers, **spec},
    }


def applied(obj: dict[str, Any], patch: list[dict[str, Any]]) -> dict[str, Any]:
    """The patch applied by the independent jsonpatch library (never in place)."""
    result: dict[str, Any] = jsonpatch.apply_patch(copy.deepcopy(obj), patch)
    return result


def assert_schema_valid(obj: dict[str, Any]) -> None:
    try:
        kubernetes_validate.validate(obj, SCHEMA_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        raise AssertionError(f"not valid for Kubernetes {SCHEMA_VERSION}: {exc.message}") from None
