"""Writes the deploy/ files that are derived, so the webhook and config settings exist once.

Sources (edit these):
  base/webhooks.yaml               both webhook configurations (rules, selectors, policies)
  base/config.yaml                 the winpod config file
  components/warn-only/config-patch.yaml   what warn-only changes in that config
  components/kube-system/kustomization.yaml  the kube-system webhook entries (JSON patches)
  components/kube-system/config-patch.yaml   what kube-system changes in the config
  winpod.config.Config             the config model (app/config.py)
  winpod export (app/export/)      the policies of the modes policies and hybrid, exported
                                   with base/config.yaml (and its warn-only form) for every
                                   release from 1.30 to the newest winpod knows

Derived (never edit; tests/deploy/test_deploy_generated.py fails when they drift):
  helm/winpod/templates/webhooks.yaml      the base's webhooks, templated where Helm values vary,
                                           and the kube-system entries (kubeSystem.enabled)
  helm/winpod/values.yaml                  the marked blocks: webhook defaults, `config:`
  helm/winpod/values.schema.json           properties.config: the model's JSON schema
  helm/winpod/templates/_warn_only.tpl     the warn-only patch, for the chart's warnOnly
  helm/winpod/templates/_kube_system.tpl   the kube-system config patch, for kubeSystem.enabled
  components/warn-only/config.yaml         base config + the warn-only patch
  addons/audit-cronjob/config.yaml         base config (the addon is applied on its own)
  policies/<minor>/                        the whole directory: that release's export for
                                           kustomize (validating/: its --no-mutating export)
  helm/winpod/files/policies.json          every export, deduplicated, for the chart
  helm/winpod/templates/_exported.tpl      the releases, config and namespaces exported for

Run from the repository root, with winpod importable:
  .venv/bin/python deploy/generate.py          # rewrite the derived files
  .venv/bin/python deploy/generate.py --check  # exit 1 and show a diff when one is stale
"""

from __future__ import annotations

import argparse
import difflib
import hashlib
import json
import re
import sys
import types
import zlib
from collections.abc import Callable
from dataclasses import dataclass
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


# The chart's modes each webhook configuration is rendered in (the policies mode has none; the
# hybrid mode validates with exported policies and keeps the mutating webhook).
WEBHOOK_MODES = {
    "MutatingWebhookConfiguration": 'ne .Values.mode "policies"',
    "ValidatingWebhookConfiguration": 'eq .Values.mode "webhook"',
}


def helm_webhooks_template() -> str:
    own = base_namespace()
    docs = [
        f"{{{{- if {WEBHOOK_MODES[d['kind']]} }}}}\n"
        + "\n".join(_helm_webhook(d, own))
        + "\n{{- end }}"
        for d in base_webhooks()
    ]
    header = (
        "{{- /*\n"
        f"Generated from {rel(BASE_WEBHOOKS)} (which explains every field) by `{COMMAND}`:\n"
        "edit the base, then run it. Helm values set what varies: failurePolicy, timeoutSeconds,\n"
        "excludedNamespaces (plus the release namespace), the names, and the certificates.\n"
        "The kubeSystem.enabled entries are the base's as the patches in\n"
        f"{rel(KUBE_SYSTEM)} make them. The mutating webhook is rendered in modes webhook and\n"
        "hybrid, the validating one in mode webhook only.\n"
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


# ---- the exported policies: `winpod export` for each release, for kustomize and Helm ----------

POLICIES = DEPLOY / "policies"
HELM_POLICIES = CHART / "files" / "policies.json"
HELM_EXPORTED = CHART / "templates" / "_exported.tpl"
# The chart's modes that install exported policies, each with the export's mutating choice:
# policies = the MutatingAdmissionPolicy where the release serves it (nothing else places pods),
# hybrid = --no-mutating (the mutating webhook places them).
EXPORT_MODES: dict[str, bool | None] = {"policies": None, "hybrid": False}
_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # the same text, 25 times faster


@dataclass(frozen=True)
class Variant:
    """One `winpod export` the deploy files ship: a release, a chart mode, and the config
    (the base's, or with warnOnly its warn-only form). Each is exported with the default
    --failure-policy Ignore; the chart's failurePolicy and components/fail-closed set the
    policies' spec.failurePolicy, the one field --failure-policy changes."""

    minor: str
    mode: str
    warn_only: bool = False

    @property
    def key(self) -> str:
        """Its name in helm/winpod/files/policies.json (templates/policies.yaml builds it)."""
        return f"{self.minor}/{self.mode}/{'warnOnly' if self.warn_only else 'config'}"

    def command(self) -> str:
        """The command line that prints the same objects."""
        config = WARN_ONLY_CONFIG if self.warn_only else BASE_CONFIG
        words = [f"winpod export --config {rel(config)} --kubernetes-version {self.minor}"]
        if EXPORT_MODES[self.mode] is False:
            words.append("--no-mutating")
        from winpod.export import EXCLUDED_NAMESPACES

        excluded = excluded_namespaces()
        if sorted(excluded) != sorted(EXCLUDED_NAMESPACES):
            words += [f"--exclude-namespace {name}" for name in excluded]
        return " ".join(words)


def supported_minors() -> list[str]:
    """Every release winpod exports for: ValidatingAdmissionPolicy v1 (1.30) to the newest
    release winpod knows."""
    from winpod.engine.kubeversion import LATEST
    from winpod.export import VALIDATING_FROM

    if VALIDATING_FROM.major != LATEST.major:
        raise SourceError(f"releases {VALIDATING_FROM} to {LATEST}: one major version expected")
    return [f"{LATEST.major}.{m}" for m in range(VALIDATING_FROM.minor, LATEST.minor + 1)]


def excluded_namespaces() -> list[str]:
    """The namespaces the policies never see: the webhooks' (base/webhooks.yaml, without
    winpod's own namespace, which only a webhook must skip)."""
    excluded: list[str] = webhook_defaults()["excludedNamespaces"]
    return excluded


def variants() -> list[Variant]:
    return [
        Variant(minor, mode, warn_only)
        for minor in supported_minors()
        for mode in EXPORT_MODES
        for warn_only in (False, True)
    ]


def _config(text: str, source: Path) -> Any:
    from pydantic import ValidationError
    from winpod.config import Config

    try:
        return Config.model_validate(yaml.safe_load(text) or {})
    except ValidationError as exc:
        raise SourceError(f"{rel(source)}: the config model refuses it: {exc}") from exc


def _memo() -> dict[Any, Any]:
    """Exports already made in this process, by their inputs. Shared by every copy of this
    script a process runs (the tests run several, and runpy gives each its own globals):
    exporting is most of a generation's time, and its result depends only on the config texts,
    the excluded namespaces and winpod's code."""
    holder = sys.modules.setdefault(
        "_winpod_deploy_exports", types.ModuleType("_winpod_deploy_exports")
    )
    memo: dict[Any, Any] = holder.__dict__.setdefault("memo", {})
    return memo


def exports() -> dict[Variant, list[Doc]]:
    """Every variant's objects, exported in-process (what `Variant.command()` prints)."""
    base, warn_only = BASE_CONFIG.read_text(), warn_only_config()
    excluded = tuple(excluded_namespaces())
    memo = _memo()
    key = (base, warn_only, excluded, tuple(v.key for v in variants()))
    if key not in memo:
        memo[key] = _export_all(base, warn_only, excluded)
    made: dict[str, list[Doc]] = memo[key]
    return {variant: made[variant.key] for variant in variants()}


def _export_all(base: str, warn_only: str, excluded: tuple[str, ...]) -> dict[str, list[Doc]]:
    from winpod.engine.evaluate import Engine
    from winpod.engine.kubeversion import parse_version
    from winpod.engine.rules import load_catalog
    from winpod.export import ExportError, export

    catalog = load_catalog()
    engines = {
        False: Engine(catalog, _config(base, BASE_CONFIG)),
        True: Engine(catalog, _config(warn_only, WARN_ONLY_CONFIG)),
    }
    made: dict[str, list[Doc]] = {}
    for variant in variants():
        try:
            result = export(
                engines[variant.warn_only],
                parse_version(variant.minor),
                mutating=EXPORT_MODES[variant.mode],
                excluded_namespaces=excluded,
            )
        except (ExportError, ValueError) as exc:
            raise SourceError(f"`{variant.command()}` fails: {exc}") from exc
        made[variant.key] = json.loads(json.dumps(result.objects))  # plain JSON values
    return made


def _objects_yaml(objects: list[Doc], header: str) -> str:
    # The text `winpod export` prints (its YAML writer and settings), under a header.
    text: str = yaml.dump_all(objects, Dumper=_DUMPER, sort_keys=False, width=1 << 20)
    return header + text


def _kustomization(resources: list[str], header: str) -> str:
    spec = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": resources,
    }
    return header + yaml.safe_dump(spec, sort_keys=False)


def _generated_header(*lines: str) -> str:
    return "".join(f"# {line}\n" if line else "#\n" for line in lines)


def kustomize_policies() -> dict[Path, str]:
    """deploy/policies/<minor>/: the policies-only install for that release (kubectl apply
    --server-side -k), and its validating/ part for hybrid (with components/hybrid)."""
    exported = exports()
    files: dict[Path, str] = {}
    for minor in supported_minors():
        full, hybrid = Variant(minor, "policies"), Variant(minor, "hybrid")
        here = POLICIES / minor
        made = f"Generated by `{COMMAND}` (never edit)."
        files[here / "validating" / "policies.yaml"] = _objects_yaml(
            exported[hybrid], _generated_header(made, "The output of:", f"  {hybrid.command()}")
        )
        files[here / "validating" / "kustomization.yaml"] = _kustomization(
            ["policies.yaml"],
            _generated_header(
                made,
                f"winpod's ValidatingAdmissionPolicies for Kubernetes {minor}, for the hybrid mode:",
                "list this directory, a webhook overlay and components/hybrid in an overlay of",
                "yours (deploy/README.md, Modes), and apply it with --server-side. The output of:",
                f"  {hybrid.command()}",
            ),
        )
        rest = [o for o in exported[full] if o not in exported[hybrid]]
        if len(rest) + len(exported[hybrid]) == len(exported[full]):
            resources = ["validating"]
            if rest:
                resources.append("mutating.yaml")
                files[here / "mutating.yaml"] = _objects_yaml(
                    rest,
                    _generated_header(
                        made,
                        "The output of:",
                        f"  {full.command()}",
                        "less what validating/ holds (its --no-mutating export).",
                    ),
                )
        else:  # the validating policies differ when the mutating policy is there
            resources = ["policies.yaml"]
            files[here / "policies.yaml"] = _objects_yaml(
                exported[full], _generated_header(made, "The output of:", f"  {full.command()}")
            )
        files[here / "kustomization.yaml"] = _kustomization(
            resources,
            _generated_header(
                made,
                f"winpod for Kubernetes {minor} with no webhook, the apiserver enforcing the rules",
                "itself (deploy/README.md, Modes):",
                f"  kubectl apply --server-side -k deploy/policies/{minor}",
                "The output of:",
                f"  {full.command()}",
            ),
        )
    return files


def _digest(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


# Long strings (CEL expressions) are stored as pieces cut where the text itself says (the
# 16 characters before a space, comma or parenthesis hash to 0 mod 64): the releases' versions
# of one expression differ here and there, and the same cut points come back around what they
# share, so that is stored once. About 1 KB a piece.
JOIN = "$join"
_SPLIT_OVER, _WINDOW, _CUT_MASK, _PIECE_MIN = 1024, 16, 63, 64
_CUT_AFTER = re.compile(r"[ ,(]")


def _pieces(text: str) -> list[str]:
    pieces, start = [], 0
    for match in _CUT_AFTER.finditer(text):
        end = match.end()
        window = text[max(0, end - _WINDOW) : end].encode()
        if end - start >= _PIECE_MIN and zlib.crc32(window) & _CUT_MASK == 0:
            pieces.append(text[start:end])
            start = end
    pieces.append(text[start:])
    return pieces


def helm_policies() -> str:
    """Every variant's objects in one file, each object, each list item of a spec and each
    piece of a long string in such an item stored once: the releases' exports share most of
    their CEL, and Helm keeps the whole chart in the release Secret (1 MiB at most, the files
    base64-encoded before compression), so one plain file per export would not fit."""
    tables: dict[str, dict[str, Any]] = {"objects": {}, "chunks": {}, "pieces": {}}

    def keep(table: str, value: Any) -> str:
        key = _digest(value)
        if tables[table].setdefault(key, value) != value:
            raise SourceError(f"{rel(HELM_POLICIES)}: two {table} share the digest {key}")
        return key

    def item(value: Any) -> str:
        if isinstance(value, dict):
            fields = {}
            for name, field in value.items():
                if isinstance(field, dict) and JOIN in field:
                    raise SourceError(f"{rel(HELM_POLICIES)}: an exported field holds {JOIN!r}")
                if isinstance(field, str) and len(field) > _SPLIT_OVER:
                    field = {JOIN: [keep("pieces", piece) for piece in _pieces(field)]}
                fields[name] = field
            value = fields
        return keep("chunks", value)

    listed: dict[str, list[str]] = {}
    for variant, docs in exports().items():
        ids = []
        for doc in docs:
            skeleton = dict(doc)
            if isinstance(doc.get("spec"), dict):
                skeleton["spec"] = {
                    field: [item(entry) for entry in value] if isinstance(value, list) else value
                    for field, value in doc["spec"].items()
                }
            ids.append(keep("objects", skeleton))
        listed[variant.key] = ids
    document = {
        "about": (
            f"Generated by `{COMMAND}` (never edit): `winpod export` output for the chart's"
            " modes policies and hybrid. variants: release/mode/config or warnOnly -> its"
            " objects, in order; objects: each object, every list in its spec given as chunk"
            f" names; chunks: the list items, a long string in one given as {{{JOIN!r}: piece"
            " names}; pieces: the strings' parts. templates/policies.yaml rebuilds them."
        ),
        "variants": listed,
        **tables,
    }
    return json.dumps(document, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def helm_exported() -> str:
    """What the chart's checks need to know of files/policies.json, without reading it."""
    from winpod.export import MUTATING_FROM

    about = {
        "minors": supported_minors(),
        "mutatingFrom": str(MUTATING_FROM),
        "config": yaml.safe_load(BASE_CONFIG.read_text()) or {},
        "excludedNamespaces": excluded_namespaces(),
    }
    return (
        "{{- /*\n"
        f"Generated by `{COMMAND}` (never edit): what files/policies.json was exported\n"
        "for. The releases it holds, the first that the MutatingAdmissionPolicy places pods\n"
        f"in, the config ({rel(BASE_CONFIG)}; warnOnly: its warn-only form) and the\n"
        "excluded namespaces: templates/checks.yaml refuses other values in modes policies\n"
        "and hybrid.\n"
        "*/ -}}\n"
        '{{- define "winpod.exported" -}}\n' + json.dumps(about, sort_keys=True) + "\n{{- end -}}\n"
    )


# ---- main --------------------------------------------------------------------------------------


DERIVED = (
    HELM_WEBHOOKS,
    HELM_VALUES,
    HELM_SCHEMA,
    HELM_WARN_ONLY,
    HELM_KUBE_SYSTEM,
    WARN_ONLY_CONFIG,
    AUDIT_CONFIG,
    HELM_EXPORTED,
    HELM_POLICIES,
)
# Directories generate.py owns whole: every file in them is generated, and one it no longer
# writes is removed.
DERIVED_TREES = (POLICIES,)


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
        HELM_EXPORTED: helm_exported,
        HELM_POLICIES: helm_policies,
    }
    outputs = {path: builders[path]() for path in DERIVED}
    outputs.update(sorted(kustomize_policies().items()))
    return outputs


def obsolete(outputs: dict[Path, str]) -> list[Path]:
    """Files in the generated directories that generation no longer writes."""
    return sorted(
        path
        for tree in DERIVED_TREES
        if tree.is_dir()
        for path in tree.rglob("*")
        if path.is_file() and path not in outputs
    )


_SHOWN_LINES, _SHOWN_CHARS = 120, 240  # an export's diff has lines of 100 KB of CEL


def stale(path: Path, text: str) -> str:
    """A unified diff from the committed file to the generated text; empty when they agree.
    Long lines and long diffs are cut (the generated file is the full answer)."""
    current = path.read_text() if path.exists() else ""
    if current == text:
        return ""
    lines = list(
        difflib.unified_diff(
            current.splitlines(keepends=True),
            text.splitlines(keepends=True),
            f"{rel(path)} (committed)",
            f"{rel(path)} (generated)",
        )
    )
    shown = [
        line if len(line) <= _SHOWN_CHARS else f"{line[:_SHOWN_CHARS]}... ({len(line)} chars)\n"
        for line in lines[:_SHOWN_LINES]
    ]
    if len(lines) > _SHOWN_LINES:
        shown.append(f"... {len(lines) - _SHOWN_LINES} more diff lines in {rel(path)}\n")
    return "".join(shown)


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
    removed = obsolete(outputs)
    if args.check:
        for diff in diffs.values():
            sys.stdout.write(diff)
        for path in removed:
            print(f"--- {rel(path)}: no longer generated (remove it)")
        if diffs or removed:
            names = ", ".join(rel(p) for p in [*diffs, *removed])
            print(f"stale: {names}; run `{COMMAND}`", file=sys.stderr)
        return 1 if diffs or removed else 0
    for path in diffs:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(outputs[path])
        print(f"wrote {rel(path)}", file=sys.stderr)
    for path in removed:
        path.unlink()
        print(f"removed {rel(path)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
