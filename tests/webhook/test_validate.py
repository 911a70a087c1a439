"""POST /validate against the real server: decisions, messages, warnings, annotations."""

from __future__ import annotations

import copy
from typing import Any

import orjson
import pytest
from winpod.engine.kubeversion import LATEST

from tests.conftest import AdmissionClient, RunningWebhook
from tests.webhook.reviews import (
    WORKLOADS,
    answer,
    container,
    linux_pod,
    memory_mismatch_windows_pod,
    privileged_windows_pod,
    review,
    windows_pod,
    workload,
)

PRIVILEGED_PATH = "spec.containers[0].securityContext.privileged"


def validate(client: AdmissionClient, sent: dict[str, Any]) -> dict[str, Any]:
    return answer(client.review(sent), sent)


def test_a_privileged_windows_pod_is_denied_with_the_path_reason_and_fix(
    client: AdmissionClient,
) -> None:
    sent = review(privileged_windows_pod("web"), uid="7f1c6a8e-deny")
    response = validate(client, sent)
    assert response["allowed"] is False
    status = response["status"]
    assert status["code"] == 403 and status["reason"] == "Forbidden"
    first, *lines = status["message"].splitlines()
    assert first == "Pod default/web denied by winpod: 1 problem(s)"
    assert len(lines) == 1
    assert lines[0].startswith(f"{PRIVILEGED_PATH}: ")
    assert lines[0].endswith("(rule windows-privileged)")


def test_every_deny_finding_is_listed_in_the_message(client: AdmissionClient) -> None:
    pod = windows_pod(
        "two",
        container(name="a", securityContext={"privileged": True}),
        container(name="b", securityContext={"privileged": True}),
        hostPID=True,
    )
    response = validate(client, review(pod))
    first, *lines = response["status"]["message"].splitlines()
    assert first.endswith(f"{len(lines)} problem(s)")
    paths = [line.split(":", 1)[0] for line in lines]
    assert "spec.containers[0].securityContext.privileged" in paths
    assert "spec.containers[1].securityContext.privileged" in paths
    assert "spec.hostPID" in paths


def test_a_windows_pod_with_memory_limit_above_request_is_allowed_with_a_warning(
    client: AdmissionClient,
) -> None:
    response = validate(client, review(memory_mismatch_windows_pod()))
    assert response["allowed"] is True
    assert "status" not in response
    [warning] = response["warnings"]
    assert warning.startswith("spec.containers[0].resources.requests.memory: ")
    assert warning.endswith("(rule windows-memory-limits)")
    assert not warning.lower().startswith("warning")


def test_warnings_are_one_short_line_each(client: AdmissionClient) -> None:
    pod = windows_pod(
        "many",
        container(name="a", resources={}),
        container(name="b", resources={}),
        volumes=[{"name": "scratch", "emptyDir": {"medium": "Memory"}}],
    )
    response = validate(client, review(pod))
    assert response["allowed"] is True
    assert len(response["warnings"]) >= 3
    for warning in response["warnings"]:
        assert "\n" not in warning and len(warning) <= 256
        assert "(rule " in warning


def test_a_linux_pod_is_allowed_with_no_warnings(client: AdmissionClient) -> None:
    response = validate(client, review(linux_pod()))
    assert response == {"uid": response["uid"], "allowed": True}


def test_an_audit_finding_becomes_an_audit_annotation_not_a_warning(
    client: AdmissionClient,
) -> None:
    resources = {"requests": {"memory": "256Mi", "cpu": "500m"}, "limits": {"memory": "256Mi"}}
    pod = windows_pod(
        "cpu",
        {
            "name": "app",
            # Nano Server runs as ContainerUser: no audit note about the user.
            "image": "mcr.microsoft.com/windows/nanoserver:ltsc2022",
            "resources": resources,
        },
    )
    response = validate(client, review(pod))
    assert response["allowed"] is True
    assert "warnings" not in response
    annotations = response["auditAnnotations"]
    assert list(annotations) == ["windows-cpu-requests"]
    assert annotations["windows-cpu-requests"].startswith(
        "spec.containers[0].resources.requests.cpu: "
    )


def test_audit_annotation_keys_are_valid_names_the_apiserver_can_prefix(
    client: AdmissionClient,
) -> None:
    resources = {"requests": {"memory": "1Mi", "cpu": "1"}, "limits": {"memory": "1Mi"}}
    pod = windows_pod("keys", {"name": "app", "image": "x", "resources": resources})
    pod["metadata"]["annotations"] = {
        "winpod.io/exempt": "windows-memory-limits",
        "winpod.io/exempt-reason": "load test",
    }
    response = validate(client, review(pod))
    import re

    for key, value in response["auditAnnotations"].items():
        # The apiserver stores "<webhook name>/<key>", which must be a qualified name.
        assert re.fullmatch(r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?", key), key
        assert len(value) <= 512


def test_an_exempted_denial_is_allowed_but_warned_and_audited(client: AdmissionClient) -> None:
    pod = privileged_windows_pod("exempt")
    pod["metadata"]["annotations"] = {
        "winpod.io/exempt": "windows-privileged",
        "winpod.io/exempt-reason": "vendor agent, ticket OPS-12",
    }
    response = validate(client, review(pod))
    assert response["allowed"] is True
    [warning] = [w for w in response["warnings"] if "windows-privileged" in w]
    assert warning.startswith("exempted (vendor agent, ticket OPS-12): ")
    assert PRIVILEGED_PATH in warning
    audit = response["auditAnnotations"]["windows-privileged"]
    assert audit.startswith("exempted (vendor agent, ticket OPS-12): " + PRIVILEGED_PATH)


def test_an_exemption_without_a_reason_exempts_nothing(client: AdmissionClient) -> None:
    pod = privileged_windows_pod("noreason")
    pod["metadata"]["annotations"] = {"winpod.io/exempt": "windows-privileged"}
    response = validate(client, review(pod))
    assert response["allowed"] is False
    assert any("exemption-without-reason" in w for w in response.get("warnings", []))


@pytest.mark.parametrize("kind", sorted(WORKLOADS))
def test_every_workload_kind_is_checked_at_its_template_path(
    client: AdmissionClient, kind: str
) -> None:
    obj = workload(kind, privileged_windows_pod(), name="wl")
    response = validate(client, review(obj))
    assert response["allowed"] is False
    prefix = {
        "Pod": "",
        "PodTemplate": "template.",
        "CronJob": "spec.jobTemplate.spec.template.",
    }.get(kind, "spec.template.")
    message = response["status"]["message"]
    assert message.startswith(f"{kind} default/wl denied by winpod: 1 problem(s)")
    assert f"\n{prefix}{PRIVILEGED_PATH}: " in message


@pytest.mark.parametrize("kind", sorted(WORKLOADS))
def test_every_workload_kind_is_checked_on_update_too(client: AdmissionClient, kind: str) -> None:
    old = workload(kind, windows_pod(), name="wl")
    new = workload(kind, privileged_windows_pod(), name="wl")
    response = validate(client, review(new, operation="UPDATE", old=old))
    assert response["allowed"] is False


def test_an_update_that_leaves_the_pod_spec_alone_is_not_blocked(
    client: AdmissionClient,
) -> None:
    old = privileged_windows_pod("legacy")
    new = copy.deepcopy(old)
    new["metadata"]["labels"] = {"team": "a"}
    new["metadata"]["finalizers"] = []
    response = validate(client, review(new, operation="UPDATE", old=old))
    assert response["allowed"] is True
    [warning] = [w for w in response["warnings"] if "windows-privileged" in w]
    assert "not enforced: the pod spec is unchanged" in warning


def test_an_update_too_deeply_nested_to_compare_with_the_old_pod_is_still_denied(
    client: AdmissionClient,
) -> None:
    # The same value in object and oldObject, nested too deep for Python's == (and for
    # orjson.dumps, so it is spliced into the body as text).
    old = privileged_windows_pod("deep")
    old["spec"]["overhead"] = "DEEP"
    body = orjson.dumps(review(old, operation="UPDATE", old=old))
    body = body.replace(b'"DEEP"', b'{"a":' * 1010 + b"1" + b"}" * 1010)
    reply = client.post_json("/validate", body)
    assert reply.status == 200
    response = reply.json()["response"]
    assert response["allowed"] is False
    assert "internal error" not in response["status"]["message"]
    assert "windows-privileged" in response["status"]["message"]


def test_an_object_whose_kind_field_disagrees_with_the_request_is_judged_as_the_request_kind(
    client: AdmissionClient,
) -> None:
    pod = privileged_windows_pod("sneaky")
    del pod["kind"]
    response = validate(client, review(pod, kind="Pod"))
    assert response["allowed"] is False


def test_the_uid_is_echoed_whatever_the_decision(client: AdmissionClient) -> None:
    for obj in (privileged_windows_pod(), memory_mismatch_windows_pod(), linux_pod()):
        sent = review(obj, uid=f"uid-echo-{obj['metadata']['name']}")
        assert validate(client, sent)["uid"] == sent["request"]["uid"]


def test_v1beta1_reviews_get_a_v1beta1_answer(client: AdmissionClient) -> None:
    sent = review(privileged_windows_pod(), api_version="admission.k8s.io/v1beta1")
    response = validate(client, sent)  # `answer` checks the echoed apiVersion
    assert response["allowed"] is False


@pytest.mark.parametrize("operation", ["DELETE", "CONNECT"])
def test_delete_and_connect_are_allowed_untouched(client: AdmissionClient, operation: str) -> None:
    sent = review(None, operation=operation, old=privileged_windows_pod(), kind="Pod")
    assert validate(client, sent) == {"uid": sent["request"]["uid"], "allowed": True}


@pytest.mark.parametrize("sub_resource", ["status", "binding", "eviction"])
def test_subresources_other_than_ephemeral_containers_are_allowed_untouched(
    client: AdmissionClient, sub_resource: str
) -> None:
    sent = review(
        privileged_windows_pod(),
        operation="UPDATE",
        sub_resource=sub_resource,
        old=privileged_windows_pod(),
    )
    assert validate(client, sent) == {"uid": sent["request"]["uid"], "allowed": True}


def test_an_ephemeral_debug_container_is_checked_as_part_of_the_pod(
    client: AdmissionClient,
) -> None:
    old = windows_pod("debugme")
    new = copy.deepcopy(old)
    new["spec"]["ephemeralContainers"] = [
        {
            "name": "debug",
            "image": windows_pod()["spec"]["containers"][0]["image"],
            "securityContext": {"privileged": True},
        }
    ]
    sent = review(new, operation="UPDATE", old=old, sub_resource="ephemeralcontainers")
    response = validate(client, sent)
    assert response["allowed"] is False
    assert "spec.ephemeralContainers[0].securityContext.privileged" in response["status"]["message"]


def test_a_dry_run_is_judged_exactly_like_a_real_request(client: AdmissionClient) -> None:
    real = validate(client, review(privileged_windows_pod(), uid="same"))
    dry = validate(client, review(privileged_windows_pod(), uid="same", dry_run=True))
    assert dry == real


def test_kinds_winpod_does_not_check_are_allowed(client: AdmissionClient) -> None:
    config_map = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {}}
    sent = review(config_map)
    assert validate(client, sent) == {"uid": sent["request"]["uid"], "allowed": True}


def test_a_namespace_capped_at_warn_turns_denials_into_warnings_that_say_would_deny(
    client: AdmissionClient,
) -> None:
    pod = privileged_windows_pod("capped")
    pod["metadata"]["namespace"] = "relaxed"
    response = validate(client, review(pod, namespace="relaxed"))
    assert response["allowed"] is True
    assert any(w.startswith("would deny: " + PRIVILEGED_PATH) for w in response["warnings"])
    assert not any(w.startswith("would deny: ") for w in response["warnings"] if "memory" in w)


def test_a_warn_only_review_that_enforcement_would_deny_is_marked_in_the_log_and_metrics(
    webhook: RunningWebhook, client: AdmissionClient
) -> None:
    pod = privileged_windows_pod("measured")
    pod["metadata"]["namespace"] = "relaxed"
    sent = review(pod, namespace="relaxed")
    assert validate(client, sent)["allowed"] is True
    [line] = [
        r
        for r in webhook.log_records()
        if r.get("event") == "review" and r["uid"] == sent["request"]["uid"]
    ]
    assert line["decision"] == "would-deny"
    assert line["wouldDeny"] == ["windows-privileged"]
    text = client.get("/metrics").body.decode()
    assert 'winpod_rule_hits_total{action="would-deny",rule="windows-privileged"}' in text
    assert (
        'winpod_admission_requests_total{decision="would-deny",kind="Pod",operation="CREATE",'
        'webhook="validate"}' in text
    )


def test_the_request_namespace_decides_the_policy_not_the_object_metadata(
    client: AdmissionClient,
) -> None:
    # On CREATE the object often has no metadata.namespace; the request always carries it.
    pod = privileged_windows_pod("nons")
    del pod["metadata"]["namespace"]
    assert validate(client, review(pod, namespace="relaxed"))["allowed"] is True
    assert validate(client, review(pod, namespace="default"))["allowed"] is False


def test_a_namespace_default_os_makes_an_unmarked_pod_a_windows_pod(
    client: AdmissionClient,
) -> None:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "plain"},
        "spec": {
            "containers": [
                {
                    "name": "app",
                    "image": "registry.k8s.io/pause:3.10",
                    "securityContext": {"privileged": True},
                }
            ]
        },
    }
    assert validate(client, review(pod, namespace="default"))["allowed"] is True
    response = validate(client, review(pod, namespace="windows-by-default"))
    assert response["allowed"] is False
    assert PRIVILEGED_PATH in response["status"]["message"]


def test_one_json_log_line_per_review_without_the_object(webhook: RunningWebhook) -> None:
    client = webhook.client()
    pod = privileged_windows_pod("logged")
    pod["spec"]["containers"][0]["env"] = [{"name": "TOKEN", "value": "s3cr3t-value"}]
    sent = review(pod, uid="log-line-uid")
    validate(client, sent)
    client.close()
    text = webhook.log_file.read_text()
    assert "s3cr3t-value" not in text
    [record] = [r for r in webhook.log_records() if r.get("uid") == "log-line-uid"]
    assert record["event"] == "review"
    assert record["decision"] == "deny"
    assert record["object"] == "Pod default/logged"
    assert record["operation"] == "CREATE" and record["kind"] == "Pod"
    assert "windows-privileged" in record["rules"]
    assert record["durationMs"] >= 0


def test_health_readiness_version_and_metrics(webhook: RunningWebhook) -> None:
    client = webhook.client()
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status == 200
    assert ready.json() == {
        "ready": True,
        "checks": {"accepting": True, "rules": True, "certificate": True, "cluster": True},
    }
    version = client.get("/version").json()
    assert set(version) == {"winpod", "kubernetesVersion", "kubernetesVersionFrom", "rules"}
    assert version["rules"] > 0
    # No --watch-cluster and no kubernetesVersion in the test config: the latest known.
    assert version["kubernetesVersion"] == str(LATEST)
    assert version["kubernetesVersionFrom"] == "latest known"
    validate(client, review(privileged_windows_pod()))
    metrics = client.get("/metrics")
    assert metrics.status == 200
    text = metrics.body.decode()
    assert (
        'winpod_admission_requests_total{decision="deny",kind="Pod",operation="CREATE",webhook="validate"}'
        in text
    )
    assert 'winpod_rule_hits_total{action="deny",rule="windows-privileged"}' in text
    assert "winpod_admission_duration_seconds_bucket" in text
    assert "winpod_certificate_expiry_timestamp_seconds" in text
    client.close()
