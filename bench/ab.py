"""Before/after: copies of the repo measured in alternation, for the figures of one change.

    python bench/ab.py webhook /tmp/before /tmp/after [--rounds 6] [--seconds 4] [--bodies mix]
    python bench/ab.py check /tmp/before /tmp/after [--rounds 5] [--files 1000]

Each tree is a copy of the repo (`cp -r`) with or without the change. On a shared machine one
run against another says little, so the trees take turns, round after round (the order
turning each round), and the tables give the best and the median of the rounds, then every
round's req/s.

webhook: each tree's `winpod serve` (and the echo app, as the yardstick) pinned to core 0 in
turn, wrk from core 1 on /validate and /mutate: req/s and CPU-ms per 1,000 reviews (the
server's own utime + stime, which others' load hardly moves). `--bodies` picks the request
sets (`--bodies small,mix`), each measured on the same server in the same round: `mix` is
bench/run.py's 20 bodies, `small` one ~3.3 KB Pod (bench/reviews.py `small_set`), where the
fixed cost per review shows.
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
BODIES = {"mix": review_bodies.wrk_set, "small": review_bodies.small_set}
# tree label -> (bodies, path) -> {"rps": [...], "cpu": [...]}, one value per round
Results = dict[str, dict[tuple[str, str], dict[str, list[float]]]]


def webhook(trees: list[Path], rounds: int, seconds: float, bodies: list[str]) -> Results:
    results: Results = {}
    with tempfile.TemporaryDirectory(prefix="winpod-ab-") as tmp:
        workdir = Path(tmp)
        run.write_certs(workdir / "certs")
        scripts = {name: _script(workdir, name) for name in bodies}
        for round_ in range(rounds):
            # The trees' order turns each round (the echo stays first): on a machine whose load
            # drifts, no tree always runs right after the echo or last.
            turn = round_ % len(trees)
            for tree in [None, *trees[turn:], *trees[:turn]]:
                run.TREE = tree or run.REPO
                label = str(tree) if tree else ECHO
                with run.server("winpod" if tree else ECHO, workdir) as server:
                    run.wrk(server, "/validate", scripts[bodies[0]], 2)  # warm-up
                    for name, script in scripts.items():
                        for path in run.PATHS:
                            before = run.cpu_seconds(server.pid)
                            figures = run.wrk(server, path, script, seconds)
                            cpu = run.cpu_seconds(server.pid) - before
                            slot = results.setdefault(label, {}).setdefault(
                                (name, path), {"rps": [], "cpu": []}
                            )
                            slot["rps"].append(figures["rps"])
                            slot["cpu"].append(cpu * 1e6 / max(1, figures["requests"]))
    return results


def _script(workdir: Path, name: str) -> Path:
    """wrk's Lua script posting the `name` set's bodies round-robin."""
    files = []
    for i, review in enumerate(BODIES[name]()):
        path = workdir / f"{name}-{i:02d}.json"
        path.write_bytes(review.body)
        files.append(path)
    script = workdir / f"{name}.lua"
    script.write_text(run._LUA % {"files": ", ".join(json.dumps(str(f)) for f in files)})
    return script


def webhook_table(results: Results) -> str:
    lines = [
        "| tree | bodies | path | req/s best | req/s median | ratio to echo (best) | "
        "ratio to echo (medians) | CPU-ms/1,000 best | CPU-ms/1,000 median |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    echo = results[ECHO]
    for label, slots in results.items():
        for (name, path), f in slots.items():
            yardstick = echo[name, path]["rps"]
            best = max(f["rps"]) / max(yardstick)
            median = statistics.median(f["rps"]) / statistics.median(yardstick)
            lines.append(
                f"| {label} | {name} | {path} | {max(f['rps']):,.0f} | "
                f"{statistics.median(f['rps']):,.0f} | {best:.2f} | {median:.2f} | "
                f"{min(f['cpu']):,.0f} | {statistics.median(f['cpu']):,.0f} |"
            )
    return "\n".join(lines)


def rounds_table(results: Results) -> str:
    """Every round's req/s, for a reader who wants to see the spread behind a median."""
    lines = ["| tree | bodies | path | req/s per round |", "| --- | --- | --- | --- |"]
    for label, slots in results.items():
        for (name, path), f in slots.items():
            values = ", ".join(f"{v:,.0f}" for v in f["rps"])
            lines.append(f"| {label} | {name} | {path} | {values} |")
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
    parser.add_argument(
        "--bodies",
        default="mix",
        help=f"webhook: request sets, comma-separated, of {', '.join(BODIES)} (default: mix)",
    )
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
        bodies = [b.strip() for b in args.bodies.split(",") if b.strip()]
        if not bodies or any(b not in BODIES for b in bodies):
            parser.error(f"--bodies: a comma-separated list of {', '.join(BODIES)}")
        results = webhook(trees, args.rounds, args.seconds, bodies)
        print(webhook_table(results))
        print()
        print(rounds_table(results))
    else:
        print(check_table(check(trees, args.rounds, args.files)))
    print(f"load after: {run._load()}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
