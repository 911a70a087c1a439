"""The mixed-cluster Linux pin and the apiserver profile through winpod's webhooks on the real
apiservers: what the stored pods look like and what kubectl is told."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import StartWebhook
from tests.kube.controlplane import ApiServer
from tests.kube.hooks import Hooked, hooked, pod, windows_pod

AGENT_IMAGE = "registry.k8s.io/pause:3.9"


def agent(name: str) -> dict[str, Any]:
    """A node agent written for Linux that tolerates every taint and says nothing of its OS."""
    agent = {"name": "agent", "image": AGENT_IMAGE, "securityContext": {"privileged": True}}
    return pod(name, hostPID=True, tolerations=[{"operator": "Exists"}], containers=[agent])


@pytest.fixture
def mixed(apiserver: ApiServer, webhook_server: StartWebhook) -> Iterator[Hooked]:
    yield from hooked(apiserver, webhook_server, "mixed", {"mixedCluster": True})


@pytest.fixture
def strict(apiserver: ApiServer, webhook_server: StartWebhook) -> Iterator[Hooked]:
    yield from hooked(apiserver, webhook_server, "strict", {"profile": "apiserver"})


def test_a_linux_only_agent_is_pinned_to_linux_in_a_mixed_cluster(
    apiserver: ApiServer, mixed: Hooked
) -> None:
    namespace = mixed.namespace("mixed-agents")
    verdict = apiserver.create(agent("node-agent"), namespace)
    assert verdict.allowed, verdict.message
    stored = apiserver.get("Pod", "node-agent", namespace)
    assert stored is not None and stored["spec"]["nodeSelector"] == {"kubernetes.io/os": "linux"}
    assert any("mixed cluster" in w for w in verdict.warnings), verdict.warnings


def test_the_apiserver_profile_denies_without_spec_os_what_the_apiserver_would_reject(
    apiserver: ApiServer, strict: Hooked
) -> None:
    namespace = strict.namespace("strict-apps")
    pod = windows_pod(
        "win",
        {"resources": {"limits": {"memory": "64Mi"}}, "securityContext": {"runAsUser": 1000}},
    )
    verdict = apiserver.dry_run_create(pod, namespace)
    assert not verdict.allowed and verdict.code == 403
    assert "spec.containers[0].securityContext.runAsUser" in verdict.message
    assert "(rule windows-run-as-user)" in verdict.message
    del pod["spec"]["containers"][0]["securityContext"]
    clean = apiserver.dry_run_create(pod, namespace)
    assert clean.allowed and clean.object is not None
    if apiserver.minor != "1.24":  # spec.os is GA from 1.25; winpod stamps it from there
        assert clean.object["spec"]["os"] == {"name": "windows"}
