"""`winpod check` and `winpod mutate` on the inputs CI systems and clusters really produce when
something goes wrong: each input, its exit code, the first line winpod says about it, the time
and the peak RSS of the whole process.

    python bench/hostile.py [--tree DIR] [--markdown] [--only NAME]

`--tree`: a copy of the repo to run (its own `python -m app.cli`), so that two trees compare in
one run. Every process runs under a 4 GiB address-space cap and a 120 s timeout, so a tree that
expands an alias bomb stops there (the table says so) instead of taking the machine with it.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CAP_BYTES = 4 * 1024**3
TIMEOUT = 120

POD = """apiVersion: v1
kind: Pod
metadata: {{name: {name}}}
spec:
  nodeSelector: {{kubernetes.io/os: windows}}
  containers:
    - name: app
      image: mcr.microsoft.com/windows/nanoserver:ltsc2022
      resources: {{limits: {{memory: 128Mi}}}}
"""


def _deep_json(depth: int) -> str:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "deep"},
        "spec": {"containers": [{"name": "c", "image": "x"}]},
    }
    text = json.dumps(pod)
    return text[:-1] + ', "extra": ' + "[" * depth + "]" * depth + "}"


def _deep_flow_yaml(depth: int) -> str:
    return POD.format(name="deep") + "extra: " + "[" * depth + "]" * depth + "\n"


def _deep_block_yaml(depth: int) -> str:
    lines = [POD.format(name="deep").rstrip("\n"), "extra:"]
    for level in range(1, depth + 1):
        lines.append("  " * level + f"k{level}:")
    lines[-1] += " leaf"
    return "\n".join(lines) + "\n"


def _alias_bomb() -> str:
    lines = ["apiVersion: v1", "kind: Pod", "metadata: {name: bomb}", "a0: &a0 [lol, lol, lol]"]
    for i in range(1, 10):
        previous = f"*a{i - 1}"
        lines.append(f"a{i}: &a{i} [{', '.join([previous] * 9)}]")
    lines.append("spec: {containers: [{name: c, image: x, args: *a9}]}")
    return "\n".join(lines) + "\n"


def _many_pods(megabytes: int) -> str:
    count = megabytes * 1024 * 1024 // len(POD.format(name="p0000000"))
    return "---\n".join(POD.format(name=f"p{i:07d}") for i in range(count))


WRONG_TYPES = {
    "metadata-string": "apiVersion: v1\nkind: Pod\nmetadata: x\nspec: {containers: []}\n",
    "spec-list": "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec: []\n",
    "volumes-int": POD.format(name="a") + "  volumes: 3\n",
    "security-context-string": POD.format(name="a") + "      securityContext: oops\n",
    "labels-list": POD.format(name="a").replace(
        "metadata: {name: a}", "metadata: {name: a, labels: [x, y]}"
    ),
    "volumes-nested-lists": POD.format(name="a") + "  volumes: [[a], [b]]\n",
}


@dataclass
class Case:
    name: str
    argv: Callable[[Path], list[str]]  # winpod's arguments, given the work dir


def _cases(work: Path) -> list[Case]:
    def write(name: str, text: str) -> Path:
        path = work / name
        path.write_text(text, encoding="utf-8")
        return path

    cases = [
        Case(
            "JSON nested 1,000 deep", lambda w: ["check", str(write("deep.json", _deep_json(1000)))]
        ),
        Case(
            "JSON nested 1,000 deep, --format json",
            lambda w: ["check", "--format", "json", str(w / "deep.json")],
        ),
        Case(
            "YAML flow nested 1,000 deep",
            lambda w: ["check", str(write("deep-flow.yaml", _deep_flow_yaml(1000)))],
        ),
        Case(
            "YAML nested 340 deep",
            lambda w: ["check", str(write("deep-block.yaml", _deep_block_yaml(340)))],
        ),
        Case("mutate, JSON nested 1,000 deep", lambda w: ["mutate", str(w / "deep.json")]),
        Case(
            "mutate -o json, alias bomb",
            lambda w: ["mutate", "-o", "json", str(write("bomb.yaml", _alias_bomb()))],
        ),
        Case("check, alias bomb", lambda w: ["check", str(w / "bomb.yaml")]),
        Case(
            "check, 50 MB of pods",
            lambda w: [
                "check",
                "--format",
                "json",
                "-o",
                str(w / "report.json"),
                str(write("pods.yaml", _many_pods(50))),
            ],
        ),
    ]
    for name, text in WRONG_TYPES.items():
        cases.append(
            Case(
                f"wrong type: {name}",
                lambda w, n=name, t=text: ["check", str(write(f"{n}.yaml", t))],
            )
        )
    cases += [
        Case("empty file", lambda w: ["check", str(write("empty.yaml", ""))]),
        Case("empty file, --strict", lambda w: ["check", "--strict", str(w / "empty.yaml")]),
        Case("empty directory", lambda w: ["check", str(_mkdir(w / "nothing"))]),
        Case("empty directory, --strict", lambda w: ["check", "--strict", str(w / "nothing")]),
        Case(
            "document with no kind",
            lambda w: ["check", str(write("nokind.yaml", "apiVersion: v1\nmetadata: {name: a}\n"))],
        ),
        Case(
            "document with no kind, --strict",
            lambda w: ["check", "--strict", str(w / "nokind.yaml")],
        ),
        Case(
            "--kubernetes-version 1.99",
            lambda w: [
                "check",
                "--kubernetes-version",
                "1.99",
                str(write("pod.yaml", POD.format(name="a"))),
            ],
        ),
    ]
    return cases


def _mkdir(path: Path) -> Path:
    path.mkdir(exist_ok=True)
    return path


def _limit() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (CAP_BYTES, CAP_BYTES))


@dataclass
class Row:
    name: str
    code: str
    said: str
    seconds: float
    rss_mib: float


def run(tree: Path, case: Case, work: Path) -> Row:
    argv = [sys.executable, "-m", "app.cli", *case.argv(work)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.monotonic()
    try:
        done = subprocess.run(
            argv,
            cwd=tree,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            preexec_fn=_limit,
            env={**os.environ, "PYTHONPATH": str(tree)},
        )
        code = str(done.returncode)
        lines = [line for line in (done.stderr + done.stdout).splitlines() if line.strip()]
        said = next(
            (line for word in ("error:", "warning:") for line in lines if word in line.lower()),
            lines[-1] if lines else "",
        )
        if done.returncode < 0 or "MemoryError" in done.stderr:
            said = "killed or out of memory (4 GiB cap): " + said
    except subprocess.TimeoutExpired:
        code, said = "timeout", f"still running after {TIMEOUT} s"
    seconds = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    # ru_maxrss of children is the largest so far: each case runs after smaller ones here, and
    # the table says "at most" when a case did not raise it.
    return Row(case.name, code, said.strip()[:160], seconds, max(after, before) / 1024)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tree", type=Path, default=REPO)
    parser.add_argument("--only", help="run the cases whose name contains this")
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="winpod-hostile-") as tmp:
        work = Path(tmp)
        for case in _cases(work):
            if args.only and args.only not in case.name:
                continue
            # One process per case, in its own Python, so peak RSS is the case's own.
            rows.append(_isolated(args.tree, case, work))
    if args.markdown:
        print("| input | exit | what winpod says | s | peak RSS MiB |")
        print("|---|---|---|---:|---:|")
        for r in rows:
            said = r.said.replace("|", "\\|")
            print(f"| {r.name} | {r.code} | {said} | {r.seconds:.1f} | {r.rss_mib:.0f} |")
    else:
        for r in rows:
            print(f"{r.name:45} {r.code:>7} {r.seconds:6.1f}s {r.rss_mib:7.0f} MiB  {r.said}")
    return 0


def _isolated(tree: Path, case: Case, work: Path) -> Row:
    """Run the case from a fresh Python so RUSAGE_CHILDREN's peak is this case's alone."""
    code = (
        "import sys, json, dataclasses; sys.path.insert(0, sys.argv[1]);"
        "from bench.hostile import run, _cases; from pathlib import Path;"
        "w = Path(sys.argv[3]); c = [c for c in _cases(w) if c.name == sys.argv[2]][0];"
        "print(json.dumps(dataclasses.asdict(run(Path(sys.argv[4]), c, w))))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(REPO), case.name, str(work), str(tree)],
        capture_output=True,
        check=True,
        text=True,
    )
    return Row(**json.loads(done.stdout))


if __name__ == "__main__":
    raise SystemExit(main())
