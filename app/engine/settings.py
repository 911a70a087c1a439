"""The engine's own domain types: actions, namespace policy, the Windows taints, what mutation
injects, and the settings an Engine is built from. The config layer (winpod.config) builds its
file model on these; the engine never imports it.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from .kubeversion import parse_version


class Action(StrEnum):
    """What a finding does. Ordered from strongest to weakest."""

    DENY = "deny"
    WARN = "warn"
    AUDIT = "audit"


ACTION_RANK = {Action.DENY: 3, Action.WARN: 2, Action.AUDIT: 1}


def _yaml_off(value: Any) -> Any:
    # YAML 1.1 reads an unquoted `off` as false; a user who wrote `off` meant the action.
    return "off" if value is False else value


ActionSetting = Annotated[Literal["deny", "warn", "audit", "off"], BeforeValidator(_yaml_off)]
OSName = Literal["windows", "linux"]
DefaultOS = Literal["windows", "linux", "unknown"]


class StrictModel(BaseModel):
    """Unknown keys are errors; values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Taint(StrictModel):
    key: str = Field(min_length=1)
    value: str | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] = "NoSchedule"


class NamespacePolicy(StrictModel):
    """Overrides for one namespace (also settable by namespace labels, see the README)."""

    defaultOS: DefaultOS | None = None
    maxAction: Literal["deny", "warn", "audit"] | None = None
    rules: dict[str, ActionSetting] = Field(default_factory=dict)


class MutationSettings(StrictModel):
    """What `/mutate` and `winpod mutate` inject; each switch is independent."""

    windowsNodeSelector: bool = True
    windowsTolerations: bool = True
    windowsOSName: bool = True
    windowsBuildSelector: bool = True
    linuxNodeSelector: bool = True
    linuxOSName: bool = False
    # Stamp spec.os.name windows on Windows pods and remove the Linux-only fields Windows
    # ignores (seccompProfile, capabilities, allowPrivilegeEscalation, runAsUser, ...), which the
    # apiserver then rejects: charts written for restricted Linux namespaces admit on Windows,
    # and Pod Security exempts the pod from those controls because spec.os.name says windows.
    windowsDropLinuxFields: bool = False


class EngineSettings(StrictModel):
    """What the engine is told: the config file's settings, less the server's (winpod.config
    adds those and the file loader on top)."""

    kubernetesVersion: str | None = None
    # default: deny what cannot work. apiserver: also deny, on every pod placed on an OS, each
    # field the apiserver rejects once spec.os.name names that OS (and /mutate always stamps it).
    profile: Literal["default", "apiserver"] = "default"
    # The cluster has Linux and Windows nodes: /mutate pins Linux-only pods that tolerate the
    # Windows taint (or every taint) and say nothing of their OS to Linux nodes.
    mixedCluster: bool = False
    # The cluster's kube-apiserver --feature-gates, where they differ from the release's
    # defaults (only the gates of the fields winpod judges matter; others are refused).
    featureGates: dict[str, bool] = Field(default_factory=dict)
    defaultOS: DefaultOS = "unknown"
    maxAction: Literal["deny", "warn", "audit"] | None = None
    rules: dict[str, ActionSetting] = Field(default_factory=dict)
    windowsTaints: list[Taint] = Field(
        default_factory=lambda: [Taint(key="os", value="windows", effect="NoSchedule")]
    )
    windowsImages: list[str] = Field(default_factory=list)
    linuxImages: list[str] = Field(default_factory=list)
    namespaces: dict[str, NamespacePolicy] = Field(default_factory=dict)
    exemptAnnotation: str = "winpod.io/exempt"
    exemptReasonAnnotation: str = "winpod.io/exempt-reason"
    runtimeClasses: list[dict[str, Any]] = Field(default_factory=list)
    mutation: MutationSettings = Field(default_factory=MutationSettings)

    @field_validator("kubernetesVersion")
    @classmethod
    def _version_parses(cls, value: str | None) -> str | None:
        if value is not None:
            parse_version(value)
        return value
