"""winpod as users install it: a wheel and an sdist, each into a fresh virtualenv, and
`winpod rules` from `/` (issue 12: a wheel used to install no rules at all).

The fresh venvs take winpod from the built artifact only; its dependencies come from this
test run's environment through a .pth line (its site-packages, without this checkout's
editable install, which lives in a .pth of its own that a plain path entry does not run), so
no download is needed."""

from __future__ import annotations

import shutil
import site
import subprocess
import sys
import sysconfig
import tarfile
import venv
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SOURCES = ("pyproject.toml", "README.md", "app", "policies")


def _run(*argv: str | Path, cwd: Path | str = "/") -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(a) for a in argv],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=240,
        env={"PATH": "/usr/bin:/bin", "PYTHONDONTWRITEBYTECODE": "1"},
    )
    assert result.returncode == 0, f"{argv}: {result.stdout}\n{result.stderr}"
    return result


def _build(source: Path, out: Path, *kinds: str) -> None:
    _run(
        sys.executable, "-m", "build", "--no-isolation", *kinds, "--outdir", out, source, cwd=source
    )


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    work = tmp_path_factory.mktemp("packaging")
    source = work / "src"
    source.mkdir()
    for name in SOURCES:  # what a clean checkout has, without caches or the venv
        path = REPO / name
        if path.is_dir():
            shutil.copytree(path, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(path, source / name)
    dist = work / "dist"
    _build(source, dist, "--sdist", "--wheel")
    (wheel,) = dist.glob("winpod-*.whl")
    (sdist,) = dist.glob("winpod-*.tar.gz")
    yield {"wheel": wheel, "sdist": sdist, "work": work}


def _fresh_venv(where: Path) -> Path:
    venv.EnvBuilder(with_pip=False).create(where)
    purelib = Path(
        sysconfig.get_paths(vars={"base": str(where), "platbase": str(where)})["purelib"]
    )
    deps = [p for p in site.getsitepackages() if Path(p).is_dir()]
    (purelib / "winpod-test-deps.pth").write_text("\n".join(deps) + "\n")
    return where


def _install(venv_dir: Path, wheel: Path) -> None:
    _run(
        sys.executable,
        "-m",
        "pip",
        "--python",
        venv_dir / "bin" / "python",
        "install",
        "--no-deps",
        "--no-index",
        "--quiet",
        wheel,
    )


def _check_installed(venv_dir: Path) -> None:
    result = _run(venv_dir / "bin" / "winpod", "rules")
    assert result.stdout.rstrip().splitlines()[-1].startswith("54 rules (actions at Kubernetes")
    where = _run(
        venv_dir / "bin" / "python",
        "-c",
        "import winpod, winpod.engine.rules as r; print(winpod.__file__);"
        " print(r.default_policies_dir())",
    ).stdout.split()
    assert where[0].startswith(str(venv_dir)), "winpod must come from the fresh venv"
    assert Path(where[1]) == Path(where[0]).parent / "policies"
    explain = _run(venv_dir / "bin" / "winpod", "explain", "windows-subpath").stdout
    assert "rule file:" in explain and str(venv_dir) in explain
    assert "a failing example:" in explain and "subPath: conf" in explain


def test_the_wheel_carries_the_rules_and_the_typing_marker(artifacts: dict[str, Path]) -> None:
    import zipfile

    names = zipfile.ZipFile(artifacts["wheel"]).namelist()
    rules = sorted(n for n in names if n.startswith("winpod/policies/") and n.count("/") == 2)
    assert len([n for n in rules if n.endswith(".yaml")]) == len(
        list((REPO / "policies").glob("*.yaml"))
    )
    examples = [n for n in names if n.startswith("winpod/policies/examples/")]
    assert len(examples) == len(list((REPO / "policies" / "examples").glob("*.yaml")))
    assert "winpod/py.typed" in names and "winpod/engine/evaluate.py" in names
    assert not any(n.startswith("app/") for n in names), "the import package is winpod"


def test_a_wheel_installs_into_a_fresh_venv_and_winpod_rules_works_from_root(
    artifacts: dict[str, Path],
) -> None:
    venv_dir = _fresh_venv(artifacts["work"] / "venv-wheel")
    _install(venv_dir, artifacts["wheel"])
    _check_installed(venv_dir)


def test_an_sdist_builds_and_installs_into_a_fresh_venv_and_winpod_rules_works(
    artifacts: dict[str, Path],
) -> None:
    unpacked = artifacts["work"] / "from-sdist"
    with tarfile.open(artifacts["sdist"]) as archive:
        archive.extractall(unpacked, filter="data")
    (root,) = unpacked.iterdir()
    _build(root, unpacked / "dist", "--wheel")
    (wheel,) = (unpacked / "dist").glob("winpod-*.whl")
    venv_dir = _fresh_venv(artifacts["work"] / "venv-sdist")
    _install(venv_dir, wheel)
    _check_installed(venv_dir)
