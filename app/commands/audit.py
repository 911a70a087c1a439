"""`winpod audit`: evaluate what already runs in a cluster, as the webhook would admit it."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, TextIO

from ..reports.records import finding_records, finding_text

if TYPE_CHECKING:
    from ..cluster.audit import Audited, AuditSummary, ResultSpool
    from ..engine.evaluate import Engine

HELP = (
    "audit the Pods and workloads already in a cluster (paged lists, bounded memory); "
    "exit 1 if any would be denied, 3 if the cluster cannot be read"
)

EXIT_OK, EXIT_DENIED, EXIT_USAGE, EXIT_CLUSTER = 0, 1, 2, 3
PROGRESS_SECONDS = 2.0
ETCD_OBJECT_LIMIT = 1_572_864  # etcd's default --max-request-bytes (1.5 MiB)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    scope = parser.add_mutually_exclusive_group()
    scope.add_argument(
        "-n",
        "--namespace",
        action="append",
        metavar="NS",
        dest="namespaces",
        help="audit this namespace (repeatable); default: all namespaces",
    )
    scope.add_argument(
        "-A", "--all-namespaces", action="store_true", help="audit every namespace (the default)"
    )
    parser.add_argument(
        "--mutate",
        action="store_true",
        help="evaluate each object as it would be after winpod's mutation",
    )
    parser.add_argument(
        "--format",
        choices=("text", "json", "sarif", "policyreport"),
        default="text",
        help="output on stdout (policyreport: YAML, one per namespace)",
    )
    parser.add_argument(
        "--apply",
        action="store_true",
        help="create or replace a PolicyReport named 'winpod' in each namespace",
    )
    parser.add_argument(
        "--page-size",
        type=int,
        default=500,
        metavar="N",
        help="objects per list call (default 500)",
    )
    parser.add_argument("--config", metavar="FILE", help="winpod config file")
    parser.add_argument(
        "--kubeconfig",
        metavar="FILE",
        help="kubeconfig (default: $KUBECONFIG or ~/.kube/config; in a pod: its service account)",
    )
    parser.add_argument("--context", metavar="NAME", help="kubeconfig context")


def run(args: argparse.Namespace) -> int:
    from ..cluster.audit import AuditSummary, ResultSpool, audit, engine_evaluator, list_objects
    from ..cluster.client import ClusterError, make_api_client
    from ..cluster.view import ClusterSnapshotView
    from ..config import ConfigError, load_config
    from ..engine.evaluate import Engine

    if args.page_size < 1:
        print("winpod audit: --page-size must be at least 1", file=sys.stderr)
        return EXIT_USAGE
    try:
        config = load_config(args.config)
        engine = Engine(config=config)
    except (ConfigError, ValueError) as exc:
        print(f"winpod audit: {exc}", file=sys.stderr)
        return EXIT_USAGE

    spool = ResultSpool() if args.format == "policyreport" or args.apply else None
    summary = AuditSummary()
    client: Any = None
    try:
        client = make_api_client(args.kubeconfig, args.context)
        namespaces = sorted(set(args.namespaces)) if args.namespaces else None
        view = ClusterSnapshotView.read(
            config, client, page_size=args.page_size, namespaces=namespaces
        )
        for missing in sorted(set(namespaces or ()) - set(view.namespaces)):
            print(f"winpod audit: namespace {missing} not found", file=sys.stderr)
        evaluate = engine_evaluator(engine, view, mutate=args.mutate)
        objects = list_objects(client, namespaces, args.page_size, summary)
        audited = audit(objects, evaluate, summary, spool=spool, progress=_Progress(sys.stderr))
        _write(args.format, audited, summary, spool, engine, sys.stdout)
        if args.apply:
            assert spool is not None
            _apply(client, spool, sys.stderr)
    except ClusterError as exc:
        print(f"winpod audit: {exc}", file=sys.stderr)
        return EXIT_CLUSTER
    finally:
        if spool is not None:
            spool.close()
        if client is not None:
            client.close()
    return EXIT_DENIED if summary.denied else EXIT_OK


class _Progress:
    """A line on stderr every couple of seconds, so a long audit visibly moves."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.last = time.monotonic()

    def __call__(self, summary: AuditSummary) -> None:
        now = time.monotonic()
        if now - self.last < PROGRESS_SECONDS:
            return
        self.last = now
        print(
            f"winpod audit: {sum(summary.listed.values()):,} listed ({summary.pages} pages), "
            f"{summary.checked:,} checked, {sum(summary.covered.values()):,} covered by "
            f"controllers, {summary.denied:,} would be denied",
            file=self.stream,
            flush=True,
        )


def _write(
    fmt: str,
    audited: Iterator[Audited],
    summary: AuditSummary,
    spool: ResultSpool | None,
    engine: Engine,
    out: TextIO,
) -> None:
    if fmt == "text":
        for item in audited:
            _text_item(item, out)
        _text_summary(summary, out)
    elif fmt == "json":
        _json(audited, summary, out)
    elif fmt == "sarif":
        _sarif(audited, engine, out)
        _text_summary(summary, sys.stderr)
    else:
        for _ in audited:
            pass
        assert spool is not None
        _policy_reports(spool, out)
        _text_summary(summary, sys.stderr)


def _verdict(item: Audited) -> str:
    if item.evaluation is None:
        return "ERROR"
    if item.evaluation.denied:
        return "DENY"
    return "WARN" if item.evaluation.by_action(_action("warn")) else "AUDIT"


def _action(name: str) -> Any:
    from ..config import Action

    return Action(name)


def _where(item: Audited) -> str:
    ref = item.ref
    return f"{ref.kind} {ref.namespace}/{ref.name}" if ref.namespace else f"{ref.kind} {ref.name}"


def _text_item(item: Audited, out: TextIO) -> None:
    if item.evaluation is None:
        out.write(f"ERROR {item.error}\n")
        return
    os_summary = item.evaluation.os.summary() if item.evaluation.os else "unknown"
    out.write(f"{_verdict(item)} {_where(item)} (OS: {os_summary})\n")
    for record in finding_records(item.evaluation):
        out.write(f"  {record.action}: {finding_text(record)}\n")


def _text_summary(summary: AuditSummary, out: TextIO) -> None:
    listed = ", ".join(f"{kind} {n:,}" for kind, n in sorted(summary.listed.items()))
    covered = ", ".join(f"{kind} {n:,}" for kind, n in sorted(summary.covered.items()))
    findings = ", ".join(f"{k} {n:,}" for k, n in sorted(summary.findings.items())) or "none"
    out.write(
        f"winpod audit: listed {sum(summary.listed.values()):,} objects ({listed or 'none'}) in "
        f"{summary.pages} pages across {len(summary.namespaces)} namespaces, {summary.seconds:.1f} s\n"
        f"  checked {summary.checked:,}: {summary.denied:,} would be denied, "
        f"{summary.warned:,} warned, {summary.clean:,} clean, {summary.errors:,} unreadable\n"
    )
    if covered:
        out.write(f"  not checked again, their controller's template was: {covered}\n")
    out.write(f"  findings: {findings}\n")
    for (rule, action), count in sorted(summary.rules.items(), key=lambda i: (-i[1], i[0]))[:20]:
        out.write(f"    {count:>8,}  {action:<5} {rule}\n")
    out.flush()


def _json(audited: Iterator[Audited], summary: AuditSummary, out: TextIO) -> None:
    import orjson

    # Streamed: objects are written as they are evaluated, the summary last. Findings have
    # the fields of `winpod check --format json`'s (winpod.reports.model.FindingRecord).
    out.write('{"objects": [')
    first = True
    for item in audited:
        doc: dict[str, Any] = {
            "apiVersion": item.ref.api_version,
            "kind": item.ref.kind,
            "namespace": item.ref.namespace,
            "name": item.ref.name,
            "uid": item.ref.uid,
            "verdict": _verdict(item).lower(),
        }
        if item.evaluation is None:
            doc["error"] = item.error
        else:
            doc["os"] = item.evaluation.os.summary() if item.evaluation.os else "unknown"
            doc["findings"] = finding_records(item.evaluation)  # orjson writes dataclasses
        out.write(("\n  " if first else ",\n  ") + orjson.dumps(doc).decode())
        first = False
    out.write('\n], "summary": ' + orjson.dumps(summary.as_dict()).decode() + "}\n")


UNREADABLE_RULE = "winpod-unreadable"


def _sarif(audited: Iterator[Audited], engine: Engine, out: TextIO) -> None:
    """Through the one SARIF mapping (winpod.reports.as_sarif): the same levels, the same
    exemption rule (a suppression, never a dropped result) as `winpod check`."""
    from .. import __version__
    from ..reports.as_sarif import SarifStream
    from ..reports.model import FindingRecord
    from ..reports.records import rule_records

    version = engine.default_version
    rules = rule_records(engine.catalog, version)
    stream = SarifStream(out, rules, __version__, str(version))
    denied = False
    for item in audited:
        if item.evaluation is None:
            stream.result(
                FindingRecord(
                    rule=UNREADABLE_RULE,
                    action="deny",
                    kind=item.ref.kind,
                    namespace=item.ref.namespace or None,
                    name=item.ref.name,
                    path="(object)",
                    message=item.error or "cannot be evaluated",
                    fix="fix the object's structure",
                    file=None,
                    line=None,
                    blocks=True,
                )
            )
            continue
        denied = denied or item.evaluation.denied
        for record in finding_records(item.evaluation):
            stream.result(record)
    stream.finish(EXIT_DENIED if denied else EXIT_OK)


def _policy_reports(spool: ResultSpool, out: TextIO) -> None:
    """One YAML document per namespace, written result by result: a namespace with many
    findings never has to be held as one object just to be printed."""
    import yaml

    from ..cluster.policyreport import report_header

    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    for namespace in spool.namespaces():
        out.write("---\n")
        header = report_header(namespace, spool.summaries[namespace])
        yaml.dump(header, out, Dumper=dumper, sort_keys=False, width=200)
        out.write("results:\n")
        for result in spool.results(namespace):
            yaml.dump([result], out, Dumper=dumper, sort_keys=False, width=200)


def _apply(client: Any, spool: ResultSpool, log: TextIO) -> None:
    import orjson
    from kubernetes.client import ApiException, CustomObjectsApi

    from ..cluster.client import ClusterError, describe_error
    from ..cluster.policyreport import API_VERSION, REPORT_NAME, policy_report

    group, version = API_VERSION.split("/")
    api = CustomObjectsApi(client)
    applied = 0
    for namespace in spool.namespaces():
        report = policy_report(namespace, spool.results(namespace))
        size = len(orjson.dumps(report))
        if size > ETCD_OBJECT_LIMIT:
            print(
                f"winpod audit: PolicyReport {namespace}/{REPORT_NAME} is {size / 2**20:.1f} MiB, over "
                "etcd's default 1.5 MiB object limit; the apiserver will likely refuse it",
                file=log,
            )
        try:
            try:
                api.create_namespaced_custom_object(
                    group, version, namespace, "policyreports", report
                )
            except ApiException as exc:
                if exc.status != 409:
                    raise
                current: Any = api.get_namespaced_custom_object(
                    group, version, namespace, "policyreports", REPORT_NAME
                )
                report["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
                api.replace_namespaced_custom_object(
                    group, version, namespace, "policyreports", REPORT_NAME, report
                )
        except ApiException as exc:
            raise ClusterError(
                f"applying PolicyReport {namespace}/{REPORT_NAME}: {describe_error(exc)}"
            ) from exc
        applied += 1
    print(f"winpod audit: applied {applied} PolicyReports ({API_VERSION})", file=log)
