"""Findings into response parts, without a server: the limits the apiserver imposes."""

from __future__ import annotations

import re

from winpod.config import Action
from winpod.engine.findings import Evaluation, Finding
from winpod.webhook.verdict import (
    MAX_ANNOTATION_CHARS,
    MAX_WARNING_CHARS,
    MAX_WARNINGS,
    annotation_key,
    denial_message,
    verdict_of,
)

QUALIFIED_NAME_PART = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?")


def finding(rule: str, action: Action, **extra: object) -> Finding:
    fields: dict[str, object] = {
        "path": "spec.containers[0].x",
        "message": "what Windows does",
        "fix": "the fix",
        **extra,
    }
    return Finding(rule, action, **fields)  # type: ignore[arg-type]


def evaluation(*findings: Finding) -> Evaluation:
    return Evaluation("Pod", "ns", "p", checked=True, findings=list(findings))


def test_a_long_warning_cuts_its_message_and_keeps_the_path_the_fix_and_the_rule_id() -> None:
    verdict = verdict_of(evaluation(finding("windows-long", Action.WARN, message="m" * 1000)))
    [warning] = verdict.warnings
    assert len(warning) <= MAX_WARNING_CHARS
    assert warning.startswith("spec.containers[0].x: mmm")
    assert warning.endswith("m…; the fix (rule windows-long)")


def test_a_long_path_gives_way_in_its_middle_before_the_fix_does() -> None:
    path = "spec.jobTemplate.spec.template.spec." + "x" * 200
    verdict = verdict_of(evaluation(finding("windows-long", Action.WARN, path=path)))
    [warning] = verdict.warnings
    assert len(warning) <= MAX_WARNING_CHARS and "…" in warning.split(": ")[0]
    assert warning.endswith("; the fix (rule windows-long)")


def test_a_multi_line_message_becomes_a_one_line_warning() -> None:
    verdict = verdict_of(evaluation(finding("windows-lines", Action.WARN, message="a\nb\r\nc")))
    assert verdict.warnings == ["spec.containers[0].x: a b c; the fix (rule windows-lines)"]


def test_audit_findings_of_one_rule_share_one_short_annotation() -> None:
    hits = [
        finding("windows-audit", Action.AUDIT, path=f"spec.containers[{i}].x") for i in range(50)
    ]
    verdict = verdict_of(evaluation(*hits))
    assert list(verdict.audit_annotations) == ["windows-audit"]
    assert len(verdict.audit_annotations["windows-audit"]) <= MAX_ANNOTATION_CHARS
    assert verdict.allowed and not verdict.warnings


def test_annotation_keys_are_always_valid_name_parts() -> None:
    for rule in ("windows-privileged", "a" * 80, "x/y", "-odd-", "ünïcode", "..."):
        key = annotation_key(rule)
        assert QUALIFIED_NAME_PART.fullmatch(key), (rule, key)


def test_a_denial_lists_only_the_blocking_findings_and_counts_them() -> None:
    ev = evaluation(
        finding("windows-a", Action.DENY),
        finding("windows-b", Action.WARN),
        finding("windows-c", Action.DENY, exempted=True, exemption_reason="ok"),
        finding("windows-d", Action.DENY, path="spec.hostPID"),
    )
    message = denial_message(ev)
    assert message.splitlines() == [
        "Pod ns/p denied by winpod: 2 problem(s)",
        "spec.containers[0].x: what Windows does; the fix (rule windows-a)",
        "spec.hostPID: what Windows does; the fix (rule windows-d)",
    ]
    verdict = verdict_of(ev)
    assert verdict.allowed is False
    assert verdict.status is not None and verdict.status["message"] == message
    assert verdict.status["code"] == 403 and verdict.status["reason"] == "Forbidden"
    # The exempted one still shows: a warning and an audit annotation.
    assert any(w.startswith("exempted (ok): ") for w in verdict.warnings)
    assert verdict.audit_annotations["windows-c"].startswith("exempted (ok): ")
    assert ("windows-c", "exempted") in verdict.hits


def test_a_denial_with_very_many_findings_lists_the_first_fifty() -> None:
    hits = [finding("windows-x", Action.DENY, path=f"spec.containers[{i}].x") for i in range(120)]
    lines = denial_message(evaluation(*hits)).splitlines()
    assert lines[0] == "Pod ns/p denied by winpod: 120 problem(s)"
    assert len(lines) == 52
    assert lines[-1] == "... and 70 more (winpod check lists them all)"


def test_very_many_warnings_are_summed_up_within_what_the_apiserver_keeps() -> None:
    hits = [finding("windows-w", Action.WARN, path=f"spec.containers[{i}].x") for i in range(40)]
    warnings = verdict_of(evaluation(*hits)).warnings
    assert len(warnings) == MAX_WARNINGS
    assert warnings[-1] == "... and 27 more warnings (winpod check lists them all)"
    assert sum(len(w) for w in warnings) + MAX_WARNING_CHARS <= 4096


def test_an_annotation_of_very_many_findings_is_the_start_of_all_their_texts_cut() -> None:
    hits = [finding("windows-a", Action.AUDIT, path=f"spec.containers[{i}].x") for i in range(2000)]
    value = verdict_of(evaluation(*hits)).audit_annotations["windows-a"]
    whole = "; ".join(f"spec.containers[{i}].x: what Windows does" for i in range(2000))
    assert len(value) <= MAX_ANNOTATION_CHARS
    assert value[:-1] == whole[: len(value) - 1]
    assert value.endswith("…")


def test_forty_thousand_warnings_are_summed_up_in_the_fourteen_shown() -> None:
    hits = [
        finding("windows-w", Action.WARN, path=f"spec.containers[{i}].x") for i in range(40_000)
    ]
    warnings = verdict_of(evaluation(*hits)).warnings
    assert len(warnings) == MAX_WARNINGS
    assert warnings[-1] == "... and 39987 more warnings (winpod check lists them all)"
