"""The mutation engine: what is injected, when, and how the patch is spelled."""

from __future__ import annotations

import copy
import subprocess
import sys
from typing import Any

import pytest
from winpod.config import NamespacePolicy
from winpod.engine.mutate import json_pointer, mutate_object, mutate_pod
from winpod.engine.osinfer import runtime_class_index
from winpod.engine.visit import ShapeError

from tests.rules.builders import BUILD_LABEL, OS_LABEL, deployment, match, required_node_affinity

from .pods import (
    IIS,
    NANO_2019,
    NANO_UNTAGGED,
    NGINX,
    OS_TOLERATION,
    PAUSE,
    SERVERCORE_2022,
    applied,
    assert_schema_valid,
    container,
    engine,
    pod,
)

DEFAULT = engine()


def _paths(patch: list[dict[str, Any]]) -> list[str]:
    return [op["path"] for op in patch]


def _mutate_checked(obj: dict[str, Any], eng: Any = DEFAULT, **kwargs: Any) -> Any:
    """Mutate, and hold every result to the invariants: jsonpatch gives the same object,
    the result is a valid Kubernetes object, and a second pass changes nothing."""
    original = copy.deepcopy(obj)
    result = mutate_object(eng, obj, **kwargs)
    assert obj == original, "the input must not be modified"
    assert all(op["op"] == "add" for op in result.patch)
    assert applied(obj, result.patch) == result.mutated
    assert_schema_valid(result.mutated)
    again = mutate_object(eng, result.mutated, **kwargs)
    assert again.patch == []
    assert again.mutated == result.mutated
    return result


def test_a_windows_iis_pod_gets_selector_build_toleration_and_os_name() -> None:
    before = pod(IIS)
    result = _mutate_checked(before)
    expected = copy.deepcopy(before)
    expected["spec"]["nodeSelector"] = {
        "kubernetes.io/os": "windows",
        "node.kubernetes.io/windows-build": "10.0.20348",
    }
    expected["spec"]["tolerations"] = [OS_TOLERATION]
    expected["spec"]["os"] = {"name": "windows"}
    assert result.mutated == expected
    assert result.patch == [
        {"op": "add", "path": "/spec/nodeSelector", "value": expected["spec"]["nodeSelector"]},
        {"op": "add", "path": "/spec/tolerations", "value": [OS_TOLERATION]},
        {"op": "add", "path": "/spec/os", "value": {"name": "windows"}},
    ]
    assert result.evaluation.os is not None and result.evaluation.os.os == "windows"


def test_the_warning_says_what_was_injected_and_the_evidence() -> None:
    (warning,) = _mutate_checked(pod(NANO_2019)).warnings
    assert warning.startswith("winpod set nodeSelector kubernetes.io/os=windows")
    assert "toleration os=windows:NoSchedule" in warning
    assert "spec.os.name=windows" in warning
    assert "evidence: spec.containers[0].image" in warning
    assert len(warning) <= 256


def test_a_long_image_name_shortens_the_evidence_not_what_was_injected() -> None:
    image = "mcr.microsoft.com/windows/servercore/" + "x" * 300 + ":ltsc2022"
    (warning,) = _mutate_checked(pod(image)).warnings
    assert len(warning) <= 256
    assert "spec.os.name=windows" in warning
    assert warning.endswith("...)")


def test_an_existing_node_selector_gets_keys_added_with_escaped_pointers() -> None:
    before = pod(NANO_2019, nodeSelector={"disktype": "ssd"})
    result = _mutate_checked(before)
    assert _paths(result.patch)[:2] == [
        "/spec/nodeSelector/kubernetes.io~1os",
        "/spec/nodeSelector/node.kubernetes.io~1windows-build",
    ]
    assert result.mutated["spec"]["nodeSelector"] == {
        "disktype": "ssd",
        "kubernetes.io/os": "windows",
        "node.kubernetes.io/windows-build": "10.0.17763",
    }


def test_json_pointers_escape_tilde_before_slash() -> None:
    assert json_pointer(["spec", "nodeSelector", "kubernetes.io/os"]) == (
        "/spec/nodeSelector/kubernetes.io~1os"
    )
    assert json_pointer(["a~1b/c"]) == "/a~01b~1c"
    assert applied({"a~1b/c": 1}, [{"op": "replace", "path": "/a~01b~1c", "value": 2}]) == {
        "a~1b/c": 2
    }


def test_a_null_node_selector_is_replaced_by_a_new_mapping() -> None:
    result = _mutate_checked(pod(NANO_2019, nodeSelector=None, tolerations=None, os=None))
    assert _paths(result.patch) == ["/spec/nodeSelector", "/spec/tolerations", "/spec/os"]


def test_tolerations_are_appended_with_dash_when_the_list_exists() -> None:
    other = {"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}
    result = _mutate_checked(pod(NANO_2019, tolerations=[other]))
    assert {"op": "add", "path": "/spec/tolerations/-", "value": OS_TOLERATION} in result.patch
    assert result.mutated["spec"]["tolerations"] == [other, OS_TOLERATION]


@pytest.mark.parametrize(
    "toleration",
    [
        OS_TOLERATION,
        {"key": "os", "operator": "Exists"},
        {"key": "os", "operator": "Exists", "effect": "NoSchedule"},
        {"key": "os", "value": "windows"},  # operator defaults to Equal, any effect
        {"operator": "Exists"},  # key-less Exists tolerates every taint
        {"operator": "Exists", "effect": "NoSchedule"},
    ],
)
def test_an_equivalent_toleration_is_not_duplicated(toleration: dict[str, str]) -> None:
    result = _mutate_checked(pod(NANO_2019, tolerations=[toleration]))
    assert not any(p.startswith("/spec/tolerations") for p in _paths(result.patch))
    assert result.mutated["spec"]["tolerations"] == [toleration]
    assert "toleration" not in result.warnings[0]


@pytest.mark.parametrize(
    "toleration",
    [
        {"key": "os", "operator": "Exists", "effect": "NoExecute"},
        {"key": "os", "operator": "Equal", "value": "linux", "effect": "NoSchedule"},
        {"operator": "Exists", "effect": "PreferNoSchedule"},
    ],
)
def test_a_toleration_for_something_else_gets_the_windows_one_appended(
    toleration: dict[str, str],
) -> None:
    result = _mutate_checked(pod(NANO_2019, tolerations=[toleration]))
    assert result.mutated["spec"]["tolerations"] == [toleration, OS_TOLERATION]


def test_a_taint_without_value_gets_an_exists_toleration_and_each_taint_its_own() -> None:
    eng = engine(
        windowsTaints=[
            {"key": "os", "value": "windows", "effect": "NoSchedule"},
            {"key": "node.kubernetes.io/windows", "effect": "NoExecute"},
        ]
    )
    result = _mutate_checked(pod(NANO_2019), eng)
    assert result.mutated["spec"]["tolerations"] == [
        OS_TOLERATION,
        {"key": "node.kubernetes.io/windows", "operator": "Exists", "effect": "NoExecute"},
    ]
    assert "toleration node.kubernetes.io/windows:NoExecute" in result.warnings[0]


def test_a_taint_listed_twice_gets_one_toleration() -> None:
    taint = {"key": "os", "value": "windows", "effect": "NoSchedule"}
    result = _mutate_checked(pod(NANO_2019), engine(windowsTaints=[taint, taint]))
    assert result.mutated["spec"]["tolerations"] == [OS_TOLERATION]


def test_a_runtime_class_toleration_counts_as_present() -> None:
    runtime = runtime_class_index(
        [
            {
                "apiVersion": "node.k8s.io/v1",
                "kind": "RuntimeClass",
                "metadata": {"name": "win"},
                "handler": "runhcs-wcow-process",
                "scheduling": {
                    "nodeSelector": {"kubernetes.io/os": "windows"},
                    "tolerations": [OS_TOLERATION],
                },
            }
        ]
    )
    result = _mutate_checked(pod(PAUSE, runtimeClassName="win"), runtime_classes=runtime)
    assert "tolerations" not in result.mutated["spec"]
    assert result.mutated["spec"]["nodeSelector"] == {"kubernetes.io/os": "windows"}


def test_os_name_is_not_set_before_kubernetes_1_25() -> None:
    result = _mutate_checked(pod(NANO_2019), engine(kubernetesVersion="1.24"))
    assert "os" not in result.mutated["spec"]
    assert "spec.os.name" not in result.warnings[0]


def test_an_os_without_a_name_gets_the_name_added() -> None:
    result = _mutate_checked(pod(NANO_2019, os={}))
    assert {"op": "add", "path": "/spec/os/name", "value": "windows"} in result.patch


def test_an_explicit_windows_os_name_still_gets_placement() -> None:
    result = _mutate_checked(pod(PAUSE, os={"name": "windows"}))
    assert result.mutated["spec"]["nodeSelector"] == {"kubernetes.io/os": "windows"}
    assert result.mutated["spec"]["tolerations"] == [OS_TOLERATION]
    assert "/spec/os" not in _paths(result.patch)
    assert "evidence: spec.os.name" in result.warnings[0]


@pytest.mark.parametrize(
    "spec",
    [
        {"nodeSelector": {"kubernetes.io/os": "linux"}},
        {"os": {"name": "linux"}},
        {"affinity": required_node_affinity([match(OS_LABEL, "In", "linux")])},
    ],
    ids=["nodeSelector", "os.name", "affinity"],
)
def test_conflicting_evidence_gets_no_patch_and_a_finding(spec: dict[str, Any]) -> None:
    before = pod(NANO_2019, **spec)
    result = _mutate_checked(before)
    assert result.patch == []
    assert result.mutated == before
    assert result.warnings[0].startswith("winpod injected nothing: conflicting OS evidence")
    assert "windows-os-conflict" in {f.rule for f in result.evaluation.findings}


def test_images_of_both_oses_get_no_patch() -> None:
    result = _mutate_checked(pod(NANO_2019, NGINX))
    assert result.patch == []
    assert "windows-mixed-os-images" in {f.rule for f in result.evaluation.findings}


def test_a_different_existing_os_name_is_never_overwritten() -> None:
    # spec.os.name outranks the nodeSelector: a conflict, so nothing at all is injected.
    before = pod(PAUSE, os={"name": "linux"}, nodeSelector={"kubernetes.io/os": "windows"})
    result = _mutate_checked(before)
    assert result.mutated == before


def test_an_unusual_existing_os_label_value_is_kept() -> None:
    result = _mutate_checked(pod(NANO_2019, nodeSelector={"kubernetes.io/os": "Windows"}))
    assert result.mutated["spec"]["nodeSelector"]["kubernetes.io/os"] == "Windows"
    assert "kubernetes.io/os" not in result.warnings[0]


def test_images_naming_one_build_get_the_build_label() -> None:
    result = _mutate_checked(pod(SERVERCORE_2022, IIS, PAUSE))
    assert result.mutated["spec"]["nodeSelector"]["node.kubernetes.io/windows-build"] == (
        "10.0.20348"
    )


@pytest.mark.parametrize(
    "images",
    [(NANO_2019, SERVERCORE_2022), (NANO_2019, NANO_UNTAGGED), (NANO_UNTAGGED,)],
    ids=["two builds", "one untagged", "untagged only"],
)
def test_images_not_naming_one_build_get_no_build_label(images: tuple[str, ...]) -> None:
    result = _mutate_checked(pod(*images))
    assert result.mutated["spec"]["nodeSelector"] == {"kubernetes.io/os": "windows"}


def test_build_of_init_containers_counts_too() -> None:
    before = pod(SERVERCORE_2022, initContainers=[container(NANO_2019, "init")])
    result = _mutate_checked(before)
    assert "node.kubernetes.io/windows-build" not in result.mutated["spec"]["nodeSelector"]
    assert "windows-image-build-mismatch" in {f.rule for f in result.evaluation.findings}


def test_an_existing_build_label_is_never_overwritten() -> None:
    before = pod(NANO_2019, nodeSelector={"node.kubernetes.io/windows-build": "10.0.20348"})
    result = _mutate_checked(before)
    assert result.mutated["spec"]["nodeSelector"] == {
        "node.kubernetes.io/windows-build": "10.0.20348",
        "kubernetes.io/os": "windows",
    }


def test_hyperv_isolation_gets_no_build_label() -> None:
    runtime = runtime_class_index(
        [
            {
                "kind": "RuntimeClass",
                "metadata": {"name": "hv"},
                "handler": "runhcs-wcow-hypervisor",
            }
        ]
    )
    result = _mutate_checked(pod(NANO_2019, runtimeClassName="hv"), runtime_classes=runtime)
    assert result.mutated["spec"]["nodeSelector"] == {"kubernetes.io/os": "windows"}


def test_build_affinity_set_by_the_user_gets_no_build_label() -> None:
    affinity = required_node_affinity([match(BUILD_LABEL, "In", "10.0.17763", "10.0.20348")])
    result = _mutate_checked(pod(NANO_2019, affinity=affinity))
    assert result.mutated["spec"]["nodeSelector"] == {"kubernetes.io/os": "windows"}


def test_a_linux_image_gets_the_linux_selector_only() -> None:
    before = pod(NGINX)
    result = _mutate_checked(before)
    assert result.patch == [
        {"op": "add", "path": "/spec/nodeSelector", "value": {"kubernetes.io/os": "linux"}}
    ]
    assert result.warnings == [
        "winpod set nodeSelector kubernetes.io/os=linux"
        " (evidence: spec.containers[0].image (linux-only image nginx:1.27))"
    ]


def test_linux_os_name_is_set_only_when_switched_on() -> None:
    eng = engine(mutation={"linuxOSName": True})
    result = _mutate_checked(pod(NGINX), eng)
    assert result.mutated["spec"]["os"] == {"name": "linux"}


def test_linux_os_name_is_not_set_on_a_pod_with_windows_options() -> None:
    # The apiserver rejects windowsOptions on a pod whose spec.os.name is linux.
    eng = engine(mutation={"linuxOSName": True})
    options = {"windowsOptions": {"runAsUserName": "ContainerUser"}}
    result = _mutate_checked(pod(NGINX, securityContext=options), eng)
    assert "os" not in result.mutated["spec"]
    assert result.mutated["spec"]["nodeSelector"] == {"kubernetes.io/os": "linux"}


def test_a_pod_without_evidence_or_default_gets_nothing() -> None:
    result = _mutate_checked(pod(PAUSE))
    assert result.patch == [] and result.warnings == []


def test_a_pod_without_evidence_gets_the_configured_default_os() -> None:
    result = _mutate_checked(pod(PAUSE), engine(defaultOS="linux"))
    assert result.mutated["spec"]["nodeSelector"] == {"kubernetes.io/os": "linux"}
    assert result.warnings == [
        "winpod set nodeSelector kubernetes.io/os=linux"
        " (no OS evidence; default linux from config defaultOS)"
    ]


def test_a_pod_without_evidence_in_a_windows_namespace_is_placed_on_windows() -> None:
    eng = engine(defaultOS="linux", namespaces={"win": {"defaultOS": "windows"}})
    result = _mutate_checked(pod(PAUSE), eng, namespace="win")
    assert result.mutated["spec"]["nodeSelector"] == {"kubernetes.io/os": "windows"}
    assert result.mutated["spec"]["tolerations"] == [OS_TOLERATION]
    assert "default windows from the namespace" in result.warnings[0]


def test_a_namespace_policy_passed_by_the_webhook_wins() -> None:
    policy = NamespacePolicy(defaultOS="windows")
    result = mutate_pod(DEFAULT, pod(PAUSE), namespace="labelled", namespace_policy=policy)
    assert result.mutated["spec"]["os"] == {"name": "windows"}
    assert result.evaluation.os is not None and result.evaluation.os.os == "windows"


def test_a_hint_alone_places_nothing() -> None:
    # An agent tolerating the Windows taint may well run on both OSes: hints never decide, and
    # the verdict says that the pod looks Windows-bound but nothing places it.
    before = pod(PAUSE, tolerations=[{"key": "os", "operator": "Exists"}])
    result = _mutate_checked(before)
    assert result.patch == [] and result.warnings == []
    assert [f.rule for f in result.evaluation.findings] == ["windows-hints-without-placement"]


@pytest.mark.parametrize(
    ("switch", "missing"),
    [
        ("windowsNodeSelector", ("nodeSelector", "kubernetes.io/os")),
        ("windowsBuildSelector", ("nodeSelector", "node.kubernetes.io/windows-build")),
        ("windowsTolerations", ("tolerations",)),
        ("windowsOSName", ("os",)),
    ],
)
def test_each_windows_injection_can_be_switched_off(switch: str, missing: tuple[str, ...]) -> None:
    result = _mutate_checked(pod(NANO_2019), engine(mutation={switch: False}))
    expected = _mutate_checked(pod(NANO_2019)).mutated
    node: Any = expected["spec"]
    for key in missing[:-1]:
        node = node[key]
    del node[missing[-1]]
    assert result.mutated == expected


def test_the_linux_selector_can_be_switched_off() -> None:
    result = _mutate_checked(pod(NGINX), engine(mutation={"linuxNodeSelector": False}))
    assert result.patch == [] and result.warnings == []


def test_a_deployment_is_mutated_in_its_pod_template() -> None:
    result = _mutate_checked(deployment("web", pod(IIS)["spec"], namespace="default"))
    assert _paths(result.patch) == [
        "/spec/template/spec/nodeSelector",
        "/spec/template/spec/tolerations",
        "/spec/template/spec/os",
    ]
    assert result.mutated["spec"]["template"]["spec"]["os"] == {"name": "windows"}


def test_a_cronjob_is_mutated_in_its_job_template() -> None:
    cronjob = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "nightly"},
        "spec": {
            "schedule": "0 3 * * *",
            "jobTemplate": {
                "spec": {"template": {"spec": {**pod(NGINX)["spec"], "restartPolicy": "OnFailure"}}}
            },
        },
    }
    result = _mutate_checked(cronjob)
    assert _paths(result.patch) == ["/spec/jobTemplate/spec/template/spec/nodeSelector"]


def test_kinds_that_run_no_pods_get_no_patch() -> None:
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "s"},
        "spec": {"ports": [{"port": 80}]},
    }
    result = _mutate_checked(service)
    assert result.patch == [] and not result.evaluation.checked


def test_a_pod_without_a_spec_gets_no_patch() -> None:
    result = mutate_pod(engine(defaultOS="linux"), {"kind": "Pod", "metadata": {"name": "x"}})
    assert result.patch == []


def test_a_broken_pod_raises_shape_error_for_the_surface_to_report() -> None:
    with pytest.raises(ShapeError, match=r"spec\.containers"):
        mutate_pod(DEFAULT, {"kind": "Pod", "spec": {"containers": "nginx"}})


def test_a_windows_pod_with_a_deny_finding_is_denied_after_mutation() -> None:
    before = pod(IIS)
    before["spec"]["containers"][0]["securityContext"] = {"privileged": True}
    result = mutate_pod(DEFAULT, before)
    assert result.patch, "placement is still computed, the webhook decides to deny"
    assert result.evaluation.denied
    assert "windows-privileged" in {f.rule for f in result.evaluation.findings if f.blocks}


def test_os_name_is_not_stamped_onto_a_pod_the_apiserver_would_then_reject() -> None:
    # privileged: false is harmless without spec.os; with spec.os.name: windows the apiserver
    # rejects it, so stamping the field would break a pod that runs today.
    before = pod(IIS)
    before["spec"]["containers"][0]["securityContext"] = {"privileged": False}
    result = mutate_pod(DEFAULT, before)
    assert "os" not in result.mutated["spec"]
    assert not result.evaluation.denied
    assert any("left spec.os.name unset" in w for w in result.warnings)


def test_a_field_the_apiserver_rejects_on_a_pod_already_named_windows_is_denied_early() -> None:
    # The user's own spec.os.name: windows makes the apiserver reject privileged: false; /mutate
    # runs first, so winpod's message reaches the user instead of the apiserver's terser one.
    before = pod(IIS)
    before["spec"]["os"] = {"name": "windows"}
    before["spec"]["containers"][0]["securityContext"] = {"privileged": False}
    result = mutate_pod(DEFAULT, before)
    assert result.evaluation.denied
    assert [f.rule for f in result.evaluation.findings if f.blocks] == ["windows-privileged"]


def test_a_pod_without_kind_is_evaluated_as_a_pod() -> None:
    bare = {"metadata": {"name": "x"}, "spec": pod(IIS)["spec"]}
    result = mutate_pod(DEFAULT, bare)
    assert result.evaluation.checked
    assert "kind" not in result.mutated


def test_the_engine_module_imports_no_framework() -> None:
    code = (
        "import sys, winpod.engine.mutate\n"
        "bad = [m for m in ('fastapi', 'uvicorn', 'kubernetes', 'starlette') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_an_object_without_kind_is_not_taken_for_a_pod_by_mutate_object() -> None:
    result = mutate_object(engine(defaultOS="linux"), {"spec": pod(NGINX)["spec"]})
    assert result.patch == [] and not result.evaluation.checked


def test_a_hint_that_agrees_with_the_namespace_default_is_placed() -> None:
    eng = engine(namespaces={"win": {"defaultOS": "windows"}})
    options = {"windowsOptions": {"runAsUserName": "ContainerUser"}}
    result = _mutate_checked(pod(PAUSE, securityContext=options), eng, namespace="win")
    assert result.mutated["spec"]["nodeSelector"] == {"kubernetes.io/os": "windows"}
    assert "default windows from the namespace" in result.warnings[0]


def test_a_hostprocess_pod_with_privileged_true_is_not_stamped_windows_so_it_still_runs() -> None:
    """The AKS enable-win-flags DaemonSet (corpus) sets privileged: true on a HostProcess pod.
    The node ignores it, but the apiserver rejects it once spec.os.name is windows: stamping the
    field would break a workload that runs today."""
    from winpod.engine.evaluate import Engine
    from winpod.engine.mutate import mutate_pod

    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "flags"},
        "spec": {
            "nodeSelector": {"kubernetes.io/os": "windows"},
            "hostNetwork": True,
            "securityContext": {
                "windowsOptions": {"hostProcess": True, "runAsUserName": "NT AUTHORITY\\SYSTEM"}
            },
            "containers": [
                {
                    "name": "c",
                    "image": "mcr.microsoft.com/windows/nanoserver:ltsc2022",
                    "resources": {"limits": {"memory": "64Mi"}},
                    "securityContext": {"privileged": True},
                }
            ],
        },
    }
    result = mutate_pod(Engine(), pod)
    assert all(op["path"] != "/spec/os" for op in result.patch)
    assert not result.evaluation.denied
    assert any("left spec.os.name unset" in w and "privileged" in w for w in result.warnings)
