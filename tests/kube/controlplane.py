"""Real kube-apiservers on loopback: one etcd, one apiserver per Kubernetes minor version.

No kubelet, scheduler or controller-manager: objects are admitted and stored, never run. That is
what admission tests need (every validation, Pod Security, RuntimeClass and webhook decision the
real apiserver makes), and it starts in seconds. Two consequences callers must know:

- a namespace gets no `default` ServiceAccount by itself, and pods cannot be created without it,
  so use `ApiServer.ensure_namespace`;
- a deleted namespace stays `Terminating` forever (no namespace controller empties it), so make
  new namespaces instead of deleting old ones; the whole etcd is thrown away at the end.

Binaries: `KUBE_APISERVER` (one kube-apiserver, or a directory of `kube-apiserver-<minor>`
binaries), else `../shared/kube/kube-apiserver-<minor>.xz` beside the repository, unpacked once
into a cache under the system temp dir and checked against the sha256 sums in that folder's
`unpack.sh`. etcd: `KUBE_ETCD`, else `etcd` on PATH. `find_binaries` says why when something is
missing, so a suite can skip with a reason rather than fail.

Nothing here depends on pytest; tests/kube/fixtures.py wraps it in fixtures.
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import functools
import hashlib
import http.client
import lzma
import os
import re
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote, urlencode

import orjson
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

REPO = Path(__file__).resolve().parents[2]
SHARED_KUBE = REPO.parent / "shared" / "kube"
LOOPBACK = "127.0.0.1"
ADMISSION_PLUGINS = (
    "NamespaceLifecycle,ServiceAccount,RuntimeClass,PodSecurity,"
    "MutatingAdmissionWebhook,ValidatingAdmissionWebhook"
)

NO_APISERVER = (
    "no kube-apiserver: set KUBE_APISERVER to a binary or a directory of "
    "kube-apiserver-<minor> binaries, or put shared/kube beside the repo"
)
NO_ETCD = "no etcd: apt-get install etcd-server (or set KUBE_ETCD to an etcd binary)"

T = TypeVar("T")


# --- finding the binaries ------------------------------------------------------------------


@dataclass(frozen=True)
class Binaries:
    etcd: Path
    apiservers: Mapping[str, Path]  # "1.36" -> the kube-apiserver binary


def binary_minor(binary: Path) -> str:
    """ "1.36" from `kube-apiserver --version` ("Kubernetes v1.36.2")."""
    result = subprocess.run(
        [str(binary), "--version"], capture_output=True, text=True, timeout=60, check=False
    )
    match = re.search(r"\bv(\d+)\.(\d+)", result.stdout + result.stderr)
    if match is None:
        raise ValueError(f"{binary} --version printed no version: {result.stdout!r}")
    return f"{match[1]}.{match[2]}"


def _is_executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def _from_directory(directory: Path) -> dict[str, Path]:
    found = {}
    for path in directory.iterdir():
        match = re.fullmatch(r"kube-apiserver-(\d+\.\d+)", path.name)
        if match and _is_executable(path):
            found[match[1]] = path
    return found


def shared_checksums(shared: Path = SHARED_KUBE) -> dict[str, str]:
    """The sums unpack.sh checks ("[1.36]=f930..."): one list of sums for it and for us."""
    script = shared / "unpack.sh"
    if not script.is_file():
        return {}
    return dict(re.findall(r"\[(\d+\.\d+)\]=([0-9a-f]{64})", script.read_text()))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _unpack(archive: Path, target: Path, sha256: str) -> Path:
    if target.is_file() and _sha256(target) == sha256:
        return target
    # A name of our own, renamed over the target at the end: a concurrent run never sees a
    # half-written binary and never runs one that failed its checksum.
    staged = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}")
    digest = hashlib.sha256()
    try:
        with lzma.open(archive) as source, staged.open("wb") as out:
            while chunk := source.read(1 << 20):
                digest.update(chunk)
                out.write(chunk)
        if digest.hexdigest() != sha256:
            raise ValueError(f"checksum mismatch unpacking {archive}: got {digest.hexdigest()}")
        staged.chmod(0o755)
        os.replace(staged, target)
    finally:
        staged.unlink(missing_ok=True)
    return target


def default_cache_dir() -> Path:
    return Path(tempfile.gettempdir()) / f"winpod-kube-apiserver-{os.getuid()}"


def unpack_shared(shared: Path = SHARED_KUBE, cache: Path | None = None) -> dict[str, Path]:
    """Unpack shared/kube/kube-apiserver-<minor>.xz into the cache (once; later runs only
    re-check the sums). Raises ValueError when an archive has no known sum or does not match."""
    cache = cache or default_cache_dir()
    sums = shared_checksums(shared)
    archives = {}
    for archive in sorted(shared.glob("kube-apiserver-*.xz")):
        match = re.fullmatch(r"kube-apiserver-(\d+\.\d+)\.xz", archive.name)
        if match is None:
            continue
        if match[1] not in sums:
            raise ValueError(f"no sha256 for {archive.name} in {shared / 'unpack.sh'}")
        archives[match[1]] = archive
    if not archives:
        return {}
    cache.mkdir(parents=True, exist_ok=True)
    # lzma and hashlib release the GIL: the two binaries unpack on both cores at once.
    with ThreadPoolExecutor(len(archives)) as pool:
        futures = {
            minor: pool.submit(_unpack, archive, cache / f"kube-apiserver-{minor}", sums[minor])
            for minor, archive in archives.items()
        }
        return {minor: future.result() for minor, future in futures.items()}


def find_apiservers(environ: Mapping[str, str] | None = None) -> dict[str, Path] | str:
    """{minor: binary}, or the reason there is none."""
    environ = os.environ if environ is None else environ
    configured = environ.get("KUBE_APISERVER", "")
    if configured:
        path = Path(configured)
        if path.is_dir():
            found = _from_directory(path)
            if not found:
                return f"KUBE_APISERVER={configured} holds no kube-apiserver-<minor> binaries"
            return found
        if _is_executable(path):
            try:
                return {binary_minor(path): path}
            except (OSError, ValueError, subprocess.SubprocessError) as error:
                return f"KUBE_APISERVER={configured}: {error}"
        return f"KUBE_APISERVER={configured} is neither an executable nor a directory"
    if not SHARED_KUBE.is_dir():
        return NO_APISERVER
    try:
        found = unpack_shared(SHARED_KUBE)
    except (OSError, ValueError, lzma.LZMAError) as error:
        return f"cannot unpack {SHARED_KUBE}: {error}"
    return found or NO_APISERVER


def find_etcd(environ: Mapping[str, str] | None = None) -> Path | str:
    environ = os.environ if environ is None else environ
    configured = environ.get("KUBE_ETCD", "")
    if configured:
        if _is_executable(Path(configured)):
            return Path(configured)
        return f"KUBE_ETCD={configured} is not an executable"
    for candidate in (shutil.which("etcd"), "/usr/bin/etcd"):
        if candidate and _is_executable(Path(candidate)):
            return Path(candidate)
    return NO_ETCD


def find_kubectl(environ: Mapping[str, str] | None = None) -> Path | str:
    environ = os.environ if environ is None else environ
    candidate = environ.get("KUBECTL") or shutil.which("kubectl")
    if candidate and _is_executable(Path(candidate)):
        return Path(candidate)
    return "no kubectl on PATH (or set KUBECTL)"


def find_binaries(environ: Mapping[str, str] | None = None) -> Binaries | str:
    """Everything a control plane needs, or every reason it cannot start (joined by "; ")."""
    etcd = find_etcd(environ)
    apiservers = find_apiservers(environ)
    reasons = [found for found in (apiservers, etcd) if isinstance(found, str)]
    if reasons:
        return "; ".join(reasons)
    assert isinstance(etcd, Path) and isinstance(apiservers, dict)
    return Binaries(etcd, apiservers)


# --- talking to an apiserver ---------------------------------------------------------------


@dataclass(frozen=True)
class Kind:
    api_version: str  # "v1", "apps/v1", ...
    plural: str
    namespaced: bool


KINDS: dict[str, Kind] = {
    "Pod": Kind("v1", "pods", True),
    "PodTemplate": Kind("v1", "podtemplates", True),
    "ReplicationController": Kind("v1", "replicationcontrollers", True),
    "ServiceAccount": Kind("v1", "serviceaccounts", True),
    "ConfigMap": Kind("v1", "configmaps", True),
    "Namespace": Kind("v1", "namespaces", False),
    "Deployment": Kind("apps/v1", "deployments", True),
    "ReplicaSet": Kind("apps/v1", "replicasets", True),
    "StatefulSet": Kind("apps/v1", "statefulsets", True),
    "DaemonSet": Kind("apps/v1", "daemonsets", True),
    "Job": Kind("batch/v1", "jobs", True),
    "CronJob": Kind("batch/v1", "cronjobs", True),
    "RuntimeClass": Kind("node.k8s.io/v1", "runtimeclasses", False),
    "ValidatingWebhookConfiguration": Kind(
        "admissionregistration.k8s.io/v1", "validatingwebhookconfigurations", False
    ),
    "MutatingWebhookConfiguration": Kind(
        "admissionregistration.k8s.io/v1", "mutatingwebhookconfigurations", False
    ),
}


def resource_path(
    kind: str, namespace: str | None = None, name: str | None = None, api_version: str = ""
) -> str:
    """The collection (or, with a name, the object) path of a kind in KINDS; `api_version`
    overrides the kind's usual one (e.g. batch/v1beta1 CronJobs on an old server)."""
    try:
        known = KINDS[kind]
    except KeyError:
        raise ValueError(f"unknown kind {kind!r} (known: {', '.join(sorted(KINDS))})") from None
    version = api_version or known.api_version
    path = "/api/v1" if version == "v1" else f"/apis/{version}"
    if known.namespaced:
        path += f"/namespaces/{quote(namespace or 'default', safe='')}"
    path += f"/{known.plural}"
    if name is not None:
        path += f"/{quote(name, safe='')}"
    return path


_WARNING = re.compile(r'\s*(\d{3}) (\S+) "((?:[^"\\]|\\.)*)"(?: "[^"]*")?\s*(?:,|$)')


def parse_warning_headers(values: Iterable[str]) -> list[str]:
    """The texts of `Warning: 299 - "text"` headers (RFC 7234 warn-value lists; the quoted text
    has backslash escapes). A value that does not parse is kept whole rather than dropped."""
    texts: list[str] = []
    for raw in values:
        # http.client decodes header bytes as latin-1; the apiserver sends UTF-8 text.
        value = raw.encode("latin-1", "replace").decode("utf-8", "replace")
        parsed: list[str] = []
        position = 0
        while value[position:].strip():
            match = _WARNING.match(value, position)
            if match is None:
                parsed = [value.strip()]
                break
            parsed.append(re.sub(r"\\(.)", r"\1", match[3]))
            position = match.end()
        texts.extend(parsed)
    return texts


@dataclass(frozen=True)
class ApiResponse:
    status: int
    body_json: Any  # parsed JSON, or None when the body was not JSON
    warnings: list[str]
    text: str = ""


@dataclass(frozen=True)
class Cause:
    field: str
    reason: str
    message: str


@dataclass(frozen=True)
class ApiVerdict:
    """The apiserver's answer to a create or update, as kubectl would report it."""

    allowed: bool
    code: int
    reason: str  # the Status reason ("Invalid", "Forbidden", ...); "" when allowed
    message: str
    causes: list[Cause]
    warnings: list[str]
    object: dict[str, Any] | None  # what the server would store, when allowed

    @property
    def fields(self) -> list[str]:
        return [cause.field for cause in self.causes]

    @classmethod
    def from_response(cls, response: ApiResponse) -> ApiVerdict:
        body = response.body_json if isinstance(response.body_json, dict) else {}
        if 200 <= response.status < 300:
            return cls(True, response.status, "", "", [], response.warnings, body)
        details = body.get("details") or {}
        causes = [
            Cause(cause.get("field", ""), cause.get("reason", ""), cause.get("message", ""))
            for cause in details.get("causes") or ()
        ]
        return cls(
            allowed=False,
            code=int(body.get("code", response.status)),
            reason=str(body.get("reason", "")),
            message=str(body.get("message", response.text)),
            causes=causes,
            warnings=response.warnings,
            object=None,
        )


class ApiError(RuntimeError):
    def __init__(self, what: str, response: ApiResponse) -> None:
        super().__init__(f"{what}: HTTP {response.status}: {response.text[:2000]}")
        self.response = response


# Webhook rules: what winpod's own install registers (deploy/), CREATE and UPDATE.
_VALIDATE_RULES = [
    {
        "apiGroups": [""],
        "apiVersions": ["v1"],
        "operations": ["CREATE", "UPDATE"],
        "resources": ["pods", "pods/ephemeralcontainers", "podtemplates", "replicationcontrollers"],
        "scope": "Namespaced",
    },
    {
        "apiGroups": ["apps"],
        "apiVersions": ["v1"],
        "operations": ["CREATE", "UPDATE"],
        "resources": ["deployments", "replicasets", "statefulsets", "daemonsets"],
        "scope": "Namespaced",
    },
    {
        "apiGroups": ["batch"],
        "apiVersions": ["v1"],
        "operations": ["CREATE", "UPDATE"],
        "resources": ["jobs", "cronjobs"],
        "scope": "Namespaced",
    },
]
_MUTATE_RULES = [
    {
        "apiGroups": [""],
        "apiVersions": ["v1"],
        "operations": ["CREATE"],
        "resources": ["pods"],
        "scope": "Namespaced",
    }
]


def wait_for(probe: Callable[[], T], *, timeout: float = 15.0, interval: float = 0.1) -> T:
    """Call `probe` until it returns something truthy and return that; TimeoutError (naming the
    last result) if it never does within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise TimeoutError(f"still {result!r} after {timeout}s")
        time.sleep(interval)


class ApiServer:
    """One running kube-apiserver: HTTPS on loopback, a bearer token with system:masters."""

    def __init__(
        self,
        minor: str,
        port: int,
        token: str,
        ca_file: Path,
        directory: Path,
        process: Process | None = None,
    ) -> None:
        self.minor = minor
        self.port = port
        self.token = token
        self.ca_file = ca_file  # the self-signed certificate (and its CA) from --cert-dir
        self.directory = directory
        self.process = process
        self.kubeconfig = directory / "kubeconfig.yaml"
        self._write_kubeconfig()
        self._context: ssl.SSLContext | None = None  # once the apiserver has written its cert
        self._connection: http.client.HTTPSConnection | None = None
        self._lock = threading.Lock()
        self.version = ""  # gitVersion from /version, e.g. "v1.36.2", set by ControlPlane

    def __repr__(self) -> str:
        return f"ApiServer({self.minor}, {self.url})"

    @property
    def url(self) -> str:
        return f"https://{LOOPBACK}:{self.port}"

    def _write_kubeconfig(self) -> None:
        name = f"k8s-{self.minor}"
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": name,
                    "cluster": {"server": self.url, "certificate-authority": str(self.ca_file)},
                }
            ],
            "users": [{"name": "admin", "user": {"token": self.token}}],
            "contexts": [{"name": name, "context": {"cluster": name, "user": "admin"}}],
            "current-context": name,
        }
        self.kubeconfig.write_text(yaml.safe_dump(config, sort_keys=False))

    # -- raw HTTP

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        query: Mapping[str, str] | None = None,
        content_type: str = "application/json",
    ) -> ApiResponse:
        """One request on a kept-alive connection. `body`: bytes or str as is, else JSON."""
        if query:
            path += ("&" if "?" in path else "?") + urlencode(dict(query))
        headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}
        data: bytes | None = None
        if body is not None:
            if isinstance(body, bytes):
                data = body
            elif isinstance(body, str):
                data = body.encode()
            else:
                data = orjson.dumps(body)
            headers["Content-Type"] = content_type
        with self._lock:
            for attempt in (1, 2):
                reused = self._connection is not None
                if self._connection is None:
                    if self._context is None:
                        self._context = ssl.create_default_context(cafile=str(self.ca_file))
                    self._connection = http.client.HTTPSConnection(
                        LOOPBACK, self.port, timeout=30, context=self._context
                    )
                try:
                    self._connection.request(method, path, body=data, headers=headers)
                    response = self._connection.getresponse()
                    raw = response.read()
                    break
                except (OSError, http.client.HTTPException) as error:
                    # Whatever broke, this connection is unusable now (http.client would refuse
                    # every later request with CannotSendRequest): drop it.
                    self.close()
                    # A connection the server closed while idle fails before it is read
                    # (RemoteDisconnected, a reset, or TLS's close_notify seen as SSLEOFError on
                    # the next write): one retry on a new one. A fresh connection failing, or a
                    # timeout, is a real error.
                    idle_close = isinstance(
                        error,
                        (http.client.RemoteDisconnected, ConnectionError, ssl.SSLEOFError),
                    )
                    if attempt == 2 or not reused or not idle_close:
                        raise
        text = raw.decode("utf-8", "replace")
        try:
            parsed = orjson.loads(raw) if raw else None
        except orjson.JSONDecodeError:
            parsed = None
        warnings = parse_warning_headers(response.headers.get_all("Warning") or ())
        return ApiResponse(response.status, parsed, warnings, text)

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def _checked(self, what: str, response: ApiResponse, *ok: int) -> dict[str, Any]:
        if response.status not in (ok or (200, 201)):
            raise ApiError(what, response)
        return response.body_json if isinstance(response.body_json, dict) else {}

    # -- objects

    @staticmethod
    def _target(obj: Mapping[str, Any], namespace: str) -> str:
        metadata = obj.get("metadata") or {}
        return resource_path(
            obj["kind"],
            metadata.get("namespace") or namespace,
            api_version=obj.get("apiVersion", ""),
        )

    def dry_run_create(
        self,
        obj: Mapping[str, Any],
        namespace: str = "default",
        *,
        field_validation: str = "Strict",
    ) -> ApiVerdict:
        """What `kubectl create --dry-run=server` asks: the whole admission chain, nothing stored.
        (1.24 ignores fieldValidation: its feature gate is off there.)"""
        response = self.request(
            "POST",
            self._target(obj, namespace),
            obj,
            query={"dryRun": "All", "fieldValidation": field_validation},
        )
        return ApiVerdict.from_response(response)

    def create(self, obj: Mapping[str, Any], namespace: str = "default") -> ApiVerdict:
        """A real create (stored); check `.allowed`."""
        return ApiVerdict.from_response(self.request("POST", self._target(obj, namespace), obj))

    def get(self, kind: str, name: str, namespace: str = "default") -> dict[str, Any] | None:
        """The object, or None when it does not exist."""
        response = self.request("GET", resource_path(kind, namespace, name))
        if response.status == 404:
            return None
        return self._checked(f"get {kind} {namespace}/{name}", response, 200)

    def delete(self, kind: str, name: str, namespace: str = "default") -> bool:
        """True if it was there. Pods are never bound to a node here, so they go at once."""
        response = self.request("DELETE", resource_path(kind, namespace, name))
        if response.status == 404:
            return False
        self._checked(f"delete {kind} {namespace}/{name}", response, 200, 202)
        return True

    def ensure_namespace(self, name: str, labels: Mapping[str, str] | None = None) -> None:
        """The namespace (with these labels merged in) and its `default` ServiceAccount, which no
        controller-manager makes here; idempotent. Returns once the ServiceAccount is readable."""
        metadata: dict[str, Any] = {"name": name}
        if labels:
            metadata["labels"] = dict(labels)
        body = {"apiVersion": "v1", "kind": "Namespace", "metadata": metadata}
        response = self.request("POST", resource_path("Namespace"), body)
        if response.status == 409:
            current = self._checked(
                f"get namespace {name}", self.request("GET", resource_path("Namespace", name=name))
            )
            if current.get("status", {}).get("phase") == "Terminating":
                raise RuntimeError(f"namespace {name} is Terminating (no controller empties it)")
            if labels and any(
                current["metadata"].get("labels", {}).get(k) != v for k, v in labels.items()
            ):
                self._checked(
                    f"label namespace {name}",
                    self.request(
                        "PATCH",
                        resource_path("Namespace", name=name),
                        {"metadata": {"labels": dict(labels)}},
                        content_type="application/merge-patch+json",
                    ),
                    200,
                )
        else:
            self._checked(f"create namespace {name}", response, 201)
        account = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default"}}
        response = self.request("POST", resource_path("ServiceAccount", name), account)
        self._checked(f"create serviceaccount {name}/default", response, 201, 409)
        wait_for(lambda: self.get("ServiceAccount", "default", name) is not None, timeout=10)

    def ephemeral_dry_run(
        self, namespace: str, pod_name: str, ephemeral_containers: Sequence[Mapping[str, Any]]
    ) -> ApiVerdict:
        """Add ephemeral containers to a stored pod as `kubectl debug` does (the pod with its
        list extended, PUT to the ephemeralcontainers subresource), as a dry run."""
        pod = self.get("Pod", pod_name, namespace)
        if pod is None:
            raise LookupError(f"no pod {namespace}/{pod_name}")
        spec = pod.setdefault("spec", {})
        spec["ephemeralContainers"] = [
            *spec.get("ephemeralContainers", []),
            *map(dict, ephemeral_containers),
        ]
        path = resource_path("Pod", namespace, pod_name) + "/ephemeralcontainers"
        return ApiVerdict.from_response(self.request("PUT", path, pod, query={"dryRun": "All"}))

    # -- kubectl

    def kubectl(
        self, *args: str, input: str | None = None, check: bool = False, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        """The system kubectl against this server (stdout and stderr apart: admission warnings
        are printed on stderr as "Warning: ...")."""
        kubectl = find_kubectl()
        if isinstance(kubectl, str):
            raise FileNotFoundError(kubectl)
        command = [
            str(kubectl),
            f"--kubeconfig={self.kubeconfig}",
            f"--cache-dir={self.directory / 'kubectl-cache'}",
            *args,
        ]
        return subprocess.run(
            command,
            input=input,
            capture_output=True,
            text=True,
            check=check,
            timeout=timeout,
        )

    # -- webhooks

    def _apply(self, obj: dict[str, Any]) -> None:
        kind, name = obj["kind"], obj["metadata"]["name"]
        response = self.request("POST", resource_path(kind), obj)
        if response.status == 409:
            current = self._checked(
                f"get {kind} {name}", self.request("GET", resource_path(kind, name=name))
            )
            obj["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
            response = self.request("PUT", resource_path(kind, name=name), obj)
        self._checked(f"apply {kind} {name}", response, 200, 201)

    def register_webhooks(
        self,
        name: str,
        *,
        validate_url: str | None = None,
        mutate_url: str | None = None,
        ca_bundle_pem: bytes | str,
        namespace_selector: Mapping[str, Any] | None = None,
        failure_policy: str = "Fail",
        probe: Callable[[], object] | None = None,
        timeout: float = 15.0,
    ) -> None:
        """Create or replace the Validating- and MutatingWebhookConfiguration `name` calling
        these URLs (a configuration whose URL is None is removed). The apiserver loads them
        from a watch, some time later: with `probe`, return only once probe() is truthy."""
        bundle = ca_bundle_pem.encode() if isinstance(ca_bundle_pem, str) else ca_bundle_pem
        common = {
            "failurePolicy": failure_policy,
            "sideEffects": "None",
            "admissionReviewVersions": ["v1"],
            "timeoutSeconds": 10,
            "namespaceSelector": dict(namespace_selector or {}),
        }
        for kind, url, rules, extra, prefix in (
            ("ValidatingWebhookConfiguration", validate_url, _VALIDATE_RULES, {}, "validate"),
            (
                "MutatingWebhookConfiguration",
                mutate_url,
                _MUTATE_RULES,
                {"reinvocationPolicy": "IfNeeded"},
                "mutate",
            ),
        ):
            if url is None:
                self.delete(kind, name)
                continue
            webhook = {
                # Webhook names must be fully qualified (three segments at least).
                "name": f"{prefix}.{name}.winpod.test",
                "clientConfig": {"url": url, "caBundle": base64.b64encode(bundle).decode()},
                "rules": rules,
                **common,
                **extra,
            }
            self._apply(
                {
                    "apiVersion": "admissionregistration.k8s.io/v1",
                    "kind": kind,
                    "metadata": {"name": name},
                    "webhooks": [webhook],
                }
            )
        if probe is not None:
            self.wait_for_webhook(probe, timeout=timeout)

    def unregister_webhooks(self, name: str) -> None:
        for kind in ("ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"):
            self.delete(kind, name)

    def wait_for_webhook(self, probe: Callable[[], T], *, timeout: float = 15.0) -> T:
        """Poll `probe` (e.g. a dry-run create whose verdict shows the webhook's effect) until it
        returns something truthy: webhook configurations reach the admission chain through
        the apiserver's own informer, not with the write that created them."""
        return wait_for(probe, timeout=timeout, interval=0.1)


# --- processes -----------------------------------------------------------------------------


def _die_with_parent() -> None:
    # A pytest killed by a timeout or ^C must not leave etcd and two apiservers behind, holding
    # ports and both cores. PR_SET_PDEATHSIG = 1.
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)


@dataclass(eq=False)  # hashable by identity: kept in dicts while starting
class Process:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    @classmethod
    def start(cls, name: str, command: Sequence[str], log: Path) -> Process:
        with log.open("wb") as out:  # a file, not a pipe nobody reads
            popen = subprocess.Popen(
                list(command),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                preexec_fn=_die_with_parent,
            )
        return cls(name, popen, log)

    def tail(self, lines: int = 40) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def check_running(self) -> None:
        if self.popen.poll() is not None:
            raise RuntimeError(
                f"{self.name} exited with {self.popen.returncode}; last lines of {self.log}:\n"
                f"{self.tail()}"
            )

    def stop(self, timeout: float = 15.0) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
        self.popen.wait()


def free_ports(count: int) -> list[int]:
    # All bound before any is released, so the same port is never handed out twice.
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind((LOOPBACK, 0))
        return [sock.getsockname()[1] for sock in sockets]


def _http_status(port: int, path: str, *, tls: bool, token: str = "") -> int | None:
    connection: http.client.HTTPConnection
    if tls:
        context = ssl.create_default_context()
        # Only while starting: the certificate is still being written; later requests verify.
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        connection = http.client.HTTPSConnection(LOOPBACK, port, timeout=2, context=context)
    else:
        connection = http.client.HTTPConnection(LOOPBACK, port, timeout=2)
    try:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        response.read()
        return response.status
    except (OSError, http.client.HTTPException):
        return None
    finally:
        connection.close()


def _wait_ready(processes: Mapping[Process, Callable[[], bool]], timeout: float, what: str) -> None:
    pending = dict(processes)
    deadline = time.monotonic() + timeout
    while pending:
        for process, ready in list(pending.items()):
            process.check_running()
            if ready():
                del pending[process]
        if not pending:
            return
        if time.monotonic() >= deadline:
            process = next(iter(pending))
            raise TimeoutError(
                f"{process.name} not {what} after {timeout}s; last lines of {process.log}:\n"
                f"{process.tail()}"
            )
        time.sleep(0.1)


class ControlPlane:
    """etcd and one kube-apiserver per minor version (each under its own --etcd-prefix in the
    one etcd), in a temp dir removed by stop()."""

    def __init__(self, binaries: Binaries, directory: Path, token: str) -> None:
        self.binaries = binaries
        self.directory = directory
        self.token = token
        self.etcd: Process | None = None
        self.servers: dict[str, ApiServer] = {}
        self.processes: list[Process] = []
        self.startup_seconds = 0.0

    @classmethod
    def start(
        cls,
        binaries: Binaries,
        *,
        minors: Iterable[str] | None = None,
        directory: Path | None = None,
        timeout: float = 90.0,
    ) -> ControlPlane:
        """Start etcd, then the apiservers at once; return when all answer /readyz and the
        `default` namespace has its ServiceAccount. On failure everything started is stopped
        and the error carries the tail of the failing process's log."""
        started = time.monotonic()
        chosen = sorted(binaries.apiservers if minors is None else minors)
        if missing := [m for m in chosen if m not in binaries.apiservers]:
            raise ValueError(f"no kube-apiserver {', '.join(missing)}")
        plane = cls(
            binaries,
            directory or Path(tempfile.mkdtemp(prefix="winpod-kube-")),
            secrets.token_urlsafe(24),
        )
        try:
            plane._start(binaries, chosen, timeout)
        except BaseException:
            plane.stop(remove=False)  # the logs the error points at stay readable
            raise
        plane.startup_seconds = time.monotonic() - started
        return plane

    def _start(self, binaries: Binaries, minors: list[str], timeout: float) -> None:
        d = self.directory
        d.mkdir(parents=True, exist_ok=True)
        client_port, peer_port, *server_ports = free_ports(2 + len(minors))
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        (d / "sa.key").write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.TraditionalOpenSSL,
                serialization.NoEncryption(),
            )
        )
        (d / "sa.pub").write_bytes(
            key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
        (d / "tokens.csv").write_text(f"{self.token},admin,admin,system:masters\n")
        etcd_url = f"http://{LOOPBACK}:{client_port}"
        peer_url = f"http://{LOOPBACK}:{peer_port}"
        self.etcd = Process.start(
            "etcd",
            [
                str(binaries.etcd),
                f"--data-dir={d / 'etcd'}",
                f"--listen-client-urls={etcd_url}",
                f"--advertise-client-urls={etcd_url}",
                f"--listen-peer-urls={peer_url}",
                f"--initial-advertise-peer-urls={peer_url}",
                f"--initial-cluster=default={peer_url}",
                "--logger=zap",
                "--log-outputs=stderr",
            ],
            d / "etcd.log",
        )
        self.processes.append(self.etcd)
        _wait_ready(
            {self.etcd: lambda: _http_status(client_port, "/health", tls=False) == 200},
            timeout=30,
            what="healthy",
        )
        pending: dict[Process, Callable[[], bool]] = {}
        for minor, port in zip(minors, server_ports, strict=True):
            server_dir = d / f"apiserver-{minor}"
            server_dir.mkdir()
            process = Process.start(
                f"kube-apiserver {minor}",
                [
                    str(binaries.apiservers[minor]),
                    f"--etcd-servers={etcd_url}",
                    f"--etcd-prefix=/registry-{minor}",
                    f"--bind-address={LOOPBACK}",
                    f"--secure-port={port}",
                    f"--cert-dir={server_dir / 'certs'}",
                    f"--token-auth-file={d / 'tokens.csv'}",
                    "--authorization-mode=RBAC",
                    f"--service-account-key-file={d / 'sa.pub'}",
                    f"--service-account-signing-key-file={d / 'sa.key'}",
                    "--service-account-issuer=https://kubernetes.default.svc",
                    "--service-cluster-ip-range=10.0.0.0/24",
                    "--allow-privileged=true",
                    f"--enable-admission-plugins={ADMISSION_PLUGINS}",
                ],
                server_dir / "apiserver.log",
            )
            self.processes.append(process)
            self.servers[minor] = ApiServer(
                minor, port, self.token, server_dir / "certs" / "apiserver.crt", server_dir, process
            )
            pending[process] = functools.partial(self._ready, port)
        _wait_ready(pending, timeout=timeout, what="ready")
        for server in self.servers.values():
            server.version = server._checked("GET /version", server.request("GET", "/version"))[
                "gitVersion"
            ]
            server.ensure_namespace("default")

    def _ready(self, port: int) -> bool:
        return _http_status(port, "/readyz", tls=True, token=self.token) == 200

    def stop(self, *, remove: bool = True) -> None:
        """Stop the apiservers, then etcd (terminate, wait, kill), and remove the directory."""
        for server in self.servers.values():
            server.close()
        apiservers = [p for p in self.processes if p is not self.etcd]
        for process in apiservers:
            if process.popen.poll() is None:
                process.popen.terminate()
        for process in apiservers:
            process.stop()
        if self.etcd is not None:
            self.etcd.stop()
        if remove:
            shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> ControlPlane:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
