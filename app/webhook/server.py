"""uvicorn, configured for an admission webhook, with a drain period on SIGTERM.

When Kubernetes stops a pod it sends SIGTERM while the endpoint removal is still on its way to
every node and to the apiserver; a server that stops listening at once refuses the reviews sent
meanwhile, and with `failurePolicy: Fail` those are failed pod creations. With a drain period
the server keeps answering (and /readyz fails, which speeds the removal) for that long, then
shuts down gracefully: in-flight reviews finish, idle keep-alive connections close.
"""

from __future__ import annotations

import gc
import signal
import socket
import threading
from types import FrameType

import uvicorn

from ..config import Config
from .fastpath import ReviewEndpoints
from .logs import JsonLog, uvicorn_log_config
from .memory import fix_malloc_thresholds
from .protocol import Report, WebhookHttpToolsProtocol
from .tlsreload import CertReloader

# Kubernetes gives 30 s between SIGTERM and SIGKILL by default: drain plus this fit inside it.
GRACEFUL_SHUTDOWN_SECONDS = 20


class DrainingServer(uvicorn.Server):
    def __init__(
        self, config: uvicorn.Config, app: ReviewEndpoints, drain_seconds: float, log: JsonLog
    ):
        super().__init__(config)
        self.app = app
        self.drain_seconds = drain_seconds
        self.log = log
        self._timer: threading.Timer | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if sig == signal.SIGTERM and self.drain_seconds > 0 and self._timer is None:
            self.app.state.draining = True
            self.log.emit("info", "draining", {"seconds": self.drain_seconds})
            # A signal handler must return quickly; uvicorn's loop polls should_exit.
            self._timer = threading.Timer(self.drain_seconds, super().handle_exit, (sig, frame))
            self._timer.daemon = True
            self._timer.start()
            return
        if self._timer is not None:
            self._timer.cancel()  # a second signal: stop draining, shut down now
        super().handle_exit(sig, frame)


def run_webhook(
    app: ReviewEndpoints,
    config: Config,
    tls: CertReloader,
    sock: socket.socket,
    log: JsonLog,
    drain_seconds: float = 0.0,
) -> None:
    report: Report = app.refusals.connection
    server = DrainingServer(
        uvicorn.Config(
            app,
            loop="uvloop",
            # httptools, with a read deadline, a connection cap and a head limit, and a dead
            # connection's state freed at once (see protocol.py).
            http=WebhookHttpToolsProtocol.configured(
                read_seconds=config.webhook.readTimeoutSeconds,
                max_connections=config.webhook.maxConnections,
                max_head_bytes=config.webhook.maxHeadBytes,
                report=report,
            ),
            lifespan="on",
            # The socket carries TLS; this hands uvicorn the reloader's live context.
            ssl_context_factory=lambda _config, _default: tls.context,
            timeout_keep_alive=config.webhook.keepAliveSeconds,
            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
            access_log=False,
            server_header=False,
            # The apiserver connects directly: X-Forwarded-* could only spoof the client.
            proxy_headers=False,
            log_level=config.webhook.logLevel,
            log_config=uvicorn_log_config(config.webhook.logLevel),
        ),
        app,
        drain_seconds,
        log,
    )
    # Everything alive now (app, catalog, imports) lives as long as the process: frozen out of
    # the collector's sight, so its full collections stop rescanning it. A parsed 70 KB review
    # is thousands of containers: a larger young generation collects per batch of requests,
    # not several times inside each one.
    fix_malloc_thresholds()
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 20, 20)
    server.run(sockets=[sock])
