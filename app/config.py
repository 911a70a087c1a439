"""The one configuration file, shared by `winpod check`, `winpod serve` and `winpod mutate`.

Strict: an unknown key anywhere is an error, so a typo never silently turns a rule off. The
engine's settings (and its types: actions, namespace policy, taints) live in the engine
(winpod.engine.settings); this layer adds the server's and reads the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import Field, ValidationError

from .engine.settings import (
    ACTION_RANK,
    Action,
    ActionSetting,
    DefaultOS,
    EngineSettings,
    MutationSettings,
    NamespacePolicy,
    OSName,
    StrictModel,
    Taint,
)
from .engine.text import describe_validation

__all__ = [
    "ACTION_RANK",
    "Action",
    "ActionSetting",
    "Config",
    "ConfigError",
    "DefaultOS",
    "MutationSettings",
    "NamespacePolicy",
    "OSName",
    "Taint",
    "WebhookSettings",
    "load_config",
]


class WebhookSettings(StrictModel):
    maxBodyBytes: int = Field(default=3 * 1024 * 1024, ge=1024)
    # Go's http.Transport keeps idle connections for 90 s; stay open longer than that.
    keepAliveSeconds: int = Field(default=120, ge=1)
    # A request must arrive whole this soon after its first byte (a new connection: after the
    # TLS handshake); the apiserver's own webhook timeout is 10 s by default, at most 30 s.
    readTimeoutSeconds: float = Field(default=10, gt=0, le=300)
    # Open connections at most; over it the longest-waiting unserved one is closed.
    maxConnections: int = Field(default=1000, ge=1)
    maxHeadBytes: int = Field(default=65536, ge=1024)
    # Request bodies still arriving, summed over all connections (each at most maxBodyBytes).
    maxBufferedBytes: int = Field(default=64 * 1024 * 1024, ge=1024 * 1024)
    logLevel: Literal["debug", "info", "warning", "error"] = "info"


class Config(EngineSettings):
    webhook: WebhookSettings = Field(default_factory=WebhookSettings)


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
        raise ConfigError(f"{source}: {describe_validation(exc)}") from exc
