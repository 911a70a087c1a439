"""winpod's webhooks registered by URL on a real apiserver, for the tests that go through both."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import pytest

from tests.conftest import RunningWebhook, StartWebhook
from tests.kube.controlplane import ApiServer, find_kubectl

NANOSERVER = "mcr.microsoft.com/windows/nanoserver:ltsc2022"
ON_WINDOWS = {"kubernetes.io/os": "windows"}


def pod(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}


def windows_pod(name: str, container: dict[str, Any] | None = None, **spec: Any) -> dict[str, Any]:
    """A pod placed on Windows by its nodeSelector, its one container a nanoserver named app
    (with `container`'s fields), and `spec`'s fields."""
    app = {"name": "app", "image": NANOSERVER, **(container or {})}
    return pod(name, nodeSelector=dict(ON_WINDOWS), containers=[app], **spec)


def needs_kubectl() -> None:
    found = find_kubectl()
    if isinstance(found, str):
        pytest.skip(found)


def kubectl_warnings(stderr: str) -> list[str]:
    return [
        line.removeprefix("Warning: ")
        for line in stderr.splitlines()
        if line.startswith("Warning: ")
    ]


@dataclass
class Hooked:
    """A winpod server whose webhooks the apiserver calls for namespaces labelled `label`."""

    apiserver: ApiServer
    server: RunningWebhook
    name: str
    label: dict[str, str]

    def namespace(self, name: str, labels: Mapping[str, str] | None = None) -> str:
        self.apiserver.ensure_namespace(name, {**self.label, **(labels or {})})
        return name


def hook(
    apiserver: ApiServer,
    webhook_server: StartWebhook,
    name: str,
    config: Mapping[str, Any] | None = None,
) -> Hooked:
    """Start `winpod serve` with `config` (its kubernetesVersion that of the apiserver unless the
    config says otherwise) and register it on `apiserver` for namespaces labelled
    winpod-test.io/webhook=<name>; returns once the apiserver calls it."""
    settings = {"kubernetesVersion": apiserver.minor, **(config or {})}
    server = webhook_server(settings)
    label = {"winpod-test.io/webhook": name}
    probe_namespace = f"{name}-probe"
    apiserver.ensure_namespace(probe_namespace, label)
    probe = windows_pod("probe", {"resources": {"limits": {"memory": "64Mi"}}})

    def called() -> bool:
        verdict = apiserver.dry_run_create(probe, probe_namespace)
        return any(w.startswith("winpod set") for w in verdict.warnings)

    apiserver.register_webhooks(
        name,
        validate_url=f"{server.url}/validate",
        mutate_url=f"{server.url}/mutate",
        ca_bundle_pem=server.ca.cert_pem,
        namespace_selector={"matchLabels": label},
        probe=called,
    )
    return Hooked(apiserver, server, name, label)


def hooked(
    apiserver: ApiServer,
    webhook_server: StartWebhook,
    name: str,
    config: Mapping[str, Any] | None = None,
) -> Iterator[Hooked]:
    """For a fixture to `yield from`: `hook(...)` for the test, unregistered after it."""
    yield hook(apiserver, webhook_server, name, config)
    apiserver.unregister_webhooks(name)
