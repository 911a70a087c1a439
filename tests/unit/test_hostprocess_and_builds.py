"""HostProcess and Windows builds (issue 11, item 5); each failed before the fix."""

from __future__ import annotations

from typing import Any

import pytest
from winpod.config import Config
from winpod.engine.evaluate import Engine
from winpod.engine.kubeversion import parse_version

from tests.rules.builders import BUILD_LABEL, match, required_node_affinity
from tests.rules.cases import minimal_windows_pod

OLD_IMAGE = "mcr.microsoft.com/windows/nanoserver:ltsc2019"  # 10.0.17763
NEW_BUILD = "10.0.20348"


def _rules(engine: Engine, pod: dict[str, Any], version: str | None = None) -> set[str]:
    result = engine.evaluate(pod, version=parse_version(version) if version else None)
    return {f.rule for f in result.findings}


def _host_process(pod: dict[str, Any]) -> dict[str, Any]:
    pod["spec"]["hostNetwork"] = True
    pod["spec"]["securityContext"] = {
        "windowsOptions": {"hostProcess": True, "runAsUserName": "NT AUTHORITY\\SYSTEM"}
    }
    return pod


def test_a_hostprocess_pod_never_gets_an_image_build_mismatch() -> None:
    pod = _host_process(minimal_windows_pod())
    pod["spec"]["nodeSelector"]["node.kubernetes.io/windows-build"] = NEW_BUILD
    pod["spec"]["containers"][0]["image"] = OLD_IMAGE
    assert "windows-image-build-mismatch" not in _rules(Engine(), pod)


def test_the_node_build_comes_from_the_runtime_class_scheduling() -> None:
    engine = Engine(
        config=Config(
            runtimeClasses=[
                {
                    "apiVersion": "node.k8s.io/v1",
                    "kind": "RuntimeClass",
                    "metadata": {"name": "win-2022"},
                    "handler": "runhcs-wcow-process",
                    "scheduling": {
                        "nodeSelector": {
                            "kubernetes.io/os": "windows",
                            "node.kubernetes.io/windows-build": NEW_BUILD,
                        }
                    },
                }
            ]
        )
    )
    pod = minimal_windows_pod()
    pod["spec"]["runtimeClassName"] = "win-2022"
    pod["spec"]["containers"][0]["image"] = OLD_IMAGE
    result = engine.evaluate(pod)
    [finding] = [f for f in result.findings if f.rule == "windows-image-build-mismatch"]
    assert finding.action.value == "deny" and NEW_BUILD in finding.message


def test_the_node_build_comes_from_required_affinity() -> None:
    pod = minimal_windows_pod()
    build = match(BUILD_LABEL, "In", NEW_BUILD)
    pod["spec"]["affinity"] = required_node_affinity([build])
    pod["spec"]["containers"][0]["image"] = OLD_IMAGE
    assert "windows-image-build-mismatch" in _rules(Engine(), pod)
    build["values"].append("10.0.17763")
    assert "windows-image-build-mismatch" not in _rules(Engine(), pod)


def test_hostprocess_with_run_as_non_root_only_warns_since_the_kubelet_starts_it() -> None:
    pod = _host_process(minimal_windows_pod())
    pod["spec"]["securityContext"]["runAsNonRoot"] = True
    result = Engine().evaluate(pod)
    [finding] = [f for f in result.findings if f.rule == "windows-hostprocess-run-as-non-root"]
    assert finding.action.value == "warn" and not result.denied
    notes = Engine().catalog.rules["windows-hostprocess-run-as-non-root"].notes or ""
    assert "Sources disagree" in notes and "verifyRunAsNonRoot" in notes


@pytest.mark.parametrize(
    ("version", "says"),
    [
        ("1.25", "do not get the host's network"),
        ("1.26", "on by default in 1.26 to 1.32"),
        ("1.32", "on by default in 1.26 to 1.32"),
        ("1.33", "deprecated and off from 1.33"),
    ],
)
def test_the_host_network_message_says_what_the_target_release_does(
    version: str, says: str
) -> None:
    pod = minimal_windows_pod()
    pod["spec"]["hostNetwork"] = True
    [finding] = [
        f
        for f in Engine().evaluate(pod, version=parse_version(version)).findings
        if f.rule == "windows-host-network"
    ]
    assert says in finding.message
