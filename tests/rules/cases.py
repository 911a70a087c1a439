"""Per-rule fixtures: "minimal valid Windows pod + one change".

Each Case names a rule, a tweak and the pod-rooted paths where the rule must fire. A
container-scope tweak is applied to a container of each kind in turn (initContainers,
containers, ephemeralContainers), so every rule is proven against all three.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.rules.builders import projected_secret_volume

Obj = dict[str, Any]

WINDOWS_IMAGE = "mcr.microsoft.com/windows/servercore:ltsc2022"


def minimal_windows_pod() -> Obj:
    """A Windows pod no rule objects to (it names its user: Server Core runs as
    ContainerAdministrator otherwise, which the audit rule notes)."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "web", "namespace": "apps"},
        "spec": {
            "nodeSelector": {"kubernetes.io/os": "windows"},
            "securityContext": {"windowsOptions": {"runAsUserName": "ContainerUser"}},
            "containers": [
                {
                    "name": "app",
                    "image": WINDOWS_IMAGE,
                    "resources": {
                        "requests": {"memory": "256Mi"},
                        "limits": {"memory": "256Mi"},
                    },
                }
            ],
        },
    }


def container_of_kind(kind: str) -> Obj:
    base: Obj = {"name": f"extra-{kind.lower()}", "image": WINDOWS_IMAGE}
    if kind != "ephemeralContainers":
        base["resources"] = {"requests": {"memory": "64Mi"}, "limits": {"memory": "64Mi"}}
    return base


def pod_with_container(kind: str, tweak: Callable[[Obj], None]) -> tuple[Obj, str]:
    """The minimal pod with `tweak` applied to a container of `kind`; returns its path."""
    pod = minimal_windows_pod()
    if kind == "containers":
        target = pod["spec"]["containers"][0]
        path = "spec.containers[0]"
    else:
        target = container_of_kind(kind)
        pod["spec"][kind] = [target]
        path = f"spec.{kind}[0]"
    tweak(target)
    return pod, path


@dataclass(frozen=True)
class Case:
    rule: str
    name: str
    scope: str  # "pod" or "container"
    tweak: Callable[[Obj], None]
    paths: tuple[str, ...] = ()  # pod-rooted (pod scope) or container-rooted (container scope)
    action: str | None = None  # expected action when it is not the rule's default
    kinds: tuple[str, ...] = ("initContainers", "containers", "ephemeralContainers")
    version: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)  # an engine with this config judges it


def _set(path: str, value: Any) -> Callable[[Obj], None]:
    keys = path.split(".")

    def apply(obj: Obj) -> None:
        node = obj
        for key in keys[:-1]:
            node = node.setdefault(key, {})
        node[keys[-1]] = value

    return apply


def _seq(*tweaks: Callable[[Obj], None]) -> Callable[[Obj], None]:
    def apply(obj: Obj) -> None:
        for tweak in tweaks:
            tweak(obj)

    return apply


def _add_volume(volume: Obj) -> Callable[[Obj], None]:
    def apply(pod: Obj) -> None:
        pod["spec"].setdefault("volumes", []).append(volume)

    return apply


def _host_process_pod(pod: Obj) -> None:
    pod["spec"]["securityContext"] = {
        "windowsOptions": {"hostProcess": True, "runAsUserName": "NT AUTHORITY\\SYSTEM"}
    }
    pod["spec"]["hostNetwork"] = True


def _set_first_container(key: str, value: Any) -> Callable[[Obj], None]:
    def apply(pod: Obj) -> None:
        pod["spec"]["containers"][0][key] = value

    return apply


def _mount(extra: Obj) -> Callable[[Obj], None]:
    def apply(container: Obj) -> None:
        container["volumeMounts"] = [{"name": "data", "mountPath": "C:\\data", **extra}]

    return apply


REGULAR = ("initContainers", "containers")  # kinds that may set resources, probes, lifecycle

FAIL: list[Case] = [
    Case("windows-host-pid", "hostPID true", "pod", _set("spec.hostPID", True), ("spec.hostPID",)),
    Case("windows-host-ipc", "hostIPC true", "pod", _set("spec.hostIPC", True), ("spec.hostIPC",)),
    Case(
        "windows-share-process-namespace",
        "shareProcessNamespace true",
        "pod",
        _set("spec.shareProcessNamespace", True),
        ("spec.shareProcessNamespace",),
        "deny",
    ),
    Case(
        "windows-share-process-namespace",
        "shareProcessNamespace false",
        "pod",
        _set("spec.shareProcessNamespace", False),
        ("spec.shareProcessNamespace",),
        "warn",
    ),
    Case(
        "windows-host-users",
        "hostUsers false",
        "pod",
        _set("spec.hostUsers", False),
        ("spec.hostUsers",),
        "deny",
    ),
    Case(
        "windows-host-users",
        "hostUsers true",
        "pod",
        _set("spec.hostUsers", True),
        ("spec.hostUsers",),
        "warn",
    ),
    Case(
        "windows-run-as-user",
        "pod runAsUser",
        "pod",
        _set("spec.securityContext.runAsUser", 1000),
        ("spec.securityContext.runAsUser",),
    ),
    Case(
        "windows-run-as-user",
        "container runAsUser",
        "container",
        _set("securityContext.runAsUser", 1000),
        ("securityContext.runAsUser",),
    ),
    Case(
        "windows-run-as-group",
        "pod runAsGroup",
        "pod",
        _set("spec.securityContext.runAsGroup", 1000),
        ("spec.securityContext.runAsGroup",),
    ),
    Case(
        "windows-run-as-group",
        "container runAsGroup",
        "container",
        _set("securityContext.runAsGroup", 3000),
        ("securityContext.runAsGroup",),
    ),
    Case(
        "windows-fs-group",
        "fsGroup",
        "pod",
        _set("spec.securityContext.fsGroup", 2000),
        ("spec.securityContext.fsGroup",),
    ),
    Case(
        "windows-fs-group",
        "fsGroupChangePolicy",
        "pod",
        _set("spec.securityContext.fsGroupChangePolicy", "OnRootMismatch"),
        ("spec.securityContext.fsGroupChangePolicy",),
    ),
    Case(
        "windows-supplemental-groups",
        "supplementalGroups",
        "pod",
        _set("spec.securityContext.supplementalGroups", [4000]),
        ("spec.securityContext.supplementalGroups",),
    ),
    Case(
        "windows-supplemental-groups",
        "supplementalGroupsPolicy",
        "pod",
        _set("spec.securityContext.supplementalGroupsPolicy", "Strict"),
        ("spec.securityContext.supplementalGroupsPolicy",),
    ),
    Case(
        "windows-sysctls",
        "sysctls",
        "pod",
        _set("spec.securityContext.sysctls", [{"name": "net.core.somaxconn", "value": "1024"}]),
        ("spec.securityContext.sysctls",),
    ),
    Case(
        "windows-selinux-options",
        "pod seLinuxOptions",
        "pod",
        _set("spec.securityContext.seLinuxOptions", {"level": "s0:c123,c456"}),
        ("spec.securityContext.seLinuxOptions",),
    ),
    Case(
        "windows-selinux-options",
        "seLinuxChangePolicy",
        "pod",
        _set("spec.securityContext.seLinuxChangePolicy", "MountOption"),
        ("spec.securityContext.seLinuxChangePolicy",),
    ),
    Case(
        "windows-selinux-options",
        "container seLinuxOptions",
        "container",
        _set("securityContext.seLinuxOptions", {"level": "s0:c1"}),
        ("securityContext.seLinuxOptions",),
    ),
    Case(
        "windows-seccomp-profile",
        "pod seccompProfile",
        "pod",
        _set("spec.securityContext.seccompProfile", {"type": "RuntimeDefault"}),
        ("spec.securityContext.seccompProfile",),
    ),
    Case(
        "windows-seccomp-profile",
        "container seccompProfile",
        "container",
        _set("securityContext.seccompProfile", {"type": "RuntimeDefault"}),
        ("securityContext.seccompProfile",),
    ),
    Case(
        "windows-seccomp-profile",
        "legacy seccomp annotation",
        "pod",
        _set(
            "metadata.annotations", {"seccomp.security.alpha.kubernetes.io/pod": "runtime/default"}
        ),
        ('metadata.annotations["seccomp.security.alpha.kubernetes.io/pod"]',),
    ),
    Case(
        "windows-apparmor-profile",
        "pod appArmorProfile",
        "pod",
        _set("spec.securityContext.appArmorProfile", {"type": "RuntimeDefault"}),
        ("spec.securityContext.appArmorProfile",),
    ),
    Case(
        "windows-apparmor-profile",
        "container appArmorProfile",
        "container",
        _set("securityContext.appArmorProfile", {"type": "RuntimeDefault"}),
        ("securityContext.appArmorProfile",),
    ),
    Case(
        "windows-apparmor-profile",
        "legacy AppArmor annotation",
        "pod",
        _set(
            "metadata.annotations",
            {"container.apparmor.security.beta.kubernetes.io/app": "runtime/default"},
        ),
        ('metadata.annotations["container.apparmor.security.beta.kubernetes.io/app"]',),
    ),
    Case(
        "windows-allow-privilege-escalation",
        "allowPrivilegeEscalation false",
        "container",
        _set("securityContext.allowPrivilegeEscalation", False),
        ("securityContext.allowPrivilegeEscalation",),
    ),
    Case(
        "windows-capabilities",
        "capabilities drop ALL",
        "container",
        _set("securityContext.capabilities", {"drop": ["ALL"]}),
        ("securityContext.capabilities",),
    ),
    Case(
        "windows-proc-mount",
        "procMount",
        "container",
        _set("securityContext.procMount", "Unmasked"),
        ("securityContext.procMount",),
    ),
    Case(
        "windows-read-only-root-filesystem",
        "readOnlyRootFilesystem true",
        "container",
        _set("securityContext.readOnlyRootFilesystem", True),
        ("securityContext.readOnlyRootFilesystem",),
    ),
    Case(
        "windows-privileged",
        "privileged true",
        "container",
        _set("securityContext.privileged", True),
        ("securityContext.privileged",),
        "deny",
    ),
    Case(
        "windows-privileged",
        "privileged false",
        "container",
        _set("securityContext.privileged", False),
        ("securityContext.privileged",),
        "warn",
    ),
    Case(
        "windows-host-network",
        "hostNetwork without HostProcess",
        "pod",
        _set("spec.hostNetwork", True),
        ("spec.hostNetwork",),
    ),
    Case(
        "windows-dns-cluster-first-with-host-net",
        "dnsPolicy ClusterFirstWithHostNet",
        "pod",
        _set("spec.dnsPolicy", "ClusterFirstWithHostNet"),
        ("spec.dnsPolicy",),
    ),
    Case(
        "windows-subpath",
        "subPath",
        "container",
        _mount({"subPath": "conf"}),
        ("volumeMounts[0].subPath",),
    ),
    Case(
        "windows-subpath",
        "subPathExpr",
        "container",
        _mount({"subPathExpr": "$(POD)"}),
        ("volumeMounts[0].subPathExpr",),
    ),
    Case(
        "windows-mount-propagation",
        "mountPropagation HostToContainer",
        "container",
        _mount({"mountPropagation": "HostToContainer"}),
        ("volumeMounts[0].mountPropagation",),
    ),
    Case(
        "windows-emptydir-memory",
        "emptyDir medium Memory",
        "pod",
        _add_volume({"name": "scratch", "emptyDir": {"medium": "Memory"}}),
        ("spec.volumes[0].emptyDir.medium",),
    ),
    Case(
        "windows-nfs-volume",
        "nfs volume",
        "pod",
        _add_volume({"name": "share", "nfs": {"server": "nfs.example", "path": "/export"}}),
        ("spec.volumes[0].nfs",),
    ),
    Case(
        "windows-volume-devices",
        "volumeDevices",
        "container",
        _set("volumeDevices", [{"name": "block", "devicePath": "/dev/xvda"}]),
        ("volumeDevices",),
        kinds=REGULAR,
    ),
    Case(
        "windows-hugepages",
        "hugepages limit",
        "container",
        _set(
            "resources",
            {
                "requests": {"memory": "256Mi"},
                "limits": {"memory": "256Mi", "hugepages-2Mi": "100Mi"},
            },
        ),
        ("resources.limits.hugepages-2Mi",),
        kinds=REGULAR,
    ),
    Case(
        "windows-hugepages",
        "hugepages request",
        "container",
        _set(
            "resources",
            {
                "requests": {"memory": "256Mi", "hugepages-1Gi": "1Gi"},
                "limits": {"memory": "256Mi"},
            },
        ),
        ("resources.requests.hugepages-1Gi",),
        kinds=REGULAR,
    ),
    Case(
        "windows-file-mode",
        "secret defaultMode 0400",
        "pod",
        _add_volume({"name": "tls", "secret": {"secretName": "tls", "defaultMode": 0o400}}),
        ("spec.volumes[0].secret.defaultMode",),
    ),
    Case(
        "windows-file-mode",
        "configMap item mode",
        "pod",
        _add_volume(
            {
                "name": "cfg",
                "configMap": {"name": "cfg", "items": [{"key": "a", "path": "a", "mode": 0o600}]},
            }
        ),
        ("spec.volumes[0].configMap.items[0].mode",),
    ),
    Case(
        "windows-file-mode",
        "projected secret item mode",
        "pod",
        _add_volume(projected_secret_volume(0o400)),
        ("spec.volumes[0].projected.sources[0].secret.items[0].mode",),
    ),
    Case(
        "windows-file-mode",
        "downwardAPI defaultMode",
        "pod",
        _add_volume({"name": "d", "downwardAPI": {"defaultMode": 0o444, "items": []}}),
        ("spec.volumes[0].downwardAPI.defaultMode",),
    ),
    Case(
        "windows-termination-message-path",
        "custom terminationMessagePath",
        "container",
        _set("terminationMessagePath", "/tmp/my-log"),
        ("terminationMessagePath",),
    ),
    Case(
        "windows-pod-level-resources",
        "pod-level resources",
        "pod",
        _set("spec.resources", {"limits": {"cpu": "1"}}),
        ("spec.resources",),
    ),
    Case(
        "windows-memory-limits",
        "no memory limit",
        "container",
        _set("resources", {"requests": {"memory": "128Mi"}}),
        ("resources.limits.memory",),
        kinds=REGULAR,
    ),
    Case(
        "windows-memory-limits",
        "limit above request",
        "container",
        _set("resources", {"requests": {"memory": "128Mi"}, "limits": {"memory": "1Gi"}}),
        ("resources.requests.memory",),
        kinds=REGULAR,
    ),
    Case(
        "windows-cpu-requests",
        "cpu request",
        "container",
        _set(
            "resources",
            {"requests": {"memory": "64Mi", "cpu": "250m"}, "limits": {"memory": "64Mi"}},
        ),
        ("resources.requests.cpu",),
        kinds=REGULAR,
    ),
    Case(
        "windows-exec-ping",
        "liveness probe pings",
        "container",
        _set("livenessProbe", {"exec": {"command": ["ping", "-n", "1", "8.8.8.8"]}}),
        ("livenessProbe.exec.command[0]",),
        kinds=("containers",),
    ),
    Case(
        "windows-exec-ping",
        "preStop hook pings through cmd",
        "container",
        _set("lifecycle", {"preStop": {"exec": {"command": ["cmd", "/c", "ping example.com"]}}}),
        ("lifecycle.preStop.exec.command[2]",),
        kinds=REGULAR,
    ),
    Case(
        "windows-run-as-non-root-administrator",
        "runAsNonRoot as ContainerAdministrator",
        "container",
        _set(
            "securityContext",
            {"runAsNonRoot": True, "windowsOptions": {"runAsUserName": "ContainerAdministrator"}},
        ),
        ("securityContext",),
    ),
    Case(
        "windows-hyperv-isolation-annotation",
        "Hyper-V annotation with two containers",
        "pod",
        _seq(
            _set(
                "metadata.annotations",
                {"experimental.windows.kubernetes.io/isolation-type": "hyperv"},
            ),
            lambda pod: pod["spec"]["containers"].append(
                {
                    "name": "side",
                    "image": WINDOWS_IMAGE,
                    "resources": {"limits": {"memory": "64Mi"}},
                }
            ),
        ),
        ('metadata.annotations["experimental.windows.kubernetes.io/isolation-type"]',),
        version="1.23",
    ),
    Case(
        "windows-hyperv-isolation-annotation",
        "Hyper-V annotation after dockershim",
        "pod",
        _set(
            "metadata.annotations", {"experimental.windows.kubernetes.io/isolation-type": "hyperv"}
        ),
        ('metadata.annotations["experimental.windows.kubernetes.io/isolation-type"]',),
        "warn",
    ),
    Case(
        "windows-termination-grace-period",
        "grace period with dockershim",
        "pod",
        _set("spec.terminationGracePeriodSeconds", 60),
        ("spec.terminationGracePeriodSeconds",),
        version="1.23",
    ),
    Case(
        "windows-image-build-mismatch",
        "images of two builds",
        "pod",
        lambda pod: pod["spec"]["containers"].append(
            {
                "name": "old",
                "image": "mcr.microsoft.com/windows/nanoserver:ltsc2019",
                "resources": {"limits": {"memory": "64Mi"}},
            }
        ),
        ("spec.containers[1].image",),
    ),
    Case(
        "windows-image-build-mismatch",
        "image build differs from the node build",
        "pod",
        _set(
            "spec.nodeSelector",
            {"kubernetes.io/os": "windows", "node.kubernetes.io/windows-build": "10.0.17763"},
        ),
        ("spec.containers[0].image",),
    ),
    Case(
        "windows-os-name-without-placement",
        "os.name without a selector",
        "pod",
        _seq(_set("spec.os", {"name": "windows"}), lambda pod: pod["spec"].pop("nodeSelector")),
        ("spec.os.name",),
    ),
    Case(
        "windows-os-conflict",
        "Windows image with a Linux selector",
        "pod",
        _set("spec.nodeSelector", {"kubernetes.io/os": "linux"}),
        ("spec.containers[0].image",),
    ),
    Case(
        "windows-mixed-os-images",
        "a Linux image beside a Windows one",
        "pod",
        lambda pod: pod["spec"]["containers"].append(
            {"name": "proxy", "image": "nginx:1.27", "resources": {"limits": {"memory": "64Mi"}}}
        ),
        ("spec.containers[1].image",),
    ),
    Case(
        "windows-hostprocess-all-containers",
        "one container not HostProcess",
        "pod",
        _seq(
            _host_process_pod,
            lambda pod: pod["spec"]["securityContext"]["windowsOptions"].pop("hostProcess"),
            _set_first_container("securityContext", {"windowsOptions": {"hostProcess": True}}),
            lambda pod: pod["spec"]["containers"].append(
                {
                    "name": "plain",
                    "image": WINDOWS_IMAGE,
                    "resources": {"limits": {"memory": "64Mi"}},
                }
            ),
        ),
        ("spec.containers[1].securityContext.windowsOptions.hostProcess",),
    ),
    Case(
        "windows-hostprocess-pod-container-mismatch",
        "container contradicts the pod",
        "pod",
        _seq(
            _host_process_pod,
            lambda pod: pod["spec"]["containers"].append(
                {
                    "name": "plain",
                    "image": WINDOWS_IMAGE,
                    "resources": {"limits": {"memory": "64Mi"}},
                    "securityContext": {"windowsOptions": {"hostProcess": False}},
                }
            ),
        ),
        ("spec.containers[1].securityContext.windowsOptions.hostProcess",),
    ),
    Case(
        "windows-hostprocess-host-network",
        "HostProcess without hostNetwork",
        "pod",
        _seq(_host_process_pod, lambda pod: pod["spec"].pop("hostNetwork")),
        ("spec.hostNetwork",),
    ),
    Case(
        "windows-hostprocess-run-as-non-root",
        "HostProcess with runAsNonRoot",
        "pod",
        _seq(_host_process_pod, _set("spec.securityContext.runAsNonRoot", True)),
        ("spec.securityContext.runAsNonRoot",),
    ),
    Case(
        "windows-hostprocess-user-name",
        "HostProcess without a user name",
        "pod",
        _seq(
            _host_process_pod,
            lambda pod: pod["spec"]["securityContext"]["windowsOptions"].pop("runAsUserName"),
        ),
        ("spec.containers[0].securityContext.windowsOptions.runAsUserName",),
    ),
    Case(
        "exemption-without-reason",
        "exemption without a reason",
        "pod",
        _set("metadata.annotations", {"winpod.io/exempt": "windows-subpath"}),
        ('metadata.annotations["winpod.io/exempt"]',),
    ),
    Case(
        "windows-field-unavailable",
        "hostUsers before the field existed",
        "pod",
        _set("spec.hostUsers", True),
        ("spec.hostUsers",),
        version="1.24",
    ),
    Case(
        "windows-field-unavailable",
        "pod-level resources while the gate is off",
        "pod",
        _set("spec.resources", {"limits": {"cpu": "1"}}),
        ("spec.resources",),
        version="1.33",
    ),
    Case(
        "windows-hints-without-placement",
        "a Windows toleration and no placement",
        "pod",
        _seq(
            lambda pod: pod["spec"].pop("nodeSelector"),
            lambda pod: pod["spec"]["containers"][0].update(image="example.com/app:1"),
            _set(
                "spec.tolerations",
                [{"key": "os", "operator": "Equal", "value": "windows", "effect": "NoSchedule"}],
            ),
        ),
        ("spec.securityContext.windowsOptions",),
    ),
    Case(
        "windows-hints-without-placement",
        "a Windows image and no placement",
        "pod",
        lambda pod: pod["spec"].pop("nodeSelector"),
        ("spec.containers[0].image",),
    ),
    Case(
        "placement-matches-no-node",
        "kubernetes.io/os in the wrong case",
        "pod",
        _set("spec.nodeSelector", {"kubernetes.io/os": "Windows"}),
        ('spec.nodeSelector["kubernetes.io/os"]',),
    ),
    Case(
        "linux-only-pod-tolerates-windows",
        "a hostPID agent that tolerates every taint",
        "pod",
        _seq(
            lambda pod: pod["spec"].pop("nodeSelector"),
            lambda pod: pod["spec"].pop("securityContext"),
            lambda pod: pod["spec"]["containers"][0].update(image="example.com/agent:1"),
            _set("spec.hostPID", True),
            _set("spec.tolerations", [{"operator": "Exists"}]),
        ),
        ("spec.tolerations",),
    ),
    Case(
        "windows-stop-signal",
        "SIGINT",
        "container",
        _set("lifecycle", {"stopSignal": "SIGINT"}),
        ("lifecycle.stopSignal",),
        kinds=REGULAR,
        version="1.36",
        config={"featureGates": {"ContainerStopSignals": True}},
    ),
    Case(
        "windows-emptydir-mode",
        "emptyDir mode",
        "pod",
        _add_volume({"name": "scratch", "emptyDir": {"mode": 0o1777}}),
        ("spec.volumes[0].emptyDir.mode",),
        version="1.37",
        config={"featureGates": {"EmptyDirVolumeMode": True}},
    ),
    Case(
        "windows-bind-mount-options",
        "noexec",
        "container",
        _mount({"bindMountOptions": ["noexec"]}),
        ("volumeMounts[0].bindMountOptions",),
        version="1.37",
        config={"featureGates": {"VolumeBindMountOptions": True}},
    ),
    Case(
        "windows-run-as-container-administrator",
        "a Server Core image and no user",
        "pod",
        lambda pod: pod["spec"].pop("securityContext"),
        ("spec.containers[0].securityContext.windowsOptions.runAsUserName",),
    ),
]

# Rules whose fail fixture also trips an audit-level companion by design.
COMPANIONS: dict[str, set[str]] = {
    "windows-hostprocess-all-containers": {"windows-hostprocess-pod-security"},
    "windows-hostprocess-pod-container-mismatch": {"windows-hostprocess-pod-security"},
    "windows-hostprocess-host-network": {"windows-hostprocess-pod-security"},
    "windows-hostprocess-run-as-non-root": {"windows-hostprocess-pod-security"},
    "windows-hostprocess-user-name": {"windows-hostprocess-pod-security"},
}

PASS: list[Case] = [
    Case("windows-host-network", "HostProcess pod with hostNetwork", "pod", _host_process_pod),
    Case("windows-privileged", "no privileged field", "container", lambda c: None),
    Case(
        "windows-memory-limits",
        "limit only (request defaults to it)",
        "container",
        _set("resources", {"limits": {"memory": "1Gi"}}),
        kinds=REGULAR,
    ),
    Case(
        "windows-memory-limits",
        "equal quantities written differently",
        "container",
        _set("resources", {"requests": {"memory": "1Gi"}, "limits": {"memory": "1024Mi"}}),
        kinds=REGULAR,
    ),
    Case(
        "windows-file-mode",
        "the apiserver's default mode 420",
        "pod",
        _add_volume({"name": "tls", "secret": {"secretName": "tls", "defaultMode": 420}}),
    ),
    Case(
        "windows-termination-message-path",
        "the default path",
        "container",
        _set("terminationMessagePath", "/dev/termination-log"),
    ),
    Case(
        "windows-mount-propagation",
        "mountPropagation None",
        "container",
        _mount({"mountPropagation": "None"}),
    ),
    Case("windows-subpath", "an empty subPath", "container", _mount({"subPath": ""})),
    Case(
        "windows-exec-ping",
        "a probe that runs a ping-like word",
        "container",
        _set("livenessProbe", {"exec": {"command": ["app.exe", "--ping-timeout=5"]}}),
        kinds=("containers",),
    ),
    Case(
        "windows-pod-level-resources",
        "pod-level resources before 1.34",
        "pod",
        _set("spec.resources", {"limits": {"cpu": "1"}}),
        version="1.33",
    ),
    Case(
        "windows-hyperv-isolation-annotation",
        "Hyper-V annotation, one container, before 1.24",
        "pod",
        _set(
            "metadata.annotations", {"experimental.windows.kubernetes.io/isolation-type": "hyperv"}
        ),
        version="1.23",
    ),
    Case(
        "windows-termination-grace-period",
        "grace period with containerd",
        "pod",
        _set("spec.terminationGracePeriodSeconds", 60),
    ),
    Case(
        "windows-image-build-mismatch",
        "matching build selector",
        "pod",
        _set(
            "spec.nodeSelector",
            {"kubernetes.io/os": "windows", "node.kubernetes.io/windows-build": "10.0.20348"},
        ),
    ),
    Case(
        "windows-os-conflict",
        "a toleration for the Windows taint on a Linux pod",
        "pod",
        _seq(
            _set("spec.nodeSelector", {"kubernetes.io/os": "linux"}),
            lambda pod: pod["spec"]["containers"][0].update(image="registry.k8s.io/pause:3.9"),
            _set(
                "spec.tolerations",
                [{"key": "os", "operator": "Equal", "value": "windows", "effect": "NoSchedule"}],
            ),
        ),
    ),
    Case(
        "exemption-without-reason",
        "exemption with a reason",
        "pod",
        _set(
            "metadata.annotations",
            {
                "winpod.io/exempt": "windows-subpath",
                "winpod.io/exempt-reason": "tested on our nodes",
            },
        ),
    ),
]


def build(case: Case, kind: str | None = None) -> tuple[Obj, list[str]]:
    """The fixture pod for a case and the pod-rooted paths expected to fire."""
    if case.scope == "container":
        assert kind is not None
        pod, prefix = pod_with_container(kind, case.tweak)
        return pod, [f"{prefix}.{p}" for p in case.paths]
    pod = minimal_windows_pod()
    case.tweak(pod)
    return pod, list(case.paths)


def expand(cases: list[Case]) -> list[tuple[Case, str | None]]:
    out: list[tuple[Case, str | None]] = []
    for case in cases:
        if case.scope == "container":
            out.extend((case, kind) for kind in case.kinds)
        else:
            out.append((case, None))
    return out


def case_id(item: tuple[Case, str | None]) -> str:
    case, kind = item
    return f"{case.rule}: {case.name}" + (f" in {kind}" if kind else "")


# kind -> (apiVersion, where the pod template stands in an object of that kind)
_WORKLOAD_SHAPES: dict[str, tuple[str, str]] = {
    "Deployment": ("apps/v1", "spec.template"),
    "ReplicaSet": ("apps/v1", "spec.template"),
    "StatefulSet": ("apps/v1", "spec.template"),
    "DaemonSet": ("apps/v1", "spec.template"),
    "ReplicationController": ("v1", "spec.template"),
    "Job": ("batch/v1", "spec.template"),
    "CronJob": ("batch/v1", "spec.jobTemplate.spec.template"),
    "PodTemplate": ("v1", "template"),
}


def _workload(kind: str) -> Callable[[Obj], Obj]:
    """A builder wrapping a pod's metadata and spec as the template of a `kind` named w."""
    api_version, template_path = _WORKLOAD_SHAPES[kind]

    def wrap(pod: Obj) -> Obj:
        obj: Obj = {"apiVersion": api_version, "kind": kind, "metadata": {"name": "w"}}
        if kind == "CronJob":
            obj["spec"] = {"schedule": "* * * * *"}
        _set(template_path, _template(pod))(obj)
        return obj

    return wrap


WORKLOADS: dict[str, Callable[[Obj], Obj]] = {kind: _workload(kind) for kind in _WORKLOAD_SHAPES}

WORKLOAD_PREFIX = {kind: f"{path}." for kind, (_, path) in _WORKLOAD_SHAPES.items()}


def _template(pod: Obj) -> Obj:
    return {"metadata": copy.deepcopy(pod.get("metadata", {})), "spec": copy.deepcopy(pod["spec"])}
