"""Evaluations -> PolicyReport objects (wgpolicyk8s.io/v1alpha2), one per namespace.

The mapping, chosen so that PolicyReport consumers (policy-reporter, dashboards) count what an
admission webhook would do:
- deny  -> result "fail", severity high
- warn  -> result "warn", severity medium
- audit -> result "warn", severity low (audit findings are reported, never enforced; the
  `action` property keeps the distinction)
- an exempted finding -> result "skip" (the rule was waived for this object; the reason is in
  the `exemptionReason` property)
- an object with no findings -> one "pass" result with rule "windows-compatibility"
- an object the engine could not read (malformed) -> one "error" result
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..config import Action
from ..engine.findings import Evaluation, Finding

API_VERSION = "wgpolicyk8s.io/v1alpha2"
POLICY = "winpod"
SOURCE = "winpod"
CATEGORY = "Windows compatibility"
PASS_RULE = "windows-compatibility"
REPORT_NAME = "winpod"

_RESULT = {Action.DENY: "fail", Action.WARN: "warn", Action.AUDIT: "warn"}
_SEVERITY = {Action.DENY: "high", Action.WARN: "medium", Action.AUDIT: "low"}


@dataclass(frozen=True, slots=True)
class ObjectRef:
    api_version: str
    kind: str
    namespace: str
    name: str
    uid: str

    def as_reference(self) -> dict[str, str]:
        ref = {"apiVersion": self.api_version, "kind": self.kind, "name": self.name}
        if self.namespace:
            ref["namespace"] = self.namespace
        if self.uid:
            ref["uid"] = self.uid
        return ref


def timestamp(now: float | None = None) -> dict[str, int]:
    now = time.time() if now is None else now
    seconds = int(now)
    return {"seconds": seconds, "nanos": int((now - seconds) * 1e9)}


def finding_result(
    ref: ObjectRef, finding: Finding, os_summary: str, ts: dict[str, int]
) -> dict[str, Any]:
    properties = {
        "path": finding.path,
        "fix": finding.fix,
        "action": finding.action.value,
        "os": os_summary,
    }
    if finding.exempted:
        properties["exemptionReason"] = finding.exemption_reason or ""
    return {
        "source": SOURCE,
        "policy": POLICY,
        "rule": finding.rule,
        "category": CATEGORY,
        "severity": _SEVERITY[finding.action],
        "result": "skip" if finding.exempted else _RESULT[finding.action],
        "scored": True,
        "timestamp": ts,
        "message": finding.line(),
        "resources": [ref.as_reference()],
        "properties": properties,
    }


def evaluation_results(
    ref: ObjectRef, evaluation: Evaluation, ts: dict[str, int]
) -> list[dict[str, Any]]:
    """The report results for one evaluated object."""
    os_summary = evaluation.os.summary() if evaluation.os is not None else "unknown"
    if evaluation.findings:
        return [finding_result(ref, f, os_summary, ts) for f in evaluation.findings]
    return [
        {
            "source": SOURCE,
            "policy": POLICY,
            "rule": PASS_RULE,
            "category": CATEGORY,
            "result": "pass",
            "scored": True,
            "timestamp": ts,
            "message": f"no Windows compatibility findings (OS: {os_summary})",
            "resources": [ref.as_reference()],
        }
    ]


def error_result(ref: ObjectRef, message: str, ts: dict[str, int]) -> dict[str, Any]:
    return {
        "source": SOURCE,
        "policy": POLICY,
        "rule": PASS_RULE,
        "category": CATEGORY,
        "result": "error",
        "scored": True,
        "timestamp": ts,
        "message": message,
        "resources": [ref.as_reference()],
    }


RESULT_KINDS = ("pass", "fail", "warn", "error", "skip")


def report_header(namespace: str, counts: Mapping[str, int]) -> dict[str, Any]:
    """Everything in a namespace's PolicyReport but its results."""
    return {
        "apiVersion": API_VERSION,
        "kind": "PolicyReport",
        "metadata": {
            "name": REPORT_NAME,
            "namespace": namespace,
            "labels": {"app.kubernetes.io/managed-by": "winpod"},
        },
        "summary": {kind: int(counts.get(kind, 0)) for kind in RESULT_KINDS},
    }


def policy_report(namespace: str, results: Iterable[dict[str, Any]]) -> dict[str, Any]:
    listed = list(results)
    counts: dict[str, int] = {}
    for result in listed:
        counts[result["result"]] = counts.get(result["result"], 0) + 1
    report = report_header(namespace, counts)
    report["results"] = listed
    return report
