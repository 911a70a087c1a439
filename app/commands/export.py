"""`winpod export`: the catalog as ValidatingAdmissionPolicy and MutatingAdmissionPolicy objects
(with bindings) for a target Kubernetes version and config, so the apiserver enforces it with
no webhook. Prints the objects (YAML or JSON) on stdout and a summary on stderr: how many
objects and CEL expressions, the rules exported, and what stays with the webhook."""

from __future__ import annotations

import argparse
import sys
from typing import Any

HELP = "print the catalog as ValidatingAdmissionPolicy/MutatingAdmissionPolicy objects (no webhook)"

EXIT_OK, EXIT_USAGE = 0, 2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE", help="the winpod config (as check and serve)")
    parser.add_argument(
        "--kubernetes-version",
        metavar="VERSION",
        help="target release (default: the config's, the cluster's with --cluster, else the"
        " latest known); ValidatingAdmissionPolicy v1 needs 1.30, MutatingAdmissionPolicy v1 1.36",
    )
    parser.add_argument(
        "--policies", metavar="DIR", action="append", help="rule directory instead of the shipped"
    )
    parser.add_argument(
        "--runtime-classes",
        metavar="FILE",
        action="append",
        default=[],
        help="RuntimeClass manifests whose scheduling decides OS (CEL cannot read them at"
        " admission: they are written into the policies); repeatable",
    )
    parser.add_argument(
        "--cluster",
        action="store_true",
        help="read the RuntimeClasses (and the version) from the current kubeconfig context",
    )
    parser.add_argument("--kubeconfig", metavar="FILE", help="with --cluster: this kubeconfig")
    parser.add_argument("--context", metavar="NAME", help="with --cluster: this context")
    mutating = parser.add_mutually_exclusive_group()
    mutating.add_argument(
        "--mutating",
        dest="mutating",
        action="store_true",
        default=None,
        help="insist on the MutatingAdmissionPolicy for placement (an error before 1.36)",
    )
    mutating.add_argument(
        "--no-mutating",
        dest="mutating",
        action="store_false",
        help="validating policies only (keep the mutating webhook for placement)",
    )
    parser.add_argument(
        "--failure-policy",
        choices=("Ignore", "Fail"),
        default="Ignore",
        help="what the apiserver does when an expression fails (default Ignore, as the webhooks)",
    )
    parser.add_argument(
        "--exclude-namespace",
        metavar="NS",
        action="append",
        help="namespaces the policies never see (default: kube-system, kube-node-lease; a"
        " namespace labelled winpod.io/ignore=true is always excluded)",
    )
    parser.add_argument("--format", choices=("yaml", "json"), default="yaml")
    parser.add_argument("-o", "--output", metavar="FILE", help="write the objects here")
    parser.add_argument("-q", "--quiet", action="store_true", help="no summary on stderr")


def _error(message: str) -> int:
    print(f"winpod export: {message}", file=sys.stderr)
    return EXIT_USAGE


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    import orjson
    import yaml

    from ..config import ConfigError, load_config
    from ..engine.evaluate import Engine
    from ..engine.kubeversion import parse_version
    from ..engine.osinfer import runtime_class_index
    from ..engine.rules import RuleError, load_catalog
    from ..export import EXCLUDED_NAMESPACES, ExportError, export
    from ..manifests import read_inputs

    if (args.kubeconfig or args.context) and not args.cluster:
        return _error("--kubeconfig and --context go with --cluster")
    try:
        config = load_config(args.config)
        catalog = load_catalog([Path(p) for p in args.policies] if args.policies else None)
        engine = Engine(catalog, config)
    except (ConfigError, RuleError, ValueError) as exc:
        return _error(str(exc))
    runtime = dict(engine.runtime_classes)
    version = None
    if args.cluster:
        try:
            from ..cluster import ClusterError, cluster_view_from_kubeconfig
        except ImportError as exc:
            return _error(f"--cluster is not available: {exc}")
        try:
            view = cluster_view_from_kubeconfig(config, args.kubeconfig, args.context)
        except ClusterError as exc:
            return _error(f"--cluster: cannot read the cluster: {exc}")
        runtime.update(view.runtime_classes() or {})
        version = view.version()
    if args.runtime_classes:
        inputs = read_inputs(list(args.runtime_classes))
        if inputs.errors:
            return _error("; ".join(str(e) for e in inputs.errors))
        runtime.update(runtime_class_index(m.obj for m in inputs.manifests))
    try:
        if args.kubernetes_version:
            version = parse_version(args.kubernetes_version)
        elif version is None:
            version = engine.default_version
        result = export(
            engine,
            version,
            runtime_classes=runtime,
            mutating=args.mutating,
            failure_policy=args.failure_policy,
            excluded_namespaces=args.exclude_namespace
            if args.exclude_namespace is not None
            else EXCLUDED_NAMESPACES,
        )
    except (ExportError, ValueError) as exc:
        return _error(str(exc))
    text = _render(result.objects, args.format, yaml, orjson)
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    if not args.quiet:
        print(summary(result), file=sys.stderr)
    return EXIT_OK


def _render(objects: list[dict[str, Any]], fmt: str, yaml: Any, orjson: Any) -> str:
    if fmt == "json":
        listed = {"apiVersion": "v1", "kind": "List", "items": objects}
        return str(orjson.dumps(listed, option=orjson.OPT_INDENT_2).decode()) + "\n"
    return str(yaml.safe_dump_all(objects, sort_keys=False, width=1 << 20))


def summary(result: Any) -> str:
    kinds: dict[str, int] = {}
    for obj in result.objects:
        kinds[obj["kind"]] = kinds.get(obj["kind"], 0) + 1
    shown = ", ".join(f"{count} {kind}" for kind, count in kinds.items())
    lines = [
        f"winpod export: Kubernetes {result.version}: {len(result.objects)} objects ({shown}),"
        f" {result.expressions} CEL expressions, {len(result.rules)} rules",
        f"left to the webhook ({len(result.left)}):",
    ]
    lines.extend(f"  {item.what}: {item.why}" for item in result.left)
    return "\n".join(lines)
