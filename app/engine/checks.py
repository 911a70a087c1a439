"""Named check functions, for the few rules whose logic a field test cannot express.

Each takes a RuleInput and yields Hits at pod-rooted paths. Rule files name them by
`function:`; the loader refuses a name that is not registered here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from .images import ImageClassifier, default_user_of, windows_build_of
from .osinfer import (
    RANK_IMAGE,
    RANK_PLACEMENT,
    WINDOWS_BUILD_LABEL,
    OSDecision,
    RuntimeClassInfo,
    tolerates,
    tolerates_everything,
)
from .podfacts import PodFacts
from .quantity import parse_quantity
from .settings import Action


# Not frozen: built per object (why: app/engine/__init__.py).
@dataclass(slots=True)
class Hit:
    path: str  # pod-rooted
    value: Any = None
    action: Action | None = None
    message: str | None = None
    fix: str | None = None


# Not frozen: built per object (why: app/engine/__init__.py).
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
FUNCTIONS: dict[str, CheckFunction] = {}
# A cheap test on the pod's facts: when it is false the function cannot hit, so it is not run.
PRECONDITIONS: dict[str, Precondition] = {}


def check_function(
    name: str, when: Precondition | None = None
) -> Callable[[CheckFunction], CheckFunction]:
    def register(fn: CheckFunction) -> CheckFunction:
        FUNCTIONS[name] = fn
        if when is not None:
            PRECONDITIONS[name] = when
        return fn

    return register


def _has_host_process(facts: PodFacts) -> bool:
    return facts.any_host_process


def _has_annotations(facts: PodFacts) -> bool:
    return bool(facts.metadata.get("annotations"))


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _security_context(holder: Mapping[str, Any]) -> dict[str, Any]:
    return _dict(holder.get("securityContext"))


@check_function("memory-limits")
def memory_limits(data: RuleInput) -> Iterator[Hit]:
    for ref in data.facts.containers:
        if ref.kind == "ephemeralContainers":
            continue  # ephemeral containers cannot set resources
        resources = _dict(ref.container.get("resources"))
        limits = _dict(resources.get("limits"))
        requests = _dict(resources.get("requests"))
        limit = limits.get("memory")
        if limit is None:
            yield Hit(
                f"{ref.path}.resources.limits.memory",
                None,
                message="no memory limit: Windows has no OOM killer, so memory use past"
                " the node's RAM pages to disk and slows every pod on the node",
            )
            continue
        request = requests.get("memory")
        if request is None or request == limit:
            continue  # the apiserver defaults the request to the limit
        limit_q, request_q = parse_quantity(limit), parse_quantity(request)
        if limit_q is not None and request_q is not None and limit_q != request_q:
            yield Hit(
                f"{ref.path}.resources.requests.memory",
                request,
                message=f"memory request {request} differs from limit {limit}: Windows has"
                " no OOM killer and pages memory over the request to disk",
            )


@check_function("host-network")
def host_network(data: RuleInput) -> Iterator[Hit]:
    if data.facts.spec.get("hostNetwork") is True and not data.facts.any_host_process:
        yield Hit("spec.hostNetwork", True)


@check_function("privileged")
def privileged(data: RuleInput) -> Iterator[Hit]:
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
                path,
                value,
                action=Action.WARN,
                message=f"privileged: {str(value).lower()} has no effect on Windows"
                + (" (HostProcess already runs on the host)" if host_process else "")
                + ", and the apiserver rejects the field once spec.os.name is windows",
                fix="remove securityContext.privileged",
            )


@check_function("hostprocess-all-or-none", when=_has_host_process)
def hostprocess_all_or_none(data: RuleInput) -> Iterator[Hit]:
    facts = data.facts
    if facts.pod_host_process is not None:
        return  # containers inherit the pod's value; explicit contradictions are the mismatch rule's
    if not any(facts.container_host_process) or facts.all_host_process:
        return
    for ref, host_process in zip(facts.containers, facts.container_host_process, strict=True):
        if not host_process:
            yield Hit(f"{ref.path}.securityContext.windowsOptions.hostProcess", False)


@check_function("hostprocess-pod-container-mismatch", when=_has_host_process)
def hostprocess_pod_container_mismatch(data: RuleInput) -> Iterator[Hit]:
    pod_value = data.facts.pod_host_process
    if pod_value is None:
        return
    for ref, options in zip(
        data.facts.containers, data.facts.container_windows_options, strict=True
    ):
        value = options.get("hostProcess")
        if isinstance(value, bool) and value != pod_value:
            yield Hit(f"{ref.path}.securityContext.windowsOptions.hostProcess", value)


@check_function("hostprocess-host-network", when=_has_host_process)
def hostprocess_host_network(data: RuleInput) -> Iterator[Hit]:
    if data.facts.any_host_process and data.facts.spec.get("hostNetwork") is not True:
        yield Hit("spec.hostNetwork", data.facts.spec.get("hostNetwork"))


@check_function("hostprocess-run-as-non-root", when=_has_host_process)
def hostprocess_run_as_non_root(data: RuleInput) -> Iterator[Hit]:
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


@check_function("hostprocess-user-name", when=_has_host_process)
def hostprocess_user_name(data: RuleInput) -> Iterator[Hit]:
    facts = data.facts
    if not facts.any_host_process:
        return
    pod_user = facts.pod_windows_options.get("runAsUserName")
    for ref, options, host_process in zip(
        facts.containers, facts.container_windows_options, facts.container_host_process, strict=True
    ):
        if host_process and not (options.get("runAsUserName") or pod_user):
            yield Hit(f"{ref.path}.securityContext.windowsOptions.runAsUserName")


@check_function("run-as-non-root-administrator")
def run_as_non_root_administrator(data: RuleInput) -> Iterator[Hit]:
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
            yield Hit(
                f"{ref.path}.securityContext",
                None,
                action=Action.AUDIT,
                message="runAsNonRoot is true but no runAsUserName is set: the kubelet refuses"
                " to start the container if the image's user is ContainerAdministrator",
                fix="set securityContext.windowsOptions.runAsUserName: ContainerUser",
            )


@check_function("os-conflict")
def os_conflict(data: RuleInput) -> Iterator[Hit]:
    for deciding, other in data.os.conflicts:
        yield Hit(
            other.path,
            None,
            message=f"{other.reason} contradicts {deciding.reason} ({deciding.path}):"
            " the pod cannot run where it is placed",
        )


@check_function("mixed-os-images", when=lambda facts: len(facts.images) > 1)
def mixed_os_images(data: RuleInput) -> Iterator[Hit]:
    by_os: dict[str, list[tuple[str, str]]] = {"windows": [], "linux": []}
    for path, image, image_os in data.facts.images:
        if image_os in by_os:
            by_os[image_os].append((path, image))
    if by_os["windows"] and by_os["linux"]:
        windows_image = by_os["windows"][0][1]
        for path, image in by_os["linux"]:
            yield Hit(
                path,
                image,
                message=f"Linux-only image {image} in a pod with the Windows image"
                f" {windows_image}: a pod runs on one node, so one OS",
            )


@check_function("hyperv-multi-container", when=_has_annotations)
def hyperv_multi_container(data: RuleInput) -> Iterator[Hit]:
    annotations = _dict(data.facts.metadata.get("annotations"))
    key = "experimental.windows.kubernetes.io/isolation-type"
    if annotations.get(key) != "hyperv":
        return
    count = sum(1 for ref in data.facts.containers if ref.kind != "ephemeralContainers")
    if count > 1:
        yield Hit(
            f'metadata.annotations["{key}"]',
            "hyperv",
            message=f"legacy Hyper-V isolation runs one container per pod; this pod has {count}",
        )


def _hyperv_runtime(data: RuleInput) -> bool:
    name = data.facts.spec.get("runtimeClassName")
    info = data.runtime_classes.get(name) if isinstance(name, str) else None
    return info is not None and "hypervisor" in info.handler


@check_function("image-build-mismatch")
def image_build_mismatch(data: RuleInput) -> Iterator[Hit]:
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
                yield Hit(
                    path,
                    image,
                    message=f"image {image} is built for Windows {build} but the pod is placed"
                    f" on {WINDOWS_BUILD_LABEL}={allowed}: process isolation needs"
                    " the image build to equal the node's",
                )
        return
    distinct = sorted({build for _, _, build in builds})
    if len(distinct) > 1:
        for path, image, build in builds[1:]:
            if build != builds[0][2]:
                yield Hit(
                    path,
                    image,
                    message=f"image {image} is built for Windows {build} but {builds[0][1]}"
                    f" is built for {builds[0][2]}: no node runs both with process"
                    " isolation",
                )


@check_function("os-name-without-placement", when=lambda facts: facts.os_name == "windows")
def os_name_without_placement(data: RuleInput) -> Iterator[Hit]:
    if data.facts.os_name != "windows":
        return
    if any(e.rank == RANK_PLACEMENT and e.os == "windows" for e in data.os.evidence):
        return
    yield Hit("spec.os.name", "windows")


@check_function("windows-options-on-linux", when=lambda facts: facts.os_name == "linux")
def windows_options_on_linux(data: RuleInput) -> Iterator[Hit]:
    if data.facts.os_name != "linux":
        return
    if data.facts.pod_windows_options:
        yield Hit("spec.securityContext.windowsOptions")
    for ref, options in zip(
        data.facts.containers, data.facts.container_windows_options, strict=True
    ):
        if options:
            yield Hit(f"{ref.path}.securityContext.windowsOptions")


@check_function("exemption-reason", when=_has_annotations)
def exemption_reason(data: RuleInput) -> Iterator[Hit]:
    annotations = _dict(data.facts.metadata.get("annotations"))
    exempt = annotations.get(data.exempt_annotation)
    if exempt and not str(annotations.get(data.exempt_reason_annotation) or "").strip():
        yield Hit(f'metadata.annotations["{data.exempt_annotation}"]', exempt)


@check_function("hints-without-placement")
def hints_without_placement(data: RuleInput) -> Iterator[Hit]:
    """Documented per-hit messages: one for a pod with only hints, one for a Windows pod that
    only its images make Windows."""
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
        yield Hit(
            decision.deciding.path,
            None,
            message=f"{decision.deciding.reason}, but nothing places the pod on Windows"
            " nodes, so it may land on Linux (image pull: no matching manifest)",
        )


@check_function(
    "no-matching-node",
    when=lambda facts: bool(
        facts.spec.get("nodeSelector")
        or facts.spec.get("affinity")
        or facts.spec.get("runtimeClassName")
    ),
)
def no_matching_node(data: RuleInput) -> Iterator[Hit]:
    for where in data.os.no_node:
        yield Hit(where.path, None, message=where.reason)


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
    "linux-only-pod-reaches-windows", when=lambda facts: bool(facts.spec.get("tolerations"))
)
def linux_only_pod_reaches_windows(data: RuleInput) -> Iterator[Hit]:
    """The DaemonSet problem: no OS placement, a toleration that lets it onto Windows nodes, and
    Linux-only features that fail there. Documented per-hit message: it names the features."""
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
    yield Hit(
        "spec.tolerations",
        None,
        message=f"nothing places the pod on an OS and it {how}, so in a mixed cluster it also"
        f" lands on Windows nodes, where {shown} cannot work",
    )


_WINDOWS_STOP_SIGNALS = ("SIGTERM", "SIGKILL")


@check_function("stop-signal")
def stop_signal(data: RuleInput) -> Iterator[Hit]:
    """Documented per-hit message: a signal Windows cannot send, or a pod without spec.os.name."""
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
            yield Hit(
                path,
                signal,
                message="the apiserver rejects lifecycle.stopSignal on a pod without"
                " spec.os.name (it checks the signal against the OS)",
                fix="set spec.os.name: windows",
            )


@check_function("run-as-container-administrator")
def run_as_container_administrator(data: RuleInput) -> Iterator[Hit]:
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


@check_function("field-unavailable", when=lambda facts: False)
def field_unavailable(data: RuleInput) -> Iterator[Hit]:
    """The engine runs this only when the walk found such fields (RuleInput.unavailable)."""
    for path, why in data.unavailable:
        yield Hit(path, None, message=why)
