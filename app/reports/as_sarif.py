"""The SARIF 2.1.0 format, as GitHub code scanning and other SARIF viewers read it; one mapping
for `winpod check` (findings in files) and `winpod audit` (findings on cluster objects).

Every catalog rule is listed in tool.driver.rules (helpUri is the rule's source); every finding
is a result, with its file and line when it has them and always a logical location naming the
object and the path; deny/warn/audit map to error/warning/note; exempted findings carry a
suppression with the recorded reason (never dropped). Input errors are tool execution
notifications, and mark the invocation unsuccessful. Results are written as they come, so a
long run's log is streamed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import PurePath
from typing import Any, TextIO
from urllib.parse import quote

from .model import ErrorRecord, FindingRecord, RuleRecord
from .records import finding_text

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
LEVEL = {"deny": "error", "warn": "warning", "audit": "note", "off": "none"}


def artifact_uri(file: str) -> str:
    """A relative URI reference for a file as given on the command line."""
    if file.startswith("<"):
        return quote(file.strip("<>"))
    path = PurePath(file)
    if path.is_absolute():
        return path.as_uri()
    return quote(path.as_posix())


def rule_descriptor(rule: RuleRecord) -> dict[str, Any]:
    return {
        "id": rule.id,
        "shortDescription": {"text": rule.title},
        "fullDescription": {"text": " ".join((rule.notes or rule.title).split())},
        "helpUri": rule.source,
        "help": {"text": f"{rule.title}. Source: {rule.source}"},
        "defaultConfiguration": {"enabled": rule.action != "off", "level": LEVEL[rule.action]},
        "properties": {"os": rule.os, "action": rule.action},
    }


def result_of(finding: FindingRecord, rule_index: dict[str, int]) -> dict[str, Any]:
    logical = "/".join(part for part in (finding.kind, finding.namespace, finding.name) if part)
    location: dict[str, Any] = {
        "logicalLocations": [{"fullyQualifiedName": f"{logical}:{finding.path}", "kind": "object"}]
    }
    if finding.file is not None:
        physical: dict[str, Any] = {"artifactLocation": {"uri": artifact_uri(finding.file)}}
        if finding.line:
            physical["region"] = {"startLine": finding.line}
            if finding.column:
                physical["region"]["startColumn"] = finding.column
        location = {"physicalLocation": physical, **location}
    result: dict[str, Any] = {
        "ruleId": finding.rule,
        "level": LEVEL[finding.action],
        "message": {"text": finding_text(finding)},
        "locations": [location],
        "properties": {
            "action": finding.action,
            "kind": finding.kind,
            "namespace": finding.namespace,
            "name": finding.name,
            "path": finding.path,
            "fix": finding.fix,
        },
    }
    if finding.rule in rule_index:
        result["ruleIndex"] = rule_index[finding.rule]
    if finding.exempted:
        result["suppressions"] = [
            {"kind": "inSource", "justification": finding.exemptionReason or ""}
        ]
    return result


def notification_of(error: ErrorRecord) -> dict[str, Any]:
    location: dict[str, Any] = {"artifactLocation": {"uri": artifact_uri(error.file)}}
    if error.line:
        location["region"] = {"startLine": error.line}
    return {
        "level": "error",
        "message": {"text": f"{error.file}: {error.message}"},
        "locations": [{"physicalLocation": location}],
    }


class SarifStream:
    """A SARIF log written as it goes: `result()` per finding, `finish()` once."""

    def __init__(
        self, out: TextIO, rules: Iterable[RuleRecord], version: str, kubernetes_version: str
    ) -> None:
        self.out = out
        self.rules = list(rules)
        self.index = {rule.id: i for i, rule in enumerate(self.rules)}
        driver = {
            "name": "winpod",
            "version": version,
            "semanticVersion": version,
            "rules": [rule_descriptor(rule) for rule in self.rules],
        }
        head = json.dumps(
            {"$schema": SARIF_SCHEMA, "version": "2.1.0"}, ensure_ascii=False, indent=2
        )[:-2]
        out.write(head + ',\n  "runs": [\n    {\n      "tool": {"driver": ')
        out.write(json.dumps(driver, ensure_ascii=False))
        out.write('},\n      "properties": ')
        out.write(json.dumps({"kubernetesVersion": kubernetes_version}))
        out.write(',\n      "results": [')
        self.first = True

    def result(self, finding: FindingRecord) -> None:
        self.out.write("\n        " if self.first else ",\n        ")
        self.out.write(json.dumps(result_of(finding, self.index), ensure_ascii=False))
        self.first = False

    def finish(self, exit_code: int, errors: Iterable[ErrorRecord] = ()) -> None:
        notifications = [notification_of(error) for error in errors]
        invocation = {
            "executionSuccessful": not notifications,
            "exitCode": exit_code,
            "toolExecutionNotifications": notifications,
        }
        self.out.write('\n      ],\n      "invocations": [')
        self.out.write(json.dumps(invocation, ensure_ascii=False))
        self.out.write("]\n    }\n  ]\n}\n")
