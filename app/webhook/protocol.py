"""uvicorn's httptools protocol, letting go of a connection as soon as it is lost.

uvicorn (0.54) cancels a connection's keep-alive timer in `connection_lost` only when the
connection ended cleanly (`exc is None`). A client that resets the connection or drops TLS
without close_notify (wrk, hey, a Go client killed mid-pool, a load balancer) ends it with an
exception, and then the armed timer keeps the dead protocol alive until it fires
(webhook.keepAliveSeconds, 120 s by default): the transport, uvloop's SSL protocol with its read
buffer (up to 256 KiB) and TLS state, the last request cycle. About 5 MiB of RSS per 25 such
connections that carried large reviews, held for two minutes.

This module imports only uvicorn (bench/echo_app.py loads it by file path, so that the echo
gets the same protocol without importing the web app).
"""

from __future__ import annotations

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class WebhookHttpToolsProtocol(HttpToolsProtocol):
    """HttpToolsProtocol whose `connection_lost` always cancels the keep-alive timer and drops
    the per-connection request state, however the connection ended."""

    def connection_lost(self, exc: Exception | None) -> None:
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
