"""The engine stays pure: no web framework, server or Kubernetes client, directly or indirectly."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ENGINE = Path(__file__).resolve().parents[2] / "app" / "engine"
FORBIDDEN = ("fastapi", "starlette", "uvicorn", "kubernetes", "prometheus_client")


def test_importing_every_engine_module_loads_no_forbidden_package() -> None:
    modules = [
        f"winpod.engine.{p.stem}" for p in sorted(ENGINE.glob("*.py")) if p.stem != "__init__"
    ]
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r})\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_no_engine_source_file_names_a_forbidden_package() -> None:
    for path in ENGINE.glob("*.py"):
        text = path.read_text(encoding="utf-8")
        for name in FORBIDDEN:
            assert f"import {name}" not in text and f"from {name}" not in text, (path, name)


def test_no_code_walks_the_containers_list_alone() -> None:
    """Containers are reached only through the one visitor, which walks all three kinds."""
    app_dir = ENGINE.parent
    offenders = []
    for path in app_dir.rglob("*.py"):
        if path.name == "visit.py":
            continue
        text = path.read_text(encoding="utf-8")
        for needle in (
            '["containers"]',
            "['containers']",
            '.get("containers")',
            ".get('containers')",
        ):
            if needle in text:
                offenders.append(f"{path.relative_to(app_dir)}: {needle}")
    assert offenders == []
