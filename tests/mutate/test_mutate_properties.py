"""Property tests over random pod specs: the patch always applies (with the independent jsonpatch
library), never overwrites, keeps valid pods valid, and a second pass is always empty."""

from __future__ import annotations

import copy
import functools
from typing import Any

import jsonpointer
import kubernetes_validate
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from winpod.engine.evaluate import Engine
from winpod.engine.mutate import mutate_object, mutate_pod
from winpod.engine.osinfer import RuntimeClassInfo, runtime_class_index

from .pods import (
    IIS,
    NANO_2019,
    NANO_UNTAGGED,
    NGINX,
    PAUSE,
    SCHEMA_VERSION,
    SERVERCORE_2022,
    applied,
    engine,
)

EXAMPLES = 1500  # cheap: ~2 ms each
SCHEMA_EXAMPLES = 300  # each validates two objects against the OpenAPI schema (~30 ms)

IMAGES = [
    IIS,
    NANO_2019,
    NANO_UNTAGGED,
    SERVERCORE_2022,
    NGINX,
    PAUSE,
    "alpine:3.20",
    "mcr.microsoft.com/windows/nanoserver:1809",
    "example.com/app:ltsc2022",
]
LABELS = [
    "kubernetes.io/os",
    "beta.kubernetes.io/os",
    "node.kubernetes.io/windows-build",
    "kubernetes.azure.com/os-sku",
    "disktype",
    "a~b/c",
]
LABEL_VALUES = ["windows", "linux", "Windows2022", "10.0.17763", "10.0.20348", "ssd", ""]
TAINT_KEYS = ["os", "node.kubernetes.io/os", "gpu", ""]


@functools.cache
def engines() -> tuple[Engine, ...]:
    # Built once: an Engine compiles the catalog, too slow to build per example.
    return (
        engine(),
        engine(defaultOS="linux", mutation={"linuxOSName": True}),
        engine(defaultOS="windows", kubernetesVersion="1.24"),
        engine(
            windowsTaints=[
                {"key": "os", "value": "windows", "effect": "NoSchedule"},
                {"key": "node.kubernetes.io/os", "effect": "NoExecute"},
            ]
        ),
        engine(windowsTaints=[], mutation={"windowsBuildSelector": False, "windowsOSName": False}),
        engine(defaultOS="windows", mutation={"windowsNodeSelector": False}),
    )


def _runtime_classes() -> dict[str, RuntimeClassInfo]:
    return runtime_class_index(
        [
            {
                "kind": "RuntimeClass",
                "metadata": {"name": "win"},
                "handler": "runhcs-wcow-process",
                "scheduling": {
                    "nodeSelector": {"kubernetes.io/os": "windows"},
                    "tolerations": [{"key": "os", "operator": "Exists"}],
                },
            },
            {
                "kind": "RuntimeClass",
                "metadata": {"name": "hv"},
                "handler": "runhcs-wcow-hypervisor",
            },
            {"kind": "RuntimeClass", "metadata": {"name": "runc"}, "handler": "runc"},
        ]
    )


RUNTIME = _runtime_classes()


def _optional(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Absent (a marker), null, or a value: the three shapes a field has in real pods."""
    return st.one_of(st.just(_ABSENT), st.none(), strategy)


_ABSENT = object()

tolerations = st.lists(
    st.fixed_dictionaries(
        {},
        optional={
            "key": st.sampled_from(TAINT_KEYS),
            "operator": st.sampled_from(["Equal", "Exists"]),
            "value": st.sampled_from(["windows", "linux", ""]),
            "effect": st.sampled_from(["NoSchedule", "NoExecute", "PreferNoSchedule", ""]),
        },
    ),
    max_size=3,
)

security_context = st.fixed_dictionaries(
    {},
    optional={
        "windowsOptions": st.fixed_dictionaries(
            {},
            optional={
                "hostProcess": st.booleans(),
                "runAsUserName": st.just("ContainerUser"),
            },
        ),
        "privileged": st.booleans(),
    },
)


def _containers(min_size: int) -> st.SearchStrategy[list[dict[str, Any]]]:
    return st.lists(
        st.builds(
            lambda image, sc: {"image": image, **({"securityContext": sc} if sc else {})},
            st.sampled_from([*IMAGES, None]),
            st.one_of(st.none(), security_context),
        ),
        min_size=min_size,
        max_size=3,
    ).map(lambda items: [{"name": f"c{i}", **c} for i, c in enumerate(items)])


containers = _containers(0)

affinity = st.fixed_dictionaries(
    {},
    optional={
        "nodeAffinity": st.fixed_dictionaries(
            {},
            optional={
                "requiredDuringSchedulingIgnoredDuringExecution": st.fixed_dictionaries(
                    {
                        "nodeSelectorTerms": st.lists(
                            st.fixed_dictionaries(
                                {
                                    "matchExpressions": st.lists(
                                        st.fixed_dictionaries(
                                            {
                                                "key": st.sampled_from(LABELS[:3]),
                                                "operator": st.sampled_from(
                                                    ["In", "NotIn", "Exists", "DoesNotExist"]
                                                ),
                                                "values": st.lists(
                                                    st.sampled_from(LABEL_VALUES[:5]), max_size=2
                                                ),
                                            }
                                        ),
                                        max_size=2,
                                    )
                                }
                            ),
                            min_size=1,
                            max_size=2,
                        ),
                    }
                ),
            },
        ),
    },
)


def _specs(main_containers: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {
            "containers": main_containers,
            "initContainers": _optional(containers),
            "nodeSelector": _optional(
                st.dictionaries(
                    st.sampled_from(LABELS), st.sampled_from([*LABEL_VALUES, None]), max_size=3
                )
            ),
            "tolerations": _optional(tolerations),
            "os": _optional(
                st.fixed_dictionaries(
                    {}, optional={"name": st.sampled_from(["windows", "linux", "plan9", None])}
                )
            ),
            "affinity": _optional(affinity),
            "runtimeClassName": _optional(st.sampled_from(["win", "hv", "runc", "missing"])),
            "securityContext": _optional(security_context),
        }
    ).map(lambda spec: {k: v for k, v in spec.items() if v is not _ABSENT})


pod_annotations = _optional(
    st.dictionaries(
        st.sampled_from(["experimental.windows.kubernetes.io/isolation-type", "team"]),
        st.sampled_from(["hyperv", "process", "web"]),
        max_size=2,
    )
)


def _pods(
    spec: st.SearchStrategy[dict[str, Any]], with_spec: st.SearchStrategy[bool]
) -> st.SearchStrategy[dict[str, Any]]:
    return st.builds(
        lambda spec, notes, with_spec: {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": "p",
                "namespace": "default",
                **({"annotations": notes} if notes is not _ABSENT else {}),
            },
            **({"spec": spec} if with_spec else {}),
        },
        spec,
        pod_annotations,
        with_spec,
    )


# Any shape, including no spec and null or empty container lists.
pods = _pods(_specs(_optional(containers)), st.integers(0, 9).map(lambda n: n > 0))
# Leaning towards pods the apiserver's schema accepts (a spec with containers).
schema_pods = _pods(_specs(_containers(1)), st.just(True))


def _valid(obj: dict[str, Any]) -> bool:
    try:
        kubernetes_validate.validate(obj, SCHEMA_VERSION, strict=True)
    except kubernetes_validate.ValidationError:
        return False
    return True


def _settings(examples: int) -> settings:
    return settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow],
    )


@_settings(EXAMPLES)
@given(pod=pods, which=st.integers(0, 5), with_runtime=st.booleans())
def test_the_patch_always_applies_never_overwrites_and_is_idempotent(
    pod: dict[str, Any], which: int, with_runtime: bool
) -> None:
    eng = engines()[which]
    runtime = RUNTIME if with_runtime else None
    original = copy.deepcopy(pod)
    result = mutate_pod(eng, pod, runtime_classes=runtime)
    decided = result.evaluation.os.os if result.evaluation.os else "no spec"
    event(f"{decided}, {len(result.patch)} ops" if result.patch else f"{decided}, no patch")
    assert pod == original
    assert applied(pod, result.patch) == result.mutated
    for op in result.patch:
        assert op["op"] == "add"
        if not op["path"].endswith("/-"):
            # An add onto an existing member replaces it: only ever onto absent or null.
            assert jsonpointer.resolve_pointer(pod, op["path"], None) is None
    again = mutate_pod(eng, result.mutated, runtime_classes=runtime)
    assert again.patch == []
    assert again.mutated == result.mutated
    if result.patch:
        assert len(result.warnings) == 1 and result.warnings[0].startswith("winpod set ")
    assert all(len(w) <= 256 for w in result.warnings)


@_settings(SCHEMA_EXAMPLES)
@given(pod=schema_pods, which=st.integers(0, 5))
def test_a_valid_pod_stays_valid_and_its_workload_gets_the_same_patch(
    pod: dict[str, Any], which: int
) -> None:
    eng = engines()[which]
    result = mutate_pod(eng, pod, runtime_classes=RUNTIME)
    if _valid(pod):
        event("valid pod" + (", patched" if result.patch else ""))
        assert _valid(result.mutated)
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "d"},
        "spec": {
            "selector": {"matchLabels": {"a": "b"}},
            "template": {k: v for k, v in pod.items() if k in ("metadata", "spec")},
        },
    }
    from_workload = mutate_object(eng, deployment, runtime_classes=RUNTIME)
    assert [op["path"] for op in from_workload.patch] == [
        "/spec/template" + op["path"] for op in result.patch
    ]
    assert applied(deployment, from_workload.patch) == from_workload.mutated
    assert mutate_object(eng, from_workload.mutated, runtime_classes=RUNTIME).patch == []
