"""How configuration, namespaces, versions, exemptions and spec.os.name change verdicts."""

from __future__ import annotations

from typing import Any

import pytest
from winpod.config import Action, Config, NamespacePolicy
from winpod.engine.evaluate import Engine
from winpod.engine.kubeversion import parse_version
from winpod.engine.visit import ShapeError

from tests.rules.builders import linux_pod
from tests.rules.cases import minimal_windows_pod


def _privileged_pod(**extra: Any) -> dict[str, Any]:
    pod = minimal_windows_pod()
    pod["spec"]["containers"][0]["securityContext"] = {"privileged": True}
    pod["spec"].update(extra)
    return pod


def _rules(result: Any) -> list[tuple[str, str]]:
    return [(f.rule, f.action.value) for f in result.findings]


def test_a_rule_set_off_in_the_config_is_not_reported() -> None:
    engine = Engine(config=Config(rules={"windows-privileged": "off"}))
    assert engine.evaluate(_privileged_pod()).findings == []


def test_a_rule_override_changes_its_action() -> None:
    engine = Engine(config=Config(rules={"windows-privileged": "warn"}))
    assert _rules(engine.evaluate(_privileged_pod())) == [("windows-privileged", "warn")]


def test_max_action_warn_downgrades_every_denial_for_a_warn_only_rollout() -> None:
    engine = Engine(config=Config(maxAction="warn"))
    result = engine.evaluate(_privileged_pod())
    assert _rules(result) == [("windows-privileged", "warn")]
    assert not result.denied


def test_a_namespace_policy_overrides_the_config_for_that_namespace_only() -> None:
    config = Config(namespaces={"legacy": NamespacePolicy(maxAction="audit")})
    engine = Engine(config=config)
    assert _rules(engine.evaluate(_privileged_pod(), namespace="legacy")) == [
        ("windows-privileged", "audit")
    ]
    assert _rules(engine.evaluate(_privileged_pod(), namespace="apps")) == [
        ("windows-privileged", "deny")
    ]


def test_a_config_naming_an_unknown_rule_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown rules: windows-typo"):
        Engine(config=Config(rules={"windows-typo": "off"}))


def test_an_apiserver_rejected_field_is_denied_once_spec_os_name_is_windows() -> None:
    engine = Engine()
    pod = minimal_windows_pod()
    pod["spec"]["securityContext"]["runAsUser"] = 1000
    assert _rules(engine.evaluate(pod)) == [("windows-run-as-user", "warn")]
    pod["spec"]["os"] = {"name": "windows"}
    assert _rules(engine.evaluate(pod)) == [("windows-run-as-user", "deny")]


def test_an_exemption_with_a_reason_keeps_the_finding_but_stops_the_denial() -> None:
    engine = Engine()
    pod = _privileged_pod()
    pod["metadata"]["annotations"] = {
        "winpod.io/exempt": "windows-privileged",
        "winpod.io/exempt-reason": "vendor agent, ticket OPS-12",
    }
    result = engine.evaluate(pod)
    assert not result.denied
    [finding] = result.findings
    assert finding.exempted and finding.exemption_reason == "vendor agent, ticket OPS-12"
    assert finding.line().startswith("exempted (vendor agent, ticket OPS-12): ")


def test_an_exemption_without_a_reason_is_not_honoured() -> None:
    engine = Engine()
    pod = _privileged_pod()
    pod["metadata"]["annotations"] = {"winpod.io/exempt": "windows-privileged"}
    result = engine.evaluate(pod)
    assert result.denied
    assert sorted(_rules(result)) == [
        ("exemption-without-reason", "warn"),
        ("windows-privileged", "deny"),
    ]


def test_the_target_version_selects_each_rules_version() -> None:
    engine = Engine()
    pod = minimal_windows_pod()
    pod["spec"]["resources"] = {"limits": {"cpu": "2"}}
    # 1.31 does not know the field; 1.33 knows it but its gate (PodLevelResources) is off.
    for version in ("1.31", "1.33"):
        assert _rules(engine.evaluate(pod, version=parse_version(version))) == [
            ("windows-field-unavailable", "warn")
        ]
    assert _rules(engine.evaluate(pod, version=parse_version("1.34"))) == [
        ("windows-pod-level-resources", "deny")
    ]


def test_the_config_pins_the_default_target_version() -> None:
    engine = Engine(config=Config(kubernetesVersion="v1.23.17"))
    assert str(engine.default_version) == "1.23"


def test_windows_options_on_an_explicit_linux_pod_are_denied() -> None:
    engine = Engine()
    pod = linux_pod(securityContext={"windowsOptions": {"runAsUserName": "x"}})
    assert [(f.rule, f.path) for f in engine.evaluate(pod).findings] == [
        ("linux-windows-options", "spec.containers[0].securityContext.windowsOptions")
    ]


def test_kinds_that_are_not_checked_are_skipped_with_a_reason() -> None:
    result = Engine().evaluate({"kind": "Service", "metadata": {"name": "s"}})
    assert not result.checked and result.skipped_reason and "Service" in result.skipped_reason


def test_a_structurally_broken_pod_raises_a_shape_error_naming_the_path() -> None:
    pod = minimal_windows_pod()
    pod["spec"]["containers"] = "not-a-list"
    with pytest.raises(ShapeError, match=r"spec\.containers"):
        Engine().evaluate(pod)


def test_odd_typed_fields_inside_a_container_do_not_crash_the_engine() -> None:
    pod = minimal_windows_pod()
    pod["spec"]["containers"][0].update(image=7, workingDir=["x"], command="not a list")
    pod["spec"]["volumes"] = [{"emptyDir": "y"}, {"name": 3, "secret": ["x"]}]
    pod["spec"]["nodeSelector"] = {"kubernetes.io/os": "windows", "x": None}
    result = Engine().evaluate(pod)
    assert result.checked


def test_a_field_the_rules_read_with_the_wrong_type_is_a_shape_error_naming_it() -> None:
    from winpod.engine.visit import ShapeError

    pod = minimal_windows_pod()
    pod["spec"]["containers"][0]["securityContext"] = "x"
    with pytest.raises(
        ShapeError,
        match=r"^spec\.containers\[0\]\.securityContext: expected an"
        r" object, got a string$",
    ):
        Engine().evaluate(pod)


def test_finding_lines_name_path_reason_fix_and_rule() -> None:
    [finding] = Engine().evaluate(_privileged_pod()).findings
    assert finding.action is Action.DENY
    line = finding.line()
    assert line.startswith("spec.containers[0].securityContext.privileged: ")
    assert "HostProcess" in line and line.endswith("(rule windows-privileged)")
    assert not line.lower().startswith("warning")


@pytest.mark.parametrize(
    ("change", "path"),
    [
        (
            lambda pod: pod["spec"].update(volumes=[["a"], ["b"]]),
            r"spec\.volumes\[0\]: expected an object, got a list",
        ),
        (
            lambda pod: pod["spec"].update(tolerations=["os"]),
            r"spec\.tolerations\[0\]: expected an object, got a string",
        ),
        (
            lambda pod: pod["metadata"].update(labels={"version": 1.0}),
            r"metadata\.labels\['version'\]: expected a string, got a number",
        ),
        (
            lambda pod: pod["spec"].update(volumes=3),
            r"spec\.volumes: expected a list, got an integer",
        ),
    ],
)
def test_lists_and_labels_of_the_wrong_shape_are_shape_errors_naming_the_path(
    change: Any, path: str
) -> None:
    from winpod.engine.visit import ShapeError

    pod = minimal_windows_pod()
    change(pod)
    with pytest.raises(ShapeError, match=path):
        Engine().evaluate(pod)
