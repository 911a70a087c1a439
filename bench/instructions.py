"""CPU instructions per evaluation or per review, counted by valgrind: the figure that does not
move with the machine's load.

    python bench/instructions.py engine|validate|mutate [--tree DIR] [--rounds 5]
    python bench/instructions.py asgi-validate|asgi-mutate [--bodies mix|small] [--tree DIR]

engine: `Engine.evaluate` over the bench/mix.py objects (500 of them). validate / mutate:
`Reviewer.validate` / `Reviewer.mutate` (the webhook's judging, log line and metrics included,
parsing excluded) over bench/reviews.py's 20 AdmissionReview bodies. asgi-validate /
asgi-mutate: the whole served ASGI app (`create_app`), one POST per body as uvicorn hands it
over (scope, one http.request message), on a uvloop loop with the server's GC settings: body
reading, parsing, routing, judging and the response, everything but HTTP parsing and TLS; with
`--bodies small` over the one ~3.3 KB Pod of `small_set` (20 times per round). Each is run under
`valgrind --tool=callgrind` twice, with no timed rounds and with `--rounds`, after one warm-up
round; the difference divided by the work done is the figure. Python's hash seed is fixed
(PYTHONHASHSEED=0): with random seeds the count moves by about 2 %.

On a shared machine the req/s and µs figures of bench/run.py move by a third between runs;
this is how the before/after of each engine change in bench/optimisations.md was measured.
Needs valgrind (Debian: `apt-get install valgrind`); not part of `bench/run.py` or CI.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

_HARNESS = r"""
# A tree is measured by its own source: `app` from the tree, whatever winpod is installed.
import os, sys
what, rounds, tree = sys.argv[1], int(sys.argv[2]), sys.argv[3]
sys.path.insert(0, tree)
if what == "engine":
    from app.engine.evaluate import Engine
    from bench.mix import mix
    engine = Engine()
    items = mix(500)
    work = engine.evaluate
    def step(item):
        work(item)
elif what.startswith("asgi-"):
    import gc, uvloop
    from app.config import Config
    from app.engine.evaluate import Engine
    from app.webhook.app import create_app
    from app.webhook.logs import JsonLog
    from bench import reviews
    sys.stderr = open(os.devnull, "w")  # the review log lines
    config = Config()
    asgi = create_app(Engine(config=config), config, log=JsonLog())
    path = what.removeprefix("asgi-")
    small = os.environ.get("WINPOD_BODIES") == "small"
    bodies = reviews.small_set() * 20 if small else reviews.wrk_set()
    items = [r.body for r in bodies]
    async def send(message):
        pass
    async def review(body):
        messages = [{"type": "http.request", "body": body, "more_body": False}]
        async def receive():
            return messages.pop() if messages else {"type": "http.disconnect"}
        scope = {
            "type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1", "server": ("127.0.0.1", 8443), "client": ("127.0.0.1", 5000),
            "scheme": "https", "method": "POST", "root_path": "", "path": "/" + path,
            "raw_path": b"/" + path.encode(), "query_string": b"timeout=10s",
            "headers": [
                (b"host", b"127.0.0.1:8443"), (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
            "state": {},
        }
        await asgi(scope, receive, send)
    async def all_rounds(rounds):
        for _ in range(rounds):
            for item in items:
                await review(item)
    # One loop run for all of it: each run_until_complete sets up signal handling anew.
    def drive(rounds):
        uvloop.new_event_loop().run_until_complete(all_rounds(rounds))
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 20, 20)  # as app/webhook/server.py
else:
    from app.clusterview import StaticClusterView
    from app.config import Config
    from app.engine.evaluate import Engine
    from app.webhook.admission import Reviewer
    from app.webhook.logs import JsonLog
    from app.webhook.metrics import Metrics
    from app.webhook.review import parse_review
    from bench import reviews
    sys.stderr = open(os.devnull, "w")  # the review log lines
    config = Config()
    reviewer = Reviewer(Engine(config=config), StaticClusterView(config), Metrics(), JsonLog())
    items = [parse_review(r.body) for r in reviews.wrk_set()]
    work = getattr(reviewer, what)
    def step(item):
        work(item, 0.0)
if not what.startswith("asgi-"):
    def drive(rounds):
        for _ in range(rounds):
            for item in items:
                step(item)
drive(1)  # warm-up
drive(rounds)
print(len(items), file=sys.__stdout__)
"""


def count(what: str, rounds: int, tree: Path, bodies: str = "mix") -> tuple[int, int]:
    """(instructions, items per round) of one run under callgrind."""
    result = subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            "--callgrind-out-file=/dev/null",
            sys.executable,
            "-c",
            _HARNESS,
            what,
            str(rounds),
            str(tree),
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=tree,
        env={**os.environ, "PYTHONHASHSEED": "0", "WINPOD_BODIES": bodies},
    )
    match = re.search(r"Collected : (\d+)", result.stderr)
    if match is None:
        raise SystemExit(f"no instruction count in valgrind's output:\n{result.stderr[-2000:]}")
    return int(match.group(1)), int(result.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "what", choices=["engine", "validate", "mutate", "asgi-validate", "asgi-mutate"]
    )
    parser.add_argument("--tree", type=Path, default=REPO, help="a copy of the repo to measure")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--bodies", choices=["mix", "small"], default="mix", help="asgi-*: the request set"
    )
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        parser.error("needs valgrind on PATH (Debian: apt-get install valgrind)")
    tree = args.tree.resolve()
    base, items = count(args.what, 0, tree, args.bodies)
    total, _ = count(args.what, args.rounds, tree, args.bodies)
    per = (total - base) / (args.rounds * items)
    unit = "evaluation" if args.what == "engine" else "review"
    bodies = f", {args.bodies} bodies" if args.what.startswith("asgi-") else ""
    print(
        f"{args.what} ({tree}): {per:,.0f} instructions per {unit}"
        f" ({args.rounds} rounds of {items}{bodies})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
