"""Shipped rule versions and check functions are never edited (policies/README.md, "Versions"):
each is held to the hash it shipped with, in tests/rules/shipped.json.

    python -m tests.rules.shipped --lock [--reason "why"]   # lock new versions (and, with
                                                            # a reason, corrected ones)

A new version or function is locked as it lands. Changing a locked one fails the test; the only
way past it is --lock with a reason, which is recorded beside the new hash: a correction of what
the version says about its own release, made on purpose and explained."""

from __future__ import annotations

import argparse
import hashlib
import inspect
import json
import sys
from pathlib import Path
from typing import Any

import yaml

LOCK = Path(__file__).with_name("shipped.json")
POLICIES = Path(__file__).resolve().parents[2] / "policies"


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def current() -> dict[str, str]:
    """name -> hash for every rule version (rule@since) and check function (fn:name@since)."""
    from winpod.engine.checks import REGISTRY

    found: dict[str, str] = {}
    for path in sorted(POLICIES.glob("*.yaml")):
        data: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
        for version in data["versions"]:
            canonical = json.dumps(version, sort_keys=True, ensure_ascii=False)
            found[f"{data['id']}@{version['since']}"] = _digest(canonical)
    for key, registered in sorted(REGISTRY.items()):
        source = inspect.getsource(registered.function)
        found[f"fn:{key}"] = _digest(source)
    return found


def load() -> dict[str, Any]:
    if not LOCK.exists():
        return {"versions": {}, "corrections": []}
    data: dict[str, Any] = json.loads(LOCK.read_text(encoding="utf-8"))
    return data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lock", action="store_true", help="write tests/rules/shipped.json")
    parser.add_argument("--reason", help="why a locked version changes (a correction)")
    args = parser.parse_args(argv)
    lock = load()
    now = current()
    changed = sorted(
        k for k, v in now.items() if k in lock["versions"] and lock["versions"][k] != v
    )
    if changed and not args.reason:
        print("edited shipped versions (add a new version instead):", *changed, sep="\n  ")
        if args.lock:
            print("refusing to lock them without --reason", file=sys.stderr)
            return 1
    if args.lock:
        if changed:
            lock["corrections"].append({"entries": changed, "reason": args.reason})
        lock["versions"] = dict(sorted(now.items()))
        LOCK.write_text(json.dumps(lock, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        print(f"locked {len(now)} versions and functions in {LOCK}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
