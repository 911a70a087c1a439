"""One request through the review endpoints' ASGI app as uvicorn makes it, in process."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

DISCONNECT = {"type": "http.disconnect"}


async def call_async(
    app: Any, path: str, messages: Sequence[dict[str, Any]], method: str = "POST"
) -> tuple[list[dict[str, Any]], BaseException | None]:
    """The messages the app sent, and what it raised; the body arrives as `messages`."""
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
        "scheme": "https", "path": path, "raw_path": path.encode(), "query_string": b"",
        "root_path": "", "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 8443),
        "headers": [(b"content-type", b"application/json")], "state": {},
    }  # fmt: skip
    pending = list(messages)
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if not pending:
            return DISCONNECT  # what uvicorn answers once the body has been read
        return pending.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    try:
        await app(scope, receive, send)
    except Exception as exc:
        return sent, exc
    return sent, None


def call(
    app: Any, path: str, messages: Sequence[dict[str, Any]], method: str = "POST"
) -> tuple[list[dict[str, Any]], BaseException | None]:
    """`call_async` on a loop of its own."""
    return asyncio.run(call_async(app, path, messages, method))
