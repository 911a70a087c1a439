"""Named check functions, for the few rules whose logic a field test cannot express.

Each takes a RuleInput and yields Hits at pod-rooted paths. Rule files name them by
`function:`; the loader refuses a name that is not registered here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from .images import ImageClassifier, default_user_of, windows_build_of
from .osinfer import (
    RANK_IMAGE,
    RANK_PLACEMENT,
    OSDecision,
    RuntimeClassInfo,
    tolerates,
    tolerates_everything,
)
from .podfacts import PodFacts
from .quantity import parse_quantity


# Not frozen: built per object (why: winpod/engine/__init__.py).
@dataclass(slots=True)
class Hit:
    """One place a function's rule fires. `variant` picks one of the per-hit texts (and action)
    the rule file documents under `hits:`; `params` fill that text's {placeholders}."""

    path: str  # pod-rooted
    value: Any = None
    variant: str | None = None
    params: dict[str, Any] = field(default_factory=dict)


# Not frozen: built per object (why: winpod/engine/__init__.py).
@dataclass(slots=True)
class RuleInput:
    facts: PodFacts
    os: OSDecision
    params: Mapping[str, Any]
    images: ImageClassifier
    runtime_classes: Mapping[str, RuntimeClassInfo]
    exempt_annotation: str
    exempt_reason_annotation: str
    windows_taints: tuple[tuple[str, str | None, str], ...] = ()
    # Fields present in the pod that the target release does not keep: (path, why).
    unavailable: tuple[tuple[str, str], ...] = ()


CheckFunction = Callable[[RuleInput], Iterator[Hit]]
Precondition = Callable[[PodFacts], bool]


@dataclass(frozen=True, slots=True)
class Registered:
    """A check function as shipped for one rule version: `name@since`. A shipped function is
    never edited; changed logic is a new function with a later `since` (a test holds every
    shipped one to the hash of its source, tests/rules/shipped.json)."""

    key: str  # name@since, what rule files name
    since: str
    function: CheckFunction
    precondition: Precondition | None
    # variant -> the params its text may use ({value} and {key} always may)
    variants: Mapping[str, tuple[str, ...]]


REGISTRY: dict[str, Registered] = {}


def check_function(
    name: str,
    since: str,
    *,
    when: Precondition | None = None,
    variants: Mapping[str, tuple[str, ...]] | None = None,
) -> Callable[[CheckFunction], CheckFunction]:
    """Register `fn` as `name@since`; its Python name must say the same (name_1_14), as
    pod-security-admission names its versioned checks."""

    def register(fn: CheckFunction) -> CheckFunction:
        key = f"{name}@{since}"
        expected = f"{name.replace('-', '_')}_{since.replace('.', '_')}"
        if fn.__name__ != expected:
            raise ValueError(f"check function {key} must be named {expected}, not {fn.__name__}")
        if key in REGISTRY:
            raise ValueError(f"check function {key} is registered twice")
        REGISTRY[key] = Registered(key, since, fn, when, dict(variants or {}))
        return fn

    return register


def _has_host_process(facts: PodFacts) -> bool:
    return facts.any_host_process


def _has_annotations(facts: PodFacts) -> bool:
    return bool(facts.metadata.get("annotations"))


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


@check_function(
    "memory-limits",
    "1.14",
    variants={"no-limit": (), "no-limit-no-request": (), "differs": ("request", "limit")},
)
def memory_limits_1_14(data: RuleInput) -> Iterator[Hit]:
    for ref in data.facts.containers:
        if ref.kind == "ephemeralContainers":
            continue  # ephemeral containers cannot set resources
        resources = _dict(ref.container.get("resources"))
        limits = _dict(resources.get("limits"))
        requests = _dict(resources.get("requests"))
        limit = limits.get("memory")
        request = requests.get("memory")
        if limit is None:
            variant = "no-limit" if request is not None else "no-limit-no-request"
            yield Hit(f"{ref.path}.resources.limits.memory", None, variant)
            continue
        if request is None or request == limit:
            continue  # the apiserver defaults the request to the limit
        limit_q, request_q = parse_quantity(limit), parse_quantity(request)
        if limit_q is not None and request_q is not None and limit_q != request_q:
            yield Hit(
                f"{ref.path}.resources.requests.memory",
                request,
                "differs",
                {"request": request, "limit": limit},
            )


@check_function("host-network", "1.14")
def host_network_1_14(data: RuleInput) -> Iterator[Hit]:
    if data.facts.spec.get("hostNetwork") is True and not data.facts.any_host_process:
        yield Hit("spec.hostNetwork", True)


@check_function("privileged", "1.14", variants={"ignored": (), "ignored-host-process": ()})
def privileged_1_14(data: RuleInput) -> Iterator[Hit]:
    facts = data.facts
    for ref, context, host_process in zip(
        facts.containers, facts.security_contexts, facts.container_host_process, strict=True
    ):
        value = context.get("privileged")
        if value is None:
            continue
        path = f"{ref.path}.securityContext.privileged"
        if value is True and not host_process:
            yield Hit(path, value)
        else:
            yield Hit(
                path, str(value).lower(), "ignored-host-process" if host_process else "ignored"
            )


@check_function("hostprocess-all-or-none", "1.22", when=_has_host_process)
def hostprocess_all_or_none_1_22(data: RuleInput) -> Iterator[Hit]:
    facts = data.facts
    if facts.pod_host_process is not None:
        return  # containers inherit the pod's value; explicit contradictions are the mismatch rule's
    if not any(facts.container_host_process) or facts.all_host_process:
        return
    for ref, host_process in zip(facts.containers, facts.container_host_process, strict=True):
        if not host_process:
            yield Hit(f"{ref.path}.securityContext.windowsOptions.hostProcess", False)


@check_function("hostprocess-pod-container-mismatch", "1.22", when=_has_host_process)
def hostprocess_pod_container_mismatch_1_22(data: RuleInput) -> Iterator[Hit]:
    pod_value = data.facts.pod_host_process
    if pod_value is None:
        return
    for ref, options in zip(
        data.facts.containers, data.facts.container_windows_options, strict=True
    ):
        value = options.get("hostProcess")
        if isinstance(value, bool) and value != pod_value:
            yield Hit(f"{ref.path}.securityContext.windowsOptions.hostProcess", value)


@check_function("hostprocess-host-network", "1.22", when=_has_host_process)
def hostprocess_host_network_1_22(data: RuleInput) -> Iterator[Hit]:
    if data.facts.any_host_process and data.facts.spec.get("hostNetwork") is not True:
        yield Hit("spec.hostNetwork", data.facts.spec.get("hostNetwork"))


@check_function("hostprocess-run-as-non-root", "1.22", when=_has_host_process)
def hostprocess_run_as_non_root_1_22(data: RuleInput) -> Iterator[Hit]:
    facts = data.facts
    if not facts.any_host_process:
        return
    if facts.pod_security_context.get("runAsNonRoot") is True:
        yield Hit("spec.securityContext.runAsNonRoot", True)
    for ref, context, host_process in zip(
        facts.containers, facts.security_contexts, facts.container_host_process, strict=True
    ):
        if host_process and context.get("runAsNonRoot") is True:
            yield Hit(f"{ref.path}.securityContext.runAsNonRoot", True)


@check_function("hostprocess-user-name", "1.22", when=_has_host_process)
def hostprocess_user_name_1_22(data: RuleInput) -> Iterator[Hit]:
    facts = data.facts
    if not facts.any_host_process:
        return
    pod_user = facts.pod_windows_options.get("runAsUserName")
    for ref, options, host_process in zip(
        facts.containers, facts.container_windows_options, facts.container_host_process, strict=True
    ):
        if host_process and not (options.get("runAsUserName") or pod_user):
            yield Hit(f"{ref.path}.securityContext.windowsOptions.runAsUserName")


@check_function("run-as-non-root-administrator", "1.14", variants={"no-user-name": ()})
def run_as_non_root_administrator_1_14(data: RuleInput) -> Iterator[Hit]:
    facts = data.facts
    pod_non_root = facts.pod_security_context.get("runAsNonRoot")
    pod_user = facts.pod_windows_options.get("runAsUserName")
    for ref, context, options, host_process in zip(
        facts.containers,
        facts.security_contexts,
        facts.container_windows_options,
        facts.container_host_process,
        strict=True,
    ):
        if host_process:
            continue  # the HostProcess rule covers these
        if context.get("runAsNonRoot", pod_non_root) is not True:
            continue
        user = options.get("runAsUserName") or pod_user
        if isinstance(user, str) and user.lower() == "containeradministrator":
            yield Hit(f"{ref.path}.securityContext", user)
        elif not user:
            yield Hit(f"{ref.path}.securityContext", None, "no-user-name")


@check_function("os-conflict", "1.14", variants={"conflict": ("other", "deciding", "where")})
def os_conflict_1_14(data: RuleInput) -> Iterator[Hit]:
    for deciding, other in data.os.conflicts:
        params = {"other": other.reason, "deciding": deciding.reason, "where": deciding.path}
        yield Hit(other.path, None, "conflict", params)


@check_function(
    "mixed-os-images",
    "1.14",
    when=lambda facts: len(facts.images) > 1,
    variants={"linux-beside-windows": ("image", "windows_image")},
)
def mixed_os_images_1_14(data: RuleInput) -> Iterator[Hit]:
    by_os: dict[str, list[tuple[str, str]]] = {"windows": [], "linux": []}
    for path, image, image_os in data.facts.images:
        if image_os in by_os:
            by_os[image_os].append((path, image))
    if by_os["windows"] and by_os["linux"]:
        windows_image = by_os["windows"][0][1]
        for path, image in by_os["linux"]:
            params = {"image": image, "windows_image": windows_image}
            yield Hit(path, image, "linux-beside-windows", params)


@check_function(
    "hyperv-multi-container",
    "1.10",
    when=_has_annotations,
    variants={"containers": ("count",)},
)
def hyperv_multi_container_1_10(data: RuleInput) -> Iterator[Hit]:
    annotations = _dict(data.facts.metadata.get("annotations"))
    key = "experimental.windows.kubernetes.io/isolation-type"
    if annotations.get(key) != "hyperv":
        return
    count = sum(1 for ref in data.facts.containers if ref.kind != "ephemeralContainers")
    if count > 1:
        yield Hit(f'metadata.annotations["{key}"]', "hyperv", "containers", {"count": count})


def _hyperv_runtime(data: RuleInput) -> bool:
    name = data.facts.spec.get("runtimeClassName")
    info = data.runtime_classes.get(name) if isinstance(name, str) else None
    return info is not None and "hypervisor" in info.handler


@check_function(
    "image-build-mismatch",
    "1.14",
    variants={
        "node-build": ("image", "build", "node_builds"),
        "image-builds": ("image", "build", "other_image", "other_build"),
    },
)
def image_build_mismatch_1_14(data: RuleInput) -> Iterator[Hit]:
    if data.facts.any_host_process:
        return  # HostProcess containers run on the host: their images need not match its build
    if _hyperv_runtime(data):
        return  # Hyper-V isolation runs older images on newer hosts
    builds: list[tuple[str, str, str]] = []
    for path, image, image_os in data.facts.images:
        if image_os == "windows":
            build = windows_build_of(image)
            if build:
                builds.append((path, image, build))
    if not builds:
        return
    # The builds placement allows: nodeSelector, the RuntimeClass's nodeSelector, affinity.
    node_builds = data.os.windows_builds
    if node_builds:
        allowed = ", ".join(sorted(node_builds))
        for path, image, build in builds:
            if build not in node_builds:
                params = {"image": image, "build": build, "node_builds": allowed}
                yield Hit(path, image, "node-build", params)
        return
    first_image, first_build = builds[0][1], builds[0][2]
    for path, image, build in builds[1:]:
        if build != first_build:
            params = {
                "image": image,
                "build": build,
                "other_image": first_image,
                "other_build": first_build,
            }
            yield Hit(path, image, "image-builds", params)


@check_function("os-name-without-placement", "1.24", when=lambda facts: facts.os_name == "windows")
def os_name_without_placement_1_24(data: RuleInput) -> Iterator[Hit]:
    if data.facts.os_name != "windows":
        return
    if any(e.rank == RANK_PLACEMENT and e.os == "windows" for e in data.os.evidence):
        return
    yield Hit("spec.os.name", "windows")


@check_function("windows-options-on-linux", "1.24", when=lambda facts: facts.os_name == "linux")
def windows_options_on_linux_1_24(data: RuleInput) -> Iterator[Hit]:
    if data.facts.os_name != "linux":
        return
    if data.facts.pod_windows_options:
        yield Hit("spec.securityContext.windowsOptions")
    for ref, options in zip(
        data.facts.containers, data.facts.container_windows_options, strict=True
    ):
        if options:
            yield Hit(f"{ref.path}.securityContext.windowsOptions")


@check_function("exemption-reason", "1.14", when=_has_annotations)
def exemption_reason_1_14(data: RuleInput) -> Iterator[Hit]:
    annotations = _dict(data.facts.metadata.get("annotations"))
    exempt = annotations.get(data.exempt_annotation)
    if exempt and not str(annotations.get(data.exempt_reason_annotation) or "").strip():
        yield Hit(f'metadata.annotations["{data.exempt_annotation}"]', exempt)


@check_function("hints-without-placement", "1.14", variants={"image": ("image_reason",)})
def hints_without_placement_1_14(data: RuleInput) -> Iterator[Hit]:
    """A pod with only hints, or (variant image) a Windows pod that only its images make one."""
    decision = data.os
    if decision.placement or data.facts.os_name or decision.no_node:
        return  # placed, spec.os.name speaks for it, or placement no node satisfies is denied
    if decision.os == "unknown" and decision.hints and not decision.defaulted_from:
        if all(h.os == "windows" for h in decision.hints):
            hint = decision.hints[0]
            yield Hit(hint.path, hint.reason)
    elif (
        decision.os == "windows"
        and decision.deciding is not None
        and decision.deciding.rank == RANK_IMAGE
    ):
        reason = decision.deciding.reason
        yield Hit(decision.deciding.path, None, "image", {"image_reason": reason})


@check_function(
    "no-matching-node",
    "1.14",
    when=lambda facts: bool(
        facts.spec.get("nodeSelector")
        or facts.spec.get("affinity")
        or facts.spec.get("runtimeClassName")
    ),
    variants={"why": ("why",)},
)
def no_matching_node_1_14(data: RuleInput) -> Iterator[Hit]:
    for where in data.os.no_node:
        yield Hit(where.path, None, "why", {"why": where.reason})


# Host features only a Linux node has: a pod that needs them fails on a Windows node.
_LINUX_HOST_PATHS = ("/proc", "/sys", "/dev", "/lib/modules", "/boot", "/run/systemd")


def _linux_only_features(facts: PodFacts) -> list[str]:
    spec = facts.spec
    found = [f"spec.{key}" for key in ("hostPID", "hostIPC") if spec.get(key) is True]
    if spec.get("shareProcessNamespace") is True:
        found.append("spec.shareProcessNamespace")
    if facts.pod_security_context.get("sysctls"):
        found.append("spec.securityContext.sysctls")
    volumes = spec.get("volumes")
    if isinstance(volumes, list):
        for index, volume in enumerate(volumes):
            host_path = volume.get("hostPath") if isinstance(volume, dict) else None
            path = host_path.get("path") if isinstance(host_path, dict) else None
            if isinstance(path, str) and any(
                path == root or path.startswith(root + "/") for root in _LINUX_HOST_PATHS
            ):
                found.append(f"spec.volumes[{index}].hostPath.path")
    for ref, context in zip(facts.containers, facts.security_contexts, strict=True):
        if context.get("privileged") is True:
            found.append(f"{ref.path}.securityContext.privileged")
        capabilities = _dict(context.get("capabilities"))
        if capabilities.get("add"):
            found.append(f"{ref.path}.securityContext.capabilities.add")
    for path, _, image_os in facts.images:
        if image_os == "linux":
            found.append(path)
    return found


def _reaches_windows_nodes(data: RuleInput) -> str | None:
    tolerations = data.facts.spec.get("tolerations")
    if tolerates_everything(tolerations):
        return "tolerates every taint"
    if isinstance(tolerations, list):
        for key, value, effect in data.windows_taints:
            if any(tolerates(t, key, value, effect) for t in tolerations):
                return f"tolerates the Windows taint {key}={value or ''}:{effect}"
    return None


@check_function(
    "linux-only-pod-reaches-windows",
    "1.14",
    when=lambda facts: bool(facts.spec.get("tolerations")),
    variants={"features": ("how", "features")},
)
def linux_only_pod_reaches_windows_1_14(data: RuleInput) -> Iterator[Hit]:
    """The DaemonSet problem: no OS placement, a toleration that lets it onto Windows nodes, and
    Linux-only features that fail there."""
    decision = data.os
    if decision.os == "windows" or decision.placement or data.facts.os_name == "linux":
        return
    how = _reaches_windows_nodes(data)
    if how is None:
        return
    features = _linux_only_features(data.facts)
    if not features:
        return
    shown = ", ".join(features[:3]) + (
        f" and {len(features) - 3} more" if len(features) > 3 else ""
    )
    yield Hit("spec.tolerations", None, "features", {"how": how, "features": shown})


_WINDOWS_STOP_SIGNALS = ("SIGTERM", "SIGKILL")


@check_function("stop-signal", "1.33", variants={"no-os-name": ()})
def stop_signal_1_33(data: RuleInput) -> Iterator[Hit]:
    """A signal Windows cannot send, or (variant no-os-name) any signal without spec.os.name."""
    facts = data.facts
    for ref in facts.containers:
        lifecycle = _dict(ref.container.get("lifecycle"))
        signal = lifecycle.get("stopSignal")
        if signal is None:
            continue
        path = f"{ref.path}.lifecycle.stopSignal"
        if signal not in _WINDOWS_STOP_SIGNALS:
            yield Hit(path, signal)
        elif not facts.os_name:
            yield Hit(path, signal, "no-os-name")


@check_function("run-as-container-administrator", "1.14")
def run_as_container_administrator_1_14(data: RuleInput) -> Iterator[Hit]:
    facts = data.facts
    pod_user = facts.pod_windows_options.get("runAsUserName")
    if pod_user:
        return
    for ref, options, host_process in zip(
        facts.containers,
        facts.container_windows_options,
        facts.container_host_process,
        strict=True,
    ):
        if host_process or options.get("runAsUserName"):
            continue
        image = ref.container.get("image")
        if not isinstance(image, str) or default_user_of(image) != "ContainerAdministrator":
            continue  # only images known to run as ContainerAdministrator
        yield Hit(f"{ref.path}.securityContext.windowsOptions.runAsUserName", None)


@check_function("field-unavailable", "1.14", when=lambda facts: False, variants={"why": ("why",)})
def field_unavailable_1_14(data: RuleInput) -> Iterator[Hit]:
    """The engine runs this only when the walk found such fields (RuleInput.unavailable)."""
    for path, why in data.unavailable:
        yield Hit(path, None, "why", {"why": why})
