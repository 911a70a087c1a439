"""`winpod check PATH... | -`: dry-run the admission rules over manifests, for CI.

Exit codes: 0 nothing denied; 1 something denied (or warned, with --fail-on warn); 2 a usage
error, or an input that could not be read, parsed or evaluated. An input error wins over a
denial: CI must notice a manifest it never checked, and a 1 would read as "checked, denied".
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Mapping
from functools import partial
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..clusterview import ClusterView
    from ..engine.evaluate import Engine
    from ..engine.findings import Evaluation, Finding
    from ..engine.kubeversion import KubeVersion
    from ..engine.osinfer import OSDecision, RuntimeClassInfo
    from ..manifests import Inputs, Manifest
    from ..reports.model import Report

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
    parser.add_argument("--config", metavar="FILE", help="winpod config file (the webhook's)")
    parser.add_argument(
        "--policies",
        metavar="DIR",
        action="append",
        help="rule directory to use instead of the shipped policies/ (repeatable)",
    )
    parser.add_argument(
        "--kubernetes-version",
        metavar="VERSION",
        help="target Kubernetes version, e.g. 1.30 (default: the config's, else the latest known)",
    )
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


def _error(message: str) -> int:
    print(f"winpod check: error: {message}", file=sys.stderr)
    return EXIT_ERROR


def run(args: argparse.Namespace) -> int:
    import gc

    # The YAML node trees are kept for line numbers: hundreds of thousands of live objects
    # that the cyclic collector would rescan again and again as they pile up (half of the
    # run's CPU time over 1,000 files). They hold no cycles; reference counting frees them.
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _run(args)
    finally:
        if enabled:
            gc.enable()


def _run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..config import ConfigError, load_config
    from ..engine.evaluate import Engine
    from ..engine.kubeversion import parse_version
    from ..engine.rules import RuleError, load_catalog
    from ..manifests import read_inputs
    from ..reports import render

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        return _error(str(exc))
    if args.kubernetes_version:
        try:
            parse_version(args.kubernetes_version)
        except ValueError as exc:
            return _error(f"--kubernetes-version: {exc}")
        # Through the config, so everything the engine does (mutation too) targets it.
        config = config.model_copy(update={"kubernetesVersion": args.kubernetes_version})
    try:
        catalog = load_catalog([Path(d) for d in args.policies]) if args.policies else None
        engine = Engine(catalog=catalog, config=config)
    except RuleError as exc:
        return _error(str(exc))
    except ValueError as exc:  # the config names rules the catalog does not have
        return _error(f"{args.config}: {exc}" if args.config else str(exc))

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

    inputs = read_inputs(args.paths)
    runtime_classes = _runtime_classes(engine, inputs, view)
    report = build_report(
        engine, inputs, engine.default_version, runtime_classes, view, args.mutate, args.fail_on
    )
    # Input errors always go to stderr; a text report on stdout need not repeat them.
    output = render(report, args.format, verbose=args.verbose, errors=bool(args.output))
    for error in report.errors:
        where = f"{error.file}:{error.line}" if error.line else error.file
        print(f"winpod check: error: {where}: {error.message}", file=sys.stderr)
    if args.verbose:
        for name in inputs.empty_files:
            print(f"winpod check: {name}: no objects (empty file)", file=sys.stderr)
    if args.output:
        try:
            Path(args.output).write_text(output, encoding="utf-8")
        except OSError as exc:
            return _error(f"{args.output}: cannot write the report: {exc.strerror}")
        if args.format != "text":
            from ..reports.as_text import summary_line

            print(summary_line(report), file=sys.stderr)
    else:
        sys.stdout.write(output)
        sys.stdout.flush()
    return report.summary.exitCode


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
    engine: Engine, inputs: Inputs, view: ClusterView | None
) -> Mapping[str, RuntimeClassInfo]:
    """The config's RuntimeClasses, under the cluster's, under the ones in the input: what the
    input ships is what will run, so it wins."""
    from ..engine.osinfer import runtime_class_index

    merged: dict[str, RuntimeClassInfo] = dict(engine.runtime_classes)
    if view is not None:
        merged.update(view.runtime_classes() or {})
    merged.update(runtime_class_index(m.obj for m in inputs.manifests))
    return merged


def build_report(
    engine: Engine,
    inputs: Inputs,
    version: KubeVersion,
    runtime_classes: Mapping[str, RuntimeClassInfo],
    view: ClusterView | None,
    mutate: bool,
    fail_on: str,
) -> Report:
    from .. import __version__
    from ..reports.model import (
        ErrorRecord,
        FindingRecord,
        ObjectRecord,
        Report,
        Summary,
    )
    from ..reports.records import finding_records, rule_records

    objects: list[ObjectRecord] = []
    findings: list[FindingRecord] = []
    errors = [ErrorRecord(file=e.file, line=e.line, message=e.message) for e in inputs.errors]
    for skipped in inputs.skipped:
        objects.append(
            ObjectRecord(
                file=skipped.file,
                line=skipped.line,
                kind=None,
                namespace=None,
                name=None,
                checked=False,
                skippedReason=skipped.reason,
            )
        )
    failing = frozenset({"deny"} if fail_on == "deny" else {"deny", "warn"})
    for manifest in inputs.manifests:
        evaluation = _evaluate(engine, manifest, version, runtime_classes, view, mutate, errors)
        if evaluation is None:
            continue
        if not evaluation.checked:
            objects.append(
                ObjectRecord(
                    file=manifest.file,
                    line=manifest.line,
                    kind=evaluation.kind,
                    namespace=evaluation.namespace,
                    name=evaluation.name,
                    checked=False,
                    skippedReason=evaluation.skipped_reason,
                )
            )
            continue
        records = finding_records(
            evaluation,
            failing=failing,
            file=manifest.file,
            line_of=partial(_line_of_finding, manifest),
        )
        records.sort(key=lambda r: r.line or 0)  # reading order; stable within a line
        indexes = list(range(len(findings), len(findings) + len(records)))
        findings.extend(records)
        decision = evaluation.os
        objects.append(
            ObjectRecord(
                file=manifest.file,
                line=manifest.line,
                kind=evaluation.kind,
                namespace=evaluation.namespace,
                name=evaluation.name,
                checked=True,
                os=decision.os if decision else "unknown",
                osEvidence=_evidence(decision),
                osEvidencePath=_evidence_path(decision, manifest.obj),
                denied=evaluation.denied,
                findings=indexes,
            )
        )

    checked = [o for o in objects if o.checked]
    counted = [f for f in findings if not f.exempted]
    actions = Counter(f.action for f in counted)
    oses = Counter(o.os for o in checked)
    skipped_kinds = Counter(o.kind or "(no kind)" for o in objects if not o.checked)
    if errors:
        exit_code = EXIT_ERROR
    elif any(f.blocks for f in findings):
        exit_code = EXIT_DENIED
    else:
        exit_code = EXIT_OK
    summary = Summary(
        files=len(inputs.files),
        objects=len(objects),
        checked=len(checked),
        skipped=len(objects) - len(checked),
        windows=oses["windows"],
        linux=oses["linux"],
        unknown=oses["unknown"],
        deny=actions["deny"],
        warn=actions["warn"],
        audit=actions["audit"],
        exempted=len(findings) - len(counted),
        deniedObjects=sum(1 for o in checked if o.denied),
        errors=len(errors),
        skippedKinds=dict(sorted(skipped_kinds.items())),
        failOn=fail_on,
        exitCode=exit_code,
    )
    rules = rule_records(engine.catalog, version)
    return Report(
        winpod=__version__,
        kubernetesVersion=str(version),
        summary=summary,
        objects=objects,
        findings=findings,
        errors=errors,
        rules=rules,
    )


def _line_of_finding(manifest: Manifest, finding: Finding) -> int:
    from ..manifests import line_of

    return line_of(manifest, finding.path)


def _evidence(decision: OSDecision | None) -> str:
    if decision is None:
        return "no OS evidence"
    if decision.defaulted_from:
        return f"no evidence; default from {decision.defaulted_from}"
    deciding = decision.deciding
    if deciding is None:
        return "no OS evidence; not checked as a Windows pod"
    return deciding.reason


def _evidence_path(decision: OSDecision | None, obj: dict[str, Any]) -> str | None:
    """Where the deciding evidence is, rooted at the object like the findings' paths."""
    from ..engine.visit import pod_template_of

    deciding = decision.deciding if decision is not None else None
    if deciding is None:
        return None
    template = pod_template_of(obj)
    return (template.prefix if template is not None else "") + deciding.path


def _evaluate(
    engine: Engine,
    manifest: Manifest,
    version: KubeVersion,
    runtime_classes: Mapping[str, RuntimeClassInfo],
    view: ClusterView | None,
    mutate: bool,
    errors: list[Any],
) -> Evaluation | None:
    from ..engine.judge import context_of, judge
    from ..engine.subject import subject_of
    from ..engine.visit import ShapeError
    from ..reports.model import ErrorRecord

    obj = manifest.obj
    try:
        subject = subject_of(obj)
        context = context_of(
            view, subject.namespace, version=version, runtime_classes=runtime_classes
        )
        return judge(engine, subject, context, mutate=mutate).evaluation
    except ShapeError as exc:
        errors.append(
            ErrorRecord(file=manifest.file, line=manifest.line, message=f"{_ref(obj)}: {exc}")
        )
    except Exception as exc:  # an engine bug must not hide the other files' results
        errors.append(
            ErrorRecord(
                file=manifest.file,
                line=manifest.line,
                message=f"{_ref(obj)}: internal error in winpod ({type(exc).__name__}: {exc});"
                " please report it",
            )
        )
    return None


def _ref(obj: Mapping[str, Any]) -> str:
    metadata = obj.get("metadata")
    name = metadata.get("name") if isinstance(metadata, dict) else None
    return f"{obj.get('kind')} {name or '(unnamed)'}"
