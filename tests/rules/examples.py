"""Each rule's own fixtures as golden YAML files: a failing and a passing example per rule in
policies/examples/ (shipped in the package; `winpod explain RULE` prints them).

    python -m tests.rules.examples --write     # after changing tests/rules/cases.py

A failing example is the rule's first fail fixture (a container case in `containers`); the
passing one its first pass fixture, or else the minimal Windows pod every rule accepts."""

from __future__ import annotations

import argparse
from pathlib import Path

import yaml

from tests.rules.cases import FAIL, PASS, Case, build, minimal_windows_pod

EXAMPLES = Path(__file__).resolve().parents[2] / "policies" / "examples"


def _kind(case: Case) -> str | None:
    if case.scope != "container":
        return None
    return "containers" if "containers" in case.kinds else case.kinds[0]


def _document(case: Case | None, verdict: str) -> str:
    if case is None:
        pod = minimal_windows_pod()
        note = "the minimal Windows pod, which no rule objects to"
    else:
        pod, _ = build(case, _kind(case))
        note = case.name
    header = [f"# {verdict}: {note}"]
    if case is not None and case.version:
        header.append(f"# at Kubernetes {case.version} (winpod check --kubernetes-version)")
    if case is not None and case.config:
        header.append(
            f"# with the config {yaml.safe_dump(case.config, default_flow_style=True).strip()}"
        )
    body = yaml.safe_dump(pod, sort_keys=False, default_flow_style=False)
    return "\n".join(header) + "\n" + body


def expected() -> dict[str, str]:
    """file name -> content for every rule's examples."""
    files: dict[str, str] = {}
    rules = {case.rule for case in FAIL}
    for rule in sorted(rules):
        failing = next(case for case in FAIL if case.rule == rule)
        passing = next((case for case in PASS if case.rule == rule), None)
        files[f"{rule}.fail.yaml"] = _document(failing, "fails")
        files[f"{rule}.pass.yaml"] = _document(passing, "passes")
    return files


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    wanted = expected()
    if args.write:
        EXAMPLES.mkdir(exist_ok=True)
        for stale in set(p.name for p in EXAMPLES.glob("*.yaml")) - set(wanted):
            (EXAMPLES / stale).unlink()
        for name, text in wanted.items():
            (EXAMPLES / name).write_text(text, encoding="utf-8")
        print(f"wrote {len(wanted)} examples to {EXAMPLES}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
