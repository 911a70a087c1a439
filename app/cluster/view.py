"""ClusterViews backed by the apiserver: a live one (list+watch caches) and a one-shot snapshot.

The live view's methods only read attributes that the cache threads replace wholesale with new
immutable mappings, so the webhook's request path never waits on a lock or on the network.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from types import MappingProxyType
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ..engine.kubeversion import KubeVersion, parse_version
from ..engine.osinfer import RuntimeClassInfo, runtime_class_index
from ..engine.settings import EngineSettings, NamespacePolicy
from .backoff import Backoff
from .client import ClusterError, describe_error, get_json, list_pages
from .log import log
from .nspolicy import namespace_labels, namespace_policy
from .reflector import Reflector

RUNTIME_CLASSES_PATH = "/apis/node.k8s.io/v1/runtimeclasses"
NAMESPACES_PATH = "/api/v1/namespaces"
VERSION_PATH = "/version"
VERSION_REFRESH_SECONDS = 300.0


def runtime_class_object(obj: dict[str, Any]) -> dict[str, Any] | None:
    """The part of a RuntimeClass the engine reads (list items arrive without `kind`)."""
    meta = obj.get("metadata")
    if not isinstance(meta, dict) or not isinstance(meta.get("name"), str):
        return None
    return {
        "kind": "RuntimeClass",
        "metadata": {"name": meta["name"]},
        "handler": obj.get("handler"),
        "scheduling": obj.get("scheduling"),
    }


def _merged_runtime_classes(
    config: EngineSettings, cluster: Mapping[str, dict[str, Any]]
) -> Mapping[str, RuntimeClassInfo]:
    # The config's list still helps for classes the cluster lacks; the cluster wins on a name.
    index = runtime_class_index(config.runtimeClasses)
    index.update(runtime_class_index(cluster.values()))
    return MappingProxyType(index)


def _policies(
    config: EngineSettings, labels: Mapping[str, Mapping[str, str]]
) -> Mapping[str, NamespacePolicy | None]:
    return MappingProxyType({ns: namespace_policy(config, ns, lab) for ns, lab in labels.items()})


def _parse_version_doc(doc: Any) -> KubeVersion:
    if not isinstance(doc, dict) or not isinstance(doc.get("gitVersion"), str):
        raise ValueError(f"/version answered without gitVersion: {str(doc)[:200]}")
    return parse_version(doc["gitVersion"])


class ClusterCacheView(Collector):
    """The live view: RuntimeClasses and Namespaces kept by list+watch, the version by polling
    /version. Not ready until both caches have listed once and /version has been asked once
    (answered, or failed: then the latest known rules apply, and the log says so), so no review
    is judged by another release's rules for want of waiting; afterwards it keeps answering
    from the last good cache whatever the apiserver does.

    It is also a Prometheus collector (`registry.register(view)`): its metrics are computed at
    scrape time, so staleness keeps growing while nothing in the cache can change."""

    def __init__(
        self,
        config: EngineSettings,
        make_client: Callable[[], Any],
        *,
        backoff: Callable[[], Backoff] = Backoff,
        page_size: int = 500,
        watch_seconds: tuple[int, int] = (300, 600),
        version_refresh: float = VERSION_REFRESH_SECONDS,
    ) -> None:
        self._config = config
        self._make_client = make_client
        self._pinned = parse_version(config.kubernetesVersion) if config.kubernetesVersion else None
        self._runtime_classes: Mapping[str, RuntimeClassInfo] | None = None
        self._policies: Mapping[str, NamespacePolicy | None] | None = None
        self._version: KubeVersion | None = None
        self._version_refresh = version_refresh
        self._backoff = backoff
        self._stop = threading.Event()
        self._version_asked = threading.Event()
        if self._pinned is not None:
            self._version_asked.set()
        self.reflectors = {
            "runtimeclasses": Reflector[dict[str, Any]](
                resource="runtimeclasses",
                path=RUNTIME_CLASSES_PATH,
                make_client=make_client,
                transform=runtime_class_object,
                on_change=self._set_runtime_classes,
                backoff=backoff(),
                page_size=page_size,
                watch_seconds=watch_seconds,
            ),
            "namespaces": Reflector[dict[str, str]](
                resource="namespaces",
                path=NAMESPACES_PATH,
                make_client=make_client,
                transform=namespace_labels,
                on_change=self._set_policies,
                backoff=backoff(),
                page_size=page_size,
                watch_seconds=watch_seconds,
            ),
        }
        self._version_thread: threading.Thread | None = None

    # --- ClusterView -----------------------------------------------------------------------

    def runtime_classes(self) -> Mapping[str, RuntimeClassInfo] | None:
        return self._runtime_classes

    def namespace_policy(self, namespace: str) -> NamespacePolicy | None:
        policies = self._policies
        return None if policies is None else policies.get(namespace)

    def version(self) -> KubeVersion | None:
        return self._pinned or self._version

    def ready(self) -> bool:
        return self._version_asked.is_set() and all(
            r.synced.is_set() for r in self.reflectors.values()
        )

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> ClusterCacheView:
        for reflector in self.reflectors.values():
            reflector.start()
        if self._pinned is None:
            self._version_thread = threading.Thread(
                target=self._poll_version, name="winpod-version", daemon=True
            )
            self._version_thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for reflector in self.reflectors.values():
            reflector.stop()
        if self._version_thread is not None:
            self._version_thread.join(5.0)

    def wait_ready(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        events = [r.synced for r in self.reflectors.values()] + [self._version_asked]
        return all(event.wait(max(0.0, deadline - time.monotonic())) for event in events)

    def staleness(self, resource: str) -> float | None:
        return self.reflectors[resource].staleness()

    def collect(self) -> Iterator[Metric]:
        stale = GaugeMetricFamily(
            "winpod_cluster_cache_staleness_seconds",
            "Seconds since the cache last matched the apiserver (0 while its watch is open; "
            "NaN before the first sync).",
            labels=["resource"],
        )
        size = GaugeMetricFamily(
            "winpod_cluster_cache_objects", "Objects in the cache.", labels=["resource"]
        )
        relists = CounterMetricFamily(
            "winpod_cluster_relists",
            "Full lists, by why: initial, expired (410 Gone), error.",
            labels=["resource", "reason"],
        )
        restarts = CounterMetricFamily(
            "winpod_cluster_watch_restarts",
            "Watches that ended and were reopened, by why: timeout, expired (410 Gone), error.",
            labels=["resource", "reason"],
        )
        for resource, reflector in self.reflectors.items():
            staleness = reflector.staleness()
            stale.add_metric([resource], float("nan") if staleness is None else staleness)
            size.add_metric([resource], reflector.size)
            for reason, count in sorted(reflector.relists.items()):
                relists.add_metric([resource, reason], count)
            for reason, count in sorted(reflector.watch_restarts.items()):
                restarts.add_metric([resource, reason], count)
        ready = GaugeMetricFamily(
            "winpod_cluster_cache_ready",
            "1 once both caches have listed once and /version was asked once.",
            value=1.0 if self.ready() else 0.0,
        )
        version = GaugeMetricFamily(
            "winpod_cluster_version_info",
            "The Kubernetes version rules are chosen for.",
            labels=["version", "source"],
        )
        current = self.version()
        if current is not None:
            version.add_metric([str(current), "config" if self._pinned else "apiserver"], 1.0)
        yield from (stale, size, relists, restarts, ready, version)

    # --- cache callbacks -------------------------------------------------------------------

    def _set_runtime_classes(self, objects: Mapping[str, dict[str, Any]]) -> None:
        self._runtime_classes = _merged_runtime_classes(self._config, objects)

    def _set_policies(self, labels: Mapping[str, dict[str, str]]) -> None:
        self._policies = _policies(self._config, labels)

    def _poll_version(self) -> None:
        client = self._make_client()
        backoff = self._backoff()
        try:
            while not self._stop.is_set():
                try:
                    found = _parse_version_doc(get_json(client, VERSION_PATH))
                except Exception as exc:
                    delay = backoff.next_delay()
                    log(
                        "version-discovery-failed",
                        level="warning",
                        error=describe_error(exc),
                        retry_in_seconds=round(delay, 2),
                        using=str(self._version) if self._version else "the latest known rules",
                    )
                    self._version_asked.set()
                    self._stop.wait(delay)
                    continue
                backoff.reset()
                if found != self._version:
                    log("version-discovered", version=str(found))
                self._version = found
                self._version_asked.set()
                self._stop.wait(self._version_refresh)
        finally:
            client.close()


class ClusterSnapshotView:
    """A one-shot view for `winpod check --cluster` and `winpod audit`: listed once, no watch."""

    def __init__(
        self,
        runtime_classes: Mapping[str, RuntimeClassInfo],
        policies: Mapping[str, NamespacePolicy | None],
        version: KubeVersion | None,
        namespaces: tuple[str, ...],
    ) -> None:
        self._runtime_classes = runtime_classes
        self._policies = policies
        self._version = version
        self.namespaces = namespaces

    def runtime_classes(self) -> Mapping[str, RuntimeClassInfo] | None:
        return self._runtime_classes

    def namespace_policy(self, namespace: str) -> NamespacePolicy | None:
        return self._policies.get(namespace)

    def version(self) -> KubeVersion | None:
        return self._version

    def ready(self) -> bool:
        return True

    @classmethod
    def read(
        cls,
        config: EngineSettings,
        client: Any,
        page_size: int = 500,
        namespaces: list[str] | None = None,
    ) -> ClusterSnapshotView:
        """List RuntimeClasses and read /version once, and either list every Namespace or, when
        `namespaces` is given, get just those (so a user allowed only `get` on a few namespaces
        can still audit them). Raises ClusterError; a namespace that does not exist is left out
        of `.namespaces`."""
        from kubernetes.client import ApiException

        step = "list RuntimeClasses"
        try:
            classes: dict[str, dict[str, Any]] = {}
            for page in list_pages(client, RUNTIME_CLASSES_PATH, page_size=page_size):
                for obj in page:
                    rc = runtime_class_object(obj)
                    if rc is not None:
                        classes[rc["metadata"]["name"]] = rc
            labels: dict[str, dict[str, str]] = {}
            if namespaces is None:
                step = "list Namespaces"
                for page in list_pages(client, NAMESPACES_PATH, page_size=page_size):
                    for obj in page:
                        found = namespace_labels(obj)
                        name = (obj.get("metadata") or {}).get("name")
                        if found is not None and isinstance(name, str):
                            labels[name] = found
            for wanted in namespaces or ():
                step = f"get Namespace {wanted}"
                try:
                    found = namespace_labels(get_json(client, f"{NAMESPACES_PATH}/{wanted}"))
                except ApiException as exc:
                    if exc.status != 404:
                        raise
                    continue
                if found is not None:
                    labels[wanted] = found
            step = "read /version"
            if config.kubernetesVersion:
                version = parse_version(config.kubernetesVersion)
            else:
                version = _parse_version_doc(get_json(client, VERSION_PATH))
        except ClusterError:
            raise
        except Exception as exc:
            raise ClusterError(f"cannot {step}: {describe_error(exc)}") from exc
        return cls(
            _merged_runtime_classes(config, classes),
            _policies(config, labels),
            version,
            tuple(sorted(labels)),
        )
