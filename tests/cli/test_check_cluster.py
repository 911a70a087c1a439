"""`winpod check --cluster` reads RuntimeClasses, namespace labels and the version from the
current kubeconfig context (here: the stand-in apiserver of tests/cluster)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.conftest import PRIVILEGED_POD, Run, write
from tests.cli.test_check_runtimeclass import DEPLOYMENT, RUNTIME_CLASS
from tests.cluster.standin import StandinAPIServer


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[StandinAPIServer]:
    import yaml

    with StandinAPIServer() as api:
        api.put("runtimeclasses", yaml.safe_load(RUNTIME_CLASS))
        api.put(
            "namespaces", {"metadata": {"name": "apps", "labels": {"winpod.io/max-action": "warn"}}}
        )
        # Passed as --kubeconfig: the kubernetes client reads $KUBECONFIG once, at import.
        api.write_kubeconfig(tmp_path / "kubeconfig")
        yield api


def _cluster(tmp_path: Path) -> tuple[str, ...]:
    return ("--cluster", "--kubeconfig", str(tmp_path / "kubeconfig"))


def test_cluster_runtimeclasses_and_version_are_used(
    winpod: Run, tmp_path: Path, cluster: StandinAPIServer
) -> None:
    path = write(tmp_path, "d.yaml", DEPLOYMENT)
    result = winpod("check", *_cluster(tmp_path), "--format", "json", path)
    assert result.code == 0, result.err
    report = json.loads(result.out)
    assert report["kubernetesVersion"] == "1.30"  # the stand-in says v1.30.2
    assert report["objects"][0]["os"] == "windows"
    assert [f["rule"] for f in report["findings"]] == ["windows-emptydir-memory"]


def test_an_explicit_version_wins_over_the_cluster(
    winpod: Run, tmp_path: Path, cluster: StandinAPIServer
) -> None:
    path = write(tmp_path, "d.yaml", DEPLOYMENT)
    result = winpod(
        "check", *_cluster(tmp_path), "--kubernetes-version", "1.33", "--format", "json", path
    )
    assert json.loads(result.out)["kubernetesVersion"] == "1.33"


def test_namespace_labels_cap_the_action(
    winpod: Run, tmp_path: Path, cluster: StandinAPIServer
) -> None:
    path = write(tmp_path, "p.yaml", PRIVILEGED_POD.format(name="p"))  # namespace apps
    assert winpod("check", path).code == 1
    result = winpod("check", *_cluster(tmp_path), "--format", "json", path)
    assert result.code == 0
    actions = {f["rule"]: f["action"] for f in json.loads(result.out)["findings"]}
    assert actions["windows-privileged"] == "warn"


def test_an_unreachable_cluster_is_a_clear_error(
    winpod: Run, tmp_path: Path, cluster: StandinAPIServer
) -> None:
    cluster.stop()
    result = winpod("check", *_cluster(tmp_path), write(tmp_path, "d.yaml", DEPLOYMENT))
    assert result.code == 2
    assert result.err.startswith("winpod check: error: --cluster")
