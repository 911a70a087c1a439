"""Writes the deploy/ files that are derived, so the webhook and config settings exist once.

Sources (edit these):
  base/webhooks.yaml               both webhook configurations (rules, selectors, policies)
  base/config.yaml                 the winpod config file
  components/warn-only/config-patch.yaml   what warn-only changes in that config
  components/kube-system/kustomization.yaml  the kube-system webhook entries (JSON patches)
  components/kube-system/config-patch.yaml   what kube-system changes in the config
  winpod.config.Config             the config model (app/config.py)

Derived (never edit; tests/deploy/test_deploy_generated.py fails when they drift):
  helm/winpod/templates/webhooks.yaml      the base's webhooks, templated where Helm values vary,
                                           and the kube-system entries (kubeSystem.enabled)
  helm/winpod/values.yaml                  the marked blocks: webhook defaults, `config:`
  helm/winpod/values.schema.json           properties.config: the model's JSON schema
  helm/winpod/templates/_warn_only.tpl     the warn-only patch, for the chart's warnOnly
  helm/winpod/templates/_kube_system.tpl   the kube-system config patch, for kubeSystem.enabled
  components/warn-only/config.yaml         base config + the warn-only patch
  addons/audit-cronjob/config.yaml         base config (the addon is applied on its own)

Run from the repository root, with winpod importable:
  .venv/bin/python deploy/generate.py          # rewrite the derived files
  .venv/bin/python deploy/generate.py --check  # exit 1 and show a diff when one is stale
"""

from __future__ import annotations

import argparse
import difflib
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

DEPLOY = Path(__file__).resolve().parent
CHART = DEPLOY / "helm" / "winpod"
COMMAND = "python deploy/generate.py"

BASE_WEBHOOKS = DEPLOY / "base" / "webhooks.yaml"
BASE_CONFIG = DEPLOY / "base" / "config.yaml"
WARN_ONLY_PATCH = DEPLOY / "components" / "warn-only" / "config-patch.yaml"
KUBE_SYSTEM = DEPLOY / "components" / "kube-system" / "kustomization.yaml"
KUBE_SYSTEM_PATCH = DEPLOY / "components" / "kube-system" / "config-patch.yaml"

HELM_WEBHOOKS = CHART / "templates" / "webhooks.yaml"
HELM_WARN_ONLY = CHART / "templates" / "_warn_only.tpl"
HELM_KUBE_SYSTEM = CHART / "templates" / "_kube_system.tpl"
HELM_VALUES = CHART / "values.yaml"
HELM_SCHEMA = CHART / "values.schema.json"
WARN_ONLY_CONFIG = DEPLOY / "components" / "warn-only" / "config.yaml"
AUDIT_CONFIG = DEPLOY / "addons" / "audit-cronjob" / "config.yaml"

TIMEOUT_VALUE = {
    "MutatingWebhookConfiguration": "mutating",
    "ValidatingWebhookConfiguration": "validating",
}
NAME_KEY = "kubernetes.io/metadata.name"
KUBE_SYSTEM_VALUE = ".Values.kubeSystem.enabled"

Doc = dict[str, Any]


class SourceError(Exception):
    """A source file this script cannot derive from; the message names the file."""


def rel(path: Path) -> str:
    return str(path.relative_to(DEPLOY.parent))


# ---- a small YAML writer that can leave room for template text ------------------------------


class Block:
    """Template lines standing in for one mapping entry; given the entry's indent."""

    def __init__(self, render: Callable[[int], list[str]]) -> None:
        self.render = render


class Expr(str):
    """A scalar written verbatim (a template expression), never quoted."""


class Only(dict[Any, Any]):
    """A list item rendered only when a template condition holds."""

    def __init__(self, condition: str, item: dict[Any, Any]) -> None:
        super().__init__(item)
        self.condition = condition


def _scalar(value: Any) -> str:
    if isinstance(value, Expr):
        return str(value)
    if isinstance(value, list):
        return (
            "["
            + ", ".join(_scalar(v) if isinstance(v, Expr) else json.dumps(v) for v in value)
            + "]"
        )
    if isinstance(value, str) and value and yaml.safe_load(value) == value and ": " not in value:
        return value
    return json.dumps(value)


def _emit(mapping: dict[Any, Any], indent: int) -> list[str]:
    pad = " " * indent
    lines: list[str] = []
    for key, value in mapping.items():
        if isinstance(key, Block):
            lines += key.render(indent)
        elif isinstance(value, dict) and value:
            lines += [f"{pad}{key}:", *_emit(value, indent + 2)]
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            lines.append(f"{pad}{key}:")
            for item in value:
                item_lines = _emit(item, indent + 4)
                item_lines[0] = f"{pad}  - {item_lines[0].lstrip()}"
                if isinstance(item, Only):
                    item_lines = [
                        f"{pad}  {{{{- if {item.condition} }}}}",
                        *item_lines,
                        f"{pad}  {{{{- end }}}}",
                    ]
                lines += item_lines
        else:
            lines.append(f"{pad}{key}: {_scalar(value)}")
    return lines


def _include(name: str, *, key: str | None = None) -> Block:
    """`{{- include NAME . | nindent N }}`, under `key:` when given (a block of its own)."""

    def render(indent: int) -> list[str]:
        if key is None:
            return [f'{" " * indent}{{{{- include "{name}" . | nindent {indent} }}}}']
        inner = indent + 2
        return [
            f"{' ' * indent}{key}:",
            f'{" " * inner}{{{{- include "{name}" . | nindent {inner} }}}}',
        ]

    return Block(render)


def _excluded_namespaces(indent: int) -> list[str]:
    pad = " " * (indent + 2)
    return [
        f"{' ' * indent}values:",
        f"{pad}{{{{- range (append .Values.excludedNamespaces .Release.Namespace | uniq) }}}}",
        f"{pad}- {{{{ . | quote }}}}",
        f"{pad}{{{{- end }}}}",
    ]


# ---- the webhooks: base -> Helm template and Helm defaults -----------------------------------


def base_namespace() -> str:
    kustomization = yaml.safe_load((DEPLOY / "base" / "kustomization.yaml").read_text())
    namespace: str = kustomization["namespace"]
    return namespace


def base_webhooks() -> list[Doc]:
    docs = [d for d in yaml.safe_load_all(BASE_WEBHOOKS.read_text()) if d]
    kinds = sorted(d["kind"] for d in docs)
    if kinds != sorted(TIMEOUT_VALUE):
        raise SourceError(
            f"{rel(BASE_WEBHOOKS)}: expected one of each of {sorted(TIMEOUT_VALUE)}, got {kinds}"
        )
    return docs


def _name_expression(hook: Doc) -> dict[Any, Any]:
    expression: dict[Any, Any]
    (expression,) = [
        e for e in hook["namespaceSelector"]["matchExpressions"] if e["key"] == NAME_KEY
    ]
    return expression


def webhook_defaults() -> dict[str, Any]:
    """The Helm values that render exactly the base's webhooks."""
    hooks = [(d["kind"], h) for d in base_webhooks() for h in d["webhooks"]]
    policies = {h["failurePolicy"] for _, h in hooks}
    if len(policies) != 1:
        raise SourceError(
            f"{rel(BASE_WEBHOOKS)}: one failurePolicy for both webhooks (one Helm value)"
        )
    excluded = [_name_expression(h)["values"] for _, h in hooks]
    own = base_namespace()
    if any(names != excluded[0] for names in excluded) or own not in excluded[0]:
        raise SourceError(
            f"{rel(BASE_WEBHOOKS)}: both webhooks exclude the same namespaces, {own} among them"
        )
    return {
        "failurePolicy": policies.pop(),
        "timeoutSeconds": {TIMEOUT_VALUE[kind]: h["timeoutSeconds"] for kind, h in hooks},
        # The chart adds the release namespace itself, wherever it is installed.
        "excludedNamespaces": [n for n in excluded[0] if n != own],
    }


def kube_system_patches() -> dict[str, list[Doc]]:
    """The kube-system component's JSON patches (RFC 6902), by webhook configuration kind."""
    spec = yaml.safe_load(KUBE_SYSTEM.read_text())
    patches = {
        entry["target"]["kind"]: yaml.safe_load(entry["patch"])
        for entry in spec.get("patches", [])
        if entry.get("target", {}).get("kind") in TIMEOUT_VALUE
    }
    if sorted(patches) != sorted(TIMEOUT_VALUE):
        raise SourceError(
            f"{rel(KUBE_SYSTEM)}: one inline patch for each of {sorted(TIMEOUT_VALUE)}"
            f" (target.kind spelled out), got {sorted(patches)}"
        )
    return patches


def with_kube_system(doc: Doc) -> Doc:
    """A base webhook configuration with the kube-system component's patch applied, as
    kustomize applies it; the entries it adds are marked for `kubeSystem.enabled`."""
    import jsonpatch

    try:
        patched: Doc = jsonpatch.apply_patch(doc, kube_system_patches()[doc["kind"]])
    except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as exc:
        raise SourceError(f"{rel(KUBE_SYSTEM)}: the {doc['kind']} patch: {exc}") from exc
    base_names = {hook["name"] for hook in doc["webhooks"]}
    patched["webhooks"] = [
        hook if hook["name"] in base_names else Only(KUBE_SYSTEM_VALUE, hook)
        for hook in patched["webhooks"]
    ]
    return patched


def _helm_webhook(doc: Doc, own_namespace: str) -> list[str]:
    doc = with_kube_system(doc)
    name = doc["metadata"]["name"]
    timeout_value = TIMEOUT_VALUE[doc["kind"]]
    base_timeout = webhook_defaults()["timeoutSeconds"][timeout_value]
    doc["metadata"] = {
        **doc["metadata"],
        "name": Expr("{{ $name }}"),
        _include("winpod.labels", key="labels"): None,
        _include("winpod.caAnnotation"): None,
    }
    for hook in doc["webhooks"]:
        service = hook["clientConfig"]["service"]
        if (service["name"], service["namespace"]) != (name, own_namespace):
            raise SourceError(
                f"{rel(BASE_WEBHOOKS)}: {hook['name']} must call the Service {name} in {own_namespace}"
            )
        # The kube-system entry follows the Helm value while it keeps the base's timeout.
        if not isinstance(hook, Only) or hook["timeoutSeconds"] == base_timeout:
            hook["timeoutSeconds"] = Expr(f"{{{{ .Values.timeoutSeconds.{timeout_value} }}}}")
        service.update(name=Expr("{{ $name }}"), namespace=Expr("{{ .Release.Namespace }}"))
        hook["clientConfig"] = {_include("winpod.caBundle"): None, **hook["clientConfig"]}
        if isinstance(hook, Only):
            continue  # the kube-system entry keeps its own failurePolicy and selector
        hook["failurePolicy"] = Expr("{{ .Values.failurePolicy }}")
        expression = _name_expression(hook)
        del expression["values"]
        expression[Block(_excluded_namespaces)] = None
    return _emit(doc, 0)


def helm_webhooks_template() -> str:
    own = base_namespace()
    docs = ["\n".join(_helm_webhook(d, own)) for d in base_webhooks()]
    header = (
        "{{- /*\n"
        f"Generated from {rel(BASE_WEBHOOKS)} (which explains every field) by `{COMMAND}`:\n"
        "edit the base, then run it. Helm values set what varies: failurePolicy, timeoutSeconds,\n"
        "excludedNamespaces (plus the release namespace), the names, and the certificates.\n"
        "The kubeSystem.enabled entries are the base's as the patches in\n"
        f"{rel(KUBE_SYSTEM)} make them.\n"
        "*/ -}}\n"
        '{{- $name := include "winpod.fullname" . -}}\n'
    )
    return header + "\n---\n".join(docs) + "\n"


# ---- the config file -------------------------------------------------------------------------


def _body(path: Path) -> str:
    """A YAML file's text without its leading comment lines (its header)."""
    lines = path.read_text().splitlines(keepends=True)
    while lines and (lines[0].startswith("#") or not lines[0].strip()):
        lines.pop(0)
    return "".join(lines)


def warn_only_config() -> str:
    base = yaml.safe_load(BASE_CONFIG.read_text())
    patch = yaml.safe_load(WARN_ONLY_PATCH.read_text())
    if overlap := sorted(set(patch) & set(base)):
        # Prepending the patch keeps the base's comments; a key set twice would be a YAML error.
        raise SourceError(
            f"{rel(WARN_ONLY_PATCH)}: sets {overlap}, which {rel(BASE_CONFIG)} sets too"
        )
    return (
        f"# Generated by `{COMMAND}`: {rel(BASE_CONFIG)} + {WARN_ONLY_PATCH.name}.\n"
        "# Edit those two, never this file.\n" + _body(WARN_ONLY_PATCH) + _body(BASE_CONFIG)
    )


def helm_warn_only() -> str:
    """The same patch for the chart's warnOnly, merged over values.config by winpod.config."""
    return (
        "{{- /*\n"
        f"Generated from {rel(WARN_ONLY_PATCH)} by `{COMMAND}`: edit that, never this file.\n"
        "What warnOnly changes in the config file (merged over .Values.config).\n"
        "*/ -}}\n"
        '{{- define "winpod.warnOnlyPatch" -}}\n' + _body(WARN_ONLY_PATCH) + "{{- end -}}\n"
    )


def helm_kube_system() -> str:
    """The kube-system component's config patch, for the chart's kubeSystem.enabled."""
    base = yaml.safe_load(BASE_CONFIG.read_text())
    patch = yaml.safe_load(KUBE_SYSTEM_PATCH.read_text())
    warn_only = yaml.safe_load(WARN_ONLY_PATCH.read_text())
    if overlap := sorted(set(patch) & (set(base) | set(warn_only))):
        # kustomize puts the patch in front of the config as text: a key set twice there would
        # leave only the config's (YAML keeps the last), and kube-system uncapped.
        raise SourceError(
            f"{rel(KUBE_SYSTEM_PATCH)}: sets {overlap}, which {rel(BASE_CONFIG)} or"
            f" {rel(WARN_ONLY_PATCH)} sets too"
        )
    return (
        "{{- /*\n"
        f"Generated from {rel(KUBE_SYSTEM_PATCH)} by `{COMMAND}`: edit that, never this file.\n"
        "What kubeSystem.enabled changes in the config file (merged over .Values.config).\n"
        "*/ -}}\n"
        '{{- define "winpod.kubeSystemPatch" -}}\n' + _body(KUBE_SYSTEM_PATCH) + "{{- end -}}\n"
    )


def audit_config() -> str:
    return (
        f"# Generated by `{COMMAND}` from {rel(BASE_CONFIG)}: edit that, never this file.\n"
        "# The audit judges with the webhook's config; the addon is applied on its own, so it\n"
        "# carries a copy.\n" + _body(BASE_CONFIG)
    )


# ---- values.yaml: the marked blocks ----------------------------------------------------------


def _marker(kind: str, source: Path) -> str:
    return f"# {kind} generated from {rel(source)} by `{COMMAND}`"


def _replace_block(text: str, source: Path, body: str) -> str:
    begin, end = _marker("BEGIN", source), _marker("END", source)
    head, sep, rest = text.partition(begin + "\n")
    _, sep2, tail = rest.partition(end + "\n")
    if not sep or not sep2:
        raise SourceError(f"{rel(HELM_VALUES)}: the lines {begin!r} and {end!r} are missing")
    return f"{head}{begin}\n{body}{end}\n{tail}"


def helm_values() -> str:
    webhooks = "".join(f"{line}\n" for line in _emit(webhook_defaults(), 0))
    config = "config:\n" + "".join(
        f"  {line}" if line.strip() else line for line in _body(BASE_CONFIG).splitlines(True)
    )
    text = _replace_block(HELM_VALUES.read_text(), BASE_WEBHOOKS, webhooks)
    return _replace_block(text, BASE_CONFIG, config)


# ---- values.schema.json: the config model's schema --------------------------------------------

# Keywords whose value is data, not a subschema (a "title" there is not pydantic's title).
_DATA_KEYWORDS = {"default", "enum", "const", "examples", "required", "description"}


def _draft07(node: Any, defs: dict[str, Any]) -> Any:
    """Pydantic's schema as Helm's validator takes it: every `$ref` to `$defs` inlined (the
    schema sits under properties.config, where `#/$defs/...` would point at the chart's root),
    no generated titles, optional values in draft-07's nullable form, and every action enum that takes "off" also taking false, which is how
    YAML 1.1 (Helm's values files) reads an unquoted off; winpod's config maps it back to off."""
    if isinstance(node, list):
        return [_draft07(item, defs) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target = node["$ref"].removeprefix("#/$defs/")
        merged = {**defs[target], **{k: v for k, v in node.items() if k != "$ref"}}
        return _draft07(merged, defs)
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in ("title", "$defs"):
            continue
        if key == "properties":
            out[key] = {name: _draft07(sub, defs) for name, sub in value.items()}
        elif key in _DATA_KEYWORDS:
            out[key] = value
        else:
            out[key] = _draft07(value, defs)
    match out.pop("anyOf", None):
        case [dict() as kept, {"type": "null"}] if set(kept) <= {"type", "enum"}:
            # `X | None` as draft-07's nullable form: one error line instead of an anyOf tree.
            out["type"] = [kept["type"], "null"]
            if "enum" in kept:
                out["enum"] = [*kept["enum"], None]
        case None:
            pass
        case other:
            out["anyOf"] = other
    if "off" in out.get("enum", ()) and False not in out["enum"]:
        out["enum"] = [*out["enum"], False]
        out.pop("type", None)
    return out


def config_schema() -> dict[str, Any]:
    from winpod.config import Config

    schema = Config.model_json_schema()
    converted: dict[str, Any] = _draft07(schema, schema.get("$defs", {}))
    return {
        "description": f"The winpod config file (winpod.config.Config), generated by `{COMMAND}`",
        **converted,
    }


def helm_schema() -> str:
    schema = json.loads(HELM_SCHEMA.read_text())
    schema["properties"]["config"] = config_schema()
    return json.dumps(schema, indent=2) + "\n"


# ---- main --------------------------------------------------------------------------------------


DERIVED = (
    HELM_WEBHOOKS,
    HELM_VALUES,
    HELM_SCHEMA,
    HELM_WARN_ONLY,
    HELM_KUBE_SYSTEM,
    WARN_ONLY_CONFIG,
    AUDIT_CONFIG,
)


def generated() -> dict[Path, str]:
    """Every derived file and the text it should have."""
    builders = {
        HELM_WEBHOOKS: helm_webhooks_template,
        HELM_VALUES: helm_values,
        HELM_SCHEMA: helm_schema,
        HELM_WARN_ONLY: helm_warn_only,
        HELM_KUBE_SYSTEM: helm_kube_system,
        WARN_ONLY_CONFIG: warn_only_config,
        AUDIT_CONFIG: audit_config,
    }
    return {path: builders[path]() for path in DERIVED}


def stale(path: Path, text: str) -> str:
    """A unified diff from the committed file to the generated text; empty when they agree."""
    current = path.read_text() if path.exists() else ""
    return "".join(
        difflib.unified_diff(
            current.splitlines(keepends=True),
            text.splitlines(keepends=True),
            f"{rel(path)} (committed)",
            f"{rel(path)} (generated)",
        )
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 if a file is stale"
    )
    args = parser.parse_args(argv)
    try:
        outputs = generated()
    except SourceError as exc:
        print(f"generate.py: {exc}", file=sys.stderr)
        return 2
    diffs = {path: diff for path, text in outputs.items() if (diff := stale(path, text))}
    if args.check:
        for diff in diffs.values():
            sys.stdout.write(diff)
        if diffs:
            print(f"stale: {', '.join(rel(p) for p in diffs)}; run `{COMMAND}`", file=sys.stderr)
        return 1 if diffs else 0
    for path in diffs:
        path.write_text(outputs[path])
        print(f"wrote {rel(path)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
