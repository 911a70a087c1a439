from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from deploy_render import (
    HELM_VALUES,
    OPTIONS,
    OVERLAYS,
    Doc,
    copy_deploy,
    helm_render,
    helm_self_managed_values,
    kubectl_kustomize,
    kustomize_option,
    make_self_managed_certs,
    option_helm_values,
    rendered_by,
)


@pytest.fixture(scope="session")
def deploy_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """deploy/ copied, with fresh `winpod certs` output in the self-managed overlay."""
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl (which ships kustomize) is not installed")
    target = copy_deploy(tmp_path_factory.mktemp("deploy") / "deploy")
    make_self_managed_certs(target)
    return target


@pytest.fixture(scope="session")
def certs_dir(deploy_copy: Path) -> Path:
    return deploy_copy / "overlays" / "self-managed" / "certs"


@pytest.fixture(scope="session")
def kustomized(deploy_copy: Path) -> dict[str, list[Doc]]:
    return {name: kubectl_kustomize(deploy_copy / "overlays" / name) for name in OVERLAYS}


@pytest.fixture(scope="session")
def helm_available() -> None:
    pytest.importorskip("helm_python", reason="helm-python-sdk (the Helm engine) not installed")


@pytest.fixture(scope="session")
def helmed(helm_available: None, certs_dir: Path) -> dict[str, list[Doc]]:
    rendered = {}
    for name in OVERLAYS:
        values: dict[str, Any] = {**HELM_VALUES[name]}
        if name == "self-managed":
            values["certificates"] = {
                "mode": "selfManaged",
                "selfManaged": helm_self_managed_values(certs_dir),
            }
        rendered[name] = helm_render(values)
    return rendered


@pytest.fixture(scope="session")
def options_kustomized(deploy_copy: Path) -> dict[str, list[Doc]]:
    """Each option (deploy_render.OPTIONS) in a user's overlay, rendered by kustomize."""
    return {name: kustomize_option(deploy_copy, name) for name in OPTIONS}


@pytest.fixture(scope="session")
def options_helmed(helm_available: None, certs_dir: Path) -> dict[str, list[Doc]]:
    """Each option through the chart, with the equivalent values."""
    return {name: helm_render(option_helm_values(name, certs_dir)) for name in OPTIONS}


@pytest.fixture(scope="session")
def audit_kustomized(deploy_copy: Path) -> list[Doc]:
    return kubectl_kustomize(deploy_copy / "addons" / "audit-cronjob")


@pytest.fixture(scope="session")
def audit_helmed(helm_available: None) -> list[Doc]:
    return helm_render({"audit": {"enabled": True}})


@pytest.fixture(params=OVERLAYS)
def overlay(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(params=["kustomize", "helm"])
def renderer(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def rendered(request: pytest.FixtureRequest, overlay: str, renderer: str) -> list[Doc]:
    """One overlay (or its equivalent Helm values), rendered by one renderer."""
    return rendered_by(request, renderer, "kustomized", "helmed", overlay)
