"""OS inference decides by placement; what a pod looks like only hints (issue 11, item 3).

Each test here failed before placement and hints were told apart: hints used to decide the OS,
tags were matched by substring, and placement no node can satisfy counted as evidence."""

from __future__ import annotations

from typing import Any

import pytest
from winpod.config import Config
from winpod.engine.evaluate import Engine

from tests.rules.builders import OS_LABEL, match, required_node_affinity

WINDOWS_TOLERATION = {"key": "os", "operator": "Equal", "value": "windows", "effect": "NoSchedule"}


def _pod(spec: dict[str, Any]) -> dict[str, Any]:
    spec.setdefault("containers", [{"name": "c", "image": "example.com/app:1"}])
    return {"kind": "Pod", "metadata": {"name": "p"}, "spec": spec}


def _rules(engine: Engine, pod: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(f.rule, f.action.value, f.path) for f in engine.evaluate(pod).findings]


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine()


@pytest.mark.parametrize(
    ("spec", "path"),
    [
        ({"tolerations": [WINDOWS_TOLERATION]}, "spec.tolerations"),
        (
            {"securityContext": {"windowsOptions": {"runAsUserName": "ContainerUser"}}},
            "spec.securityContext.windowsOptions",
        ),
        (
            {"securityContext": {"windowsOptions": {"hostProcess": True}}, "hostNetwork": True},
            "spec.securityContext.windowsOptions.hostProcess",
        ),
        (
            {
                "containers": [
                    {
                        "name": "c",
                        "image": "example.com/app:1",
                        "securityContext": {"windowsOptions": {"gmsaCredentialSpecName": "x"}},
                    }
                ]
            },
            "spec.containers[0].securityContext.windowsOptions",
        ),
        (
            {
                "containers": [
                    {
                        "name": "c",
                        "image": "example.com/app:1",
                        "volumeMounts": [{"name": "d", "mountPath": "C:\\data"}],
                    }
                ]
            },
            "spec.containers[0].volumeMounts[0].mountPath",
        ),
        (
            {
                "containers": [
                    {
                        "name": "c",
                        "image": "example.com/app:1",
                        "command": ["powershell", "-Command", "Start-Sleep 3600"],
                    }
                ]
            },
            "spec.containers[0].command[0]",
        ),
        (
            {
                "containers": [
                    {"name": "c", "image": "example.com/app:1", "command": ["C:\\app\\server.exe"]}
                ]
            },
            "spec.containers[0].command[0]",
        ),
    ],
)
def test_a_hint_alone_does_not_make_a_windows_pod_and_gets_one_warning(
    engine: Engine, spec: dict[str, Any], path: str
) -> None:
    pod = _pod(spec)
    decision = engine.infer_os(pod)
    assert decision.os == "unknown"
    assert decision.hints and decision.hints[0].path == path
    found = _rules(engine, pod)
    assert [f for f in found if f[0] == "windows-hints-without-placement"] == [
        ("windows-hints-without-placement", "warn", path)
    ]
    # Only the rules for every OS (HostProcess consistency) still speak; none denies.
    assert all(rule.startswith("windows-hostprocess-") for rule, _, _ in found[1:])
    assert not engine.evaluate(pod).denied


def test_a_hinted_pod_with_privileged_is_not_denied_as_a_windows_pod(engine: Engine) -> None:
    pod = _pod(
        {
            "tolerations": [WINDOWS_TOLERATION],
            "containers": [
                {
                    "name": "c",
                    "image": "example.com/agent:1",
                    "securityContext": {"privileged": True},
                }
            ],
        }
    )
    assert not engine.evaluate(pod).denied


def test_a_hint_with_placement_is_judged_as_windows_without_the_hint_warning(
    engine: Engine,
) -> None:
    pod = _pod(
        {"tolerations": [WINDOWS_TOLERATION], "nodeSelector": {"kubernetes.io/os": "windows"}}
    )
    assert engine.infer_os(pod).os == "windows"
    assert "windows-hints-without-placement" not in {r for r, _, _ in _rules(engine, pod)}


def test_a_windows_image_decides_but_without_placement_it_is_warned(engine: Engine) -> None:
    pod = _pod(
        {
            "containers": [
                {
                    "name": "c",
                    "image": "mcr.microsoft.com/windows/nanoserver:ltsc2022",
                    "resources": {"limits": {"memory": "1Gi"}},
                }
            ]
        }
    )
    assert engine.infer_os(pod).os == "windows"
    [(rule, action, path)] = _rules(engine, pod)
    assert (rule, action, path) == (
        "windows-hints-without-placement",
        "warn",
        "spec.containers[0].image",
    )
    message = engine.evaluate(pod).findings[0].message
    assert "nothing places the pod on Windows" in message and "no matching manifest" in message


@pytest.mark.parametrize(
    "image",
    [
        "ghcr.io/x/app:not-nanoserver",
        "example.com/tools:windowsservercore-ish",
        "sigwindowstools/flannel:v0.13.0-nanoserver",
    ],
)
def test_a_tag_outside_microsofts_registry_says_nothing_about_the_os(
    engine: Engine, image: str
) -> None:
    assert engine.images.os_of(image) is None


@pytest.mark.parametrize(
    "image",
    [
        "mcr.microsoft.com/dotnet/aspnet:8.0-nanoserver-ltsc2022",
        "mcr.microsoft.com/powershell:lts-windowsservercore-ltsc2022",
        "mcr.microsoft.com/windows/servercore/iis:windowsservercore-ltsc2022",
    ],
)
def test_microsofts_windows_variant_tags_are_windows_images(engine: Engine, image: str) -> None:
    assert engine.images.os_of(image) == "windows"


@pytest.mark.parametrize("value", ["Windows", "WINDOWS", "Linux"])
def test_an_os_label_value_in_the_wrong_case_matches_no_node_and_is_denied(
    engine: Engine, value: str
) -> None:
    pod = _pod({"nodeSelector": {"kubernetes.io/os": value}})
    findings = engine.evaluate(pod).findings
    assert [(f.rule, f.action.value, f.path) for f in findings] == [
        ("placement-matches-no-node", "deny", 'spec.nodeSelector["kubernetes.io/os"]')
    ]
    assert "case-sensitive" in findings[0].message and value in findings[0].message


def test_an_affinity_in_the_wrong_case_matches_no_node_and_is_denied(engine: Engine) -> None:
    pod = _pod({"affinity": required_node_affinity([match(OS_LABEL, "In", "Windows")])})
    assert [(f.rule, f.action.value) for f in engine.evaluate(pod).findings] == [
        ("placement-matches-no-node", "deny")
    ]


def test_an_empty_node_selector_term_matches_no_node(engine: Engine) -> None:
    pod = _pod({"affinity": required_node_affinity([])})
    assert engine.infer_os(pod).os == "unknown"
    assert [f.rule for f in engine.evaluate(pod).findings] == ["placement-matches-no-node"]


def test_an_empty_term_beside_a_windows_term_leaves_the_pod_on_windows(engine: Engine) -> None:
    # Terms are ORed and the empty one matches nothing, so only the Windows term can place it;
    # before, the empty term counted as "any OS" and the pod was unknown.
    pod = _pod({"affinity": required_node_affinity([], [match(OS_LABEL, "In", "windows")])})
    assert engine.infer_os(pod).os == "windows"


def test_a_namespace_default_that_the_hints_agree_with_decides() -> None:
    engine = Engine(config=Config(defaultOS="windows"))
    decision = engine.infer_os(_pod({"tolerations": [WINDOWS_TOLERATION]}))
    assert decision.os == "windows" and decision.defaulted_from == "config defaultOS"


def test_a_default_that_the_hints_contradict_does_not_decide() -> None:
    engine = Engine(config=Config(defaultOS="linux"))
    assert engine.infer_os(_pod({"tolerations": [WINDOWS_TOLERATION]})).os == "unknown"


@pytest.mark.parametrize("arch", ["arm64", "arm", "s390x", "ppc64le"])
def test_a_non_amd64_architecture_places_the_pod_on_linux(engine: Engine, arch: str) -> None:
    # Kubernetes builds Windows nodes for amd64 only: the corpus's kube-flannel arm64 DaemonSet
    # tolerates every taint yet never reaches a Windows node.
    decision = engine.infer_os(_pod({"nodeSelector": {"beta.kubernetes.io/arch": arch}}))
    assert decision.os == "linux" and decision.placement
    affinity = {"affinity": required_node_affinity([match("kubernetes.io/arch", "In", arch)])}
    assert engine.infer_os(_pod(affinity)).os == "linux"


def test_amd64_says_nothing_about_the_os(engine: Engine) -> None:
    assert engine.infer_os(_pod({"nodeSelector": {"kubernetes.io/arch": "amd64"}})).os == "unknown"
