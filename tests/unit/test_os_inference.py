"""OS inference: the deciding evidence, its path, and conflicts."""

from __future__ import annotations

from typing import Any

import pytest
from winpod.config import Config, NamespacePolicy
from winpod.engine.evaluate import Engine
from winpod.engine.osinfer import runtime_class_index

from tests.rules.builders import OS_LABEL, match, required_node_affinity


def _pod(spec: dict[str, Any], annotations: dict[str, str] | None = None) -> dict[str, Any]:
    spec.setdefault("containers", [{"name": "c", "image": "example.com/app:1"}])
    return {
        "kind": "Pod",
        "metadata": {"name": "p", "annotations": annotations or {}},
        "spec": spec,
    }


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine()


@pytest.mark.parametrize(
    ("spec", "os_name", "path"),
    [
        ({"os": {"name": "windows"}}, "windows", "spec.os.name"),
        (
            {"nodeSelector": {"kubernetes.io/os": "windows"}},
            "windows",
            'spec.nodeSelector["kubernetes.io/os"]',
        ),
        (
            {"nodeSelector": {"beta.kubernetes.io/os": "linux"}},
            "linux",
            'spec.nodeSelector["beta.kubernetes.io/os"]',
        ),
        (
            {"nodeSelector": {"node.kubernetes.io/windows-build": "10.0.20348"}},
            "windows",
            'spec.nodeSelector["node.kubernetes.io/windows-build"]',
        ),
        (
            {"affinity": required_node_affinity([match(OS_LABEL, "In", "windows")])},
            "windows",
            "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution",
        ),
        (
            {"affinity": required_node_affinity([match(OS_LABEL, "NotIn", "windows")])},
            "linux",
            "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution",
        ),
        (
            {
                "containers": [
                    {"name": "c", "image": "mcr.microsoft.com/windows/nanoserver:ltsc2022"}
                ]
            },
            "windows",
            "spec.containers[0].image",
        ),
    ],
)
def test_each_kind_of_evidence_decides_the_os_with_its_path(
    engine: Engine, spec: dict[str, Any], os_name: str, path: str
) -> None:
    decision = engine.infer_os(_pod(spec))
    assert decision.os == os_name
    assert decision.deciding is not None and decision.deciding.path == path


def test_affinity_terms_that_admit_both_oses_say_nothing(engine: Engine) -> None:
    spec = {
        "affinity": required_node_affinity(
            [match(OS_LABEL, "In", "windows")], [match("kubernetes.io/arch", "In", "amd64")]
        )
    }
    assert engine.infer_os(_pod(spec)).os == "unknown"


def test_a_keyless_exists_toleration_is_not_windows_evidence(engine: Engine) -> None:
    spec = {"tolerations": [{"operator": "Exists"}]}
    assert engine.infer_os(_pod(spec)).os == "unknown"


def test_a_runtime_class_given_to_the_engine_places_the_pod(engine: Engine) -> None:
    classes = runtime_class_index(
        [
            {
                "apiVersion": "node.k8s.io/v1",
                "kind": "RuntimeClass",
                "metadata": {"name": "windows-2022"},
                "handler": "runhcs-wcow-process",
                "scheduling": {"nodeSelector": {"kubernetes.io/os": "windows"}},
            }
        ]
    )
    decision = engine.infer_os(_pod({"runtimeClassName": "windows-2022"}), runtime_classes=classes)
    assert decision.os == "windows"
    assert decision.deciding is not None and "RuntimeClass windows-2022" in decision.deciding.reason


def test_an_unknown_runtime_class_says_nothing(engine: Engine) -> None:
    assert engine.infer_os(_pod({"runtimeClassName": "mystery"})).os == "unknown"


def test_spec_os_name_outranks_a_selector_and_the_disagreement_is_a_conflict(
    engine: Engine,
) -> None:
    decision = engine.infer_os(
        _pod({"os": {"name": "linux"}, "nodeSelector": {"kubernetes.io/os": "windows"}})
    )
    assert decision.os == "linux"
    assert [(a.path, b.path) for a, b in decision.conflicts] == [
        ("spec.os.name", 'spec.nodeSelector["kubernetes.io/os"]')
    ]


def test_a_linux_selector_with_a_windows_image_is_a_denied_conflict(engine: Engine) -> None:
    pod = _pod(
        {
            "nodeSelector": {"kubernetes.io/os": "linux"},
            "containers": [{"name": "c", "image": "mcr.microsoft.com/windows/servercore:ltsc2022"}],
        }
    )
    result = engine.evaluate(pod)
    assert [(f.rule, f.action.value, f.path) for f in result.findings] == [
        ("windows-os-conflict", "deny", "spec.containers[0].image")
    ]
    assert "contradicts" in result.findings[0].message


def test_a_toleration_never_conflicts_with_placement(engine: Engine) -> None:
    pod = _pod(
        {
            "nodeSelector": {"kubernetes.io/os": "linux"},
            "tolerations": [{"key": "os", "operator": "Exists"}],
        }
    )
    assert engine.infer_os(pod).conflicts == ()


def test_the_config_default_os_applies_only_without_evidence(engine: Engine) -> None:
    windows_default = Engine(config=Config(defaultOS="windows"))
    decision = windows_default.infer_os(_pod({}))
    assert decision.os == "windows" and decision.defaulted_from == "config defaultOS"
    assert (
        windows_default.infer_os(_pod({"nodeSelector": {"kubernetes.io/os": "linux"}})).os
        == "linux"
    )


def test_a_namespace_default_os_outranks_the_config_default(engine: Engine) -> None:
    decision = engine.infer_os(_pod({}), namespace_policy=NamespacePolicy(defaultOS="windows"))
    assert decision.os == "windows" and decision.defaulted_from == "the namespace"


def test_configured_extra_windows_images_are_evidence() -> None:
    engine = Engine(config=Config(windowsImages=["registry.corp.example/win/*"]))
    pod = _pod({"containers": [{"name": "c", "image": "registry.corp.example/win/app:3"}]})
    assert engine.infer_os(pod).os == "windows"


def test_a_configured_platform_taint_toleration_is_a_hint() -> None:
    engine = Engine(
        config=Config.model_validate(
            {
                "windowsTaints": [
                    {"key": "node.kubernetes.io/os", "value": "windows", "effect": "NoSchedule"}
                ]
            }
        )
    )
    pod = _pod(
        {
            "tolerations": [
                {
                    "key": "node.kubernetes.io/os",
                    "operator": "Equal",
                    "value": "windows",
                    "effect": "NoSchedule",
                }
            ]
        }
    )
    decision = engine.infer_os(pod)
    assert decision.os == "unknown"
    assert [h.reason for h in decision.hints] == [
        "tolerates the Windows taint node.kubernetes.io/os=windows:NoSchedule"
    ]
