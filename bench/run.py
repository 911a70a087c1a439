"""The benchmark: one command, every figure, written to bench/results.md.

    python bench/run.py            # full run, ~5 minutes; writes bench/results.md
    python bench/run.py --quick    # a few seconds of each part (the CI smoke run)
    python bench/run.py --parts engine,check --out /tmp/r.md --json /tmp/r.json
    python bench/run.py --compare before.json   # adds a before/after table against that run
    python bench/run.py --tree /tmp/winpod-scratch --json after.json   # measure a changed copy

Parts:
  engine   objects/s evaluated in process (bench/engine.py), process time.
  check    whole-process `winpod check` over generated files vs the PyYAML C-loader floor.
  webhook  `winpod serve` and the bare echo app (bench/echo_app.py), each pinned to core 0 in
           turn, same uvicorn settings and TLS certs, driven from core 1: wrk closed loop (25
           keep-alive connections, the bodies of bench/reviews.py round-robin) against
           /validate and /mutate, then hey at fixed rates. Needs Debian's wrk and hey; without
           them this part is skipped and says so.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import http.client
import io
import json
import os
import platform
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import orjson  # noqa: E402

from bench import reviews as review_bodies  # noqa: E402

# The winpod under test: this checkout, or with --tree a copy carrying changes to measure
# (the harness, bench/, is always this one's).
TREE = REPO
RESULTS = REPO / "bench" / "results.md"
OPTIMISATIONS = REPO / "bench" / "optimisations.md"
CONNECTIONS = 25  # the apiserver's keep-alive pool to one webhook
HEY_PROCESSES = len(review_bodies.SHAPES)  # one body per hey process
PATHS = ("/validate", "/mutate")
# Targets from issue 6: figures next to the measurements, never asserts.
TARGETS = {
    "ratio": 0.6,  # webhook req/s >= 0.6 x echo
    "p99_ratio": 1.5,  # webhook p99 <= 1.5 x echo p99 at each fixed rate
    "rss_mib": 80.0,
    "engine": 20_000.0,
    "check_ratio": 1.5,
}


@dataclass(frozen=True)
class Durations:
    warmup: float
    wrk: float
    hey: float
    rates: tuple[int, ...]
    engine: float
    engine_count: int
    check_files: int
    check_repeats: int


FULL = Durations(
    warmup=5,
    wrk=15,
    hey=10,
    rates=(250, 500, 1000, 2000),
    engine=5,
    engine_count=2000,
    check_files=1000,
    check_repeats=3,
)
QUICK = Durations(
    warmup=0.5,
    wrk=1,
    hey=1,
    rates=(250, 1000),
    engine=0.5,
    engine_count=200,
    check_files=50,
    check_repeats=1,
)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- machine ---------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    model = ""
    with open("/proc/cpuinfo", encoding="utf-8") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem_kib = 0
    with open("/proc/meminfo", encoding="utf-8") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    versions: dict[str, str] = {"python": platform.python_version()}
    for module in (
        "uvicorn",
        "fastapi",
        "starlette",
        "pydantic",
        "orjson",
        "uvloop",
        "httptools",
        "yaml",
    ):
        try:
            versions[module] = str(__import__(module).__version__)
        except (ImportError, AttributeError):
            versions[module] = "missing"
    from winpod import __version__

    versions["winpod"] = __version__
    for tool in ("wrk", "hey"):
        versions[tool] = _tool_version(tool)
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": os.cpu_count() or 1,
        "cpu": model,
        "memory_gib": round(mem_kib / 1024 / 1024, 1),
        "kernel": platform.release(),
        "load": _load(),
        "versions": versions,
    }


def _load() -> str:
    with open("/proc/loadavg", encoding="utf-8") as f:
        return " ".join(f.read().split()[:3])


def _tool_version(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        return "not installed"
    if tool == "wrk":
        out = subprocess.run([path, "--version"], capture_output=True, text=True, check=False)
        return (out.stdout or out.stderr).split(" [")[0].strip()
    out = subprocess.run(
        ["dpkg-query", "-W", "-f", "${Version}", tool], capture_output=True, text=True, check=False
    )
    return f"hey {out.stdout.strip()}" if out.returncode == 0 else "hey (version unknown)"


# --- engine and check -----------------------------------------------------------------------


def engine_part(d: Durations) -> dict[str, Any]:
    from bench.engine import measure

    # On core 0, as bench/engine.py asks, then back to wherever this process may run.
    allowed = os.sched_getaffinity(0)
    if pinned(0):
        os.sched_setaffinity(0, {0})
    try:
        return measure(d.engine_count, d.engine)
    finally:
        os.sched_setaffinity(0, allowed)


def check_part(d: Durations) -> dict[str, Any]:
    from bench.check_floor import measure

    return measure(d.check_files, d.check_repeats, tree=TREE)


# --- processes ------------------------------------------------------------------------------


def pinned(core: int) -> list[str]:
    """`taskset -c core` when there is such a core and taskset, else nothing."""
    if shutil.which("taskset") and (os.cpu_count() or 1) > core:
        return ["taskset", "-c", str(core)]
    return []


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM in KiB."""
    out = {}
    with open(f"/proc/{pid}/status", encoding="utf-8") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0])
    return out


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # fields[0] is the state (field 3): utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def server_options(parser: argparse.ArgumentParser) -> None:
    """--json and --tree, as every benchmark that starts `winpod serve` takes them."""
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--tree", type=Path, help="serve this tree instead of this checkout")


def serve_tree(args: argparse.Namespace) -> None:
    global TREE
    if args.tree is not None:
        TREE = args.tree.resolve()


def publish(
    args: argparse.Namespace, result: dict[str, Any], render: Callable[[dict[str, Any]], str]
) -> None:
    """The figures as markdown on stdout, and as JSON to --json."""
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    sys.stdout.write(render(result))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    name: str
    process: subprocess.Popen[bytes]
    port: int
    ca_file: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def url(self, path: str) -> str:
        return f"https://127.0.0.1:{self.port}{path}?timeout=10s"

    def context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_file))


@contextmanager
def server(name: str, workdir: Path) -> Iterator[Server]:
    port = free_port()
    certs = workdir / "certs"
    common = [
        "--cert-file",
        str(certs / "tls.crt"),
        "--key-file",
        str(certs / "tls.key"),
        "--port",
        str(port),
    ]
    if name == "echo":
        from winpod.config import load_config

        keep_alive = load_config(None).webhook.keepAliveSeconds  # what `winpod serve` uses
        argv = [
            sys.executable,
            str(REPO / "bench" / "echo_app.py"),
            *common,
            "--keep-alive",
            str(keep_alive),
        ]
    else:
        argv = [sys.executable, "-m", "app.cli", "serve", "--host", "127.0.0.1", *common]
    stderr = open(workdir / f"{name}.log", "wb")  # noqa: SIM115 - closed below
    process = subprocess.Popen([*pinned(0), *argv], cwd=TREE, stdout=stderr, stderr=stderr)
    running = Server(name, process, port, certs / "ca.crt")
    try:
        _wait_ready(running, workdir / f"{name}.log")
        yield running
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        stderr.close()


def _wait_ready(running: Server, log_file: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if running.process.poll() is not None:
            raise RuntimeError(f"{running.name} exited: {log_file.read_text()[-2000:]}")
        try:
            status, _ = request(running, "GET", "/healthz")
            if status == 200:
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{running.name} did not answer /healthz within 30 s")


def request(
    running: Server, method: str, path: str, body: bytes | None = None
) -> tuple[int, bytes]:
    conn = http.client.HTTPSConnection(
        "127.0.0.1", running.port, timeout=10, context=running.context()
    )
    try:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        conn.request(method, path, body=body, headers=headers)
        reply = conn.getresponse()
        return reply.status, reply.read()
    finally:
        conn.close()


def write_certs(directory: Path) -> None:
    from winpod.certs import make_ca, make_serving_cert

    directory.mkdir(parents=True, exist_ok=True)
    ca = make_ca()
    serving = make_serving_cert(ca, ["localhost"], ["127.0.0.1"])
    (directory / "ca.crt").write_bytes(ca.cert_pem)
    (directory / "tls.crt").write_bytes(serving.cert_pem)
    (directory / "tls.key").write_bytes(serving.key_pem)


# --- load generators ------------------------------------------------------------------------

_LUA = """
local files = {%(files)s}
local bodies = {}
for i, name in ipairs(files) do
  local f = assert(io.open(name, "rb"))
  bodies[i] = f:read("*a")
  f:close()
end
local n = 0
local headers = {["Content-Type"] = "application/json"}
request = function()
  n = n %% #bodies + 1
  return wrk.format("POST", nil, headers, bodies[n])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%%d,"duration_us":%%d,"bytes":%%d,"status":%%d,"connect":%%d,' ..
    '"read":%%d,"write":%%d,"timeout":%%d,"p50_us":%%d,"p90_us":%%d,"p99_us":%%d,"max_us":%%d}\\n',
    summary.requests, summary.duration, summary.bytes, e.status, e.connect, e.read, e.write,
    e.timeout, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max))
end
"""


def wrk(running: Server, path: str, script: Path, seconds: float) -> dict[str, Any]:
    argv = [
        *pinned(1),
        "wrk",
        "-t1",
        f"-c{CONNECTIONS}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "10s",
        "-s",
        str(script),
        running.url(path),
    ]
    out = subprocess.run(argv, capture_output=True, text=True, check=False)
    for line in out.stdout.splitlines():
        if line.startswith("WRKJSON "):
            result: dict[str, Any] = json.loads(line[len("WRKJSON ") :])
            result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
            result["errors"] = sum(
                result[k] for k in ("status", "connect", "read", "write", "timeout")
            )
            return result
    raise RuntimeError(f"wrk printed no summary: {out.stdout[-500:]} {out.stderr[-500:]}")


def hey(
    running: Server, path: str, bodies: Sequence[Path], rate: int, seconds: float
) -> dict[str, Any]:
    """HEY_PROCESSES hey processes, one body each, CONNECTIONS connections in all, at `rate`
    req/s together. Percentiles over every request that reused a connection (the first of each
    connection also pays a TLS handshake, which the apiserver's warm pool does not)."""
    per_conn = CONNECTIONS // len(bodies)
    per_worker_qps = rate / (per_conn * len(bodies))
    processes = [
        subprocess.Popen(
            [
                *pinned(1),
                "hey",
                "-z",
                f"{max(1, round(seconds))}s",
                "-c",
                str(per_conn),
                "-q",
                f"{per_worker_qps:g}",
                "-m",
                "POST",
                "-T",
                "application/json",
                "-D",
                str(body),
                "-o",
                "csv",
                "-cpus",
                "1",
                running.url(path),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for body in bodies
    ]
    latencies: list[float] = []
    total = errors = dialled = 0
    for process in processes:
        stdout, stderr = process.communicate(timeout=seconds + 60)
        if process.returncode != 0:
            raise RuntimeError(f"hey exited {process.returncode}: {stderr.decode()[-500:]}")
        for row in csv.DictReader(io.StringIO(stdout.decode())):
            total += 1
            if row["status-code"] != "200":
                errors += 1
            if float(row["DNS+dialup"]) > 0:
                dialled += 1
                continue
            latencies.append(float(row["response-time"]) * 1000)
    latencies.sort()
    return {
        "rate": rate,
        "achieved": total / max(1, round(seconds)),
        "requests": total,
        "errors": errors,
        "dialled": dialled,
        "p50_ms": _pct(latencies, 50),
        "p95_ms": _pct(latencies, 95),
        "p99_ms": _pct(latencies, 99),
    }


def _pct(values: Sequence[float], pct: float) -> float:
    if not values:
        return float("nan")
    return values[min(len(values) - 1, int(len(values) * pct / 100))]


# --- the webhook part -----------------------------------------------------------------------


def preflight(running: Server, reviews: Sequence[review_bodies.Review]) -> dict[str, Any]:
    """Every body once on each path: all must answer 200 with their uid; count denials."""
    out: dict[str, Any] = {}
    for path in PATHS:
        denied = 0
        for review in reviews:
            status, body = request(running, "POST", f"{path}?timeout=10s", review.body)
            if status != 200:
                raise RuntimeError(
                    f"{running.name} {path} {review.name}: HTTP {status} {body[:300]!r}"
                )
            answer = orjson.loads(body)["response"]
            if answer["uid"] != orjson.loads(review.body)["request"]["uid"]:
                raise RuntimeError(f"{running.name} {path} {review.name}: wrong uid")
            denied += not answer["allowed"]
        out[path] = {"denied": denied, "of": len(reviews)}
    return out


def _wrk_step(running: Server, path: str, script: Path, d: Durations) -> dict[str, Any]:
    cpu_before = cpu_seconds(running.pid)
    figures = wrk(running, path, script, d.wrk)
    cpu = cpu_seconds(running.pid) - cpu_before
    figures["cpu_ms_per_1000"] = cpu * 1000 / max(1, figures["requests"]) * 1000
    log(
        f"  {running.name} wrk {path}: {figures['rps']:,.0f} req/s, "
        f"{figures['cpu_ms_per_1000']:.0f} CPU-ms/1000, {figures['errors']} errors"
    )
    return figures


def _hey_step(
    running: Server, path: str, bodies: Sequence[Path], rate: int, d: Durations
) -> dict[str, Any]:
    figures = hey(running, path, bodies, rate, d.hey)
    log(
        f"  {running.name} hey {path} @{rate}: p50 {figures['p50_ms']:.1f} "
        f"p95 {figures['p95_ms']:.1f} p99 {figures['p99_ms']:.1f} ms, "
        f"{figures['achieved']:,.0f} req/s achieved, {figures['errors']} errors"
    )
    return figures


def serve_both(
    workdir: Path,
    d: Durations,
    script: Path,
    hey_bodies: Sequence[Path],
    reviews: Sequence[review_bodies.Review],
) -> dict[str, dict[str, Any]]:
    """Both servers up on core 0, loaded one at a time and in turn, measurement by
    measurement: a neighbour's burst of load then hits the echo and winpod alike instead of
    whichever happened to run at the time. The idle one costs nothing meanwhile."""
    results: dict[str, dict[str, Any]] = {
        name: {"wrk": {}, "hey": {}} for name in ("echo", "winpod")
    }
    log("  echo and winpod: starting on core 0")
    with server("echo", workdir) as echo, server("winpod", workdir) as winpod:
        servers = {"echo": echo, "winpod": winpod}
        # The echo answers both paths alike: one run of each load stands for both.
        paths = {"echo": PATHS[:1], "winpod": PATHS}
        for name, running in servers.items():
            results[name]["preflight"] = preflight(running, reviews)
            wrk(running, "/validate", script, d.warmup)
            results[name]["rss_warm_kib"] = proc_status(running.pid)["VmRSS"]
        for name, running in servers.items():
            for path in paths[name]:
                results[name]["wrk"][path] = _wrk_step(running, path, script, d)
        for rate in d.rates:
            for name, running in servers.items():
                for path in paths[name]:
                    figures = _hey_step(running, path, hey_bodies, rate, d)
                    results[name]["hey"].setdefault(path, {})[str(rate)] = figures
        for name, running in servers.items():
            status = proc_status(running.pid)
            results[name]["rss_end_kib"] = status["VmRSS"]
            results[name]["rss_peak_kib"] = status["VmHWM"]
    return results


def webhook_part(d: Durations) -> dict[str, Any]:
    missing = [tool for tool in ("wrk", "hey") if shutil.which(tool) is None]
    if missing:
        return {
            "skipped": f"{' and '.join(missing)} not installed "
            f"(Debian: apt-get install -y {' '.join(missing)})"
        }
    with tempfile.TemporaryDirectory(prefix="winpod-bench-") as tmp:
        workdir = Path(tmp)
        write_certs(workdir / "certs")
        reviews = review_bodies.wrk_set()
        files = []
        for i, review in enumerate(reviews):
            path = workdir / f"wrk-{i:02d}-{review.name}.json"
            path.write_bytes(review.body)
            files.append(path)
        script = workdir / "bodies.lua"
        script.write_text(_LUA % {"files": ", ".join(json.dumps(str(f)) for f in files)})
        hey_bodies = []
        for review in review_bodies.hey_set():
            path = workdir / f"hey-{review.name}.json"
            path.write_bytes(review.body)
            hey_bodies.append(path)
        result: dict[str, Any] = {
            "bodies": [
                {"name": r.name, "shape": r.shape, "bytes": len(r.body), "denied": r.expect_denied}
                for r in reviews
            ],
            "hey_bodies": [p.name for p in hey_bodies],
            "pinned": bool(pinned(1)),
        }
        result.update(serve_both(workdir, d, script, hey_bodies, reviews))
        result["winpod_log_lines"] = (workdir / "winpod.log").read_bytes().count(b"\n")
    return result


# --- report ---------------------------------------------------------------------------------


def _fmt(value: float, digits: int = 0) -> str:
    return f"{value:,.{digits}f}"


def _mark(ok: bool) -> str:
    return "meets" if ok else "misses"


def render(results: dict[str, Any], command: str, compare: dict[str, Any] | None) -> str:
    m = results["machine"]
    v = m["versions"]
    lines = [
        "# winpod benchmark results",
        "",
        f"Written by `{command}` on {m['date']}"
        + (f", measuring the tree {results['tree']}" if results.get("tree") != str(REPO) else "")
        + ". Every figure comes from that one run; the",
        "targets are those of issue 6, shown next to the figures (they are not asserted).",
        "",
        "## Machine",
        "",
        f"- {m['nproc']} CPUs: {m['cpu']}; {m['memory_gib']} GiB memory; Linux {m['kernel']}",
        f"- load average before the run: {m['load']}; after: {results.get('load_after', '?')}"
        " (the machine is shared: other jobs' load shows in wall-clock figures)",
        f"- python {v['python']}, uvicorn {v['uvicorn']}, fastapi {v['fastapi']}, starlette "
        f"{v['starlette']}, pydantic {v['pydantic']}, orjson {v['orjson']}, uvloop {v['uvloop']},"
        f" httptools {v['httptools']}, PyYAML {v['yaml']}, winpod {v['winpod']}",
        f"- load generators: {v['wrk']}, {v['hey']}",
        "",
    ]
    for part, section in (
        ("engine", _engine_section),
        ("check", _check_section),
        ("webhook", _webhook_section),
    ):
        if results.get(part) is not None:
            lines += section(results[part])
    if compare is not None:
        lines += _compare_section(results, compare)
    if OPTIMISATIONS.exists():
        lines += ["## Optimisations", "", OPTIMISATIONS.read_text(encoding="utf-8").strip(), ""]
    return "\n".join(lines) + "\n"


def _engine_section(e: dict[str, Any]) -> list[str]:
    rate = e["pods_per_second"]
    return [
        "## Engine, in process",
        "",
        "`bench/engine.py`'s `measure()` on core 0: the bench/mix.py objects evaluated in a loop,",
        "per CPU-second of the process. Process time keeps others' load out of the figure only in",
        "part (caches and memory are shared): it moved by up to a third between runs here.",
        "",
        "| figure | value | target |",
        "| --- | ---: | --- |",
        f"| objects/s, one core | {_fmt(rate)} | ≥ {_fmt(TARGETS['engine'])} ({_mark(rate >= TARGETS['engine'])}) |",
        f"| evaluations timed | {_fmt(e['evaluated'])} in {e['seconds']:.1f} s | |",
        f"| share of the mix denied | {e['denied_share']:.0%} | ~20 % |",
        "",
    ]


def _check_section(c: dict[str, Any]) -> list[str]:
    ratio = c["ratio_cpu"]
    return [
        "## `winpod check` against the parse floor",
        "",
        f"{c['files']:,} generated manifest files ({c['bytes'] / 1024:,.0f} KiB, bench/mix.py "
        f"objects, one per file). Whole processes, best of {c['repeats']}: "
        "`python -m winpod.cli check DIR` against a process that reads the same files and loads "
        "them with PyYAML's C loader. CPU time = user + system of the child.",
        "",
        "| figure | winpod check | floor | ratio | target |",
        "| --- | ---: | ---: | ---: | --- |",
        f"| CPU seconds | {c['check_cpu_s']:.3f} | {c['floor_cpu_s']:.3f} | {ratio:.2f} | "
        f"≤ {TARGETS['check_ratio']} ({_mark(ratio <= TARGETS['check_ratio'])}) |",
        f"| wall seconds | {c['check_wall_s']:.3f} | {c['floor_wall_s']:.3f} | "
        f"{c['ratio_wall']:.2f} | |",
        "",
        f"Modules of the web stack / cluster client a `winpod check` process imported: "
        f"{', '.join(c['heavy_imports']) or 'none'} (exit code {c['check_exit']}: the mix has denials).",
        "",
    ]


def _webhook_section(w: dict[str, Any]) -> list[str]:
    if "skipped" in w:
        return ["## Webhook", "", f"Skipped: {w['skipped']}.", ""]
    echo, pod = w["echo"], w["winpod"]
    sizes: dict[str, list[int]] = {}
    for body in w["bodies"]:
        sizes.setdefault(body["shape"], []).append(body["bytes"])
    denied = sum(b["denied"] for b in w["bodies"])
    ew = echo["wrk"]["/validate"]
    lines = [
        "## Webhook",
        "",
        f"`winpod serve` and the bare echo app (bench/echo_app.py), both "
        f"{'pinned to core 0' if w['pinned'] else 'unpinned (one core only)'} and loaded one at a "
        "time, in turn for each measurement (echo, then winpod), so that other load on the "
        "machine falls on both alike; same uvicorn settings "
        "(uvloop, httptools, winpod's TLS context, same keep-alive) and certificates from "
        "app/certs.py. Load from core 1.",
        "",
        f"Request mix: {len(w['bodies'])} AdmissionReview bodies from bench/reviews.py, "
        f"round-robin, {denied} of them denied ({denied / len(w['bodies']):.0%}): "
        + ", ".join(
            f"{shape} ({min(b) / 1000:.1f} to {max(b) / 1000:.1f} KB)" for shape, b in sizes.items()
        )
        + ". Checked before timing: every body answered 200 with its uid; winpod denied "
        + ", ".join(f"{p['denied']}/{p['of']} on {path}" for path, p in pod["preflight"].items())
        + " (/mutate judges Pod CREATEs only; a pod UPDATE with an unchanged spec is not denied).",
        "",
        f"### Closed loop: wrk, {CONNECTIONS} keep-alive connections, one thread",
        "",
        "| server | path | req/s | ratio to echo | target | p50 ms | p90 ms | p99 ms | CPU-ms per 1,000 reviews | errors |",
        "| --- | --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: |",
        f"| echo | any | {_fmt(ew['rps'])} | 1.00 | | {ew['p50_us'] / 1000:.1f} | "
        f"{ew['p90_us'] / 1000:.1f} | {ew['p99_us'] / 1000:.1f} | {ew['cpu_ms_per_1000']:.0f} | {ew['errors']} |",
    ]
    for path, f in pod["wrk"].items():
        ratio = f["rps"] / ew["rps"]
        lines.append(
            f"| winpod | {path} | {_fmt(f['rps'])} | {ratio:.2f} | ≥ {TARGETS['ratio']} "
            f"({_mark(ratio >= TARGETS['ratio'])}) | {f['p50_us'] / 1000:.1f} | "
            f"{f['p90_us'] / 1000:.1f} | {f['p99_us'] / 1000:.1f} | {f['cpu_ms_per_1000']:.0f} | "
            f"{f['errors']} |"
        )
    lines += [
        "",
        f"### Fixed rates: hey, {CONNECTIONS} connections ({HEY_PROCESSES} processes of "
        f"{CONNECTIONS // HEY_PROCESSES}, one body shape each: {', '.join(w['hey_bodies'])})",
        "",
        "Latency in ms over the requests that reused a connection (each connection's first "
        "request also pays the TLS handshake; an apiserver's pool is warm). `achieved` is "
        "requests completed per second: below the rate means the server could not keep up.",
        "",
        "| rate | server | path | achieved req/s | p50 | p95 | p99 | p99 / echo p99 | target | errors |",
        "| ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | --- | ---: |",
    ]
    echo_hey = echo["hey"]["/validate"]
    for rate, e in echo_hey.items():
        lines.append(
            f"| {int(rate):,} | echo | any | {_fmt(e['achieved'])} | {e['p50_ms']:.1f} | "
            f"{e['p95_ms']:.1f} | {e['p99_ms']:.1f} | 1.00 | | {e['errors']} |"
        )
        for path in PATHS:
            f = pod["hey"][path][rate]
            ratio = f["p99_ms"] / e["p99_ms"] if e["p99_ms"] else float("nan")
            lines.append(
                f"| {int(rate):,} | winpod | {path} | {_fmt(f['achieved'])} | {f['p50_ms']:.1f} | "
                f"{f['p95_ms']:.1f} | {f['p99_ms']:.1f} | {ratio:.2f} | ≤ {TARGETS['p99_ratio']} "
                f"({_mark(ratio <= TARGETS['p99_ratio'])}) | {f['errors']} |"
            )
    rss = {k: pod[k] / 1024 for k in ("rss_warm_kib", "rss_end_kib", "rss_peak_kib")}
    erss = {k: echo[k] / 1024 for k in ("rss_warm_kib", "rss_end_kib", "rss_peak_kib")}
    lines += [
        "",
        "### Memory (one worker; /proc/PID/status)",
        "",
        "| server | RSS after warm-up MiB | RSS at the end MiB | peak (VmHWM) MiB | target |",
        "| --- | ---: | ---: | ---: | --- |",
        f"| echo | {erss['rss_warm_kib']:.1f} | {erss['rss_end_kib']:.1f} | {erss['rss_peak_kib']:.1f} | |",
        f"| winpod | {rss['rss_warm_kib']:.1f} | {rss['rss_end_kib']:.1f} | {rss['rss_peak_kib']:.1f} | "
        f"≤ {TARGETS['rss_mib']:.0f} ({_mark(rss['rss_peak_kib'] <= TARGETS['rss_mib'])}) |",
        "",
        "RSS after warm-up is after one wrk run (25 connections). Both servers use "
        "app/webhook/protocol.py, which frees a reset connection (wrk and hey end theirs "
        "without TLS close_notify) at once; uvicorn's own protocol keeps each until its "
        "keep-alive timer fires (webhook.keepAliveSeconds, 120 s by default), about 5 MiB per "
        "25 connections. The echo's figures show the framework's share.",
        "",
        f"winpod wrote {w['winpod_log_lines']:,} log lines (one per review, to a file) during the run.",
        "",
    ]
    return lines


def flat(results: dict[str, Any]) -> dict[str, float]:
    """The headline figures, by name, for before/after tables."""
    out: dict[str, float] = {}
    if results.get("engine"):
        out["engine objects/s"] = results["engine"]["pods_per_second"]
    if results.get("check"):
        out["check CPU s"] = results["check"]["check_cpu_s"]
        out["check / floor (CPU)"] = results["check"]["ratio_cpu"]
    w = results.get("webhook") or {}
    if "winpod" in w:
        echo_rps = w["echo"]["wrk"]["/validate"]["rps"]
        out["echo req/s"] = echo_rps
        for path, f in w["winpod"]["wrk"].items():
            out[f"winpod {path} req/s"] = f["rps"]
            out[f"winpod {path} / echo"] = f["rps"] / echo_rps
            out[f"winpod {path} CPU-ms/1000"] = f["cpu_ms_per_1000"]
        for path, rates in w["winpod"]["hey"].items():
            for rate, f in rates.items():
                out[f"winpod {path} p99 ms @{rate}"] = f["p99_ms"]
        out["winpod peak RSS MiB"] = w["winpod"]["rss_peak_kib"] / 1024
    return out


def _compare_section(results: dict[str, Any], before: dict[str, Any]) -> list[str]:
    old, new = flat(before), flat(results)
    lines = [
        "## Against an earlier run",
        "",
        f"Before: {before['machine']['date']} (`{before.get('command', '?')}`).",
        "",
        "| figure | before | after | after / before |",
        "| --- | ---: | ---: | ---: |",
    ]
    for key, value in new.items():
        if old.get(key):
            lines.append(f"| {key} | {old[key]:,.2f} | {value:,.2f} | {value / old[key]:.2f} |")
    return [*lines, ""]


def summary(results: dict[str, Any]) -> str:
    parts = []
    for key, value in flat(results).items():
        parts.append(f"{key}: {value:,.2f}")
    w = results.get("webhook") or {}
    if "skipped" in w:
        parts.append(f"webhook skipped: {w['skipped']}")
    return "\n".join(parts)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="a few seconds per part (CI smoke)")
    parser.add_argument(
        "--parts",
        default="engine,check,webhook",
        help="comma-separated: engine, check, webhook (default: all)",
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help="markdown report to write")
    parser.add_argument("--json", type=Path, help="also write every figure as JSON here")
    parser.add_argument("--compare", type=Path, help="a --json file of an earlier run")
    parser.add_argument(
        "--tree",
        type=Path,
        help="measure the winpod in this directory (a changed copy of the repo)",
    )
    args = parser.parse_args(argv)
    if args.tree:
        global TREE
        TREE = args.tree.resolve()
        sys.path.insert(0, str(TREE))
        import app  # first, so every app.* module below comes from the tree

        if Path(app.__file__).resolve().parents[1] != TREE:
            parser.error(f"--tree {TREE}: no app package there")
    d = QUICK if args.quick else FULL
    parts = {p.strip() for p in args.parts.split(",") if p.strip()}
    unknown = parts - {"engine", "check", "webhook"}
    if unknown:
        parser.error(f"unknown parts: {', '.join(sorted(unknown))}")
    command = "python bench/run.py" + (
        " " + " ".join(argv if argv is not None else sys.argv[1:])
        if (argv if argv is not None else sys.argv[1:])
        else ""
    )
    compare = json.loads(args.compare.read_text()) if args.compare else None
    results: dict[str, Any] = {"command": command, "tree": str(TREE), "machine": machine()}
    started = time.monotonic()
    if "engine" in parts:
        log("engine ...")
        results["engine"] = engine_part(d)
    if "check" in parts:
        log("winpod check vs the parse floor ...")
        results["check"] = check_part(d)
    if "webhook" in parts:
        log("webhook ...")
        results["webhook"] = webhook_part(d)
    results["load_after"] = _load()
    results["seconds"] = time.monotonic() - started
    text = render(results, command, compare)
    args.out.write_text(text, encoding="utf-8")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1), encoding="utf-8")
    print(summary(results))
    print(f"({results['seconds']:.0f} s; report: {args.out})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
