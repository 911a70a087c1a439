"""`winpod fix`: the webhook's placement written into the manifest files, everything else kept."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from tests.cli.conftest import Run, write

# Placement for a Windows Server 2022 image, as the default config has the webhook add it.
PLACED_2022 = """\
      nodeSelector:
        kubernetes.io/os: windows
        node.kubernetes.io/windows-build: 10.0.20348
      tolerations:
        - key: os
          operator: Equal
          value: windows
          effect: NoSchedule
      os:
        name: windows
"""

DEPLOYMENT_HEAD = """\
# The IIS front end: Windows only.
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web    # the Service selects on app=web
  namespace: apps
  labels: {app: web, tier: "front"}
spec:
  replicas: 2

  # Pods below: rolled one at a time.
  strategy:
    rollingUpdate: {maxUnavailable: 1}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
        - name: iis
          image: "mcr.microsoft.com/windows/servercore/iis:windowsservercore-ltsc2022"
          ports:
            - containerPort: 80     # http
"""
DEPLOYMENT_TAIL = """\
# end of the web front end
"""
DEPLOYMENT = DEPLOYMENT_HEAD + DEPLOYMENT_TAIL

CRONJOB = """\
apiVersion: batch/v1
kind: CronJob
metadata:
  name: report
spec:
  schedule: "0 3 * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          containers:
          - name: report
            image: mcr.microsoft.com/windows/nanoserver:ltsc2019
"""

SERVICE = """\
# The Service: no pods, nothing to place.
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports:
  - port: 80      # spacing as written
    targetPort: 80
"""

POD = """\
---
apiVersion: v1
kind: Pod
metadata:
  name: tool
spec:
  containers:
  - name: tool
    image: mcr.microsoft.com/windows/nanoserver:ltsc2022
"""

# No OS evidence at all: the webhook leaves its placement to the user.
UNPLACED_POD = """\
---
apiVersion: v1
kind: Pod
metadata:
  name: tool
spec:
  containers:
  - name: tool
    image: example.com/tool:1.0   # built for either OS
"""


def test_diff_prints_the_placement_a_deployment_gets_and_writes_nothing(
    winpod: Run, tmp_path: Path
) -> None:
    manifest = write(tmp_path, "web.yaml", DEPLOYMENT)
    result = winpod("fix", "--diff", manifest)
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[:2] == [f"--- {manifest}", f"+++ {manifest}"]
    assert [line[1:] for line in lines if line.startswith("+")][1:] == PLACED_2022.splitlines()
    assert not [line for line in lines[2:] if line.startswith("-")], "only additions"
    assert "winpod set nodeSelector kubernetes.io/os=windows" in result.err
    assert "would fix 1 file (1 object)" in result.err
    assert manifest.read_text() == DEPLOYMENT


def test_what_decided_the_os_is_named_at_its_path_in_the_deployment(
    winpod: Run, tmp_path: Path
) -> None:
    manifest = write(tmp_path, "web.yaml", DEPLOYMENT)
    result = winpod("fix", "--diff", manifest)
    assert "(evidence: spec.template.spec.containers[0].image (windows-only image" in result.err


def test_the_file_is_rewritten_in_place_keeping_comments_key_order_and_quoting(
    winpod: Run, tmp_path: Path
) -> None:
    manifest = write(tmp_path, "web.yaml", DEPLOYMENT)
    result = winpod("fix", manifest)
    assert result.code == 0, result.err
    assert f"fixed {manifest}" in result.out
    # The new keys close the pod spec; the comment that trailed it (about what follows, at
    # the outer level) still comes after them, and no other byte changed.
    assert manifest.read_text() == DEPLOYMENT_HEAD + PLACED_2022 + DEPLOYMENT_TAIL


def test_a_second_run_changes_nothing(winpod: Run, tmp_path: Path) -> None:
    manifest = write(tmp_path, "web.yaml", DEPLOYMENT)
    assert winpod("fix", manifest).code == 0
    fixed = manifest.read_bytes()
    again = winpod("fix", manifest)
    assert again.code == 0, again.err
    assert again.out == "winpod fix: no changes (1 file)\n"
    assert manifest.read_bytes() == fixed
    assert winpod("fix", "--check", manifest).code == 0


def test_a_cronjob_is_placed_at_its_job_template(winpod: Run, tmp_path: Path) -> None:
    manifest = write(tmp_path, "report.yaml", CRONJOB)
    assert winpod("fix", manifest).code == 0
    fixed = manifest.read_text()
    pod_spec = yaml.safe_load(fixed)["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert pod_spec["nodeSelector"] == {
        "kubernetes.io/os": "windows",
        "node.kubernetes.io/windows-build": "10.0.17763",
    }
    assert pod_spec["os"] == {"name": "windows"}
    # Written in the file's own style: dashes level with their key.
    assert fixed.startswith(CRONJOB)
    assert "\n          tolerations:\n          - key: os\n" in fixed


def test_in_a_multi_document_file_only_the_windows_pod_changes(winpod: Run, tmp_path: Path) -> None:
    manifest = write(tmp_path, "app.yaml", SERVICE + POD + UNPLACED_POD)
    result = winpod("fix", manifest)
    assert result.code == 0, result.err
    fixed = manifest.read_text()
    assert fixed.startswith(SERVICE + POD), "the Service is byte for byte as it was"
    assert fixed.endswith(UNPLACED_POD), "and so is the pod with no OS evidence"
    assert fixed.count("\n---\n") == 2
    service, pod, unplaced = yaml.safe_load_all(fixed)
    assert pod["spec"]["nodeSelector"]["kubernetes.io/os"] == "windows"
    assert "nodeSelector" not in unplaced["spec"]
    assert service == yaml.safe_load(SERVICE)


def test_a_file_that_does_not_parse_exits_2_is_named_with_its_line_and_left_untouched(
    winpod: Run, tmp_path: Path
) -> None:
    broken_text = POD.replace("  name: tool\n", "  name: tool: v2\n")
    broken = write(tmp_path, "broken.yaml", broken_text)
    good = write(tmp_path, "good.yaml", POD)
    result = winpod("fix", broken, good)
    assert result.code == 2
    assert f"{broken}:5: not valid YAML: mapping values are not allowed here" in result.err
    assert "(left untouched)" in result.err
    assert broken.read_text() == broken_text
    # One broken file does not hold back the others.
    assert "nodeSelector" in good.read_text()


def test_check_lists_what_would_change_exits_1_and_writes_nothing(
    winpod: Run, tmp_path: Path
) -> None:
    manifest = write(tmp_path, "web.yaml", DEPLOYMENT)
    placed = write(tmp_path, "placed.yaml", DEPLOYMENT_HEAD + PLACED_2022)
    result = winpod("fix", "--check", manifest, placed)
    assert result.code == 1
    assert result.out == f"would fix {manifest}\nwinpod fix: would fix 1 file (1 object)\n"
    assert manifest.read_text() == DEPLOYMENT
    assert winpod("fix", "--check", placed).code == 0


def test_check_with_diff_shows_the_change_and_still_exits_1(winpod: Run, tmp_path: Path) -> None:
    manifest = write(tmp_path, "web.yaml", DEPLOYMENT)
    result = winpod("fix", "--check", "--diff", manifest)
    assert result.code == 1
    assert "+      nodeSelector:" in result.out
    assert manifest.read_text() == DEPLOYMENT


def test_json_is_rewritten_as_json_in_its_own_indentation(winpod: Run, tmp_path: Path) -> None:
    text = (
        "{\n"
        '    "apiVersion": "v1",\n'
        '    "kind": "Pod",\n'
        '    "metadata": {"name": "tool"},\n'
        '    "spec": {\n'
        '        "containers": [\n'
        '            {"name": "tool", "image": "mcr.microsoft.com/windows/nanoserver:ltsc2022"}\n'
        "        ]\n"
        "    }\n"
        "}\n"
    )
    manifest = write(tmp_path, "tool.json", text)
    assert winpod("fix", manifest).code == 0
    fixed = manifest.read_text()
    assert json.loads(fixed)["spec"]["os"] == {"name": "windows"}
    assert '    "metadata": {"name": "tool"},\n' in fixed, "lines away from the change stay"
    assert '        ],\n        "nodeSelector": {\n            "kubernetes.io/os"' in fixed


def test_an_object_winpod_would_deny_is_placed_and_the_denial_printed_without_failing(
    winpod: Run, tmp_path: Path
) -> None:
    privileged = POD + "    securityContext:\n      privileged: true\n"
    manifest = write(tmp_path, "tool.yaml", privileged)
    result = winpod("fix", manifest)
    assert result.code == 0, result.err
    assert "Pod tool: would be denied: spec.containers[0].securityContext.privileged" in result.err
    assert "kubernetes.io/os: windows" in manifest.read_text()


def test_a_runtime_class_from_another_file_counts_for_the_tolerations(
    winpod: Run, tmp_path: Path
) -> None:
    write(
        tmp_path,
        "runtimeclass.yaml",
        "apiVersion: node.k8s.io/v1\nkind: RuntimeClass\nmetadata:\n  name: win2022\n"
        "handler: runhcs-wcow-process\nscheduling:\n"
        "  nodeSelector: {kubernetes.io/os: windows}\n"
        "  tolerations: [{key: os, operator: Equal, value: windows, effect: NoSchedule}]\n",
    )
    pod = write(
        tmp_path,
        "pod.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: app\nspec:\n"
        "  runtimeClassName: win2022\n  containers:\n  - name: app\n    image: example.com/app\n",
    )
    assert winpod("fix", tmp_path).code == 0
    spec = yaml.safe_load(pod.read_text())["spec"]
    assert spec["os"] == {"name": "windows"}, "placed on Windows by its RuntimeClass"
    assert "tolerations" not in spec, "the RuntimeClass admission plugin adds those"


def test_an_older_kubernetes_version_gets_no_spec_os(winpod: Run, tmp_path: Path) -> None:
    manifest = write(tmp_path, "web.yaml", DEPLOYMENT)
    assert winpod("fix", "--kubernetes-version", "1.24", manifest).code == 0
    spec = yaml.safe_load(manifest.read_text())["spec"]["template"]["spec"]
    assert "os" not in spec
    assert spec["nodeSelector"]["kubernetes.io/os"] == "windows"


def test_crlf_line_endings_are_kept(winpod: Run, tmp_path: Path) -> None:
    manifest = write(tmp_path, "tool.yaml", POD.replace("\n", "\r\n"))
    assert winpod("fix", manifest).code == 0
    fixed = manifest.read_bytes()
    assert b"  nodeSelector:\r\n" in fixed
    assert fixed.count(b"\n") == fixed.count(b"\r\n")


def test_a_missing_file_is_an_input_error(winpod: Run, tmp_path: Path) -> None:
    result = winpod("fix", tmp_path / "missing.yaml")
    assert result.code == 2
    assert "missing.yaml: no such file or directory" in result.err


def test_the_windows_toleration_joins_the_pods_own_list_in_its_style(
    winpod: Run, tmp_path: Path
) -> None:
    text = POD.replace(
        "spec:\n",
        "spec:\n  tolerations:\n  - key: dedicated   # the team's pool\n    operator: Exists\n",
    )
    manifest = write(tmp_path, "tool.yaml", text)
    assert winpod("fix", manifest).code == 0
    assert (
        "  tolerations:\n  - key: dedicated   # the team's pool\n    operator: Exists\n"
        "  - key: os\n    operator: Equal\n    value: windows\n    effect: NoSchedule\n"
    ) in manifest.read_text()


def test_a_duplicate_key_is_refused_in_a_pod_and_ignored_in_a_tools_config(
    winpod: Run, tmp_path: Path
) -> None:
    tool_config = write(tmp_path, "tool.yaml", "name: a\nname: b\n")
    pod_text = POD.replace("  name: tool\n", "  name: tool\n  name: other\n")
    pod = write(tmp_path, "pod.yaml", pod_text)
    result = winpod("fix", tool_config, pod)
    assert result.code == 2
    assert f"{pod}:6: duplicate key" in result.err
    assert str(tool_config) not in result.err
    assert pod.read_text() == pod_text
