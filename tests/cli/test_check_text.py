"""The text format reads like a compiler's (issue 14): FILE:LINE:COL: first on each finding
line, the same rule on several containers of an object as one line naming them, a per-rule
summary at the end, --quiet for clean objects, wrapping only on a terminal."""

from __future__ import annotations

from pathlib import Path

from winpod.reports.model import FindingRecord, ObjectRecord, Summary
from winpod.reports.stream import RunInfo, TextSink

from tests.cli.conftest import WINDOWS_POD, Run, write

PREPULL = (
    """\
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: prepull}
spec:
  template:
    spec:
      nodeSelector: {kubernetes.io/os: windows}
      initContainers:
"""
    + "".join(
        f"        - {{name: i{n}, image: mcr.microsoft.com/windows/nanoserver:ltsc2022}}\n"
        for n in range(39)
    )
    + """\
      containers:
        - {name: pause, image: mcr.microsoft.com/windows/nanoserver:ltsc2022}
"""
)


def test_one_rule_on_forty_containers_is_one_line_naming_them(winpod: Run, tmp_path: Path) -> None:
    path = write(tmp_path, "prepull.yaml", PREPULL)
    lines = winpod("check", path).out.splitlines()
    memory = [line for line in lines if "windows-memory-limits:" in line and ": warn " in line]
    assert memory == [
        f"{path}:9:11: warn windows-memory-limits: spec.template.spec.initContainers[0..38],"
        " containers[0]: resources.limits.memory: no memory limit: Windows has no OOM killer,"
        " so memory past the node's RAM pages to disk and slows every pod on the node;"
        " set resources.limits.memory (the request defaults to it)"
    ]
    assert "  warn   windows-memory-limits: 40 findings in 1 object" in lines


def test_json_keeps_one_record_per_finding(winpod: Run, tmp_path: Path) -> None:
    import json

    path = write(tmp_path, "prepull.yaml", PREPULL)
    report = json.loads(winpod("check", "--format", "json", path).out)
    memory = [f for f in report["findings"] if f["rule"] == "windows-memory-limits"]
    assert len(memory) == 40 and memory[0]["column"] == 11


def test_quiet_leaves_out_clean_objects(winpod: Run, tmp_path: Path) -> None:
    clean = write(tmp_path, "clean.yaml", WINDOWS_POD.format(name="clean"))
    assert "ok Pod apps/clean" in winpod("check", clean).out
    quiet = winpod("check", "--quiet", clean).out
    assert "clean" not in quiet.split("winpod passed")[0]


def _record(path: str) -> FindingRecord:
    return FindingRecord(
        rule="windows-subpath",
        action="warn",
        kind="Pod",
        namespace=None,
        name="p",
        path=path,
        message="m " * 60,
        fix="f",
        file="a.yaml",
        line=3,
        column=5,
    )


def _summary() -> Summary:
    return Summary(
        files=1,
        objects=1,
        checked=1,
        skipped=0,
        windows=1,
        linux=0,
        unknown=0,
        deny=0,
        warn=1,
        audit=0,
        exempted=0,
        deniedObjects=0,
        errors=0,
        skippedKinds={},
        failOn="deny",
        exitCode=0,
    )


def test_lines_wrap_with_a_hanging_indent_only_when_a_width_is_given() -> None:
    import io

    obj = ObjectRecord(
        file="a.yaml",
        line=1,
        kind="Pod",
        namespace=None,
        name="p",
        checked=True,
        os="windows",
        osEvidence="e",
    )
    for width, wrapped in ((None, False), (60, True)):
        out = io.StringIO()
        sink = TextSink(out, width=width)
        sink.begin(RunInfo("0", "1.36"))
        sink.object(obj, [_record("spec.containers[0].volumeMounts[0].subPath")])
        sink.end(_summary())
        finding = out.getvalue().splitlines()[1:]
        assert finding[0].startswith("a.yaml:3:5: warn windows-subpath:")
        assert (len(finding[0]) <= 60 and finding[1].startswith("    ")) is wrapped
