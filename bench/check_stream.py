"""`winpod check` on one big multi-document file, against PyYAML's C loader streaming the same
file, in the same run: time (wall and CPU) and peak RSS as ratios (issue 13's goals: at most
1.5 times the floor's time, at most 256 MiB peak).

    python bench/check_stream.py [--megabytes 50] [--rounds 3] [--format json] [--tree DIR]

The two sides take turns, round after round (on a shared machine one run against another says
little); each figure is a child's own (os.wait4), best of the rounds.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.hostile import _many_pods  # noqa: E402

_FLOOR = """
import sys, yaml
with open(sys.argv[1], "rb") as f:
    data = f.read()
count = 0
for document in yaml.load_all(data, Loader=yaml.CSafeLoader):
    count += 1
print(count)
"""


def _measure(argv: list[str], cwd: Path) -> tuple[float, float, float, int]:
    """(wall s, CPU s, peak RSS MiB, exit code) of one child."""
    start = time.monotonic()
    process = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.monotonic() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.stderr is not None:
        process.stderr.read()
        process.stderr.close()
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, process.returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--format", default="json", choices=("text", "json", "junit", "sarif"))
    parser.add_argument("--tree", type=Path, default=REPO, help="a copy of the repo to run")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="winpod-stream-") as tmp:
        path = Path(tmp) / "pods.yaml"
        path.write_text(_many_pods(args.megabytes), encoding="utf-8")
        size = path.stat().st_size / 2**20
        check = [
            sys.executable,
            "-m",
            "app.cli",
            "check",
            "--format",
            args.format,
            "-o",
            str(Path(tmp) / "report"),
            str(path),
        ]
        floor = [sys.executable, "-c", _FLOOR, str(path)]
        results: dict[str, list[tuple[float, float, float, int]]] = {"winpod": [], "floor": []}
        for _ in range(args.rounds):
            results["floor"].append(_measure(floor, REPO))
            results["winpod"].append(_measure(check, args.tree))
    best = {
        side: (
            min(r[0] for r in rows),
            min(r[1] for r in rows),
            max(r[2] for r in rows),
            rows[-1][3],
        )
        for side, rows in results.items()
    }
    w, f = best["winpod"], best["floor"]
    print(f"{size:.1f} MiB, {args.rounds} rounds, winpod check --format {args.format}")
    print("| | wall s (best) | CPU s (best) | peak RSS MiB (max) | exit |")
    print("|---|---:|---:|---:|---:|")
    print(f"| PyYAML C loader, streaming | {f[0]:.1f} | {f[1]:.1f} | {f[2]:.0f} | {f[3]} |")
    print(f"| winpod check | {w[0]:.1f} | {w[1]:.1f} | {w[2]:.0f} | {w[3]} |")
    print(f"| ratio | {w[0] / f[0]:.2f} | {w[1] / f[1]:.2f} | {w[2] / f[2]:.2f} | |")
    ok = w[1] / f[1] <= 1.5 and w[2] <= 256
    print(f"goals (CPU <= 1.5x the floor, peak <= 256 MiB): {'met' if ok else 'NOT met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
