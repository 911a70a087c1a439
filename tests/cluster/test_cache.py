"""The live view's list+watch caches against the stand-in apiserver (tests/cluster/standin.py):
first sync, watch events, 410 Gone, dropped connections, an apiserver that goes away."""

from __future__ import annotations

import copy
import time
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from winpod.cluster import ClusterError, cluster_view_from_kubeconfig, start_cluster_view
from winpod.cluster.view import ClusterCacheView
from winpod.config import Config, NamespacePolicy
from winpod.engine.kubeversion import KubeVersion

from tests.cluster.conftest import WINDOWS_RUNTIME_CLASS, ViewFactory, eventually, log_records
from tests.cluster.standin import StandinAPIServer


def metric(view: ClusterCacheView, name: str, **labels: str) -> float:
    """A sample as /metrics would show it once the webhook registers the view."""
    registry = CollectorRegistry()
    registry.register(view)
    return registry.get_sample_value(name, labels) or 0.0


def linux_class(name: str) -> dict[str, object]:
    return {
        "metadata": {"name": name},
        "handler": "runc",
        "scheduling": {"nodeSelector": {"kubernetes.io/os": "linux"}},
    }


def test_the_view_is_ready_after_the_first_list_of_both_resources(
    apiserver: StandinAPIServer, start_view: ViewFactory
) -> None:
    apiserver.put("runtimeclasses", WINDOWS_RUNTIME_CLASS)
    apiserver.put("namespaces", {"metadata": {"name": "shop"}})
    view = start_view()
    assert view.ready()
    classes = view.runtime_classes()
    assert classes is not None
    assert classes["windows-2022"].node_selector["kubernetes.io/os"] == "windows"
    assert classes["windows-2022"].tolerations[0]["value"] == "windows"
    listed = apiserver.requests_to("/apis/node.k8s.io/v1/runtimeclasses")
    assert listed[0]["limit"] == "500" and "watch" not in listed[0]
    watches = eventually(
        lambda: [
            q
            for q in apiserver.requests_to("/apis/node.k8s.io/v1/runtimeclasses")
            if q.get("watch") == "true"
        ],
        what="a watch",
    )
    assert watches[0]["allowWatchBookmarks"] == "true"
    assert int(watches[0]["resourceVersion"]) >= 102


def test_the_view_is_not_ready_and_answers_nothing_while_the_apiserver_was_never_reached(
    apiserver: StandinAPIServer, start_view: ViewFactory
) -> None:
    apiserver.put("runtimeclasses", WINDOWS_RUNTIME_CLASS)
    apiserver.stop()
    view = start_view(wait=False)
    time.sleep(0.3)
    assert not view.ready()
    assert view.runtime_classes() is None  # the engine falls back to the config's
    assert view.namespace_policy("shop") is None
    assert view.staleness("runtimeclasses") is None
    apiserver.start()
    eventually(view.ready, what="ready once the apiserver answers")
    assert "windows-2022" in (view.runtime_classes() or {})


def test_a_runtime_class_added_modified_and_deleted_reaches_the_cache_through_the_watch(
    apiserver: StandinAPIServer, start_view: ViewFactory
) -> None:
    view = start_view()
    assert view.runtime_classes() == {}
    apiserver.put("runtimeclasses", WINDOWS_RUNTIME_CLASS)
    eventually(lambda: "windows-2022" in (view.runtime_classes() or {}), what="ADDED")
    changed = copy.deepcopy(WINDOWS_RUNTIME_CLASS)
    changed["scheduling"]["nodeSelector"] = {"kubernetes.io/os": "linux"}  # type: ignore[index]
    apiserver.put("runtimeclasses", changed)
    eventually(
        lambda: (
            (view.runtime_classes() or {})["windows-2022"].node_selector
            == {"kubernetes.io/os": "linux"}
        ),
        what="MODIFIED",
    )
    apiserver.delete("runtimeclasses", "windows-2022")
    eventually(lambda: view.runtime_classes() == {}, what="DELETED")


def test_bookmarks_advance_the_resource_version_the_next_watch_starts_from(
    apiserver: StandinAPIServer, start_view: ViewFactory
) -> None:
    view = start_view()
    apiserver.put("namespaces", {"metadata": {"name": "other-resource-moves-rv"}})
    eventually(
        lambda: (
            view.namespace_policy("other-resource-moves-rv") is None
            and "other-resource-moves-rv" in (view._policies or {})
        ),
        what="namespace",
    )
    time.sleep(0.3)  # a bookmark (every 0.1 s) carries the newer resourceVersion
    apiserver.drop_connections()

    def rewatched_from_newer_rv() -> bool:
        watches = [
            q
            for q in apiserver.requests_to("/apis/node.k8s.io/v1/runtimeclasses")
            if q.get("watch") == "true"
        ]
        return len(watches) >= 2 and int(watches[-1]["resourceVersion"]) > int(
            watches[0]["resourceVersion"]
        )

    eventually(rewatched_from_newer_rv, what="rewatch from the bookmark's resourceVersion")


def test_a_410_error_event_makes_the_cache_relist_and_recover(
    apiserver: StandinAPIServer, start_view: ViewFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    apiserver.put("runtimeclasses", linux_class("runc"))
    view = start_view()

    def expired_relists() -> float:
        return metric(
            view, "winpod_cluster_relists_total", resource="runtimeclasses", reason="expired"
        )

    assert expired_relists() == 0
    apiserver.send_watch_expired()
    apiserver.put("runtimeclasses", WINDOWS_RUNTIME_CLASS)  # lands after the compaction
    eventually(lambda: expired_relists() == 1, what="relist")
    eventually(
        lambda: {"runc", "windows-2022"} <= set(view.runtime_classes() or {}), what="recovery"
    )
    assert view.ready()
    events = [
        r["event"]
        for r in log_records(capsys.readouterr().err)
        if r.get("resource") == "runtimeclasses"
    ]
    assert "watch-expired" in events
    assert events[events.index("watch-expired") :].count("listed") >= 1


def test_a_410_status_on_rewatch_makes_the_cache_relist(
    apiserver: StandinAPIServer, start_view: ViewFactory
) -> None:
    apiserver.gone_as_status = True
    apiserver.put("runtimeclasses", linux_class("runc"))
    view = start_view()
    before = view.reflectors["runtimeclasses"].relists["expired"]
    apiserver.stop()
    apiserver.put("runtimeclasses", WINDOWS_RUNTIME_CLASS)  # history moves on while we are away
    apiserver.compact()
    apiserver.start()  # the rewatch from the old resourceVersion gets HTTP 410
    eventually(
        lambda: view.reflectors["runtimeclasses"].relists["expired"] >= before + 1, what="relist"
    )
    eventually(lambda: "windows-2022" in (view.runtime_classes() or {}), what="recovery")


def test_a_dropped_connection_reconnects_and_resumes_without_a_relist(
    apiserver: StandinAPIServer, start_view: ViewFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    apiserver.put("runtimeclasses", linux_class("runc"))
    view = start_view()
    relisted = sum(view.reflectors["runtimeclasses"].relists[r] for r in ("expired", "error"))
    errors = view.reflectors["runtimeclasses"].watch_restarts["error"]
    served_during_gap = []
    apiserver.drop_connections()
    apiserver.put("runtimeclasses", WINDOWS_RUNTIME_CLASS)  # while nobody is watching
    served_during_gap.append(sorted(view.runtime_classes() or {}))
    eventually(lambda: "windows-2022" in (view.runtime_classes() or {}), what="resumed watch")
    assert view.reflectors["runtimeclasses"].watch_restarts["error"] >= errors + 1
    assert (
        sum(view.reflectors["runtimeclasses"].relists[r] for r in ("expired", "error")) == relisted
    )
    assert served_during_gap == [["runc"]]  # the last good cache, never empty
    assert view.ready()
    records = [
        r for r in log_records(capsys.readouterr().err) if r.get("resource") == "runtimeclasses"
    ]
    unreachable = [r for r in records if r["event"] == "cluster-unreachable"]
    assert unreachable and unreachable[0]["serving"] == "last good cache"
    assert 0 < unreachable[0]["retry_in_seconds"] <= 0.4


def test_an_unreachable_apiserver_leaves_the_last_good_cache_served_and_staleness_growing(
    apiserver: StandinAPIServer, start_view: ViewFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    apiserver.put("runtimeclasses", WINDOWS_RUNTIME_CLASS)
    apiserver.put(
        "namespaces", {"metadata": {"name": "win", "labels": {"winpod.io/default-os": "windows"}}}
    )
    view = start_view()
    assert metric(view, "winpod_cluster_cache_staleness_seconds", resource="runtimeclasses") == 0.0
    apiserver.stop()
    eventually(lambda: (view.staleness("runtimeclasses") or 0) > 0.3, what="staleness")
    first = metric(view, "winpod_cluster_cache_staleness_seconds", resource="runtimeclasses")
    time.sleep(0.5)
    second = metric(view, "winpod_cluster_cache_staleness_seconds", resource="runtimeclasses")
    assert 0.3 < first < second
    assert view.ready()
    assert "windows-2022" in (view.runtime_classes() or {})
    assert view.namespace_policy("win") == NamespacePolicy(defaultOS="windows")

    records = [
        r for r in log_records(capsys.readouterr().err) if r.get("resource") == "runtimeclasses"
    ]
    assert any(r["event"] == "cache-stale" for r in records)
    delays = [r["retry_in_seconds"] for r in records if r["event"] == "cluster-unreachable"]
    assert len(delays) >= 3 and max(delays) <= 0.4 and delays[-1] > delays[0]  # backoff, capped

    apiserver.start()
    apiserver.put("runtimeclasses", linux_class("runc"))
    eventually(lambda: "runc" in (view.runtime_classes() or {}), what="recovery after restart")
    eventually(lambda: view.staleness("runtimeclasses") == 0.0, what="fresh again")
    assert any(r["event"] == "cluster-reachable" for r in log_records(capsys.readouterr().err))


def test_an_expired_continue_token_during_the_initial_list_is_retried_from_scratch(
    apiserver: StandinAPIServer, start_view: ViewFactory
) -> None:
    apiserver.put_many("namespaces", [{"metadata": {"name": f"ns-{i:03}"}} for i in range(30)])
    apiserver.expire_next_continue = True
    view = start_view(page_size=10)
    assert len(view._policies or {}) == 30
    pages = apiserver.requests_to("/api/v1/namespaces")
    assert [q.get("continue") is not None for q in pages if q.get("watch") != "true"][:2] == [
        False,
        True,
    ]


def test_namespace_labels_set_the_namespace_policy_over_the_config_entry(
    apiserver: StandinAPIServer, start_view: ViewFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    config = Config.model_validate(
        {
            "namespaces": {
                "shop": {"maxAction": "audit", "rules": {"windows-memory-limits": "off"}},
                "plain": {"defaultOS": "linux"},
            }
        }
    )
    apiserver.put(
        "namespaces",
        {
            "metadata": {
                "name": "shop",
                "labels": {
                    "winpod.io/default-os": "windows",
                    "winpod.io/max-action": "warn",
                    "team": "x",
                },
            }
        },
    )
    apiserver.put("namespaces", {"metadata": {"name": "plain"}})
    apiserver.put(
        "namespaces", {"metadata": {"name": "typo", "labels": {"winpod.io/default-os": "Windows"}}}
    )
    view = start_view(config)
    assert view.namespace_policy("shop") == NamespacePolicy(
        defaultOS="windows", maxAction="warn", rules={"windows-memory-limits": "off"}
    )
    assert view.namespace_policy("plain") == NamespacePolicy(defaultOS="linux")
    assert view.namespace_policy("typo") is None  # invalid value ignored
    assert view.namespace_policy("absent") is None

    apiserver.put(
        "namespaces", {"metadata": {"name": "plain", "labels": {"winpod.io/max-action": "deny"}}}
    )
    eventually(
        lambda: (
            view.namespace_policy("plain") == NamespacePolicy(defaultOS="linux", maxAction="deny")
        ),
        what="label change via watch",
    )
    apiserver.put(
        "namespaces",
        {"metadata": {"name": "typo", "labels": {"winpod.io/default-os": "Windows", "a": "b"}}},
    )
    eventually(lambda: "typo" in (view._policies or {}), what="typo namespace")
    time.sleep(0.2)
    invalid = [
        r for r in log_records(capsys.readouterr().err) if r["event"] == "invalid-namespace-label"
    ]
    assert [(r["namespace"], r["value"]) for r in invalid] == [("typo", "Windows")]  # logged once


def test_the_version_comes_from_the_apiserver_unless_the_config_pins_it(
    apiserver: StandinAPIServer, start_view: ViewFactory
) -> None:
    view = start_view()
    assert eventually(view.version, what="version") == KubeVersion(1, 30)
    pinned = start_view(Config(kubernetesVersion="1.28"))
    assert pinned.version() == KubeVersion(1, 28)


def test_stop_ends_the_cache_threads_promptly(
    apiserver: StandinAPIServer, start_view: ViewFactory
) -> None:
    view = start_view()
    started = time.monotonic()
    view.stop()
    assert time.monotonic() - started < 3
    assert not any(r._thread and r._thread.is_alive() for r in view.reflectors.values())


def test_start_cluster_view_watches_the_kubeconfigs_cluster_until_stopped(
    apiserver: StandinAPIServer, kubeconfig: Path
) -> None:
    apiserver.put("runtimeclasses", WINDOWS_RUNTIME_CLASS)
    view = start_cluster_view(Config(), str(kubeconfig))
    try:
        eventually(view.ready, what="ready")
        assert "windows-2022" in (view.runtime_classes() or {})
    finally:
        view.stop()


def test_start_cluster_view_fails_at_once_on_a_kubeconfig_that_cannot_be_loaded(
    tmp_path: Path,
) -> None:
    with pytest.raises(ClusterError, match="cannot load the cluster configuration"):
        start_cluster_view(Config(), str(tmp_path / "missing"))


def test_the_one_shot_view_lists_once_and_never_watches(
    apiserver: StandinAPIServer, kubeconfig: Path
) -> None:
    apiserver.put("runtimeclasses", WINDOWS_RUNTIME_CLASS)
    apiserver.put(
        "namespaces", {"metadata": {"name": "win", "labels": {"winpod.io/default-os": "windows"}}}
    )
    view = cluster_view_from_kubeconfig(Config(), str(kubeconfig), context="standin")
    assert view.ready()
    assert set(view.runtime_classes() or {}) == {"windows-2022"}
    assert view.namespace_policy("win") == NamespacePolicy(defaultOS="windows")
    assert view.version() == KubeVersion(1, 30)
    assert not [q for _, _, q in apiserver.requests if q.get("watch")]


def test_the_one_shot_view_names_the_call_that_failed(
    apiserver: StandinAPIServer, kubeconfig: Path
) -> None:
    apiserver.token = "rotated"  # our kubeconfig's token is no longer accepted
    with pytest.raises(ClusterError, match=r"cannot list RuntimeClasses: HTTP 401"):
        cluster_view_from_kubeconfig(Config(), str(kubeconfig))
    with pytest.raises(ClusterError, match="context"):
        cluster_view_from_kubeconfig(Config(), str(kubeconfig), context="nope")


def test_the_view_exports_its_metrics_to_the_registry_it_is_registered_in(
    apiserver: StandinAPIServer, start_view: ViewFactory
) -> None:
    from prometheus_client import generate_latest

    apiserver.put("runtimeclasses", WINDOWS_RUNTIME_CLASS)
    view = start_view()
    eventually(view.version, what="version")
    registry = CollectorRegistry()
    registry.register(view)
    text = generate_latest(registry).decode()
    assert 'winpod_cluster_cache_objects{resource="runtimeclasses"} 1.0' in text
    assert 'winpod_cluster_relists_total{reason="initial",resource="namespaces"} 1.0' in text
    assert 'winpod_cluster_cache_staleness_seconds{resource="namespaces"} 0.0' in text
    assert "winpod_cluster_cache_ready 1.0" in text
    assert 'winpod_cluster_version_info{source="apiserver",version="1.30"} 1.0' in text


def test_in_cluster_mode_outside_a_pod_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(ClusterError, match="in-cluster service account: cannot load"):
        start_cluster_view(Config(), in_cluster=True)


def test_once_ready_the_view_already_has_the_clusters_version(
    apiserver: StandinAPIServer, start_view: ViewFactory
) -> None:
    # Ready also waits for the first /version answer: no review is judged by the latest
    # release's rules while the cluster's are a moment away.
    for _ in range(20):
        view = start_view(wait=False)
        deadline = time.monotonic() + 10
        while not view.ready() and time.monotonic() < deadline:
            time.sleep(0.0005)  # look often: the first moment it is ready is the one to test
        assert view.version() == KubeVersion(1, 30)
        view.stop()


def test_a_version_that_cannot_be_read_does_not_keep_the_view_from_being_ready(
    apiserver: StandinAPIServer, start_view: ViewFactory
) -> None:
    apiserver.git_version = "not-a-version"
    view = start_view()
    assert view.ready()
    assert view.version() is None  # the engine's default: the latest known rules
