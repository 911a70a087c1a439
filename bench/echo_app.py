"""The framework ceiling: a bare ASGI app that answers every AdmissionReview `allowed: true`.

It does the least any webhook must: read the whole body, parse it with orjson, answer with the
request's uid. Served by `python bench/echo_app.py --cert-file C --key-file K --port P` under
the same uvicorn settings as `winpod serve` (uvloop, httptools, the same TLS context, the same
keep-alive), so the gap between the two is winpod's own cost.
"""

from __future__ import annotations

import argparse
import importlib.util
import ssl
import sys
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

import orjson

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_HEADERS = [(b"content-type", b"application/json")]


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    chunks = []
    more = True
    while more:
        message = await receive()
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    status, payload = 200, b'{"status":"ok"}'
    if scope["method"] == "POST":
        review = orjson.loads(b"".join(chunks))
        payload = orjson.dumps(
            {
                "apiVersion": review.get("apiVersion", "admission.k8s.io/v1"),
                "kind": "AdmissionReview",
                "response": {"uid": review["request"]["uid"], "allowed": True},
            }
        )
    headers = [*_HEADERS, (b"content-length", str(len(payload)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


def new_server_context() -> ssl.SSLContext:
    # A copy of app.webhook.tlsreload's: importing that module would pull in the whole web
    # app (app.webhook's __init__) and make the ceiling pay for winpod's imports.
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_alpn_protocols(["http/1.1"])
    return context


def protocol_class() -> Any:
    """winpod's HTTP protocol class (app/webhook/protocol.py), loaded by file path: importing
    it as app.webhook.protocol would run app.webhook's __init__ and import the web app."""
    path = Path(__file__).resolve().parents[1] / "app" / "webhook" / "protocol.py"
    spec = importlib.util.spec_from_file_location("_winpod_protocol", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.WebhookHttpToolsProtocol


def main() -> int:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cert-file", required=True)
    parser.add_argument("--key-file", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument(
        "--keep-alive",
        type=int,
        required=True,
        help="seconds; run.py passes winpod's configured webhook.keepAliveSeconds",
    )
    args = parser.parse_args()
    context = new_server_context()
    context.load_cert_chain(args.cert_file, args.key_file)
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        loop="uvloop",
        http=protocol_class(),  # httptools, as `winpod serve` configures it
        lifespan="on",
        ssl_context_factory=lambda _config, _default: context,
        timeout_keep_alive=args.keep_alive,
        access_log=False,
        server_header=False,
        proxy_headers=False,  # as `winpod serve`
        log_level="warning",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
