"""/validate and /mutate as plain ASGI, in front of FastAPI: the only body reader.

Every review would otherwise pay for FastAPI's layers: its telemetry check (which asks
OpenTelemetry for providers per request), the error, telemetry and body-limit middlewares,
each wrapping `send` once more, then Starlette's Request and Response objects and the router.
`ReviewEndpoints` is the ASGI app uvicorn serves (create_app returns it): it answers the two
review paths itself and hands everything else (/healthz, /readyz, /metrics, /version, 404s,
lifespan) to FastAPI. An unexpected exception on a review path gets what FastAPI's handler
gives any other route: JSON `{"error": "internal error"}` with status 500 and a log line
(`internal_error`, shared with app.py), then the exception goes on to uvicorn's log.

The answers are the ones the Starlette routes gave: 415 for a body not declared JSON, 400 for
a bad Content-Length, 413 for a body over webhook.maxBodyBytes (declared, or counted as a
chunked body arrives), 429 while the bodies arriving on all connections together are over
webhook.maxBufferedBytes (BodyBudget), 405 for another method, each as JSON `{"error": ...}`.

Kept on measurement (issue 12, item 6), against the best FastAPI alternative: the same two
endpoints as Starlette routes on the FastAPI app, reading the body with the same `read_review`,
FastAPI's telemetry switched off (left on, as by default, the routes cost another 32,000
instructions per review). The gap is a fixed cost per review: it shows most on an ordinary
pod (a 3.3 KB Pod review, bench/reviews.py `small_set`), least on the mix of large ones.

                                                  fast path               routes
    instructions per review, the ASGI app in process (bench/instructions.py asgi-*)
      /validate, 3.3 KB Pod                         594,575              686,890
      /mutate,   3.3 KB Pod                         893,175              994,089
      /validate, mix                              1,576,841            1,668,871
      /mutate,   mix                              1,682,432            1,782,330
    µs per 3.3 KB review in process, best of 5 x 2,000 (3 such runs, /mutate 2)
      /validate                                   72-74                88-89
      /mutate                                   118-119              135-151
    `winpod serve` under wrk, best round of each of three bench/ab.py runs (10 to 12
    alternating rounds each): CPU-ms per 1,000 reviews, then req/s
      /validate, 3.3 KB Pod                   133, 139, 130        155, 158, 139
      /mutate,   3.3 KB Pod                   188, 196, 174        215, 212, 193
      /validate, mix                          253, 273, 223        269, 276, 243
      /mutate,   mix                          268, 259, 242        290, 279, 262
      /validate, 3.3 KB Pod             7,489, 7,165, 7,690  6,328, 6,195, 7,165
      /mutate,   3.3 KB Pod             5,182, 4,958, 5,721  4,630, 4,134, 5,049
      /validate, mix                    3,928, 3,653, 4,372  3,716, 3,428, 4,133
      /mutate,   mix                    3,732, 3,865, 4,128  3,422, 3,262, 3,811

92,000 to 101,000 instructions less per review (15 to 17 µs on a small /validate): 10 to 13 %
of a small review's work, under 6 % of the mix's. The best rounds favour the fast path in all
24 pairs, the CPU medians in 11 of 12 (one tie). The req/s medians follow the machine's load
instead (3 to 7 on its 2 cores; the echo's own rounds spread from 12 to 24,532 req/s): the
fast path ahead in 5 of 6 on the small review, behind in 5 of 6 on the mix. On the small
review the echo spends 40 to 44 CPU-ms per 1,000, winpod 3.1 to 3.3 times that: the engine (38
µs in process), the envelope, verdict, log line and metrics (about 20 µs), and caches gone
cold between reviews (see bench/optimisations.md).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson
from fastapi import FastAPI
from starlette.datastructures import State

from .logs import JsonLog
from .memory import Compactor
from .metrics import Metrics
from .refusals import Refusals, client_of
from .review import AdmissionReviewRequest, BadReview, parse_review

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Answer = Callable[[AdmissionReviewRequest, float], dict[str, Any]]

JSON = "application/json"
_JSON_BYTES = JSON.encode()
_CONTENT_TYPE = (b"content-type", _JSON_BYTES)


class ClientGone(Exception):
    """The client disconnected before its body was complete."""


class BodyBudget:
    """The bytes of request bodies still arriving, across all connections, and their bound
    (webhook.maxBufferedBytes): with thousands of connections each allowed maxBodyBytes, the
    sum, not any one body, is what could exhaust the pod's memory. A body that would take the
    sum over the bound gets 429 (the apiserver then applies the webhook's failurePolicy)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.held = 0


async def read_review(
    scope: Scope, receive: Receive, limit: int, budget: BodyBudget | None = None
) -> tuple[AdmissionReviewRequest, int]:
    """The request's body as an AdmissionReview, and its size; BadReview (4xx) or ClientGone
    otherwise."""
    content_type: bytes | None = None
    declared: bytes | None = None
    for name, value in scope["headers"]:  # uvicorn lowercases names; the first one counts
        if name == b"content-type":
            if content_type is None:
                content_type = value
        elif name == b"content-length" and declared is None:
            declared = value
    if content_type != _JSON_BYTES:  # the usual header, exactly: skip the parsing below
        text = (content_type or b"").decode("latin-1")
        if text.partition(";")[0].strip().lower() != JSON:
            raise BadReview(415, f"content type must be {JSON}, got {text or 'none'}")
    if declared is not None:
        if not declared.isdigit():  # bytes.isdigit: ASCII digits only
            raise BadReview(400, f"bad Content-Length: {declared.decode('latin-1')[:40]}")
        if int(declared) > limit:
            raise BadReview(
                413, f"body of {declared.decode('latin-1')} bytes is over the {limit}-byte limit"
            )
    message = await receive()
    if message["type"] == "http.request" and not message.get("more_body", False):
        body: bytes = message.get("body", b"")  # the whole body in one message
        if len(body) > limit:
            raise BadReview(413, f"body is over the {limit}-byte limit")
        return parse_review(body), len(body)
    chunks: list[bytes] = []
    size = held = 0  # held: what this body counts against the budget
    try:
        while True:
            if message["type"] != "http.request":  # http.disconnect
                raise ClientGone
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:  # chunked bodies declare no length: count as they arrive
                raise BadReview(413, f"body is over the {limit}-byte limit")
            if budget is not None:
                if budget.held + len(chunk) > budget.limit:
                    raise BadReview(
                        429,
                        f"the server is receiving {budget.held} bytes of other request bodies"
                        f" (its limit is {budget.limit}): retry",
                    )
                budget.held += len(chunk)
                held += len(chunk)
            chunks.append(chunk)
            if not message.get("more_body", False):
                return parse_review(b"".join(chunks)), size
            message = await receive()
    finally:
        if budget is not None:
            budget.held -= held


def internal_error(log: JsonLog, path: str, exc: BaseException) -> bytes:
    """Log an unexpected exception; the body of the 500 that answers it."""
    log.emit("error", "unexpected-error", {"path": path, "error": repr(exc)[:300]})
    return b'{"error":"internal error"}'


class ReviewEndpoints:
    """The served ASGI app: POST /validate and POST /mutate here, the rest to `app` (FastAPI,
    whose `state` this exposes)."""

    def __init__(
        self,
        app: FastAPI,
        *,
        answers: dict[str, Answer],
        metrics: Metrics,
        log: JsonLog,
        refusals: Refusals,
        limit: int,
        buffered: int = 64 * 1024 * 1024,
    ) -> None:
        self.app = app
        self.answers = answers
        self.metrics = metrics
        self.log = log
        self.refusals = refusals
        self.limit = limit
        self.budget = BodyBudget(buffered)
        self.compactor = Compactor()

    @property
    def state(self) -> State:
        return self.app.state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or (answer := self.answers.get(scope["path"])) is None:
            await self.app(scope, receive, send)
            return
        try:
            status, body, size = await self._review(answer, scope, receive)
        except Exception as exc:
            await send_json(send, 500, internal_error(self.log, scope["path"], exc))
            raise  # for uvicorn's log, as Starlette's ServerErrorMiddleware does
        await send_json(send, status, body)
        self.compactor.after(size)

    async def _review(
        self, answer: Answer, scope: Scope, receive: Receive
    ) -> tuple[int, bytes, int]:
        """The status and body of the answer, and the size of the review judged (0: none)."""
        if scope["method"] != "POST":
            self._refused(scope, 405, f"{scope['method']} is not allowed: reviews are POSTed")
            return 405, b'{"error":"Method Not Allowed"}', 0
        started = time.perf_counter()
        try:
            review, size = await read_review(scope, receive, self.limit, self.budget)
        except BadReview as exc:
            self._refused(scope, exc.status, exc.message)
            return exc.status, orjson.dumps({"error": exc.message}), 0
        except ClientGone:
            # The apiserver gave up (its timeout) mid-body: nobody reads this answer.
            self._refused(scope, 400, "the client went away before the body was complete")
            return 400, b'{"error":"the client went away before the body was complete"}', 0
        return 200, orjson.dumps(answer(review, started)), size

    def _refused(self, scope: Scope, status: int, reason: str) -> None:
        self.refusals.request(status, reason, scope["path"], client_of(scope))


async def send_json(send: Send, status: int, body: bytes) -> None:
    """The response Starlette's Response(body, status, media_type=JSON) sends: content-length,
    then content-type."""
    headers = [(b"content-length", b"%d" % len(body)), _CONTENT_TYPE]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
