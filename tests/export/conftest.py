"""The export tests' order and set-up: the apiserver agreement runs last, and the policies it
needs are applied in the background from the first export test on. The apiserver takes
seconds to compile them, twice (when it validates them and when it loads them), on its own
process's cores, while the offline tests run in this one."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import pytest

AGREEMENT = "test_apiserver_agreement.py"
# The policies applied early: a future of test_apiserver_agreement.install(server).
EARLY: dict[str, Future[Any]] = {}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: item.path.name == AGREEMENT)  # stable: the rest keep order


@pytest.fixture(scope="session", autouse=True)
def _policies_applied_early(request: pytest.FixtureRequest) -> Iterator[None]:
    if any(item.path.name == AGREEMENT for item in request.session.items):
        from tests.export.test_apiserver_agreement import VERSION, install

        try:
            servers = request.getfixturevalue("apiservers")
        except pytest.skip.Exception:
            servers = {}  # the agreement tests skip, saying why
        if VERSION in servers:
            pool = ThreadPoolExecutor(1, thread_name_prefix="export-policies")
            EARLY["policies"] = pool.submit(install, servers[VERSION])
            pool.shutdown(wait=False)
    yield
