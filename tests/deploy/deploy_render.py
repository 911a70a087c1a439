"""Rendering deploy/ for the tests: kustomize overlays through kubectl, the chart through Helm.

The Helm engine is helm-python-sdk (Helm v4's Go SDK behind ctypes, from PyPI); kubectl ships
kustomize. Both are real renderers: nothing here re-implements their templating.
"""

from __future__ import annotations

import base64
import re
import runpy
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    import pytest

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
CHART = DEPLOY / "helm" / "winpod"
GENERATE = DEPLOY / "generate.py"
NAMESPACE = "winpod"
SERVICE = "winpod"

OVERLAYS = ("cert-manager", "self-managed", "warn-only", "fail-closed")

# The Helm values that render what each overlay renders (namespace.create: kustomize's base
# owns the Namespace; a Helm user usually passes --create-namespace instead).
HELM_VALUES: dict[str, dict[str, Any]] = {
    "cert-manager": {"namespace": {"create": True}},
    "self-managed": {"namespace": {"create": True}, "certificates": {"mode": "selfManaged"}},
    "warn-only": {"namespace": {"create": True}, "warnOnly": True},
    "fail-closed": {"namespace": {"create": True}, "failurePolicy": "Fail"},
}

# The optional components, each in a user's overlay on top of one of the overlays above, and the
# Helm values (beyond that overlay's) that render the same: name -> (overlay, components, values).
OPTIONS: dict[str, tuple[str, tuple[str, ...], dict[str, Any]]] = {
    "metrics": ("cert-manager", ("metrics",), {"metrics": {"service": {"enabled": True}}}),
    "service-monitor": (
        "cert-manager",
        ("service-monitor",),
        {"metrics": {"serviceMonitor": {"enabled": True}}},
    ),
    "service-monitor-self-managed": (
        "self-managed",
        ("service-monitor",),
        {"metrics": {"serviceMonitor": {"enabled": True}}},
    ),
    "kube-system": ("cert-manager", ("kube-system",), {"kubeSystem": {"enabled": True}}),
    "kube-system-self-managed": (
        "self-managed",
        ("kube-system",),
        {"kubeSystem": {"enabled": True}},
    ),
    "kube-system-fail-closed": (
        "fail-closed",
        ("kube-system",),
        {"kubeSystem": {"enabled": True}},
    ),
    # Both orders of the two components that change the config.
    "kube-system-after-warn-only": (
        "warn-only",
        ("kube-system",),
        {"kubeSystem": {"enabled": True}},
    ),
    "warn-only-after-kube-system": (
        "cert-manager",
        ("kube-system", "warn-only"),
        {"kubeSystem": {"enabled": True}, "warnOnly": True},
    ),
}

# kustomize's configMapGenerator appends a content hash to the name.
_HASH_SUFFIX = re.compile(r"-[a-z0-9]{10}$")

Doc = dict[str, Any]


def load_docs(text: str) -> list[Doc]:
    return [d for d in yaml.safe_load_all(text) if d]


def kubectl_kustomize(directory: Path) -> list[Doc]:
    kubectl = shutil.which("kubectl")
    assert kubectl, "kubectl is needed to render the kustomize overlays"
    result = subprocess.run(
        [kubectl, "kustomize", str(directory)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, f"kubectl kustomize {directory} failed:\n{result.stderr}"
    return load_docs(result.stdout)


def kustomize_option(deploy_copy: Path, name: str) -> list[Doc]:
    """An option as a user applies it: an overlay of their own in a copy of deploy/, naming one
    of the shipped overlays and the option's components."""
    overlay, components, _ = OPTIONS[name]
    directory = deploy_copy / "overlays" / f"user-{name}"
    directory.mkdir(exist_ok=True)
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [f"../{overlay}"],
        "components": [f"../../components/{c}" for c in components],
    }
    (directory / "kustomization.yaml").write_text(yaml.safe_dump(kustomization, sort_keys=False))
    return kubectl_kustomize(directory)


def option_helm_values(name: str, certs_dir: Path) -> dict[str, Any]:
    """The Helm values that render what `kustomize_option(name)` renders."""
    overlay, _, extra = OPTIONS[name]
    values: dict[str, Any] = {**HELM_VALUES[overlay], **extra}
    if overlay == "self-managed":
        values["certificates"] = {
            "mode": "selfManaged",
            "selfManaged": helm_self_managed_values(certs_dir),
        }
    return values


def helm_render(
    values: dict[str, Any], release: str = "winpod", chart_dir: Path = CHART
) -> list[Doc]:
    import helm_python

    with helm_python.Chart.load(str(chart_dir)) as chart:
        manifests = chart.render(values, name=release, namespace=NAMESPACE)
    docs: list[Doc] = []
    for name in sorted(manifests):
        if name.endswith(".yaml"):  # NOTES.txt is shown to the user, never applied
            docs += load_docs(manifests[name])
    return docs


# A cluster config that names no server: `helm install --dry-run=client` renders offline.
NO_CLUSTER = "apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n"


def helm_install_refusal(values: dict[str, Any]) -> tuple[str, str]:
    """`helm install --dry-run=client` of the chart with `values`, which Helm must refuse, then
    with the defaults: (Helm's refusal, the manifest the default install renders)."""
    import helm_python

    config = helm_python.Config(
        kubeconfig_content=NO_CLUSTER, namespace=NAMESPACE, storage_driver="memory"
    )
    with config:
        try:
            config.install(str(CHART), "winpod", values, namespace=NAMESPACE, dry_run="client")
        except helm_python.HelmError as refused:
            refusal = str(refused)
        else:
            raise AssertionError(f"helm install accepted {values}")
        release = config.install(str(CHART), "winpod", {}, namespace=NAMESPACE, dry_run="client")
    return refusal, release["manifest"]


def copy_deploy(target: Path) -> Path:
    """deploy/ copied to `target`, without its generated certificates and bytecode."""
    shutil.copytree(DEPLOY, target, ignore=shutil.ignore_patterns("certs", "__pycache__"))
    return target


def generator(script: Path = GENERATE) -> dict[str, Any]:
    """deploy/generate.py's names, run from source (so no bytecode lands in deploy/). A copy of
    deploy/ has its own script, which reads and writes that copy."""
    return runpy.run_path(str(script))


def make_self_managed_certs(deploy_copy: Path) -> Path:
    """Run `winpod certs` into the self-managed overlay of a copy of deploy/, as a user would."""
    from winpod.cli import main

    out = deploy_copy / "overlays" / "self-managed" / "certs"
    code = main(["certs", "--service", SERVICE, "--namespace", NAMESPACE, "--out-dir", str(out)])
    assert code == 0
    return out


def helm_self_managed_values(certs_dir: Path) -> dict[str, Any]:
    """What `--set-file certificates.selfManaged.*=certs/...` passes."""
    return {
        "tlsCrt": (certs_dir / "tls.crt").read_text(),
        "tlsKey": (certs_dir / "tls.key").read_text(),
        "caCrt": (certs_dir / "ca.crt").read_text(),
    }


def rendered_by(
    request: pytest.FixtureRequest, renderer: str, kustomized: str, helmed: str, name: str
) -> list[Doc]:
    """`name`'s objects from the session fixture `kustomized` or `helmed` (rendered objects by
    name), whichever `renderer` ("kustomize" or "helm") names."""
    docs: dict[str, list[Doc]] = request.getfixturevalue(
        kustomized if renderer == "kustomize" else helmed
    )
    return docs[name]


def find(docs: Iterable[Doc], kind: str, name: str | None = None) -> list[Doc]:
    return [
        d for d in docs if d.get("kind") == kind and (name is None or d["metadata"]["name"] == name)
    ]


def one(docs: Iterable[Doc], kind: str, name: str | None = None) -> Doc:
    found = find(docs, kind, name)
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def normalized_name(doc: Doc) -> str:
    name: str = doc["metadata"]["name"]
    if doc["kind"] == "ConfigMap":
        name = _HASH_SUFFIX.sub("", name)
    return name


def kinds_and_names(docs: Iterable[Doc]) -> set[tuple[str, str]]:
    return {(d["kind"], normalized_name(d)) for d in docs}


def webhook_pod_spec(docs: Iterable[Doc]) -> Doc:
    deployment = one(docs, "Deployment")
    spec: Doc = deployment["spec"]["template"]["spec"]
    return spec


def config_text_of(docs: Iterable[Doc]) -> str:
    """The winpod config file the webhook Deployment mounts."""
    docs = list(docs)
    volumes = {v["name"]: v for v in webhook_pod_spec(docs)["volumes"]}
    config_map = one(docs, "ConfigMap", volumes["config"]["configMap"]["name"])
    text: str = config_map["data"]["config.yaml"]
    return text


def config_of(docs: Iterable[Doc]) -> Doc:
    """The winpod config file the webhook Deployment mounts, parsed."""
    parsed: Doc = yaml.safe_load(config_text_of(docs)) or {}
    return parsed


def decode_ca_bundle(value: str) -> bytes:
    # kustomize wraps long base64 at 76 columns; the apiserver's decoder ignores the newlines.
    return base64.b64decode("".join(value.split()))


WEBHOOK_KINDS = ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration")


def comparable_webhooks(docs: list[Doc], name: str = "winpod") -> dict[str, Any]:
    """Both webhook configurations as an apiserver reads them: caBundle decoded (kustomize wraps
    its base64), labels left out (Helm adds its own)."""
    result: dict[str, Any] = {}
    for kind in WEBHOOK_KINDS:
        doc = one(docs, kind, name)
        hooks = []
        for hook in doc["webhooks"]:
            hook = {**hook, "clientConfig": dict(hook["clientConfig"])}
            bundle = hook["clientConfig"].pop("caBundle", None)
            hook["caBundle"] = decode_ca_bundle(bundle) if bundle else None
            hooks.append(hook)
        result[kind] = {"annotations": doc["metadata"].get("annotations"), "webhooks": hooks}
    return result


def _selected_names(hook: Doc) -> str:
    (names,) = [
        e
        for e in hook["namespaceSelector"]["matchExpressions"]
        if e["key"] == "kubernetes.io/metadata.name"
    ]
    return f"{names['operator']}{names['values']}".replace("'", "")


def summary(docs: Iterable[Doc]) -> list[str]:
    """One line per object: kind, namespace/name, and what matters for a webhook install."""
    lines = []
    for d in docs:
        meta = d["metadata"]
        where = f"{meta.get('namespace')}/{meta['name']}" if meta.get("namespace") else meta["name"]
        extra = ""
        if d["kind"] in ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"):
            hooks = d["webhooks"]
            extra = " ".join(
                f"[{h['name']} failurePolicy={h['failurePolicy']} timeout={h['timeoutSeconds']}s"
                f" namespaces={_selected_names(h)}"
                f" caBundle={'set' if h['clientConfig'].get('caBundle') else 'injected' if meta.get('annotations', {}).get('cert-manager.io/inject-ca-from') else 'MISSING'}]"
                for h in hooks
            )
        elif d["kind"] == "Deployment":
            pod = d["spec"]["template"]["spec"]
            delay = [a for a in pod["containers"][0]["args"] if a.startswith("--shutdown-delay")]
            extra = (
                f"replicas={d['spec']['replicas']} {' '.join(delay)}"
                f" terminationGracePeriodSeconds={pod['terminationGracePeriodSeconds']}"
            )
        elif d["kind"] == "PodDisruptionBudget":
            extra = f"minAvailable={d['spec']['minAvailable']}"
        elif d["kind"] == "Service":
            extra = " ".join(
                f"{p['name']}:{p['port']}->{p['targetPort']}" for p in d["spec"]["ports"]
            )
        elif d["kind"] == "ServiceMonitor":
            extra = " ".join(
                f"[{e['port']} {e['scheme']}{e['path']} every {e['interval']}"
                f" ca={e['tlsConfig']['ca']['secret']['name']}/{e['tlsConfig']['ca']['secret']['key']}"
                f" serverName={e['tlsConfig']['serverName']}]"
                for e in d["spec"]["endpoints"]
            )
        elif d["kind"] in ("ValidatingAdmissionPolicy", "MutatingAdmissionPolicy"):
            spec = d["spec"]
            counts = " ".join(
                f"{field}={len(spec[field])}"
                for field in ("variables", "validations", "mutations")
                if field in spec
            )
            extra = f"failurePolicy={spec.get('failurePolicy')} {counts}"
        elif d["kind"].endswith("AdmissionPolicyBinding"):
            actions = d["spec"].get("validationActions")
            extra = f"policy={d['spec']['policyName']}" + (f" actions={actions}" if actions else "")
        elif d["kind"] == "ConfigMap" and "config.yaml" in d.get("data", {}):
            cfg = yaml.safe_load(d["data"]["config.yaml"]) or {}
            extra = f"maxAction={cfg.get('maxAction', '-')}"
            if cfg.get("namespaces"):
                extra += f" namespaces={cfg['namespaces']}"
        lines.append(f"{d['kind']} {where} {extra}".rstrip())
    return lines


def shown_values(overlay: str, extra: dict[str, Any]) -> dict[str, Any]:
    values = {**HELM_VALUES[overlay], **extra}
    if overlay == "self-managed":
        values["certificates"] = "<mode selfManaged, --set-file ...>"
    return values


def main() -> None:
    """Print the rendered objects of every overlay and its Helm equivalent:
    .venv/bin/python tests/deploy/deploy_render.py"""
    import sys
    import tempfile

    sys.path.insert(0, str(REPO))
    with tempfile.TemporaryDirectory() as tmp:
        copy = copy_deploy(Path(tmp) / "deploy")
        certs_dir = make_self_managed_certs(copy)
        for name in OVERLAYS:
            print(f"== kubectl kustomize deploy/overlays/{name}")
            print("\n".join(summary(kubectl_kustomize(copy / "overlays" / name))))
            values = dict(HELM_VALUES[name])
            if name == "self-managed":
                values["certificates"] = {
                    "mode": "selfManaged",
                    "selfManaged": helm_self_managed_values(certs_dir),
                }
            print(
                "== helm template winpod deploy/helm/winpod -n winpod, values"
                f" {shown_values(name, {})}"
            )
            print("\n".join(summary(helm_render(values))))
        for name, (overlay, components, extra) in OPTIONS.items():
            named = ", ".join(f"components/{c}" for c in components)
            print(f"== kubectl kustomize: deploy/overlays/{overlay} + {named}")
            print("\n".join(summary(kustomize_option(copy, name))))
            print(f"== helm values {shown_values(overlay, extra)}")
            print("\n".join(summary(helm_render(option_helm_values(name, certs_dir)))))
        for mode in ("policies", "hybrid"):
            print(f"== helm values {{'mode': '{mode}'}} (Helm's offline Capabilities: 1.36)")
            print("\n".join(summary(helm_render({"mode": mode}))))
        print("== kubectl kustomize deploy/policies/1.36 (mode policies for 1.36)")
        print("\n".join(summary(kubectl_kustomize(copy / "policies" / "1.36"))))
        print("== kubectl kustomize deploy/addons/audit-cronjob")
        print("\n".join(summary(kubectl_kustomize(copy / "addons" / "audit-cronjob"))))
        print("== helm values {'audit': {'enabled': True}} (objects added)")
        audit = helm_render({"audit": {"enabled": True}})
        print("\n".join(line for line in summary(audit) if "winpod-audit" in line))


if __name__ == "__main__":
    main()
