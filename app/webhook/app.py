"""The webhook's ASGI app: /validate, /mutate, /healthz, /readyz, /metrics, /version.

/validate and /mutate are answered by plain ASGI ahead of FastAPI's routing (fastpath.py, the
one body reader): FastAPI's body models would validate the whole pod per request, which is the
cost the engine is built to avoid, and its request machinery, even for plain routes with its
telemetry off, costs about 100,000 instructions per review (11 to 16 % more work on a small
pod; figures in fastpath.py).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any, cast

import orjson
from fastapi import FastAPI
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response

from .. import __version__
from ..clusterview import ClusterView, StaticClusterView
from ..config import Config
from ..engine.evaluate import Engine
from .admission import Reviewer
from .fastpath import JSON, ReviewEndpoints, internal_error
from .logs import JsonLog, rfc3339
from .metrics import Metrics
from .refusals import Refusals, client_of
from .tlsreload import CertReloader


def json_response(content: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(content), status_code=status, media_type=JSON)


def error_response(status: int, message: str) -> Response:
    return json_response({"error": message}, status)


def create_app(
    engine: Engine,
    config: Config,
    cluster_view: ClusterView | None = None,
    *,
    tls: CertReloader | None = None,
    log: JsonLog | None = None,
) -> ReviewEndpoints:
    view: ClusterView = cluster_view if cluster_view is not None else StaticClusterView(config)
    log = log if log is not None else JsonLog(config.webhook.logLevel)
    metrics = Metrics()
    metrics.rules_loaded.set(len(engine.catalog))
    reviewer = Reviewer(engine, view, metrics, log)
    refusals = Refusals(metrics, log)
    if callable(getattr(view, "collect", None)):
        # The cluster caches are a Prometheus collector: staleness, relists, readiness.
        metrics.registry.register(cast(Collector, view))
    limit = config.webhook.maxBodyBytes

    if tls is not None:
        _wire_tls_metrics(tls, metrics, log)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        watcher = asyncio.create_task(tls.watch()) if tls is not None else None
        log.emit("info", "started", {"rules": len(engine.catalog), "version": __version__})
        try:
            yield
        finally:
            if watcher is not None:
                watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watcher

    app = FastAPI(
        title="winpod",
        version=__version__,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=lifespan,
    )

    @app.get("/healthz")
    async def healthz() -> Response:
        return json_response({"status": "ok"})

    app.state.draining = False  # set by the server on SIGTERM, see app/webhook/server.py

    @app.get("/readyz")
    async def readyz() -> Response:
        checks = {
            "accepting": not app.state.draining,
            "rules": len(engine.catalog) > 0,
            "certificate": tls.loaded if tls is not None else True,
            "cluster": bool(view.ready()),
        }
        ready = all(checks.values())
        return json_response({"ready": ready, "checks": checks}, 200 if ready else 503)

    @app.get("/metrics")
    async def prometheus() -> Response:
        return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)

    configured = "config" if config.kubernetesVersion else "latest known"

    @app.get("/version")
    async def version() -> Response:
        # The release whose rules reviews are judged by: the cluster's when the view knows it
        # (--watch-cluster), else the config's, else the latest known; as a review would.
        cluster = view.version()
        enforced = cluster if cluster is not None else engine.default_version
        body = {
            "winpod": __version__,
            "kubernetesVersion": str(enforced),
            "kubernetesVersionFrom": "cluster" if cluster is not None else configured,
            "rules": len(engine.catalog),
        }
        return Response(orjson.dumps(body), media_type=JSON)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        refusals.request(
            exc.status_code, str(exc.detail), request.url.path, client_of(request.scope)
        )
        return error_response(exc.status_code, str(exc.detail))

    async def unexpected(request: Request, exc: Exception) -> Response:
        return Response(internal_error(log, request.url.path, exc), 500, media_type=JSON)

    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)
    # POST /validate and /mutate never reach FastAPI: see fastpath.py.
    return ReviewEndpoints(
        app,
        answers={"/validate": reviewer.validate, "/mutate": reviewer.mutate},
        metrics=metrics,
        log=log,
        refusals=refusals,
        limit=limit,
        buffered=config.webhook.maxBufferedBytes,
    )


def _wire_tls_metrics(tls: CertReloader, metrics: Metrics, log: JsonLog) -> None:
    def record(reloader: CertReloader, ok: bool) -> None:
        if ok:
            metrics.cert_reloads.labels("ok").inc()
            metrics.cert_loaded.set(reloader.loaded_at)
            metrics.cert_expiry.set(reloader.not_after)
            log.emit("info", "certificate-reloaded", {"notAfter": rfc3339(reloader.not_after)})
        else:
            metrics.cert_reloads.labels("error").inc()
            log.emit("warning", "certificate-reload-failed", {"error": reloader.last_error})

    metrics.cert_loaded.set(tls.loaded_at)
    metrics.cert_expiry.set(tls.not_after)
    tls.listeners.append(record)
