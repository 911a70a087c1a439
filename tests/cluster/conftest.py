"""Fixtures: the stand-in apiserver (tests/cluster/standin.py), a kubeconfig for it, and a live
ClusterCacheView with short backoffs so recovery tests take well under a second each."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from winpod.cluster.backoff import Backoff
from winpod.cluster.client import make_api_client
from winpod.cluster.view import ClusterCacheView
from winpod.config import Config

from tests.cluster.standin import StandinAPIServer
from tests.rules.builders import windows_runtime_class

WINDOWS_RUNTIME_CLASS = windows_runtime_class(
    tolerations=[{"key": "os", "operator": "Equal", "value": "windows", "effect": "NoSchedule"}]
)


@pytest.fixture
def apiserver() -> Iterator[StandinAPIServer]:
    with StandinAPIServer(bookmark_interval=0.1) as server:
        yield server


@pytest.fixture
def kubeconfig(apiserver: StandinAPIServer, tmp_path: Path) -> Path:
    return apiserver.write_kubeconfig(tmp_path / "kubeconfig")


ViewFactory = Callable[..., ClusterCacheView]


@pytest.fixture
def start_view(kubeconfig: Path, capsys: pytest.CaptureFixture[str]) -> Iterator[ViewFactory]:
    """start_view(config=None, wait=True) -> a started ClusterCacheView on the stand-in.

    Takes capsys so that capture outlives the views: their threads log until stopped."""
    views: list[ClusterCacheView] = []

    def start(config: Config | None = None, wait: bool = True, **kwargs: Any) -> ClusterCacheView:
        kwargs.setdefault("backoff", lambda: Backoff(initial=0.05, cap=0.4))
        kwargs.setdefault("watch_seconds", (30, 30))
        view = ClusterCacheView(
            config or Config(), lambda: make_api_client(str(kubeconfig)), **kwargs
        ).start()
        views.append(view)
        if wait:
            assert view.wait_ready(10), "the view never synced with the stand-in apiserver"
            # Tests then act on open watches (drop them, expire them), so wait for those too.
            eventually(lambda: all(r.connected for r in view.reflectors.values()), what="watches")
        return view

    yield start
    for view in views:
        view.stop()


def eventually(predicate: Callable[[], Any], timeout: float = 10.0, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or predicate}")
        time.sleep(0.02)


def log_records(text: str) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in text.splitlines() if line.startswith('{"time"')]
