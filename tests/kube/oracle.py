"""The oracle matrix: every field the catalog knows, set and set-to-empty, at pod level and in
each kind of container, on a pod stamped `spec.os.name: windows`, one stamped `linux`, and one
placed on Windows by its nodeSelector only. The real apiserver's verdict (a server-side dry run
with no webhook, as `kubectl create --dry-run=server` asks it) is compared with winpod's engine
at the same Kubernetes version.

Agreement means:
- the apiserver rejects the pod (422 Invalid / 403 Forbidden) -> winpod denies it;
- the apiserver refuses a field it does not know (400, strict field validation, as kubectl
  asks) -> winpod reports the field as unknown at that release (windows-field-unavailable), for
  the pods it judges as Windows, and does not deny it for an "apiserver rejects" reason;
- the apiserver accepts an os-stamped pod -> winpod does not deny it for an "apiserver rejects"
  reason (it may still deny what cannot work on a Windows node).

`python -m tests.kube.oracle` runs the matrix against the apiservers the tests use and prints
the counts.
"""

from __future__ import annotations

import copy
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from winpod.config import Config
from winpod.engine.evaluate import Engine
from winpod.engine.findings import Evaluation
from winpod.engine.kubeversion import parse_version

from tests.kube.controlplane import ApiServer, ApiVerdict
from tests.rules.builders import (
    OS_LABEL,
    match,
    projected_secret_volume,
    required_node_affinity,
    windows_runtime_class,
)

Obj = dict[str, Any]
Tweak = Callable[[Obj], None]

WINDOWS_IMAGE = "mcr.microsoft.com/windows/nanoserver:ltsc2022"
LINUX_IMAGE = "registry.k8s.io/pause:3.9"
NAMESPACE = "oracle"
RUNTIME_CLASS: Obj = windows_runtime_class()
# Pod variants: how the pod says which OS it is for.
VARIANTS = ("os-windows", "os-linux", "selector-only")
SCOPES = ("pod", "initContainers", "containers", "ephemeralContainers")
# Ephemeral containers may not set these at all (validateEphemeralContainers' allow list), and
# init containers may not have probes or hooks (unless they are sidecars, which 1.24 lacks):
# cases there would test those lists, not the OS.
_NOT_EPHEMERAL = ("resources", "lifecycle", "livenessProbe", "readinessProbe", "startupProbe")
_NOT_INIT = ("lifecycle", "livenessProbe", "readinessProbe", "startupProbe")


def base_pod(variant: str, name: str = "oracle") -> Obj:
    linux = variant == "os-linux"
    spec: Obj = {
        "nodeSelector": {"kubernetes.io/os": "linux" if linux else "windows"},
        "containers": [_container("app", linux)],
        # Volumes the container tweaks mount; neither is a finding by itself.
        "volumes": [
            {"name": "data", "emptyDir": {}},
            {"name": "blk", "persistentVolumeClaim": {"claimName": "blk"}},
        ],
    }
    if variant == "os-windows":
        spec["os"] = {"name": "windows"}
    elif linux:
        spec["os"] = {"name": "linux"}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}


def _container(name: str, linux: bool) -> Obj:
    return {
        "name": name,
        "image": LINUX_IMAGE if linux else WINDOWS_IMAGE,
        "resources": {"limits": {"memory": "256Mi"}},
    }


# --- the fields --------------------------------------------------------------------------------


def _set(path: str, value: Any) -> Tweak:
    keys = path.split(".")

    def apply(obj: Obj) -> None:
        node = obj
        for key in keys[:-1]:
            node = node.setdefault(key, {})
        node[keys[-1]] = copy.deepcopy(value)

    return apply


def _annotation(key: str, value: str) -> Tweak:
    def apply(pod: Obj) -> None:
        pod["metadata"].setdefault("annotations", {})[key] = value

    return apply


def _volume(volume: Obj) -> Tweak:
    def apply(pod: Obj) -> None:
        pod["spec"]["volumes"].append(copy.deepcopy(volume))

    return apply


def _mount(**extra: Any) -> Tweak:
    def apply(container: Obj) -> None:
        container["volumeMounts"] = [{"name": "data", "mountPath": "/data", **extra}]

    return apply


def _both(*tweaks: Tweak) -> Tweak:
    def apply(obj: Obj) -> None:
        for tweak in tweaks:
            tweak(obj)

    return apply


def _drop_limits(container: Obj) -> None:
    container.pop("resources", None)


def _field(path: str, label: str, value: Any) -> tuple[str, str, Tweak]:
    """The case that sets the field at `path`, as the catalog writes it, to `value`: in the pod,
    or in the container for a `<container>.` path."""
    return path, label, _set(path.removeprefix("<container>."), value)


# (field path as the catalog writes it, case label, tweak). Each field has a "set" case and,
# where the type has one, a "set to empty" case ([], {}, false, "", 0).
POD_FIELDS: list[tuple[str, str, Tweak]] = [
    _field("spec.hostPID", "true", True),
    _field("spec.hostPID", "false", False),
    _field("spec.hostIPC", "true", True),
    _field("spec.hostIPC", "false", False),
    _field("spec.hostNetwork", "true", True),
    _field("spec.hostNetwork", "false", False),
    _field("spec.hostUsers", "false", False),
    _field("spec.hostUsers", "true", True),
    _field("spec.shareProcessNamespace", "true", True),
    _field("spec.shareProcessNamespace", "false", False),
    _field("spec.dnsPolicy", "ClusterFirstWithHostNet", "ClusterFirstWithHostNet"),
    _field("spec.terminationGracePeriodSeconds", "60", 60),
    _field("spec.terminationGracePeriodSeconds", "0", 0),
    _field("spec.resources", "cpu limit", {"limits": {"cpu": "1"}}),
    _field("spec.resources", "{}", {}),
    _field("spec.securityContext.runAsUser", "1000", 1000),
    _field("spec.securityContext.runAsUser", "0", 0),
    _field("spec.securityContext.runAsGroup", "1000", 1000),
    _field("spec.securityContext.runAsNonRoot", "true", True),
    _field("spec.securityContext.runAsNonRoot", "false", False),
    _field("spec.securityContext.fsGroup", "2000", 2000),
    _field("spec.securityContext.fsGroup", "0", 0),
    _field("spec.securityContext.fsGroupChangePolicy", "OnRootMismatch", "OnRootMismatch"),
    _field("spec.securityContext.supplementalGroups", "[4000]", [4000]),
    _field("spec.securityContext.supplementalGroups", "[]", []),
    _field("spec.securityContext.supplementalGroupsPolicy", "Strict", "Strict"),
    _field(
        "spec.securityContext.sysctls",
        "somaxconn",
        [{"name": "net.core.somaxconn", "value": "1024"}],
    ),
    _field("spec.securityContext.sysctls", "[]", []),
    _field("spec.securityContext.seLinuxOptions", "level", {"level": "s0:c123,c456"}),
    _field("spec.securityContext.seLinuxOptions", "{}", {}),
    _field("spec.securityContext.seLinuxChangePolicy", "Recursive", "Recursive"),
    _field("spec.securityContext.seccompProfile", "RuntimeDefault", {"type": "RuntimeDefault"}),
    _field("spec.securityContext.appArmorProfile", "RuntimeDefault", {"type": "RuntimeDefault"}),
    _field(
        "spec.securityContext.windowsOptions", "runAsUserName", {"runAsUserName": "ContainerUser"}
    ),
    _field("spec.securityContext.windowsOptions", "{}", {}),
    _field("spec.securityContext.windowsOptions.runAsUserName", "ContainerUser", "ContainerUser"),
    _field("spec.securityContext.windowsOptions.hostProcess", "true without hostNetwork", True),
    (
        "spec.securityContext.windowsOptions.hostProcess",
        "true with hostNetwork",
        _both(
            _set(
                "spec.securityContext.windowsOptions",
                {"hostProcess": True, "runAsUserName": "NT AUTHORITY\\SYSTEM"},
            ),
            _set("spec.hostNetwork", True),
        ),
    ),
    _field("spec.securityContext.windowsOptions.hostProcess", "false", False),
    _field("spec.nodeSelector", "Windows (wrong case)", {"kubernetes.io/os": "Windows"}),
    (
        'spec.nodeSelector["node.kubernetes.io/windows-build"]',
        "2019 build",
        _set(
            "spec.nodeSelector",
            {"kubernetes.io/os": "windows", "node.kubernetes.io/windows-build": "10.0.17763"},
        ),
    ),
    (
        "spec.affinity.nodeAffinity",
        "an empty term",
        _set("spec.affinity", required_node_affinity([])),
    ),
    (
        "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution",
        "windows",
        _set("spec.affinity", required_node_affinity([match(OS_LABEL, "In", "windows")])),
    ),
    _field("spec.runtimeClassName", "windows-2022", "windows-2022"),
    _field("spec.tolerations", "everything", [{"operator": "Exists"}]),
    _field("spec.tolerations", "[]", []),
    ("spec.os.name", "(the variant)", lambda pod: None),
    (
        "spec.volumes[*].emptyDir.medium",
        "Memory",
        _volume({"name": "m", "emptyDir": {"medium": "Memory"}}),
    ),
    ("spec.volumes[*].emptyDir.mode", "01777", _volume({"name": "m", "emptyDir": {"mode": 1023}})),
    (
        "spec.volumes[*].nfs",
        "server",
        _volume({"name": "n", "nfs": {"server": "nfs.example", "path": "/export"}}),
    ),
    (
        "spec.volumes[*].hostPath.path",
        "/proc",
        _volume({"name": "h", "hostPath": {"path": "/proc"}}),
    ),
    (
        "spec.volumes[*].*.defaultMode",
        "0400",
        _volume({"name": "s", "secret": {"secretName": "s", "defaultMode": 0o400}}),
    ),
    (
        "spec.volumes[*].*.defaultMode",
        "420",
        _volume({"name": "s", "secret": {"secretName": "s", "defaultMode": 420}}),
    ),
    (
        "spec.volumes[*].*.items[*].mode",
        "0600",
        _volume(
            {
                "name": "c",
                "configMap": {"name": "c", "items": [{"key": "a", "path": "a", "mode": 0o600}]},
            }
        ),
    ),
    (
        "spec.volumes[*].projected.sources[*].*.items[*].mode",
        "0400",
        _volume(projected_secret_volume(0o400)),
    ),
    (
        "metadata.annotations.*",
        "seccomp pod annotation",
        _annotation("seccomp.security.alpha.kubernetes.io/pod", "runtime/default"),
    ),
    (
        "metadata.annotations.*",
        "seccomp container annotation",
        _annotation("container.seccomp.security.alpha.kubernetes.io/app", "runtime/default"),
    ),
    (
        "metadata.annotations.*",
        "AppArmor container annotation",
        _annotation("container.apparmor.security.beta.kubernetes.io/app", "runtime/default"),
    ),
    (
        'metadata.annotations["experimental.windows.kubernetes.io/isolation-type"]',
        "hyperv",
        _annotation("experimental.windows.kubernetes.io/isolation-type", "hyperv"),
    ),
    (
        'metadata.annotations["winpod.io/exempt"]',
        "without a reason",
        _annotation("winpod.io/exempt", "windows-subpath"),
    ),
    (
        'metadata.annotations["winpod.io/exempt-reason"]',
        "with its exemption",
        _both(
            _annotation("winpod.io/exempt", "windows-subpath"),
            _annotation("winpod.io/exempt-reason", "tested"),
        ),
    ),
]

CONTAINER_FIELDS: list[tuple[str, str, Tweak]] = [
    ("<container>", "(the container itself)", lambda c: None),
    _field("<container>.image", "a Linux-only image", "nginx:1.27"),
    _field("<container>.securityContext.privileged", "true", True),
    _field("<container>.securityContext.privileged", "false", False),
    _field("<container>.securityContext.allowPrivilegeEscalation", "true", True),
    _field("<container>.securityContext.allowPrivilegeEscalation", "false", False),
    _field("<container>.securityContext.capabilities", "drop ALL", {"drop": ["ALL"]}),
    _field("<container>.securityContext.capabilities", "{}", {}),
    (
        "<container>.securityContext.capabilities.add",
        "NET_ADMIN",
        _set("securityContext.capabilities", {"add": ["NET_ADMIN"]}),
    ),
    _field("<container>.securityContext.procMount", "Default", "Default"),
    _field("<container>.securityContext.readOnlyRootFilesystem", "true", True),
    _field("<container>.securityContext.readOnlyRootFilesystem", "false", False),
    _field("<container>.securityContext.runAsUser", "1000", 1000),
    _field("<container>.securityContext.runAsUser", "0", 0),
    _field("<container>.securityContext.runAsGroup", "3000", 3000),
    _field("<container>.securityContext.runAsNonRoot", "true", True),
    _field("<container>.securityContext.seLinuxOptions", "level", {"level": "s0:c1"}),
    _field("<container>.securityContext.seLinuxOptions", "{}", {}),
    _field(
        "<container>.securityContext.seccompProfile", "RuntimeDefault", {"type": "RuntimeDefault"}
    ),
    _field(
        "<container>.securityContext.appArmorProfile", "RuntimeDefault", {"type": "RuntimeDefault"}
    ),
    _field(
        "<container>.securityContext.windowsOptions",
        "runAsUserName",
        {"runAsUserName": "ContainerUser"},
    ),
    _field("<container>.securityContext.windowsOptions", "{}", {}),
    _field(
        "<container>.securityContext.windowsOptions.runAsUserName",
        "ContainerAdministrator",
        "ContainerAdministrator",
    ),
    _field(
        "<container>.securityContext.windowsOptions.hostProcess", "true (this container only)", True
    ),
    _field("<container>.securityContext.windowsOptions.hostProcess", "false", False),
    ("<container>.volumeMounts[*].subPath", "conf", _mount(subPath="conf")),
    ("<container>.volumeMounts[*].subPath", '""', _mount(subPath="")),
    ("<container>.volumeMounts[*].subPathExpr", "$(POD)", _mount(subPathExpr="$(POD)")),
    (
        "<container>.volumeMounts[*].mountPropagation",
        "HostToContainer",
        _mount(mountPropagation="HostToContainer"),
    ),
    ("<container>.volumeMounts[*].mountPropagation", "None", _mount(mountPropagation="None")),
    ("<container>.volumeMounts[*].bindMountOptions", "noexec", _mount(bindMountOptions=["noexec"])),
    _field("<container>.volumeDevices", "block", [{"name": "blk", "devicePath": "/dev/xvda"}]),
    _field("<container>.volumeDevices", "[]", []),
    (
        "<container>.resources.*.*",
        "hugepages-2Mi",
        _set("resources", {"limits": {"memory": "256Mi", "hugepages-2Mi": "100Mi"}}),
    ),
    ("<container>.resources.limits.memory", "no limit", _drop_limits),
    (
        "<container>.resources.requests.memory",
        "below the limit",
        _set("resources", {"requests": {"memory": "128Mi"}, "limits": {"memory": "256Mi"}}),
    ),
    (
        "<container>.resources.requests.cpu",
        "250m",
        _set("resources", {"requests": {"cpu": "250m"}, "limits": {"memory": "256Mi"}}),
    ),
    _field("<container>.terminationMessagePath", "/tmp/log", "/tmp/log"),
    (
        "<container>.livenessProbe.exec.command[*]",
        "ping",
        _set("livenessProbe", {"exec": {"command": ["ping", "-n", "1", "8.8.8.8"]}}),
    ),
    (
        "<container>.readinessProbe.exec.command[*]",
        "ping",
        _set("readinessProbe", {"exec": {"command": ["ping", "-n", "1", "8.8.8.8"]}}),
    ),
    (
        "<container>.startupProbe.exec.command[*]",
        "ping",
        _set("startupProbe", {"exec": {"command": ["ping", "-n", "1", "8.8.8.8"]}}),
    ),
    (
        "<container>.lifecycle.postStart.exec.command[*]",
        "ping",
        _set("lifecycle", {"postStart": {"exec": {"command": ["ping", "example.com"]}}}),
    ),
    (
        "<container>.lifecycle.preStop.exec.command[*]",
        "ping",
        _set("lifecycle", {"preStop": {"exec": {"command": ["ping", "example.com"]}}}),
    ),
    ("<container>.lifecycle.stopSignal", "SIGINT", _set("lifecycle", {"stopSignal": "SIGINT"})),
    ("<container>.lifecycle.stopSignal", "SIGTERM", _set("lifecycle", {"stopSignal": "SIGTERM"})),
]


@dataclass(frozen=True)
class Case:
    field: str
    label: str
    scope: str  # pod | initContainers | containers | ephemeralContainers
    variant: str  # os-windows | os-linux | selector-only
    tweak: Tweak

    @property
    def id(self) -> str:
        where = "pod" if self.scope == "pod" else self.scope
        return f"{self.field} {self.label} [{where}, {self.variant}]"

    def pod(self) -> Obj:
        """The whole pod winpod judges (for ephemeral containers: the pod once the container
        is added, as the pods/ephemeralcontainers review carries it)."""
        pod = base_pod(self.variant)
        if self.scope == "pod":
            self.tweak(pod)
            return pod
        linux = self.variant == "os-linux"
        if self.scope == "containers":
            target = pod["spec"]["containers"][0]
        else:
            target = _container("extra", linux)
            if self.scope == "ephemeralContainers":
                target.pop("resources")
            pod["spec"][self.scope] = [target]
        self.tweak(target)
        return pod

    def ephemeral_container(self) -> Obj:
        return self.pod()["spec"]["ephemeralContainers"][0]


def cases() -> Iterator[Case]:
    for variant in VARIANTS:
        for field, label, tweak in POD_FIELDS:
            yield Case(field, label, "pod", variant, tweak)
        for scope in SCOPES[1:]:
            for field, label, tweak in CONTAINER_FIELDS:
                first = field.split(".")[1] if "." in field else ""
                if scope == "ephemeralContainers" and (
                    first in _NOT_EPHEMERAL or "subPath" in field
                ):
                    continue
                if scope == "initContainers" and first in _NOT_INIT:
                    continue
                yield Case(field, label, scope, variant, tweak)


def catalog_fields() -> set[str]:
    """Every field path the catalog reads (rules' checks, their `fields`, the apiserver table)."""
    from winpod.engine import apifields
    from winpod.engine.rules import load_catalog

    paths: set[str] = set()
    for rule in load_catalog().rules.values():
        paths.update(rule.field_paths())
    for entry in (*apifields.FIELDS, *apifields.LINUX_FORBIDDEN):
        paths.add(("<container>." if entry.container else "") + entry.path)
    return paths


# --- verdicts ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    case: Case
    version: str
    apiserver: str  # accepted | rejected | unknown-field
    detail: str  # the apiserver's message (rejected) or warnings
    winpod: Evaluation

    @property
    def winpod_denied(self) -> bool:
        return self.winpod.denied

    @property
    def denied_for_apiserver_reason(self) -> list[str]:
        return [f.line() for f in self.winpod.findings if f.blocks and f.apiserver_rejects]

    @property
    def reported_unknown(self) -> bool:
        return any(f.rule == "windows-field-unavailable" for f in self.winpod.findings)

    @property
    def stamped(self) -> bool:
        return self.case.variant != "selector-only"

    def disagreement(self) -> str | None:
        if self.apiserver == "rejected" and not self.winpod_denied:
            return f"the apiserver rejects it ({self.detail}) but winpod does not deny it"
        if self.apiserver == "unknown-field":
            if self.denied_for_apiserver_reason:
                return "the apiserver does not know the field, winpod denies it as rejected"
            windows = self.winpod.os is not None and self.winpod.os.os == "windows"
            if windows and not self.reported_unknown:
                return "the apiserver does not know the field and winpod does not say so"
        if self.apiserver == "accepted" and self.stamped and self.denied_for_apiserver_reason:
            return "the apiserver accepts it but winpod denies it as rejected: " + "; ".join(
                self.denied_for_apiserver_reason
            )
        return None


def classify(verdict: ApiVerdict) -> tuple[str, str]:
    if verdict.allowed:
        return "accepted", "; ".join(verdict.warnings)
    if verdict.code == 400 and "unknown field" in verdict.message:
        return "unknown-field", verdict.message
    return "rejected", verdict.message


class Oracle:
    """The matrix against one apiserver; winpod judges at the same version."""

    def __init__(self, server: ApiServer) -> None:
        self.server = server
        self.engine = Engine(config=Config(runtimeClasses=[RUNTIME_CLASS]))
        self.version = parse_version(server.minor)
        self._ephemeral_bases: dict[str, str] = {}

    def prepare(self) -> None:
        self.server.ensure_namespace(NAMESPACE)
        if self.server.get("RuntimeClass", "windows-2022", "") is None:
            self.server.create(RUNTIME_CLASS, "")
        for variant in VARIANTS:
            name = f"base-{variant}"
            if self.server.get("Pod", name, NAMESPACE) is None:
                created = self.server.create(base_pod(variant, name), NAMESPACE)
                assert created.allowed, f"base pod {variant}: {created.message}"
            self._ephemeral_bases[variant] = name

    def judge(self, case: Case) -> Outcome:
        pod = case.pod()
        if case.scope == "ephemeralContainers":
            verdict = self.server.ephemeral_dry_run(
                NAMESPACE, self._ephemeral_bases[case.variant], [case.ephemeral_container()]
            )
        else:
            verdict = self.server.dry_run_create(pod, NAMESPACE)
        apiserver, detail = classify(verdict)
        evaluation = self.engine.evaluate(pod, version=self.version, namespace=NAMESPACE)
        return Outcome(case, self.server.minor, apiserver, detail, evaluation)


def summarize(outcomes: list[Outcome]) -> str:
    lines = [
        "| version | cases | apiserver accepts | rejects | unknown field | agree |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for version in sorted({o.version for o in outcomes}):
        mine = [o for o in outcomes if o.version == version]
        counts = Counter(o.apiserver for o in mine)
        agree = sum(1 for o in mine if o.disagreement() is None)
        lines.append(
            f"| {version} | {len(mine)} | {counts['accepted']} | {counts['rejected']}"
            f" | {counts['unknown-field']} | {agree} |"
        )
    return "\n".join(lines)


def main() -> int:  # pragma: no cover - a report for people, run by hand
    from tests.kube.controlplane import ControlPlane, find_binaries

    binaries = find_binaries()
    if isinstance(binaries, str):
        print(binaries, file=sys.stderr)
        return 2
    with ControlPlane.start(binaries) as plane:
        outcomes: list[Outcome] = []
        for server in plane.servers.values():
            oracle = Oracle(server)
            oracle.prepare()
            outcomes.extend(oracle.judge(case) for case in cases())
    print(summarize(outcomes))
    for outcome in outcomes:
        problem = outcome.disagreement()
        if problem:
            print(f"{outcome.version} {outcome.case.id}: {problem}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
