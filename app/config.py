"""The one configuration file, shared by `winpod check`, `winpod serve` and `winpod mutate`.

Strict: an unknown key anywhere is an error, so a typo never silently turns a rule off.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)

from .engine.kubeversion import parse_version


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


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Taint(_Strict):
    key: str = Field(min_length=1)
    value: str | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] = "NoSchedule"


class NamespacePolicy(_Strict):
    """Overrides for one namespace (also settable by namespace labels, see the README)."""

    defaultOS: DefaultOS | None = None
    maxAction: Literal["deny", "warn", "audit"] | None = None
    rules: dict[str, ActionSetting] = Field(default_factory=dict)


class MutationSettings(_Strict):
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


class WebhookSettings(_Strict):
    maxBodyBytes: int = Field(default=3 * 1024 * 1024, ge=1024)
    # Go's http.Transport keeps idle connections for 90 s; stay open longer than that.
    keepAliveSeconds: int = Field(default=120, ge=1)
    logLevel: Literal["debug", "info", "warning", "error"] = "info"


class Config(_Strict):
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
    webhook: WebhookSettings = Field(default_factory=WebhookSettings)

    @field_validator("kubernetesVersion")
    @classmethod
    def _version_parses(cls, value: str | None) -> str | None:
        if value is not None:
            parse_version(value)
        return value


class ConfigError(Exception):
    """A config file that cannot be used; the message names the file and the key."""


def load_config(path: str | Path | None) -> Config:
    if path is None:
        return Config()
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{source}: cannot read config: {exc.strerror}") from exc
    try:
        data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML: {exc}") from exc
    if data is None:
        return Config()
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the config must be a mapping, got {type(data).__name__}")
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{source}: {_describe(exc)}") from exc


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)
