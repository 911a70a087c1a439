"""What kube-apiserver itself does with the Pod fields the catalog reads, release by release.

Two kinds of fact, both read from the Kubernetes source (pkg/apis/core/validation's
validateWindows and validateLinux, pkg/api/pod's dropDisabledFields, pkg/features' versioned
gate tables) and proven against real 1.24 and 1.36 apiservers by tests/kube/test_oracle.py:

- **Availability.** A field exists from the release that added it. Before that the apiserver
  does not know it (it drops it; kubectl's validation refuses it). While the field's feature gate
  is off by default, the apiserver drops it from new pods, so the pod is admitted without it.
- **OS validation.** With `spec.os.name: windows` (enforced by default from 1.24, when the
  IdentifyPodOS gate turned on) the apiserver rejects a fixed list of Linux-only fields; with
  `spec.os.name: linux` it rejects windowsOptions. "Set" means what the Go code tests: a non-nil
  pointer or slice (`supplementalGroups: []`, `capabilities: {}` and `privileged: false` count),
  a true bool (hostPID, hostIPC), or a non-empty list (sysctls).

Rules say what Windows does with a field; this table says what the apiserver does, so a rule's
hit is escalated to a denial only where the target release's apiserver really rejects it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from .kubeversion import KubeVersion

Test = Literal["present", "true", "nonEmpty"]
# The walker never calls a test on null, so each needs only its value: (value, map key).
TESTS: dict[str, Callable[[Any, str | None], bool]] = {
    "present": lambda value, key: True,
    "true": lambda value, key: value is True,
    "nonEmpty": lambda value, key: bool(value) if isinstance(value, list | dict | str) else True,
}

# spec.os: alpha (off) in 1.23, beta and on by default from 1.24, GA in 1.25.
OS_ENFORCED_FROM = KubeVersion(1, 24)


@dataclass(frozen=True, slots=True)
class Gate:
    name: str
    default_on: KubeVersion | None  # first release that turns it on by default; None: none known


@dataclass(frozen=True, slots=True)
class ApiField:
    """One field as the apiserver sees it. `path` uses the rule path grammar; container-rooted
    (visited in every kind of container) when `container` is true."""

    path: str
    rule: str  # the catalog rule that says what the field does on Windows
    container: bool = False
    added: KubeVersion | None = None  # None: in every release winpod targets
    gate: Gate | None = None  # off by default: the apiserver drops the field from new pods
    windows: Test | None = None  # how validateWindows tests it; None: not rejected
    windows_until: KubeVersion | None = None  # first release that no longer rejects it
    key_filter: str | None = None  # for map wildcards (annotations)
    names_container: bool = False  # a per-container annotation: only for a container of the pod
    note: str = ""

    def exists_at(self, version: KubeVersion) -> bool:
        return self.added is None or version >= self.added

    def dropped_at(self, version: KubeVersion, gates: Mapping[str, bool] | None = None) -> bool:
        """Known to the release, but its gate is off there (by default, or as `gates` says:
        the cluster's own --feature-gates, from the config)."""
        if not self.exists_at(version) or self.gate is None:
            return False
        if gates and self.gate.name in gates:
            return not gates[self.gate.name]
        return self.gate.default_on is None or version < self.gate.default_on

    def rejected_for_windows_at(
        self, version: KubeVersion, gates: Mapping[str, bool] | None = None
    ) -> bool:
        if self.windows is None or version < OS_ENFORCED_FROM:
            return False
        if not self.exists_at(version) or self.dropped_at(version, gates):
            return False
        return self.windows_until is None or version < self.windows_until


def _v(text: str) -> KubeVersion:
    major, minor = text.split(".")
    return KubeVersion(int(major), int(minor))


# Gates, with the first release whose default turns them on (pkg/features/kube_features.go).
USER_NAMESPACES = Gate("UserNamespacesSupport", _v("1.33"))  # alpha 1.25, beta off 1.30
SUPPLEMENTAL_GROUPS_POLICY = Gate("SupplementalGroupsPolicy", _v("1.33"))  # alpha 1.31
SELINUX_CHANGE_POLICY = Gate("SELinuxChangePolicy", _v("1.33"))  # alpha 1.32
POD_LEVEL_RESOURCES = Gate("PodLevelResources", _v("1.34"))  # alpha 1.32
# Alpha 1.33, still alpha (off) in 1.36's table. The 1.37 status is not in any source here.
CONTAINER_STOP_SIGNALS = Gate("ContainerStopSignals", None)
EMPTY_DIR_VOLUME_MODE = Gate("EmptyDirVolumeMode", None)  # alpha 1.37 (KEP-5502)
VOLUME_BIND_MOUNT_OPTIONS = Gate("VolumeBindMountOptions", None)  # alpha 1.37 (KEP-5855)
# The alpha gate of 1.22; on by default from 1.23 (beta), GA 1.26.
HOST_PROCESS = Gate("WindowsHostProcessContainers", _v("1.23"))

_SECCOMP_ANNOTATIONS_UNTIL = _v("1.27")  # the apiserver copied them into seccompProfile before

FIELDS: tuple[ApiField, ...] = (
    # --- pod level: validateWindows ------------------------------------------------------------
    ApiField("spec.hostPID", "windows-host-pid", windows="true"),
    ApiField("spec.hostIPC", "windows-host-ipc", windows="true"),
    ApiField("spec.shareProcessNamespace", "windows-share-process-namespace", windows="present"),
    ApiField(
        "spec.hostUsers",
        "windows-host-users",
        added=_v("1.25"),
        gate=USER_NAMESPACES,
        windows="present",
    ),
    ApiField("spec.securityContext.runAsUser", "windows-run-as-user", windows="present"),
    ApiField("spec.securityContext.runAsGroup", "windows-run-as-group", windows="present"),
    ApiField("spec.securityContext.fsGroup", "windows-fs-group", windows="present"),
    ApiField("spec.securityContext.fsGroupChangePolicy", "windows-fs-group", windows="present"),
    ApiField(
        "spec.securityContext.supplementalGroups",
        "windows-supplemental-groups",
        windows="present",
    ),
    ApiField(
        "spec.securityContext.supplementalGroupsPolicy",
        "windows-supplemental-groups",
        added=_v("1.31"),
        gate=SUPPLEMENTAL_GROUPS_POLICY,
        windows="present",
    ),
    ApiField("spec.securityContext.sysctls", "windows-sysctls", windows="nonEmpty"),
    ApiField("spec.securityContext.seLinuxOptions", "windows-selinux-options", windows="present"),
    ApiField(
        "spec.securityContext.seLinuxChangePolicy",
        "windows-selinux-options",
        added=_v("1.32"),
        gate=SELINUX_CHANGE_POLICY,
        windows="present",
    ),
    ApiField("spec.securityContext.seccompProfile", "windows-seccomp-profile", windows="present"),
    ApiField(
        "spec.securityContext.appArmorProfile",
        "windows-apparmor-profile",
        added=_v("1.30"),
        windows="present",
    ),
    ApiField(
        "spec.resources",
        "windows-pod-level-resources",
        added=_v("1.32"),
        gate=POD_LEVEL_RESOURCES,
        windows="present",
    ),
    # Before 1.27 the apiserver copied the legacy seccomp annotations into seccompProfile and
    # then rejected that field; from 1.27 they are "non-functional" and only warned about.
    ApiField(
        "metadata.annotations.*",
        "windows-seccomp-profile",
        windows="present",
        windows_until=_SECCOMP_ANNOTATIONS_UNTIL,
        key_filter=r"^seccomp\.security\.alpha\.kubernetes\.io/pod$",
    ),
    ApiField(
        "metadata.annotations.*",
        "windows-seccomp-profile",
        windows="present",
        windows_until=_SECCOMP_ANNOTATIONS_UNTIL,
        key_filter=r"^container\.seccomp\.security\.alpha\.kubernetes\.io/.+$",
        names_container=True,
    ),
    # --- container level (every kind of container): validateWindows ---------------------------
    ApiField("securityContext.privileged", "windows-privileged", container=True, windows="present"),
    ApiField(
        "securityContext.allowPrivilegeEscalation",
        "windows-allow-privilege-escalation",
        container=True,
        windows="present",
    ),
    ApiField(
        "securityContext.capabilities", "windows-capabilities", container=True, windows="present"
    ),
    ApiField("securityContext.procMount", "windows-proc-mount", container=True, windows="present"),
    ApiField(
        "securityContext.readOnlyRootFilesystem",
        "windows-read-only-root-filesystem",
        container=True,
        windows="present",
    ),
    ApiField("securityContext.runAsUser", "windows-run-as-user", container=True, windows="present"),
    ApiField(
        "securityContext.runAsGroup", "windows-run-as-group", container=True, windows="present"
    ),
    ApiField(
        "securityContext.seLinuxOptions",
        "windows-selinux-options",
        container=True,
        windows="present",
    ),
    ApiField(
        "securityContext.seccompProfile",
        "windows-seccomp-profile",
        container=True,
        windows="present",
    ),
    ApiField(
        "securityContext.appArmorProfile",
        "windows-apparmor-profile",
        container=True,
        added=_v("1.30"),
        windows="present",
    ),
    # --- fields the apiserver never rejects for Windows, but knows only from some release ------
    ApiField(
        "lifecycle.stopSignal",
        "windows-stop-signal",
        container=True,
        added=_v("1.33"),
        gate=CONTAINER_STOP_SIGNALS,
    ),
    ApiField(
        "spec.volumes[*].emptyDir.mode",
        "windows-emptydir-mode",
        added=_v("1.37"),
        gate=EMPTY_DIR_VOLUME_MODE,
    ),
    ApiField(
        "volumeMounts[*].bindMountOptions",
        "windows-bind-mount-options",
        container=True,
        added=_v("1.37"),
        gate=VOLUME_BIND_MOUNT_OPTIONS,
    ),
    ApiField(
        "spec.securityContext.windowsOptions.hostProcess",
        "windows-hostprocess-pod-security",
        added=_v("1.22"),
        gate=HOST_PROCESS,
    ),
    ApiField(
        "securityContext.windowsOptions.hostProcess",
        "windows-hostprocess-pod-security",
        container=True,
        added=_v("1.22"),
        gate=HOST_PROCESS,
    ),
)

# validateLinux: with spec.os.name linux, windowsOptions (any value, even {}) is rejected.
LINUX_FORBIDDEN: tuple[ApiField, ...] = (
    ApiField("spec.securityContext.windowsOptions", "linux-windows-options", windows="present"),
    ApiField(
        "securityContext.windowsOptions", "linux-windows-options", container=True, windows="present"
    ),
)


def unavailable_reason(
    field: ApiField, version: KubeVersion, gates: Mapping[str, bool] | None = None
) -> str | None:
    """Why the apiserver at `version` would not keep the field on a new pod, or None."""
    if not field.exists_at(version):
        return (
            f"not a field in Kubernetes {version} (added in {field.added}): the apiserver drops it"
        )
    if field.dropped_at(version, gates) and field.gate is not None:
        if gates and gates.get(field.gate.name) is False:
            return (
                f"dropped by the apiserver: feature gate {field.gate.name} is off in this"
                " cluster (config featureGates), so the pod is admitted without it"
            )
        on = (
            f"on by default from {field.gate.default_on}"
            if field.gate.default_on is not None
            else "off by default in every release winpod knows"
        )
        return (
            f"dropped by the apiserver: feature gate {field.gate.name} is off by default in"
            f" Kubernetes {version} ({on}), so the pod is admitted without it"
        )
    return None


KNOWN_GATES: frozenset[str] = frozenset(
    entry.gate.name for entry in FIELDS if entry.gate is not None
)
