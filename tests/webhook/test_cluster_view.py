"""What the webhook takes from a ClusterView: namespace policy (which wins over the config's
entry), and readiness. In process: the view is a small stand-in for the cluster cache."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import orjson
from winpod.config import Config, NamespacePolicy
from winpod.engine.evaluate import Engine
from winpod.engine.kubeversion import KubeVersion
from winpod.engine.osinfer import RuntimeClassInfo
from winpod.webhook import create_app
from winpod.webhook.logs import JsonLog

from tests.webhook.reviews import privileged_windows_pod, review

CONFIG = Config.model_validate(
    {"namespaces": {"labelled": {"maxAction": "audit"}, "config-only": {"maxAction": "audit"}}}
)


class LabelledNamespaces:
    """Answers like the cluster view does for a namespace labelled winpod.io/max-action=warn."""

    def __init__(self) -> None:
        self.synced = False

    def runtime_classes(self) -> Mapping[str, RuntimeClassInfo] | None:
        return None

    def namespace_policy(self, namespace: str) -> NamespacePolicy | None:
        return NamespacePolicy(maxAction="warn") if namespace == "labelled" else None

    def version(self) -> KubeVersion | None:
        return None

    def ready(self) -> bool:
        return self.synced


def call(app: Any, method: str, path: str, body: bytes = b"") -> tuple[int, Any]:
    """One request through the ASGI app, as uvicorn would make it."""
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
        "scheme": "https", "path": path, "raw_path": path.encode(), "query_string": b"",
        "root_path": "", "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 8443),
        "headers": [(b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode())],
    }  # fmt: skip
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    status = sent[0]["status"]
    payload = b"".join(m.get("body", b"") for m in sent[1:])
    return status, orjson.loads(payload)


def decide(app: Any, namespace: str) -> dict[str, Any]:
    pod = privileged_windows_pod()
    pod["metadata"]["namespace"] = namespace
    status, body = call(app, "POST", "/validate", orjson.dumps(review(pod, namespace=namespace)))
    assert status == 200
    response: dict[str, Any] = body["response"]
    return response


def test_the_namespace_labels_win_over_the_config_entry() -> None:
    app = create_app(Engine(config=CONFIG), CONFIG, LabelledNamespaces(), log=JsonLog("error"))
    labelled = decide(app, "labelled")  # labels say warn, config says audit: labels win
    assert labelled["allowed"] is True
    assert any("(rule windows-privileged)" in w for w in labelled["warnings"])
    config_only = decide(app, "config-only")  # no labels: the config's audit cap applies
    assert config_only["allowed"] is True
    assert "warnings" not in config_only
    assert "windows-privileged" in config_only["auditAnnotations"]
    assert decide(app, "default")["allowed"] is False  # neither: the rule's own deny


def test_readyz_waits_for_the_cluster_view_to_sync() -> None:
    view = LabelledNamespaces()
    app = create_app(Engine(config=CONFIG), CONFIG, view, log=JsonLog("error"))
    status, body = call(app, "GET", "/readyz")
    assert status == 503 and body["checks"]["cluster"] is False
    view.synced = True
    status, body = call(app, "GET", "/readyz")
    assert status == 200 and body["ready"] is True


class BrokenView(LabelledNamespaces):
    def runtime_classes(self) -> Mapping[str, RuntimeClassInfo] | None:
        raise RuntimeError("cache corrupted")


def test_a_review_that_fails_inside_is_denied_never_allowed(capsys: Any) -> None:
    app = create_app(Engine(config=CONFIG), CONFIG, BrokenView(), log=JsonLog("info"))
    response = decide(app, "default")
    assert response["allowed"] is False
    assert response["status"]["code"] == 500 and response["status"]["reason"] == "InternalError"
    assert "denied to be safe" in response["status"]["message"]
    records = [orjson.loads(line) for line in capsys.readouterr().err.splitlines()]
    [failed] = [r for r in records if r["event"] == "review-failed"]
    assert failed["error"] == "RuntimeError: cache corrupted"
    [logged] = [r for r in records if r["event"] == "review"]
    assert logged["decision"] == "error"
