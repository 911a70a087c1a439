"""Engine findings as report records: the one mapping `winpod check` and `winpod audit` share
(field names, how an exemption shows, what blocks)."""

from __future__ import annotations

from collections.abc import Callable

from ..engine.findings import Evaluation, Finding
from ..engine.kubeversion import KubeVersion
from ..engine.rules import Catalog, select_version
from .model import FindingRecord, RuleRecord


def finding_text(record: FindingRecord) -> str:
    """The one-line form users see: path, reason, fix, rule (exempted ones say so first)."""
    text = f"{record.path}: {record.message}; {record.fix} (rule {record.rule})"
    if record.exempted:
        text = f"exempted ({record.exemptionReason}): {text}"
    return text


def finding_records(
    evaluation: Evaluation,
    *,
    failing: frozenset[str] = frozenset({"deny"}),
    file: str | None = None,
    position_of: Callable[[Finding], tuple[int, int]] | None = None,
) -> list[FindingRecord]:
    """One record per finding. `failing`: the actions that make the run fail (--fail-on);
    an exempted finding never blocks, and is still reported."""
    records: list[FindingRecord] = []
    for finding in evaluation.findings:
        action = finding.action.value
        line, column = position_of(finding) if position_of is not None else (None, None)
        records.append(
            FindingRecord(
                rule=finding.rule,
                action=action,  # type: ignore[arg-type]  # an Action value is one of these
                kind=evaluation.kind,
                namespace=evaluation.namespace,
                name=evaluation.name,
                path=finding.path,
                message=finding.message,
                fix=finding.fix,
                file=file,
                line=line,
                column=column,
                exempted=finding.exempted,
                exemptionReason=finding.exemption_reason,
                blocks=action in failing and not finding.exempted,
                wouldDeny=finding.would_deny,
            )
        )
    return records


def rule_records(catalog: Catalog, version: KubeVersion) -> list[RuleRecord]:
    """Every catalog rule with its action at `version` ("off" before it exists)."""
    records: list[RuleRecord] = []
    for spec in catalog.rules.values():
        entry = select_version(spec, version)
        records.append(
            RuleRecord(
                id=spec.id,
                title=spec.title,
                os=spec.os,
                action=entry.action if entry else "off",
                source=spec.source,
                notes=spec.notes,
            )
        )
    return records
