"""`winpod rules`: list the rule catalog with each rule's default action at a version."""

from __future__ import annotations

import argparse
import sys

HELP = "list the rules (id, default action at the target version, OS, title)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--policies",
        metavar="DIR",
        action="append",
        help="rule directory to list instead of the shipped policies/ (repeatable)",
    )
    parser.add_argument(
        "--kubernetes-version",
        metavar="VERSION",
        help="show the actions in force at this version (default: the latest known)",
    )
    parser.add_argument("--format", choices=("text", "json"), default="text")


def run(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from ..engine.kubeversion import LATEST, parse_version
    from ..engine.rules import RuleError, load_catalog, select_version

    try:
        catalog = load_catalog([Path(d) for d in args.policies] if args.policies else None)
    except RuleError as exc:
        print(f"winpod rules: error: {exc}", file=sys.stderr)
        return 2
    try:
        version = parse_version(args.kubernetes_version) if args.kubernetes_version else LATEST
    except ValueError as exc:
        print(f"winpod rules: error: --kubernetes-version: {exc}", file=sys.stderr)
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
