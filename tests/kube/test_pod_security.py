"""winpod and Pod Security, through the real apiservers: a chart written for a namespace that
enforces `restricted` (runAsNonRoot, no privilege escalation, capabilities dropped, a seccomp
profile, a user id) deployed to Windows nodes. Restricted exempts Linux-only fields only for
pods with spec.os.name windows (from policy version 1.25), and the apiserver rejects those
fields once spec.os.name is windows, so the only way to an os-stamped Windows pod in such a
namespace is to stamp the OS and drop the fields together: what winpod's fixes say, and what
mutation.windowsDropLinuxFields does."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import StartWebhook
from tests.kube.controlplane import ApiServer, ApiVerdict
from tests.kube.hooks import Hooked, hooked, windows_pod
from tests.rules.builders import RESTRICTED_CONTEXT

RESTRICTED = {"pod-security.kubernetes.io/enforce": "restricted"}
LINUX_ONLY = ("allowPrivilegeEscalation", "capabilities", "seccompProfile", "runAsUser")


def restricted_chart_pod(name: str) -> dict[str, Any]:
    context = copy.deepcopy(RESTRICTED_CONTEXT)
    return windows_pod(
        name, {"resources": {"limits": {"memory": "128Mi"}}, "securityContext": context}
    )


def admitted_chart(hooked: Hooked, namespace: str) -> ApiVerdict:
    """The chart's pod created in `namespace`, which enforces restricted and which `hooked`
    reviews: Pod Security and winpod must both admit it."""
    pod = restricted_chart_pod("chart")
    verdict = hooked.apiserver.create(pod, hooked.namespace(namespace, RESTRICTED))
    assert verdict.allowed, verdict.message
    return verdict


@pytest.fixture
def dropping(apiserver: ApiServer, webhook_server: StartWebhook) -> Iterator[Hooked]:
    yield from hooked(
        apiserver, webhook_server, "psa-drop", {"mutation": {"windowsDropLinuxFields": True}}
    )


@pytest.fixture
def default(apiserver: ApiServer, webhook_server: StartWebhook) -> Iterator[Hooked]:
    yield from hooked(apiserver, webhook_server, "psa-default")


def test_without_spec_os_name_removing_the_linux_fields_is_refused_by_pod_security(
    apiserver: ApiServer,
) -> None:
    # Why winpod's fixes say "set spec.os.name windows and remove ...": removing alone fails.
    apiserver.ensure_namespace("psa-plain", RESTRICTED)
    pod = restricted_chart_pod("bare")
    for key in LINUX_ONLY:
        del pod["spec"]["containers"][0]["securityContext"][key]
    verdict = apiserver.dry_run_create(pod, "psa-plain")
    assert not verdict.allowed and verdict.code == 403
    assert "violates PodSecurity" in verdict.message


def test_the_chart_stamped_windows_with_its_linux_fields_is_rejected_by_the_apiserver(
    apiserver: ApiServer,
) -> None:
    apiserver.ensure_namespace("psa-plain", RESTRICTED)
    pod = restricted_chart_pod("stamped")
    pod["spec"]["os"] = {"name": "windows"}
    verdict = apiserver.dry_run_create(pod, "psa-plain")
    assert not verdict.allowed and verdict.code == 422
    assert {c.field for c in verdict.causes} == {
        f"spec.containers[0].securityContext.{key}" for key in LINUX_ONLY
    }


def test_winpods_default_mutation_leaves_the_chart_unstamped_so_it_is_admitted(
    apiserver: ApiServer, default: Hooked
) -> None:
    verdict = admitted_chart(default, "psa-default-ns")
    assert verdict.object is not None and "os" not in verdict.object["spec"]
    if apiserver.minor != "1.24":  # 1.24 gets no spec.os.name from winpod at all
        assert any("left spec.os.name unset" in w for w in verdict.warnings), verdict.warnings


def test_drop_linux_fields_stamps_windows_and_pod_security_admits_the_chart(
    apiserver: ApiServer, dropping: Hooked
) -> None:
    verdict = admitted_chart(dropping, "psa-drop-ns")
    stored = apiserver.get("Pod", "chart", "psa-drop-ns")
    assert stored is not None
    context = stored["spec"]["containers"][0]["securityContext"]
    if apiserver.minor == "1.24":
        # Pod Security 1.24 exempts no Windows pod: stamping would make the chart inadmissible,
        # and spec.os is only beta there, so winpod stamps nothing and drops nothing.
        assert "os" not in stored["spec"]
        assert set(LINUX_ONLY) <= set(context)
    else:
        assert stored["spec"]["os"] == {"name": "windows"}
        assert context == {"runAsNonRoot": True}
        assert any(w.startswith("winpod set") and "removed" in w for w in verdict.warnings)


def test_drop_linux_fields_never_drops_what_cannot_work(
    apiserver: ApiServer, dropping: Hooked
) -> None:
    namespace = dropping.namespace("psa-drop-priv")  # no Pod Security level: privileged
    pod = restricted_chart_pod("priv")
    pod["spec"]["containers"][0]["securityContext"]["privileged"] = True
    pod["spec"]["containers"][0]["securityContext"].pop("allowPrivilegeEscalation")
    verdict = apiserver.dry_run_create(copy.deepcopy(pod), namespace)
    assert not verdict.allowed and "(rule windows-privileged)" in verdict.message
