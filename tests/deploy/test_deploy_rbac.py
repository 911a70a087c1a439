"""RBAC matches what the code calls: the webhook reads two kinds, the audit job a few more.

Cross-checked against the paths the cluster code requests, so a new list call without a grant
(a 403 only a real cluster would show) fails here.
"""

from __future__ import annotations

import pytest
from deploy_render import Doc, one

AUDIT_WRITE_VERBS = {"get", "list", "create", "update", "patch", "delete"}


def grants(role: Doc) -> set[tuple[str, str, str]]:
    return {
        (group, resource, verb)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


def _group_and_resource(path: str) -> tuple[str, str]:
    parts = path.strip("/").split("/")
    return ("", parts[-1]) if parts[0] == "api" else (parts[1], parts[-1])


def test_the_webhook_role_covers_the_caches_list_and_watch_paths(
    kustomized: dict[str, list[Doc]],
) -> None:
    view = pytest.importorskip("winpod.cluster.view")
    role = grants(one(kustomized["cert-manager"], "ClusterRole", "winpod"))
    for path in (view.RUNTIME_CLASSES_PATH, view.NAMESPACES_PATH):
        group, resource = _group_and_resource(path)
        assert {(group, resource, "list"), (group, resource, "watch")} <= role, path


def test_the_audit_role_lists_every_audited_kind_and_writes_only_policy_reports(
    audit_kustomized: list[Doc],
) -> None:
    audit = pytest.importorskip("winpod.cluster.audit")
    role = grants(one(audit_kustomized, "ClusterRole", "winpod-audit"))
    for kind in audit.KINDS:
        group, resource = _group_and_resource(kind.path(None))
        assert (group, resource, "list") in role, kind.kind
    writes = {(g, r) for g, r, v in role if v in {"create", "update", "patch", "delete"}}
    assert writes == {("wgpolicyk8s.io", "policyreports")}
    assert {v for g, r, v in role if r == "policyreports"} == AUDIT_WRITE_VERBS
    assert not {v for _, _, v in role} & {"*", "escalate", "bind", "impersonate"}


def test_the_audit_job_has_its_own_identity_and_a_restricted_pod(
    audit_kustomized: list[Doc],
) -> None:
    binding = one(audit_kustomized, "ClusterRoleBinding", "winpod-audit")
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "winpod-audit", "namespace": "winpod"}
    ]
    job = one(audit_kustomized, "CronJob", "winpod-audit")["spec"]["jobTemplate"]["spec"]
    pod = job["template"]["spec"]
    assert pod["serviceAccountName"] == "winpod-audit"
    assert pod["nodeSelector"] == {"kubernetes.io/os": "linux"}
    (container,) = pod["containers"]
    assert container["command"] == ["winpod", "audit"] and "--apply" in container["args"]
    sc = container["securityContext"]
    assert (
        sc["readOnlyRootFilesystem"]
        and sc["runAsNonRoot"]
        and sc["capabilities"] == {"drop": ["ALL"]}
    )


def test_the_audit_job_arguments_parse_with_the_audit_command() -> None:
    from winpod.cli import build_parser

    pytest.importorskip("winpod.commands.audit")
    args = build_parser().parse_args(["audit", "--config=/etc/winpod/config.yaml", "--apply"])
    assert args.apply and args.config == "/etc/winpod/config.yaml"


def test_the_webhook_arguments_parse_with_the_serve_command(
    kustomized: dict[str, list[Doc]],
) -> None:
    from winpod.cli import build_parser

    pytest.importorskip("winpod.commands.serve")
    container = one(kustomized["cert-manager"], "Deployment")["spec"]["template"]["spec"][
        "containers"
    ][0]
    args = build_parser().parse_args(["serve", *container["args"]])
    assert args.watch_cluster and args.port == 8443
    assert str(args.cert_file) == "/etc/winpod/tls/tls.crt"
