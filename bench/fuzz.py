"""Fuzzing the webhook: generated and corrupted AdmissionReviews against the real server.

    python bench/fuzz.py                      # 100,000 requests, prints a markdown table
    python bench/fuzz.py --count 2000 --json /tmp/fuzz.json
    python bench/fuzz.py --tree /tmp/winpod-before   # the same requests against another tree

`winpod serve` runs pinned to core 0 with freshly made certs; the client (asyncio, its own
HTTP/1.1 over TLS, so it can send what a library would refuse to) runs on the other core with
--connections keep-alive connections. Every request is built from a real object of
../shared/corpus/ wrapped the way the apiserver wraps it, then corrupted in one way, chosen at
random with a fixed seed (structure-aware: the corruption knows the review's paths):

    retype     a random value at a random path of the review (null, bool, numbers at the
               edges, strings, lists, mappings)
    delete     a random key removed
    deep       a random path replaced by lists or mappings nested 60 to 100,000 deep
    huge       a 64 KiB to 4 MiB string, or thousands of containers, at a random path
    truncate   the body cut at a random byte
    duplicate  a key repeated at a random mapping of the body's text, with another value
    bytes      invalid UTF-8, a BOM, NaN, trailing garbage, an empty or scalar body
    envelope   the review's own fields wrong (apiVersion, kind, request, uid, operation)
    http       another method, path, content type or query on the review endpoints
    valid      nothing changed (the control)

What counts as a failure: any 5xx, no answer within --timeout seconds, a connection closed
without an answer, a 200 that is not a valid AdmissionReview answering the request's uid (or a
200 to a request that has no usable uid), a 4xx without a JSON `{"error": ...}` body, and a
review whose envelope is well formed answered with 4xx (a bad object is `allowed: false`, not
a bad request). The server's /metrics counts and its log lines are compared with what the
client saw. Exit 1 when anything failed.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import random
import ssl
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench import run as bench_run  # noqa: E402

CORPUS = REPO.parent / "shared" / "corpus"
REVIEW_VERSIONS = ("admission.k8s.io/v1", "admission.k8s.io/v1beta1")
Obj = dict[str, Any]

# --- requests -----------------------------------------------------------------------------

_RESOURCES = {
    "Pod": "pods",
    "Deployment": "deployments",
    "DaemonSet": "daemonsets",
    "StatefulSet": "statefulsets",
    "ReplicaSet": "replicasets",
    "Job": "jobs",
    "CronJob": "cronjobs",
    "ReplicationController": "replicationcontrollers",
    "PodTemplate": "podtemplates",
}


def corpus_objects(corpus: Path = CORPUS) -> list[Obj]:
    """Every document of the corpus whose kind the webhook is registered for."""
    objects = []
    for path in sorted(corpus.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if isinstance(doc, dict) and doc.get("kind") in _RESOURCES:
                objects.append(doc)
    if not objects:
        raise SystemExit(f"fuzz: no workload objects under {corpus}")
    return objects


def envelope(obj: Obj, uid: str, operation: str = "CREATE") -> Obj:
    """`obj` in an AdmissionReview request, as the apiserver sends it."""
    group, _, version = str(obj.get("apiVersion", "v1")).rpartition("/")
    kind = obj["kind"]
    gvk = {"group": group, "version": version, "kind": kind}
    gvr = {"group": group, "version": version, "resource": _RESOURCES[kind]}
    metadata = obj.get("metadata") or {}
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": uid,
            "kind": gvk,
            "resource": gvr,
            "requestKind": gvk,
            "requestResource": gvr,
            "name": metadata.get("name", ""),
            "namespace": metadata.get("namespace", "default"),
            "operation": operation,
            "userInfo": {"username": "fuzz", "groups": ["system:authenticated"]},
            "object": obj,
            "oldObject": obj if operation == "UPDATE" else None,
            "dryRun": False,
            "options": {"kind": f"{operation.title()}Options", "apiVersion": "meta.k8s.io/v1"},
        },
    }


@dataclass
class Request:
    number: int
    corruption: str
    method: str
    path: str
    body: bytes
    content_type: str | None = "application/json"


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _paths(child, (*prefix, index))


def _set(root: Obj, path: tuple[Any, ...], value: Any) -> None:
    parent: Any = root
    for step in path[:-1]:
        parent = parent[step]
    parent[path[-1]] = value


def _delete(root: Obj, path: tuple[Any, ...]) -> None:
    parent: Any = root
    for step in path[:-1]:
        parent = parent[step]
    del parent[path[-1]]


_SCALARS: tuple[Any, ...] = (
    None,
    True,
    False,
    0,
    -1,
    2**64 - 1,
    -(2**63),
    orjson.Fragment(b"123456789012345678901234567890"),
    orjson.Fragment(b"1e400"),
    1.5,
    1e308,
    "",
    "x",
    "0",
    "true",
    "Always",
    "windows",
    "../../etc",
    "\u0000",
    "\ud7ff\ue000",
    "ü" * 40,
)


class Corruptor:
    """Turns a valid review into one corrupted request; one instance per seed."""

    KINDS = (
        ("retype", 30),
        ("delete", 10),
        ("deep", 7),
        ("huge", 3),
        ("truncate", 8),
        ("duplicate", 8),
        ("bytes", 6),
        ("envelope", 12),
        ("http", 6),
        ("valid", 10),
    )

    def __init__(self, objects: list[Obj], seed: int):
        self.random = random.Random(seed)
        self.objects = objects
        self.kinds = [k for k, _ in self.KINDS]
        self.weights = [w for _, w in self.KINDS]

    def _value(self, depth: int = 0) -> Any:
        r = self.random
        choice = r.random()
        if choice < 0.55 or depth > 2:
            return r.choice(_SCALARS)
        if choice < 0.8:
            return [self._value(depth + 1) for _ in range(r.randint(0, 3))]
        return {r.choice(("a", "name", "image", "")): self._value(depth + 1)}

    def _nested(self) -> Any:
        depth = self.random.choice((60, 500, 1000, 1100, 5000, 100_000))
        if self.random.random() < 0.5:
            return orjson.Fragment(b"[" * depth + b"]" * depth)
        return orjson.Fragment(b'{"a":' * depth + b"1" + b"}" * depth)

    def _huge(self, review: Obj) -> Any:
        r = self.random
        if r.random() < 0.6:
            return "x" * r.choice((64 * 1024, 1024 * 1024, 2 * 1024 * 1024, 4 * 1024 * 1024))
        container = {"name": "c", "image": "mcr.microsoft.com/windows/nanoserver:ltsc2022"}
        return [dict(container, name=f"c{i}") for i in range(r.choice((1_000, 10_000, 40_000)))]

    def request(self, number: int) -> Request:
        r = self.random
        obj = orjson.loads(orjson.dumps(r.choice(self.objects)))
        uid = f"fuzz-{number:07d}"
        review = envelope(obj, uid, r.choice(("CREATE", "CREATE", "CREATE", "UPDATE")))
        path = r.choice(("/validate", "/mutate"))
        kind = r.choices(self.kinds, self.weights)[0]
        body: bytes
        if kind == "retype":
            target = r.choice(list(_paths(review))[1:])
            _set(review, target, self._value())
        elif kind == "delete":
            target = r.choice(list(_paths(review))[1:])
            _delete(review, target)
        elif kind == "deep":
            target = r.choice(list(_paths(review))[1:])
            _set(review, target, self._nested())
        elif kind == "huge":
            candidates = [p for p in _paths(review) if len(p) >= 3] or [("request", "object")]
            _set(review, r.choice(candidates), self._huge(review))
        elif kind == "envelope":
            self._envelope(review)
        body = orjson.dumps(review)
        if kind == "truncate":
            body = body[: r.randrange(len(body))]
        elif kind == "duplicate":
            body = self._duplicate(review)
        elif kind == "bytes":
            body = self._bytes(body)
        request = Request(number, kind, "POST", path, body)
        if kind == "http":
            self._http(request)
        return request

    def _envelope(self, review: Obj) -> None:
        r = self.random
        request = review["request"]
        which = r.randrange(9)
        if which == 0:
            review["apiVersion"] = r.choice(
                ("admission.k8s.io/v1beta1", "admission.k8s.io/v2", "", None, 1, "v1")
            )
        elif which == 1:
            review["kind"] = r.choice(("Pod", "", None, "admissionreview", ["AdmissionReview"]))
        elif which == 2:
            review["request"] = r.choice((None, [], "x", 0, {}))
        elif which == 3:
            request["uid"] = r.choice((None, 7, "", [], {"a": 1}, "u" * 100_000))
        elif which == 4:
            del request["uid"]
        elif which == 5:
            request["operation"] = r.choice(("DELETE", "CONNECT", "create", "", None, 3))
        elif which == 6:
            request["object"] = r.choice((None, [], "x", 0, {}, {"kind": "Pod"}))
        elif which == 7:
            request["kind"] = r.choice((None, {}, "Pod", {"kind": "Secret", "version": "v1"}))
        else:
            request["dryRun"] = r.choice(("yes", 1, None, []))

    def _duplicate(self, review: Obj) -> bytes:
        """The body with one key twice in one mapping (JSON decoders keep the last)."""
        r = self.random
        mappings = [p for p in _paths(review) if _is_mapping(review, p)]
        target = r.choice(mappings)
        mapping = _get(review, target)
        key = r.choice([*mapping.keys(), "uid", "kind"]) if mapping else "uid"
        extra = b"," + orjson.dumps(key) + b":" + orjson.dumps(self._value())
        marker = "\u0001dup\u0001"
        if target:
            _set(review, target, marker)
            text = orjson.dumps(review)
            inner = orjson.dumps(mapping)
            inner = inner[:-1] + (extra if mapping else extra[1:]) + b"}"
            return text.replace(orjson.dumps(marker), inner, 1)
        text = orjson.dumps(review)
        return text[:-1] + extra + b"}"

    def _bytes(self, body: bytes) -> bytes:
        r = self.random
        which = r.randrange(8)
        if which == 0:  # invalid UTF-8 inside a string
            at = body.find(b'"name":"')
            return body[: at + 8] + b"\xff\xfe\xc3(" + body[at + 8 :] if at >= 0 else b"\xff"
        if which == 1:
            return b"\xef\xbb\xbf" + body
        if which == 2:
            return body.replace(b"false", b"NaN", 1)
        if which == 3:
            return body + b" trailing"
        if which == 4:
            return b""
        if which == 5:
            return r.choice((b"null", b"[]", b"1", b'"x"', b"true", b"{}"))
        if which == 6:
            return body.replace(b'"', b"'", 20)
        return body.replace(b":", b"::", 1)

    def _http(self, request: Request) -> None:
        r = self.random
        which = r.randrange(5)
        if which == 0:
            request.method = r.choice(("GET", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"))
        elif which == 1:
            request.path = r.choice(
                ("/", "/validate/", "/mutate/x", "/nothing", "/validate%00", "/VALIDATE", "//")
            )
        elif which == 2:
            request.content_type = r.choice((None, "text/plain", "application/yaml", "x/y; z"))
        elif which == 3:
            request.path += r.choice(("?timeout=abc", "?timeout=10s&timeout=1s", "?" + "a" * 4000))
        else:
            request.method, request.path = "POST", r.choice(("/healthz", "/metrics", "/version"))


def _get(root: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        root = root[step]
    return root


def _is_mapping(root: Any, path: tuple[Any, ...]) -> bool:
    return isinstance(_get(root, path), dict)


# --- judging answers ----------------------------------------------------------------------


def usable_uid(body: bytes) -> tuple[str | None, str | None]:
    """(the uid, the review apiVersion) a correct server answers this body with, or Nones when
    the body is not a review it can answer (then 4xx is right)."""
    try:
        review = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None, None
    if not isinstance(review, dict) or review.get("kind") != "AdmissionReview":
        return None, None
    if review.get("apiVersion") not in REVIEW_VERSIONS:
        return None, None
    request = review.get("request")
    if not isinstance(request, dict):
        return None, None
    uid = request.get("uid")
    if not isinstance(uid, str) or not uid:
        return None, None
    return uid, review["apiVersion"]


def _optional(value: Any, kind: type) -> bool:
    return value is None or (isinstance(value, kind) and not isinstance(value, bool))


def _group_version(value: Any, name_key: str, required: bool) -> bool:
    if value is None:
        return not required
    if not isinstance(value, dict):
        return False
    # Present means a string: the webhook's envelope is strict (null is not "").
    if not all(isinstance(value.get(k, ""), str) for k in ("group", "version", name_key)):
        return False
    return not required or bool(value.get(name_key))


def envelope_problem(body: bytes) -> bool:
    """Whether this review breaks the envelope contract the webhook documents (README): then a
    4xx is the right answer; otherwise the object, however odd, is judged with a review."""
    uid, _ = usable_uid(body)
    if uid is None:
        return True
    request = orjson.loads(body)["request"]
    if not _group_version(request.get("kind"), "kind", required=True):
        return True
    if not _group_version(request.get("resource"), "resource", required=False):
        return True
    if not all(_optional(request.get(k), str) for k in ("subResource", "name", "namespace")):
        return True
    if request.get("operation") not in ("CREATE", "UPDATE", "DELETE", "CONNECT"):
        return True
    if not _optional(request.get("dryRun"), bool) and not isinstance(request.get("dryRun"), bool):
        return True
    judged = request.get("subResource") in (None, "", "ephemeralcontainers")
    if request["operation"] in ("CREATE", "UPDATE") and judged:
        return not isinstance(request.get("object"), dict)
    return False


def judge(request: Request, status: int, body: bytes) -> str | None:
    """Why this answer is wrong, or None."""
    review_endpoint = request.method == "POST" and request.path.split("?")[0] in (
        "/validate",
        "/mutate",
    )
    uid, api_version = usable_uid(request.body) if review_endpoint else (None, None)
    if status >= 500:
        return f"status {status}"
    if status == 200 and review_endpoint:
        if uid is None:
            return "200 for a body that is not a review with a uid"
        try:
            answer = orjson.loads(body)
        except orjson.JSONDecodeError:
            return "200 whose body is not JSON"
        response = answer.get("response") if isinstance(answer, dict) else None
        if not isinstance(response, dict):
            return "200 without a response"
        if answer.get("kind") != "AdmissionReview" or answer.get("apiVersion") != api_version:
            return f"200 answering as {answer.get('apiVersion')} {answer.get('kind')}"
        if response.get("uid") != uid:
            return "200 with another uid"
        if not isinstance(response.get("allowed"), bool):
            return "200 without a boolean allowed"
        if "patch" in response:
            if response.get("patchType") != "JSONPatch":
                return "patch without patchType JSONPatch"
            try:
                patch = json.loads(base64.b64decode(response["patch"], validate=True))
            except ValueError:
                return "patch is not base64 JSON"
            if not isinstance(patch, list):
                return "patch is not a list"
        warnings = response.get("warnings", [])
        if not isinstance(warnings, list) or any(
            not isinstance(w, str) or len(w) > 256 for w in warnings
        ):
            return "warnings not strings of at most 256 characters"
        return None
    if 400 <= status < 500:
        if request.method == "HEAD":
            return None  # a HEAD answer has no body
        try:
            error = orjson.loads(body)
        except orjson.JSONDecodeError:
            return f"{status} whose body is not JSON"
        if not isinstance(error, dict) or not isinstance(
            error.get("error", error.get("detail")), str
        ):
            return f"{status} without an error message"
        if review_endpoint and status == 400 and not envelope_problem(request.body):
            return "400 for a review whose envelope is well formed"
        return None
    if status == 200:
        return None  # /healthz and the like
    return f"status {status}"


# --- the client ---------------------------------------------------------------------------


@dataclass
class Tally:
    statuses: Counter[str] = field(default_factory=Counter)
    by_corruption: Counter[str] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)
    examples: dict[str, str] = field(default_factory=dict)
    slowest: float = 0.0
    sent: int = 0

    def fail(self, reason: str, request: Request, answer: bytes = b"") -> None:
        self.failures[reason] += 1
        self.examples.setdefault(
            reason,
            f"#{request.number} {request.corruption} {request.method} {request.path} "
            f"{request.body[:160]!r} -> {answer[:200]!r}",
        )


class Connection:
    def __init__(self, port: int, context: ssl.SSLContext):
        self.port = port
        self.context = context
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def _open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self.reader is None or self.writer is None or self.writer.is_closing():
            self.reader, self.writer = await asyncio.open_connection(
                "127.0.0.1",
                self.port,
                ssl=self.context,
                server_hostname="localhost",
                limit=2**20,
            )
        return self.reader, self.writer

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def exchange(self, request: Request) -> tuple[int, bytes]:
        reader, writer = await self._open()
        head = [f"{request.method} {request.path} HTTP/1.1", "Host: localhost"]
        if request.content_type is not None:
            head.append(f"Content-Type: {request.content_type}")
        head.append(f"Content-Length: {len(request.body)}")
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + request.body)
        await writer.drain()
        status_line = await reader.readline()
        if not status_line:
            raise ConnectionError("closed without an answer")
        status = int(status_line.split()[1])
        length, close = 0, False
        while True:
            line = await reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            if name.lower() == "content-length":
                length = int(value)
            elif name.lower() == "connection" and value.strip().lower() == "close":
                close = True
        body = b"" if request.method == "HEAD" else await reader.readexactly(length)
        if close:
            self.close()
        return status, body


async def _worker(
    requests: Iterator[Request], port: int, context: ssl.SSLContext, tally: Tally, timeout: float
) -> None:
    connection = Connection(port, context)
    for request in requests:
        tally.sent += 1
        tally.by_corruption[request.corruption] += 1
        started = time.monotonic()
        try:
            status, body = await asyncio.wait_for(connection.exchange(request), timeout)
        except TimeoutError:
            tally.statuses["no answer"] += 1
            tally.fail(f"no answer within {timeout:g} s", request)
            connection.close()
            continue
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError) as exc:
            tally.statuses["closed"] += 1
            tally.fail(f"connection closed without an answer ({type(exc).__name__})", request)
            connection.close()
            continue
        tally.slowest = max(tally.slowest, time.monotonic() - started)
        tally.statuses[str(status)] += 1
        reason = judge(request, status, body)
        if reason is not None:
            tally.fail(reason, request, body)
    connection.close()


async def drive(
    port: int, context: ssl.SSLContext, count: int, seed: int, connections: int, timeout: float
) -> Tally:
    corruptor = Corruptor(corpus_objects(), seed)
    requests = (corruptor.request(n) for n in range(count))
    tally = Tally()
    await asyncio.gather(
        *(_worker(requests, port, context, tally, timeout) for _ in range(connections))
    )
    return tally


# --- the run ------------------------------------------------------------------------------


def _metric_counts(text: str) -> dict[str, float]:
    counts: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("winpod_") and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            if "bad_requests" in name or "reviews_total" in name or "rejected" in name:
                counts[name] = float(value)
    return counts


def run(
    count: int, seed: int, connections: int, timeout: float, keep_log: Path | None = None
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="winpod-fuzz-") as tmp:
        work = Path(tmp)
        bench_run.write_certs(work / "certs")
        with bench_run.server("winpod", work) as running:
            rss_start = bench_run.proc_status(running.pid)["VmRSS"]
            started = time.monotonic()
            tally = asyncio.run(
                drive(running.port, running.context(), count, seed, connections, timeout)
            )
            elapsed = time.monotonic() - started
            memory = bench_run.proc_status(running.pid)
            alive, _ = bench_run.request(running, "GET", "/healthz")
            _, metrics = bench_run.request(running, "GET", "/metrics")
        log_text = (work / "winpod.log").read_text(encoding="utf-8", errors="replace")
        if keep_log is not None:
            keep_log.write_text(log_text, encoding="utf-8")
    events: Counter[str] = Counter()
    for line in log_text.splitlines():
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError:
            events["(not JSON)"] += 1
            continue
        if isinstance(record, dict) and record.get("level") in ("warning", "error"):
            events[str(record.get("event"))] += 1
    if alive != 200:
        tally.failures["server not healthy afterwards"] += 1
    return {
        "requests": tally.sent,
        "seconds": round(elapsed, 1),
        "connections": connections,
        "seed": seed,
        "statuses": dict(sorted(tally.statuses.items())),
        "corruptions": dict(sorted(tally.by_corruption.items())),
        "failures": dict(tally.failures),
        "examples": tally.examples,
        "slowest_seconds": round(tally.slowest, 3),
        "rss_start_mib": round(rss_start / 1024, 1),
        "rss_end_mib": round(memory["VmRSS"] / 1024, 1),
        "rss_peak_mib": round(memory["VmHWM"] / 1024, 1),
        "log_events": dict(events.most_common()),
        "metrics": _metric_counts(metrics.decode()),
    }


def render(result: dict[str, Any]) -> str:
    lines = [
        f"Fuzz: {result['requests']:,} requests over {result['connections']} connections in "
        f"{result['seconds']} s (seed {result['seed']}); slowest answer "
        f"{result['slowest_seconds']} s; server RSS {result['rss_start_mib']} MiB at start, "
        f"{result['rss_end_mib']} MiB at the end, peak {result['rss_peak_mib']} MiB.",
        "",
        "| status | requests |",
        "|---|---:|",
        *(f"| {k} | {v:,} |" for k, v in result["statuses"].items()),
        "",
        "| corruption | requests |",
        "|---|---:|",
        *(f"| {k} | {v:,} |" for k, v in result["corruptions"].items()),
        "",
        f"Invalid answers and failures: {sum(result['failures'].values())}",
    ]
    for reason, n in result["failures"].items():
        lines.append(f"- {reason}: {n} (e.g. {result['examples'].get(reason, '')})")
    lines += ["", "Server log lines (warning and error) by event:", ""]
    lines += [f"- {k}: {v:,}" for k, v in result["log_events"].items()]
    lines += ["", "Server metrics:", ""]
    lines += [f"- `{k}` {v:g}" for k, v in sorted(result["metrics"].items())]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per answer")
    parser.add_argument("--log", type=Path, help="keep the server's log here")
    bench_run.server_options(parser)
    args = parser.parse_args(argv)
    bench_run.serve_tree(args)
    result = run(args.count, args.seed, args.connections, args.timeout, args.log)
    bench_run.publish(args, result, render)
    return 1 if result["failures"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
