"""`winpod explain RULE`: one rule in full, with the source it is built from."""

from __future__ import annotations

import argparse
import sys
import textwrap
from pathlib import Path

from .options import OptionError, add_policies, catalog_from

HELP = "print one rule: what it checks, its actions by Kubernetes version, and its source"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("rule", metavar="RULE", help="a rule id, e.g. windows-subpath")
    add_policies(parser, "read")


def suggestions(wanted: str, known: list[str]) -> list[str]:
    import difflib

    close = difflib.get_close_matches(wanted, known, n=5, cutoff=0.6)
    close += [k for k in known if wanted.lower() in k and k not in close]
    return close[:5]


def run(args: argparse.Namespace) -> int:
    try:
        catalog = catalog_from(args)
    except OptionError as exc:
        print(f"winpod explain: error: {exc}", file=sys.stderr)
        return 2
    spec = catalog.rules.get(args.rule)
    if spec is None:
        close = suggestions(args.rule, sorted(catalog.rules))
        hint = f"; did you mean {', '.join(close)}?" if close else "; `winpod rules` lists them"
        print(f"winpod explain: error: no rule {args.rule!r}{hint}", file=sys.stderr)
        return 2

    def wrap(text: str, indent: str = "  ") -> str:
        return textwrap.fill(
            " ".join(text.split()), width=96, initial_indent=indent, subsequent_indent=indent
        )

    out = [f"{spec.id}: {spec.title}", f"  applies to: {spec.os} pods", "", "checks:"]
    out += [f"  {path}" for path in spec.field_paths()]
    out += ["", "versions:"]
    for entry in spec.versions:
        how = f"function {entry.function}" if entry.function else "field check"
        line = f"  since {entry.since}: {entry.action} ({how})"
        if entry.apiserverRejects:
            line += "; covers fields the apiserver rejects (see below)"
        out.append(line)
        out.append(wrap(f"message: {entry.message}", "    "))
        out.append(wrap(f"fix: {entry.fix}", "    "))
    facts = _apiserver_facts(spec.id)
    if facts:
        out += ["", "what the apiserver does (app/engine/apifields.py):"]
        out += [f"  {line}" for line in facts]
    if spec.notes:
        out += ["", "notes:", wrap(spec.notes)]
    out += _examples(catalog.files[spec.id])
    out += [
        "",
        "exempt one object (its pod, or a workload's pod template):",
        "  metadata:",
        "    annotations:",
        f'      winpod.io/exempt: "{spec.id}"',
        '      winpod.io/exempt-reason: "why this rule does not apply here"',
        "",
        "change its action (in the config file: deny | warn | audit | off):",
        "  rules:",
        f"    {spec.id}: warn",
        "  namespaces:          # or for one namespace only",
        f"    legacy-apps: {{rules: {{{spec.id}: audit}}}}",
    ]
    out += ["", f"source: {spec.source}", f"rule file: {catalog.files[spec.id]}"]
    print("\n".join(out))
    return 0


def _examples(rule_file: Path) -> list[str]:
    """The rule's failing and passing examples (its own test fixtures, shipped beside it)."""
    lines: list[str] = []
    for verdict in ("fail", "pass"):
        example = rule_file.parent / "examples" / f"{rule_file.stem}.{verdict}.yaml"
        if example.is_file():
            lines += ["", f"{'a failing' if verdict == 'fail' else 'a passing'} example:"]
            lines += [f"  {line}" for line in example.read_text(encoding="utf-8").splitlines()]
    return lines


def _apiserver_facts(rule_id: str) -> list[str]:
    from ..engine import apifields

    lines: list[str] = []
    for entry in (*apifields.FIELDS, *apifields.LINUX_FORBIDDEN):
        if entry.rule != rule_id:
            continue
        path = ("<container>." if entry.container else "") + entry.path
        if entry.key_filter:
            path += f" (keys {entry.key_filter})"
        said: list[str] = []
        if entry.added is not None:
            said.append(f"added in {entry.added}")
        if entry.gate is not None:
            on = (
                f"on by default from {entry.gate.default_on}"
                if entry.gate.default_on
                else "off by default"
            )
            said.append(f"gate {entry.gate.name} ({on}; dropped while off)")
        if entry.windows is not None:
            os_name = "linux" if entry in apifields.LINUX_FORBIDDEN else "windows"
            how = {"present": "in any value", "true": "when true", "nonEmpty": "when non-empty"}
            until = f" until {entry.windows_until}" if entry.windows_until else ""
            said.append(
                f"rejected {how[entry.windows]} on a pod with spec.os.name {os_name}{until}"
            )
        lines.append(f"{path}: {'; '.join(said)}")
    return lines
