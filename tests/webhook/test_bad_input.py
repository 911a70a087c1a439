"""Everything that is not a well-formed AdmissionReview: a clear 4xx JSON error, or an
AdmissionReview denial naming the path, on a connection that stays usable."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from winpod.webhook.review import AdmissionReviewOut

from tests.conftest import AdmissionClient, RunningWebhook
from tests.webhook.reviews import privileged_windows_pod, review, windows_pod

CAP = 3 * 1024 * 1024


def error_of(client: AdmissionClient, status: int, *request: Any) -> str:
    reply = client.request(*request) if request and isinstance(request[0], str) else None
    assert reply is not None
    assert reply.status == status, (reply.status, reply.body[:300])
    assert reply.headers["content-type"] == "application/json"
    body = reply.json()
    assert set(body) == {"error"} and body["error"]
    # The same keep-alive connection must still answer a good review.
    good = client.review(review(windows_pod()))
    assert good.status == 200
    message: str = body["error"]
    return message


def post(
    client: AdmissionClient, status: int, body: bytes, content_type: str | None = "application/json"
) -> str:
    headers = {"Content-Type": content_type} if content_type else {}
    return error_of(client, status, "POST", "/validate?timeout=10s", body, headers)


def with_request(**changes: Any) -> bytes:
    sent = review(windows_pod())
    for key, value in changes.items():
        if value is ...:
            del sent["request"][key]
        else:
            sent["request"][key] = value
    return orjson.dumps(sent)


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"", "empty body"),
        (b"not json at all", "not valid JSON"),
        (b'{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", ', "not valid JSON"),
        (b"\xff\xfe{}", "not valid JSON"),
        (b"[1, 2, 3]", "expected a JSON object"),
        (b'"AdmissionReview"', "expected a JSON object"),
        (b"null", "expected a JSON object"),
        (b'{"apiVersion": "admission.k8s.io/v1", "kind": "Pod"}', "kind must be AdmissionReview"),
        (b'{"apiVersion": "admission.k8s.io/v2", "kind": "AdmissionReview"}', "apiVersion must be"),
        (b'{"apiVersion": "v1", "kind": "AdmissionReview", "request": {}}', "apiVersion must be"),
        (b'{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"}', "request: required"),
        (
            b'{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": []}',
            "request: required",
        ),
        (with_request(uid=...), "request.uid"),
        (with_request(uid=""), "request.uid"),
        (with_request(uid=12345), "request.uid"),
        (with_request(kind=...), "request.kind"),
        (with_request(kind="Pod"), "request.kind"),
        (with_request(operation="PATCH"), "request.operation"),
        (with_request(dryRun="yes"), "request.dryRun"),
        (with_request(object=...), "request.object: required for CREATE"),
        (with_request(object=None), "request.object: required for CREATE"),
        (with_request(object=[1, 2]), "request.object: expected an object, got a list"),
        (with_request(object="a pod"), "request.object: expected an object, got a string"),
        (
            with_request(operation="UPDATE", subResource="ephemeralcontainers", object=...),
            "request.object: required for UPDATE",
        ),
        (b'{"response": {"uid": "x", "allowed": true}}', "kind must be AdmissionReview"),
    ],
)
def test_a_body_that_is_not_an_admission_review_is_a_400_naming_the_problem(
    client: AdmissionClient, body: bytes, says: str
) -> None:
    assert says in post(client, 400, body)


def test_nesting_past_the_parser_depth_limit_is_a_400_not_a_crash(client: AdmissionClient) -> None:
    deep = b"[" * 5000 + b"]" * 5000
    sent = review(windows_pod())
    sent["request"]["object"]["metadata"]["annotations"] = {"a": "PLACEHOLDER"}
    body = orjson.dumps(sent).replace(b'"PLACEHOLDER"', deep)
    assert "not valid JSON" in post(client, 400, body)


def test_deep_but_parseable_nesting_gets_a_normal_answer(client: AdmissionClient) -> None:
    sent = review(privileged_windows_pod("deep"))
    sent["request"]["object"]["spec"]["containers"][0]["extra"] = "PLACEHOLDER"
    deep = b'{"n":[' * 400 + b'"x"' + b"]}" * 400  # 800 levels: under orjson's 1024
    body = orjson.dumps(sent).replace(b'"PLACEHOLDER"', deep)
    reply = client.post_json("/validate?timeout=10s", body)
    assert reply.status == 200
    assert reply.json()["response"]["allowed"] is False


@pytest.mark.parametrize(
    "content_type", [None, "text/plain", "application/yaml", "application/x-www-form-urlencoded"]
)
def test_a_body_that_is_not_declared_json_is_a_415(
    client: AdmissionClient, content_type: str | None
) -> None:
    body = orjson.dumps(review(windows_pod()))
    assert "content type must be application/json" in post(client, 415, body, content_type)


def test_json_with_a_charset_is_accepted(client: AdmissionClient) -> None:
    reply = client.post_json("/validate", review(windows_pod()), "application/json; charset=utf-8")
    assert reply.status == 200


def test_a_body_over_the_cap_is_a_413_before_it_is_read(client: AdmissionClient) -> None:
    body = b" " * (CAP + 1)
    assert "limit" in post(client, 413, body)


def test_a_chunked_body_over_the_cap_is_a_413(client: AdmissionClient) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(5):
            yield b" " * (1024 * 1024)

    client.connection.putrequest("POST", "/validate?timeout=10s")
    client.connection.putheader("Content-Type", "application/json")
    client.connection.putheader("Transfer-Encoding", "chunked")
    client.connection.endheaders()
    for chunk in chunks():
        client.connection.send(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
    client.connection.send(b"0\r\n\r\n")
    response = client.connection.getresponse()
    assert response.status == 413
    assert "limit" in orjson.loads(response.read())["error"]


def test_a_big_pod_under_the_cap_is_answered(client: AdmissionClient) -> None:
    pod = privileged_windows_pod("big")
    pod["metadata"]["annotations"] = {"blob": "x" * (2 * 1024 * 1024)}
    reply = client.review(review(pod))
    assert reply.status == 200
    assert reply.json()["response"]["allowed"] is False


def test_wrong_methods_and_paths_are_json_errors(client: AdmissionClient) -> None:
    assert error_of(client, 405, "GET", "/validate")
    assert error_of(client, 404, "POST", "/nope", b"{}", {"Content-Type": "application/json"})


def test_every_refused_request_is_counted_by_status_and_logged_with_its_reason(
    webhook: RunningWebhook, client: AdmissionClient
) -> None:
    def count(code: int) -> float:
        for line in client.get("/metrics").body.decode().splitlines():
            if line.startswith(f'winpod_bad_requests_total{{code="{code}"}} '):
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    def refusals() -> list[dict[str, Any]]:
        return [r for r in webhook.log_records() if r.get("event") == "bad-request"]

    before = {code: count(code) for code in (400, 404, 405, 415)}
    earlier = len(refusals())
    # The log keeps 5 lines a second of each kind, counted in whole seconds of the monotonic
    # clock (refusals.py; the same clock in every process): start a fresh one.
    time.sleep(1 - time.monotonic() % 1)
    error_of(client, 405, "PUT", "/mutate")
    error_of(client, 404, "GET", "/no-such-path")
    error_of(client, 415, "POST", "/validate", b"{}", {"Content-Type": "text/plain"})
    error_of(client, 400, "POST", "/validate", b"[1]", {"Content-Type": "application/json"})
    assert {code: count(code) - before[code] for code in before} == {400: 1, 404: 1, 405: 1, 415: 1}
    # The server writes a refusal's line after answering it: wait for this test's four lines
    # (earlier tests' refusals of the same status and path must not stand in for them).
    deadline = time.monotonic() + 10
    while len(logged := refusals()[earlier:]) < 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    reasons = {(r["status"], r["path"]): r["reason"] for r in logged}
    assert reasons[(405, "/mutate")] == "PUT is not allowed: reviews are POSTed"
    assert reasons[(404, "/no-such-path")] == "Not Found"
    assert reasons[(415, "/validate")].startswith("content type must be application/json")
    assert reasons[(400, "/validate")].startswith("expected a JSON object")
    assert all(r["level"] == "warning" and r["client"].startswith("127.0.0.1:") for r in logged)


@pytest.mark.parametrize(
    ("spec_change", "path"),
    [
        ({"containers": "nginx"}, "spec.containers"),
        ({"containers": ["nginx"]}, "spec.containers[0]"),
        ({"initContainers": {"name": "x"}}, "spec.initContainers"),
        ({"securityContext": "privileged"}, "spec.securityContext"),
        (
            {"containers": [{"name": "a", "image": "x", "securityContext": "privileged"}]},
            "spec.containers[0].securityContext",
        ),
        ({"volumes": {"scratch": {"emptyDir": {}}}}, "spec.volumes"),
    ],
)
def test_a_windows_pod_with_an_odd_shape_is_denied_naming_the_path(
    client: AdmissionClient, spec_change: dict[str, Any], path: str
) -> None:
    pod = windows_pod("odd")
    pod["spec"].update(spec_change)
    sent = review(pod)
    reply = client.review(sent)
    assert reply.status == 200
    body = reply.json()
    AdmissionReviewOut.model_validate(body)
    response = body["response"]
    assert response["uid"] == sent["request"]["uid"]
    assert response["allowed"] is False
    assert response["status"]["code"] == 400
    assert response["status"]["message"].startswith("Pod default/odd cannot be checked by winpod: ")
    assert f"{path}: expected" in response["status"]["message"]


@pytest.mark.parametrize(
    "mangle",
    [
        lambda pod: pod.update(spec=["not", "a", "spec"]),
        lambda pod: pod.update(metadata="a string"),
        lambda pod: pod["metadata"].update(annotations=["a", "list"]),
        lambda pod: pod["spec"]["containers"][0].update(securityContext="privileged"),
        lambda pod: pod["spec"]["containers"][0].update(resources=[]),
        lambda pod: pod["spec"]["containers"][0].update(image=42),
        lambda pod: pod["spec"].update(nodeSelector="windows"),
        lambda pod: pod["spec"].update(volumes={"a": 1}),
        lambda pod: pod["spec"].update(os="windows"),
    ],
)
def test_a_privileged_windows_pod_with_odd_typed_fields_is_never_allowed(
    client: AdmissionClient, mangle: Any
) -> None:
    pod = privileged_windows_pod("mangled")
    mangle(pod)
    sent = review(pod)
    reply = client.review(sent)
    assert reply.status == 200, reply.body
    body = reply.json()
    AdmissionReviewOut.model_validate(body)
    assert body["response"]["uid"] == sent["request"]["uid"]
    assert body["response"]["allowed"] is False
