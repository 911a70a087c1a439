"""The server's memory upkeep (app/webhook/memory.py): malloc's thresholds, and a full
collection after a large review."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable

import orjson
import pytest
from winpod.config import Config
from winpod.engine.evaluate import Engine
from winpod.webhook import create_app
from winpod.webhook.memory import LARGE_BODY_BYTES, Compactor, fix_malloc_thresholds

from tests.webhook.asgi import call_async
from tests.webhook.reviews import review, windows_pod


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt is Linux's")
def test_glibc_takes_the_fixed_mmap_and_trim_thresholds() -> None:
    assert fix_malloc_thresholds() is True


def test_fixing_the_thresholds_twice_is_harmless() -> None:
    first = fix_malloc_thresholds()
    assert fix_malloc_thresholds() is first


def run_on_a_loop(steps: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(steps())


def test_a_large_review_is_followed_by_one_full_collection_once_answered() -> None:
    compactor = Compactor(large=1000)

    async def steps() -> None:
        compactor.after(999)
        await asyncio.sleep(0.01)
        assert compactor.collections == 0
        compactor.after(1000)
        assert compactor.collections == 0  # not while the answer is still being handled
        await asyncio.sleep(0.01)
        assert compactor.collections == 1

    run_on_a_loop(steps)


def test_large_reviews_in_a_row_share_collections_spaced_in_time() -> None:
    compactor = Compactor(large=1, spacing=0.2)

    async def steps() -> None:
        compactor.after(5)
        await asyncio.sleep(0.01)
        assert compactor.collections == 1
        for _ in range(50):
            compactor.after(5)
        await asyncio.sleep(0.05)
        assert compactor.collections == 1  # the next waits out the spacing
        await asyncio.sleep(0.3)
        assert compactor.collections == 2

    run_on_a_loop(steps)


def test_the_review_endpoints_collect_after_a_review_of_over_a_mebibyte() -> None:
    app = create_app(Engine(), Config())
    big = windows_pod("big")
    big["metadata"]["annotations"] = {"note": "x" * LARGE_BODY_BYTES}
    small = orjson.dumps(review(windows_pod("small")))
    collections = []

    async def steps() -> None:
        for body in (small, orjson.dumps(review(big))):
            sent, error = await call_async(
                app, "/validate", [{"type": "http.request", "body": body}]
            )
            assert error is None and sent[0]["status"] == 200
            await asyncio.sleep(0.01)
            collections.append(app.compactor.collections)

    run_on_a_loop(steps)
    assert collections == [0, 1]
