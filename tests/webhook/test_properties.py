"""Property tests against the real server: generated and mangled reviews.

Whatever arrives: never a 5xx, never a hang; every 200 is a valid AdmissionReview echoing the
uid and apiVersion sent; every 4xx is {"error": ...}. And a privileged Windows pod stays
denied however the rest of it is mangled. The example counts are printed (run with -s).
"""

from __future__ import annotations

import copy
from collections import Counter
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from winpod.webhook.review import AdmissionReviewOut

from tests.conftest import AdmissionClient, Reply
from tests.webhook.reviews import (
    NGINX,
    SERVERCORE,
    WORKLOADS,
    linux_pod,
    memory_mismatch_windows_pod,
    privileged_windows_pod,
    review,
    windows_pod,
    workload,
)

GENERATED_EXAMPLES = 300
MANGLED_EXAMPLES = 300
DENIAL_EXAMPLES = 200


def examples(count: int) -> settings:
    return settings(
        max_examples=count,
        deadline=None,
        database=None,  # no .hypothesis/ directory in the tree
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


json_leaf = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
json_value = st.recursive(
    json_leaf,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)

images = st.sampled_from(
    [
        SERVERCORE,
        NGINX,
        "mcr.microsoft.com/windows/nanoserver:ltsc2019",
        "registry.k8s.io/pause:3.10",
        "",
        "x",
    ]
)
quantities = st.sampled_from(["256Mi", "1Gi", "512Mi", "500m", "1", "abc", "", "-1"])
resources = st.fixed_dictionaries(
    {},
    optional={
        "requests": st.dictionaries(
            st.sampled_from(["memory", "cpu", "hugepages-2Mi"]), quantities, max_size=3
        ),
        "limits": st.dictionaries(st.sampled_from(["memory", "cpu"]), quantities, max_size=2),
    },
)
security_contexts = st.fixed_dictionaries(
    {},
    optional={
        "privileged": st.booleans(),
        "runAsUser": st.integers(min_value=0, max_value=70000),
        "runAsNonRoot": st.booleans(),
        "allowPrivilegeEscalation": st.booleans(),
        "capabilities": st.fixed_dictionaries(
            {"add": st.lists(st.sampled_from(["NET_ADMIN", "SYS_TIME"]), max_size=2)}
        ),
        "windowsOptions": st.fixed_dictionaries(
            {},
            optional={
                "hostProcess": st.booleans(),
                "runAsUserName": st.sampled_from(["ContainerUser", "NT AUTHORITY\\SYSTEM"]),
            },
        ),
        "seLinuxOptions": st.fixed_dictionaries({"level": st.just("s0")}),
    },
)
containers = st.builds(
    lambda name, image, res, sc, extra: {
        "name": name,
        "image": image,
        "resources": res,
        "securityContext": sc,
        **extra,
    },
    st.text(alphabet="abcdefgh", min_size=1, max_size=5),
    images,
    resources,
    security_contexts,
    st.dictionaries(
        st.sampled_from(["volumeMounts", "ports", "env", "command"]), json_value, max_size=2
    ),
)
pod_specs = st.fixed_dictionaries(
    {"containers": st.lists(containers, min_size=1, max_size=3)},
    optional={
        "initContainers": st.lists(containers, max_size=2),
        "os": st.fixed_dictionaries({"name": st.sampled_from(["windows", "linux", "plan9"])}),
        "nodeSelector": st.dictionaries(
            st.sampled_from(["kubernetes.io/os", "node.kubernetes.io/windows-build"]),
            st.sampled_from(["windows", "linux", "10.0.20348"]),
            max_size=2,
        ),
        "hostNetwork": st.booleans(),
        "hostPID": st.booleans(),
        "runtimeClassName": st.sampled_from(["windows-2022", "runc", ""]),
        "volumes": st.lists(
            st.fixed_dictionaries(
                {"name": st.just("v")},
                optional={
                    "emptyDir": st.fixed_dictionaries(
                        {}, optional={"medium": st.sampled_from(["Memory", ""])}
                    ),
                    "hostPath": st.fixed_dictionaries({"path": st.just("C:\\\\data")}),
                },
            ),
            max_size=2,
        ),
        "securityContext": security_contexts,
        "terminationGracePeriodSeconds": st.integers(min_value=0, max_value=100),
    },
)
pod_annotations = st.dictionaries(
    st.sampled_from(["winpod.io/exempt", "winpod.io/exempt-reason", "other"]),
    st.sampled_from(
        ["windows-privileged", "windows-privileged,windows-memory-limits", "*", "because", ""]
    ),
    max_size=3,
)


@st.composite
def generated_reviews(draw: st.DrawFn) -> dict[str, Any]:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": draw(st.text(alphabet="abcxyz-", min_size=1, max_size=8)),
            "annotations": draw(pod_annotations),
        },
        "spec": draw(pod_specs),
    }
    kind = draw(st.sampled_from(sorted(WORKLOADS)))
    obj = workload(kind, pod, name="gen")
    operation = draw(st.sampled_from(["CREATE", "UPDATE", "DELETE", "CONNECT"]))
    sent = review(
        obj if operation != "DELETE" else None,
        operation=operation,
        uid=draw(st.uuids()).hex,
        api_version=draw(st.sampled_from(["admission.k8s.io/v1", "admission.k8s.io/v1beta1"])),
        namespace=draw(st.sampled_from(["default", "relaxed", "windows-by-default", None])),
        kind=kind,
        sub_resource=draw(st.sampled_from([None, None, None, "status", "ephemeralcontainers"])),
        old=obj if operation != "CREATE" else None,
        dry_run=draw(st.booleans()),
    )
    return sent


def paths_of(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(node, dict):
        for key, child in node.items():
            found += paths_of(child, (*prefix, key))
    elif isinstance(node, list):
        for index, child in enumerate(node):
            found += paths_of(child, (*prefix, index))
    return found


def mangle(doc: Any, path: tuple[Any, ...], how: str, value: Any) -> Any:
    if not path:
        return value
    parent = doc
    for step in path[:-1]:
        parent = parent[step]
    last = path[-1]
    if how == "delete":
        del parent[last]
    elif how == "wrap":
        parent[last] = [parent[last]]
    else:
        parent[last] = value
    return doc


@st.composite
def mangled_bodies(draw: st.DrawFn) -> tuple[bytes, dict[str, Any]]:
    base = draw(
        st.sampled_from(
            [
                review(privileged_windows_pod()),
                review(memory_mismatch_windows_pod()),
                review(linux_pod()),
                review(workload("CronJob", privileged_windows_pod())),
                review(windows_pod(), api_version="admission.k8s.io/v1beta1"),
            ]
        )
    )
    doc: Any = copy.deepcopy(base)
    doc["request"]["uid"] = draw(st.uuids()).hex
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        paths = paths_of(doc)
        # Mostly inside the object: the envelope's breakages are few and all end in a 400.
        request = doc.get("request") if isinstance(doc, dict) else None
        obj = request.get("object") if isinstance(request, dict) else None
        if isinstance(obj, dict) and draw(st.integers(min_value=0, max_value=3)) > 0:
            paths = paths_of(obj, ("request", "object"))
        path = draw(st.sampled_from(paths))
        how = draw(st.sampled_from(["replace", "delete", "wrap"]))
        if how in ("delete", "wrap") and not path:
            how = "replace"
        doc = mangle(doc, path, how, draw(json_value))
    body = orjson.dumps(doc)
    cut = draw(st.sampled_from(["none", "none", "none", "truncate", "garbage"]))
    if cut == "truncate":
        body = body[: draw(st.integers(min_value=0, max_value=len(body)))]
    elif cut == "garbage":
        at = draw(st.integers(min_value=0, max_value=len(body)))
        body = body[:at] + draw(st.binary(min_size=1, max_size=8)) + body[at:]
    return body, doc


def _parsed(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return None


def check_reply(reply: Reply, sent: Any) -> str:
    """The invariants every answer keeps; returns a label for the tally."""
    assert reply.status < 500, (reply.status, reply.body[:300])
    assert reply.headers["content-type"] == "application/json"
    body = reply.json()
    if reply.status != 200:
        assert reply.status in (400, 413, 415)
        assert set(body) == {"error"} and isinstance(body["error"], str) and body["error"]
        return str(reply.status)
    AdmissionReviewOut.model_validate(body)
    assert isinstance(sent, dict)
    assert body["apiVersion"] == sent["apiVersion"]
    assert body["response"]["uid"] == sent["request"]["uid"]
    return "allowed" if body["response"]["allowed"] else "denied"


def test_generated_reviews_always_get_a_valid_answer(client: AdmissionClient) -> None:
    tally: Counter[str] = Counter()

    @examples(GENERATED_EXAMPLES)
    @given(generated_reviews())
    def check(sent: dict[str, Any]) -> None:
        reply = client.review(sent)
        label = check_reply(reply, sent)
        assert label in ("allowed", "denied")  # well-formed reviews are always answered
        tally[label] += 1

    check()
    print(f"\ngenerated reviews: {sum(tally.values())} examples, {dict(tally)}")
    assert sum(tally.values()) >= GENERATED_EXAMPLES // 2


def test_mangled_reviews_get_a_valid_answer_or_a_clear_4xx(client: AdmissionClient) -> None:
    tally: Counter[str] = Counter()

    @examples(MANGLED_EXAMPLES)
    @given(mangled_bodies())
    def check(case: tuple[bytes, dict[str, Any]]) -> None:
        body, _ = case
        reply = client.post_json("/validate?timeout=10s", body)
        # What the server parsed, not the document before the cut: garbage that lands inside
        # a string (the uid, say) leaves valid JSON with another uid.
        tally[check_reply(reply, _parsed(body))] += 1

    check()
    print(f"\nmangled reviews: {sum(tally.values())} examples, {dict(tally)}")
    assert sum(tally.values()) >= MANGLED_EXAMPLES // 2


# Mangling these could legitimately make the pod acceptable (not Windows, not privileged,
# exempted, not a create, another namespace's policy); everything else is fair game.
_PROTECTED = (
    ("request", "kind"),
    ("request", "operation"),
    ("request", "subResource"),
    ("request", "namespace"),
    ("request", "object", "spec", "os"),
    ("request", "object", "spec", "nodeSelector"),
    ("request", "object", "spec", "runtimeClassName"),
    ("request", "object", "metadata", "annotations"),
    ("request", "object", "spec", "containers", 0, "securityContext", "privileged"),
)


def _protected(path: tuple[Any, ...]) -> bool:
    # A protected path, anything under it, or anything above it (replacing spec replaces os).
    return any(path[: len(p)] == p or p[: len(path)] == path for p in _PROTECTED)


def test_a_privileged_windows_pod_stays_denied_however_the_rest_is_mangled(
    client: AdmissionClient,
) -> None:
    tally: Counter[str] = Counter()
    base = review(privileged_windows_pod("target"))

    @examples(DENIAL_EXAMPLES)
    @given(st.data())
    def check(data: st.DataObject) -> None:
        doc = copy.deepcopy(base)
        doc["request"]["uid"] = data.draw(st.uuids()).hex
        for _ in range(data.draw(st.integers(min_value=1, max_value=3))):
            candidates = [
                p
                for p in paths_of(doc["request"]["object"], ("request", "object"))
                if not _protected(p)
            ]
            if not candidates:
                break
            path = data.draw(st.sampled_from(candidates))
            how = data.draw(st.sampled_from(["replace", "delete", "wrap"]))
            doc = mangle(doc, path, how, data.draw(json_value))
        reply = client.post_json("/validate?timeout=10s", orjson.dumps(doc))
        label = check_reply(reply, doc)
        assert label == "denied", reply.body[:500]
        tally[label] += 1

    check()
    print(f"\nprivileged Windows pod, mangled: {sum(tally.values())} examples, {dict(tally)}")
