"""The mutation switches of issue 11: the mixed-cluster Linux pin (the DaemonSet problem),
windowsDropLinuxFields (Pod Security interplay), and the apiserver profile."""

from __future__ import annotations

import copy
from typing import Any

from winpod.engine.kubeversion import parse_version
from winpod.engine.mutate import mutate_object

from tests.mutate.pods import NANO_2019, PAUSE, applied, assert_schema_valid, engine, pod
from tests.rules.builders import RESTRICTED_CONTEXT


def _mutated(obj: dict[str, Any], eng: Any, version: str = "1.36") -> Any:
    original = copy.deepcopy(obj)
    result = mutate_object(eng, obj, version=parse_version(version))
    assert obj == original, "the input must not be modified"
    assert applied(obj, result.patch) == result.mutated
    assert_schema_valid(result.mutated)
    again = mutate_object(eng, result.mutated, version=parse_version(version))
    assert again.patch == [], "a second pass changes nothing"
    return result


def _agent(**spec: Any) -> dict[str, Any]:
    agent = pod(PAUSE, tolerations=[{"operator": "Exists"}], hostPID=True, **spec)
    agent["spec"]["containers"][0]["securityContext"] = {"privileged": True}
    return agent


def test_a_linux_only_agent_that_tolerates_everything_is_warned() -> None:
    result = _mutated(_agent(), engine())
    assert result.patch == []
    [finding] = result.evaluation.findings
    assert (finding.rule, finding.action.value) == ("linux-only-pod-tolerates-windows", "warn")
    assert "spec.hostPID" in finding.message and "tolerates every taint" in finding.message


def test_in_a_mixed_cluster_the_agent_is_pinned_to_linux() -> None:
    result = _mutated(_agent(), engine(mixedCluster=True))
    assert result.patch == [
        {"op": "add", "path": "/spec/nodeSelector", "value": {"kubernetes.io/os": "linux"}}
    ]
    assert "mixed cluster" in result.warnings[0]
    assert result.evaluation.findings == []  # placed on Linux: nothing left to say


def test_an_agent_without_linux_only_features_is_left_alone_in_a_mixed_cluster() -> None:
    quiet = pod(PAUSE, tolerations=[{"operator": "Exists"}])
    assert _mutated(quiet, engine(mixedCluster=True)).patch == []


def _chart_pod() -> dict[str, Any]:
    chart = pod(NANO_2019)
    chart["spec"]["containers"][0]["securityContext"] = copy.deepcopy(RESTRICTED_CONTEXT)
    return chart


def test_drop_linux_fields_stamps_windows_and_removes_what_windows_ignores() -> None:
    result = _mutated(_chart_pod(), engine(mutation={"windowsDropLinuxFields": True}))
    removed = sorted(op["path"] for op in result.patch if op["op"] == "remove")
    assert removed == [
        f"/spec/containers/0/securityContext/{key}"
        for key in ("allowPrivilegeEscalation", "capabilities", "runAsUser", "seccompProfile")
    ]
    assert result.mutated["spec"]["os"] == {"name": "windows"}
    assert result.mutated["spec"]["containers"][0]["securityContext"] == {"runAsNonRoot": True}
    assert not result.evaluation.denied


def test_without_the_switch_the_fields_stay_and_spec_os_name_is_left_unset() -> None:
    result = _mutated(_chart_pod(), engine())
    assert all(op["op"] == "add" for op in result.patch)
    assert "os" not in result.mutated["spec"]
    assert any("left spec.os.name unset" in w for w in result.warnings)


def test_drop_linux_fields_keeps_its_hands_off_before_spec_os_exists() -> None:
    result = _mutated(_chart_pod(), engine(mutation={"windowsDropLinuxFields": True}), "1.24")
    assert all(op["op"] == "add" for op in result.patch)
    assert "os" not in result.mutated["spec"]


def test_drop_linux_fields_never_removes_what_cannot_work() -> None:
    chart = _chart_pod()
    chart["spec"]["containers"][0]["securityContext"]["privileged"] = True
    result = _mutated(chart, engine(mutation={"windowsDropLinuxFields": True}))
    assert all(op["op"] == "add" for op in result.patch)
    assert result.evaluation.denied


def test_the_apiserver_profile_denies_rejected_fields_without_spec_os() -> None:
    chart = _chart_pod()
    chart["spec"]["nodeSelector"] = {"kubernetes.io/os": "windows"}
    strict = engine(profile="apiserver")
    result = strict.evaluate(chart)
    denied = sorted(f.path for f in result.findings if f.blocks)
    assert denied == [
        f"spec.containers[0].securityContext.{key}"
        for key in ("allowPrivilegeEscalation", "capabilities", "runAsUser", "seccompProfile")
    ]
    assert not engine().evaluate(chart).denied  # the default profile only warns


def test_the_apiserver_profile_denies_an_empty_value_the_apiserver_would_reject() -> None:
    quiet = pod(NANO_2019, nodeSelector={"kubernetes.io/os": "windows"})
    quiet["spec"]["securityContext"] = {"supplementalGroups": []}
    assert engine(profile="apiserver").evaluate(quiet).denied
    assert not engine().evaluate(quiet).denied


def test_the_apiserver_profile_always_stamps_spec_os_name() -> None:
    strict = engine(profile="apiserver")
    result = mutate_object(strict, _chart_pod(), version=parse_version("1.36"))
    assert result.mutated["spec"]["os"] == {"name": "windows"}
    assert result.evaluation.denied  # and the rejected fields are denied, with winpod's words
    linux = mutate_object(strict, pod("nginx:1.27"), version=parse_version("1.36"))
    assert linux.mutated["spec"]["os"] == {"name": "linux"}
