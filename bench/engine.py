"""Engine throughput: objects evaluated per second on one core, on a realistic mix.

    python bench/engine.py [--count 2000] [--seconds 3]

Prints objects per CPU-second (process time, so other load on the machine does not skew it)
and the share denied. Run pinned to one core (`taskset -c 0`) for the figure
the issue asks for; the process is single-threaded either way.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from winpod.engine.evaluate import Engine

from bench.mix import mix


def measure(count: int, seconds: float) -> dict[str, float]:
    engine = Engine()
    objects = mix(count)
    denied = sum(engine.evaluate(o).denied for o in objects)
    evaluated = 0
    start = time.process_time()
    deadline = start + seconds
    while time.process_time() < deadline:
        for obj in objects:
            engine.evaluate(obj)
        evaluated += len(objects)
    elapsed = time.process_time() - start
    return {
        "pods_per_second": evaluated / elapsed,
        "denied_share": denied / len(objects),
        "evaluated": evaluated,
        "seconds": elapsed,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    result = measure(args.count, args.seconds)
    print(
        f"engine: {result['pods_per_second']:,.0f} objects/s on one core "
        f"({result['evaluated']:,} evaluations in {result['seconds']:.1f} s; "
        f"{result['denied_share']:.0%} of the mix denied)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
