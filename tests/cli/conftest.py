"""Helpers for the CLI tests: run `winpod` in-process (fast) or as the real entry point."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from winpod.cli import main

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
POLICIES = REPO / "policies"
# CI runs a fresh clone with shared/ beside it: <parent>/main and <parent>/shared.
CORPUS = REPO.parent / "shared" / "corpus"


@dataclass
class Result:
    code: int
    out: str
    err: str


Run = Callable[..., Result]


@pytest.fixture
def winpod(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Run:
    """`winpod(*argv, stdin=b"...")` calls app.cli.main in this process."""

    def run(*argv: str, stdin: bytes | None = None) -> Result:
        if stdin is not None:
            import io

            monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin)))
        capsys.readouterr()
        code = main([str(a) for a in argv])
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


def winpod_command() -> list[str]:
    """The installed console script beside this interpreter, else `python -m winpod.cli`."""
    script = Path(sys.executable).with_name("winpod")
    return [str(script)] if script.exists() else [sys.executable, "-m", "winpod.cli"]


def run_process(*argv: str, stdin: bytes | None = None, cwd: Path = REPO) -> Result:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    done = subprocess.run(
        [*winpod_command(), *argv],
        input=stdin,
        capture_output=True,
        cwd=cwd,
        env=env,
        timeout=60,
        check=False,
    )
    return Result(done.returncode, done.stdout.decode(), done.stderr.decode())


# Pod {name} on Windows by its nodeSelector, its one container `app` a nanoserver.
_POD_HEAD = """\
apiVersion: v1
kind: Pod
metadata:
  name: {name}
  namespace: apps
spec:
  nodeSelector:
    kubernetes.io/os: windows
  containers:
    - name: app
      image: mcr.microsoft.com/windows/nanoserver:ltsc2022
"""
_MEMORY_LIMIT = """\
      resources:
        requests:
          memory: 256Mi
        limits:
          memory: 256Mi
"""

WINDOWS_POD = _POD_HEAD + _MEMORY_LIMIT

PRIVILEGED_POD = _POD_HEAD + "      securityContext:\n        privileged: true\n" + _MEMORY_LIMIT

MEMORY_EMPTYDIR_POD = (
    _POD_HEAD
    + _MEMORY_LIMIT
    + """\
      volumeMounts:
        - name: scratch
          mountPath: C:\\scratch
  volumes:
    - name: scratch
      emptyDir:
        medium: Memory
"""
)


def write(directory: Path, name: str, text: str | bytes) -> Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8", newline="")
    return path
