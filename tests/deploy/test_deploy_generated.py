"""The deploy settings exist once: deploy/generate.py derives every other copy, and the committed
copies are what it writes.

Sources: deploy/base/webhooks.yaml (both webhook configurations), deploy/base/config.yaml (the
config file), deploy/components/warn-only/config-patch.yaml (all warn-only changes), the
config model (the Helm values schema) and `winpod export` (the policies of the modes policies
and hybrid, in deploy/policies/ and the chart's files/policies.json). See deploy/generate.py
for what derives from them.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from deploy_render import (
    DEPLOY,
    GENERATE,
    NAMESPACE,
    REPO,
    WEBHOOK_KINDS,
    Doc,
    comparable_webhooks,
    config_of,
    copy_deploy,
    generator,
    helm_render,
    kubectl_kustomize,
    kustomize_option,
)
from winpod.config import Config, load_config

GENERATOR = generator()
REGENERATE = ".venv/bin/python deploy/generate.py"


def rel(path: Path) -> str:
    return str(path.relative_to(REPO))


def generate_check(script: Path) -> subprocess.CompletedProcess[str]:
    """`python generate.py --check`, run as a process from the repository's root."""
    return subprocess.run(
        [sys.executable, str(script), "--check"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture(scope="module")
def fresh() -> dict[Path, str]:
    outputs: dict[Path, str] = GENERATOR["generated"]()
    return outputs


@pytest.mark.parametrize("derived", GENERATOR["DERIVED"], ids=rel)
def test_the_committed_file_is_what_generate_py_writes(
    derived: Path, fresh: dict[Path, str]
) -> None:
    diff = GENERATOR["stale"](derived, fresh[derived])
    assert not diff, (
        f"{rel(derived)} differs from a fresh generation (its source changed, or it was edited by"
        f" hand). Run `{REGENERATE}`, review and commit. The change it makes:\n{diff}"
    )


@pytest.mark.parametrize("tree", GENERATOR["DERIVED_TREES"], ids=rel)
def test_a_generated_directory_holds_what_generate_py_writes_and_nothing_else(
    tree: Path, fresh: dict[Path, str]
) -> None:
    written = {path: text for path, text in fresh.items() if tree in path.parents}
    assert written, f"generate.py writes nothing under {rel(tree)}"
    stale = [rel(path) for path, text in written.items() if GENERATOR["stale"](path, text)]
    assert not stale, (
        f"{', '.join(stale)} differ from a fresh generation (winpod export or a source changed)."
        f" Run `{REGENERATE}`, review and commit."
    )
    extra = [rel(path) for path in GENERATOR["obsolete"](fresh)]
    assert not extra, f"generate.py no longer writes {', '.join(extra)}: run `{REGENERATE}`"


def test_generate_py_check_runs_on_its_own_and_finds_nothing_stale() -> None:
    result = generate_check(GENERATE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_helm_values_schema_holds_the_config_models_schema_in_draft_07_form(
    fresh: dict[Path, str],
) -> None:
    import jsonschema

    schema = json.loads(fresh[GENERATOR["HELM_SCHEMA"]])
    jsonschema.Draft7Validator.check_schema(schema)
    config = schema["properties"]["config"]
    assert config["additionalProperties"] is False
    assert set(config["properties"]) == set(Config.model_fields)
    text = json.dumps(config)
    assert "$ref" not in text and "$defs" not in text, "Helm resolves refs from the chart's root"
    # The nested models are inlined, strict like the model.
    assert config["properties"]["mutation"]["additionalProperties"] is False
    assert config["properties"]["rules"]["additionalProperties"]["enum"] == [
        "deny",
        "warn",
        "audit",
        "off",
        False,
    ]


def test_the_warn_only_config_is_the_base_config_plus_its_one_key_patch() -> None:
    base = yaml.safe_load((DEPLOY / "base" / "config.yaml").read_text())
    patch = yaml.safe_load((DEPLOY / "components" / "warn-only" / "config-patch.yaml").read_text())
    warn_only = yaml.safe_load((DEPLOY / "components" / "warn-only" / "config.yaml").read_text())
    assert patch == {"maxAction": "warn"}
    assert warn_only == {**base, **patch}


def test_the_helm_defaults_are_what_the_kustomize_base_renders(
    kustomized: dict[str, list[Doc]],
) -> None:
    values = yaml.safe_load((DEPLOY / "helm" / "winpod" / "values.yaml").read_text())
    rendered = kustomized["cert-manager"]
    assert values["config"] == config_of(rendered)
    hooks = {d["kind"]: h for d in rendered if d["kind"] in WEBHOOK_KINDS for h in d["webhooks"]}
    mutating, validating = (hooks[kind] for kind in WEBHOOK_KINDS)
    assert values["failurePolicy"] == mutating["failurePolicy"] == validating["failurePolicy"]
    assert values["timeoutSeconds"] == {
        "mutating": mutating["timeoutSeconds"],
        "validating": validating["timeoutSeconds"],
    }
    for hook in (mutating, validating):
        names = hook["namespaceSelector"]["matchExpressions"][0]["values"]
        # The chart appends the release namespace; the base names its own.
        assert [*values["excludedNamespaces"], NAMESPACE] == names


def _config_files() -> list[Path]:
    """Every file a kustomization under deploy/ turns into a ConfigMap's config.yaml."""
    found = []
    for kustomization in sorted(DEPLOY.rglob("kustomization.yaml")):
        spec = yaml.safe_load(kustomization.read_text())
        for generated in spec.get("configMapGenerator", []):
            for entry in generated.get("files", []):
                key, _, source = entry.rpartition("=")
                if (key or source).endswith("config.yaml"):
                    found.append(kustomization.parent / source)
    return found


def test_every_config_file_under_deploy_loads_with_the_config_loader(tmp_path: Path) -> None:
    files = _config_files()
    assert {rel(f) for f in files} >= {
        "deploy/base/config.yaml",
        "deploy/components/warn-only/config.yaml",
        "deploy/addons/audit-cronjob/config.yaml",
    }
    files.append(DEPLOY / "components" / "warn-only" / "config-patch.yaml")
    files.append(DEPLOY / "components" / "kube-system" / "config-patch.yaml")
    helm_config = tmp_path / "helm-values-config.yaml"
    values = yaml.safe_load((DEPLOY / "helm" / "winpod" / "values.yaml").read_text())
    helm_config.write_text(yaml.safe_dump(values["config"]))
    for path in [*files, helm_config]:
        config = load_config(path)
        assert config == Config.model_validate(yaml.safe_load(path.read_text()) or {}), path


# ---- the sources really drive the derived files ----------------------------------------------


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert text.count(old) == 1, f"{old!r} not once in {path}"
    path.write_text(text.replace(old, new))


@pytest.fixture
def edited_copy(tmp_path: Path) -> Path:
    """A copy of deploy/ whose sources changed: a longer validating timeout, one more excluded
    namespace, a Linux default OS and a warn-only patch that also turns on mixedCluster."""
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl (which ships kustomize) is not installed")
    copy = copy_deploy(tmp_path / "deploy")
    webhooks = copy / "base" / "webhooks.yaml"
    _edit(webhooks, "timeoutSeconds: 5", "timeoutSeconds: 4")
    text = webhooks.read_text().replace(
        '["kube-system", "kube-node-lease", "winpod"]',
        '["kube-system", "kube-node-lease", "kube-public", "winpod"]',
    )
    webhooks.write_text(text)
    _edit(copy / "base" / "config.yaml", "defaultOS: unknown", "defaultOS: linux")
    _edit(
        copy / "components" / "warn-only" / "config-patch.yaml",
        "maxAction: warn\n",
        "maxAction: warn\nmixedCluster: true\n",
    )
    return copy


def test_an_edited_source_makes_check_fail_with_a_diff_and_the_command(
    edited_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # In-process (test_generate_py_check_runs_on_its_own... runs the script as a process): the
    # next test's copy has the same sources, and reuses these exports.
    assert generator(edited_copy / "generate.py")["main"](["--check"]) == 1
    result = capsys.readouterr()
    assert "+  validating: 4" in result.out
    assert '+excludedNamespaces: ["kube-system", "kube-node-lease", "kube-public"]' in result.out
    assert "+defaultOS: linux" in result.out and "+mixedCluster: true" in result.out
    # The exports follow: a namespace more in every binding, Linux the default OS.
    assert "+        - kube-public" in result.out
    assert "stale: " in result.err and "deploy/policies/1.36/validating/policies.yaml" in result.err
    assert "run `python deploy/generate.py`" in result.err


def test_after_generation_helm_and_kustomize_render_the_edited_sources_alike(
    edited_copy: Path, helm_available: None
) -> None:
    namespace: dict[str, Any] = {"create": True}
    generate = generator(edited_copy / "generate.py")
    assert generate["main"]([]) == 0
    assert generate["main"](["--check"]) == 0
    chart = edited_copy / "helm" / "winpod"
    cert_manager = kubectl_kustomize(edited_copy / "overlays" / "cert-manager")
    warn_only = kubectl_kustomize(edited_copy / "overlays" / "warn-only")
    helmed = helm_render({"namespace": namespace}, chart_dir=chart)
    helmed_warn = helm_render({"namespace": namespace, "warnOnly": True}, chart_dir=chart)
    assert comparable_webhooks(helmed) == comparable_webhooks(cert_manager)
    (hook,) = comparable_webhooks(cert_manager)["ValidatingWebhookConfiguration"]["webhooks"]
    assert hook["timeoutSeconds"] == 4
    assert "kube-public" in hook["namespaceSelector"]["matchExpressions"][0]["values"]
    assert config_of(helmed)["defaultOS"] == config_of(cert_manager)["defaultOS"] == "linux"
    patched = {**config_of(cert_manager), "maxAction": "warn", "mixedCluster": True}
    assert config_of(warn_only) == config_of(helmed_warn) == patched


@pytest.fixture
def kube_system_edited_copy(tmp_path: Path) -> Path:
    """A copy of deploy/ whose kube-system component changed: a shorter timeout on its mutating
    entry, and kube-system defaulting to Windows in its config patch."""
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl (which ships kustomize) is not installed")
    copy = copy_deploy(tmp_path / "deploy")
    _edit(
        copy / "components" / "kube-system" / "kustomization.yaml",
        "        value: mutate.kube-system.winpod.io\n",
        "        value: mutate.kube-system.winpod.io\n"
        "      - op: replace\n"
        "        path: /webhooks/1/timeoutSeconds\n"
        "        value: 2\n",
    )
    _edit(
        copy / "components" / "kube-system" / "config-patch.yaml",
        "    maxAction: warn\n",
        "    maxAction: warn\n    defaultOS: windows\n",
    )
    return copy


def test_the_helm_kube_system_option_follows_an_edited_component(
    kube_system_edited_copy: Path, helm_available: None
) -> None:
    generate = generator(kube_system_edited_copy / "generate.py")
    assert generate["main"](["--check"]) == 1
    assert generate["main"]([]) == 0
    kustomized = kustomize_option(kube_system_edited_copy, "kube-system")
    helmed = helm_render(
        {"namespace": {"create": True}, "kubeSystem": {"enabled": True}},
        chart_dir=kube_system_edited_copy / "helm" / "winpod",
    )
    assert comparable_webhooks(helmed) == comparable_webhooks(kustomized)
    mutating = comparable_webhooks(kustomized)["MutatingWebhookConfiguration"]["webhooks"]
    assert [h["timeoutSeconds"] for h in mutating] == [3, 2]
    expected = {"kube-system": {"maxAction": "warn", "defaultOS": "windows"}}
    assert config_of(helmed)["namespaces"] == config_of(kustomized)["namespaces"] == expected


def test_generate_py_refuses_a_base_config_that_sets_what_the_kube_system_patch_sets(
    tmp_path: Path,
) -> None:
    copy = copy_deploy(tmp_path / "deploy")
    _edit(copy / "base" / "config.yaml", "rules: {}\n", "rules: {}\nnamespaces: {}\n")
    result = generate_check(copy / "generate.py")
    assert result.returncode == 2
    assert "deploy/components/kube-system/config-patch.yaml: sets ['namespaces']" in result.stderr
