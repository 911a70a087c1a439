"""A finding's line is the line of the deepest part of its path that exists in the file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from winpod.manifests import Manifest, line_of, path_steps, read_inputs

from tests.cli.conftest import EXAMPLES, Run, write

POD = """\
apiVersion: v1
kind: Pod
metadata:
  name: lines
  annotations:
    a.b/c: x
spec:
  nodeSelector:
    kubernetes.io/os: windows
  containers:
    - name: app
      image: mcr.microsoft.com/windows/nanoserver:ltsc2022
      volumeMounts:
        - name: v
          mountPath: C:\\v
        - name: v
          mountPath: C:\\w
          subPath: w
"""


def _manifest(text: str) -> Manifest:
    return read_inputs_from_text(text)


def read_inputs_from_text(text: str) -> Manifest:
    import io

    inputs = read_inputs(["-"], stdin=io.BytesIO(text.encode()))
    [manifest] = inputs.manifests
    return manifest


@pytest.mark.parametrize(
    ("path", "line"),
    [
        ("spec.containers[0].volumeMounts[1].subPath", 18),
        ('metadata.annotations["a.b/c"]', 6),
        ('spec.nodeSelector["kubernetes.io/os"]', 9),
        ("spec.containers[0].image", 12),
        # Absent fields: the nearest part that exists.
        ("spec.containers[0].resources.limits.memory", 11),
        ("spec.containers[0].volumeMounts[7].subPath", 13),
        ("spec.securityContext.runAsUser", 7),
        ("", 1),
    ],
)
def test_paths_map_to_the_nearest_existing_line(path: str, line: int) -> None:
    assert line_of(_manifest(POD), path) == line


def test_path_steps_read_indexes_and_quoted_keys() -> None:
    assert path_steps('spec.template.spec.containers[2].x["a.b/c"].y') == [
        "spec",
        "template",
        "spec",
        "containers",
        2,
        "x",
        "a.b/c",
        "y",
    ]


def test_json_objects_carry_the_line_they_start_on() -> None:
    import io

    text = "\n\n" + json.dumps(yaml.safe_load(POD))
    inputs = read_inputs(["-"], stdin=io.BytesIO(text.encode()))
    assert line_of(inputs.manifests[0], "spec.containers[0].image") == 3


def test_findings_in_the_examples_point_at_the_offending_lines(winpod: Run) -> None:
    report = json.loads(winpod("check", "--format", "json", EXAMPLES).out)
    for finding in report["findings"]:
        source = Path(finding["file"]).read_text().splitlines()
        text = source[finding["line"] - 1]
        last = finding["path"].rsplit(".", 1)[-1].split("[")[0]
        if finding["rule"] in ("windows-privileged", "windows-subpath", "windows-emptydir-memory"):
            assert text.strip().startswith(f"{last}:"), (finding, text)


def test_a_second_document_counts_lines_from_the_top_of_the_file(
    winpod: Run, tmp_path: Path
) -> None:
    text = "apiVersion: v1\nkind: Service\nmetadata: {name: s}\n---\n" + POD
    result = winpod("check", "--format", "json", write(tmp_path, "two.yaml", text))
    report = json.loads(result.out)
    subpath = next(f for f in report["findings"] if f["rule"] == "windows-subpath")
    assert subpath["line"] == 18 + 4
    assert report["objects"][1]["line"] == 5
