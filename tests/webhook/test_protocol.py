"""A connection that is reset leaves nothing behind (app/webhook/protocol.py).

uvicorn's own HttpToolsProtocol keeps a connection that ended with an error (a reset, TLS
dropped without close_notify: what wrk, hey and a killed client do) alive until its keep-alive
timer fires, two minutes later with winpod's default: transport, TLS buffers and the last request
included. Here a real uvicorn connection stack (uvloop, TLS with winpod's context, the protocol
class `winpod serve` uses) answers requests on loopback; clients reset their connections after
a 70 KB review and the protocols must be gone at once, with a keep-alive of 120 s.
"""

from __future__ import annotations

import asyncio
import gc
import socket
import ssl
import struct
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
import uvloop
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState
from winpod.certs import make_ca, make_serving_cert
from winpod.webhook.protocol import WebhookHttpToolsProtocol
from winpod.webhook.tlsreload import CertReloader

BODY = b'{"pad":"' + b"x" * 70_000 + b'"}'
CONNECTIONS = 10


async def _asgi(
    scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]
) -> None:
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-length", b"2")]})  # fmt: skip
    await send({"type": "http.response.body", "body": b"ok"})


@pytest.fixture(scope="module")
def tls(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[ssl.SSLContext, ssl.SSLContext]]:
    """(server context as `winpod serve` builds it, client context trusting it)."""
    directory: Path = tmp_path_factory.mktemp("protocol-tls")
    ca = make_ca()
    serving = make_serving_cert(ca, ["localhost"], ["127.0.0.1"])
    (directory / "tls.crt").write_bytes(serving.cert_pem)
    (directory / "tls.key").write_bytes(serving.key_pem)
    server = CertReloader(directory / "tls.crt", directory / "tls.key").context
    client = ssl.create_default_context(cadata=ca.cert_pem.decode())
    yield server, client


def _request_then_close(port: int, context: ssl.SSLContext, reset: bool) -> bytes:
    """One POST with a large body on a new TLS connection; then a TCP reset (SO_LINGER 0, no
    close_notify) or a clean TLS close."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    with context.wrap_socket(raw, server_hostname="127.0.0.1") as conn:
        conn.sendall(
            b"POST /validate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(BODY), BODY)
        )
        reply = b""
        while not reply.endswith(b"ok"):
            chunk = conn.recv(4096)
            if not chunk:
                break
            reply += chunk
        if reset:
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            raw.close()  # the TCP socket under the TLS one: RST, no close_notify
        else:
            conn.unwrap()
    return reply


def _live_after_closing(
    protocol_class: type[HttpToolsProtocol],
    contexts: tuple[ssl.SSLContext, ssl.SSLContext],
    reset: bool,
) -> tuple[int, int, list[bytes]]:
    """(protocols made, protocols still alive once every connection is lost, replies)."""
    server_context, client_context = contexts
    config = uvicorn.Config(_asgi, http=protocol_class, timeout_keep_alive=120, log_level="error")
    config.load()
    state = ServerState()
    made: list[weakref.ref[HttpToolsProtocol]] = []

    def factory() -> HttpToolsProtocol:
        protocol = protocol_class(config=config, server_state=state, app_state={})
        made.append(weakref.ref(protocol))
        return protocol

    async def scenario() -> tuple[int, list[bytes]]:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(factory, "127.0.0.1", 0, ssl=server_context)
        port = server.sockets[0].getsockname()[1]
        replies = [
            await asyncio.to_thread(_request_then_close, port, client_context, reset)
            for _ in range(CONNECTIONS)
        ]
        for _ in range(200):  # until the loop has seen every connection go
            if not state.connections and not state.tasks:
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
        gc.collect()
        alive = sum(1 for ref in made if ref() is not None)
        server.close()
        await server.wait_closed()
        return alive, replies

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        alive, replies = runner.run(scenario())
    return len(made), alive, replies


@pytest.mark.parametrize("reset", [True, False], ids=["reset", "clean-close"])
def test_lost_connections_are_freed_at_once(
    tls: tuple[ssl.SSLContext, ssl.SSLContext], reset: bool
) -> None:
    made, alive, replies = _live_after_closing(WebhookHttpToolsProtocol, tls, reset)
    assert made == CONNECTIONS
    assert all(r.startswith(b"HTTP/1.1 200 ") and r.endswith(b"ok") for r in replies)
    assert alive == 0


def test_uvicorn_alone_keeps_reset_connections(tls: tuple[ssl.SSLContext, ssl.SSLContext]) -> None:
    """Why protocol.py exists. If this fails, uvicorn frees reset connections itself now and
    WebhookHttpToolsProtocol can go (keep the test above)."""
    made, alive, _ = _live_after_closing(HttpToolsProtocol, tls, reset=True)
    assert made == CONNECTIONS
    assert alive == CONNECTIONS
