"""`winpod mutate`: the CLI preview of what the mutating webhook does."""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from winpod.cli import main

from .pods import OS_TOLERATION, assert_schema_valid

MANIFESTS = Path(__file__).parent / "manifests"
IIS_POD = MANIFESTS / "iis-pod.yaml"
DAEMONSET = MANIFESTS / "linux-daemonset.yaml"
CONFLICT = MANIFESTS / "conflict-pod.yaml"
RUNTIME_CLASS_AND_ITS_POD = (
    "apiVersion: node.k8s.io/v1\nkind: RuntimeClass\nmetadata: {name: windows-2022}\n"
    "handler: runhcs-wcow-process\nscheduling:\n"
    "  nodeSelector: {kubernetes.io/os: windows}\n"
    "  tolerations: [{key: os, operator: Equal, value: windows, effect: NoSchedule}]\n"
    "---\n"
    "apiVersion: v1\nkind: Pod\nmetadata: {name: agent}\nspec:\n"
    "  runtimeClassName: windows-2022\n"
    "  containers: [{name: a, image: registry.k8s.io/pause:3.10}]\n"
)
PRIVILEGED_POD = (
    "apiVersion: v1\nkind: Pod\nmetadata: {name: priv}\nspec:\n  containers:\n"
    "  - name: a\n    image: mcr.microsoft.com/windows/nanoserver:ltsc2022\n"
    "    securityContext: {privileged: true}\n"
)
BROKEN_POD = "apiVersion: v1\nkind: Pod\nmetadata: {name: b}\nspec:\n  containers: nginx\n"


Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def mutate(capsys: pytest.CaptureFixture[str]) -> Run:
    """`mutate(*argv)` runs `winpod mutate *argv` in this process: (exit code, stdout, stderr)."""

    def run(*argv: str) -> tuple[int, str, str]:
        code = main(["mutate", *argv])
        out, err = capsys.readouterr()
        return code, out, err

    return run


def _write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(text)
    return path


def _docs(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(text) if d is not None]


def test_a_windows_iis_pod_is_printed_with_its_placement(mutate: Run) -> None:
    code, out, err = mutate(str(IIS_POD))
    assert code == 0
    (after,) = _docs(out)
    before = yaml.safe_load(IIS_POD.read_text())
    assert after["spec"]["nodeSelector"] == {
        "kubernetes.io/os": "windows",
        "node.kubernetes.io/windows-build": "10.0.20348",
    }
    assert after["spec"]["tolerations"] == [OS_TOLERATION]
    assert after["spec"]["os"] == {"name": "windows"}
    assert after["spec"]["containers"] == before["spec"]["containers"]
    assert_schema_valid(after)
    assert f"{IIS_POD}:1: Pod web/iis: winpod set nodeSelector kubernetes.io/os=windows" in err


def test_a_daemonset_is_previewed_as_the_pod_it_creates(mutate: Run) -> None:
    code, out, err = mutate(str(DAEMONSET))
    assert code == 0
    (pod,) = _docs(out)
    assert pod["kind"] == "Pod"
    assert pod["metadata"] == {
        "labels": {"app": "node-exporter"},
        "generateName": "node-exporter-",
        "namespace": "monitoring",
    }
    assert pod["spec"]["nodeSelector"] == {"kubernetes.io/os": "linux"}
    assert_schema_valid(pod)
    assert (
        "DaemonSet monitoring/node-exporter: winpod set nodeSelector kubernetes.io/os=linux" in err
    )


def test_diff_shows_only_the_injected_lines(mutate: Run) -> None:
    code, out, _ = mutate("--diff", str(DAEMONSET))
    assert code == 0
    added = [
        line for line in out.splitlines() if line.startswith("+") and not line.startswith("+++")
    ]
    assert added == ["+  nodeSelector:", "+    kubernetes.io/os: linux"]
    assert not [
        line for line in out.splitlines() if line.startswith("-") and not line.startswith("---")
    ]
    assert "(as written)" in out and "(as admitted)" in out


def test_a_conflicting_pod_is_printed_unchanged(mutate: Run) -> None:
    code, out, err = mutate(str(CONFLICT))
    (after,) = _docs(out)
    assert after == yaml.safe_load(CONFLICT.read_text())
    assert "winpod injected nothing: conflicting OS evidence" in err
    assert "(rule windows-os-conflict)" in err
    assert code == (1 if "would be denied" in err else 0)
    code, out, _ = mutate("--diff", str(CONFLICT))
    assert out == ""


def test_the_second_pass_has_an_empty_patch(mutate: Run, tmp_path: Path) -> None:
    _, first, _ = mutate(str(IIS_POD), str(DAEMONSET))
    mutated = _write(tmp_path, "mutated.yaml", first)
    code, out, err = mutate("--patch", str(mutated))
    assert code == 0
    lines = [json.loads(line) for line in out.splitlines()]
    assert [(p["object"], p["patch"]) for p in lines] == [
        ("Pod web/iis", []),
        ("Pod monitoring/node-exporter-", []),
    ]
    assert "winpod set" not in err
    _, diff, _ = mutate("--diff", str(mutated))
    assert diff == ""


def test_patch_prints_the_rfc6902_operations(mutate: Run) -> None:
    _, out, _ = mutate("--patch", str(IIS_POD))
    (line,) = [json.loads(x) for x in out.splitlines()]
    assert [op["path"] for op in line["patch"]] == [
        "/spec/nodeSelector",
        "/spec/tolerations",
        "/spec/os",
    ]


def test_json_output_is_one_object_or_a_list(mutate: Run) -> None:
    _, out, _ = mutate("-o", "json", str(IIS_POD))
    assert json.loads(out)["spec"]["os"] == {"name": "windows"}
    _, out, _ = mutate("--output", "json", str(MANIFESTS))
    listing = json.loads(out)
    assert listing["kind"] == "List" and len(listing["items"]) == 3


def test_stdin_is_read_with_a_dash(mutate: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(IIS_POD.read_bytes())))
    code, out, _ = mutate("-")
    assert code == 0
    assert _docs(out)[0]["spec"]["os"] == {"name": "windows"}


def test_the_config_file_switches_injections_off(mutate: Run, tmp_path: Path) -> None:
    config = _write(
        tmp_path,
        "winpod.yaml",
        "kubernetesVersion: '1.24'\nmutation:\n  windowsTolerations: false\n",
    )
    _, out, _ = mutate("--config", str(config), str(IIS_POD))
    spec = _docs(out)[0]["spec"]
    assert "tolerations" not in spec and "os" not in spec
    assert spec["nodeSelector"]["kubernetes.io/os"] == "windows"


def test_a_runtime_class_in_the_same_manifests_places_its_pods(mutate: Run, tmp_path: Path) -> None:
    manifests = _write(tmp_path, "app.yaml", RUNTIME_CLASS_AND_ITS_POD)
    _, out, err = mutate(str(manifests))
    (pod,) = _docs(out)
    assert pod["spec"]["nodeSelector"] == {"kubernetes.io/os": "windows"}
    assert "tolerations" not in pod["spec"]  # the RuntimeClass brings it
    assert "left out objects that run no pods: RuntimeClass (1)" in err


def test_a_pod_that_would_be_denied_exits_1(mutate: Run, tmp_path: Path) -> None:
    manifest = _write(tmp_path, "privileged.yaml", PRIVILEGED_POD)
    code, out, err = mutate(str(manifest))
    assert code == 1
    assert "Pod priv: would be denied: spec.containers[0].securityContext.privileged" in err
    assert "(rule windows-privileged)" in err
    # privileged is a field the apiserver rejects for os=windows pods, so os.name stays unset
    assert "os" not in _docs(out)[0]["spec"]
    assert "left spec.os.name unset" in err


def test_a_broken_pod_is_an_input_error_not_a_crash(mutate: Run, tmp_path: Path) -> None:
    manifest = _write(tmp_path, "broken.yaml", BROKEN_POD)
    code, out, err = mutate(str(manifest), str(IIS_POD))
    assert code == 2
    assert f"{manifest}:1: Pod: spec.containers: expected a list, got a string" in err
    assert len(_docs(out)) == 1  # the good file is still printed


def test_a_missing_file_and_a_bad_config_exit_2(mutate: Run, tmp_path: Path) -> None:
    code, _, err = mutate(str(tmp_path / "nope.yaml"))
    assert code == 2 and "no such file or directory" in err
    config = _write(tmp_path, "bad.yaml", "mutation:\n  windowsNodeSelectr: false\n")
    code, out, err = mutate("--config", str(config), str(IIS_POD))
    assert code == 2 and out == ""
    assert "windowsNodeSelectr" in err
