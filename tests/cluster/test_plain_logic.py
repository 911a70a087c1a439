"""The logic above the client, on plain objects: namespace labels, owner coverage, report mapping."""

from __future__ import annotations

from winpod.cluster.audit import covering_owner
from winpod.cluster.nspolicy import namespace_labels, namespace_policy
from winpod.cluster.policyreport import ObjectRef, evaluation_results, timestamp
from winpod.config import Config, NamespacePolicy
from winpod.engine.evaluate import Engine

from tests.cluster.workloads import pod


def test_labels_win_over_the_config_entry_and_invalid_values_are_dropped() -> None:
    config = Config.model_validate(
        {"namespaces": {"a": {"defaultOS": "linux", "maxAction": "deny"}}}
    )
    labels = {"winpod.io/default-os": "windows", "winpod.io/max-action": "block"}
    assert namespace_policy(config, "a", labels) == NamespacePolicy(
        defaultOS="windows", maxAction="deny"
    )
    assert namespace_policy(config, "b", {}) is None
    assert namespace_policy(config, "b", {"winpod.io/max-action": "audit"}) == NamespacePolicy(
        maxAction="audit"
    )


def test_the_namespace_cache_keeps_only_winpods_labels() -> None:
    obj = {"metadata": {"name": "a", "labels": {"team": "x", "winpod.io/default-os": "linux"}}}
    assert namespace_labels(obj) == {"winpod.io/default-os": "linux"}
    assert namespace_labels({"metadata": {"name": "a"}}) == {}


def test_only_a_controlling_owner_of_an_audited_kind_covers_an_object() -> None:
    owned = pod("ns", "p", owner=("apps/v1", "ReplicaSet", "rs"))
    assert covering_owner(owned) == "ReplicaSet/rs"
    owned["metadata"]["ownerReferences"][0]["controller"] = False
    assert covering_owner(owned) is None
    assert covering_owner(pod("ns", "p", owner=("example.com/v1", "ReplicaSet", "rs"))) is None
    assert covering_owner(pod("ns", "p", owner=("batch/v1", "Job", "j"))) == "Job/j"
    assert covering_owner(pod("ns", "p")) is None


def test_deny_is_fail_warn_is_warn_audit_is_low_severity_warn_and_exempted_is_skip() -> None:
    windows = pod("ns", "p", "windows", privileged=True, memory_medium=True)
    windows["kind"] = "Pod"
    engine = Engine()
    ref = ObjectRef("v1", "Pod", "ns", "p", "uid-1")
    results = evaluation_results(ref, engine.evaluate(windows), timestamp(1.5))
    by_rule = {r["rule"]: (r["result"], r["severity"]) for r in results}
    assert by_rule["windows-privileged"] == ("fail", "high")
    assert by_rule["windows-emptydir-memory"] == ("warn", "medium")
    assert results[0]["timestamp"] == {"seconds": 1, "nanos": 500_000_000}
    windows["metadata"]["annotations"] = {
        "winpod.io/exempt": "windows-privileged",
        "winpod.io/exempt-reason": "migrating to HostProcess",
    }
    exempted = [
        r
        for r in evaluation_results(ref, engine.evaluate(windows), timestamp())
        if r["rule"] == "windows-privileged"
    ]
    assert exempted[0]["result"] == "skip"
    assert exempted[0]["properties"]["exemptionReason"] == "migrating to HostProcess"
    clean = evaluation_results(ref, engine.evaluate({**pod("ns", "q"), "kind": "Pod"}), timestamp())
    assert [r["result"] for r in clean] == ["pass"]
