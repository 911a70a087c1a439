"""Every rule fails its fixtures for exactly that rule, passes its pass fixtures, and gives the
same findings at the right path inside every workload kind."""

from __future__ import annotations

import pytest
from winpod.config import Config
from winpod.engine.evaluate import Engine
from winpod.engine.kubeversion import parse_version

from tests.rules.cases import (
    COMPANIONS,
    FAIL,
    PASS,
    WORKLOAD_PREFIX,
    WORKLOADS,
    Case,
    build,
    case_id,
    expand,
    minimal_windows_pod,
)

FAIL_ITEMS = expand(FAIL)
PASS_ITEMS = expand(PASS)


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine()


_ENGINES: dict[str, Engine] = {}


def _evaluate(engine: Engine, obj: dict, case: Case):  # type: ignore[no-untyped-def]
    version = parse_version(case.version) if case.version else None
    if case.config:
        key = repr(sorted(case.config.items()))
        if key not in _ENGINES:
            _ENGINES[key] = Engine(config=Config.model_validate(case.config))
        engine = _ENGINES[key]
    return engine.evaluate(obj, version=version)


def test_the_minimal_windows_pod_has_no_findings(engine: Engine) -> None:
    result = engine.evaluate(minimal_windows_pod())
    assert result.os is not None and result.os.os == "windows"
    assert result.findings == []


@pytest.mark.parametrize("item", FAIL_ITEMS, ids=[case_id(i) for i in FAIL_ITEMS])
def test_a_fail_fixture_fails_for_exactly_its_rule_at_its_paths(engine: Engine, item) -> None:  # type: ignore[no-untyped-def]
    case, kind = item
    pod, paths = build(case, kind)
    result = _evaluate(engine, pod, case)
    fired = {f.rule for f in result.findings}
    assert fired - COMPANIONS.get(case.rule, set()) == {case.rule}, [
        f.line() for f in result.findings
    ]
    mine = [f for f in result.findings if f.rule == case.rule]
    assert sorted(f.path for f in mine) == sorted(paths)
    rule = engine.catalog.rules[case.rule]
    expected_action = case.action or next(
        v.action
        for v in reversed(rule.versions)
        if parse_version(v.since) <= parse_version(case.version or str(engine.default_version))
    )
    assert {f.action.value for f in mine} == {expected_action}
    for finding in mine:
        assert finding.message and finding.fix
        assert finding.line().endswith(f"(rule {case.rule})")


@pytest.mark.parametrize("item", PASS_ITEMS, ids=[case_id(i) for i in PASS_ITEMS])
def test_a_pass_fixture_does_not_trip_its_rule(engine: Engine, item) -> None:  # type: ignore[no-untyped-def]
    case, kind = item
    pod, _ = build(case, kind)
    result = _evaluate(engine, pod, case)
    assert case.rule not in {f.rule for f in result.findings}
    assert not result.denied, [f.line() for f in result.findings]


def test_every_rule_in_the_catalog_has_a_fail_fixture(engine: Engine) -> None:
    with_fixture = {case.rule for case in FAIL}
    without = sorted(
        set(engine.catalog.rules)
        - with_fixture
        - {
            # audit-only companion, exercised through the HostProcess fixtures
            "windows-hostprocess-pod-security",
            # Linux-side rule, tested in tests/unit/test_os_rules.py
            "linux-windows-options",
        }
    )
    assert without == []


@pytest.mark.parametrize("kind", sorted(WORKLOADS))
@pytest.mark.parametrize("item", FAIL_ITEMS, ids=[case_id(i) for i in FAIL_ITEMS])
def test_a_workload_reports_its_template_findings_under_the_template_path(
    engine: Engine,
    item,
    kind: str,  # type: ignore[no-untyped-def]
) -> None:
    case, container_kind = item
    pod, _ = build(case, container_kind)
    as_pod = _evaluate(engine, pod, case)
    as_workload = _evaluate(engine, WORKLOADS[kind](pod), case)
    prefix = WORKLOAD_PREFIX[kind]
    assert [(f.rule, prefix + f.path, f.action) for f in as_pod.findings] == [
        (f.rule, f.path, f.action) for f in as_workload.findings
    ]


def test_a_linux_pod_with_every_windows_problem_is_not_checked_as_windows(engine: Engine) -> None:
    pod = minimal_windows_pod()
    pod["spec"]["nodeSelector"] = {"kubernetes.io/os": "linux"}
    pod["spec"]["containers"][0]["image"] = "registry.k8s.io/pause:3.9"
    pod["spec"]["containers"][0]["securityContext"] = {"privileged": True, "runAsUser": 1000}
    pod["spec"]["volumes"] = [{"name": "m", "emptyDir": {"medium": "Memory"}}]
    pod["spec"]["hostPID"] = True
    result = engine.evaluate(pod)
    assert result.os is not None and result.os.os == "linux"
    assert result.findings == []


def test_a_pod_without_os_evidence_is_unknown_and_not_checked_as_windows(engine: Engine) -> None:
    pod = minimal_windows_pod()
    del pod["spec"]["nodeSelector"]
    del pod["spec"]["securityContext"]
    pod["spec"]["containers"][0]["image"] = "example.com/app:1"
    pod["spec"]["containers"][0]["securityContext"] = {"privileged": True}
    result = engine.evaluate(pod)
    assert result.os is not None and result.os.os == "unknown"
    assert result.findings == []
