"""Slow, idle and malformed clients against a real `winpod serve` (app/webhook/protocol.py):
the read deadline, the connection cap, the head limit, and a JSON answer and a count for each.

The server here runs with small limits so that each takes a fraction of a second to show.
"""

from __future__ import annotations

import json
import socket
import ssl
import time
from collections.abc import Callable, Iterator

import pytest

from tests.conftest import RunningWebhook, StartWebhook

READ_SECONDS = 0.5
MAX_CONNECTIONS = 4
Connect = Callable[[], ssl.SSLSocket]
LIMITS = {
    "webhook": {
        "readTimeoutSeconds": READ_SECONDS,
        "maxConnections": MAX_CONNECTIONS,
        "maxHeadBytes": 2048,
    }
}


@pytest.fixture(scope="module")
def server(webhook_server: StartWebhook) -> RunningWebhook:
    return webhook_server(LIMITS)


@pytest.fixture
def connect(server: RunningWebhook) -> Iterator[Connect]:
    opened: list[ssl.SSLSocket] = []

    def open_one() -> ssl.SSLSocket:
        raw = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        tls = server.client_context().wrap_socket(raw, server_hostname="localhost")
        opened.append(tls)
        return tls

    yield open_one
    for sock in opened:
        sock.close()


def read_answer(sock: ssl.SSLSocket) -> tuple[int | None, dict[str, object] | None, float]:
    """(status, JSON body, seconds until the server closed) of what the server sends."""
    started = time.monotonic()
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except (ConnectionResetError, ssl.SSLError):
            break
        if not chunk:
            break
        data += chunk
    elapsed = time.monotonic() - started
    if not data:
        return None, None, elapsed
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body), elapsed


def metric(server: RunningWebhook, name: str) -> float:
    client = server.client()
    text = client.get("/metrics").body.decode()
    client.close()
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_a_connection_that_sends_nothing_gets_408_after_the_read_timeout(connect: Connect) -> None:
    status, body, elapsed = read_answer(connect())
    assert status == 408
    assert body == {"error": f"request not received whole within {READ_SECONDS:g} s"}
    assert READ_SECONDS * 0.8 < elapsed < READ_SECONDS + 2


def test_headers_that_trickle_in_are_cut_off_at_the_read_timeout(connect: Connect) -> None:
    sock = connect()
    sock.sendall(b"POST /validate HTTP/1.1\r\nHost: x\r\n")
    started = time.monotonic()
    try:
        while time.monotonic() - started < READ_SECONDS + 2:
            sock.sendall(b"X-Slow: a\r\n")
            time.sleep(0.1)
    except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
        pass  # closed while we were still sending: what the deadline is for
    status, _, _ = read_answer(sock)
    assert status in (408, None)  # the 408 may be lost when the client is still sending
    assert time.monotonic() - started < READ_SECONDS + 3


def test_a_body_that_trickles_in_gets_408_at_the_read_timeout(connect: Connect) -> None:
    sock = connect()
    sock.sendall(
        b"POST /validate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 100000\r\n\r\n{"
    )
    status, body, elapsed = read_answer(sock)
    assert status == 408
    assert body is not None and "within" in str(body["error"])
    assert elapsed < READ_SECONDS + 2


def test_over_the_connection_cap_the_longest_waiting_connection_makes_room(
    server: RunningWebhook, connect: Connect
) -> None:
    idle = [connect() for _ in range(MAX_CONNECTIONS)]
    evicted_before = metric(server, 'winpod_connections_closed_total{reason="evicted"}')
    client = server.client()
    assert client.get("/healthz").status == 200  # served although the cap was reached
    client.close()
    status, _, elapsed = read_answer(idle[0])  # the first idle one was the one closed
    assert status is None and elapsed < READ_SECONDS
    assert metric(server, 'winpod_connections_closed_total{reason="evicted"}') > evicted_before


def test_a_request_head_over_the_limit_gets_431(connect: Connect) -> None:
    sock = connect()
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 4096 + b"\r\n\r\n")
    status, body, _ = read_answer(sock)
    assert status == 431
    assert body == {"error": "request line and headers over 2048 bytes"}


def test_what_the_http_parser_cannot_read_gets_a_json_400_with_the_reason(connect: Connect) -> None:
    sock = connect()
    sock.sendall(b"NOT HTTP AT ALL\r\n\r\n")
    status, body, _ = read_answer(sock)
    assert status == 400
    assert body is not None and str(body["error"]).startswith("not a valid HTTP/1.1 request: ")


def test_each_closed_connection_is_counted_by_reason_and_status_and_logged(
    server: RunningWebhook, connect: Connect
) -> None:
    before = metric(server, 'winpod_connections_closed_total{reason="read-timeout"}')
    before_408 = metric(server, 'winpod_bad_requests_total{code="408"}')
    read_answer(connect())
    assert metric(server, 'winpod_connections_closed_total{reason="read-timeout"}') == before + 1
    assert metric(server, 'winpod_bad_requests_total{code="408"}') == before_408 + 1
    closed = [r for r in server.log_records() if r.get("event") == "connection-closed"]
    assert any(r["reason"] == "read-timeout" and r["status"] == 408 for r in closed)
    assert all(r["level"] == "warning" and r["client"].startswith("127.0.0.1:") for r in closed)
