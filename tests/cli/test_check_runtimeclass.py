"""RuntimeClass objects anywhere in the input tell winpod which pods are Windows pods."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.cli.conftest import EXAMPLES, Run, write

RUNTIME_CLASS = """\
apiVersion: node.k8s.io/v1
kind: RuntimeClass
metadata:
  name: win
handler: runhcs-wcow-process
scheduling:
  nodeSelector:
    kubernetes.io/os: windows
"""

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: via-runtimeclass
spec:
  selector:
    matchLabels: {app: x}
  template:
    metadata:
      labels: {app: x}
    spec:
      runtimeClassName: win
      containers:
        - name: app
          image: contoso.example/app:1
          resources:
            requests: {memory: 64Mi}
            limits: {memory: 64Mi}
      volumes:
        - name: tmp
          emptyDir: {medium: Memory}
"""


def _object(report: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(o for o in report["objects"] if o["name"] == name)
    return found


def test_without_its_runtimeclass_the_deployment_has_unknown_os(
    winpod: Run, tmp_path: Path
) -> None:
    result = winpod("check", "--format", "json", write(tmp_path, "d.yaml", DEPLOYMENT))
    report = json.loads(result.out)
    assert _object(report, "via-runtimeclass")["os"] == "unknown"
    assert report["findings"] == []


def test_a_runtimeclass_in_another_file_makes_the_deployment_windows(
    winpod: Run, tmp_path: Path
) -> None:
    write(tmp_path, "a-deployment.yaml", DEPLOYMENT)
    write(tmp_path, "b-runtimeclass.yaml", RUNTIME_CLASS)  # read after the Deployment
    result = winpod("check", "--format", "json", tmp_path)
    report = json.loads(result.out)
    obj = _object(report, "via-runtimeclass")
    assert obj["os"] == "windows"
    assert "RuntimeClass win" in obj["osEvidence"]
    assert [(f["rule"], f["path"]) for f in report["findings"]] == [
        ("windows-emptydir-memory", "spec.template.spec.volumes[0].emptyDir.medium")
    ]
    assert report["summary"]["skippedKinds"] == {"RuntimeClass": 1}


def test_a_runtimeclass_in_the_same_stream_on_stdin_counts(winpod: Run) -> None:
    text = DEPLOYMENT + "---\n" + RUNTIME_CLASS
    result = winpod("check", "--format", "json", "-", stdin=text.encode())
    assert _object(json.loads(result.out), "via-runtimeclass")["os"] == "windows"


def test_the_config_runtimeclasses_are_used_too(winpod: Run, tmp_path: Path) -> None:
    config = write(
        tmp_path,
        "winpod.yaml",
        "runtimeClasses:\n  - " + RUNTIME_CLASS.replace("\n", "\n    ").rstrip() + "\n",
    )
    result = winpod(
        "check", "--config", config, "--format", "json", write(tmp_path, "d.yaml", DEPLOYMENT)
    )
    assert _object(json.loads(result.out), "via-runtimeclass")["os"] == "windows"


def test_the_shipped_example_runtimeclass_deployment_is_windows(winpod: Run) -> None:
    report = json.loads(winpod("check", "--format", "json", EXAMPLES).out)
    assert _object(report, "report-renderer")["os"] == "windows"
    assert _object(report, "nginx")["os"] == "linux"
    assert not [f for f in report["findings"] if f["name"] == "nginx"]
    denied = {o["name"] for o in report["objects"] if o["denied"]}
    assert denied == {"legacy-agent"}
