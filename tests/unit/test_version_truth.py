"""What the apiserver rejects, drops or does not know, release by release (issue 11, item 2).

Each test failed before the apiserver facts (app/engine/apifields.py) decided escalation: the
rules' `apiserverRejects` flag escalated every hit at every release, and "set" meant truthy."""

from __future__ import annotations

from typing import Any

import pytest
from winpod.config import Config
from winpod.engine.evaluate import Engine
from winpod.engine.kubeversion import parse_version

from tests.rules.builders import linux_pod
from tests.rules.cases import minimal_windows_pod


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine()


def _stamped(**spec: Any) -> dict[str, Any]:
    pod = minimal_windows_pod()
    pod["spec"]["os"] = {"name": "windows"}
    pod["spec"].update(spec)
    return pod


def _verdict(engine: Engine, pod: dict[str, Any], version: str) -> list[tuple[str, str, bool]]:
    result = engine.evaluate(pod, version=parse_version(version))
    return [(f.rule, f.action.value, f.apiserver_rejects) for f in result.findings]


def test_a_legacy_seccomp_annotation_is_rejected_on_a_windows_pod_only_before_1_27(
    engine: Engine,
) -> None:
    pod = _stamped()
    pod["metadata"]["annotations"] = {"seccomp.security.alpha.kubernetes.io/pod": "runtime/default"}
    # 1.24 copies the annotation into seccompProfile and rejects that; 1.27+ only warns.
    assert _verdict(engine, pod, "1.24") == [("windows-seccomp-profile", "deny", True)]
    assert _verdict(engine, pod, "1.36") == [("windows-seccomp-profile", "warn", False)]


def test_a_container_seccomp_annotation_counts_only_for_a_container_of_the_pod(
    engine: Engine,
) -> None:
    pod = _stamped()
    pod["metadata"]["annotations"] = {
        "container.seccomp.security.alpha.kubernetes.io/app": "runtime/default",
        "container.seccomp.security.alpha.kubernetes.io/gone": "runtime/default",
    }
    result = engine.evaluate(pod, version=parse_version("1.24"))
    by_path = {f.path: (f.action.value, f.apiserver_rejects) for f in result.findings}
    assert by_path == {
        'metadata.annotations["container.seccomp.security.alpha.kubernetes.io/app"]': (
            "deny",
            True,
        ),
        'metadata.annotations["container.seccomp.security.alpha.kubernetes.io/gone"]': (
            "warn",
            False,
        ),
    }


def test_the_apparmor_annotation_is_never_rejected_on_a_windows_pod(engine: Engine) -> None:
    pod = _stamped()
    pod["metadata"]["annotations"] = {
        "container.apparmor.security.beta.kubernetes.io/app": "runtime/default"
    }
    for version in ("1.24", "1.30", "1.36"):
        assert _verdict(engine, pod, version) == [("windows-apparmor-profile", "warn", False)]


@pytest.mark.parametrize(
    ("field", "value", "rule"),
    [
        ("supplementalGroups", [], "windows-supplemental-groups"),
        ("seLinuxOptions", {}, "windows-selinux-options"),
    ],
)
def test_an_empty_value_counts_as_set_for_the_apiserver(
    engine: Engine, field: str, value: Any, rule: str
) -> None:
    pod = _stamped()
    pod["spec"]["securityContext"][field] = value
    assert (rule, "deny", True) in _verdict(engine, pod, "1.36")
    del pod["spec"]["os"]  # without spec.os.name nothing rejects it, and Windows ignores it
    assert not engine.evaluate(pod, version=parse_version("1.36")).denied


def test_empty_pod_level_resources_are_rejected_once_spec_os_name_is_windows(
    engine: Engine,
) -> None:
    assert ("windows-pod-level-resources", "deny", True) in _verdict(
        engine, _stamped(resources={}), "1.36"
    )


def test_an_empty_container_capabilities_object_is_rejected_on_a_windows_pod(
    engine: Engine,
) -> None:
    pod = _stamped()
    pod["spec"]["containers"][0]["securityContext"] = {"capabilities": {}}
    assert _verdict(engine, pod, "1.36") == [("windows-capabilities", "deny", True)]


def test_empty_sysctls_are_not_rejected(engine: Engine) -> None:
    pod = _stamped()
    pod["spec"]["securityContext"]["sysctls"] = []
    assert _verdict(engine, pod, "1.36") == []


def test_host_users_is_not_a_field_before_1_25_and_is_dropped_while_its_gate_is_off(
    engine: Engine,
) -> None:
    pod = _stamped(hostUsers=False)
    [(rule, action, rejects)] = _verdict(engine, pod, "1.24")
    assert (rule, action, rejects) == ("windows-field-unavailable", "warn", False)
    assert "not a field in Kubernetes 1.24 (added in 1.25)" in (
        engine.evaluate(pod, version=parse_version("1.24")).findings[0].message
    )
    at_130 = engine.evaluate(pod, version=parse_version("1.30")).findings
    assert [(f.rule, f.action.value) for f in at_130] == [("windows-field-unavailable", "warn")]
    assert "UserNamespacesSupport is off by default in Kubernetes 1.30" in at_130[0].message
    # From 1.33 the gate is on: the field is kept, and the apiserver rejects it on this pod.
    assert _verdict(engine, pod, "1.33") == [("windows-host-users", "deny", True)]


def test_a_cluster_that_turns_a_gate_on_gets_the_field_judged() -> None:
    engine = Engine(config=Config(featureGates={"UserNamespacesSupport": True}))
    assert _verdict(engine, _stamped(hostUsers=False), "1.30") == [
        ("windows-host-users", "deny", True)
    ]


def test_apparmor_profile_before_1_30_is_unknown_not_a_windows_denial(engine: Engine) -> None:
    pod = _stamped()
    pod["spec"]["securityContext"]["appArmorProfile"] = {"type": "RuntimeDefault"}
    assert _verdict(engine, pod, "1.29") == [("windows-field-unavailable", "warn", False)]
    assert _verdict(engine, pod, "1.30") == [("windows-apparmor-profile", "deny", True)]


def test_spec_os_name_escalates_nothing_before_it_is_enforced_in_1_24(engine: Engine) -> None:
    pod = _stamped()
    pod["spec"]["securityContext"]["runAsUser"] = 1000
    assert _verdict(engine, pod, "1.23") == [("windows-run-as-user", "warn", False)]
    assert _verdict(engine, pod, "1.24") == [("windows-run-as-user", "deny", True)]


def test_windows_options_on_a_linux_pod_are_denied_from_1_24(engine: Engine) -> None:
    pod = linux_pod(securityContext={"windowsOptions": {}})
    assert [
        (f.rule, f.action.value)
        for f in engine.evaluate(pod, version=parse_version("1.24")).findings
    ] == [("linux-windows-options", "deny")]


def test_an_unknown_feature_gate_in_the_config_is_refused() -> None:
    with pytest.raises(ValueError, match="UserNamespaceSupport"):
        Engine(config=Config(featureGates={"UserNamespaceSupport": True}))
