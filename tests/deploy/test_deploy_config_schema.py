"""The chart's values schema holds the config model's: Helm refuses a bad `config:` at install
time, before any object reaches the cluster, and accepts every config the model accepts.

All through the real Helm engine (helm-python-sdk): its `--set` and `-f` parsers, its schema
validator, `helm template` and `helm install --dry-run=client`. Each refusal is checked against
the model too, so the two never disagree on these cases.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from deploy_render import (
    CHART,
    DEPLOY,
    REPO,
    config_text_of,
    helm_install_refusal,
    helm_render,
)
from pydantic import ValidationError
from winpod.config import Config, load_config

pytestmark = pytest.mark.usefixtures("helm_available")

BAD_ACTION = (
    "at '/config/rules/windows-subpath': value must be one of 'deny', 'warn', 'audit', 'off', false"
)


def values_file(config_text: str) -> dict[str, Any]:
    """What `helm install -f values.yaml` reads when values.yaml is `config:` + this config."""
    import helm_python

    indented = "".join(f"  {line}\n" for line in config_text.splitlines())
    return helm_python.values_from_yaml(f"config:\n{indented}")


def helm_refusal(values: dict[str, Any]) -> str:
    import helm_python

    with pytest.raises(helm_python.HelmValuesError) as caught:
        helm_render(values)
    return str(caught.value)


def readme_config() -> str:
    """The README's annotated example config (section "Configuration")."""
    blocks = re.findall(r"```yaml\n(.*?)```", (REPO / "README.md").read_text(), re.S)
    (example,) = [str(b) for b in blocks if b.startswith("kubernetesVersion:")]
    return example


def test_helm_template_refuses_an_unknown_rule_action_given_with_set() -> None:
    import helm_python

    values = helm_python.parse_set_string("config.rules.windows-subpath=block")
    message = helm_refusal(values)
    assert "values don't meet the specifications of the schema(s)" in message
    assert BAD_ACTION in message


def test_helm_install_refuses_an_unknown_rule_action_before_creating_anything() -> None:
    refusal, manifest = helm_install_refusal(values_file("rules: {windows-subpath: block}"))
    assert BAD_ACTION in refusal
    assert "kind: ValidatingWebhookConfiguration" in manifest


@pytest.mark.parametrize(
    ("config_text", "complaint"),
    [
        ("rulez: {}", "at '/config': additional properties 'rulez' not allowed"),
        ("rules: {windows-subpath: block}", BAD_ACTION),
        ("maxAction: off", "at '/config/maxAction'"),  # YAML 1.1: off is false, never an action
        ("namespaces: {legacy: {maxAction: never}}", "at '/config/namespaces/legacy/maxAction'"),
        ("namespaces: {legacy: {defaultOs: linux}}", "additional properties 'defaultOs'"),
        ("windowsTaints: [{key: os, effect: Never}]", "at '/config/windowsTaints/0/effect'"),
        ("windowsTaints: [{value: windows}]", "missing property 'key'"),
        ("mutation: {windowsDropLinuxFeilds: true}", "at '/config/mutation'"),
        ("webhook: {maxBodyBytes: 10}", "at '/config/webhook/maxBodyBytes'"),
        ("webhook: {logLevel: verbose}", "at '/config/webhook/logLevel'"),
        ("profile: strict", "at '/config/profile'"),
        ("mixedCluster: sometimes", "at '/config/mixedCluster'"),
        (
            "featureGates: {UserNamespacesSupport: enabled}",
            "at '/config/featureGates/UserNamespacesSupport'",
        ),
        ("kubernetesVersion: 1.30", "at '/config/kubernetesVersion'"),  # a float, 1.3
        ("defaultOS: macos", "at '/config/defaultOS'"),
    ],
)
def test_helm_refuses_a_config_the_model_refuses_naming_the_key(
    config_text: str, complaint: str
) -> None:
    values = values_file(config_text)
    assert complaint in helm_refusal(values)
    with pytest.raises(ValidationError):
        Config.model_validate(values["config"])


ACCEPTED = {
    "new-keys": (
        "profile: apiserver\nmixedCluster: true\nfeatureGates: {UserNamespacesSupport: true}\n"
        "mutation: {windowsDropLinuxFields: true}"
    ),
    "every-action-and-an-unquoted-off": (
        "rules: {windows-subpath: deny, windows-memory-limits: warn, a: audit, b: off, c: 'off'}"
    ),
    "namespaces-and-taints": (
        "namespaces: {legacy: {maxAction: audit, defaultOS: windows, rules: {x: off}}}\n"
        "windowsTaints: [{key: os, value: windows, effect: NoExecute}, {key: sku}]"
    ),
    "a-quoted-version": 'kubernetesVersion: "1.30"',
}


DEPLOY_CONFIGS = (
    "base/config.yaml",
    "components/warn-only/config.yaml",
    "addons/audit-cronjob/config.yaml",
)


@pytest.mark.parametrize(
    "config_text",
    [
        *[pytest.param(text, id=name) for name, text in ACCEPTED.items()],
        pytest.param(readme_config(), id="readme-example"),
        *[pytest.param((DEPLOY / p).read_text(), id=p) for p in DEPLOY_CONFIGS],
    ],
)
def test_helm_renders_a_config_the_model_accepts_into_a_file_the_server_loads(
    config_text: str, tmp_path: Path
) -> None:
    import helm_python

    values = values_file(config_text)
    given = Config.model_validate(values["config"])
    path = tmp_path / "config.yaml"
    path.write_text(config_text_of(helm_render(values)))
    loaded = load_config(path)
    with helm_python.Chart.load(str(CHART)) as chart:
        assert loaded == Config.model_validate(chart.merge_values(values)["config"])
    for key in values["config"]:
        assert getattr(loaded, key) == getattr(given, key), key


def test_set_flags_for_the_new_keys_pass_the_schema() -> None:
    import helm_python

    values = helm_python.parse_set_string(
        "config.profile=apiserver,config.mixedCluster=true,"
        "config.featureGates.UserNamespacesSupport=true,"
        "config.mutation.windowsDropLinuxFields=true,config.kubernetesVersion=1.30"
    )
    config = Config.model_validate(yaml.safe_load(config_text_of(helm_render(values))))
    assert (config.profile, config.mixedCluster, config.kubernetesVersion) == (
        "apiserver",
        True,
        "1.30",
    )
    assert config.featureGates == {"UserNamespacesSupport": True}
    assert config.mutation.windowsDropLinuxFields is True
