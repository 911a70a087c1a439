"""What every install of winpod must be, whichever overlay or Helm values render it.

Each test runs for the four overlays (cert-manager, self-managed, warn-only, fail-closed), once
rendered by kustomize and once by the Helm chart with the equivalent values.
"""

from __future__ import annotations

from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from deploy_render import (
    DEPLOY,
    NAMESPACE,
    SERVICE,
    WEBHOOK_KINDS,
    Doc,
    config_of,
    config_text_of,
    find,
    kinds_and_names,
    one,
    webhook_pod_spec,
)
from winpod.certs import service_dns_names
from winpod.config import Config, load_config
from winpod.webhook.server import GRACEFUL_SHUTDOWN_SECONDS

WARN_ONLY_PATCH = DEPLOY / "components" / "warn-only" / "config-patch.yaml"
SCHEMA_VERSIONS = ("1.27.0", "1.37.0")  # the chart's kubeVersion floor, and the newest known


def webhooks(docs: list[Doc]) -> list[tuple[str, Doc]]:
    return [(d["kind"], hook) for d in docs if d["kind"] in WEBHOOK_KINDS for hook in d["webhooks"]]


def test_every_built_in_object_validates_against_the_kubernetes_schema(rendered: list[Doc]) -> None:
    checked = 0
    for doc in rendered:
        if doc["apiVersion"].startswith("cert-manager.io/"):
            continue  # a CRD: no schema here; its fields are checked in test_deploy_certs
        for version in SCHEMA_VERSIONS:
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.ValidationError as exc:
                where = "/".join(str(p) for p in exc.path)
                pytest.fail(
                    f"{doc['kind']} {doc['metadata']['name']} ({version}) at {where}: {exc.message}"
                )
        checked += 1
    assert checked >= 10


def test_webhooks_skip_kube_system_kube_node_lease_and_winpods_own_namespace(
    rendered: list[Doc],
) -> None:
    for kind, hook in webhooks(rendered):
        expressions = hook["namespaceSelector"]["matchExpressions"]
        names = [e for e in expressions if e["key"] == "kubernetes.io/metadata.name"]
        assert len(names) == 1 and names[0]["operator"] == "NotIn", kind
        assert {"kube-system", "kube-node-lease", NAMESPACE} <= set(names[0]["values"]), kind


def test_a_namespace_labelled_winpod_ignore_true_opts_out(rendered: list[Doc]) -> None:
    for kind, hook in webhooks(rendered):
        expressions = hook["namespaceSelector"]["matchExpressions"]
        assert {
            "key": "winpod.io/ignore",
            "operator": "NotIn",
            "values": ["true"],
        } in expressions, kind
        assert "objectSelector" not in hook


def test_webhooks_declare_no_side_effects_and_speak_admission_review_v1(
    rendered: list[Doc],
) -> None:
    hooks = webhooks(rendered)
    assert sorted(kind for kind, _ in hooks) == sorted(WEBHOOK_KINDS)
    for _, hook in hooks:
        assert hook["sideEffects"] == "None"
        assert hook["admissionReviewVersions"] == ["v1"]
        assert hook["matchPolicy"] == "Equivalent"


def test_webhook_timeouts_are_short(rendered: list[Doc]) -> None:
    for kind, hook in webhooks(rendered):
        limit = 3 if kind == "MutatingWebhookConfiguration" else 5
        assert 1 <= hook["timeoutSeconds"] <= limit, kind


def test_the_mutating_hook_is_reinvoked_if_needed(rendered: list[Doc]) -> None:
    (hook,) = one(rendered, "MutatingWebhookConfiguration")["webhooks"]
    assert hook["reinvocationPolicy"] == "IfNeeded"


def test_the_mutating_hook_sees_only_pod_creates(rendered: list[Doc]) -> None:
    (hook,) = one(rendered, "MutatingWebhookConfiguration")["webhooks"]
    assert hook["clientConfig"]["service"]["path"] == "/mutate"
    assert hook["rules"] == [
        {
            "apiGroups": [""],
            "apiVersions": ["v1"],
            "operations": ["CREATE"],
            "resources": ["pods"],
            "scope": "Namespaced",
        }
    ]


def test_the_validating_hook_covers_pods_and_every_workload_kind(rendered: list[Doc]) -> None:
    (hook,) = one(rendered, "ValidatingWebhookConfiguration")["webhooks"]
    assert hook["clientConfig"]["service"]["path"] == "/validate"
    covered = set()
    for rule in hook["rules"]:
        assert rule["operations"] == ["CREATE", "UPDATE"]
        assert rule["apiVersions"] == ["v1"]
        covered |= {(group, res) for group in rule["apiGroups"] for res in rule["resources"]}
    assert covered == {
        ("", "pods"),
        ("", "pods/ephemeralcontainers"),
        ("", "podtemplates"),
        ("", "replicationcontrollers"),
        ("apps", "deployments"),
        ("apps", "replicasets"),
        ("apps", "statefulsets"),
        ("apps", "daemonsets"),
        ("batch", "jobs"),
        ("batch", "cronjobs"),
    }


def test_failure_policy_is_ignore_unless_the_install_fails_closed(
    rendered: list[Doc], overlay: str
) -> None:
    expected = "Fail" if overlay == "fail-closed" else "Ignore"
    assert [hook["failurePolicy"] for _, hook in webhooks(rendered)] == [expected, expected]


def test_webhooks_call_the_winpod_service_on_443(rendered: list[Doc]) -> None:
    service = one(rendered, "Service", SERVICE)
    ports = {p["port"]: p for p in service["spec"]["ports"]}
    container = webhook_pod_spec(rendered)["containers"][0]
    container_ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert container_ports[ports[443]["targetPort"]] == 8443
    for _, hook in webhooks(rendered):
        target = hook["clientConfig"]["service"]
        assert (target["name"], target["namespace"], target["port"]) == (SERVICE, NAMESPACE, 443)


def test_the_service_selects_the_webhook_pods(rendered: list[Doc]) -> None:
    selector = one(rendered, "Service", SERVICE)["spec"]["selector"]
    labels = one(rendered, "Deployment", "winpod")["spec"]["template"]["metadata"]["labels"]
    assert selector and selector.items() <= labels.items()


def test_every_webhook_has_a_way_to_trust_the_server(rendered: list[Doc], overlay: str) -> None:
    for doc in find(rendered, "MutatingWebhookConfiguration") + find(
        rendered, "ValidatingWebhookConfiguration"
    ):
        injected = doc["metadata"].get("annotations", {}).get("cert-manager.io/inject-ca-from")
        bundles = [h["clientConfig"].get("caBundle") for h in doc["webhooks"]]
        if overlay == "self-managed":
            assert injected is None and all(bundles)
        else:
            assert injected == f"{NAMESPACE}/winpod-serving" and not any(bundles)


def test_webhook_pods_are_pinned_to_linux_nodes(rendered: list[Doc]) -> None:
    assert webhook_pod_spec(rendered)["nodeSelector"] == {"kubernetes.io/os": "linux"}


def test_at_least_two_replicas_spread_across_nodes_with_a_pdb(rendered: list[Doc]) -> None:
    deployment = one(rendered, "Deployment", "winpod")
    assert deployment["spec"]["replicas"] >= 2
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    pdb = one(rendered, "PodDisruptionBudget", "winpod")
    assert pdb["spec"]["minAvailable"] == 1 < deployment["spec"]["replicas"]
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    spread = {c["topologyKey"]: c for c in webhook_pod_spec(rendered)["topologySpreadConstraints"]}
    by_node = spread["kubernetes.io/hostname"]
    assert by_node["maxSkew"] == 1 and by_node["whenUnsatisfiable"] == "DoNotSchedule"
    assert by_node["labelSelector"]["matchLabels"].items() <= pod_labels.items()


def test_webhook_pods_never_run_as_root_and_write_nothing(rendered: list[Doc]) -> None:
    spec = webhook_pod_spec(rendered)
    pod = spec["securityContext"]
    assert pod["runAsNonRoot"] is True and pod["runAsUser"] != 0
    assert pod["seccompProfile"] == {"type": "RuntimeDefault"}
    for container in spec["containers"]:
        sc = container["securityContext"]
        assert sc["runAsNonRoot"] is True and sc.get("runAsUser", pod["runAsUser"]) != 0
        assert sc["allowPrivilegeEscalation"] is False
        assert sc["readOnlyRootFilesystem"] is True
        assert sc["capabilities"] == {"drop": ["ALL"]}
        assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
        assert sc.get("privileged", False) is False
    assert not spec.get("hostNetwork") and not spec.get("hostPID") and not spec.get("hostIPC")


def test_the_namespace_enforces_the_restricted_pod_security_profile(rendered: list[Doc]) -> None:
    labels = one(rendered, "Namespace", NAMESPACE)["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"


def test_memory_request_equals_the_limit_and_cpu_is_requested(rendered: list[Doc]) -> None:
    resources = webhook_pod_spec(rendered)["containers"][0]["resources"]
    assert resources["requests"]["memory"] == resources["limits"]["memory"]
    assert resources["requests"]["cpu"]


def test_probes_ask_healthz_and_readyz_over_https(rendered: list[Doc]) -> None:
    container = webhook_pod_spec(rendered)["containers"][0]
    live, ready = container["livenessProbe"]["httpGet"], container["readinessProbe"]["httpGet"]
    assert (live["path"], live["scheme"], live["port"]) == ("/healthz", "HTTPS", "https")
    assert (ready["path"], ready["scheme"], ready["port"]) == ("/readyz", "HTTPS", "https")


def test_the_server_arguments_match_the_mounted_files(rendered: list[Doc]) -> None:
    spec = webhook_pod_spec(rendered)
    container = spec["containers"][0]
    assert container["args"] == [
        "--config=/etc/winpod/config.yaml",
        "--cert-file=/etc/winpod/tls/tls.crt",
        "--key-file=/etc/winpod/tls/tls.key",
        "--port=8443",
        "--watch-cluster",
        "--shutdown-delay-seconds=5",
    ]
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    assert (mounts["config"]["mountPath"], mounts["config"]["subPath"]) == (
        "/etc/winpod/config.yaml",
        "config.yaml",
    )
    # A directory mount: a renewed Secret reaches the running server (subPath would freeze it).
    assert mounts["tls"]["mountPath"] == "/etc/winpod/tls" and "subPath" not in mounts["tls"]
    volumes = {v["name"]: v for v in spec["volumes"]}
    secret_name = volumes["tls"]["secret"]["secretName"]
    issued = [c["spec"]["secretName"] for c in find(rendered, "Certificate")]
    generated = [s["metadata"]["name"] for s in find(rendered, "Secret")]
    assert secret_name in issued + generated


def shutdown_delay(container: Doc) -> float:
    (value,) = [
        a.removeprefix("--shutdown-delay-seconds=")
        for a in container["args"]
        if a.startswith("--shutdown-delay-seconds=")
    ]
    return float(value)


def test_a_stopping_pod_keeps_answering_while_its_endpoint_is_removed(rendered: list[Doc]) -> None:
    spec = webhook_pod_spec(rendered)
    (container,) = spec["containers"]
    delay = shutdown_delay(container)
    # Long enough for kube-proxy and the apiserver to drop the endpoint, short enough that a
    # rollout of two replicas stays quick.
    assert 5 <= delay <= 15
    # SIGKILL never cuts the drain or the graceful shutdown after it short.
    assert spec["terminationGracePeriodSeconds"] >= delay + GRACEFUL_SHUTDOWN_SECONDS
    # The server drains itself on SIGTERM; a preStop hook would run before it and stack its
    # wait on top, inside the same grace period.
    assert "lifecycle" not in container


def test_the_rendered_config_loads_with_the_strict_config_loader(
    rendered: list[Doc], overlay: str, tmp_path: Path
) -> None:
    # Through the file, as the server reads it (YAML 1.1: Helm writes an unquoted off as false).
    path = tmp_path / "config.yaml"
    path.write_text(config_text_of(rendered))
    config = load_config(path)
    assert config == Config.model_validate(config_of(rendered))
    assert config.maxAction == ("warn" if overlay == "warn-only" else None)


def test_the_webhook_may_only_read_runtimeclasses_and_namespaces(rendered: list[Doc]) -> None:
    role = one(rendered, "ClusterRole", "winpod")
    grants = {
        (group, resource, verb)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }
    assert grants == {
        (group, resource, verb)
        for group, resource in (("node.k8s.io", "runtimeclasses"), ("", "namespaces"))
        for verb in ("get", "list", "watch")
    }
    binding = one(rendered, "ClusterRoleBinding", "winpod")
    assert binding["roleRef"]["name"] == "winpod"
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "winpod", "namespace": NAMESPACE}
    ]
    assert webhook_pod_spec(rendered)["serviceAccountName"] == "winpod"
    assert not find(rendered, "Role") and not find(rendered, "RoleBinding")


def test_the_cert_manager_certificate_names_every_service_dns_name(
    rendered: list[Doc], overlay: str
) -> None:
    if overlay == "self-managed":
        assert not find(rendered, "Certificate")
        return
    serving = one(rendered, "Certificate", "winpod-serving")
    assert serving["spec"]["dnsNames"] == service_dns_names(SERVICE, NAMESPACE)
    assert serving["spec"]["issuerRef"] == {"kind": "Issuer", "name": "winpod-ca"}
    ca = one(rendered, "Certificate", "winpod-ca")
    assert ca["spec"]["isCA"] is True
    assert (
        one(rendered, "Issuer", "winpod-ca")["spec"]["ca"]["secretName"] == ca["spec"]["secretName"]
    )


def test_warn_only_changes_nothing_in_the_config_but_its_one_key_patch(
    kustomized: dict[str, list[Doc]],
    helmed: dict[str, list[Doc]],
) -> None:
    patch = yaml.safe_load(WARN_ONLY_PATCH.read_text())
    assert patch == {"maxAction": "warn"}
    for docs in (kustomized, helmed):
        assert config_of(docs["warn-only"]) == {**config_of(docs["cert-manager"]), **patch}


def test_kustomize_puts_the_webhook_configurations_last(kustomized: dict[str, list[Doc]]) -> None:
    # One `kubectl apply` creates the server's objects before the apiserver starts calling it.
    for docs in kustomized.values():
        assert {d["kind"] for d in docs[-2:]} == set(WEBHOOK_KINDS)


COMMON = {
    ("Namespace", "winpod"),
    ("ServiceAccount", "winpod"),
    ("ClusterRole", "winpod"),
    ("ClusterRoleBinding", "winpod"),
    ("ConfigMap", "winpod-config"),
    ("Service", "winpod"),
    ("Deployment", "winpod"),
    ("PodDisruptionBudget", "winpod"),
    ("MutatingWebhookConfiguration", "winpod"),
    ("ValidatingWebhookConfiguration", "winpod"),
}
CERT_MANAGER = {
    ("Issuer", "winpod-selfsigned"),
    ("Certificate", "winpod-ca"),
    ("Issuer", "winpod-ca"),
    ("Certificate", "winpod-serving"),
}


def test_every_overlay_renders_exactly_its_objects(rendered: list[Doc], overlay: str) -> None:
    extra = {("Secret", "winpod-tls")} if overlay == "self-managed" else CERT_MANAGER
    assert kinds_and_names(rendered) == COMMON | extra
    namespaced = [
        d
        for d in rendered
        if d["kind"] not in ("Namespace", "ClusterRole", "ClusterRoleBinding", *WEBHOOK_KINDS)
    ]
    assert {d["metadata"].get("namespace") for d in namespaced} == {NAMESPACE}
