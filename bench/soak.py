"""Soak: the webhook at a steady rate for a long time; its RSS must stay flat.

    python bench/soak.py                         # 30 minutes at 200 reviews/s
    python bench/soak.py --minutes 2 --rate 100 --json /tmp/soak.json

`winpod serve` runs pinned to core 0 with freshly made certs and the shipped defaults. The
client (the other core) sends --rate requests a second on a fixed schedule over four
keep-alive connections, reopening one of them every 1,000 requests (as the apiserver's pool
churns): the 20 bodies of bench/reviews.py in turn (pods of 5 to 70 KB, a Deployment, updates;
a fifth denied) with one in ten a corrupted request from bench/fuzz.py, so the error paths run
as long as the others. Every --sample seconds it records the server's RSS, the requests sent,
the answers by status and the latency of the window. The result: the RSS over time, its growth
from the end of the first window (warm-up) to the end, and any failure (a 5xx, no answer, an
invalid answer). Exit 1 on a failure or when the RSS grew by more than --max-growth MiB.
"""

from __future__ import annotations

import argparse
import asyncio
import ssl
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench import reviews as review_bodies  # noqa: E402
from bench import run as bench_run  # noqa: E402
from bench.fuzz import Connection, Corruptor, Request, corpus_objects, judge  # noqa: E402

CONNECTIONS = 4


class Window:
    def __init__(self) -> None:
        self.statuses: Counter[str] = Counter()
        self.latencies: list[float] = []
        self.failures: Counter[str] = Counter()


async def drive(
    port: int,
    context: ssl.SSLContext,
    pid: int,
    rate: float,
    seconds: float,
    sample: float,
) -> dict[str, Any]:
    bodies = [r.body for r in review_bodies.wrk_set()]
    corruptor = Corruptor(corpus_objects(), seed=5)
    window = Window()
    samples: list[dict[str, Any]] = []
    failures: Counter[str] = Counter()
    sent = 0
    started = time.monotonic()
    interval = CONNECTIONS / rate  # each connection's period

    async def one(index: int) -> None:
        nonlocal sent
        connection = Connection(port, context)
        n = index
        next_at = started + index / rate
        while next_at - started < seconds:
            delay = next_at - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            next_at += interval
            if n % 10 == 9:
                request = corruptor.request(n)
            else:
                request = Request(n, "review", "POST", "/validate", bodies[n % len(bodies)])
                if n % 20 == 4:
                    request.path = "/mutate"
            n += CONNECTIONS
            sent += 1
            t0 = time.monotonic()
            try:
                status, body = await asyncio.wait_for(connection.exchange(request), 10)
            except (OSError, TimeoutError, asyncio.IncompleteReadError) as exc:
                window.failures[type(exc).__name__] += 1
                connection.close()
                continue
            window.latencies.append(time.monotonic() - t0)
            window.statuses[str(status)] += 1
            reason = judge(request, status, body)
            if reason is not None:
                window.failures[reason] += 1
            if n % 1000 < CONNECTIONS:
                connection.close()  # pool churn: the next request opens a new connection

    async def sampler() -> None:
        nonlocal window
        next_at = started + sample
        while next_at - started <= seconds + 0.5:
            await asyncio.sleep(max(next_at - time.monotonic(), 0))
            next_at += sample
            memory = bench_run.proc_status(pid)
            done, window = window, Window()
            latencies = sorted(done.latencies)
            samples.append(
                {
                    "minute": round((time.monotonic() - started) / 60, 2),
                    "rss_mib": round(memory["VmRSS"] / 1024, 1),
                    "sent": sent,
                    "answers": sum(done.statuses.values()),
                    "statuses": dict(sorted(done.statuses.items())),
                    "p50_ms": round(bench_run._pct(latencies, 50) * 1000, 2),
                    "p99_ms": round(bench_run._pct(latencies, 99) * 1000, 2),
                    "failures": dict(done.failures),
                }
            )
            failures.update(done.failures)

    await asyncio.gather(*(one(i) for i in range(CONNECTIONS)), sampler())
    return {"samples": samples, "failures": dict(failures), "sent": sent}


def run(minutes: float, rate: float, sample: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="winpod-soak-") as tmp:
        work = Path(tmp)
        bench_run.write_certs(work / "certs")
        with bench_run.server("winpod", work) as running:
            start_rss = bench_run.proc_status(running.pid)["VmRSS"]
            result = asyncio.run(
                drive(running.port, running.context(), running.pid, rate, minutes * 60, sample)
            )
            peak = bench_run.proc_status(running.pid)["VmHWM"]
    samples = result["samples"]
    warm = samples[0]["rss_mib"] if samples else 0.0
    end = samples[-1]["rss_mib"] if samples else 0.0
    result.update(
        minutes=minutes,
        rate=rate,
        rss_start_mib=round(start_rss / 1024, 1),
        rss_after_warmup_mib=warm,
        rss_end_mib=end,
        rss_growth_mib=round(end - warm, 1),
        rss_peak_mib=round(peak / 1024, 1),
    )
    return result


def render(result: dict[str, Any]) -> str:
    lines = [
        f"Soak: {result['minutes']:g} min at {result['rate']:g} requests/s "
        f"({result['sent']:,} sent, one in ten corrupted); server RSS {result['rss_start_mib']} "
        f"MiB at start, {result['rss_after_warmup_mib']} MiB after the first window, "
        f"{result['rss_end_mib']} MiB at the end (growth {result['rss_growth_mib']} MiB, peak "
        f"{result['rss_peak_mib']} MiB); failures: {sum(result['failures'].values())}.",
        "",
        "| minute | RSS MiB | answers | p50 ms | p99 ms | statuses | failures |",
        "|---:|---:|---:|---:|---:|---|---|",
    ]
    for s in result["samples"]:
        statuses = ", ".join(f"{k}: {v}" for k, v in s["statuses"].items())
        lines.append(
            f"| {s['minute']} | {s['rss_mib']} | {s['answers']:,} | {s['p50_ms']} | "
            f"{s['p99_ms']} | {statuses} | {s['failures'] or 0} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--rate", type=float, default=200.0, help="requests a second")
    parser.add_argument("--sample", type=float, default=60.0, help="seconds per window")
    parser.add_argument("--max-growth", type=float, default=10.0, help="MiB allowed")
    bench_run.server_options(parser)
    args = parser.parse_args(argv)
    bench_run.serve_tree(args)
    result = run(args.minutes, args.rate, args.sample)
    bench_run.publish(args, result, render)
    return 1 if result["failures"] or result["rss_growth_mib"] > args.max_growth else 0


if __name__ == "__main__":
    raise SystemExit(main())
