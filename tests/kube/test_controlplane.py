"""The harness against the real kube-apiservers: each test runs once per version (k8s-1.24,
k8s-1.36), on the one control plane the session starts when the first of them needs it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.conftest import RunningWebhook, StartWebhook
from tests.kube.controlplane import (
    NO_APISERVER,
    ApiServer,
    ControlPlane,
    find_apiservers,
    find_etcd,
    parse_warning_headers,
)
from tests.kube.hooks import NANOSERVER, kubectl_warnings, needs_kubectl, windows_pod
from tests.rules.builders import deployment

HOOKED = {"winpod-test.io/webhook": "winpod"}


# --- without an apiserver ------------------------------------------------------------------


def test_warning_headers_are_unquoted_into_one_text_per_warning() -> None:
    headers = [
        '299 - "spec.nodeSelector[\\"kubernetes.io/os\\"]: a \\\\ backslash"',
        '299 - "first", 299 - "second" "Sat, 01 Jan 2000 00:00:00 GMT"',
        "not a warn-value",
    ]
    assert parse_warning_headers(headers) == [
        'spec.nodeSelector["kubernetes.io/os"]: a \\ backslash',
        "first",
        "second",
        "not a warn-value",
    ]


def test_missing_binaries_are_reported_with_what_to_set(tmp_path: Path) -> None:
    assert "neither an executable nor a directory" in str(
        find_apiservers({"KUBE_APISERVER": str(tmp_path / "absent")})
    )
    assert "holds no kube-apiserver-<minor> binaries" in str(
        find_apiservers({"KUBE_APISERVER": str(tmp_path)})
    )
    assert "is not an executable" in str(find_etcd({"KUBE_ETCD": str(tmp_path / "etcd")}))
    assert "KUBE_APISERVER" in NO_APISERVER and "shared/kube" in NO_APISERVER


# --- the apiservers themselves -------------------------------------------------------------


@pytest.mark.kube
def test_a_single_binary_is_found_by_the_version_it_prints(
    kube_control_plane: ControlPlane,
) -> None:
    for minor, binary in kube_control_plane.binaries.apiservers.items():
        assert find_apiservers({"KUBE_APISERVER": str(binary)}) == {minor: binary}


def test_each_apiserver_reports_its_own_version(apiserver: ApiServer) -> None:
    response = apiserver.request("GET", "/version")
    assert response.status == 200
    assert response.body_json["gitVersion"].startswith(f"v{apiserver.minor}.")
    assert apiserver.version == response.body_json["gitVersion"]


def test_a_minimal_windows_pod_is_allowed_by_a_dry_run_and_not_stored(
    apiserver: ApiServer, kube_namespace: str
) -> None:
    verdict = apiserver.dry_run_create(windows_pod("plain", os={"name": "windows"}), kube_namespace)
    assert verdict.allowed, verdict.message
    assert verdict.code == 201
    assert verdict.object is not None and verdict.object["spec"]["os"] == {"name": "windows"}
    assert apiserver.get("Pod", "plain", kube_namespace) is None


def test_a_windows_pod_that_sets_privileged_even_to_false_is_refused_at_that_field(
    apiserver: ApiServer, kube_namespace: str
) -> None:
    pod = windows_pod("p", {"securityContext": {"privileged": False}}, os={"name": "windows"})
    verdict = apiserver.dry_run_create(pod, kube_namespace)
    assert not verdict.allowed
    assert (verdict.code, verdict.reason) == (422, "Invalid")
    assert verdict.fields == ["spec.containers[0].securityContext.privileged"]
    assert verdict.causes[0].reason == "FieldValueForbidden"


def test_an_ephemeral_container_running_as_a_uid_is_refused_on_a_windows_pod(
    apiserver: ApiServer, kube_namespace: str
) -> None:
    assert apiserver.create(windows_pod("target", os={"name": "windows"}), kube_namespace).allowed
    debug = {"name": "debug", "image": NANOSERVER}

    refused = apiserver.ephemeral_dry_run(
        kube_namespace, "target", [{**debug, "securityContext": {"runAsUser": 1000}}]
    )
    assert (refused.code, refused.reason) == (422, "Invalid")
    assert refused.fields == ["spec.ephemeralContainers[0].securityContext.runAsUser"]

    allowed = apiserver.ephemeral_dry_run(kube_namespace, "target", [debug])
    assert allowed.allowed, allowed.message
    stored = apiserver.get("Pod", "target", kube_namespace)
    assert stored is not None and "ephemeralContainers" not in stored["spec"]  # a dry run
    assert apiserver.delete("Pod", "target", kube_namespace)


def test_kubectl_server_dry_run_gives_the_same_verdicts_as_the_api(
    apiserver: ApiServer, kube_namespace: str
) -> None:
    needs_kubectl()
    refused = windows_pod("p", {"securityContext": {"privileged": False}}, os={"name": "windows"})
    result = apiserver.kubectl(
        "create", "--dry-run=server", "-n", kube_namespace, "-f", "-", input=yaml.safe_dump(refused)
    )
    assert result.returncode == 1
    assert (
        'The Pod "p" is invalid: spec.containers[0].securityContext.privileged: Forbidden: '
        "cannot be set for a windows pod"
    ) in result.stderr
    assert not apiserver.dry_run_create(refused, kube_namespace).allowed

    allowed = windows_pod("plain", os={"name": "windows"})
    result = apiserver.kubectl(
        "create", "--dry-run=server", "-n", kube_namespace, "-f", "-", input=yaml.safe_dump(allowed)
    )
    assert (result.returncode, result.stdout, result.stderr) == (
        0,
        "pod/plain created (server dry run)\n",
        "",
    )


# --- a webhook registered by URL -----------------------------------------------------------


@pytest.fixture(scope="module")
def winpod(webhook_server: StartWebhook) -> RunningWebhook:
    return webhook_server({})


@pytest.fixture
def hooked_namespace(apiserver: ApiServer, winpod: RunningWebhook) -> Iterator[str]:
    """A namespace that winpod's webhooks (selected by label) see, once they are active."""
    namespace = "winpod-hooked"
    apiserver.ensure_namespace(namespace, HOOKED)

    def mutated() -> bool:
        verdict = apiserver.dry_run_create(windows_pod("probe"), namespace)
        return any(warning.startswith("winpod set") for warning in verdict.warnings)

    apiserver.register_webhooks(
        "winpod",
        validate_url=f"{winpod.url}/validate",
        mutate_url=f"{winpod.url}/mutate",
        ca_bundle_pem=winpod.ca.cert_pem,
        namespace_selector={"matchLabels": HOOKED},
        probe=mutated,
    )
    yield namespace
    apiserver.unregister_webhooks("winpod")


def test_the_webhook_denies_a_privileged_pod_placed_on_windows_by_node_selector(
    apiserver: ApiServer, hooked_namespace: str, kube_namespace: str
) -> None:
    pod = windows_pod("priv", {"securityContext": {"privileged": True}})
    verdict = apiserver.dry_run_create(pod, hooked_namespace)
    assert (verdict.allowed, verdict.code, verdict.reason) == (False, 403, "Forbidden")
    # The mutating hook answers first: the apiserver's own Windows validation runs between it
    # and the validating hook.
    assert verdict.message.startswith('admission webhook "mutate.winpod.winpod.test" denied')
    assert "(rule windows-privileged)" in verdict.message
    # A namespace the selector does not match never reaches winpod, and the apiserver alone has
    # nothing against a pod it cannot tell is a Windows pod.
    unhooked = apiserver.dry_run_create(pod, kube_namespace)
    assert (unhooked.allowed, unhooked.warnings) == (True, [])


def test_the_validating_webhook_denies_a_deployment_with_a_privileged_windows_template(
    apiserver: ApiServer, hooked_namespace: str
) -> None:
    pod = windows_pod("priv", {"securityContext": {"privileged": True}})
    verdict = apiserver.dry_run_create(deployment("priv", pod["spec"]), hooked_namespace)
    assert (verdict.allowed, verdict.code) == (False, 403)
    assert verdict.message.startswith('admission webhook "validate.winpod.winpod.test" denied')
    assert "spec.template.spec.containers[0].securityContext.privileged" in verdict.message


def test_kubectl_prints_the_webhook_warning_for_host_network_on_windows(
    apiserver: ApiServer, hooked_namespace: str
) -> None:
    needs_kubectl()
    pod = windows_pod("hostnet", hostNetwork=True)
    result = apiserver.kubectl(
        "create", "--dry-run=server", "-n", hooked_namespace, "-f", "-", input=yaml.safe_dump(pod)
    )
    assert (result.returncode, result.stdout) == (0, "pod/hostnet created (server dry run)\n")
    warnings = kubectl_warnings(result.stderr)
    assert any(
        w.startswith("spec.hostNetwork: ") and w.endswith("(rule windows-host-network)")
        for w in warnings
    ), result.stderr
    # The same texts as the Warning headers the API answered with, quotes and all.
    verdict = apiserver.dry_run_create(pod, hooked_namespace)
    assert verdict.allowed
    assert verdict.warnings == warnings
    assert verdict.object is not None and verdict.object["spec"]["os"] == {"name": "windows"}
