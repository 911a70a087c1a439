"""`winpod rules`: list the rule catalog with each rule's default action at a version; with
`--walker-source`, print the Python the engine generates from the rules' field paths."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from .options import OptionError, add_kubernetes_version, add_policies, catalog_from

if TYPE_CHECKING:
    from ..engine.kubeversion import KubeVersion
    from ..engine.rules import Catalog

HELP = "list the rules (id, default action at the target version, OS, title)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_policies(parser, "list")
    add_kubernetes_version(
        parser, "show the actions in force at this version (default: the latest known)"
    )
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.add_argument(
        "--walker-source",
        action="store_true",
        help="print the Python the engine generates to walk pods for the rules' field tests, at"
        " --kubernetes-version, instead of the list (for debugging the engine)",
    )
    parser.add_argument(
        "--os",
        choices=("windows", "linux", "unknown"),
        help="with --walker-source: only the walkers for pods judged as this OS (default: all)",
    )


def run(args: argparse.Namespace) -> int:
    import json

    from ..engine.kubeversion import LATEST, parse_version
    from ..engine.rules import select_version

    try:
        catalog = catalog_from(args)
    except OptionError as exc:
        print(f"winpod rules: error: {exc}", file=sys.stderr)
        return 2
    try:
        version = parse_version(args.kubernetes_version) if args.kubernetes_version else LATEST
    except ValueError as exc:
        print(f"winpod rules: error: --kubernetes-version: {exc}", file=sys.stderr)
        return 2
    if args.walker_source:
        if args.format != "text":
            print(
                "winpod rules: error: --walker-source prints Python source, not json",
                file=sys.stderr,
            )
            return 2
        return _print_walkers(catalog, version, args.os)
    if args.os:
        print("winpod rules: error: --os applies only with --walker-source", file=sys.stderr)
        return 2
    rows = []
    for rule_id in sorted(catalog.rules):
        spec = catalog.rules[rule_id]
        entry = select_version(spec, version)
        rows.append(
            {
                "id": spec.id,
                "action": entry.action if entry else "off",
                "since": entry.since if entry else spec.versions[0].since,
                "os": spec.os,
                "title": spec.title,
                "source": spec.source,
            }
        )
    if args.format == "json":
        document = {"kubernetesVersion": str(version), "count": len(rows), "rules": rows}
        print(json.dumps(document, indent=2))
        return 0
    width = max(len(r["id"]) for r in rows)
    print(f"{'RULE':<{width}}  {'ACTION':<6}  {'OS':<7}  TITLE")
    for row in rows:
        print(f"{row['id']:<{width}}  {row['action']:<6}  {row['os']:<7}  {row['title']}")
    print(f"\n{len(rows)} rules (actions at Kubernetes {version}; `winpod explain RULE` for one)")
    return 0


def _print_walkers(catalog: Catalog, version: KubeVersion, os_name: str | None) -> int:
    from ..engine.evaluate import Engine
    from ..engine.fieldtrie import walker_source

    rule_sets = Engine(catalog).rules_for(version)
    for name in (os_name,) if os_name else tuple(rule_sets):
        rule_set = rule_sets[name]
        for part, walker in (("pod", rule_set.pod_tests), ("container", rule_set.container_tests)):
            called = " (called once per container, with its path)" if part == "container" else ""
            print(f"# --- Kubernetes {version}, pods judged {name}: the {part} walker{called} ---")
            print(walker_source(walker))
    return 0
