"""The review endpoints' plain-ASGI path (app/webhook/fastpath.py), in process, for what the
TLS tests cannot easily provoke: a client gone mid-body, a body in many pieces, an exception
outside the reviewer's own fail-closed handling."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest
from winpod.config import Config
from winpod.engine.evaluate import Engine
from winpod.engine.kubeversion import LATEST
from winpod.webhook import create_app
from winpod.webhook.logs import JsonLog

from tests.webhook.asgi import DISCONNECT, call
from tests.webhook.reviews import privileged_windows_pod, review, windows_pod

CONFIG = Config.model_validate({"webhook": {"maxBodyBytes": 100_000}})


def pieces(body: bytes, size: int) -> list[dict[str, Any]]:
    chunks = [body[i : i + size] for i in range(0, len(body), size)]
    return [
        {"type": "http.request", "body": c, "more_body": i < len(chunks) - 1}
        for i, c in enumerate(chunks)
    ]


def answer(sent: list[dict[str, Any]]) -> tuple[int, dict[str, str], Any]:
    start, body = sent
    assert start["type"] == "http.response.start" and body["type"] == "http.response.body"
    headers = {k.decode(): v.decode() for k, v in start["headers"]}
    assert headers["content-length"] == str(len(body["body"]))
    assert headers["content-type"] == "application/json"
    return start["status"], headers, orjson.loads(body["body"])


@pytest.fixture(scope="module")
def app() -> Any:
    return create_app(Engine(config=CONFIG), CONFIG, log=JsonLog("error"))


def test_a_body_in_many_pieces_is_reviewed_whole(app: Any) -> None:
    body = orjson.dumps(review(privileged_windows_pod(), uid="pieces"))
    for path in ("/validate", "/mutate"):
        status, _, payload = answer(call(app, path, pieces(body, 997))[0])
        assert status == 200
        assert payload["response"]["uid"] == "pieces"
        assert payload["response"]["allowed"] is False


def test_a_body_counted_over_the_cap_as_it_arrives_is_a_413(app: Any) -> None:
    sent, error = call(app, "/validate", pieces(b" " * 150_000, 40_000))
    assert error is None
    status, _, payload = answer(sent)
    assert status == 413 and "100000-byte limit" in payload["error"]


@pytest.mark.parametrize("before", [0, 1, 3], ids=["no-body", "one-piece", "three-pieces"])
def test_a_client_gone_mid_body_is_no_crash(app: Any, before: int) -> None:
    body = orjson.dumps(review(windows_pod()))
    messages = [*pieces(body, 100)[:before], DISCONNECT]
    sent, error = call(app, "/validate", messages)
    assert error is None
    status, _, payload = answer(sent)  # uvicorn drops it: nobody is there to read it
    assert status == 400 and "went away" in payload["error"]


class LogThatFailsOnReviews(JsonLog):
    """A log whose writes fail for review lines (a full disk, a closed stderr)."""

    def emit(self, level: str, event: str, fields: dict[str, Any]) -> None:
        if event == "review":
            raise OSError("no space left on device")
        super().emit(level, event, fields)


def test_an_unexpected_error_is_a_500_json_and_a_log_line(capsys: Any) -> None:
    app = create_app(Engine(config=CONFIG), CONFIG, log=LogThatFailsOnReviews("info"))
    capsys.readouterr()
    body = orjson.dumps(review(windows_pod()))
    sent, error = call(app, "/validate", pieces(body, len(body)))
    # Answered, then re-raised for uvicorn to log (as Starlette's ServerErrorMiddleware does).
    assert isinstance(error, OSError)
    status, _, payload = answer(sent)
    assert (status, payload) == (500, {"error": "internal error"})
    records = [orjson.loads(line) for line in capsys.readouterr().err.splitlines()]
    [logged] = [r for r in records if r["event"] == "unexpected-error"]
    assert logged["path"] == "/validate" and "no space left" in logged["error"]


def test_other_paths_still_reach_fastapi(app: Any) -> None:
    status, _, payload = answer(call(app, "/healthz", [], method="GET")[0])
    assert (status, payload) == (200, {"status": "ok"})
    status, _, payload = answer(call(app, "/validate", [], method="GET")[0])
    assert (status, payload) == (405, {"error": "Method Not Allowed"})
    status, _, payload = answer(call(app, "/nope", pieces(b"{}", 2))[0])
    assert (status, payload) == (404, {"error": "Not Found"})


@pytest.mark.parametrize(
    ("settings", "enforced", "source"),
    [
        ({}, str(LATEST), "latest known"),
        ({"kubernetesVersion": "1.27"}, "1.27", "config"),
    ],
    ids=["without a version, the latest known", "the config's version"],
)
def test_version_reports_the_release_whose_rules_are_enforced(
    settings: dict[str, Any], enforced: str, source: str
) -> None:
    config = Config.model_validate(settings)
    app = create_app(Engine(config=config), config, log=JsonLog())
    sent, error = call(app, "/version", [{"type": "http.request", "body": b""}], method="GET")
    assert error is None
    status, _, body = answer(sent)
    assert status == 200
    assert (body["kubernetesVersion"], body["kubernetesVersionFrom"]) == (enforced, source)


def test_bodies_arriving_together_over_the_buffer_budget_get_429_and_the_budget_is_returned() -> (
    None
):
    config = Config.model_validate({"webhook": {"maxBufferedBytes": 1024 * 1024}})
    app = create_app(Engine(config=config), config, log=JsonLog())
    piece = b" " * (600 * 1024)

    async def both() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        first_waiting, release = asyncio.Event(), asyncio.Event()

        def request(path: str, receive: Any) -> Any:
            sent: list[dict[str, Any]] = []

            async def send(message: dict[str, Any]) -> None:
                sent.append(message)

            scope = {
                "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
                "method": "POST", "scheme": "https", "path": path, "raw_path": path.encode(),
                "query_string": b"", "root_path": "", "client": ("127.0.0.1", 1),
                "server": ("127.0.0.1", 8443), "state": {},
                "headers": [(b"content-type", b"application/json")],
            }  # fmt: skip
            return app(scope, receive, send), sent

        first_parts = [piece, b"{}"]

        async def first_receive() -> dict[str, Any]:
            if len(first_parts) == 1:
                first_waiting.set()
                await release.wait()  # a slow sender, half its body in
            return {
                "type": "http.request",
                "body": first_parts.pop(0),
                "more_body": bool(first_parts),
            }

        second_parts = [piece, piece]

        async def second_receive() -> dict[str, Any]:
            return {
                "type": "http.request",
                "body": second_parts.pop(0),
                "more_body": bool(second_parts),
            }

        first, first_sent = request("/validate", first_receive)
        task = asyncio.ensure_future(first)
        await first_waiting.wait()
        second, second_sent = request("/validate", second_receive)
        await second
        release.set()
        await task
        return first_sent, second_sent

    first_sent, second_sent = asyncio.run(both())
    status, _, body = answer(second_sent)
    assert status == 429
    assert "its limit is 1048576" in body["error"]
    assert answer(first_sent)[0] == 400  # its own body was read whole (and is no review)
    assert app.budget.held == 0
