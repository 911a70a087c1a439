"""Shared fixtures: a real `winpod serve` over TLS on loopback, with certificates made here.

`webhook_server` is a factory: `webhook_server(config)` starts `python -m winpod.cli serve` in a
subprocess with a fresh CA and serving certificate, waits until /readyz answers, and returns a
RunningWebhook (URL, CA file, keep-alive clients, the server's JSON log). Servers still running
at the end of the session are stopped. Tests that kill or reconfigure a server start their own;
the rest share `webhook` (the default catalog and a small test config).
"""

from __future__ import annotations

import http.client
import os
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from winpod.certs import KeyPair, make_ca, make_serving_cert
from winpod.config import Config

from tests.kube.fixtures import (  # noqa: F401 (fixtures: pytest finds them here by name)
    apiserver,
    apiservers,
    kube_control_plane,
    kube_namespace,
)

REPO = Path(__file__).resolve().parent.parent
LOOPBACK = "127.0.0.1"


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return orjson.loads(self.body)


class AdmissionClient:
    """One HTTP/1.1 keep-alive connection, reused like the apiserver's Go client reuses its."""

    def __init__(self, server: RunningWebhook, timeout: float = 10.0) -> None:
        self.server = server
        self.timeout = timeout
        self.connection = self._connect()
        self.requests = 0

    def _connect(self) -> http.client.HTTPSConnection:
        return http.client.HTTPSConnection(
            LOOPBACK, self.server.port, timeout=self.timeout, context=self.server.client_context()
        )

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        self.connection.request(method, path, body=body, headers=dict(headers or {}))
        response = self.connection.getresponse()
        data = response.read()
        self.requests += 1
        return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, data)

    def post_json(self, path: str, payload: Any, content_type: str = "application/json") -> Reply:
        body = payload if isinstance(payload, bytes) else orjson.dumps(payload)
        return self.request("POST", path, body, {"Content-Type": content_type})

    def review(self, review: Mapping[str, Any], path: str = "/validate") -> Reply:
        """POST like the apiserver: JSON body, ?timeout=10s."""
        return self.post_json(f"{path}?timeout=10s", dict(review))

    def get(self, path: str) -> Reply:
        return self.request("GET", path)

    def close(self) -> None:
        self.connection.close()


@dataclass
class RunningWebhook:
    port: int
    ca: KeyPair
    ca_file: Path
    cert_file: Path
    key_file: Path
    log_file: Path
    process: subprocess.Popen[bytes]
    clients: list[AdmissionClient] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"https://{LOOPBACK}:{self.port}"

    def client_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.ca_file))
        return context

    def client(self, timeout: float = 10.0) -> AdmissionClient:
        client = AdmissionClient(self, timeout)
        self.clients.append(client)
        return client

    def log_records(self) -> list[dict[str, Any]]:
        records = []
        for line in self.log_file.read_bytes().splitlines():
            if line.startswith(b"{"):
                records.append(orjson.loads(line))
        return records

    def rotate_certificate(self) -> KeyPair:
        """Re-sign under the same CA and replace the files the way the kubelet updates a mounted
        Secret: write elsewhere, then rename over (each file changes atomically)."""
        serving = make_serving_cert(self.ca, ["localhost"], [LOOPBACK])
        for target, data in ((self.cert_file, serving.cert_pem), (self.key_file, serving.key_pem)):
            staged = target.with_suffix(".new")
            staged.write_bytes(data)
            os.replace(staged, target)
        return serving

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 25.0) -> int:
        for client in self.clients:
            client.close()
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait(5)


StartWebhook = Callable[..., RunningWebhook]


def _serve(
    directory: Path,
    config: Config | Mapping[str, Any] | None,
    policies: Sequence[Path] | None,
    extra_args: Sequence[str],
    ready_timeout: float,
    env: Mapping[str, str] | None = None,
) -> RunningWebhook:
    directory.mkdir(parents=True, exist_ok=True)
    ca = make_ca()
    serving = make_serving_cert(ca, ["localhost"], [LOOPBACK])
    ca_file, cert_file, key_file = (
        directory / "ca.crt",
        directory / "tls.crt",
        directory / "tls.key",
    )
    ca_file.write_bytes(ca.cert_pem)
    cert_file.write_bytes(serving.cert_pem)
    key_file.write_bytes(serving.key_pem)
    config_file = directory / "winpod.yaml"
    if isinstance(config, Config):
        config = config.model_dump(mode="json", exclude_unset=True)
    config_file.write_text(yaml.safe_dump(dict(config or {})))
    log_file = directory / "server.log"
    command = [
        sys.executable, "-m", "winpod.cli", "serve",
        "--config", str(config_file),
        "--cert-file", str(cert_file),
        "--key-file", str(key_file),
        "--host", LOOPBACK,
        "--port", "0",
        "--cert-poll-seconds", "0.2",
        *[arg for p in policies or () for arg in ("--policies", str(p))],
        *extra_args,
    ]  # fmt: skip
    # A file, not a pipe: a pipe nobody reads fills up and blocks the server's log writes.
    with log_file.open("wb") as log:
        process = subprocess.Popen(
            command,
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **(env or {})},
        )
    deadline = time.monotonic() + ready_timeout
    port = None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"winpod serve exited with {process.returncode}:\n{log_file.read_text()}"
            )
        if port is None:
            for line in log_file.read_bytes().splitlines():
                if line.startswith(b"{") and b'"listening"' in line:
                    port = int(orjson.loads(line)["port"])
        if port is not None:
            server = RunningWebhook(port, ca, ca_file, cert_file, key_file, log_file, process)
            try:
                probe = AdmissionClient(server, timeout=2)
                ready = probe.get("/readyz").status == 200
                probe.close()
            except OSError:
                ready = False
            if ready:
                return server
        time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"winpod serve not ready in {ready_timeout}s:\n{log_file.read_text()}")


@pytest.fixture(scope="session")
def webhook_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StartWebhook]:
    """Factory: webhook_server(config=None, *, policies=None, extra_args=(), env=None)
    -> RunningWebhook (env: variables added to the server's environment).

    `config` is an app.config.Config or the same as a dict (written as the --config file)."""
    started: list[RunningWebhook] = []

    def start(
        config: Config | Mapping[str, Any] | None = None,
        *,
        policies: Sequence[Path] | None = None,
        extra_args: Sequence[str] = (),
        ready_timeout: float = 30.0,
        env: Mapping[str, str] | None = None,
    ) -> RunningWebhook:
        directory = tmp_path_factory.mktemp("webhook")
        server = _serve(directory, config, policies, extra_args, ready_timeout, env)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop(timeout=10)
