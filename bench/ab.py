"""Before/after: copies of the repo measured in alternation, for the figures of one change.

    python bench/ab.py webhook /tmp/before /tmp/after [--rounds 6] [--seconds 4]
    python bench/ab.py check /tmp/before /tmp/after [--rounds 5] [--files 1000]

Each tree is a copy of the repo (`cp -r`) with or without the change. On a shared machine one
run against another says little, so the trees take turns, round after round, and the table
gives the best and the median of the rounds.

webhook: each tree's `winpod serve` (and the echo app, as the yardstick) pinned to core 0 in
turn, wrk from core 1 with bench/run.py's request mix on /validate and /mutate: req/s and
CPU-ms per 1,000 reviews (the server's own utime + stime, which others' load hardly moves).
check: whole-process `winpod check` CPU seconds over generated files, and the parse floor.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import check_floor, run
from bench import reviews as review_bodies

ECHO = "echo"


def webhook(
    trees: list[Path], rounds: int, seconds: float
) -> dict[str, dict[str, dict[str, list[float]]]]:
    results: dict[str, dict[str, dict[str, list[float]]]] = {}
    with tempfile.TemporaryDirectory(prefix="winpod-ab-") as tmp:
        workdir = Path(tmp)
        run.write_certs(workdir / "certs")
        files = []
        for i, review in enumerate(review_bodies.wrk_set()):
            path = workdir / f"body-{i:02d}.json"
            path.write_bytes(review.body)
            files.append(path)
        script = workdir / "bodies.lua"
        script.write_text(run._LUA % {"files": ", ".join(json.dumps(str(f)) for f in files)})
        for _ in range(rounds):
            for tree in [None, *trees]:
                run.TREE = tree or run.REPO
                label = str(tree) if tree else ECHO
                with run.server("winpod" if tree else ECHO, workdir) as server:
                    run.wrk(server, "/validate", script, 2)  # warm-up
                    for path in run.PATHS:
                        before = run.cpu_seconds(server.pid)
                        figures = run.wrk(server, path, script, seconds)
                        cpu = run.cpu_seconds(server.pid) - before
                        slot = results.setdefault(label, {}).setdefault(
                            path, {"rps": [], "cpu": []}
                        )
                        slot["rps"].append(figures["rps"])
                        slot["cpu"].append(cpu * 1e6 / max(1, figures["requests"]))
    return results


def webhook_table(results: dict[str, dict[str, dict[str, list[float]]]]) -> str:
    lines = [
        "| tree | path | req/s best | req/s median | ratio to echo (medians) | "
        "CPU-ms/1,000 best | CPU-ms/1,000 median |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    echo = results[ECHO]
    for label, paths in results.items():
        for path, f in paths.items():
            ratio = statistics.median(f["rps"]) / statistics.median(echo[path]["rps"])
            lines.append(
                f"| {label} | {path} | {max(f['rps']):,.0f} | "
                f"{statistics.median(f['rps']):,.0f} | {ratio:.2f} | "
                f"{min(f['cpu']):,.0f} | {statistics.median(f['cpu']):,.0f} |"
            )
    return "\n".join(lines)


def check(trees: list[Path], rounds: int, files: int) -> dict[str, list[float]]:
    results: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="winpod-ab-") as tmp:
        directory = Path(tmp) / "manifests"
        directory.mkdir()
        check_floor.write_manifests(directory, files)
        floor = [sys.executable, "-c", check_floor._FLOOR, str(directory)]
        for _ in range(rounds):
            for tree in trees:
                cpu, _, _ = check_floor._timed(
                    [sys.executable, "-m", "app.cli", "check", str(directory)], tree
                )
                results.setdefault(str(tree), []).append(cpu)
            results.setdefault("floor", []).append(check_floor._timed(floor)[0])
    return results


def check_table(results: dict[str, list[float]]) -> str:
    floor = min(results["floor"])
    lines = [
        "| tree | CPU s best | CPU s median | ratio to the floor (best) |",
        "| --- | ---: | ---: | ---: |",
    ]
    for label, values in results.items():
        lines.append(
            f"| {label} | {min(values):.3f} | {statistics.median(values):.3f} | "
            f"{min(values) / floor:.2f} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("what", choices=("webhook", "check"))
    parser.add_argument("trees", nargs="+", type=Path)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--seconds", type=float, default=4, help="webhook: wrk seconds per path")
    parser.add_argument("--files", type=int, default=1000, help="check: manifest files")
    args = parser.parse_args()
    trees = [t.resolve() for t in args.trees]
    for tree in trees:
        if not (tree / "app" / "cli.py").is_file():
            parser.error(f"{tree}: not a copy of the repo (no app/cli.py)")
    print(f"load before: {run._load()}", file=sys.stderr)
    if args.what == "webhook":
        if shutil.which("wrk") is None:
            parser.error("needs wrk (Debian: apt-get install -y wrk)")
        print(webhook_table(webhook(trees, args.rounds, args.seconds)))
    else:
        print(check_table(check(trees, args.rounds, args.files)))
    print(f"load after: {run._load()}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
