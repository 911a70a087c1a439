"""`winpod rules` lists the whole catalog; `winpod explain RULE` prints one rule in full."""

from __future__ import annotations

import json

import yaml

from tests.cli.conftest import POLICIES, Run


def test_rules_lists_every_rule_file(winpod: Run) -> None:
    result = winpod("rules")
    assert result.code == 0
    count = len(list(POLICIES.glob("*.yaml")))
    assert f"\n{count} rules (" in result.out
    for path in POLICIES.glob("*.yaml"):
        assert f"\n{path.stem} " in result.out


def test_rules_as_json_gives_the_count_and_the_action_at_a_version(winpod: Run) -> None:
    result = winpod("rules", "--format", "json", "--kubernetes-version", "1.30")
    document = json.loads(result.out)
    assert document["count"] == len(document["rules"]) == len(list(POLICIES.glob("*.yaml")))
    assert document["kubernetesVersion"] == "1.30"
    by_id = {r["id"]: r for r in document["rules"]}
    assert by_id["windows-privileged"]["action"] == "deny"
    assert by_id["windows-emptydir-memory"]["os"] == "windows"


def test_explain_prints_title_fields_versions_and_source(winpod: Run) -> None:
    result = winpod("explain", "windows-emptydir-memory")
    assert result.code == 0
    spec = yaml.safe_load((POLICIES / "windows-emptydir-memory.yaml").read_text())
    assert result.out.startswith(f"windows-emptydir-memory: {spec['title']}")
    assert "spec.volumes[*].emptyDir.medium" in result.out
    assert f"since {spec['versions'][0]['since']}: {spec['versions'][0]['action']}" in result.out
    assert f"source: {spec['source']}" in result.out


def test_explain_an_unknown_rule_exits_2_with_suggestions(winpod: Run) -> None:
    result = winpod("explain", "subpath")
    assert result.code == 2
    assert "did you mean" in result.err and "windows-subpath" in result.err
    assert winpod("explain", "windows-privilegd").err.count("windows-privileged") == 1


def test_explain_shows_a_failing_and_a_passing_example_the_exemption_and_the_config_line(
    winpod: Run,
) -> None:
    out = winpod("explain", "windows-subpath").out
    failing = out.split("a failing example:")[1].split("a passing example:")[0]
    assert "# fails: subPath" in failing and "subPath: conf" in failing
    assert "# passes: an empty subPath" in out
    assert 'winpod.io/exempt: "windows-subpath"' in out and "winpod.io/exempt-reason:" in out
    assert "    windows-subpath: warn" in out
