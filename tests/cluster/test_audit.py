"""`winpod audit` against the stand-in apiserver: paging, owner skipping, outputs, PolicyReports."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import orjson
import pytest
import yaml
from winpod.cli import main
from winpod.cluster.audit import AuditSummary, audit, engine_evaluator, list_objects
from winpod.cluster.client import make_api_client
from winpod.cluster.view import ClusterSnapshotView
from winpod.config import Config
from winpod.engine.evaluate import Engine

from tests.cluster.conftest import WINDOWS_RUNTIME_CLASS
from tests.cluster.standin import StandinAPIServer
from tests.cluster.workloads import deployment, pod, replica_set

CRD = Path(__file__).parent / "data" / "wgpolicyk8s.io_policyreports.yaml"


RunAudit = Callable[..., tuple[int, str, str]]


@pytest.fixture
def run_audit(kubeconfig: Path, capsys: pytest.CaptureFixture[str]) -> RunAudit:
    """`run_audit(*args)`: `winpod audit` of the stand-in apiserver, (exit code, stdout, stderr)."""

    def run(*args: str) -> tuple[int, str, str]:
        code = main(["audit", "--kubeconfig", str(kubeconfig), *args])
        out, err = capsys.readouterr()
        return code, out, err

    return run


def policy_report_schema() -> dict[str, Any]:
    crd = next(d for d in yaml.safe_load_all(CRD.read_text()) if d)
    version = next(v for v in crd["spec"]["versions"] if v["name"] == "v1alpha2")
    schema: dict[str, Any] = version["schema"]["openAPIV3Schema"]
    return schema


def undeclared_fields(value: Any, schema: dict[str, Any], where: str = "") -> list[str]:
    """Fields the apiserver would prune (structural schemas drop what they do not declare)."""
    found: list[str] = []
    if isinstance(value, dict) and "properties" in schema:
        for key, child in value.items():
            if key not in schema["properties"]:
                found.append(f"{where}.{key}")
            else:
                found += undeclared_fields(child, schema["properties"][key], f"{where}.{key}")
    elif isinstance(value, list) and "items" in schema:
        for i, child in enumerate(value):
            found += undeclared_fields(child, schema["items"], f"{where}[{i}]")
    return found


@pytest.fixture
def small_cluster(apiserver: StandinAPIServer) -> StandinAPIServer:
    """The stand-in apiserver holding a Windows RuntimeClass, namespaces shop and tools, and in
    them a privileged Deployment with its ReplicaSet and 3 pods, bare and custom-owned pods."""
    apiserver.put("runtimeclasses", WINDOWS_RUNTIME_CLASS)
    for ns in ("shop", "tools"):
        apiserver.put("namespaces", {"metadata": {"name": ns}})
    apiserver.put(
        "deployments", deployment("shop", "web", runtime_class="windows-2022", privileged=True)
    )
    apiserver.put("replicasets", replica_set("shop", "web-1", "web", "windows", privileged=True))
    apiserver.put_many(
        "pods",
        [
            pod(
                "shop",
                f"web-1-{i}",
                "windows",
                privileged=True,
                owner=("apps/v1", "ReplicaSet", "web-1"),
            )
            for i in range(3)
        ],
    )
    apiserver.put("pods", pod("shop", "scratch", "windows", memory_medium=True))
    apiserver.put("pods", pod("tools", "runner", "linux", owner=("example.com/v1", "Runner", "r")))
    apiserver.put("pods", pod("tools", "debug", "linux"))
    return apiserver


def test_audit_lists_1200_pods_in_pages_of_100_and_never_holds_more_than_a_page(
    apiserver: StandinAPIServer, run_audit: RunAudit
) -> None:
    apiserver.put_many(
        "pods",
        [
            pod(
                f"ns-{i % 3}",
                f"p-{i:04}",
                "windows" if i % 10 == 0 else "linux",
                privileged=i % 10 == 0,
            )
            for i in range(1200)
        ],
    )
    code, out, _ = run_audit("--page-size", "100", "--format", "json")
    summary = orjson.loads(out)["summary"]
    assert summary["listed"] == {"Pod": 1200}
    assert summary["checked"] == 1200
    assert summary["denied"] == 120 and summary["clean"] == 1080
    pod_lists = apiserver.requests_to("/api/v1/pods")
    assert len(pod_lists) == 12 and {q["limit"] for q in pod_lists} == {"100"}
    assert sum("continue" in q for q in pod_lists) == 11
    assert apiserver.max_items_per_response <= 100
    assert code == 1  # something would be denied


def test_objects_are_evaluated_as_each_page_arrives(
    apiserver: StandinAPIServer, kubeconfig: Path
) -> None:
    apiserver.put_many(
        "pods", [pod("ns", f"p-{i:04}", "windows", privileged=True) for i in range(300)]
    )
    client = make_api_client(str(kubeconfig))
    try:
        view = ClusterSnapshotView.read(Config(), client)
        summary = AuditSummary()
        results = audit(
            list_objects(client, None, 100, summary), engine_evaluator(Engine(), view), summary
        )
        next(results)
        assert len(apiserver.requests_to("/api/v1/pods")) == 1  # only the first page so far
        assert sum(1 for _ in results) == 299
        assert len(apiserver.requests_to("/api/v1/pods")) == 3
    finally:
        client.close()


@pytest.mark.usefixtures("small_cluster")
def test_pods_owned_by_an_audited_controller_are_covered_by_its_template(
    run_audit: RunAudit,
) -> None:
    code, out, _ = run_audit("--format", "json")
    doc = orjson.loads(out)
    summary = doc["summary"]
    assert summary["skippedCoveredByController"] == {"Pod": 3, "ReplicaSet": 1}
    assert summary["checked"] == 4  # the Deployment, the bare pods, the custom-owned pod
    denied = [(o["kind"], o["name"]) for o in doc["objects"] if o["verdict"] == "deny"]
    assert denied == [("Deployment", "web")]  # denied through the cluster's RuntimeClass
    assert code == 1


@pytest.mark.usefixtures("small_cluster")
def test_the_text_summary_says_what_was_skipped_and_why(run_audit: RunAudit) -> None:
    code, out, _ = run_audit()
    assert "DENY Deployment shop/web (OS: windows" in out
    assert "(rule windows-privileged)" in out
    assert "not checked again, their controller's template was: Pod 3, ReplicaSet 1" in out
    assert "checked 4: 1 would be denied" in out
    assert code == 1


@pytest.mark.usefixtures("small_cluster")
def test_policy_reports_validate_against_the_upstream_crd_schema(run_audit: RunAudit) -> None:
    code, out, err = run_audit("--format", "policyreport")
    reports = [d for d in yaml.safe_load_all(out) if d]
    assert [(r["kind"], r["metadata"]["namespace"]) for r in reports] == [
        ("PolicyReport", "shop"),
        ("PolicyReport", "tools"),
    ]
    schema = policy_report_schema()
    for report in reports:
        jsonschema.validate(report, schema)
        assert undeclared_fields(report, schema) == []
        counts = {k: sum(r["result"] == k for r in report["results"]) for k in report["summary"]}
        assert counts == report["summary"]
    shop = {(r["rule"], r["result"], r["resources"][0]["name"]) for r in reports[0]["results"]}
    assert ("windows-privileged", "fail", "web") in shop
    assert ("windows-emptydir-memory", "warn", "scratch") in shop
    tools = reports[1]["results"]
    assert {r["result"] for r in tools} == {"pass"}
    assert tools[0]["resources"][0]["uid"] and tools[0]["source"] == "winpod"
    assert set(tools[0]["timestamp"]) == {"seconds", "nanos"}
    assert "winpod audit: listed" in err  # the summary goes to stderr, the YAML to stdout
    assert code == 1


def test_apply_creates_the_reports_then_replaces_them(
    small_cluster: StandinAPIServer, run_audit: RunAudit
) -> None:
    _, _, err = run_audit("--apply")
    assert "applied 2 PolicyReports" in err
    stored = small_cluster.resources["policyreports"].objects
    first_rv = stored[("shop", "winpod")]["metadata"]["resourceVersion"]
    small_cluster.delete("deployments", "web", "shop")
    run_audit("--apply")
    assert sorted(stored) == [("shop", "winpod"), ("tools", "winpod")]
    report = stored[("shop", "winpod")]
    assert report["metadata"]["resourceVersion"] != first_rv
    assert report["summary"]["fail"] == 0  # the denied Deployment is gone


def test_a_continue_token_that_expires_mid_audit_is_a_clear_error(
    apiserver: StandinAPIServer, run_audit: RunAudit
) -> None:
    apiserver.put_many("pods", [pod("ns", f"p-{i:03}") for i in range(30)])
    apiserver.expire_next_continue = True
    code, _, err = run_audit("--page-size", "10")
    assert code == 3
    assert "listing /api/v1/pods: the paged list expired before it finished (410 Gone" in err


def test_a_malformed_object_is_reported_as_an_error_not_a_crash(
    apiserver: StandinAPIServer, run_audit: RunAudit
) -> None:
    broken = pod("ns", "broken", "windows")
    broken["spec"]["containers"] = {"name": "not-a-list"}
    apiserver.put("pods", broken)
    apiserver.put("pods", pod("ns", "fine"))
    code, out, err = run_audit("--format", "policyreport")
    report = next(d for d in yaml.safe_load_all(out) if d)
    assert report["summary"]["error"] == 1 and report["summary"]["pass"] == 1
    assert "1 unreadable" in err
    assert code == 0


def test_namespace_labels_cap_the_action_in_the_audit(
    apiserver: StandinAPIServer, run_audit: RunAudit
) -> None:
    apiserver.put(
        "namespaces", {"metadata": {"name": "lenient", "labels": {"winpod.io/max-action": "warn"}}}
    )
    apiserver.put("namespaces", {"metadata": {"name": "strict"}})
    for ns in ("lenient", "strict"):
        apiserver.put("pods", pod(ns, "p", "windows", privileged=True))
    code, out, _ = run_audit("--format", "json")
    verdicts = {o["namespace"]: o["verdict"] for o in orjson.loads(out)["objects"]}
    assert verdicts == {"lenient": "warn", "strict": "deny"}
    assert code == 1


def test_selected_namespaces_are_listed_through_their_namespaced_paths(
    small_cluster: StandinAPIServer, run_audit: RunAudit
) -> None:
    code, out, err = run_audit("-n", "tools", "-n", "nowhere", "--format", "json")
    assert {o["namespace"] for o in orjson.loads(out)["objects"]} <= {"tools"}
    assert orjson.loads(out)["summary"]["checked"] == 2
    assert small_cluster.requests_to("/api/v1/namespaces/tools/pods")
    assert not small_cluster.requests_to("/api/v1/pods")
    assert not small_cluster.requests_to("/api/v1/namespaces")  # got by name, not listed
    assert small_cluster.requests_to("/api/v1/namespaces/tools")
    assert "namespace nowhere not found" in err
    assert code == 0


@pytest.mark.usefixtures("small_cluster")
def test_sarif_output_names_each_finding_by_rule_and_object(run_audit: RunAudit) -> None:
    _, out, _ = run_audit("--format", "sarif")
    sarif = orjson.loads(out)
    results = sarif["runs"][0]["results"]
    assert sarif["version"] == "2.1.0"
    assert {r["level"] for r in results if r["ruleId"] == "windows-privileged"} == {"error"}
    names = [r["locations"][0]["logicalLocations"][0]["fullyQualifiedName"] for r in results]
    assert (
        "Deployment/shop/web:spec.template.spec.containers[0].securityContext.privileged" in names
    )


def test_mutate_evaluates_what_the_mutation_would_admit(
    apiserver: StandinAPIServer, run_audit: RunAudit
) -> None:
    apiserver.put("pods", pod("ns", "win", "windows", privileged=True))
    code, out, _ = run_audit("--mutate", "--format", "json")
    objects = orjson.loads(out)["objects"]
    assert [(o["name"], o["verdict"]) for o in objects] == [("win", "deny")]
    assert code == 1


def test_an_unreachable_cluster_is_exit_code_3(
    apiserver: StandinAPIServer, run_audit: RunAudit
) -> None:
    apiserver.stop()
    code, out, err = run_audit()
    assert code == 3 and out == ""
    assert err.startswith("winpod audit: cannot list RuntimeClasses:")
