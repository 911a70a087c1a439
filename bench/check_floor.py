"""`winpod check` over generated manifest files, against the floor of only parsing them.

    python bench/check_floor.py [--files 1000] [--repeats 3]

Both sides are whole processes started the same way (interpreter start-up, imports, reading
every file), so the ratio is what a CI job sees. The floor reads the same files and loads each
with PyYAML's C loader, nothing else. CPU time (user + system of the child) is the figure:
wall time on a shared machine says more about the neighbours than about winpod.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.mix import mix  # noqa: E402

_FLOOR = """
import os, sys, yaml
loader = yaml.CSafeLoader
for dirpath, _, names in os.walk(sys.argv[1]):
    for name in sorted(names):
        with open(os.path.join(dirpath, name), "rb") as f:
            list(yaml.load_all(f.read().decode("utf-8"), Loader=loader))
"""

# Names that must not be imported by `winpod check`: the web stack and the cluster client.
HEAVY = ("fastapi", "starlette", "uvicorn", "prometheus_client", "kubernetes")
_IMPORTS = """
import sys
from winpod.cli import main
main(["check", "--format", "json", "-o", sys.argv[2], sys.argv[1]])
print(",".join(m for m in sys.argv[3].split(",") if m in sys.modules))
"""


def write_manifests(directory: Path, count: int) -> list[Path]:
    """One object per file, as a repository of manifests holds them."""
    files = []
    for i, obj in enumerate(mix(count, seed=11)):
        path = directory / f"{i:04d}-{obj['metadata']['name']}.yaml"
        path.write_text(yaml.safe_dump(obj, sort_keys=False), encoding="utf-8")
        files.append(path)
    return files


def _timed(argv: list[str], tree: Path = REPO) -> tuple[float, float, int]:
    """(cpu seconds, wall seconds, exit code) of one child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(
        argv, cwd=tree, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if done.returncode not in (0, 1):  # 1: something denied, as the mix means it to be
        raise RuntimeError(f"{argv[:4]} exited {done.returncode}: {done.stderr.decode()[-500:]}")
    return cpu, wall, done.returncode


def imported_heavy(directory: Path, tree: Path = REPO) -> list[str]:
    """Which of HEAVY a real `winpod check` run left in sys.modules."""
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run(
            [
                sys.executable,
                "-c",
                _IMPORTS,
                str(directory),
                str(Path(tmp) / "r.json"),
                ",".join(HEAVY),
            ],
            cwd=tree,
            capture_output=True,
            text=True,
            check=False,
        )
    lines = out.stdout.strip().splitlines()
    return [m for m in (lines[-1] if lines else "").split(",") if m]


def measure(files: int = 1000, repeats: int = 3, tree: Path = REPO) -> dict[str, Any]:
    """`tree`: the checkout whose `winpod check` runs (python -m app.cli from there: its own source, whatever is installed)."""
    with tempfile.TemporaryDirectory(prefix="winpod-bench-") as tmp:
        directory = Path(tmp) / "manifests"
        directory.mkdir()
        paths = write_manifests(directory, files)
        size = sum(p.stat().st_size for p in paths)
        check = [sys.executable, "-m", "app.cli", "check", str(directory)]
        floor = [sys.executable, "-c", _FLOOR, str(directory)]
        _timed(floor)  # page cache and .pyc warm for both sides
        _timed(check, tree)
        check_runs, floor_runs = [], []
        for _ in range(repeats):  # interleaved, so drift in machine load hits both alike
            check_runs.append(_timed(check, tree))
            floor_runs.append(_timed(floor))
        heavy = imported_heavy(directory, tree)
    check_cpu, check_wall = min(r[0] for r in check_runs), min(r[1] for r in check_runs)
    floor_cpu, floor_wall = min(r[0] for r in floor_runs), min(r[1] for r in floor_runs)
    return {
        "files": files,
        "bytes": size,
        "repeats": repeats,
        "check_cpu_s": check_cpu,
        "check_wall_s": check_wall,
        "check_exit": check_runs[0][2],
        "floor_cpu_s": floor_cpu,
        "floor_wall_s": floor_wall,
        "ratio_cpu": check_cpu / floor_cpu,
        "ratio_wall": check_wall / floor_wall,
        "heavy_imports": heavy,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    r = measure(args.files, args.repeats)
    print(
        f"winpod check: {r['check_cpu_s']:.3f} s CPU ({r['check_wall_s']:.3f} s wall) over "
        f"{r['files']} files; PyYAML C-loader floor {r['floor_cpu_s']:.3f} s CPU "
        f"({r['floor_wall_s']:.3f} s wall); ratio {r['ratio_cpu']:.2f} (wall {r['ratio_wall']:.2f});"
        f" heavy imports: {', '.join(r['heavy_imports']) or 'none'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
