"""A STAND-IN for kube-apiserver, for tests only: a plain threaded http.server over TLS.

No kube-apiserver can run on the test machines, so this implements just enough of the list/watch
protocol the API reference describes for the resources winpod reads, and no more:

- list with `limit`/`continue` (the token pins the list's resourceVersion; a token older than
  the last compaction answers 410 Gone with an "Expired" Status, as etcd compaction does);
- watch (`watch=true`) as a chunked stream of JSON lines: ADDED/MODIFIED/DELETED events and,
  with `allowWatchBookmarks=true`, BOOKMARK events carrying only a resourceVersion; a watch from a
  compacted resourceVersion answers with an ERROR event (Status code 410) or, in `gone_as_status`
  mode, an HTTP 410 Status; `timeoutSeconds` ends the stream cleanly;
- knobs to drop every open connection, stop and restart on the same port (apiserver down), and
  compact history;
- `/version`, bearer-token authentication, and create/get/replace for PolicyReports.

It is not Kubernetes: no field or label selectors, no admission, no defaults, no validation.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import socket
import ssl
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson
import yaml
from winpod.certs import make_ca, make_serving_cert


@dataclass
class _Resource:
    group_version: str  # "v1", "apps/v1", ...
    plural: str
    kind: str
    namespaced: bool
    objects: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    _sorted: list[tuple[str, str]] | None = None

    @property
    def api_version(self) -> str:
        return self.group_version

    def sorted_keys(self) -> list[tuple[str, str]]:
        if self._sorted is None:
            self._sorted = sorted(self.objects)
        return self._sorted


RESOURCES = [
    ("node.k8s.io/v1", "runtimeclasses", "RuntimeClass", False),
    ("v1", "namespaces", "Namespace", False),
    ("v1", "pods", "Pod", True),
    ("v1", "podtemplates", "PodTemplate", True),
    ("v1", "replicationcontrollers", "ReplicationController", True),
    ("apps/v1", "deployments", "Deployment", True),
    ("apps/v1", "replicasets", "ReplicaSet", True),
    ("apps/v1", "statefulsets", "StatefulSet", True),
    ("apps/v1", "daemonsets", "DaemonSet", True),
    ("batch/v1", "jobs", "Job", True),
    ("batch/v1", "cronjobs", "CronJob", True),
    ("wgpolicyk8s.io/v1alpha2", "policyreports", "PolicyReport", True),
]


def _status(code: int, reason: str, message: str) -> dict[str, Any]:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }


class StandinAPIServer:
    """The stand-in apiserver. `start()` listens on 127.0.0.1 at a random (then fixed) port."""

    def __init__(self, token: str = "standin-token", bookmark_interval: float = 0.2) -> None:
        self.token = token
        self.bookmark_interval = bookmark_interval
        self.git_version = "v1.30.2-standin.1"
        self.gone_as_status = False  # watch from a compacted rv: HTTP 410 instead of an ERROR event
        self.expire_next_continue = False  # the next continue token is answered with 410 Expired
        self.resources = {
            plural: _Resource(gv, plural, kind, ns) for gv, plural, kind, ns in RESOURCES
        }
        self.rv = 100
        self.compacted_rv = 0
        self.events: list[tuple[int, str, str, dict[str, Any]]] = []  # rv, plural, type, object
        self.requests: list[tuple[str, str, dict[str, str]]] = []  # method, path, query
        self.max_items_per_response = 0
        self.cond = threading.Condition()
        self._connections: set[socket.socket] = set()
        self._generation = 0  # bumped to end every open watch
        self._error_generation = 0  # bumped to send an ERROR 410 event on every open watch
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._tmp = tempfile.TemporaryDirectory(prefix="standin-")
        self.ca = make_ca("standin-apiserver-ca")
        serving = make_serving_cert(self.ca, ["localhost"], ["127.0.0.1"])
        cert, key = Path(self._tmp.name, "tls.crt"), Path(self._tmp.name, "tls.key")
        cert.write_bytes(serving.cert_pem)
        key.write_bytes(serving.key_pem)
        self._ssl = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._ssl.load_cert_chain(cert, key)
        self.port = 0

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> StandinAPIServer:
        server = ThreadingHTTPServer(("127.0.0.1", self.port), _make_handler(self))
        server.daemon_threads = False
        server.socket = self._ssl.wrap_socket(
            server.socket, server_side=True, do_handshake_on_connect=False
        )
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
        self._thread.start()
        return self

    def stop(self) -> None:
        """The apiserver goes away: stop listening and cut every open connection."""
        if self._server is None:
            return
        self._server.shutdown()
        self.drop_connections()
        self._server.server_close()
        assert self._thread is not None
        self._thread.join()
        self._server = None

    def close(self) -> None:
        self.stop()
        self._tmp.cleanup()

    def __enter__(self) -> StandinAPIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def write_kubeconfig(self, path: Path) -> Path:
        ca_data = base64.b64encode(self.ca.cert_pem).decode()
        doc = {
            "apiVersion": "v1",
            "kind": "Config",
            "current-context": "standin",
            "clusters": [
                {
                    "name": "standin",
                    "cluster": {
                        "server": f"https://127.0.0.1:{self.port}",
                        "certificate-authority-data": ca_data,
                    },
                }
            ],
            "users": [{"name": "standin", "user": {"token": self.token}}],
            "contexts": [{"name": "standin", "context": {"cluster": "standin", "user": "standin"}}],
        }
        path.write_text(yaml.safe_dump(doc), encoding="utf-8")
        return path

    # --- knobs -------------------------------------------------------------------------------

    def drop_connections(self) -> None:
        """Cut every open connection mid-stream (a load balancer or apiserver restart)."""
        with self.cond:
            self._generation += 1
            conns = list(self._connections)
            self.cond.notify_all()
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def compact(self) -> None:
        """Forget history: watches and continue tokens from before now get 410 Gone."""
        with self.cond:
            self.compacted_rv = self.rv
            self.events.clear()

    def send_watch_expired(self) -> None:
        """Every open watch gets an ERROR event with a 410 Status and ends; history is compacted."""
        with self.cond:
            self.compacted_rv = self.rv
            self.events.clear()
            self._error_generation += 1
            self.cond.notify_all()

    def requests_to(self, path: str) -> list[dict[str, str]]:
        with self.cond:
            return [q for _, p, q in self.requests if p == path]

    # --- objects -----------------------------------------------------------------------------

    def _emit(self, plural: str, kind: str, obj: dict[str, Any]) -> None:
        self.rv += 1
        obj["metadata"]["resourceVersion"] = str(self.rv)
        self.events.append((self.rv, plural, kind, copy.deepcopy(obj)))
        self.cond.notify_all()

    def put(self, plural: str, obj: dict[str, Any]) -> dict[str, Any]:
        """Create or replace an object (ADDED or MODIFIED)."""
        res = self.resources[plural]
        obj = copy.deepcopy(obj)
        meta = obj.setdefault("metadata", {})
        key = (meta.get("namespace", "") if res.namespaced else "", meta["name"])
        with self.cond:
            old = res.objects.get(key)
            meta.setdefault("uid", old["metadata"]["uid"] if old else str(uuid.uuid4()))
            meta.setdefault("creationTimestamp", "2026-01-01T00:00:00Z")
            obj.setdefault("apiVersion", res.api_version)
            obj.setdefault("kind", res.kind)
            if old is None:
                res._sorted = None
            res.objects[key] = obj
            self._emit(plural, "MODIFIED" if old else "ADDED", obj)
        return obj

    def put_many(self, plural: str, objs: Iterator[dict[str, Any]] | list[dict[str, Any]]) -> None:
        """Bulk load without watch events (a cluster that already exists)."""
        res = self.resources[plural]
        with self.cond:
            for obj in objs:
                meta = obj.setdefault("metadata", {})
                meta.setdefault("uid", str(uuid.uuid4()))
                self.rv += 1
                meta["resourceVersion"] = str(self.rv)
                obj.setdefault("apiVersion", res.api_version)
                obj.setdefault("kind", res.kind)
                res.objects[(meta.get("namespace", "") if res.namespaced else "", meta["name"])] = (
                    obj
                )
            res._sorted = None
            self.compacted_rv = self.rv  # as if loaded long ago
            self.events.clear()

    def delete(self, plural: str, name: str, namespace: str = "") -> None:
        res = self.resources[plural]
        with self.cond:
            obj = res.objects.pop((namespace, name))
            res._sorted = None
            self._emit(plural, "DELETED", obj)

    # --- HTTP --------------------------------------------------------------------------------

    def route(self, path: str) -> tuple[_Resource, str | None, str | None] | None:
        """(resource, namespace, name) for an API path, or None."""
        parts = [p for p in path.split("/") if p]
        if parts[:1] == ["api"]:
            gv, rest = "v1", parts[2:] if parts[1:2] == ["v1"] else None
        elif parts[:1] == ["apis"] and len(parts) >= 3:
            gv, rest = f"{parts[1]}/{parts[2]}", parts[3:]
        else:
            return None
        if rest is None:
            return None
        namespace = None
        if len(rest) >= 3 and rest[0] == "namespaces" and rest[2] in self.resources:
            namespace, rest = rest[1], rest[2:]
        if not rest or rest[0] not in self.resources:
            return None
        res = self.resources[rest[0]]
        if res.group_version != gv:
            return None
        if len(rest) == 2 and rest[0] == "namespaces":  # GET /api/v1/namespaces/NAME
            return res, None, rest[1]
        return res, namespace, rest[1] if len(rest) > 1 else None


def _make_handler(api: StandinAPIServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def setup(self) -> None:
            super().setup()
            with api.cond:
                api._connections.add(self.connection)

        def finish(self) -> None:
            with api.cond:
                api._connections.discard(self.connection)
            with contextlib.suppress(OSError):
                super().finish()

        def _send_json(self, code: int, body: Any) -> None:
            data = orjson.dumps(body)
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _authorized(self) -> bool:
            if self.headers.get("Authorization") == f"Bearer {api.token}":
                return True
            self._send_json(401, _status(401, "Unauthorized", "Unauthorized"))
            return False

        def _read_body(self) -> Any:
            length = int(self.headers.get("Content-Length") or 0)
            return orjson.loads(self.rfile.read(length)) if length else None

        def _query(self) -> tuple[str, dict[str, str]]:
            url = urlsplit(self.path)
            query = {k: v[-1] for k, v in parse_qs(url.query).items()}
            with api.cond:
                api.requests.append((self.command, url.path, query))
            return url.path, query

        def do_GET(self) -> None:
            try:
                self._get()
            except (ConnectionError, ssl.SSLError, OSError):
                self.close_connection = True

        def _get(self) -> None:
            path, query = self._query()
            if not self._authorized():
                return
            if path.rstrip("/") == "/version":
                self._send_json(
                    200,
                    {
                        "major": "1",
                        "minor": "30",
                        "gitVersion": api.git_version,
                        "platform": "linux/amd64",
                    },
                )
                return
            routed = api.route(path)
            if routed is None:
                self._send_json(404, _status(404, "NotFound", f"the server could not find {path}"))
                return
            res, namespace, name = routed
            if name is not None:
                with api.cond:
                    obj = res.objects.get((namespace or "", name))
                if obj is None:
                    self._send_json(
                        404, _status(404, "NotFound", f'{res.plural} "{name}" not found')
                    )
                else:
                    self._send_json(200, obj)
                return
            if query.get("watch") in ("true", "1"):
                self._watch(res, namespace, query)
            else:
                self._list(res, namespace, query)

        def _list(self, res: _Resource, namespace: str | None, query: dict[str, str]) -> None:
            limit = int(query.get("limit") or 0)
            with api.cond:
                list_rv, start = api.rv, None
                if query.get("continue"):
                    token = orjson.loads(base64.urlsafe_b64decode(query["continue"]))
                    expire, api.expire_next_continue = api.expire_next_continue, False
                    if expire or token["rv"] < api.compacted_rv:
                        self._send_json(
                            410,
                            _status(
                                410,
                                "Expired",
                                "The provided continue parameter is too old to display a consistent "
                                "list result. You can start a new list without the continue parameter.",
                            ),
                        )
                        return
                    list_rv, start = token["rv"], tuple(token["start"])
                keys = res.sorted_keys()
                items: list[dict[str, Any]] = []
                more: tuple[str, str] | None = None
                for key in keys:
                    if start is not None and key <= start:
                        continue
                    if namespace is not None and key[0] != namespace:
                        continue
                    if limit and len(items) == limit:
                        more = key
                        break
                    item = dict(res.objects[key])
                    item.pop("kind", None)  # list items carry no kind/apiVersion on the wire
                    item.pop("apiVersion", None)
                    items.append(item)
                api.max_items_per_response = max(api.max_items_per_response, len(items))
            meta: dict[str, Any] = {"resourceVersion": str(list_rv)}
            if more is not None:
                last = items[-1]["metadata"]
                last_key = (last.get("namespace", "") if res.namespaced else "", last["name"])
                meta["continue"] = base64.urlsafe_b64encode(
                    orjson.dumps({"rv": list_rv, "start": last_key})
                ).decode()
            self._send_json(
                200,
                {
                    "kind": f"{res.kind}List",
                    "apiVersion": res.api_version,
                    "metadata": meta,
                    "items": items,
                },
            )

        def _chunk(self, event: dict[str, Any]) -> None:
            data = orjson.dumps(event) + b"\n"
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()

        def _watch(self, res: _Resource, namespace: str | None, query: dict[str, str]) -> None:
            since = int(query.get("resourceVersion") or 0)
            deadline = time.monotonic() + float(query.get("timeoutSeconds") or 1800)
            bookmarks = query.get("allowWatchBookmarks") == "true"
            with api.cond:
                generation, error_generation = api._generation, api._error_generation
                expired = since and since < api.compacted_rv
            if expired and api.gone_as_status:
                self._send_json(410, _status(410, "Expired", f"too old resource version: {since}"))
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            if expired:
                self._chunk(
                    {
                        "type": "ERROR",
                        "object": _status(
                            410,
                            "Expired",
                            f"too old resource version: {since} ({api.compacted_rv})",
                        ),
                    }
                )
                self._end()
                return
            last_bookmark = time.monotonic()
            while True:
                with api.cond:
                    if api._generation != generation:
                        self.close_connection = True
                        return  # dropped: no terminating chunk, like a cut connection
                    if api._error_generation != error_generation:
                        pending: list[dict[str, Any]] | None = None
                    else:
                        pending = [
                            {"type": kind, "object": obj}
                            for rv, plural, kind, obj in api.events
                            if rv > since
                            and plural == res.plural
                            and (namespace is None or obj["metadata"].get("namespace") == namespace)
                        ]
                        if api.events:
                            since = max(since, api.events[-1][0])
                    if pending == []:
                        api.cond.wait(0.05)
                    current_rv = api.rv
                if pending is None:
                    self._chunk(
                        {
                            "type": "ERROR",
                            "object": _status(410, "Expired", "too old resource version"),
                        }
                    )
                    self._end()
                    return
                for event in pending:
                    self._chunk(event)
                now = time.monotonic()
                if bookmarks and now - last_bookmark >= api.bookmark_interval:
                    last_bookmark = now
                    self._chunk(
                        {
                            "type": "BOOKMARK",
                            "object": {
                                "kind": res.kind,
                                "apiVersion": res.api_version,
                                "metadata": {"resourceVersion": str(current_rv)},
                            },
                        }
                    )
                if now >= deadline:
                    self._end()
                    return

        def _end(self) -> None:
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()

        def do_POST(self) -> None:
            path, _ = self._query()
            if not self._authorized():
                return
            routed = api.route(path)
            body = self._read_body()
            if routed is None or routed[2] is not None:
                self._send_json(404, _status(404, "NotFound", path))
                return
            res, namespace, _ = routed
            body.setdefault("metadata", {})["namespace"] = namespace or ""
            with api.cond:
                if (namespace or "", body["metadata"]["name"]) in res.objects:
                    self._send_json(409, _status(409, "AlreadyExists", "already exists"))
                    return
            self._send_json(201, api.put(res.plural, body))

        def do_PUT(self) -> None:
            path, _ = self._query()
            if not self._authorized():
                return
            routed = api.route(path)
            body = self._read_body()
            if routed is None or routed[2] is None:
                self._send_json(404, _status(404, "NotFound", path))
                return
            res, namespace, name = routed
            with api.cond:
                old = res.objects.get((namespace or "", name))
            if old is None:
                self._send_json(404, _status(404, "NotFound", name))
                return
            if body["metadata"].get("resourceVersion") != old["metadata"]["resourceVersion"]:
                self._send_json(409, _status(409, "Conflict", "the object has been modified"))
                return
            body["metadata"].pop("resourceVersion")
            self._send_json(200, api.put(res.plural, body))

    return Handler
