"""The SARIF 2.1.0 format, as GitHub code scanning and other SARIF viewers read it.

Every catalog rule is listed in tool.driver.rules (helpUri is the rule's source); every finding
is a result with its file and line; deny/warn/audit map to error/warning/note; exempted
findings carry a suppression with the recorded reason. Input errors are tool execution
notifications, and mark the invocation unsuccessful.
"""

from __future__ import annotations

import json
from pathlib import PurePath
from typing import Any
from urllib.parse import quote

from .model import Report

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_LEVEL = {"deny": "error", "warn": "warning", "audit": "note", "off": "none"}


def artifact_uri(file: str) -> str:
    """A relative URI reference for a file as given on the command line."""
    if file.startswith("<"):
        return quote(file.strip("<>"))
    path = PurePath(file)
    if path.is_absolute():
        return path.as_uri()
    return quote(path.as_posix())


def render_sarif(report: Report) -> str:
    rule_index = {rule.id: i for i, rule in enumerate(report.rules)}
    rules: list[dict[str, Any]] = []
    for rule in report.rules:
        rules.append(
            {
                "id": rule.id,
                "shortDescription": {"text": rule.title},
                "fullDescription": {"text": " ".join((rule.notes or rule.title).split())},
                "helpUri": rule.source,
                "help": {"text": f"{rule.title}. Source: {rule.source}"},
                "defaultConfiguration": {
                    "enabled": rule.action != "off",
                    "level": _LEVEL[rule.action],
                },
                "properties": {"os": rule.os, "action": rule.action},
            }
        )
    results: list[dict[str, Any]] = []
    for finding in report.findings:
        logical = "/".join(part for part in (finding.kind, finding.namespace, finding.name) if part)
        result: dict[str, Any] = {
            "ruleId": finding.rule,
            "level": _LEVEL[finding.action],
            "message": {
                "text": f"{finding.path}: {finding.message}; {finding.fix} (rule {finding.rule})"
            },
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": {"uri": artifact_uri(finding.file)},
                        "region": {"startLine": finding.line},
                    },
                    "logicalLocations": [
                        {"fullyQualifiedName": f"{logical}:{finding.path}", "kind": "object"}
                    ],
                }
            ],
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
        results.append(result)
    notifications: list[dict[str, Any]] = []
    for error in report.errors:
        location: dict[str, Any] = {"artifactLocation": {"uri": artifact_uri(error.file)}}
        if error.line:
            location["region"] = {"startLine": error.line}
        notifications.append(
            {
                "level": "error",
                "message": {"text": f"{error.file}: {error.message}"},
                "locations": [{"physicalLocation": location}],
            }
        )
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": "winpod",
                "version": report.winpod,
                "semanticVersion": report.winpod,
                "rules": rules,
            }
        },
        "invocations": [
            {
                "executionSuccessful": not report.errors,
                "exitCode": report.summary.exitCode,
                "toolExecutionNotifications": notifications,
            }
        ],
        "results": results,
        "properties": {"kubernetesVersion": report.kubernetesVersion},
    }
    log = {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}
    return json.dumps(log, indent=2, ensure_ascii=False) + "\n"
