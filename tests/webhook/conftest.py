"""The server most webhook tests share: the built-in catalog and a small test config."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import AdmissionClient, RunningWebhook, StartWebhook

TEST_CONFIG = {
    "namespaces": {
        # Every finding at most a warning here: the namespace override in action.
        "relaxed": {"maxAction": "warn"},
        # Pods that say nothing about their OS are Windows pods here.
        "windows-by-default": {"defaultOS": "windows"},
    },
}


@pytest.fixture(scope="session")
def webhook(webhook_server: StartWebhook) -> RunningWebhook:
    return webhook_server(TEST_CONFIG)


@pytest.fixture
def client(webhook: RunningWebhook) -> Iterator[AdmissionClient]:
    connection = webhook.client()
    yield connection
    connection.close()
