"""What the engine may know about the cluster beyond the object under review.

The webhook and `winpod check --cluster` read these through a ClusterView. The static view
answers from the config file alone; a cluster-backed view (list+watch caches) answers from
memory, never from the API on the request path.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from .engine.kubeversion import KubeVersion
from .engine.osinfer import RuntimeClassInfo, runtime_class_index
from .engine.settings import EngineSettings, NamespacePolicy


class ClusterView(Protocol):
    def runtime_classes(self) -> Mapping[str, RuntimeClassInfo] | None:
        """RuntimeClasses by name, or None to use the config's."""

    def namespace_policy(self, namespace: str) -> NamespacePolicy | None:
        """The policy for a namespace from its labels, or None to use the config's."""

    def version(self) -> KubeVersion | None:
        """The cluster's version, or None to use the config's (or the latest known)."""

    def ready(self) -> bool:
        """False until the first sync; the webhook's /readyz reports it."""


class StaticClusterView:
    """Everything from the config file."""

    def __init__(self, config: EngineSettings) -> None:
        self._runtime_classes = runtime_class_index(config.runtimeClasses)

    def runtime_classes(self) -> Mapping[str, RuntimeClassInfo] | None:
        return self._runtime_classes

    def namespace_policy(self, namespace: str) -> NamespacePolicy | None:
        return None

    def version(self) -> KubeVersion | None:
        return None

    def ready(self) -> bool:
        return True
