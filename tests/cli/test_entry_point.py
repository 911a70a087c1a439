"""The real `winpod` entry point, run as CI runs it: exit codes, stdin, lazy imports."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.cli.conftest import EXAMPLES, PRIVILEGED_POD, REPO, run_process


def test_the_examples_folder_exits_1_because_one_pod_is_denied() -> None:
    result = run_process("check", "examples/")
    assert result.code == 1, result.err
    assert "windows-privileged" in result.out
    assert result.out.splitlines()[-1].startswith("winpod failed: ")


def test_stdin_through_the_entry_point() -> None:
    result = run_process(
        "check", "--format", "json", "-", stdin=PRIVILEGED_POD.format(name="p").encode()
    )
    assert result.code == 1
    assert json.loads(result.out)["summary"]["deny"] >= 1


def test_a_broken_pipe_is_not_a_traceback(tmp_path: Path) -> None:
    # Far more output than a pipe buffers, so `head` closes the pipe while winpod writes.
    many = "---\n".join(PRIVILEGED_POD.format(name=f"p{i}") for i in range(400))
    (tmp_path / "many.yaml").write_text(many)
    command = f"{' '.join(_quoted_winpod())} check {tmp_path / 'many.yaml'} | head -1"
    done = subprocess.run(
        command, shell=True, capture_output=True, cwd=REPO, timeout=60, check=False
    )
    assert done.stdout.startswith(str(tmp_path).encode())
    assert b"Traceback" not in done.stderr
    assert b"Error" not in done.stderr


def _quoted_winpod() -> list[str]:
    from shlex import quote

    from tests.cli.conftest import winpod_command

    return [quote(part) for part in winpod_command()]


def test_check_imports_no_web_framework_and_no_kubernetes_client() -> None:
    code = (
        "import sys\n"
        "from winpod.cli import main\n"
        f"code = main(['check', '--format', 'sarif', '-o', '/dev/null', {str(EXAMPLES)!r}])\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('fastapi', 'uvicorn', 'kubernetes', 'starlette', 'prometheus_client'))\n"
        "print(code, heavy)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        check=False,
    )
    assert done.stdout.strip() == "1 []", done.stderr


def test_cluster_without_a_kubeconfig_is_a_clear_error(tmp_path: Path) -> None:
    env_kubeconfig = tmp_path / "missing-kubeconfig"
    done = subprocess.run(
        [sys.executable, "-m", "winpod.cli", "check", "--cluster", "examples/"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        check=False,
        env={"KUBECONFIG": str(env_kubeconfig), "HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 2
    assert "--cluster" in done.stderr
    assert "Traceback" not in done.stderr
