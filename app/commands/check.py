"""`winpod check PATH... | -`: dry-run the admission rules over manifests, for CI.

Exit codes: 0 nothing denied; 1 something denied (or warned, with --fail-on warn); 2 a usage
error, or an input that could not be read, parsed or evaluated. An input error wins over a
denial: CI must notice a manifest it never checked, and a 1 would read as "checked, denied".
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import IO, TYPE_CHECKING, Any, TextIO

from .options import OptionError, add_engine_options, engine_from

if TYPE_CHECKING:
    from ..clusterview import ClusterView
    from ..engine.evaluate import Engine
    from ..engine.findings import Evaluation, Finding
    from ..engine.kubeversion import KubeVersion
    from ..engine.osinfer import OSDecision, RuntimeClassInfo
    from ..manifests import Manifest
    from ..reports.model import ObjectRecord, Summary
    from ..reports.stream import Sink

HELP = "check manifests against the Windows rules (files, directories, or - for stdin)"

EXIT_OK, EXIT_DENIED, EXIT_ERROR = 0, 1, 2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = (
        "exit codes: 0 nothing denied; 1 something denied (or warned, with --fail-on warn);"
        " 2 a usage error or an input that could not be read or parsed (wins over 1)"
    )
    parser.add_argument(
        "paths",
        nargs="+",
        metavar="PATH",
        help="a file, a directory (searched recursively for *.yaml, *.yml, *.json) or - for stdin",
    )
    add_engine_options(parser)
    parser.add_argument(
        "--format",
        choices=("text", "json", "junit", "sarif"),
        default="text",
        help="output format (default: text)",
    )
    parser.add_argument("-o", "--output", metavar="FILE", help="write the report to FILE")
    parser.add_argument(
        "--fail-on",
        choices=("deny", "warn"),
        default="deny",
        help="exit 1 on denials (default), or on denials and warnings",
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="also list skipped objects and empty files",
    )
    parser.add_argument(
        "--mutate",
        action="store_true",
        help="check each pod as the mutating webhook would leave it",
    )
    parser.add_argument(
        "--cluster",
        action="store_true",
        help="use the current kubeconfig context's RuntimeClasses, namespaces and version",
    )
    parser.add_argument(
        "--kubeconfig",
        metavar="FILE",
        help="with --cluster: this kubeconfig (default: $KUBECONFIG)",
    )
    parser.add_argument("--context", metavar="NAME", help="with --cluster: this kubeconfig context")
    parser.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="text format: leave out objects with nothing to report",
    )
    parser.add_argument(
        "--strict",
        action="store_true",
        help="also fail (exit 2) on an empty file, a directory with no manifests, and a"
        " document with no kind (for CI, where every input should be a manifest)",
    )
    parser.add_argument(
        "--exclude",
        metavar="GLOB",
        action="append",
        default=[],
        help="skip files in directories matching this shell glob (path or name; repeatable),"
        " e.g. 'templates/*' for a chart's unrendered templates",
    )


def _error(message: str) -> int:
    print(f"winpod check: error: {message}", file=sys.stderr)
    return EXIT_ERROR


def run(args: argparse.Namespace) -> int:
    import gc

    # What start-up built (the catalog, the compiled walkers, imported modules) lives until
    # exit: out of the cyclic collector's generations, so its passes over the stream of
    # documents (each freed by reference counting once judged) do not rescan it.
    gc.freeze()
    return _run(args)


def _run(args: argparse.Namespace) -> int:
    import io
    from pathlib import Path

    from ..engine.evaluate import Engine
    from ..engine.kubeversion import beyond_latest
    from ..reports.stream import sink_for

    try:
        engine = engine_from(args)
    except OptionError as exc:
        return _error(str(exc))
    config = engine.config

    if (args.kubeconfig or args.context) and not args.cluster:
        return _error("--kubeconfig and --context go with --cluster")
    view: ClusterView | None = None
    if args.cluster:
        view_or_error = _cluster_view(engine, args.kubeconfig, args.context)
        if isinstance(view_or_error, str):
            return _error(view_or_error)
        view = view_or_error
        cluster_version = view.version()
        if cluster_version is not None and not args.kubernetes_version:
            config = config.model_copy(update={"kubernetesVersion": str(cluster_version)})
            engine = Engine(catalog=engine.catalog, config=config)
    note = beyond_latest(engine.default_version)
    if note:
        print(f"winpod check: warning: {note}", file=sys.stderr)

    # Standard input is read once, for the RuntimeClass pass and the check alike.
    stdin = io.BytesIO(sys.stdin.buffer.read()) if "-" in args.paths else None
    runtime_classes = _runtime_classes(engine, args.paths, stdin, args.exclude, view)
    output: TextIO
    if args.output:
        try:
            output = Path(args.output).open("w", encoding="utf-8")  # noqa: SIM115
        except OSError as exc:
            return _error(f"{args.output}: cannot write the report: {exc.strerror}")
    else:
        output = sys.stdout
    try:
        # Input errors always go to stderr; a text report on stdout need not repeat them.
        import shutil

        width = shutil.get_terminal_size().columns if output.isatty() else None
        sink = sink_for(
            args.format,
            output,
            verbose=args.verbose,
            errors=bool(args.output),
            quiet=args.quiet,
            width=width,
        )
        summary = check_stream(
            engine,
            args.paths,
            stdin,
            engine.default_version,
            runtime_classes,
            view,
            sink,
            mutate=args.mutate,
            fail_on=args.fail_on,
            strict=args.strict,
            exclude=args.exclude,
            verbose=args.verbose,
        )
    finally:
        if args.output:
            output.close()
        else:
            sys.stdout.flush()
    if args.output and args.format != "text":
        from ..reports.stream import summary_line

        print(summary_line(summary, str(engine.default_version)), file=sys.stderr)
    return summary.exitCode


def _cluster_view(engine: Engine, kubeconfig: str | None, context: str | None) -> ClusterView | str:
    try:
        from ..cluster import ClusterError, cluster_view_from_kubeconfig
    except ImportError as exc:  # e.g. the kubernetes client is not installed
        return f"--cluster is not available: {exc}"
    try:
        view: ClusterView = cluster_view_from_kubeconfig(engine.config, kubeconfig, context)
    except ClusterError as exc:
        return f"--cluster: cannot read the cluster of the current kubeconfig context: {exc}"
    return view


def _runtime_classes(
    engine: Engine,
    paths: list[str],
    stdin: IO[bytes] | None,
    exclude: list[str],
    view: ClusterView | None,
) -> Mapping[str, RuntimeClassInfo]:
    """The config's RuntimeClasses, under the cluster's, under the ones in the input: what the
    input ships is what will run, so it wins. Only files that name RuntimeClass are read for
    them (a pass before the check, which then streams)."""
    from ..engine.osinfer import runtime_class_index
    from ..manifests import Manifest, iter_inputs

    merged: dict[str, RuntimeClassInfo] = dict(engine.runtime_classes)
    if view is not None:
        merged.update(view.runtime_classes() or {})
    found: list[dict[str, Any]] = []
    for path in _files_naming(paths, stdin, exclude, b"RuntimeClass"):
        source = [path] if path != "-" else ["-"]
        for item in iter_inputs(source, stdin, exclude):
            if isinstance(item, Manifest) and item.obj.get("kind") == "RuntimeClass":
                found.append(item.obj)
    if stdin is not None:
        stdin.seek(0)
    merged.update(runtime_class_index(found))
    return merged


def _files_naming(
    paths: list[str], stdin: IO[bytes] | None, exclude: list[str], needle: bytes
) -> list[str]:
    from pathlib import Path

    from ..manifests import MANIFEST_SUFFIXES

    files: list[str] = []
    for raw in paths:
        if raw == "-":
            if stdin is not None and needle in stdin.getvalue():  # type: ignore[attr-defined]
                files.append("-")
            continue
        path = Path(raw)
        candidates = (
            [p for p in path.rglob("*") if p.suffix.lower() in MANIFEST_SUFFIXES]
            if path.is_dir()
            else [path]
        )
        for candidate in candidates:
            try:
                if needle in candidate.read_bytes():
                    files.append(str(candidate))
            except OSError:
                continue  # the check itself reports what cannot be read
    return files


@dataclass
class _Tally:
    """The counts the summary reports, kept as objects stream past."""

    files: int = 0
    objects: int = 0
    checked: int = 0
    oses: Counter[str] = field(default_factory=Counter)
    actions: Counter[str] = field(default_factory=Counter)
    exempted: int = 0
    denied_objects: int = 0
    errors: int = 0
    skipped_kinds: Counter[str] = field(default_factory=Counter)
    blocking: bool = False


def check_stream(
    engine: Engine,
    paths: list[str],
    stdin: IO[bytes] | None,
    version: KubeVersion,
    runtime_classes: Mapping[str, RuntimeClassInfo],
    view: ClusterView | None,
    sink: Sink,
    *,
    mutate: bool = False,
    fail_on: str = "deny",
    strict: bool = False,
    exclude: list[str] | None = None,
    verbose: bool = False,
) -> Summary:
    """Read, judge and report each document in turn (one document's objects in memory at a
    time); return the summary the sink ended with."""
    from .. import __version__
    from ..manifests import FileDone, InputError, Manifest, NoManifests, Skipped, iter_inputs
    from ..reports.model import ErrorRecord, ObjectRecord, Summary
    from ..reports.records import finding_records, rule_records
    from ..reports.stream import RunInfo

    failing = frozenset({"deny"} if fail_on == "deny" else {"deny", "warn"})
    tally = _Tally()
    sink.begin(RunInfo(__version__, str(version), rule_records(engine.catalog, version)))

    def error(file: str, line: int | None, message: str) -> None:
        tally.errors += 1
        print(
            f"winpod check: error: {f'{file}:{line}' if line else file}: {message}", file=sys.stderr
        )
        sink.error(ErrorRecord(file=file, line=line, message=message))

    def skipped(record: ObjectRecord) -> None:
        tally.objects += 1
        tally.skipped_kinds[record.kind or "(no kind)"] += 1
        sink.object(record, [])

    for item in iter_inputs(paths, stdin, exclude or ()):
        if isinstance(item, InputError):
            error(item.file, item.line, item.message)
        elif isinstance(item, NoManifests):
            if strict:
                error(item.path, None, f"{item.reason} (--strict)")
            elif verbose:
                print(f"winpod check: {item.path}: {item.reason}", file=sys.stderr)
        elif isinstance(item, FileDone):
            tally.files += 1
            if item.items == 0:
                if strict:
                    error(item.file, None, "no objects: the file is empty (--strict)")
                elif verbose:
                    print(f"winpod check: {item.file}: no objects (empty file)", file=sys.stderr)
        elif isinstance(item, Skipped):
            if strict:
                error(item.file, item.line, f"{item.reason} (--strict)")
                continue
            skipped(
                ObjectRecord(
                    file=item.file,
                    line=item.line,
                    kind=None,
                    namespace=None,
                    name=None,
                    checked=False,
                    skippedReason=item.reason,
                )
            )
        elif isinstance(item, Manifest):
            judged = _evaluate(engine, item, version, runtime_classes, view, mutate, error)
            if judged is None:
                continue
            evaluation, prefix = judged
            if not evaluation.checked:
                skipped(_object_record(item, evaluation, skippedReason=evaluation.skipped_reason))
                continue
            records = finding_records(
                evaluation,
                failing=failing,
                file=item.file,
                position_of=partial(_position_of_finding, item),
            )
            records.sort(key=lambda r: r.line or 0)  # reading order; stable within a line
            decision = evaluation.os
            tally.objects += 1
            tally.checked += 1
            tally.oses[decision.os if decision else "unknown"] += 1
            for record in records:
                if record.exempted:
                    tally.exempted += 1
                else:
                    tally.actions[record.action] += 1
                tally.blocking = tally.blocking or record.blocks
            tally.denied_objects += evaluation.denied
            sink.object(
                _object_record(
                    item,
                    evaluation,
                    os=decision.os if decision else "unknown",
                    osEvidence=_evidence(decision),
                    osEvidencePath=_evidence_path(decision, prefix),
                    denied=evaluation.denied,
                ),
                records,
            )
    if tally.errors:
        exit_code = EXIT_ERROR
    elif tally.blocking:
        exit_code = EXIT_DENIED
    else:
        exit_code = EXIT_OK
    summary = Summary(
        files=tally.files,
        objects=tally.objects,
        checked=tally.checked,
        skipped=tally.objects - tally.checked,
        windows=tally.oses["windows"],
        linux=tally.oses["linux"],
        unknown=tally.oses["unknown"],
        deny=tally.actions["deny"],
        warn=tally.actions["warn"],
        audit=tally.actions["audit"],
        exempted=tally.exempted,
        deniedObjects=tally.denied_objects,
        errors=tally.errors,
        skippedKinds=dict(sorted(tally.skipped_kinds.items())),
        failOn="deny" if fail_on == "deny" else "warn",
        exitCode=exit_code,
    )
    sink.end(summary)
    return summary


def _position_of_finding(manifest: Manifest, finding: Finding) -> tuple[int, int]:
    from ..manifests import position_of

    return position_of(manifest, finding.path)


def _object_record(item: Manifest, evaluation: Evaluation, **fields: Any) -> ObjectRecord:
    """The report's record of one judged document (checked unless a skip reason is given)."""
    from ..reports.model import ObjectRecord

    return ObjectRecord(
        file=item.file,
        line=item.line,
        kind=evaluation.kind,
        namespace=evaluation.namespace,
        name=evaluation.name,
        checked="skippedReason" not in fields,
        **fields,
    )


def _evidence(decision: OSDecision | None) -> str:
    if decision is None:
        return "no OS evidence"
    if decision.defaulted_from:
        return f"no evidence; default from {decision.defaulted_from}"
    deciding = decision.deciding
    if deciding is None:
        return "no OS evidence; not checked as a Windows pod"
    return deciding.reason


def _evidence_path(decision: OSDecision | None, prefix: str) -> str | None:
    """Where the deciding evidence is, rooted at the object like the findings' paths."""
    deciding = decision.deciding if decision is not None else None
    return prefix + deciding.path if deciding is not None else None


def _evaluate(
    engine: Engine,
    manifest: Manifest,
    version: KubeVersion,
    runtime_classes: Mapping[str, RuntimeClassInfo],
    view: ClusterView | None,
    mutate: bool,
    error: Callable[[str, int | None, str], None],
) -> tuple[Evaluation, str] | None:
    """The evaluation and the path prefix of the object's pod template."""
    from ..engine.judge import context_of, judge
    from ..engine.subject import subject_of
    from ..engine.visit import ShapeError

    obj = manifest.obj
    try:
        subject = subject_of(obj)
        context = context_of(
            view, subject.namespace, version=version, runtime_classes=runtime_classes
        )
        evaluation = judge(engine, subject, context, mutate=mutate).evaluation
        return evaluation, subject.template.prefix if subject.template is not None else ""
    except ShapeError as exc:
        error(manifest.file, manifest.line, f"{_ref(obj)}: {exc}")
    except RecursionError:
        error(manifest.file, manifest.line, f"{_ref(obj)}: nested too deep to judge")
    except Exception as exc:  # an engine bug must not hide the other files' results
        error(
            manifest.file,
            manifest.line,
            f"{_ref(obj)}: internal error in winpod ({type(exc).__name__}: {exc});"
            " please report it",
        )
    return None


def _ref(obj: Mapping[str, Any]) -> str:
    metadata = obj.get("metadata")
    name = metadata.get("name") if isinstance(metadata, dict) else None
    return f"{obj.get('kind')} {name or '(unnamed)'}"
