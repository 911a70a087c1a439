"""Reports written as a run goes: every format is a Sink that takes the run's objects, with
their findings, and its errors one at a time, and the summary at the end.

`winpod check` judges documents as a stream, so its memory must not grow with the number of
documents: the text and SARIF formats write as they go, and the formats whose layout puts
totals or an index first (JSON's objects before findings, JUnit's per-suite counts) spool what
they hold back to a temporary file, not to memory.
"""

from __future__ import annotations

import dataclasses
import json
import re
import tempfile
import textwrap
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import IO, Protocol, TextIO

import orjson

from .model import SCHEMA_VERSION, ErrorRecord, FindingRecord, ObjectRecord, RuleRecord, Summary

_WIDTH = 5  # "audit"


@dataclass(frozen=True, slots=True)
class RunInfo:
    winpod: str
    kubernetes_version: str
    rules: list[RuleRecord] = field(default_factory=list)


class Sink(Protocol):
    def begin(self, info: RunInfo) -> None: ...

    def object(self, record: ObjectRecord, findings: list[FindingRecord]) -> None: ...

    def error(self, record: ErrorRecord) -> None: ...

    def end(self, summary: Summary) -> None: ...


def _spool() -> IO[str]:
    return tempfile.TemporaryFile("w+", encoding="utf-8", prefix="winpod-report-")


def _copy(spool: IO[str], out: TextIO) -> None:
    spool.seek(0)
    while chunk := spool.read(1 << 20):
        out.write(chunk)
    spool.close()


# --- text --------------------------------------------------------------------------------------

_CONTAINER = re.compile(
    r"^(?P<prefix>.*?\bspec\.)(?P<kind>initContainers|containers|"
    r"ephemeralContainers)\[(?P<index>\d+)\]\.(?P<rest>.+)$"
)


def _object_ref(obj: ObjectRecord) -> str:
    where = f"{obj.namespace}/" if obj.namespace else ""
    name = obj.name or "(unnamed)"
    return f"{obj.kind} {where}{name}" if obj.kind else "(no kind)"


@dataclass
class _Line:
    """One reported line: a finding, or the same rule's finding on several containers."""

    first: FindingRecord
    prefix: str  # the path before the container, e.g. spec.template.spec.
    rest: str  # the path after it, e.g. resources.limits.memory
    containers: dict[str, list[int]] = field(default_factory=dict)  # kind -> indexes

    def path(self) -> str:
        if sum(len(indexes) for indexes in self.containers.values()) < 2:
            return self.first.path
        named = ", ".join(_ranges(kind, indexes) for kind, indexes in self.containers.items())
        return f"{self.prefix}{named}: {self.rest}"


def _ranges(kind: str, indexes: list[int]) -> str:
    """initContainers[0..38] or containers[0,2] for the indexes of one kind of container."""
    runs: list[str] = []
    start = previous = indexes[0]
    for index in [*indexes[1:], None]:
        if index is not None and index == previous + 1:
            previous = index
            continue
        runs.append(str(start) if start == previous else f"{start}..{previous}")
        if index is not None:
            start = previous = index
    return f"{kind}[{','.join(runs)}]"


def aggregate(findings: list[FindingRecord]) -> list[_Line]:
    """Findings of one object as the lines the text format shows: the same rule saying the same
    about several containers is one line naming them all."""
    lines: list[_Line] = []
    by_key: dict[tuple[str, ...], _Line] = {}
    for finding in findings:
        match = _CONTAINER.match(finding.path)
        if match is None:
            lines.append(_Line(finding, "", ""))
            continue
        key = (
            finding.rule,
            finding.action,
            match["prefix"],
            match["rest"],
            finding.message,
            finding.fix,
            str(finding.exempted),
        )
        line = by_key.get(key)
        if line is None:
            line = _Line(finding, match["prefix"], match["rest"])
            by_key[key] = line
            lines.append(line)
        line.containers.setdefault(match["kind"], []).append(int(match["index"]))
    return lines


class TextSink:
    """Compiler-style: each finding line starts with FILE:LINE:COL: (editors and CI annotators
    jump to it), then the action, the rule, the object, the path, what Windows does and the fix.
    One header line per object; `quiet` leaves out objects with nothing to say; audit notes and
    skipped objects only with `verbose`. Then the input errors, a per-rule summary and the
    totals. Long lines wrap at `width` (a terminal's), never when writing to a file or pipe."""

    def __init__(
        self,
        out: TextIO,
        *,
        verbose: bool = False,
        errors: bool = True,
        quiet: bool = False,
        width: int | None = None,
    ) -> None:
        self.out, self.verbose, self.show_errors = out, verbose, errors
        self.quiet, self.width = quiet, width
        self.errors: list[ErrorRecord] = []
        self.rules: dict[tuple[str, str], list[int]] = {}  # (rule, action) -> [findings, objects]
        self.wrote = False
        self.info = RunInfo("", "")

    def begin(self, info: RunInfo) -> None:
        self.info = info

    def object(self, record: ObjectRecord, findings: list[FindingRecord]) -> None:
        where = f"{record.file}:{record.line}:"
        if not record.checked:
            if self.verbose:
                reason = (record.skippedReason or "not checked").split(" (checked:")[0]
                self._line(f"{where} skipped {_object_ref(record)}: {reason}")
            return
        for finding in findings:
            counts = self.rules.setdefault((finding.rule, finding.action), [0, 0])
            counts[0] += 1
        for rule_action in {(f.rule, f.action) for f in findings}:
            self.rules[rule_action][1] += 1
        shown = [f for f in findings if self.verbose or f.action != "audit"]
        if not shown and self.quiet:
            return
        state = "ok" if not shown else ("denied" if record.denied else "checked")
        self._line(f"{where} {state} {_object_ref(record)} (OS: {record.os} — {record.osEvidence})")
        for line in aggregate(shown):
            first = line.first
            position = f"{first.file}:{first.line}:{first.column or 1}:"
            action = first.action + (" (would deny)" if first.wouldDeny else "")
            exempt = f" exempted ({first.exemptionReason})" if first.exempted else ""
            self._line(
                f"{position} {action} {first.rule}:{exempt} {line.path()}: {first.message};"
                f" {first.fix}",
                hanging=True,
            )

    def error(self, record: ErrorRecord) -> None:
        if self.show_errors:
            self.errors.append(record)

    def end(self, summary: Summary) -> None:
        for error in self.errors:
            where = f"{error.file}:{error.line}:" if error.line else f"{error.file}:"
            self._line(f"{where} error: {error.message}")
        shown = {
            key: value
            for key, value in self.rules.items()
            if key[1] != "audit" or self.verbose  # audit notes: with -v, as in the lines
        }
        if shown:
            self._line("")
            self._line("by rule:")
            ordered = sorted(shown.items(), key=lambda item: (-item[1][0], item[0]))
            for (rule, action), (count, objects) in ordered:
                noun = "finding" if count == 1 else "findings"
                where = "object" if objects == 1 else "objects"
                self._line(f"  {action:<{_WIDTH}}  {rule}: {count} {noun} in {objects} {where}")
        if self.wrote:
            self.out.write("\n")
        self.out.write(summary_line(summary, self.info.kubernetes_version, self.verbose) + "\n")

    def _line(self, text: str, *, hanging: bool = False) -> None:
        if self.width and hanging and len(text) > self.width:
            text = textwrap.fill(
                text,
                width=self.width,
                subsequent_indent="    ",
                break_long_words=False,
                break_on_hyphens=False,
            )
        self.out.write(text + "\n")
        self.wrote = True


def summary_line(summary: Summary, kubernetes_version: str, verbose: bool = False) -> str:
    s = summary
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
    return f"winpod {verdict}: " + "; ".join(parts) + f" (Kubernetes {kubernetes_version})"


# --- JSON --------------------------------------------------------------------------------------


class JsonSink:
    """The Report model's layout (winpod.reports.model), written at the end from spools."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.objects, self.findings, self.errors = _spool(), _spool(), _spool()
        self.counts = [0, 0, 0]  # objects, findings, errors written to the spools
        self.info = RunInfo("", "")

    def begin(self, info: RunInfo) -> None:
        self.info = info

    def object(self, record: ObjectRecord, findings: list[FindingRecord]) -> None:
        first = self.counts[1]
        for finding in findings:
            self._item(self.findings, 1, orjson.dumps(finding).decode())
        record.findings = list(range(first, first + len(findings)))
        self._item(self.objects, 0, orjson.dumps(record).decode())

    def error(self, record: ErrorRecord) -> None:
        self._item(self.errors, 2, orjson.dumps(record).decode())

    def _item(self, spool: IO[str], which: int, text: str) -> None:
        # One item a line: a long report stays readable and greppable, and costs no indenting.
        spool.write(("    " if self.counts[which] == 0 else ",\n    ") + text)
        self.counts[which] += 1

    def end(self, summary: Summary) -> None:
        out = self.out
        head = {
            "version": SCHEMA_VERSION,
            "winpod": self.info.winpod,
            "kubernetesVersion": self.info.kubernetes_version,
        }
        out.write("{\n")
        for key, value in head.items():
            out.write(f"  {json.dumps(key)}: {json.dumps(value)},\n")
        summary_text = json.dumps(dataclasses.asdict(summary), indent=2, ensure_ascii=False)
        out.write('  "summary": ' + _indent(summary_text, 2).lstrip() + ",\n")
        for name, spool, count, last in (
            ("objects", self.objects, self.counts[0], False),
            ("findings", self.findings, self.counts[1], False),
            ("errors", self.errors, self.counts[2], True),
        ):
            if count == 0:
                out.write(f'  "{name}": []')
                spool.close()
            else:
                out.write(f'  "{name}": [\n')
                _copy(spool, out)
                out.write("\n  ]")
            out.write("\n" if last else ",\n")
        out.write("}\n")


def _indent(text: str, by: int) -> str:
    pad = " " * by
    return "\n".join(pad + line for line in text.splitlines())


# --- JUnit -------------------------------------------------------------------------------------


def _ref(obj: ObjectRecord) -> str:
    where = f"{obj.namespace}/" if obj.namespace else ""
    return f"{obj.kind or '(no kind)'} {where}{obj.name or '(unnamed)'}"


def _junit_text(finding: FindingRecord) -> str:
    text = (
        f"{finding.file}:{finding.line}: {finding.action}: {finding.path}: {finding.message};"
        f" {finding.fix} (rule {finding.rule})"
    )
    if finding.exempted:
        text += f" [exempted: {finding.exemptionReason}]"
    return text


class JunitSink:
    """A testsuite per file, a testcase per object. A denied finding is a <failure> (so is a
    warning under --fail-on warn: whatever makes the exit code 1); other findings go to the
    testcase's <system-out>; objects winpod does not check are <skipped>; an input error is a
    testcase with an <error>. Each suite is written once its file is done (its counts go in its
    start tag), all suites to a spool until the totals for the root are known."""

    _COUNTS = ("tests", "failures", "errors", "skipped")

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.suites = _spool()
        self.totals = dict.fromkeys(self._COUNTS, 0)
        self.file: str | None = None
        self.cases: list[ET.Element] = []
        self.counts = dict.fromkeys(self._COUNTS, 0)

    def begin(self, info: RunInfo) -> None:
        pass

    def _switch(self, file: str) -> None:
        if file != self.file:
            self._flush()
            self.file = file

    def _flush(self) -> None:
        if self.file is None:
            return
        suite = ET.Element("testsuite", name=self.file)
        for key in self._COUNTS:
            suite.set(key, str(self.counts[key]))
            self.totals[key] += self.counts[key]
        suite.extend(self.cases)
        ET.indent(suite, level=1)
        self.suites.write("  " + ET.tostring(suite, encoding="unicode").rstrip() + "\n")
        self.cases, self.counts = [], dict.fromkeys(self._COUNTS, 0)

    def object(self, record: ObjectRecord, findings: list[FindingRecord]) -> None:
        file = record.file or "(cluster)"
        self._switch(file)
        case = ET.Element(
            "testcase",
            classname=file,
            name=f"{_ref(record)} (line {record.line})",
            file=file,
            line=str(record.line),
        )
        self.counts["tests"] += 1
        self.cases.append(case)
        if not record.checked:
            ET.SubElement(case, "skipped", message=record.skippedReason or "not checked")
            self.counts["skipped"] += 1
            return
        failing = [f for f in findings if f.blocks]
        for finding in failing:
            failure = ET.SubElement(
                case,
                "failure",
                type=finding.rule,
                message=f"{finding.path}: {finding.message} (rule {finding.rule})",
            )
            failure.text = _junit_text(finding)
        if failing:
            self.counts["failures"] += 1
        others = [f for f in findings if not f.blocks]
        lines = [f"OS: {record.os} — {record.osEvidence}"] + [_junit_text(f) for f in others]
        ET.SubElement(case, "system-out").text = "\n".join(lines)

    def error(self, record: ErrorRecord) -> None:
        self._switch(record.file)
        case = ET.Element(
            "testcase",
            classname=record.file,
            name="parse",
            file=record.file,
            line=str(record.line or 0),
        )
        element = ET.SubElement(case, "error", type="input", message=record.message)
        element.text = (
            f"{record.file}:{record.line}: {record.message}"
            if record.line
            else f"{record.file}: {record.message}"
        )
        self.cases.append(case)
        self.counts["tests"] += 1
        self.counts["errors"] += 1

    def end(self, summary: Summary) -> None:
        self._flush()
        totals = " ".join(f'{key}="{self.totals[key]}"' for key in self._COUNTS)
        self.out.write('<?xml version="1.0" encoding="UTF-8"?>\n')
        self.out.write(f'<testsuites name="winpod" {totals}>\n')
        _copy(self.suites, self.out)
        self.out.write("</testsuites>\n")


# --- SARIF -------------------------------------------------------------------------------------


class SarifSink:
    """SARIF 2.1.0 through the one mapping in winpod.reports.as_sarif, results as they come."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.errors: list[ErrorRecord] = []
        self.stream: object = None

    def begin(self, info: RunInfo) -> None:
        from .as_sarif import SarifStream

        self.stream = SarifStream(self.out, info.rules, info.winpod, info.kubernetes_version)

    def object(self, record: ObjectRecord, findings: list[FindingRecord]) -> None:
        from .as_sarif import SarifStream

        assert isinstance(self.stream, SarifStream)
        for finding in findings:
            self.stream.result(finding)

    def error(self, record: ErrorRecord) -> None:
        self.errors.append(record)

    def end(self, summary: Summary) -> None:
        from .as_sarif import SarifStream

        assert isinstance(self.stream, SarifStream)
        self.stream.finish(summary.exitCode, self.errors)


def sink_for(
    fmt: str,
    out: TextIO,
    *,
    verbose: bool = False,
    errors: bool = True,
    quiet: bool = False,
    width: int | None = None,
) -> Sink:
    if fmt == "text":
        return TextSink(out, verbose=verbose, errors=errors, quiet=quiet, width=width)
    sinks: dict[str, type[JsonSink] | type[JunitSink] | type[SarifSink]] = {
        "json": JsonSink,
        "junit": JunitSink,
        "sarif": SarifSink,
    }
    return sinks[fmt](out)
