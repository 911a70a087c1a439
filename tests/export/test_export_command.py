"""`winpod export`: what it prints, what it refuses, and that nothing in the catalog is dropped
without being listed as left to the webhook."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from winpod.cli import main
from winpod.config import Config
from winpod.engine.evaluate import Engine
from winpod.engine.kubeversion import parse_version
from winpod.export import export

from tests.export.verdicts import Exported, engine_verdict
from tests.rules.cases import minimal_windows_pod


def test_export_prints_the_policies_and_a_summary_naming_what_stays_with_the_webhook(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["export", "--kubernetes-version", "1.36"]) == 0
    out, err = capsys.readouterr()
    objects = list(yaml.safe_load_all(out))
    kinds = [o["kind"] for o in objects]
    assert kinds.count("ValidatingAdmissionPolicy") == 2
    assert kinds.count("MutatingAdmissionPolicy") == 1
    assert kinds.count("ValidatingAdmissionPolicyBinding") == 2
    result = export(Engine(config=Config()), parse_version("1.36"))
    assert f"{len(result.objects)} objects" in err
    assert f"{result.expressions} CEL expressions" in err
    assert f"left to the webhook ({len(result.left)}):" in err
    for item in result.left:
        assert f"  {item.what}: {item.why}" in err


def test_every_rule_in_force_is_exported_or_listed_as_left_to_the_webhook() -> None:
    for minor in ("1.30", "1.33", "1.36", "1.37"):
        engine = Engine(config=Config())
        version = parse_version(minor)
        result = export(engine, version)
        in_force = {r.id for r in engine.catalog.compile_for(version) if r.action is not None}
        left = {item.what for item in result.left}
        assert set(result.rules) | (left & in_force) == in_force, minor
        assert not set(result.rules) & left


def test_only_the_fields_the_apiserver_drops_are_left_to_the_webhook_of_the_catalogs_rules() -> (
    None
):
    result = export(Engine(config=Config()), parse_version("1.36"))
    rules = {item.what for item in result.left if not item.what.startswith(("namespace", "the "))}
    assert rules == {"windows-field-unavailable"}


@pytest.mark.parametrize("minor", ["1.24", "1.29"])
def test_a_release_without_validating_admission_policy_v1_is_refused(
    minor: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["export", "--kubernetes-version", minor]) == 2
    assert "does not serve ValidatingAdmissionPolicy" in capsys.readouterr().err


def test_the_mutating_policy_is_refused_before_the_release_that_serves_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["export", "--kubernetes-version", "1.35", "--mutating"]) == 2
    assert "does not serve MutatingAdmissionPolicy" in capsys.readouterr().err
    assert main(["export", "--kubernetes-version", "1.35", "-q"]) == 0
    kinds = {o["kind"] for o in yaml.safe_load_all(capsys.readouterr().out)}
    assert "MutatingAdmissionPolicy" not in kinds


def test_json_output_is_a_list_of_the_same_objects(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", "--kubernetes-version", "1.36", "--format", "json", "-q"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed["kind"] == "List"
    assert len(listed["items"]) == 6


def test_a_windows_runtime_class_given_at_export_time_places_pods_in_cel(tmp_path: Path) -> None:
    classes = tmp_path / "rc.yaml"
    classes.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "node.k8s.io/v1",
                "kind": "RuntimeClass",
                "metadata": {"name": "windows-2022"},
                "handler": "runhcs-wcow-process",
                "scheduling": {"nodeSelector": {"kubernetes.io/os": "windows"}},
            }
        )
    )
    out = tmp_path / "policies.yaml"
    assert main(["export", "--runtime-classes", str(classes), "-o", str(out), "-q"]) == 0
    assert "windows-2022" in out.read_text()
    engine = Engine(config=Config(runtimeClasses=[yaml.safe_load(classes.read_text())]))
    exported = Exported(export(engine, engine.default_version, failure_policy="Fail"))
    pod = minimal_windows_pod()
    del pod["spec"]["nodeSelector"]
    pod["spec"]["runtimeClassName"] = "windows-2022"
    pod["spec"]["hostPID"] = True
    pod["spec"]["containers"][0]["image"] = "example.com/app:1"
    got, _ = exported.judge(pod, "apps")
    assert got == engine_verdict(engine.evaluate(pod)) == {("windows-host-pid", "deny")}


def test_a_namespace_entry_of_the_config_gets_bindings_of_its_own_with_its_overrides() -> None:
    config = Config.model_validate(
        {
            "namespaces": {
                "legacy": {"maxAction": "audit", "rules": {"windows-memory-limits": "off"}},
                "pinned": {"defaultOS": "windows"},
            }
        }
    )
    engine = Engine(config=config)
    exported = Exported(export(engine, engine.default_version, failure_policy="Fail"))
    names = {o["metadata"]["name"] for o in exported.export.objects}
    assert {"winpod-deny", "winpod-deny-ns1", "winpod-deny-ns2"} <= names
    pod = minimal_windows_pod()
    pod["spec"]["hostPID"] = True
    del pod["spec"]["containers"][0]["resources"]["limits"]
    for namespace in ("legacy", "pinned", "apps"):
        got, _ = exported.judge(pod, namespace)
        assert got == engine_verdict(engine.evaluate(pod, namespace=namespace)), namespace
    unplaced = minimal_windows_pod()
    del unplaced["spec"]["nodeSelector"]
    unplaced["spec"]["containers"][0]["image"] = "example.com/app:1"
    unplaced["spec"]["hostIPC"] = True
    got, _ = exported.judge(unplaced, "pinned")
    assert ("windows-host-ipc", "deny") in got
    assert got == engine_verdict(engine.evaluate(unplaced, namespace="pinned"))


def test_an_exemption_with_a_reason_warns_instead_of_denying_and_every_rule_exemption_skips_the_deny_policy() -> (
    None
):
    engine = Engine(config=Config())
    exported = Exported(export(engine, engine.default_version, failure_policy="Fail"))
    for names in ("windows-host-pid", "*"):
        pod = minimal_windows_pod()
        pod["spec"]["hostPID"] = True
        pod["metadata"]["annotations"] = {
            "winpod.io/exempt": names,
            "winpod.io/exempt-reason": "tested on our nodes",
        }
        got, _ = exported.judge(pod, "apps")
        assert got == engine_verdict(engine.evaluate(pod)) == {("windows-host-pid", "exempt")}
