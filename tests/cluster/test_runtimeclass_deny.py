"""The reason for the cache: a workload template that reaches Windows only through its
RuntimeClass looks OS-less to the engine unless the cluster's RuntimeClasses are known."""

from __future__ import annotations

from winpod.engine.evaluate import Engine

from tests.cluster.conftest import WINDOWS_RUNTIME_CLASS, ViewFactory, eventually
from tests.cluster.standin import StandinAPIServer
from tests.cluster.workloads import deployment

PRIVILEGED_ON_WINDOWS_RUNTIME = deployment(
    "shop", "web", runtime_class="windows-2022", privileged=True
)


def test_a_deployment_naming_a_windows_runtime_class_is_denied_with_the_cluster_views_classes(
    apiserver: StandinAPIServer, start_view: ViewFactory
) -> None:
    apiserver.put("runtimeclasses", WINDOWS_RUNTIME_CLASS)
    view = start_view()
    engine = Engine()
    verdict = engine.evaluate(
        PRIVILEGED_ON_WINDOWS_RUNTIME,
        runtime_classes=view.runtime_classes(),
        version=view.version(),
    )
    assert verdict.denied
    assert verdict.os is not None and verdict.os.os == "windows"
    assert "RuntimeClass windows-2022" in verdict.os.summary()
    assert [(f.rule, f.action.value, f.path) for f in verdict.findings if f.blocks] == [
        (
            "windows-privileged",
            "deny",
            "spec.template.spec.containers[0].securityContext.privileged",
        )
    ]


def test_without_the_cluster_the_same_deployment_is_os_less_and_admitted(
    apiserver: StandinAPIServer, start_view: ViewFactory
) -> None:
    view = start_view()  # a cluster without that RuntimeClass
    verdict = Engine().evaluate(
        PRIVILEGED_ON_WINDOWS_RUNTIME, runtime_classes=view.runtime_classes()
    )
    assert not verdict.denied
    assert verdict.os is not None and verdict.os.os == "unknown"


def test_a_runtime_class_created_later_reaches_the_verdict_through_the_watch(
    apiserver: StandinAPIServer, start_view: ViewFactory
) -> None:
    view = start_view()
    engine = Engine()
    assert not engine.evaluate(
        PRIVILEGED_ON_WINDOWS_RUNTIME, runtime_classes=view.runtime_classes()
    ).denied
    apiserver.put("runtimeclasses", WINDOWS_RUNTIME_CLASS)
    eventually(
        lambda: (
            engine.evaluate(
                PRIVILEGED_ON_WINDOWS_RUNTIME, runtime_classes=view.runtime_classes()
            ).denied
        ),
        what="deny once the RuntimeClass is cached",
    )
