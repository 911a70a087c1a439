"""The JUnit XML format: a testsuite per file, a testcase per object.

A denied finding is a <failure> (so is a warning under --fail-on warn: whatever makes the exit
code 1); other findings go to the testcase's <system-out>; objects winpod does not check are
<skipped>; a file that did not parse is a testcase with an <error>.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import defaultdict

from .model import ErrorRecord, FindingRecord, ObjectRecord, Report


def _ref(obj: ObjectRecord) -> str:
    where = f"{obj.namespace}/" if obj.namespace else ""
    return f"{obj.kind or '(no kind)'} {where}{obj.name or '(unnamed)'}"


def _finding_text(finding: FindingRecord) -> str:
    text = (
        f"{finding.file}:{finding.line}: {finding.action}: {finding.path}: {finding.message};"
        f" {finding.fix} (rule {finding.rule})"
    )
    if finding.exempted:
        text += f" [exempted: {finding.exemptionReason}]"
    return text


def render_junit(report: Report) -> str:
    by_file: dict[str, list[ObjectRecord]] = defaultdict(list)
    errors_by_file: dict[str, list[ErrorRecord]] = defaultdict(list)
    files: list[str] = []
    for obj in report.objects:
        if obj.file not in by_file and obj.file not in errors_by_file:
            files.append(obj.file)
        by_file[obj.file].append(obj)
    for error in report.errors:
        if error.file not in by_file and error.file not in errors_by_file:
            files.append(error.file)
        errors_by_file[error.file].append(error)

    root = ET.Element("testsuites", name="winpod")
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for file in files:
        suite = ET.SubElement(root, "testsuite", name=file)
        counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        for obj in by_file.get(file, []):
            case = ET.SubElement(
                suite,
                "testcase",
                classname=file,
                name=f"{_ref(obj)} (line {obj.line})",
                file=file,
                line=str(obj.line),
            )
            counts["tests"] += 1
            if not obj.checked:
                ET.SubElement(case, "skipped", message=obj.skippedReason or "not checked")
                counts["skipped"] += 1
                continue
            findings = [report.findings[i] for i in obj.findings]
            failing = [f for f in findings if f.blocks]
            for finding in failing:
                failure = ET.SubElement(
                    case,
                    "failure",
                    type=finding.rule,
                    message=f"{finding.path}: {finding.message} (rule {finding.rule})",
                )
                failure.text = _finding_text(finding)
            if failing:
                counts["failures"] += 1
            others = [f for f in findings if not f.blocks]
            out = [f"OS: {obj.os} — {obj.osEvidence}"] + [_finding_text(f) for f in others]
            ET.SubElement(case, "system-out").text = "\n".join(out)
        for error in errors_by_file.get(file, []):
            case = ET.SubElement(
                suite,
                "testcase",
                classname=file,
                name="parse",
                file=file,
                line=str(error.line or 0),
            )
            element = ET.SubElement(case, "error", type="input", message=error.message)
            element.text = (
                f"{file}:{error.line}: {error.message}"
                if error.line
                else (f"{file}: {error.message}")
            )
            counts["tests"] += 1
            counts["errors"] += 1
        for key, value in counts.items():
            suite.set(key, str(value))
            totals[key] += value
    for key, value in totals.items():
        root.set(key, str(value))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
