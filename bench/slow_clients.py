"""Slow and idle clients against the webhook: do they starve real reviews?

    python bench/slow_clients.py                   # 500 of each attacker, prints a table
    python bench/slow_clients.py --each 200 --seconds 20 --json /tmp/slow.json
    python bench/slow_clients.py --tree /tmp/winpod-before

`winpod serve` runs pinned to core 0 (freshly made certs, the shipped defaults); the client, on
the other core, first measures real reviews alone (--seconds): four keep-alive connections
posting a 3.3 KB Pod review back to back, and a probe that opens a new TLS connection for one
review every 0.2 s (what the apiserver does when its pool grows). Then it opens the attackers,
--each of every kind, and measures the same again while they hang on:

    tcp-idle      connects and sends nothing (not even a TLS handshake)
    tls-idle      completes the TLS handshake, sends nothing
    slow-headers  sends a request line, then one header byte every 2 s
    slow-body     sends complete headers announcing a 1 MiB body, then 1 KiB every 2 s
    keep-alive    sends one review, reads the answer, then stays idle

For each attacker kind the table says how many the server closed and after how long; for the
real reviews, their rate, latency and errors alone and under attack.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import ssl
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench import reviews as review_bodies  # noqa: E402
from bench import run as bench_run  # noqa: E402
from bench.fuzz import Connection, Request  # noqa: E402

KINDS = ("tcp-idle", "tls-idle", "slow-headers", "slow-body", "keep-alive")


@dataclass
class Real:
    """Real reviews' figures over one phase."""

    latencies: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    probe_latencies: list[float] = field(default_factory=list)
    probe_errors: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def summary(self) -> dict[str, Any]:
        def pct(values: list[float], p: float) -> float:
            return round(bench_run._pct(sorted(values), p) * 1000, 1) if values else float("nan")

        return {
            "reviews_per_second": round(len(self.latencies) / self.seconds, 1),
            "p50_ms": pct(self.latencies, 50),
            "p99_ms": pct(self.latencies, 99),
            "errors": dict(self.errors),
            "probes": len(self.probe_latencies),
            "probe_p50_ms": pct(self.probe_latencies, 50),
            "probe_max_ms": round(max(self.probe_latencies, default=0) * 1000, 1),
            "probe_errors": dict(self.probe_errors),
        }


def _note(errors: dict[str, int], exc: BaseException) -> None:
    name = type(exc).__name__
    errors[name] = errors.get(name, 0) + 1


async def real_reviews(port: int, context: ssl.SSLContext, body: bytes, seconds: float) -> Real:
    real = Real()
    deadline = time.monotonic() + seconds

    async def keep_alive() -> None:
        connection = Connection(port, context)
        while time.monotonic() < deadline:
            started = time.monotonic()
            try:
                status, _ = await asyncio.wait_for(
                    connection.exchange(Request(0, "real", "POST", "/validate", body)), 10
                )
            except (OSError, TimeoutError, asyncio.IncompleteReadError) as exc:
                _note(real.errors, exc)
                connection.close()
                await asyncio.sleep(0.05)
                continue
            if status != 200:
                real.errors[f"status {status}"] = real.errors.get(f"status {status}", 0) + 1
            real.latencies.append(time.monotonic() - started)
        connection.close()

    async def probe() -> None:
        while time.monotonic() < deadline:
            started = time.monotonic()
            connection = Connection(port, context)
            try:
                status, _ = await asyncio.wait_for(
                    connection.exchange(Request(0, "probe", "POST", "/validate", body)), 10
                )
                if status == 200:
                    real.probe_latencies.append(time.monotonic() - started)
                else:
                    real.probe_errors[f"status {status}"] = 1 + real.probe_errors.get(
                        f"status {status}", 0
                    )
            except (OSError, TimeoutError, asyncio.IncompleteReadError) as exc:
                _note(real.probe_errors, exc)
            finally:
                connection.close()
            await asyncio.sleep(0.2)

    started = time.monotonic()
    await asyncio.gather(*(keep_alive() for _ in range(4)), probe())
    real.seconds = time.monotonic() - started
    return real


@dataclass
class Attacker:
    kind: str
    opened: float = 0.0
    closed_after: float | None = None  # seconds from opening until the server closed it
    failed: str | None = None  # could not even connect


async def _until_closed(reader: asyncio.StreamReader, attacker: Attacker) -> None:
    while await reader.read(65536):
        pass
    attacker.closed_after = time.monotonic() - attacker.opened


async def attack(
    kind: str, port: int, context: ssl.SSLContext, body: bytes, stop: asyncio.Event
) -> Attacker:
    attacker = Attacker(kind, opened=time.monotonic())
    try:
        if kind == "tcp-idle":
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        else:
            reader, writer = await asyncio.open_connection(
                "127.0.0.1", port, ssl=context, server_hostname="localhost"
            )
    except (OSError, ssl.SSLError) as exc:
        attacker.failed = type(exc).__name__
        return attacker
    attacker.opened = time.monotonic()
    closed = asyncio.ensure_future(_until_closed(reader, attacker))

    async def trickle(first: bytes, piece: bytes) -> None:
        writer.write(first)
        while not closed.done() and not stop.is_set():
            await asyncio.sleep(2)
            writer.write(piece)

    sender: Callable[[], Awaitable[None]] | None = None
    if kind == "slow-headers":
        sender = lambda: trickle(b"POST /validate HTTP/1.1\r\nHost: localhost\r\nX-Slow: ", b"a")  # noqa: E731
    elif kind == "slow-body":
        head = (
            b"POST /validate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
            b"Content-Length: 1048576\r\n\r\n"
        )
        sender = lambda: trickle(head, b" " * 1024)  # noqa: E731
    elif kind == "keep-alive":
        writer.write(
            b"POST /validate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
    try:
        waits = [closed, asyncio.ensure_future(stop.wait())]
        if sender is not None:
            waits.append(asyncio.ensure_future(sender()))
        await asyncio.wait(waits[:2], return_when=asyncio.FIRST_COMPLETED)
    except (OSError, ssl.SSLError):
        pass
    finally:
        for task in waits[1:]:
            task.cancel()
        if not closed.done():
            closed.cancel()
        writer.close()
    return attacker


async def scenario(port: int, context: ssl.SSLContext, each: int, seconds: float) -> dict[str, Any]:
    body = review_bodies.small_set()[0].body
    alone = await real_reviews(port, context, body, seconds)
    stop = asyncio.Event()
    started = time.monotonic()
    tasks = []
    for kind in KINDS:
        for _ in range(each):
            tasks.append(asyncio.ensure_future(attack(kind, port, context, body, stop)))
            await asyncio.sleep(0)  # open them as a flood, not all in one event-loop turn
    await asyncio.sleep(1)
    under = await real_reviews(port, context, body, seconds)
    attack_seconds = time.monotonic() - started
    stop.set()
    attackers = await asyncio.gather(*tasks)
    by_kind: dict[str, Any] = {}
    for kind in KINDS:
        mine = [a for a in attackers if a.kind == kind]
        closed = [a.closed_after for a in mine if a.closed_after is not None]
        by_kind[kind] = {
            "opened": sum(a.failed is None for a in mine),
            "failed_to_connect": sum(a.failed is not None for a in mine),
            "closed_by_server": len(closed),
            "closed_after_median_s": round(statistics.median(closed), 1) if closed else None,
            "closed_after_max_s": round(max(closed), 1) if closed else None,
            "still_open_at_end": sum(a.failed is None and a.closed_after is None for a in mine),
        }
    return {
        "attack_seconds": round(attack_seconds, 1),
        "alone": alone.summary(),
        "under_attack": under.summary(),
        "attackers": by_kind,
    }


def run(each: int, seconds: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="winpod-slow-") as tmp:
        work = Path(tmp)
        bench_run.write_certs(work / "certs")
        with bench_run.server("winpod", work) as running:
            result = asyncio.run(scenario(running.port, running.context(), each, seconds))
            memory = bench_run.proc_status(running.pid)
            alive, _ = bench_run.request(running, "GET", "/healthz")
    result.update(
        each=each,
        seconds=seconds,
        server_rss_mib=round(memory["VmRSS"] / 1024, 1),
        server_peak_mib=round(memory["VmHWM"] / 1024, 1),
        healthy_afterwards=alive == 200,
    )
    return result


def render(result: dict[str, Any]) -> str:
    a, u = result["alone"], result["under_attack"]
    lines = [
        f"Slow clients: {result['each']} of each kind held open for {result['attack_seconds']} s; "
        f"server RSS {result['server_rss_mib']} MiB at the end (peak {result['server_peak_mib']} "
        f"MiB); healthy afterwards: {result['healthy_afterwards']}.",
        "",
        "| real reviews | alone | under attack |",
        "|---|---:|---:|",
        f"| reviews/s (4 keep-alive connections) | {a['reviews_per_second']} | "
        f"{u['reviews_per_second']} |",
        f"| p50 / p99 ms | {a['p50_ms']} / {a['p99_ms']} | {u['p50_ms']} / {u['p99_ms']} |",
        f"| errors | {a['errors'] or 0} | {u['errors'] or 0} |",
        f"| new-connection probes ok | {a['probes']} | {u['probes']} |",
        f"| probe p50 / max ms | {a['probe_p50_ms']} / {a['probe_max_ms']} | "
        f"{u['probe_p50_ms']} / {u['probe_max_ms']} |",
        f"| probe errors | {a['probe_errors'] or 0} | {u['probe_errors'] or 0} |",
        "",
        "| attacker | opened | closed by the server | after (median / max s) | still open |",
        "|---|---:|---:|---:|---:|",
    ]
    for kind, k in result["attackers"].items():
        after = (
            f"{k['closed_after_median_s']} / {k['closed_after_max_s']}"
            if k["closed_by_server"]
            else "-"
        )
        lines.append(
            f"| {kind} | {k['opened']} | {k['closed_by_server']} | {after} | "
            f"{k['still_open_at_end']} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--each", type=int, default=500, help="attackers of each kind")
    parser.add_argument("--seconds", type=float, default=30.0, help="length of each phase")
    bench_run.server_options(parser)
    args = parser.parse_args(argv)
    bench_run.serve_tree(args)
    result = run(args.each, args.seconds)
    bench_run.publish(args, result, render)
    under = result["under_attack"]
    starved = under["errors"] or under["probe_errors"] or not result["healthy_afterwards"]
    return 1 if starved else 0


if __name__ == "__main__":
    socket.setdefaulttimeout(None)
    raise SystemExit(main())
