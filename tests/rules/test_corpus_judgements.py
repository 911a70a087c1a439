"""Decisions taken from real manifests (shared/corpus): each pins what winpod says about a file
written by others, and why, so a rule change that would break a real workload shows up here."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from winpod.engine.evaluate import Engine
from winpod.engine.kubeversion import parse_version

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"
pytestmark = pytest.mark.skipif(not CORPUS.is_dir(), reason=f"no corpus at {CORPUS}")


def _objects(name: str) -> list[dict[str, Any]]:
    text = (CORPUS / name).read_text(encoding="utf-8")
    return [d for d in yaml.safe_load_all(text) if isinstance(d, dict)]


def _verdicts(name: str, version: str | None = None) -> dict[str, set[tuple[str, str]]]:
    engine = Engine()
    out: dict[str, set[tuple[str, str]]] = {}
    for obj in _objects(name):
        result = engine.evaluate(obj, version=parse_version(version) if version else None)
        if result.checked:
            out[result.name or ""] = {(f.rule, f.action.value) for f in result.findings}
    return out


def test_old_flannel_daemonsets_with_host_network_on_windows_are_warned_not_denied() -> None:
    # kubeadm-era flannel ran on Windows with hostNetwork on an ordinary pod (the node ignored it,
    # wins did the host work). Denying would block a workload that ran: warn.
    for name in (
        "sig-windows-tools__kubeadm_flannel_flannel-host-gw.yaml",
        "sig-windows-tools__kubeadm_flannel_flannel-overlay.yaml",
    ):
        [verdict] = _verdicts(name).values()
        assert ("windows-host-network", "warn") in verdict
        assert not any(action == "deny" for _, action in verdict)


def test_a_hostprocess_daemonset_mounting_a_configmap_file_with_subpath_is_only_warned() -> None:
    # containerd-logger mounts config.json with subPath in a HostProcess container: the docs say
    # unsupported, the kubelet has Windows subPath code. Sources disagree: warn.
    verdict = _verdicts("sig-windows-tools__hostprocess_eventflow-logger_containerd-logger.yaml")
    assert ("windows-subpath", "warn") in verdict["containerd-logger"]
    assert not any(action == "deny" for _, action in verdict["containerd-logger"])


def test_privileged_true_on_a_hostprocess_container_is_a_warning() -> None:
    # The AKS enable-win-flags DaemonSet: HostProcess already runs on the host, privileged is
    # ignored; the file is placed by the AKS os-sku label.
    verdict = _verdicts("SDN__Kubernetes_windows_debug_enablewinflags_winserver2022.yaml")
    assert ("windows-privileged", "warn") in verdict["enable-win-flags"]
    assert not any(action == "deny" for _, action in verdict["enable-win-flags"])


def test_the_legacy_hyperv_example_is_fine_before_1_24_and_warned_after() -> None:
    name = "website__content_en_examples_windows_deploy-hyperv.yaml"
    assert ("windows-hyperv-isolation-annotation", "warn") in _verdicts(name)["iis"]
    assert "windows-hyperv-isolation-annotation" not in {
        rule for rule, _ in _verdicts(name, "1.23")["iis"]
    }


def test_a_deployment_with_limits_only_gets_no_memory_warning() -> None:
    # deploy-resource sets limits without requests: the apiserver copies limits into requests.
    # Nothing places it on Windows (only its image says Windows), and IIS runs as
    # ContainerAdministrator: a warning and an audit note, no memory warning.
    verdict = _verdicts("website__content_en_examples_windows_deploy-resource.yaml")
    assert verdict["iis"] == {
        ("windows-hints-without-placement", "warn"),
        ("windows-run-as-container-administrator", "audit"),
    }


def test_linux_examples_without_os_evidence_are_not_checked_as_windows() -> None:
    # security-context.yaml sets runAsUser, fsGroup... on a pod with no OS evidence: unknown, so
    # no Windows rule applies (it would be noise on every Linux pod in a cluster).
    for name in (
        "website__content_en_examples_pods_security_security-context.yaml",
        "website__content_en_examples_pods_security_security-context-2.yaml",
    ):
        assert all(v == set() for v in _verdicts(name).values())
