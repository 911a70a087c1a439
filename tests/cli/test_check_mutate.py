"""`winpod check --mutate` checks pods as the mutating webhook would leave them."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.conftest import EXAMPLES, Run, write

# Windows only by its image: the mutating webhook pins it to Windows nodes (spec.os.name), and
# then the apiserver's own Windows checks apply, so runAsUser becomes a denial.
IMAGE_ONLY = """\
apiVersion: v1
kind: Pod
metadata:
  name: image-only
spec:
  securityContext:
    runAsUser: 1000
  containers:
    - name: app
      image: mcr.microsoft.com/windows/servercore:ltsc2022
      resources:
        requests: {memory: 64Mi}
        limits: {memory: 64Mi}
"""


def test_mutate_checks_the_mutated_pod(winpod: Run, tmp_path: Path) -> None:
    path = write(tmp_path, "pod.yaml", IMAGE_ONLY)
    plain = json.loads(winpod("check", "--format", "json", path).out)
    mutated = json.loads(winpod("check", "--mutate", "--format", "json", path).out)
    assert plain["objects"][0]["os"] == mutated["objects"][0]["os"] == "windows"
    # The mutated pod is placed by the injected nodeSelector; spec.os.name is left unset because
    # the apiserver would then reject runAsUser, which today only does nothing on Windows.
    assert "nodeSelector" in mutated["objects"][0]["osEvidence"]
    for report in (plain, mutated):
        assert "windows-run-as-user" in {f["rule"] for f in report["findings"]}
        line = next(f["line"] for f in report["findings"] if f["rule"] == "windows-run-as-user")
        assert line == 7
    actions = {f["rule"]: f["action"] for f in mutated["findings"]}
    assert actions["windows-run-as-user"] == "warn"
    assert mutated["summary"]["exitCode"] == 0


def test_mutate_keeps_the_examples_verdict(winpod: Run) -> None:
    result = winpod("check", "--mutate", "--format", "json", EXAMPLES)
    assert result.code == 1
    denied = {o["name"] for o in json.loads(result.out)["objects"] if o["denied"]}
    assert denied == {"legacy-agent"}
