"""An Evaluation as the parts of an AdmissionResponse: denial message, warnings, annotations.

/validate and /mutate both answer through `verdict_of`, so a denial reads the same from
either webhook and neither can build one and then drop it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ..config import Action
from ..engine.findings import Evaluation, Finding
from ..engine.text import shorten

# kube-apiserver truncates single warnings past 256 characters; trim first so the cut is ours.
MAX_WARNING_CHARS = 256
# It also ignores warnings past 4096 characters in all: 14 full ones fit, with room for the
# mutating webhook's own line.
MAX_WARNINGS = 14
# Audit annotation values land in every audit event for the request: keep them small.
MAX_ANNOTATION_CHARS = 512
MAX_ANNOTATIONS = 32
# A pod with hundreds of bad containers should not produce a megabyte error for kubectl.
MAX_DENIAL_LINES = 50
# What the webhook builds of one rule's findings of one outcome (the rest are counted): no
# text above shows more of them. A denial lists at most MAX_DENIAL_LINES, the warnings
# MAX_WARNINGS, and an annotation's MAX_ANNOTATION_CHARS hold at most 43 texts (each has a
# path, ": ", a message and "; ", 12 characters or more). So every text is the same as with
# every finding built, and only the counts come from Finding.more.
FINDINGS_PER_RULE = max(MAX_DENIAL_LINES, MAX_WARNINGS, MAX_ANNOTATION_CHARS // 12 + 1)
# The apiserver stores an annotation as "<webhook name>/<key>" and checks that this is a
# qualified name, so a key must have no "/" and be a valid name part of at most 63 characters.
_KEY_BAD_CHARS = re.compile(r"[^A-Za-z0-9_.-]")


@dataclass(slots=True)
class Verdict:
    allowed: bool
    status: dict[str, Any] | None = None
    warnings: list[str] = field(default_factory=list)
    audit_annotations: dict[str, str] = field(default_factory=dict)
    rules: list[str] = field(default_factory=list)  # rule ids hit, for the log
    hits: dict[tuple[str, str], int] = field(default_factory=dict)  # (rule, action): count
    # Rule ids whose findings a warn-only cap let through and enforcement would deny.
    would_deny: list[str] = field(default_factory=list)


def denial_message(evaluation: Evaluation) -> str:
    blocking = [f for f in evaluation.findings if f.blocks]
    problems = sum(f.count for f in blocking)
    lines = [f"{evaluation.object_ref} denied by winpod: {problems} problem(s)"]
    lines.extend(f.line() for f in blocking[:MAX_DENIAL_LINES])
    shown = min(len(blocking), MAX_DENIAL_LINES)
    if problems > shown:
        lines.append(f"... and {problems - shown} more (winpod check lists them all)")
    return "\n".join(lines)


def verdict_of(evaluation: Evaluation) -> Verdict:
    verdict = Verdict(allowed=True)
    annotations: dict[str, list[str]] = {}
    annotation_chars: dict[str, int] = {}
    unshown = 0  # warnings past MAX_WARNINGS: counted, never written (a pod of 40,000
    # containers has 40,000 findings of a rule, megabytes of text that would be cut anyway)
    seen_rules: set[str] = set()

    def warn(finding: Finding) -> None:
        nonlocal unshown
        if len(verdict.warnings) < MAX_WARNINGS:
            verdict.warnings.append(finding_warning(finding))
            unshown += finding.more
        else:
            unshown += finding.count

    def annotate(finding: Finding) -> None:
        # Past MAX_ANNOTATION_CHARS more text changes nothing of what _trim keeps.
        used = annotation_chars.get(finding.rule, 0)
        if used <= MAX_ANNOTATION_CHARS:
            text = _annotation_text(finding)
            annotations.setdefault(finding.rule, []).append(text)
            annotation_chars[finding.rule] = used + len(text) + len("; ")

    for finding in evaluation.findings:
        if finding.rule not in seen_rules:
            seen_rules.add(finding.rule)
            verdict.rules.append(finding.rule)
        if finding.exempted:
            action = "exempted"
        elif finding.would_deny:
            action = "would-deny"  # warned: a rollout counts what enforcement will block
            if finding.rule not in verdict.would_deny:
                verdict.would_deny.append(finding.rule)
        else:
            action = finding.action.value
        key = (finding.rule, action)
        verdict.hits[key] = verdict.hits.get(key, 0) + finding.count
        if finding.blocks:
            verdict.allowed = False
        elif finding.exempted:
            # An exemption is never silent: the user sees it and the audit log records it.
            warn(finding)
            annotate(finding)
        elif finding.action is Action.WARN:
            warn(finding)
        elif finding.action is Action.AUDIT:
            annotate(finding)
    if unshown:
        keep = min(len(verdict.warnings), MAX_WARNINGS - 1)  # room for the count's line
        extra = len(verdict.warnings) - keep + unshown
        del verdict.warnings[keep:]
        verdict.warnings.append(f"... and {extra} more warnings (winpod check lists them all)")
    if not verdict.allowed:
        verdict.status = forbidden(denial_message(evaluation))
    for rule, texts in list(annotations.items())[:MAX_ANNOTATIONS]:
        verdict.audit_annotations[annotation_key(rule)] = _trim(
            "; ".join(texts), MAX_ANNOTATION_CHARS
        )
    return verdict


def forbidden(message: str) -> dict[str, Any]:
    return {"status": "Failure", "message": message, "reason": "Forbidden", "code": 403}


def failure(message: str, reason: str, code: int) -> dict[str, Any]:
    return {"status": "Failure", "message": message, "reason": reason, "code": code}


def short_warning(text: str) -> str:
    # One line each: kubectl prints a warning per line and the header cannot carry newlines.
    return _trim(" ".join(text.split()), MAX_WARNING_CHARS)


def finding_warning(finding: Finding) -> str:
    """finding.line() on one line, at most MAX_WARNING_CHARS (what kubectl shows), keeping the
    head (exemption, note, would-deny), the path, the fix and the rule id whole: the message
    gives way first (the full reason is in `winpod check` and `winpod explain`), then the
    path's middle."""
    text = " ".join(finding.line().split())
    if len(text) <= MAX_WARNING_CHARS:
        return text
    head = finding.head()
    tail = f"; {' '.join(finding.fix.split())} (rule {finding.rule})"
    path = finding.path
    room = MAX_WARNING_CHARS - len(head) - len(path) - len(": ") - len(tail)
    if room < _MIN_MESSAGE:
        path = _trim_middle(path, len(path) - (_MIN_MESSAGE - room))
        room = _MIN_MESSAGE
    message = _trim(" ".join(finding.message.split()), room)
    return _trim(f"{head}{path}: {message}{tail}", MAX_WARNING_CHARS)


# A message cut to fewer characters says nothing: the path gives way instead.
_MIN_MESSAGE = 16


def _trim_middle(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    keep = max(limit - 1, 2)
    return text[: keep // 3] + "…" + text[len(text) - (keep - keep // 3) :]


def annotation_key(rule_id: str) -> str:
    key = _KEY_BAD_CHARS.sub("-", rule_id).strip("-_.")[:63].rstrip("-_.")
    return key or "finding"


def _annotation_text(finding: Finding) -> str:
    return f"{finding.head()}{finding.path}: {finding.message}"


def _trim(text: str, limit: int) -> str:
    return shorten(text, limit, "…")
