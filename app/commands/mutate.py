"""`winpod mutate`: print manifests as the mutating webhook would admit them.

Pods are mutated as /mutate would; workloads are previewed as the pods their templates create
(the webhook never mutates workloads, so GitOps tools see no drift). Kinds that run no pods are
left out. Warnings (what was injected and why) and the denials the cluster would answer with go
to stderr, so stdout stays a clean stream of manifests.

Exit codes: 0 fine, 1 a mutated pod would be denied, 2 usage or input errors.
"""

from __future__ import annotations

import argparse
import copy
import sys
from dataclasses import dataclass
from typing import Any

HELP = "print manifests as the mutating webhook would admit them (OS placement injected)"

EXIT_OK, EXIT_DENIED, EXIT_USAGE = 0, 1, 2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "paths", nargs="+", metavar="PATH", help="manifest files or directories; - reads stdin"
    )
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="winpod config file (mutation switches,"
        " Windows taints, default OS, Kubernetes version)",
    )
    parser.add_argument(
        "--output",
        "-o",
        choices=("yaml", "json"),
        default="yaml",
        help="format of the printed manifests (default yaml)",
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--diff", action="store_true", help="print a unified diff of each changed object instead"
    )
    mode.add_argument(
        "--patch",
        action="store_true",
        help="print each object's RFC 6902 patch as one JSON line instead",
    )


@dataclass(slots=True)
class _Preview:
    file: str
    line: int
    ref: str
    before: dict[str, Any]
    after: dict[str, Any]
    patch: list[dict[str, Any]]


def preview_pod(obj: dict[str, Any]) -> dict[str, Any] | None:
    """The pod an object runs: a Pod itself, or the pod a workload's template creates (named
    like its controller would); None for kinds that run no pods."""
    from ..engine.visit import pod_template_of

    template = pod_template_of(obj)
    if template is None:
        return None
    if obj.get("kind") == "Pod":
        return copy.deepcopy(obj)
    source = copy.deepcopy(template.pod)
    metadata = source.get("metadata")
    metadata = dict(metadata) if isinstance(metadata, dict) else {}
    owner = _mapping(obj.get("metadata"))
    if not metadata.get("name") and isinstance(owner.get("name"), str):
        metadata.setdefault("generateName", f"{owner['name']}-")
    if isinstance(owner.get("namespace"), str):
        metadata.setdefault("namespace", owner["namespace"])
    pod: dict[str, Any] = {"apiVersion": "v1", "kind": "Pod", "metadata": metadata}
    if "spec" in source:
        pod["spec"] = source["spec"]
    return pod


def run(args: argparse.Namespace) -> int:
    import json

    from ..config import ConfigError, load_config
    from ..engine.evaluate import Engine
    from ..engine.kubeversion import beyond_latest
    from ..engine.mutate import mutate_pod
    from ..engine.osinfer import runtime_class_index
    from ..engine.visit import ShapeError
    from ..manifests import read_inputs

    try:
        engine = Engine(config=load_config(args.config))
    except (ConfigError, ValueError) as exc:
        print(f"winpod mutate: {exc}", file=sys.stderr)
        return EXIT_USAGE
    note = beyond_latest(engine.default_version)
    if note:
        print(f"winpod mutate: warning: {note}", file=sys.stderr)
    inputs = read_inputs(args.paths)
    failed = bool(inputs.errors)
    for error in inputs.errors:
        print(error.describe(), file=sys.stderr)
    runtime = {**engine.runtime_classes, **runtime_class_index(m.obj for m in inputs.manifests)}
    previews: list[_Preview] = []
    denied = False
    left_out: dict[str, int] = {}
    for manifest in inputs.manifests:
        where = f"{manifest.file}:{manifest.line}"
        kind = str(manifest.obj.get("kind"))
        try:
            pod = preview_pod(manifest.obj)
            if pod is None:
                left_out[kind] = left_out.get(kind, 0) + 1
                continue
            result = mutate_pod(engine, pod, runtime_classes=runtime)
        except ShapeError as exc:
            print(f"{where}: {kind}: {exc}", file=sys.stderr)
            failed = True
            continue
        except Exception as exc:  # an engine bug must not hide the other objects
            print(
                f"{where}: {kind}: internal error in winpod ({type(exc).__name__}: {exc});"
                " please report it",
                file=sys.stderr,
            )
            failed = True
            continue
        ref = _ref(manifest.obj)
        for warning in result.warnings:
            print(f"{where}: {ref}: {warning}", file=sys.stderr)
        for finding in result.evaluation.findings:
            if finding.blocks:
                denied = True
                print(f"{where}: {ref}: would be denied: {finding.line()}", file=sys.stderr)
        previews.append(
            _Preview(manifest.file, manifest.line, ref, pod, result.mutated, result.patch)
        )
    if left_out:
        kinds = ", ".join(f"{k} ({n})" for k, n in sorted(left_out.items()))
        print(f"winpod mutate: left out objects that run no pods: {kinds}", file=sys.stderr)

    if args.patch:
        for p in previews:
            print(json.dumps({"object": p.ref, "file": p.file, "line": p.line, "patch": p.patch}))
    elif args.diff:
        sys.stdout.write("".join(_diff(p, args.output) for p in previews if p.patch))
    else:
        sys.stdout.write(_render([p.after for p in previews], args.output))
    if failed:
        return EXIT_USAGE
    return EXIT_DENIED if denied else EXIT_OK


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _ref(obj: dict[str, Any]) -> str:
    metadata = _mapping(obj.get("metadata"))
    name = metadata.get("name") or metadata.get("generateName") or "(unnamed)"
    namespace = metadata.get("namespace")
    where = f"{namespace}/" if isinstance(namespace, str) else ""
    return f"{obj.get('kind')} {where}{name}"


def _render(objects: list[dict[str, Any]], output: str) -> str:
    import json

    import yaml

    if output == "json":
        if not objects:
            return ""
        if len(objects) == 1:
            return json.dumps(objects[0], indent=2, ensure_ascii=False) + "\n"
        listing = {"apiVersion": "v1", "kind": "List", "items": objects}
        return json.dumps(listing, indent=2, ensure_ascii=False) + "\n"
    dumper: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    return str(
        yaml.dump_all(
            objects,
            Dumper=dumper,
            sort_keys=False,
            explicit_start=True,
            default_flow_style=False,
            allow_unicode=True,
        )
    )


def _diff(preview: _Preview, output: str) -> str:
    import difflib

    before = _render([preview.before], output).splitlines(keepends=True)
    after = _render([preview.after], output).splitlines(keepends=True)
    name = f"{preview.file}:{preview.line} {preview.ref}"
    return "".join(
        difflib.unified_diff(before, after, f"{name} (as written)", f"{name} (as admitted)")
    )
