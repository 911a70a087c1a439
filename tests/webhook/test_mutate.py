"""POST /mutate against the real server: JSON Patch for Pod CREATE, the same denials as /validate."""

from __future__ import annotations

import base64
import copy
from pathlib import Path
from typing import Any

import jsonpatch
import orjson
import pytest
import yaml

from tests.conftest import AdmissionClient
from tests.webhook.reviews import (
    SERVERCORE,
    answer,
    linux_pod,
    privileged_windows_pod,
    review,
    windows_pod,
    workload,
)


def mutate(client: AdmissionClient, sent: dict[str, Any]) -> dict[str, Any]:
    return answer(client.review(sent, path="/mutate"), sent)


def unplaced_windows_pod() -> dict[str, Any]:
    """A Windows image and nothing else saying where it should run."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "unplaced", "namespace": "default"},
        "spec": {
            "containers": [
                {"name": "app", "image": SERVERCORE,
                 "resources": {"requests": {"memory": "256Mi"}, "limits": {"memory": "256Mi"}}}
            ]
        },
    }  # fmt: skip


def test_an_unplaced_windows_pod_gets_a_patch_that_places_it_on_windows(
    client: AdmissionClient,
) -> None:
    pod = unplaced_windows_pod()
    response = mutate(client, review(pod))
    assert response["allowed"] is True
    assert response["patchType"] == "JSONPatch"
    patch = orjson.loads(base64.b64decode(response["patch"]))
    assert patch and all(op["op"] in ("add", "replace") for op in patch)
    placed = jsonpatch.apply_patch(copy.deepcopy(pod), patch)
    assert placed["spec"]["nodeSelector"]["kubernetes.io/os"] == "windows"
    assert any(t.get("key") == "os" for t in placed["spec"]["tolerations"])
    assert any(w.startswith("winpod set nodeSelector") for w in response["warnings"])


def test_a_pod_with_nothing_to_add_gets_no_patch(client: AdmissionClient) -> None:
    sent = review(linux_pod())
    assert mutate(client, sent) == {"uid": sent["request"]["uid"], "allowed": True}


def test_mutate_denies_with_exactly_the_message_validate_gives(client: AdmissionClient) -> None:
    sent = review(privileged_windows_pod("same-words"))
    mutated = mutate(client, sent)
    validated = answer(client.review(sent, path="/validate"), sent)
    assert mutated["allowed"] is False and "patch" not in mutated
    assert mutated["status"] == validated["status"]
    assert "(rule windows-privileged)" in mutated["status"]["message"]


@pytest.mark.parametrize(
    ("obj", "operation"),
    [
        (unplaced_windows_pod(), "UPDATE"),
        (workload("Deployment", unplaced_windows_pod()), "CREATE"),
        (None, "DELETE"),
    ],
)
def test_only_pod_creates_are_mutated(
    client: AdmissionClient, obj: dict[str, Any] | None, operation: str
) -> None:
    sent = review(
        obj,
        operation=operation,
        kind="Pod" if obj is None else None,
        old=unplaced_windows_pod() if operation != "CREATE" else None,
    )
    assert mutate(client, sent) == {"uid": sent["request"]["uid"], "allowed": True}


def test_mutate_echoes_v1beta1(client: AdmissionClient) -> None:
    sent = review(unplaced_windows_pod(), api_version="admission.k8s.io/v1beta1")
    assert mutate(client, sent)["patchType"] == "JSONPatch"


def test_mutate_refuses_what_is_not_an_admission_review(client: AdmissionClient) -> None:
    reply = client.post_json("/mutate?timeout=10s", b"{not json")
    assert reply.status == 400 and "not valid JSON" in reply.json()["error"]
    reply = client.post_json(
        "/mutate?timeout=10s", orjson.dumps(review(windows_pod())), "text/plain"
    )
    assert reply.status == 415


def test_an_odd_shaped_pod_is_denied_by_mutate_naming_the_path(client: AdmissionClient) -> None:
    pod = windows_pod("odd")
    pod["spec"]["containers"] = "nginx"
    response = mutate(client, review(pod))
    assert response["allowed"] is False
    assert "spec.containers: expected a list" in response["status"]["message"]


MANIFESTS = Path(__file__).resolve().parents[1] / "mutate" / "manifests"


def _pod_of(name: str) -> dict[str, Any]:
    """The manifest as the Pod the apiserver would send /mutate (a workload's template as a pod)."""
    obj = yaml.safe_load((MANIFESTS / name).read_text(encoding="utf-8"))
    if obj["kind"] == "Pod":
        return dict(obj)
    template = obj["spec"]["template"]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            **template.get("metadata", {}),
            "generateName": obj["metadata"]["name"] + "-",
            "namespace": obj["metadata"].get("namespace", "default"),
        },
        "spec": template["spec"],
    }


@pytest.mark.parametrize(
    ("manifest", "expected_selector", "denied"),
    [
        (
            "iis-pod.yaml",
            {"kubernetes.io/os": "windows", "node.kubernetes.io/windows-build": "10.0.20348"},
            False,
        ),
        ("linux-daemonset.yaml", {"kubernetes.io/os": "linux"}, False),
        ("conflict-pod.yaml", {"kubernetes.io/os": "linux"}, True),
    ],
)
def test_mutate_places_real_pods_and_a_second_pass_adds_nothing(
    client: AdmissionClient,
    manifest: str,
    expected_selector: dict[str, str],
    denied: bool,
) -> None:
    before = _pod_of(manifest)
    response = mutate(client, review(before, namespace=before["metadata"]["namespace"]))
    patch = orjson.loads(base64.b64decode(response["patch"])) if "patch" in response else []
    after = jsonpatch.apply_patch(copy.deepcopy(before), patch)
    # the before/after, shown by `pytest -s` for transcripts
    print(
        f"\n--- {manifest}: POST /mutate allowed={response['allowed']}"
        f" warnings={response.get('warnings')}\npatch={orjson.dumps(patch).decode()}"
    )
    assert after["spec"].get("nodeSelector") == expected_selector
    assert response["allowed"] is (not denied)
    if denied:  # conflicting evidence: nothing injected, the conflict denied early
        assert patch == []
        assert "windows-os-conflict" in response["status"]["message"]
        return
    again = mutate(client, review(after, namespace=after["metadata"]["namespace"]))
    assert "patch" not in again, again
