"""Verdicts compared between the engine and the exported policies: which rules fire, with
which outcome (deny: blocks; warn; audit; exempt: an exemption, reported as a warning and an
audit annotation), for one object."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from winpod.engine.findings import Evaluation
from winpod.engine.visit import CHECKED_KINDS
from winpod.export import Export
from winpod.manifests import read_inputs

from tests.export.celeval import Policy, request_for, without_nulls

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"
Verdict = frozenset[tuple[str, str]]


def corpus_items() -> list[tuple[str, dict[str, Any]]]:
    """Every object of ../shared/corpus that winpod judges, named FILE#INDEX."""
    if not CORPUS.is_dir():
        return []
    found = []
    for path in sorted(CORPUS.glob("*.yaml")):
        for index, manifest in enumerate(read_inputs([str(path)]).manifests):
            if manifest.obj.get("kind") in CHECKED_KINDS:
                found.append((f"{path.stem}#{index}", manifest.obj))
    return found


_RULE = re.compile(r"\(rule ([a-z0-9-]+)\)")
_RULE_AT_END = re.compile(r"^(.*) \(rule ([a-z0-9-]+)\)$")


def engine_verdict(evaluation: Evaluation, left: Iterable[str] = ()) -> Verdict:
    skipped = set(left)
    found = set()
    for finding in evaluation.findings:
        if finding.rule in skipped:
            continue
        if finding.exempted:
            outcome = "exempt"
        elif finding.blocks:
            outcome = "deny"
        else:
            outcome = finding.action.value
        found.add((finding.rule, outcome))
    return frozenset(found)


def _segments(text: str) -> list[tuple[str, str]]:
    """'hit | hit (rule a) | hit (rule b)' -> [(hit, a), (hit, a), (hit, b)]."""
    pending: list[str] = []
    out = []
    for segment in text.split(" | "):
        match = _RULE_AT_END.match(segment)
        if match is None:
            pending.append(segment)
            continue
        pending.append(match.group(1))
        out.extend((hit, match.group(2)) for hit in pending)
        pending = []
    return out


def warning_verdict(messages: Iterable[str]) -> set[tuple[str, str]]:
    found = set()
    for message in messages:
        for hit, rule in _segments(message):
            found.add((rule, "exempt" if hit.startswith("exempted (") else "warn"))
    return found


@dataclass
class Exported:
    """An export, compiled for offline evaluation, its policies picked per namespace as the
    bindings' selectors pick them."""

    export: Export
    policies: list[tuple[Policy, dict[str, Any]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        bindings = {
            o["spec"]["policyName"]: o for o in self.export.objects if o["kind"].endswith("Binding")
        }
        for obj in self.export.objects:
            if not obj["kind"].endswith("Binding"):
                self.policies.append((Policy(obj), bindings[obj["metadata"]["name"]]))

    def bound(
        self, namespace: str, labels: Mapping[str, str] | None = None
    ) -> list[tuple[Policy, dict[str, Any]]]:
        labels = {"kubernetes.io/metadata.name": namespace, **(labels or {})}
        return [
            (policy, binding)
            for policy, binding in self.policies
            if _selects(binding["spec"]["matchResources"]["namespaceSelector"], labels)
        ]

    def judge(
        self, obj: Mapping[str, Any], namespace: str = "default"
    ) -> tuple[Verdict, list[dict[str, Any]]]:
        """(verdict, JSONPatch) of the policies for `obj` created in `namespace`."""
        target = without_nulls(dict(obj))
        target.setdefault("metadata", {})
        target["metadata"] = {**target["metadata"], "namespace": namespace}
        request = request_for(target)
        shared: dict[str, Any] = {}
        found: set[tuple[str, str]] = set()
        patch: list[dict[str, Any]] = []
        for policy, binding in self.bound(namespace):
            if policy.kind == "MutatingAdmissionPolicy":
                if target.get("kind") == "Pod":
                    patch.extend(policy.evaluate(request, shared).patch)
                continue
            outcome = policy.evaluate(request, shared)
            actions = binding["spec"]["validationActions"]
            if "Deny" in actions:
                for message in outcome.failed:
                    found.update((rule, "deny") for rule in _RULE.findall(message))
            if "Warn" in actions:
                found |= warning_verdict(outcome.failed)
            for value in outcome.annotations.values():
                for hit, rule in _segments(value):
                    found.add((rule, "exempt" if hit.startswith("exempted (") else "audit"))
        return frozenset(found), patch


def _selects(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    for expression in selector.get("matchExpressions", []):
        value = labels.get(expression["key"])
        if expression["operator"] == "In" and value not in expression["values"]:
            return False
        if expression["operator"] == "NotIn" and value in expression["values"]:
            return False
    return True
