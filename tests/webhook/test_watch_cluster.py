"""`winpod serve --watch-cluster` end to end: namespace labels from a stand-in apiserver
(tests/cluster/standin.py) change what the webhook decides, live, over the config's entry."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cluster.standin import StandinAPIServer
from tests.conftest import AdmissionClient, StartWebhook
from tests.webhook.reviews import privileged_windows_pod, review


@pytest.fixture
def apiserver() -> Iterator[StandinAPIServer]:
    with StandinAPIServer(bookmark_interval=0.1) as server:
        yield server


def namespace(name: str, **labels: str) -> dict[str, object]:
    return {"metadata": {"name": name, "labels": labels}}


def allowed_in(client: AdmissionClient, ns: str) -> bool:
    pod = privileged_windows_pod("watched")
    pod["metadata"]["namespace"] = ns
    response = client.review(review(pod, namespace=ns)).json()["response"]
    return bool(response["allowed"])


def test_namespace_labels_from_the_cluster_cap_the_action_and_follow_changes(
    webhook_server: StartWebhook, apiserver: StandinAPIServer, tmp_path: Path
) -> None:
    apiserver.put("namespaces", namespace("labelled", **{"winpod.io/max-action": "warn"}))
    apiserver.put("namespaces", namespace("plain"))
    kubeconfig = apiserver.write_kubeconfig(tmp_path / "kubeconfig")
    server = webhook_server(
        # The config caps "labelled" at audit; its label says warn: the label wins while it
        # is set, the config's entry applies once it is gone.
        {"namespaces": {"labelled": {"maxAction": "audit"}}},
        extra_args=["--watch-cluster"],
        env={"KUBECONFIG": str(kubeconfig), "KUBERNETES_SERVICE_HOST": ""},
    )  # webhook_server waits for /readyz, which waits for the first sync
    client = server.client()
    # The stand-in says v1.30.2: reviews are judged at 1.30, and /version says so.
    version = client.get("/version").json()
    assert (version["kubernetesVersion"], version["kubernetesVersionFrom"]) == ("1.30", "cluster")
    labelled = privileged_windows_pod("watched")
    labelled["metadata"]["namespace"] = "labelled"
    response = client.review(review(labelled, namespace="labelled")).json()["response"]
    assert response["allowed"] is True
    assert any("(rule windows-privileged)" in w for w in response["warnings"])  # warn, not audit
    assert allowed_in(client, "plain") is False

    # The label is removed: the config's entry (audit) applies from the next watch event.
    apiserver.put("namespaces", namespace("labelled"))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        response = client.review(review(labelled, namespace="labelled")).json()["response"]
        if "warnings" not in response:
            break
        time.sleep(0.05)
    assert response["allowed"] is True and "windows-privileged" in response["auditAnnotations"]

    # A label added to the plain namespace takes effect without a restart.
    apiserver.put("namespaces", namespace("plain", **{"winpod.io/max-action": "audit"}))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not allowed_in(client, "plain"):
        time.sleep(0.05)
    assert allowed_in(client, "plain") is True
    client.close()


def test_a_deployment_reaching_windows_through_a_runtime_class_is_denied_by_validate(
    webhook_server: StartWebhook, apiserver: StandinAPIServer, tmp_path: Path
) -> None:
    """The RuntimeClass admission plugin merges scheduling into Pods, not Deployments: only the
    cache of RuntimeClasses tells that this template lands on Windows."""
    apiserver.put("namespaces", namespace("apps"))
    apiserver.put(
        "runtimeclasses",
        {
            "apiVersion": "node.k8s.io/v1",
            "kind": "RuntimeClass",
            "metadata": {"name": "windows-2022"},
            "handler": "runhcs-wcow-process",
            "scheduling": {"nodeSelector": {"kubernetes.io/os": "windows"}},
        },
    )
    server = webhook_server(
        None,
        extra_args=["--watch-cluster"],
        env={
            "KUBECONFIG": str(apiserver.write_kubeconfig(tmp_path / "kubeconfig")),
            "KUBERNETES_SERVICE_HOST": "",
        },
    )
    client = server.client()
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "renderer", "namespace": "apps"},
        "spec": {
            "selector": {"matchLabels": {"app": "r"}},
            "template": {
                "metadata": {"labels": {"app": "r"}},
                "spec": {
                    "runtimeClassName": "windows-2022",
                    "containers": [
                        {
                            "name": "r",
                            "image": "registry.example.com/renderer:2",
                            "resources": {"limits": {"memory": "1Gi"}},
                            "securityContext": {"privileged": True},
                        }
                    ],
                },
            },
        },
    }
    response = client.review(review(deployment, namespace="apps")).json()["response"]
    assert response["allowed"] is False
    assert (
        "spec.template.spec.containers[0].securityContext.privileged"
        in (response["status"]["message"])
    )
    metrics = client.get("/metrics").body.decode()
    assert "winpod_cluster_cache_ready" in metrics
    client.close()
