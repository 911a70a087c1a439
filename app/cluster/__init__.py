"""winpod's view of a live cluster: list+watch caches for the webhook, one-shot reads for the
CLI, and the audit of what already runs. Imports the `kubernetes` client lazily."""

from __future__ import annotations

from ..engine.settings import EngineSettings
from .backoff import Backoff
from .client import ClusterError, make_api_client
from .view import ClusterCacheView, ClusterSnapshotView


def start_cluster_view(
    config: EngineSettings, kubeconfig: str | None = None, in_cluster: bool | None = None
) -> ClusterCacheView:
    """Start the watches (in-cluster service account in a pod, else the kubeconfig) and return
    at once; the view's `ready()` turns true after the first sync. Call `.stop()` to end it.

    Raises ClusterError when the configuration cannot be loaded (not when the apiserver is
    down: that is retried in the background)."""
    make_api_client(kubeconfig, None, in_cluster).close()  # fail now on a broken kubeconfig

    def make_client() -> object:
        return make_api_client(kubeconfig, None, in_cluster)

    return ClusterCacheView(config, make_client).start()


def cluster_view_from_kubeconfig(
    config: EngineSettings, kubeconfig: str | None = None, context: str | None = None
) -> ClusterSnapshotView:
    """List RuntimeClasses and Namespaces and read /version once (no watch). Raises ClusterError."""
    client = make_api_client(kubeconfig, context, in_cluster=False)
    try:
        return ClusterSnapshotView.read(config, client)
    finally:
        client.close()


__all__ = [
    "Backoff",
    "ClusterCacheView",
    "ClusterError",
    "ClusterSnapshotView",
    "cluster_view_from_kubeconfig",
    "start_cluster_view",
]
