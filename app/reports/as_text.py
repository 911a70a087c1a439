"""The text format: one block per object (file:line, kind, name, OS and why), one line per
finding, then a summary. Skipped objects, empty files and audit notes (informational, often one
per container) are listed only with -v; the summary always counts them."""

from __future__ import annotations

from .model import ObjectRecord, Report

_WIDTH = 5  # "audit"


def _header(obj: ObjectRecord) -> str:
    where = f"{obj.namespace}/" if obj.namespace else ""
    name = obj.name or "(unnamed)"
    ref = f"{obj.kind} {where}{name}" if obj.kind else f"(no kind) {name if obj.name else ''}"
    head = f"{obj.file}:{obj.line}  {ref.rstrip()}"
    if not obj.checked:
        # The engine's reason lists every checked kind; once per object is noise here.
        reason = (obj.skippedReason or "not checked").split(" (checked:")[0]
        return f"{head}  skipped: {reason}"
    return f"{head}  (OS: {obj.os} — {obj.osEvidence})"


def render_text(report: Report, *, verbose: bool = False, errors: bool = True) -> str:
    lines: list[str] = []
    for obj in report.objects:
        if not obj.checked:
            if verbose:
                lines.append(_header(obj))
            continue
        lines.append(_header(obj))
        shown = [i for i in obj.findings if verbose or report.findings[i].action != "audit"]
        if not shown:
            lines.append("  ok")
        for index in shown:
            finding = report.findings[index]
            text = f"{finding.path}: {finding.message}; {finding.fix} (rule {finding.rule})"
            if finding.exempted:
                text = f"exempted ({finding.exemptionReason}): {text}"
            lines.append(f"  {finding.action:<{_WIDTH}}  line {finding.line}  {text}")
    if errors:
        for error in report.errors:
            where = f"{error.file}:{error.line}" if error.line else error.file
            lines.append(f"{where}  error: {error.message}")
    if lines:
        lines.append("")
    lines.append(summary_line(report, verbose=verbose))
    return "\n".join(lines) + "\n"


def summary_line(report: Report, *, verbose: bool = False) -> str:
    s = report.summary
    parts = [
        f"{s.checked} checked ({s.windows} windows, {s.linux} linux, {s.unknown} unknown OS)"
        f" in {s.files} file{'s' if s.files != 1 else ''}",
        f"{s.deny} deny, {s.warn} warn, {s.audit} audit"
        + (f" ({s.exempted} exempted)" if s.exempted else "")
        + ("" if verbose or not s.audit else " (-v lists audit notes)"),
    ]
    if s.skipped:
        kinds = ", ".join(f"{kind} x{count}" for kind, count in s.skippedKinds.items())
        parts.append(f"{s.skipped} skipped ({kinds})" + ("" if verbose else "; -v lists them"))
    parts.append(f"{s.errors} error{'s' if s.errors != 1 else ''}")
    verdict = {0: "passed", 1: "failed", 2: "error"}.get(s.exitCode, "error")
    return f"winpod {verdict}: " + "; ".join(parts) + f" (Kubernetes {report.kubernetesVersion})"
