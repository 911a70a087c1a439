"""What `winpod check` reads: files, directories, stdin, YAML streams, JSON, Lists, and the
broken inputs real repositories contain."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from tests.cli.conftest import (
    MEMORY_EMPTYDIR_POD,
    PRIVILEGED_POD,
    WINDOWS_POD,
    Run,
    write,
)


def _report(result_out: str) -> dict[str, Any]:
    report: dict[str, Any] = json.loads(result_out)
    return report


def _rules(report: dict[str, Any]) -> list[tuple[str, str]]:
    return [(f["rule"], f["action"]) for f in report["findings"]]


def test_a_clean_windows_pod_passes_with_exit_code_0(winpod: Run, tmp_path: Path) -> None:
    path = write(tmp_path, "pod.yaml", WINDOWS_POD.format(name="web"))
    result = winpod("check", "--format", "json", path)
    assert result.code == 0, result.out
    report = _report(result.out)
    assert report["findings"] == []
    assert report["objects"][0]["os"] == "windows"


def test_stdin_is_read_when_the_path_is_a_dash(winpod: Run) -> None:
    result = winpod(
        "check", "--format", "json", "-", stdin=PRIVILEGED_POD.format(name="p").encode()
    )
    assert result.code == 1
    report = _report(result.out)
    assert ("windows-privileged", "deny") in _rules(report)
    assert report["findings"][0]["file"] == "<stdin>"


def test_directories_are_searched_recursively_for_yaml_yml_and_json(
    winpod: Run, tmp_path: Path
) -> None:
    write(tmp_path, "a/one.yaml", WINDOWS_POD.format(name="one"))
    write(tmp_path, "a/b/two.yml", WINDOWS_POD.format(name="two"))
    pod = yaml.safe_load(WINDOWS_POD.format(name="three"))
    write(tmp_path, "a/b/c/three.json", json.dumps(pod))
    write(tmp_path, "a/notes.txt", "kind: Pod\nthis: is not read\n")
    write(tmp_path, "a/.git/config.yaml", "{{ not read }}")
    result = winpod("check", "--format", "json", tmp_path / "a")
    assert result.code == 0, result.err
    names = sorted(o["name"] for o in _report(result.out)["objects"])
    assert names == ["one", "three", "two"]


def test_multi_document_yaml_gives_one_object_per_document(winpod: Run, tmp_path: Path) -> None:
    text = (
        "---\n"
        + WINDOWS_POD.format(name="a")
        + "---\n# only a comment\n---\n"
        + (PRIVILEGED_POD.format(name="b"))
    )
    path = write(tmp_path, "many.yaml", text)
    result = winpod("check", "--format", "json", path)
    report = _report(result.out)
    assert [o["name"] for o in report["objects"]] == ["a", "b"]
    assert result.code == 1


def test_a_kind_list_is_checked_item_by_item(winpod: Run, tmp_path: Path) -> None:
    items = [
        yaml.safe_load(WINDOWS_POD.format(name="ok")),
        yaml.safe_load(PRIVILEGED_POD.format(name="bad")),
    ]
    text = yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": items})
    path = write(tmp_path, "list.yaml", text)
    result = winpod("check", "--format", "json", path)
    report = _report(result.out)
    assert [o["name"] for o in report["objects"]] == ["ok", "bad"]
    assert result.code == 1
    # The item's line, not the List's.
    bad = report["objects"][1]
    assert bad["line"] > report["objects"][0]["line"] > 1


def test_json_input_and_a_json_stream_are_read(winpod: Run, tmp_path: Path) -> None:
    one = json.dumps(yaml.safe_load(WINDOWS_POD.format(name="one")), indent=2)
    two = json.dumps(yaml.safe_load(PRIVILEGED_POD.format(name="two")), indent=2)
    path = write(tmp_path, "stream.json", one + "\n" + two + "\n")
    result = winpod("check", "--format", "json", path)
    report = _report(result.out)
    assert [(o["name"], o["line"]) for o in report["objects"]] == [
        ("one", 1),
        ("two", one.count("\n") + 2),
    ]
    assert ("windows-privileged", "deny") in _rules(report)


def test_a_json_kind_list_as_kubectl_prints_it_is_read(winpod: Run, tmp_path: Path) -> None:
    items = [yaml.safe_load(MEMORY_EMPTYDIR_POD.format(name="m"))]
    path = write(tmp_path, "pods.json", json.dumps({"kind": "List", "items": items}))
    result = winpod("check", "--format", "json", path)
    assert _rules(_report(result.out)) == [("windows-emptydir-memory", "warn")]
    assert result.code == 0


def test_crlf_files_are_read_with_the_right_lines(winpod: Run, tmp_path: Path) -> None:
    text = PRIVILEGED_POD.format(name="crlf").replace("\n", "\r\n")
    path = write(tmp_path, "crlf.yaml", text.encode())
    result = winpod("check", "--format", "json", path)
    report = _report(result.out)
    privileged = next(f for f in report["findings"] if f["rule"] == "windows-privileged")
    assert privileged["line"] == 13
    assert result.code == 1


def test_a_utf16_file_as_powershell_writes_it_is_read(winpod: Run, tmp_path: Path) -> None:
    path = write(tmp_path, "ps.yaml", PRIVILEGED_POD.format(name="u16").encode("utf-16"))
    result = winpod("check", "--format", "json", path)
    assert ("windows-privileged", "deny") in _rules(_report(result.out))


def test_an_html_file_is_a_parse_error_naming_it_and_the_others_are_still_checked(
    winpod: Run, tmp_path: Path
) -> None:
    html = "<!DOCTYPE html>\n<html>\n<head><title>404 Not Found</title></head>\n</html>\n"
    write(tmp_path, "a-download.yaml", html)
    write(tmp_path, "b-pod.yaml", PRIVILEGED_POD.format(name="still-checked"))
    result = winpod("check", "--format", "json", tmp_path)
    assert result.code == 2  # an unreadable input wins over a denial: CI must notice it
    report = _report(result.out)
    assert [o["name"] for o in report["objects"]] == ["still-checked"]
    assert ("windows-privileged", "deny") in _rules(report)
    [error] = report["errors"]
    assert error["file"].endswith("a-download.yaml")
    assert "HTML" in error["message"]
    assert "a-download.yaml" in result.err


def test_a_yaml_syntax_error_names_the_file_and_line(winpod: Run, tmp_path: Path) -> None:
    text = WINDOWS_POD.format(name="ok") + "---\nkind: Pod\nmetadata: {name: [broken\n"
    path = write(tmp_path, "broken.yaml", text)
    result = winpod("check", path)
    assert result.code == 2
    line = WINDOWS_POD.count("\n") + 3
    assert f"broken.yaml:{line}" in result.err or f"broken.yaml:{line + 1}" in result.err
    assert "not valid YAML" in result.err
    assert "Traceback" not in result.err


def test_binary_garbage_is_a_parse_error(winpod: Run, tmp_path: Path) -> None:
    path = write(tmp_path, "garbage.yaml", bytes(range(256)))
    result = winpod("check", path)
    assert result.code == 2
    assert "garbage.yaml" in result.err and "not a text file" in result.err


def test_an_unrendered_helm_template_gets_a_hint(winpod: Run, tmp_path: Path) -> None:
    text = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {{ .Values.name }}\n"
    path = write(tmp_path, "templates.yaml", text)
    result = winpod("check", path)
    assert result.code == 2
    assert "helm template" in result.err


def test_placeholders_inside_strings_are_just_values(winpod: Run, tmp_path: Path) -> None:
    text = PRIVILEGED_POD.format(name="${POD_NAME}")
    result = winpod("check", "--format", "json", write(tmp_path, "p.yaml", text))
    assert result.code == 1
    assert _report(result.out)["objects"][0]["name"] == "${POD_NAME}"


def test_an_empty_file_is_not_an_error(winpod: Run, tmp_path: Path) -> None:
    path = write(tmp_path, "empty.yaml", "")
    comments = write(tmp_path, "comments.yaml", "# nothing here yet\n---\n")
    result = winpod("check", "-v", path, comments)
    assert result.code == 0
    assert "empty.yaml: no objects" in result.err
    assert "comments.yaml: no objects" in result.err


def test_a_missing_path_is_an_error(winpod: Run, tmp_path: Path) -> None:
    result = winpod("check", tmp_path / "nope.yaml")
    assert result.code == 2
    assert "nope.yaml: no such file or directory" in result.err


def test_a_document_that_is_not_a_mapping_is_an_error(winpod: Run, tmp_path: Path) -> None:
    result = winpod("check", write(tmp_path, "list.yaml", "- a\n- b\n"))
    assert result.code == 2
    assert "not a Kubernetes object" in result.err


def test_a_structurally_broken_pod_is_a_clear_error_not_a_crash(
    winpod: Run, tmp_path: Path
) -> None:
    text = "apiVersion: v1\nkind: Pod\nmetadata: {name: odd}\nspec:\n  containers: oops\n"
    result = winpod("check", write(tmp_path, "odd.yaml", text))
    assert result.code == 2
    assert "spec.containers" in result.err and "Traceback" not in result.err


def test_skipped_kinds_are_counted_and_listed_with_verbose(winpod: Run, tmp_path: Path) -> None:
    text = (
        "apiVersion: v1\nkind: Service\nmetadata: {name: web}\n---\n"
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg}\n---\n"
        "replicaCount: 3\n---\n" + WINDOWS_POD.format(name="web")
    )
    path = write(tmp_path, "mixed.yaml", text)
    quiet = winpod("check", path)
    assert quiet.code == 0
    assert "3 skipped" in quiet.out and "Service" not in quiet.out.splitlines()[0]
    loud = winpod("check", "-v", path)
    assert "mixed.yaml:1: skipped Service web: kind Service is not checked" in loud.out
    assert "mixed.yaml:5: skipped ConfigMap cfg" in loud.out
    assert "mixed.yaml:9: skipped (no kind): no kind" in loud.out
    report = _report(winpod("check", "--format", "json", path).out)
    assert report["summary"]["skippedKinds"] == {"(no kind)": 1, "ConfigMap": 1, "Service": 1}
