"""The three ways to install winpod (deploy/README.md, "Modes"):

- webhook (the default): both webhooks and what runs them;
- policies: only the ValidatingAdmissionPolicies `winpod export` prints for the target release
  (and, from 1.36, its MutatingAdmissionPolicy for placement), with their bindings: nothing runs;
- hybrid: the exported validating policies + the mutating webhook (its Deployment, Service and
  certificates), no ValidatingWebhookConfiguration.

Helm: values `mode` and `policies.*` (the release from .Capabilities.KubeVersion or
policies.kubernetesVersion). kustomize: deploy/policies/<minor> (policies) and its validating/
with components/hybrid on a webhook overlay (hybrid). The policies both render are checked
against what the `winpod export` command prints now, not against a copy.
"""

from __future__ import annotations

import base64
import gzip
import json
import shutil
import subprocess
import tarfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from deploy_render import (
    CHART,
    DEPLOY,
    NAMESPACE,
    Doc,
    config_of,
    generator,
    helm_render,
    kinds_and_names,
    kubectl_kustomize,
    one,
)

pytestmark = pytest.mark.usefixtures("helm_available")

GENERATOR = generator()
MINORS: list[str] = GENERATOR["supported_minors"]()
NEWEST = MINORS[-1]
MUTATING_FROM = "1.36"
BASE_CONFIG = DEPLOY / "base" / "config.yaml"
WARN_ONLY_CONFIG = DEPLOY / "components" / "warn-only" / "config.yaml"

POLICY_KINDS = {
    "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding",
    "MutatingAdmissionPolicy",
    "MutatingAdmissionPolicyBinding",
}
MUTATING_POLICY_KINDS = {"MutatingAdmissionPolicy", "MutatingAdmissionPolicyBinding"}
# What the webhook needs to run: none of it in mode policies.
WEBHOOK_RUNTIME = {
    "Deployment",
    "Service",
    "ServiceAccount",
    "ClusterRole",
    "ClusterRoleBinding",
    "PodDisruptionBudget",
    "ConfigMap",
    "Certificate",
    "Issuer",
    "Secret",
}
WEBHOOK_CONFIGS = {"MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"}
MiB = 1 << 20


def release(minor: str) -> tuple[int, ...]:
    return tuple(int(n) for n in minor.split("."))


def kinds(docs: list[Doc]) -> set[str]:
    return {d["kind"] for d in docs}


def policies_of(docs: list[Doc]) -> list[Doc]:
    return [d for d in docs if d["kind"] in POLICY_KINDS]


def by_name(docs: list[Doc]) -> dict[tuple[str, str], Doc]:
    """Objects by kind and name (kustomize sorts objects by kind; the export does not)."""
    named = {(d["kind"], d["metadata"]["name"]): d for d in docs}
    assert len(named) == len(docs), "two objects of one kind and name"
    return named


REGENERATE = (
    "the rendered policies differ from what `winpod export` prints now; if the export changed,"
    " regenerate deploy/ (.venv/bin/python deploy/generate.py)"
)


def _first_difference(got: Any, want: Any, at: str = "") -> str:
    if isinstance(got, dict) and isinstance(want, dict):
        for key in sorted(set(got) | set(want)):
            if got.get(key) != want.get(key):
                return _first_difference(got.get(key), want.get(key), f"{at}.{key}")
    if isinstance(got, list) and isinstance(want, list):
        if len(got) != len(want):
            return f"{at}: {len(got)} items, the export has {len(want)}"
        for index, (g, w) in enumerate(zip(got, want, strict=True)):
            if g != w:
                return _first_difference(g, w, f"{at}[{index}]")
    return f"{at}: {str(got)[:160]!r}, the export has {str(want)[:160]!r}"


def assert_exported(rendered: list[Doc], exported: list[Doc], what: str) -> None:
    """`rendered` holds the exported objects, field for field (in any order)."""
    got, want = by_name(rendered), by_name(exported)
    if got == want:
        return
    if set(got) != set(want):
        pytest.fail(f"{what}: objects {sorted(got)}, the export has {sorted(want)}; {REGENERATE}")
    name = next(n for n in want if got[n] != want[n])
    pytest.fail(
        f"{what}: {name[0]} {name[1]}{_first_difference(got[name], want[name])}; {REGENERATE}"
    )


def mode_values(mode: str, minor: str | None = None, **extra: Any) -> dict[str, Any]:
    values: dict[str, Any] = {"mode": mode, **extra}
    if minor is not None:
        values["policies"] = {"kubernetesVersion": minor}
    return values


@pytest.fixture(scope="module")
def cli_export(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """`winpod export --format json` as a user runs it (the CLI, in-process), memoised."""
    from winpod.cli import main

    out_dir = tmp_path_factory.mktemp("export")
    done: dict[tuple[str, ...], list[Doc]] = {}

    def run(minor: str, *flags: str, config: Path = BASE_CONFIG) -> list[Doc]:
        key = (minor, str(config), *flags)
        if key not in done:
            out = out_dir / f"export-{len(done)}.json"
            argv = ["export", "--config", str(config), "--kubernetes-version", minor, *flags]
            assert main([*argv, "--format", "json", "--quiet", "--output", str(out)]) == 0
            done[key] = json.loads(out.read_text())["items"]
        return done[key]

    return run


# ---- Helm: what each mode renders -------------------------------------------------------------


@pytest.fixture(scope="module")
def helm_modes() -> dict[str, list[Doc]]:
    """Each mode with the default values (Helm's offline Capabilities: Kubernetes 1.36)."""
    return {mode: helm_render({"mode": mode}) for mode in ("webhook", "policies", "hybrid")}


def test_the_default_mode_is_the_webhook_and_renders_no_policy(
    helm_modes: dict[str, list[Doc]],
) -> None:
    assert helm_modes["webhook"] == helm_render({})
    assert not kinds(helm_modes["webhook"]) & POLICY_KINDS
    assert kinds(helm_modes["webhook"]) >= WEBHOOK_CONFIGS | (WEBHOOK_RUNTIME - {"Secret"})


def test_mode_policies_renders_the_policies_and_bindings_and_nothing_that_runs(
    helm_modes: dict[str, list[Doc]],
) -> None:
    docs = helm_modes["policies"]
    assert kinds(docs) == POLICY_KINDS  # 1.36: the mutating policy places pods
    assert {d["metadata"]["name"] for d in docs} == {"winpod-deny", "winpod-warn", "winpod-place"}


def test_mode_hybrid_swaps_the_validating_webhook_for_the_validating_policies(
    helm_modes: dict[str, list[Doc]],
) -> None:
    webhook, hybrid = helm_modes["webhook"], helm_modes["hybrid"]
    assert kinds(hybrid) == (kinds(webhook) - {"ValidatingWebhookConfiguration"}) | {
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
    }
    # Everything the mutating webhook needs is the webhook mode's, unchanged.
    kept = [d for d in webhook if d["kind"] != "ValidatingWebhookConfiguration"]
    assert [d for d in hybrid if d["kind"] not in POLICY_KINDS] == kept


@pytest.fixture(scope="module")
def helm_policies() -> dict[str, list[Doc]]:
    """Mode policies for each release (policies.kubernetesVersion)."""
    return {minor: helm_render(mode_values("policies", minor)) for minor in MINORS}


def test_every_release_gets_its_own_export_in_both_modes(
    helm_policies: dict[str, list[Doc]], cli_export: Any
) -> None:
    for minor in MINORS:
        policies = helm_policies[minor]
        assert_exported(policies, cli_export(minor), f"mode policies, {minor}")
        placed = kinds(policies) >= MUTATING_POLICY_KINDS
        assert placed == (release(minor) >= release(MUTATING_FROM)), minor
    for minor in (MINORS[0], "1.35", MUTATING_FROM, NEWEST):
        hybrid = helm_render(mode_values("hybrid", minor))
        assert_exported(policies_of(hybrid), cli_export(minor, "--no-mutating"), f"hybrid, {minor}")


def test_warn_only_and_fail_closed_give_the_export_of_those_settings(cli_export: Any) -> None:
    minor = MUTATING_FROM
    warn_only = helm_render(mode_values("policies", minor, warnOnly=True))
    assert_exported(warn_only, cli_export(minor, config=WARN_ONLY_CONFIG), "warnOnly")
    assert warn_only != cli_export(minor)
    fail = helm_render(mode_values("policies", minor, failurePolicy="Fail"))
    assert_exported(fail, cli_export(minor, "--failure-policy", "Fail"), "failurePolicy Fail")
    both = helm_render(mode_values("hybrid", minor, warnOnly=True, failurePolicy="Fail"))
    exported = cli_export(
        minor, "--no-mutating", "--failure-policy", "Fail", config=WARN_ONLY_CONFIG
    )
    assert_exported(policies_of(both), exported, "hybrid, warnOnly, failurePolicy Fail")
    # The mutating webhook of the hybrid mode gets both as well.
    assert config_of(both)["maxAction"] == "warn"
    (hook,) = one(both, "MutatingWebhookConfiguration")["webhooks"]
    assert hook["failurePolicy"] == "Fail"


def test_the_policies_validate_against_each_releases_schema(
    helm_policies: dict[str, list[Doc]],
) -> None:
    import kubernetes_validate

    for minor in MINORS:
        for doc in helm_policies[minor]:
            kubernetes_validate.validate(doc, f"{minor}.0", strict=True)


@pytest.mark.parametrize(
    ("asked", "installed", "newer"),
    [
        ("1.33", "1.33", False),
        ("v1.34.2", "1.34", False),
        ("1.35.0-eks-4f1b", "1.35", False),
        ("1.99", NEWEST, True),
    ],
)
def test_the_release_is_read_from_the_version_given(
    asked: str, installed: str, newer: bool
) -> None:
    import helm_python

    values = mode_values("policies", asked)
    assert helm_render(values) == helm_render(mode_values("policies", installed))
    with helm_python.Chart.load(str(CHART)) as chart:
        notes = chart.render(values, name="winpod", namespace=NAMESPACE)[
            "winpod/templates/NOTES.txt"
        ]
    assert f"for Kubernetes {installed}:" in notes
    shown = f"is newer than the newest release the chart ships policies for: these are {NEWEST}'s"
    assert (shown in notes) == newer


def test_without_a_version_the_release_is_the_clusters(helm_modes: dict[str, list[Doc]]) -> None:
    # Offline, Helm's Capabilities say 1.36 (a real install asks the cluster: see the kube test).
    assert helm_modes["policies"] == helm_render(mode_values("policies", "1.36"))


# ---- Helm: refusals -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "complaint"),
    [
        ({"mode": "Webhook"}, "/mode"),
        ({"mode": "cel"}, "/mode"),
        ({"mode": True}, "/mode"),
        ({"policies": {"kubernetesVersion": "latest"}}, "/policies/kubernetesVersion"),
        ({"policies": {"kubernetesVersion": "1.3x"}}, "/policies/kubernetesVersion"),
        ({"policies": {"kubernetesVersion": "1"}}, "/policies/kubernetesVersion"),
        # What an unquoted 1.30 in a values file is: the number 1.3.
        ({"policies": {"kubernetesVersion": 1.3}}, "/policies/kubernetesVersion"),
        ({"policies": {"enabled": "yes"}}, "/policies/enabled"),
        ({"policies": {"version": "1.33"}}, "version"),
    ],
)
def test_the_values_schema_refuses_a_bad_mode_or_version(
    values: dict[str, Any], complaint: str
) -> None:
    import helm_python

    with pytest.raises(helm_python.HelmValuesError) as caught:
        helm_render(values)
    assert complaint in str(caught.value)


def _refusal(values: dict[str, Any]) -> str:
    import helm_python

    with pytest.raises(helm_python.HelmError) as caught:
        helm_render(values)
    return str(caught.value)


@pytest.mark.parametrize("mode", ["policies", "hybrid"])
@pytest.mark.parametrize("version", ["1.29", "1.24.3", "v1.29.10"])
def test_a_release_below_1_30_is_refused_with_a_reason(mode: str, version: str) -> None:
    message = _refusal(mode_values(mode, version))
    assert f"mode {mode} needs Kubernetes 1.30 or later, and policies.kubernetesVersion gives" in (
        message
    )
    assert "ValidatingAdmissionPolicy admissionregistration.k8s.io/v1 is served from 1.30" in (
        message
    )
    assert "Keep mode webhook" in message


def test_a_cluster_below_1_30_is_refused_naming_the_clusters_version(
    capfd: pytest.CaptureFixture[str],
) -> None:
    """With no policies.kubernetesVersion the release is .Capabilities.KubeVersion: lint sets
    it (as `helm template --kube-version` and a real install do). In lint mode Helm logs a
    template's fail (on stderr, from Go) instead of failing."""
    import helm_python

    refused = "needs Kubernetes 1.30 or later, and the cluster's version"
    for version, refuses in (("1.29.0", True), ("1.30.0", False)):
        report = helm_python.lint(
            str(CHART), {"mode": "policies"}, kube_version=version, namespace=NAMESPACE
        )
        assert not report["errors"], report
        logged = capfd.readouterr().err
        assert (refused in logged) == refuses, logged
        if refuses:
            assert "gives v1.29.0: ValidatingAdmissionPolicy" in logged


@pytest.mark.parametrize("mode", ["policies", "hybrid"])
def test_a_config_of_ones_own_is_refused_with_the_export_command_to_run(mode: str) -> None:
    message = _refusal(mode_values(mode, config={"defaultOS": "windows"}))
    assert (
        f"mode {mode} installs the policies `winpod export` wrote for the chart's own config"
        in (message)
    )
    flag = " --no-mutating" if mode == "hybrid" else ""
    assert f"winpod export --config your-config.yaml --kubernetes-version 1.36{flag}" in message
    assert "kubectl apply --server-side -f" in message
    assert ("policies.enabled=false" in message) == (mode == "hybrid")
    # The same with any change, a webhook setting included: the chart cannot tell what matters.
    config = yaml.safe_load(BASE_CONFIG.read_text())
    config["webhook"]["logLevel"] = "debug"
    assert "config differs from it" in _refusal(mode_values(mode, config=config))


@pytest.mark.parametrize(
    ("values", "complaint"),
    [
        (
            {"excludedNamespaces": ["kube-system"]},
            "skip the namespaces kube-system, kube-node-lease, and excludedNamespaces asks for"
            " kube-system",
        ),
        ({"kubeSystem": {"enabled": True}}, "--exclude-namespace kube-node-lease"),
    ],
)
@pytest.mark.parametrize("mode", ["policies", "hybrid"])
def test_what_the_export_fixed_cannot_be_changed_by_a_value(
    mode: str, values: dict[str, Any], complaint: str
) -> None:
    assert complaint in _refusal({"mode": mode, **values})


@pytest.mark.parametrize(
    ("values", "complaint"),
    [
        ({"policies": {"enabled": False}}, "would install nothing"),
        ({"metrics": {"service": {"enabled": True}}}, "which mode policies does not run"),
        ({"metrics": {"serviceMonitor": {"enabled": True}}}, "which mode policies does not run"),
    ],
)
def test_mode_policies_refuses_what_needs_a_server(values: dict[str, Any], complaint: str) -> None:
    assert complaint in _refusal({"mode": "policies", **values})


def test_hybrid_without_policies_is_the_mutating_webhook_with_any_config() -> None:
    values = {
        "mode": "hybrid",
        "policies": {"enabled": False},
        "config": {"defaultOS": "windows"},
        "kubeSystem": {"enabled": True},
    }
    docs = helm_render(values)
    assert not kinds(docs) & POLICY_KINDS
    assert "ValidatingWebhookConfiguration" not in kinds(docs)
    assert config_of(docs)["defaultOS"] == "windows"
    hooks = one(docs, "MutatingWebhookConfiguration")["webhooks"]
    assert [h["name"] for h in hooks] == ["mutate.winpod.io", "mutate.kube-system.winpod.io"]


def test_the_audit_job_runs_in_every_mode_with_the_config_it_reads() -> None:
    docs = helm_render({"mode": "policies", "audit": {"enabled": True}})
    assert kinds(docs) - POLICY_KINDS == {
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "CronJob",
        "ConfigMap",
    }
    assert {d["metadata"]["name"] for d in docs if d["kind"] == "ServiceAccount"} == {
        "winpod-audit"
    }


def test_the_lint_passes_in_strict_mode_in_each_mode() -> None:
    import helm_python

    for values in (
        {
            "mode": "policies",
            "warnOnly": True,
            "failurePolicy": "Fail",
            "namespace": {"create": True},
        },
        {"mode": "hybrid", "audit": {"enabled": True}},
        {"mode": "hybrid", "policies": {"enabled": False}, "kubeSystem": {"enabled": True}},
    ):
        report = helm_python.lint(str(CHART), values, strict=True, namespace=NAMESPACE)
        problems = [m for m in report["messages"] if m["severity"] >= 2]
        assert not report["errors"] and not problems, (values, report)


def test_winpods_own_workloads_pass_the_policies_that_now_judge_them(tmp_path: Path) -> None:
    """In mode hybrid the exported policies skip only kube-system and kube-node-lease (no
    webhook of theirs can lock itself out): winpod's own namespace is judged, so its pods must
    pass, without a warning."""
    from winpod.cli import main

    docs = helm_render({"mode": "hybrid", "audit": {"enabled": True}})
    workloads = [d for d in docs if d["kind"] in ("Deployment", "CronJob")]
    manifest = tmp_path / "winpod.yaml"
    manifest.write_text(yaml.safe_dump_all(workloads))
    argv = ["check", "--config", str(BASE_CONFIG), "--kubernetes-version", MUTATING_FROM]
    assert main([*argv, "--fail-on", "warn", str(manifest)]) == 0


# ---- kustomize ---------------------------------------------------------------------------------


def _overlay(deploy_copy: Path, name: str, spec: Mapping[str, Any]) -> list[Doc]:
    directory = deploy_copy / "overlays" / name
    directory.mkdir(exist_ok=True)
    kustomization = {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization"}
    (directory / "kustomization.yaml").write_text(
        yaml.safe_dump({**kustomization, **spec}, sort_keys=False)
    )
    return kubectl_kustomize(directory)


@pytest.mark.parametrize("minor", MINORS)
def test_kustomize_policies_directory_is_the_export_of_its_release(
    deploy_copy: Path, minor: str, cli_export: Any
) -> None:
    policies = kubectl_kustomize(deploy_copy / "policies" / minor)
    assert_exported(policies, cli_export(minor), f"deploy/policies/{minor}")
    validating = kubectl_kustomize(deploy_copy / "policies" / minor / "validating")
    assert_exported(validating, cli_export(minor, "--no-mutating"), f"policies/{minor}/validating")


def test_kustomize_and_helm_render_the_same_policies(
    deploy_copy: Path, helm_policies: dict[str, list[Doc]]
) -> None:
    for minor in (MINORS[0], NEWEST):
        kustomized = kubectl_kustomize(deploy_copy / "policies" / minor)
        assert by_name(kustomized) == by_name(helm_policies[minor])


def test_kustomize_hybrid_is_a_webhook_overlay_without_its_validating_webhook(
    deploy_copy: Path, kustomized: dict[str, list[Doc]], cli_export: Any
) -> None:
    for base in ("cert-manager", "self-managed"):
        hybrid = _overlay(
            deploy_copy,
            f"user-hybrid-{base}",
            {
                "resources": [f"../{base}", f"../../policies/{MUTATING_FROM}/validating"],
                "components": ["../../components/hybrid"],
            },
        )
        webhook = kustomized[base]
        assert kinds_and_names(hybrid) == (
            kinds_and_names(webhook) - {("ValidatingWebhookConfiguration", "winpod")}
        ) | {(d["kind"], d["metadata"]["name"]) for d in cli_export(MUTATING_FROM, "--no-mutating")}
        assert_exported(policies_of(hybrid), cli_export(MUTATING_FROM, "--no-mutating"), base)
        mutating = one(hybrid, "MutatingWebhookConfiguration")
        assert mutating == one(webhook, "MutatingWebhookConfiguration")
    helmed = helm_render({"mode": "hybrid", "namespace": {"create": True}})
    assert kinds_and_names(helmed) == kinds_and_names(
        kubectl_kustomize(deploy_copy / "overlays" / "user-hybrid-cert-manager")
    )


def test_kustomize_fail_closed_sets_the_policies_failure_policy_too(
    deploy_copy: Path, cli_export: Any
) -> None:
    failing = _overlay(
        deploy_copy,
        "user-policies-fail-closed",
        {
            "resources": [f"../../policies/{MUTATING_FROM}"],
            "components": ["../../components/fail-closed"],
        },
    )
    assert_exported(failing, cli_export(MUTATING_FROM, "--failure-policy", "Fail"), "fail-closed")
    hybrid = _overlay(
        deploy_copy,
        "user-hybrid-fail-closed",
        {
            "resources": ["../cert-manager", "../../policies/1.33/validating"],
            "components": ["../../components/hybrid", "../../components/fail-closed"],
        },
    )
    assert_exported(policies_of(hybrid), cli_export("1.33", "--failure-policy", "Fail"), "hybrid")
    (hook,) = one(hybrid, "MutatingWebhookConfiguration")["webhooks"]
    assert hook["failurePolicy"] == "Fail"


def test_every_generated_policies_directory_is_one_release() -> None:
    assert sorted(p.name for p in (DEPLOY / "policies").iterdir()) == MINORS
    for minor in MINORS:
        top = yaml.safe_load((DEPLOY / "policies" / minor / "kustomization.yaml").read_text())
        assert top["resources"][0] == "validating"
        placed = top["resources"][1:] == ["mutating.yaml"]
        assert placed == (release(minor) >= release(MUTATING_FROM)), minor


# ---- size: Helm keeps the whole chart in the release Secret ------------------------------------


def _release_secret_bytes(archive: Path, manifest: str) -> int:
    """The size of the release Secret's data as Helm writes it (base64 of the gzipped JSON
    release, whose chart carries every template and file as base64): measured against a real
    install (1.36, mode policies: 432,336 bytes), this comes within 2%."""
    with tarfile.open(archive) as packed:
        files = {
            m.name.split("/", 1)[1]: packed.extractfile(m).read()  # type: ignore[union-attr]
            for m in packed.getmembers()
            if m.isfile()
        }

    def listed(names: list[str]) -> list[dict[str, str]]:
        return [{"name": n, "data": base64.b64encode(files[n]).decode()} for n in names]

    special = {"Chart.yaml", "values.yaml", "values.schema.json"}
    release = {
        "name": "winpod",
        "namespace": NAMESPACE,
        "version": 1,
        "chart": {
            "metadata": yaml.safe_load(files["Chart.yaml"]),
            "values": yaml.safe_load(files["values.yaml"]),
            "schema": base64.b64encode(files["values.schema.json"]).decode(),
            "templates": listed(sorted(n for n in files if n.startswith("templates/"))),
            "files": listed(
                sorted(n for n in files if not n.startswith("templates/") and n not in special)
            ),
        },
        "manifest": manifest,
    }
    encoded = json.dumps(release, separators=(",", ":")).encode()
    return len(base64.b64encode(gzip.compress(encoded, 9)))


def test_the_packaged_chart_fits_the_release_secret_with_room_to_spare(tmp_path: Path) -> None:
    import helm_python

    archive = Path(helm_python.package(str(CHART), destination=str(tmp_path)))
    packaged = archive.stat().st_size
    sizes = {}
    for mode in ("policies", "hybrid"):
        with helm_python.Chart.load(str(CHART)) as chart:
            values = mode_values(mode, NEWEST, warnOnly=True)
            manifest = "".join(chart.render(values, name="winpod", namespace=NAMESPACE).values())
        sizes[mode] = _release_secret_bytes(archive, manifest)
    print(f"chart .tgz {packaged} bytes; release Secret {sizes} bytes (limit {MiB})")
    assert packaged < MiB / 4
    # A quarter of the limit left: room for the releases still to come. If this fails, ship
    # fewer releases or variants (deploy/generate.py: supported_minors, variants).
    assert max(sizes.values()) < MiB * 3 / 4, sizes


# ---- the real apiserver --------------------------------------------------------------------------


@pytest.mark.kube
def test_the_real_apiserver_accepts_the_policies_only_render(
    apiservers: Mapping[str, Any], tmp_path: Path
) -> None:
    """The chart's policies-only render for 1.36 through `kubectl apply --server-side
    --dry-run=server`: the apiserver compiles and checks every CEL expression, and stores
    nothing. The objects are renamed first: the session's control plane is shared, and the
    export tests keep policies of these names applied there."""
    from tests.kube.fixtures import apiserver_at

    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("no kubectl on PATH")
    server = apiserver_at(apiservers, "1.36")
    docs = helm_render({"mode": "policies", "policies": {"kubernetesVersion": "1.36"}})
    assert kinds(docs) == POLICY_KINDS
    for doc in docs:
        doc["metadata"]["name"] += "-deploy-test"
        spec = doc.get("spec", {})
        if "policyName" in spec:
            spec["policyName"] += "-deploy-test"
    manifest = tmp_path / "policies.yaml"
    manifest.write_text(yaml.safe_dump_all(docs))
    argv = [kubectl, "--kubeconfig", str(server.kubeconfig), "apply", "--server-side"]
    result = subprocess.run(
        [*argv, "--dry-run=server", "--field-manager=winpod-test", "-f", str(manifest)],
        capture_output=True,
        text=True,
        timeout=110,
    )
    shown = "\n".join(line[:300] for line in result.stderr.splitlines()[:40])
    assert result.returncode == 0, f"the apiserver refused the policies-only render:\n{shown}"
    applied = [line for line in result.stdout.splitlines() if line.strip()]
    assert len(applied) == len(docs)
    assert all(line.endswith("serverside-applied (server dry run)") for line in applied), applied
