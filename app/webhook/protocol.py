"""uvicorn's httptools protocol, hardened for a webhook that anyone on the network can reach.

uvicorn (0.54) has no limit on how long a client may take to send a request, nor on how many
connections it keeps, nor on the size of the request head: a client that connects and sends
nothing, or sends one header byte every few seconds, or announces a body and trickles it,
holds a connection (memory, a file descriptor) for as long as it likes. This protocol bounds
all three, and tells the app each time it closes a connection for it (`report`):

- **read deadline**: a request must arrive whole (head and body) within `read_seconds` of its
  first byte, and a new connection must bring its first request within `read_seconds` of the
  TLS handshake. Otherwise: 408 with a JSON error, and the connection is closed. The time the
  app takes to answer does not count; idle keep-alive connections are closed after
  webhook.keepAliveSeconds as before.
- **connection cap**: at most `max_connections` open at once. A connection over the cap makes
  the server close the one that has waited longest without being served (an idle keep-alive
  connection, a slow sender), never one whose request is being judged; only when every
  connection is being judged is the new one closed instead.
- **head size**: a request line and headers over `max_head_bytes` get 431 and a close.
- a malformed request (the HTTP parser gives up) gets its 400 as JSON, like every other
  refusal, and is reported with the parser's reason.

It also lets go of a connection as soon as it is lost: uvicorn cancels a connection's
keep-alive timer in `connection_lost` only when the connection ended cleanly (`exc is None`).
A client that resets the connection or drops TLS without close_notify (wrk, hey, a Go client
killed mid-pool, a load balancer) ends it with an exception, and then the armed timer kept the
dead protocol alive until it fired: the transport, uvloop's SSL protocol with its read buffer
(up to 256 KiB) and TLS state, the last request cycle.

TLS handshakes themselves are bounded by uvloop's handshake timeout (60 s).

This module imports only uvicorn (bench/echo_app.py loads it by file path, so that the echo
gets the same protocol without importing the web app).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

# (reason, HTTP status or 0 when none was sent, client address) -> None
Report = Callable[[str, int, str], None]

_REASONS = {408: "Request Timeout", 400: "Bad Request", 431: "Request Header Fields Too Large"}


def _no_report(reason: str, status: int, client: str) -> None:
    pass


class _Refused(Exception):
    """Raised from a parser callback to stop parsing a request already answered."""


class WebhookHttpToolsProtocol(HttpToolsProtocol):
    """HttpToolsProtocol with a read deadline, a connection cap and a head-size limit (see the
    module docstring); `configured` makes a subclass with the server's numbers and reporter."""

    read_seconds: float = 10.0
    max_connections: int = 1000
    max_head_bytes: int = 65536
    report: Report = staticmethod(_no_report)

    @classmethod
    def configured(
        cls,
        *,
        read_seconds: float,
        max_connections: int,
        max_head_bytes: int,
        report: Report,
    ) -> type[WebhookHttpToolsProtocol]:
        return type(
            "ConfiguredWebhookProtocol",
            (cls,),
            {
                "read_seconds": read_seconds,
                "max_connections": max_connections,
                "max_head_bytes": max_head_bytes,
                "report": staticmethod(report),
            },
        )

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._deadline: asyncio.TimerHandle | None = None
        self._head_bytes = 0
        self._judging = False  # between a whole request and its response: never evicted
        self._waiting_since = self.loop.time()
        super().connection_made(transport)
        if len(self.connections) > self.max_connections and not self._evict_one():
            self._refuse("over-capacity", 0, b"")
            return
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)
        # uvicorn does this only when exc is None; doing it again is a no-op then.
        self._unset_keepalive_if_required()
        # Queued pipelined requests will never run: no reason to keep their cycles (bodies).
        self.pipeline.clear()
        # super() has already told a running cycle it is disconnected (its task keeps its own
        # reference until it returns); the protocol need not keep it, its scope or its headers.
        self.cycle = None  # type: ignore[assignment]
        self.scope = None  # type: ignore[assignment]
        self.headers = None  # type: ignore[assignment]

    # --- the read deadline --------------------------------------------------------------

    def _arm(self) -> None:
        if self._deadline is None:
            self._deadline = self.loop.call_later(self.read_seconds, self._read_timed_out)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _read_timed_out(self) -> None:
        self._deadline = None
        if self.transport.is_closing() or self._judging:
            return
        self._refuse(
            "read-timeout", 408, f"request not received whole within {self.read_seconds:g} s"
        )

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_bytes = 0
        self._waiting_since = self.loop.time()
        self._arm()  # a no-op for a new connection's first request: its clock already runs

    def on_url(self, url: bytes) -> None:
        self._count_head(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count_head(len(name) + len(value))
        super().on_header(name, value)

    def on_message_complete(self) -> None:
        self._disarm()
        self._judging = True
        super().on_message_complete()

    def on_response_complete(self) -> None:
        self._judging = False
        self._waiting_since = self.loop.time()
        super().on_response_complete()

    # --- limits ---------------------------------------------------------------------------

    def _count_head(self, size: int) -> None:
        self._head_bytes += size
        if self._head_bytes > self.max_head_bytes:
            if not self.transport.is_closing():
                self._refuse(
                    "head-too-large",
                    431,
                    f"request line and headers over {self.max_head_bytes} bytes",
                )
            raise _Refused  # stops the parser (see data_received)

    def _evict_one(self) -> bool:
        """Close the connection that has waited longest without being served; False when
        every other connection is being judged."""
        victim: WebhookHttpToolsProtocol | None = None
        for other in self.connections:
            if other is self or not isinstance(other, WebhookHttpToolsProtocol):
                continue
            if other._judging or other.transport.is_closing():
                continue
            if victim is None or other._waiting_since < victim._waiting_since:
                victim = other
        if victim is None:
            return False
        victim._refuse("evicted", 0, b"")
        return True

    def data_received(self, data: bytes) -> None:
        # uvicorn's own version answers what its parser cannot read in plain text and logs no
        # reason; this one answers in JSON and reports the parser's reason.
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._unsupported_upgrade_warning()  # no WebSocket here: served as plain HTTP
        except httptools.HttpParserError as exc:
            if not self.transport.is_closing():  # else: already refused (see _count_head)
                self._refuse("invalid-http", 400, f"not a valid HTTP/1.1 request: {exc}")

    def _refuse(self, reason: str, status: int, message: str | bytes) -> None:
        """Answer `status` with a JSON error (unless 0: close without a word), close, report."""
        self._disarm()
        if status and (self.cycle is None or not self.cycle.response_started):
            text = message.decode() if isinstance(message, bytes) else message
            body = json.dumps({"error": text}).encode()
            self.transport.write(
                b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n"
                b"connection: close\r\n\r\n%s"
                % (status, _REASONS[status].encode(), len(body), body)
            )
        if self.cycle is not None:
            self.cycle.keep_alive = False
        self.transport.close()
        client = f"{self.client[0]}:{self.client[1]}" if self.client else ""
        self.report(reason, status, client)
