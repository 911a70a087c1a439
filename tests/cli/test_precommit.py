"""winpod where other tools run it: the shipped pre-commit hooks, run by pre-commit itself from
a clone of this repository, and `kubectl winpod` as a kubectl plugin."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.conftest import PRIVILEGED_POD, REPO, write

BIN = Path(sys.executable).parent

DEPLOYMENT = """\
# The IIS front end: Windows only.
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web  # the Service selects on app=web
  namespace: apps
spec:
  replicas: 2
  # pods below
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
        - name: iis
          image: "mcr.microsoft.com/windows/servercore/iis:windowsservercore-ltsc2022"
"""


def _git(cwd: Path, *argv: str) -> str:
    env = {
        **os.environ,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_AUTHOR_NAME": "winpod tests",
        "GIT_AUTHOR_EMAIL": "tests@winpod.invalid",
        "GIT_COMMITTER_NAME": "winpod tests",
        "GIT_COMMITTER_EMAIL": "tests@winpod.invalid",
    }
    done = subprocess.run(
        ["git", *argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=60, check=True
    )
    return done.stdout


def _snapshot(into: Path) -> str:
    """A git repository at `into` whose one commit is this working tree (tracked files and new
    ones git does not ignore): pre-commit clones the hooks' repository at a commit, and what is
    tested must be the work in progress, not the last commit. Returns the commit."""
    listed = _git(REPO, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    for relative in filter(None, listed.split("\0")):
        source = REPO / relative
        if source.is_file():  # a tracked file deleted in the work tree is gone from it
            target = into / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    _git(into, "init", "-q")
    _git(into, "add", "-A")
    _git(into, "commit", "-q", "-m", "snapshot of the working tree")
    return _git(into, "rev-parse", "HEAD").strip()


def _pre_commit(project: Path, home: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    # Its own cache of hook environments: a fresh install of the snapshot, every run.
    env.update(
        PRE_COMMIT_HOME=str(home),
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        GIT_CONFIG_NOSYSTEM="1",
        GIT_CONFIG_GLOBAL=os.devnull,
    )
    return subprocess.run(
        [str(BIN / "pre-commit"), "run", "--all-files", "--color", "never"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=540,
        check=False,
    )


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_the_fix_hook_places_a_deployment_and_fails_once_then_both_hooks_pass(
    tmp_path: Path,
) -> None:
    hooks = tmp_path / "winpod"
    rev = _snapshot(hooks)
    project = tmp_path / "project"
    project.mkdir()
    write(
        project,
        ".pre-commit-config.yaml",
        f"repos:\n  - repo: {hooks}\n    rev: {rev}\n    hooks:\n"
        "      - id: winpod-fix\n      - id: winpod-check\n",
    )
    manifest = write(project, "deploy/web.yaml", DEPLOYMENT)
    _git(project, "init", "-q")
    _git(project, "add", "-A")
    _git(project, "commit", "-q", "-m", "a Windows Deployment without placement")

    first = _pre_commit(project, tmp_path / "pre-commit-home")
    report = first.stdout + first.stderr
    assert first.returncode == 1, report
    assert re.search(r"^winpod fix\.+Failed$", first.stdout, re.M), report
    assert "- files were modified by this hook" in first.stdout, report
    # The check ran on the file as fixed: placed, and nothing denied.
    assert re.search(r"^winpod check\.+Passed$", first.stdout, re.M), report
    fixed = manifest.read_text()
    assert "kubernetes.io/os: windows" in fixed
    assert "tolerations:" in fixed
    original = DEPLOYMENT.splitlines()
    kept = [line for line in fixed.splitlines() if line in original]
    assert kept == original, "every line (comments included) is kept, in order"

    second = _pre_commit(project, tmp_path / "pre-commit-home")
    assert second.returncode == 0, second.stdout + second.stderr
    assert re.search(r"^winpod fix\.+Passed$", second.stdout, re.M), second.stdout
    assert manifest.read_text() == fixed


def test_kubectl_runs_winpod_as_a_plugin_with_the_arguments_and_exit_code(
    tmp_path: Path,
) -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed")
    assert (BIN / "kubectl-winpod").exists(), "the console script: pip install -e '.[dev]'"
    env = {
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "HOME": str(tmp_path),
        "KUBECONFIG": str(tmp_path / "no-kubeconfig"),
    }

    def kubectl_winpod(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [kubectl, "winpod", *argv],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    rules = kubectl_winpod("rules")
    assert rules.returncode == 0, rules.stderr
    assert "windows-privileged" in rules.stdout
    denied = kubectl_winpod(
        "check", str(write(tmp_path, "pod.yaml", PRIVILEGED_POD.format(name="p")))
    )
    assert denied.returncode == 1, denied.stderr
    assert "windows-privileged" in denied.stdout
