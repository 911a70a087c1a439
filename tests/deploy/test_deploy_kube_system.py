"""kube-system reviewed, warn-only: components/kube-system in kustomize, kubeSystem.enabled in Helm.

The Windows system DaemonSets (kube-proxy, CNI, CSI node plugins) live in kube-system, which the
main webhook entries exclude. The option adds an entry of each kind for kube-system alone,
failurePolicy Ignore, and caps kube-system at warn in the config: placement and warnings, never
a denial. Selectors are evaluated here as the apiserver evaluates them, and the config is judged
by the real engine.
"""

from __future__ import annotations

from pathlib import Path

import kubernetes_validate
import pytest
from deploy_render import (
    CHART,
    NAMESPACE,
    WEBHOOK_KINDS,
    Doc,
    comparable_webhooks,
    config_of,
    config_text_of,
    helm_render,
    kinds_and_names,
    load_docs,
    one,
    rendered_by,
)
from winpod.config import ACTION_RANK, Config, load_config
from winpod.engine.evaluate import Engine
from winpod.engine.mutate import mutate_pod
from winpod.engine.rules import Catalog, load_catalog

KUBE_SYSTEM_OPTIONS = {
    # option -> the overlay the user's overlay builds on
    "kube-system": "cert-manager",
    "kube-system-self-managed": "self-managed",
    "kube-system-fail-closed": "fail-closed",
    "kube-system-after-warn-only": "warn-only",
    "warn-only-after-kube-system": "warn-only",
}
ENTRY_NAMES = {
    "MutatingWebhookConfiguration": ["mutate.winpod.io", "mutate.kube-system.winpod.io"],
    "ValidatingWebhookConfiguration": ["validate.winpod.io", "validate.kube-system.winpod.io"],
}
# Namespaces as the apiserver labels them (kubernetes.io/metadata.name is set on every one).
NAMESPACES = ("kube-system", "kube-node-lease", "kube-public", "default", NAMESPACE)


def namespace_labels(name: str, **extra: str) -> dict[str, str]:
    return {"kubernetes.io/metadata.name": name, **extra}


def selects(selector: Doc, labels: dict[str, str]) -> bool:
    """A label selector's meaning (matchLabels and the four matchExpressions operators)."""
    if not selector.get("matchLabels", {}).items() <= labels.items():
        return False
    for expression in selector.get("matchExpressions", []):
        key, operator, values = expression["key"], expression["operator"], expression.get("values")
        present = key in labels
        if operator == "In" and not (present and labels[key] in values):
            return False
        if operator == "NotIn" and present and labels[key] in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
    return True


def selected_namespaces(hook: Doc) -> set[str]:
    return {n for n in NAMESPACES if selects(hook["namespaceSelector"], namespace_labels(n))}


@pytest.fixture(params=sorted(KUBE_SYSTEM_OPTIONS))
def option(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def with_kube_system(request: pytest.FixtureRequest, option: str, renderer: str) -> list[Doc]:
    return rendered_by(request, renderer, "options_kustomized", "options_helmed", option)


def entries(docs: list[Doc], kind: str) -> list[Doc]:
    hooks: list[Doc] = one(docs, kind, "winpod")["webhooks"]
    return hooks


def loaded_config(docs: list[Doc], tmp_path: Path) -> Config:
    """The config as the server reads it: through the file (Helm writes YAML 1.1)."""
    path = tmp_path / "config.yaml"
    path.write_text(config_text_of(docs))
    return load_config(path)


def kube_system_cap(config: Config) -> str | None:
    """The strongest action a kube-system finding can take (the weaker of the two caps)."""
    policy = config.namespaces.get("kube-system")
    caps = [c for c in (config.maxAction, policy.maxAction if policy else None) if c]
    return min(caps, key=lambda c: ACTION_RANK[c]) if caps else None


# ---- the default install ---------------------------------------------------------------------


def test_the_default_install_never_sends_kube_system_to_winpod(rendered: list[Doc]) -> None:
    for kind in WEBHOOK_KINDS:
        (hook,) = entries(rendered, kind)
        assert "kube-system" not in selected_namespaces(hook)
        assert "default" in selected_namespaces(hook)
    assert "kube-system" not in config_of(rendered).get("namespaces", {})


def test_the_default_chart_has_no_kube_system_entry_and_says_so() -> None:
    import helm_python

    with helm_python.Chart.load(str(CHART)) as chart:
        manifests = chart.render({}, name="winpod", namespace=NAMESPACE)
    assert "kube-system.winpod.io" not in manifests["winpod/templates/webhooks.yaml"]
    assert "placement and warnings only" not in manifests["winpod/templates/NOTES.txt"]


# ---- with the option -------------------------------------------------------------------------


def test_each_webhook_configuration_gains_an_entry_that_selects_kube_system_alone(
    with_kube_system: list[Doc],
) -> None:
    for kind in WEBHOOK_KINDS:
        main, kube_system = entries(with_kube_system, kind)
        assert [main["name"], kube_system["name"]] == ENTRY_NAMES[kind]
        assert selected_namespaces(kube_system) == {"kube-system"}
        # The main entry still skips it: no kube-system request is reviewed twice.
        assert selected_namespaces(main) == {"kube-public", "default"}
        # The opt-out label still works on kube-system.
        ignored = namespace_labels("kube-system", **{"winpod.io/ignore": "true"})
        assert not selects(kube_system["namespaceSelector"], ignored)


def test_the_kube_system_entry_ignores_failures_even_when_the_install_fails_closed(
    with_kube_system: list[Doc], option: str
) -> None:
    for kind in WEBHOOK_KINDS:
        main, kube_system = entries(with_kube_system, kind)
        assert kube_system["failurePolicy"] == "Ignore"
        assert main["failurePolicy"] == (
            "Fail" if option == "kube-system-fail-closed" else "Ignore"
        )


def test_the_kube_system_entry_is_the_main_entry_but_for_name_selector_and_failure_policy(
    with_kube_system: list[Doc],
) -> None:
    def rest(hook: Doc) -> Doc:
        return {
            k: v for k, v in hook.items() if k not in ("name", "namespaceSelector", "failurePolicy")
        }

    for kind in WEBHOOK_KINDS:
        main, kube_system = entries(with_kube_system, kind)
        # Same rules, service, path, timeout, caBundle (self-managed) and reinvocation.
        assert rest(kube_system) == rest(main)
        others = [
            e
            for e in main["namespaceSelector"]["matchExpressions"]
            if e["key"] != "kubernetes.io/metadata.name"
        ]
        assert kube_system["namespaceSelector"]["matchExpressions"] == [
            {"key": "kubernetes.io/metadata.name", "operator": "In", "values": ["kube-system"]},
            *others,
        ]


def test_the_webhook_configurations_with_two_entries_validate_against_the_kubernetes_schema(
    with_kube_system: list[Doc],
) -> None:
    for kind in WEBHOOK_KINDS:
        for version in ("1.27.0", "1.37.0"):
            kubernetes_validate.validate(one(with_kube_system, kind), version, strict=True)


def test_the_option_adds_no_objects(
    with_kube_system: list[Doc], option: str, kustomized: dict[str, list[Doc]]
) -> None:
    # kustomize's carrier of the config patch is local: dropped from the output.
    base = kustomized[KUBE_SYSTEM_OPTIONS[option]]
    assert kinds_and_names(with_kube_system) == kinds_and_names(base)


def test_the_rendered_config_caps_kube_system_at_warn(
    with_kube_system: list[Doc], option: str, tmp_path: Path
) -> None:
    config = loaded_config(with_kube_system, tmp_path)
    assert kube_system_cap(config) == "warn"
    if "warn-only" in option:
        assert config.maxAction == "warn"
    else:
        # Every other namespace keeps full enforcement.
        assert config.maxAction is None
        assert set(config.namespaces) == {"kube-system"}
        assert config.namespaces["kube-system"].maxAction == "warn"


def test_helm_renders_the_same_kube_system_webhooks_and_config_as_kustomize(
    options_kustomized: dict[str, list[Doc]],
    options_helmed: dict[str, list[Doc]],
    option: str,
    tmp_path: Path,
) -> None:
    k, h = options_kustomized[option], options_helmed[option]
    assert comparable_webhooks(h) == comparable_webhooks(k)
    if option == "warn-only-after-kube-system":
        # The warn-only component, applied last, replaces the whole config (its global warn
        # covers kube-system); Helm merges both patches. Same effect, different files.
        assert kube_system_cap(loaded_config(k, tmp_path)) == "warn"
        assert config_of(h) == {
            **config_of(k),
            "namespaces": {"kube-system": {"maxAction": "warn"}},
        }
    else:
        assert config_of(h) == config_of(k)


# ---- what the engine does with that config ---------------------------------------------------

# A HostProcess kube-proxy without hostNetwork: winpod denies it (the apiserver would refuse
# its pods anyway), which in kube-system must stay a warning.
DAEMONSET: Doc = {
    "apiVersion": "apps/v1",
    "kind": "DaemonSet",
    "metadata": {"name": "kube-proxy-windows", "namespace": "kube-system"},
    "spec": {
        "selector": {"matchLabels": {"k8s-app": "kube-proxy-windows"}},
        "template": {
            "metadata": {"labels": {"k8s-app": "kube-proxy-windows"}},
            "spec": {
                "nodeSelector": {"kubernetes.io/os": "windows"},
                "securityContext": {
                    "windowsOptions": {
                        "hostProcess": True,
                        "runAsUserName": "NT AUTHORITY\\system",
                    }
                },
                "containers": [
                    {
                        "name": "kube-proxy",
                        "image": "sigwindowstools/kube-proxy:v1.30.0-hostprocess",
                    }
                ],
            },
        },
    },
}


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def test_a_windows_system_daemonset_winpod_would_deny_is_only_warned_in_kube_system(
    options_kustomized: dict[str, list[Doc]], catalog: Catalog, tmp_path: Path
) -> None:
    engine = Engine(catalog, loaded_config(options_kustomized["kube-system"], tmp_path))
    elsewhere = engine.evaluate(DAEMONSET, namespace="default")
    assert elsewhere.denied
    in_kube_system = engine.evaluate(DAEMONSET, namespace="kube-system")
    assert not in_kube_system.denied
    (capped,) = [f for f in in_kube_system.findings if f.would_deny]
    assert capped.rule == "windows-hostprocess-host-network" and capped.action == "warn"


def test_kube_system_pods_still_get_their_placement(
    options_kustomized: dict[str, list[Doc]], catalog: Catalog, tmp_path: Path
) -> None:
    engine = Engine(catalog, loaded_config(options_kustomized["kube-system"], tmp_path))
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "kube-proxy-windows-x", "namespace": "kube-system"},
        "spec": DAEMONSET["spec"]["template"]["spec"],
    }
    result = mutate_pod(engine, pod, namespace="kube-system")
    assert {"op": "add", "path": "/spec/os", "value": {"name": "windows"}} in result.patch
    assert result.mutated["spec"]["tolerations"] == [
        {"key": "os", "operator": "Equal", "value": "windows", "effect": "NoSchedule"}
    ]
    assert not result.evaluation.denied


# ---- Helm: what the chart refuses, what it says ---------------------------------------------


def test_helm_refuses_kube_system_reviewed_by_both_entries() -> None:
    import helm_python

    with pytest.raises(helm_python.HelmError) as caught:
        helm_render({"kubeSystem": {"enabled": True}, "excludedNamespaces": ["kube-node-lease"]})
    assert "keep kube-system in excludedNamespaces" in str(caught.value)


def test_helm_refuses_the_kube_system_option_when_installed_in_kube_system() -> None:
    import helm_python

    with (
        helm_python.Chart.load(str(CHART)) as chart,
        pytest.raises(helm_python.HelmError) as caught,
    ):
        chart.render({"kubeSystem": {"enabled": True}}, name="winpod", namespace="kube-system")
    assert "Install it in a namespace of its own" in str(caught.value)


def test_the_notes_say_kube_system_gets_placement_and_warnings_only() -> None:
    import helm_python

    with helm_python.Chart.load(str(CHART)) as chart:
        manifests = chart.render(
            {"kubeSystem": {"enabled": True}}, name="winpod", namespace="winpod"
        )
    notes = manifests["winpod/templates/NOTES.txt"]
    assert "kube-system: placement and warnings only, never a denial" in notes
    assert "Never checked: kube-node-lease, winpod, and namespaces labelled" in notes


def test_the_kube_system_entries_follow_the_timeout_values() -> None:
    docs = helm_render(
        {"kubeSystem": {"enabled": True}, "timeoutSeconds": {"mutating": 2, "validating": 4}}
    )
    for kind, timeout in zip(WEBHOOK_KINDS, (2, 4), strict=True):
        assert [h["timeoutSeconds"] for h in entries(docs, kind)] == [timeout, timeout]


def test_another_release_name_and_namespace_reach_the_kube_system_entries() -> None:
    import helm_python

    with helm_python.Chart.load(str(CHART)) as chart:
        manifests = chart.render(
            {"kubeSystem": {"enabled": True}}, name="policy", namespace="admission"
        )
    docs = load_docs(manifests["winpod/templates/webhooks.yaml"])
    for doc in docs:
        _, kube_system = doc["webhooks"]
        service = kube_system["clientConfig"]["service"]
        assert (service["name"], service["namespace"]) == ("policy-winpod", "admission")
