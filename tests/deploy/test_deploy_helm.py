"""The Helm chart renders what the kustomize overlays render, through a real Helm engine.

The engine is helm-python-sdk (Helm v4.2's Go SDK, compiled, from PyPI): templates, the values
schema and `helm lint` are Helm's own, not a re-implementation.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from deploy_render import (
    CHART,
    NAMESPACE,
    WEBHOOK_KINDS,
    Doc,
    comparable_webhooks,
    config_of,
    decode_ca_bundle,
    find,
    helm_install_refusal,
    helm_render,
    kinds_and_names,
    load_docs,
    one,
    webhook_pod_spec,
)
from winpod.certs import service_dns_names

pytestmark = pytest.mark.usefixtures("helm_available")


def _comparable_pod_spec(docs: list[Doc]) -> dict[str, Any]:
    spec = dict(webhook_pod_spec(docs))
    # The ConfigMap's name differs by kustomize's content hash; the image tag by who sets it.
    spec["volumes"] = [v for v in spec["volumes"] if v["name"] != "config"]
    spec["containers"] = [{k: v for k, v in c.items() if k != "image"} for c in spec["containers"]]
    return spec


# What of the rendered objects Helm and kustomize must agree on, by name.
SAME_AS_KUSTOMIZE: dict[str, Callable[[list[Doc]], Any]] = {
    "kinds and names": kinds_and_names,
    "webhooks": comparable_webhooks,
    "webhook pods": _comparable_pod_spec,
}


@pytest.mark.parametrize("view", SAME_AS_KUSTOMIZE.values(), ids=SAME_AS_KUSTOMIZE)
def test_helm_renders_the_same_as_kustomize(
    kustomized: dict[str, list[Doc]],
    helmed: dict[str, list[Doc]],
    overlay: str,
    view: Callable[[list[Doc]], Any],
) -> None:
    assert view(helmed[overlay]) == view(kustomized[overlay])


def test_helm_renders_the_same_config_rbac_pdb_and_service_as_kustomize(
    kustomized: dict[str, list[Doc]], helmed: dict[str, list[Doc]], overlay: str
) -> None:
    k, h = kustomized[overlay], helmed[overlay]
    assert config_of(h) == config_of(k)
    for kind in ("PodDisruptionBudget", "Service"):
        assert one(h, kind)["spec"] == one(k, kind)["spec"], kind
    assert one(h, "ClusterRole")["rules"] == one(k, "ClusterRole")["rules"]
    for field in ("roleRef", "subjects"):
        assert one(h, "ClusterRoleBinding")[field] == one(k, "ClusterRoleBinding")[field]
    assert (
        one(h, "Namespace")["metadata"]["labels"].items()
        >= {
            n: v
            for n, v in one(k, "Namespace")["metadata"]["labels"].items()
            if n.startswith("pod-security.")
        }.items()
    )


def test_the_cert_manager_resources_match_kustomize(
    kustomized: dict[str, list[Doc]], helmed: dict[str, list[Doc]]
) -> None:
    for kind in ("Issuer", "Certificate"):
        k = {d["metadata"]["name"]: d["spec"] for d in find(kustomized["cert-manager"], kind)}
        h = {d["metadata"]["name"]: d["spec"] for d in find(helmed["cert-manager"], kind)}
        assert h == k, kind


def test_the_self_managed_secret_matches_kustomize(
    kustomized: dict[str, list[Doc]], helmed: dict[str, list[Doc]]
) -> None:
    k = one(kustomized["self-managed"], "Secret", "winpod-tls")
    h = one(helmed["self-managed"], "Secret", "winpod-tls")
    assert h["type"] == k["type"] == "kubernetes.io/tls"
    assert {n: decode_ca_bundle(v) for n, v in h["data"].items()} == {
        n: decode_ca_bundle(v) for n, v in k["data"].items()
    }


def test_the_audit_option_renders_the_audit_addon(
    audit_kustomized: list[Doc], audit_helmed: list[Doc], helmed: dict[str, list[Doc]]
) -> None:
    added = kinds_and_names(audit_helmed) - kinds_and_names(helmed["cert-manager"])
    # The kustomize addon stands alone, so it carries its own ConfigMap; the chart's audit job
    # mounts the webhook's config instead.
    assert added == kinds_and_names(audit_kustomized) - {("ConfigMap", "winpod-audit-config")}
    h = one(audit_helmed, "CronJob", "winpod-audit")["spec"]["jobTemplate"]["spec"]["template"]
    k = one(audit_kustomized, "CronJob", "winpod-audit")["spec"]["jobTemplate"]["spec"]["template"]
    assert h["spec"]["containers"][0]["args"] == k["spec"]["containers"][0]["args"]
    assert (
        one(audit_helmed, "ClusterRole", "winpod-audit")["rules"]
        == one(audit_kustomized, "ClusterRole", "winpod-audit")["rules"]
    )


def test_another_release_name_and_namespace_flow_into_every_reference() -> None:
    import helm_python

    with helm_python.Chart.load(str(CHART)) as chart:
        manifests = chart.render({}, name="policy", namespace="admission")
    docs = [
        d for name, text in manifests.items() if name.endswith(".yaml") for d in load_docs(text)
    ]
    notes = manifests["winpod/templates/NOTES.txt"]
    assert "Never checked: kube-system, kube-node-lease, admission," in notes
    assert "kubectl delete validatingwebhookconfiguration policy-winpod" in notes
    assert one(docs, "Service")["metadata"]["name"] == "policy-winpod"
    for kind in WEBHOOK_KINDS:
        doc = one(docs, kind)
        assert doc["metadata"]["annotations"]["cert-manager.io/inject-ca-from"] == (
            "admission/policy-winpod-serving"
        )
        (hook,) = doc["webhooks"]
        assert hook["clientConfig"]["service"]["namespace"] == "admission"
        names = hook["namespaceSelector"]["matchExpressions"][0]["values"]
        assert names == ["kube-system", "kube-node-lease", "admission"]
    serving = one(docs, "Certificate", "policy-winpod-serving")
    assert serving["spec"]["dnsNames"] == service_dns_names("policy-winpod", "admission")
    assert webhook_pod_spec(docs)["serviceAccountName"] == "policy-winpod"


def test_the_chart_owns_no_namespace_by_default_and_sets_priority_only_when_asked() -> None:
    docs = helm_render({})
    assert not find(docs, "Namespace")
    assert "priorityClassName" not in webhook_pod_spec(docs)
    docs = helm_render({"priorityClassName": "system-cluster-critical"})
    assert webhook_pod_spec(docs)["priorityClassName"] == "system-cluster-critical"


def test_a_config_change_rolls_the_webhook_pods() -> None:
    def checksum(values: dict[str, Any]) -> str:
        template = one(helm_render(values), "Deployment")["spec"]["template"]
        value: str = template["metadata"]["annotations"]["checksum/config"]
        return value

    assert checksum({}) != checksum({"warnOnly": True})


@pytest.mark.parametrize(
    ("values", "complaint"),
    [
        ({"replicaCount": 1}, "/replicaCount"),
        ({"timeoutSeconds": {"mutating": 10, "validating": 5}}, "/timeoutSeconds/mutating"),
        ({"timeoutSeconds": {"mutating": 3, "validating": 30}}, "/timeoutSeconds/validating"),
        ({"failurePolicy": "Sometimes"}, "/failurePolicy"),
        ({"certificates": {"mode": "self"}}, "/certificates/mode"),
        ({"replicas": 3}, "replicas"),
        ({"shutdownDelaySeconds": 2.5}, "/shutdownDelaySeconds"),
        ({"shutdownDelaySeconds": -1}, "/shutdownDelaySeconds"),
        ({"podDisruptionBudget": {"minAvailable": "most"}}, "/podDisruptionBudget/minAvailable"),
        ({"podDisruptionBudget": {"minAvailable": "150%"}}, "/podDisruptionBudget/minAvailable"),
        ({"metrics": {"serviceMonitor": {"interval": "often"}}}, "/metrics/serviceMonitor"),
        ({"metrics": {"service": {"port": 9090}}}, "/metrics/service"),
        ({"kubeSystem": {"enabled": "yes"}}, "/kubeSystem/enabled"),
    ],
)
def test_the_values_schema_refuses_an_unsafe_install(
    values: dict[str, Any], complaint: str
) -> None:
    import helm_python

    with pytest.raises(helm_python.HelmError) as caught:
        helm_render(values)
    assert complaint in str(caught.value)


def test_the_shutdown_delay_value_sets_the_flag_and_stretches_the_grace_period() -> None:
    for delay, grace in ((5, 30), (15, 40), (0, 25)):
        spec = webhook_pod_spec(helm_render({"shutdownDelaySeconds": delay}))
        assert f"--shutdown-delay-seconds={delay}" in spec["containers"][0]["args"]
        assert spec["terminationGracePeriodSeconds"] == grace


# ---- the PodDisruptionBudget never blocks a drain -------------------------------------------

DRAIN_HANGS = "no winpod pod could ever be evicted, so every node drain would hang"


@pytest.mark.parametrize(
    ("values", "kept"),
    [
        (
            {"podDisruptionBudget": {"minAvailable": 2}},
            "minAvailable 2 asks for 2 pods up at all times and replicaCount is 2",
        ),
        (
            {"podDisruptionBudget": {"minAvailable": 5}},
            "minAvailable 5 asks for 5 pods up at all times and replicaCount is 2",
        ),
        (
            {"replicaCount": 3, "podDisruptionBudget": {"minAvailable": 3}},
            "asks for 3 pods up at all times and replicaCount is 3",
        ),
        ({"podDisruptionBudget": {"minAvailable": "100%"}}, "minAvailable 100% asks for 2 pods"),
        # 51% of 2 is 1.02, which the disruption controller rounds up to 2.
        ({"podDisruptionBudget": {"minAvailable": "51%"}}, "minAvailable 51% asks for 2 pods"),
        (
            {"replicaCount": 3, "podDisruptionBudget": {"minAvailable": "67%"}},
            "67% asks for 3 pods up at all times and replicaCount is 3",
        ),
    ],
)
def test_helm_refuses_a_pdb_that_would_block_every_drain(values: dict[str, Any], kept: str) -> None:
    import helm_python

    with pytest.raises(helm_python.HelmError) as caught:
        helm_render(values)
    message = str(caught.value)
    assert kept in message and DRAIN_HANGS in message
    assert "Set minAvailable below replicaCount" in message


@pytest.mark.parametrize(
    "values",
    [
        {},
        {"podDisruptionBudget": {"minAvailable": 0}},
        {"replicaCount": 3, "podDisruptionBudget": {"minAvailable": 2}},
        {"podDisruptionBudget": {"minAvailable": "50%"}},
        {"replicaCount": 3, "podDisruptionBudget": {"minAvailable": "66%"}},
    ],
)
def test_a_pdb_that_lets_one_pod_go_renders_as_given(values: dict[str, Any]) -> None:
    docs = helm_render(values)
    wanted = values.get("podDisruptionBudget", {}).get("minAvailable", 1)
    assert one(docs, "PodDisruptionBudget")["spec"]["minAvailable"] == wanted


def test_helm_install_refuses_a_pdb_that_blocks_drains_and_installs_the_default() -> None:
    refusal, manifest = helm_install_refusal({"podDisruptionBudget": {"minAvailable": 2}})
    assert DRAIN_HANGS in refusal
    assert "kind: PodDisruptionBudget" in manifest


def test_self_managed_certificates_without_the_files_name_the_missing_value() -> None:
    import helm_python

    with pytest.raises(helm_python.HelmError) as caught:
        helm_render({"certificates": {"mode": "selfManaged"}})
    assert "certificates.selfManaged.caCrt is required" in str(caught.value)
    assert "--set-file" in str(caught.value)


def test_helm_lint_passes_in_strict_mode() -> None:
    import helm_python

    every_option = {
        "warnOnly": True,
        "failurePolicy": "Fail",
        "audit": {"enabled": True},
        "kubeSystem": {"enabled": True},
        "metrics": {"serviceMonitor": {"enabled": True, "labels": {"release": "prometheus"}}},
    }
    for values in ({}, every_option):
        report = helm_python.lint(str(CHART), values, strict=True, namespace=NAMESPACE)
        problems = [m for m in report["messages"] if m["severity"] >= 2]
        assert not report["errors"] and not problems, report
