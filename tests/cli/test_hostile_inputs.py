"""Inputs winpod cannot judge are exit 2 with one line naming the file, the document (its line)
and the field path, in every output format, and never a traceback, a hang or a silent pass
(issue 13). Each case here passed silently, crashed or exhausted memory before."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.conftest import WINDOWS_POD, Run, write

ALIAS_BOMB = (
    "apiVersion: v1\nkind: Pod\nmetadata: {name: bomb}\na0: &a0 [lol, lol, lol]\n"
    + "".join(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]\n" for i in range(1, 10))
    + "spec: {containers: [{name: c, image: x, args: *a9}]}\n"
)


def _deep_json(depth: int) -> str:
    return (
        '{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "d"}, "x": '
        + "[" * depth
        + "]" * depth
        + "}"
    )


def _deep_yaml(depth: int) -> str:
    lines = ["apiVersion: v1", "kind: Pod", "metadata: {name: d}", "x:"]
    lines += ["  " * level + f"k{level}:" for level in range(1, depth + 1)]
    return "\n".join(lines) + " leaf\n"


@pytest.mark.parametrize(
    ("name", "text", "says"),
    [
        ("deep.json", _deep_json(1000), ":1: not a manifest: nested deeper than 100 levels"),
        ("deep-150.json", _deep_json(150), ":1: not a manifest: nested deeper than 100 levels"),
        ("deep.yaml", _deep_yaml(340), ":1: not a manifest: nested deeper than 100 levels"),
        (
            "flow.yaml",
            "kind: Pod\nmetadata: {name: d}\nx: " + "[" * 1000 + "]" * 1000 + "\n",
            "not a manifest: nested deeper than the YAML reader allows",
        ),
        ("bomb.yaml", ALIAS_BOMB, "aliases expand to more than 1,000,000 nodes"),
        (
            "metadata.yaml",
            "apiVersion: v1\nkind: Pod\nmetadata: x\nspec: {}\n",
            ":1: Pod (unnamed): metadata: expected an object, got a string",
        ),
        (
            "spec.yaml",
            "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec: []\n",
            ":1: Pod a: spec: expected an object, got a list",
        ),
        (
            "volumes.yaml",
            WINDOWS_POD.format(name="a") + "  volumes: 3\n",
            "Pod a: spec.volumes: expected a list, got an integer",
        ),
        (
            "nested.yaml",
            WINDOWS_POD.format(name="a") + "  volumes: [[a]]\n",
            "spec.volumes[0]: expected an object, got a list",
        ),
        (
            "context.yaml",
            WINDOWS_POD.format(name="a").replace(
                "      resources:", "      securityContext: oops\n      resources:"
            ),
            "spec.containers[0].securityContext: expected an object, got a string",
        ),
        (
            "labels.yaml",
            WINDOWS_POD.format(name="a").replace(
                "  namespace: apps", "  namespace: apps\n  labels: [x]"
            ),
            "metadata.labels: expected an object, got a list",
        ),
        (
            "deploy.yaml",
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: x\nspec: {}\n",
            "Deployment (unnamed): metadata: expected an object, got a string",
        ),
    ],
)
def test_an_input_winpod_cannot_judge_exits_2_with_one_line_naming_where(
    winpod: Run, tmp_path: Path, name: str, text: str, says: str
) -> None:
    path = write(tmp_path, name, text)
    result = winpod("check", path)
    assert result.code == 2, result.out + result.err
    errors = [line for line in result.err.splitlines() if line.startswith("winpod check: error:")]
    assert len(errors) == 1 and str(path) in errors[0] and says in errors[0], result.err
    assert "Traceback" not in result.err


@pytest.mark.parametrize("fmt", ["json", "sarif", "junit"])
def test_the_report_is_still_written_with_the_error_in_it(
    winpod: Run, tmp_path: Path, fmt: str
) -> None:
    bad = write(tmp_path, "deep.json", _deep_json(1000))
    good = write(tmp_path, "good.yaml", WINDOWS_POD.format(name="ok"))
    report = tmp_path / f"report.{fmt}"
    result = winpod("check", "--format", fmt, "-o", report, bad, good)
    assert result.code == 2
    text = report.read_text()
    assert "nested deeper than 100 levels" in text
    if fmt == "json":
        data = json.loads(text)
        assert data["summary"]["exitCode"] == 2 and data["summary"]["checked"] == 1
        assert data["errors"][0]["file"] == str(bad)
    elif fmt == "sarif":
        data = json.loads(text)
        assert data["runs"][0]["invocations"][0]["executionSuccessful"] is False


def test_mutate_reports_a_deep_document_and_an_alias_bomb_instead_of_expanding_them(
    winpod: Run, tmp_path: Path
) -> None:
    deep = write(tmp_path, "deep.json", _deep_json(1000))
    bomb = write(tmp_path, "bomb.yaml", ALIAS_BOMB)
    result = winpod("mutate", "-o", "json", deep, bomb)
    assert result.code == 2
    assert "nested deeper than 100 levels" in result.err
    assert "aliases expand to more than 1,000,000 nodes" in result.err
    assert len(result.out) < 1000


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (lambda d: write(d, "empty.yaml", ""), "no objects: the file is empty (--strict)"),
        (lambda d: _dir(d / "nothing"), "no manifests (*.yaml, *.yml, *.json) (--strict)"),
        (
            lambda d: write(d, "nokind.yaml", "apiVersion: v1\nmetadata: {name: a}\n"),
            ":1: no kind: not a Kubernetes object (--strict)",
        ),
    ],
)
def test_strict_fails_an_empty_file_an_empty_directory_and_a_document_with_no_kind(
    winpod: Run, tmp_path: Path, make: object, says: str
) -> None:
    path = make(tmp_path)  # type: ignore[operator]
    assert winpod("check", path).code == 0  # without --strict: passes, as it always did
    result = winpod("check", "--strict", path)
    assert result.code == 2 and says in result.err, result.err


def _dir(path: Path) -> Path:
    path.mkdir()
    return path


def test_exclude_leaves_matching_files_out_of_a_directory(winpod: Run, tmp_path: Path) -> None:
    chart = tmp_path / "chart"
    (chart / "templates").mkdir(parents=True)
    write(chart / "templates", "deployment.yaml", "{{ .Values.oops }}\n")
    write(chart, "pod.yaml", WINDOWS_POD.format(name="ok"))
    assert winpod("check", chart).code == 2  # the unrendered template does not parse
    result = winpod("check", "--exclude", "templates/*", chart)
    assert result.code == 0, result.err
    assert winpod("check", "--strict", "--exclude", "*.yaml", chart).code == 2


def test_a_kubernetes_version_past_the_latest_known_warns_and_names_the_rules_used(
    winpod: Run, tmp_path: Path
) -> None:
    result = winpod(
        "check",
        "--kubernetes-version",
        "1.99",
        write(tmp_path, "pod.yaml", WINDOWS_POD.format(name="a")),
    )
    assert result.code == 0
    assert (
        "winpod check: warning: Kubernetes 1.99 is newer than the latest release winpod"
        " knows (1.37): judging with 1.37's rules"
    ) in result.err
