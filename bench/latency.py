"""Pod-create latency through a real kube-apiserver (1.36, from tests/kube): with no admission
control, with winpod's exported policies (ValidatingAdmissionPolicy + MutatingAdmissionPolicy,
`winpod export`), and with winpod's webhooks (`winpod serve`, registered by URL), in one run,
interleaved round by round so drift hits all three alike. Each create is a real create of a
pod that passes, deleted after, for two pods in every round: a Windows pod (placed by
nodeSelector; the policies add its toleration, build selector and spec.os.name) and a Linux
pod (the majority in a mixed cluster; the policies add its kubernetes.io/os selector).

    .venv/bin/python -m bench.latency [--creates 500]

Prints the size of the export (objects, CEL expressions, YAML bytes), then per pod and
setup p50 and p99, what each adds over no admission control, and the ratio of the policies'
added median to the webhook's (goal: at most 10%).

`--setups none,floor,policies,webhook` adds the floor: policies of the export's own shape that
compute nothing (`_floor_objects`: two ValidatingAdmissionPolicies with one `true` validation,
bound to Deny and to Warn, and a MutatingAdmissionPolicy whose JSONPatch adds one label), bound
the same way. What it adds is what policies of that shape cost in this apiserver before
winpod's expressions do anything: the part of the goal no export can go below.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.kube.controlplane import ApiServer, ControlPlane, find_binaries, wait_for  # noqa: E402

WINDOWS_POD: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "bench"},
    "spec": {
        "nodeSelector": {"kubernetes.io/os": "windows"},
        "securityContext": {"windowsOptions": {"runAsUserName": "ContainerUser"}},
        "containers": [
            {
                "name": "app",
                "image": "mcr.microsoft.com/windows/servercore:ltsc2022",
                "resources": {"requests": {"memory": "256Mi"}, "limits": {"memory": "256Mi"}},
            }
        ],
    },
}
LINUX_POD: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "bench"},
    "spec": {
        "containers": [
            {
                "name": "app",
                "image": "nginx:1.27",
                "resources": {"requests": {"memory": "128Mi"}, "limits": {"memory": "128Mi"}},
            }
        ],
    },
}
PODS = {"windows": WINDOWS_POD, "linux": LINUX_POD}
_PATHS = {
    "ValidatingAdmissionPolicy": "validatingadmissionpolicies",
    "ValidatingAdmissionPolicyBinding": "validatingadmissionpolicybindings",
    "MutatingAdmissionPolicy": "mutatingadmissionpolicies",
    "MutatingAdmissionPolicyBinding": "mutatingadmissionpolicybindings",
}


def _export(minor: str) -> Any:
    from winpod.config import Config
    from winpod.engine.evaluate import Engine
    from winpod.engine.kubeversion import parse_version
    from winpod.export import export

    return export(Engine(config=Config(kubernetesVersion=minor)), parse_version(minor))


def _size(result: Any) -> str:
    import yaml

    text = yaml.safe_dump_all(result.objects, sort_keys=False, width=1 << 20)
    return (
        f"export at {result.version}: {len(result.objects)} objects, {result.expressions} CEL"
        f" expressions, {len(text.encode())} bytes of YAML"
    )


def _floor_objects() -> list[dict[str, Any]]:
    """The cheapest policies of the export's own shape: a ValidatingAdmissionPolicy with one
    `true` validation for each of its two bindings' actions (Deny, Warn), and a
    MutatingAdmissionPolicy whose JSONPatch adds one label (the export's mutation adds
    placement to every pod the bench creates)."""
    api = "admissionregistration.k8s.io/v1"
    rules = [
        {
            "apiGroups": [""],
            "apiVersions": ["v1"],
            "operations": ["CREATE"],
            "resources": ["pods"],
        }
    ]
    match = {"resourceRules": rules, "namespaceSelector": {}}
    objects: list[dict[str, Any]] = []
    for action in ("Deny", "Warn"):
        name = f"floor-{action.lower()}"
        binding = {"policyName": name, "matchResources": {"namespaceSelector": {}}}
        objects += [
            {
                "apiVersion": api,
                "kind": "ValidatingAdmissionPolicy",
                "metadata": {"name": name},
                "spec": {"matchConstraints": match, "validations": [{"expression": "true"}]},
            },
            {
                "apiVersion": api,
                "kind": "ValidatingAdmissionPolicyBinding",
                "metadata": {"name": name},
                "spec": {**binding, "validationActions": [action]},
            },
        ]
    binding = {"policyName": "floor", "matchResources": {"namespaceSelector": {}}}
    label = (
        "[JSONPatch{op: 'add', path: '/metadata/labels', value: {'winpod-bench-floor': 'true'}}]"
    )
    return [
        *objects,
        {
            "apiVersion": api,
            "kind": "MutatingAdmissionPolicy",
            "metadata": {"name": "floor"},
            "spec": {
                "matchConstraints": match,
                "reinvocationPolicy": "Never",
                "mutations": [{"patchType": "JSONPatch", "jsonPatch": {"expression": label}}],
            },
        },
        {
            "apiVersion": api,
            "kind": "MutatingAdmissionPolicyBinding",
            "metadata": {"name": "floor"},
            "spec": binding,
        },
    ]


def _apply_policies(
    server: ApiServer, objects: list[dict[str, Any]], namespace_label: dict[str, str]
) -> None:
    for obj in objects:
        if obj["kind"].endswith("Binding"):
            selector = obj["spec"]["matchResources"]["namespaceSelector"]
            selector.setdefault("matchLabels", {}).update(namespace_label)
        path = f"/apis/admissionregistration.k8s.io/v1/{_PATHS[obj['kind']]}"
        response = server.request("POST", path, obj)
        if response.status != 201:
            raise RuntimeError(f"apply {obj['kind']}: {response.text[:500]}")


def _start_webhook(directory: Path, minor: str) -> Any:
    from tests.conftest import _serve

    return _serve(directory, {"kubernetesVersion": minor}, None, (), 30.0)


def _create(server: ApiServer, namespace: str, template: dict[str, Any], index: int) -> float:
    pod = json.loads(json.dumps(template))
    pod["metadata"]["name"] = f"bench-{index}"
    started = time.perf_counter()
    verdict = server.create(pod, namespace)
    elapsed = time.perf_counter() - started
    if not verdict.allowed:
        raise RuntimeError(f"create in {namespace} refused: {verdict.message[:300]}")
    server.delete("Pod", pod["metadata"]["name"], namespace)
    return elapsed


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--creates", type=int, default=500, help="creates per setup (default 500)")
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument(
        "--setups",
        default="none,policies,webhook",
        help="comma-separated setups to run (default none,policies,webhook; none always runs)",
    )
    parser.add_argument(
        "--objects",
        default="",
        help="apply only the exported objects whose names start with one of these"
        " (comma-separated, e.g. winpod-deny,winpod-place; default all)",
    )
    args = parser.parse_args(argv)
    binaries = find_binaries()
    if isinstance(binaries, str):
        print(f"bench/latency.py: {binaries}", file=sys.stderr)
        return 2
    with (
        tempfile.TemporaryDirectory(prefix="winpod-latency-") as tmp,
        ControlPlane.start(binaries, minors=["1.36"]) as plane,
    ):
        server = plane.servers["1.36"]
        wanted = {"none", *(n.strip() for n in args.setups.split(",") if n.strip())}
        setups = {
            name: {"winpod-bench": name}
            for name in ("none", "floor", "policies", "webhook")
            if name in wanted
        }
        for name, label in setups.items():
            server.ensure_namespace(f"bench-{name}", label)
        result = _export(server.minor)
        print(_size(result))
        prefixes = tuple(p.strip() for p in args.objects.split(",") if p.strip())
        if prefixes:
            kept = [o for o in result.objects if o["metadata"]["name"].startswith(prefixes)]
            result.objects[:] = kept
            print(
                "applied only: " + ", ".join(f"{o['kind']} {o['metadata']['name']}" for o in kept)
            )
        placing = any(o["kind"] == "MutatingAdmissionPolicy" for o in result.objects)
        if "policies" in setups:
            _apply_policies(server, result.objects, setups["policies"])
        if "floor" in setups:
            _apply_policies(server, _floor_objects(), setups["floor"])
        hook = _start_webhook(Path(tmp) / "webhook", server.minor) if "webhook" in setups else None
        try:
            if hook is not None:
                server.register_webhooks(
                    "bench",
                    validate_url=f"{hook.url}/validate",
                    mutate_url=f"{hook.url}/mutate",
                    ca_bundle_pem=hook.ca.cert_pem,
                    namespace_selector={"matchLabels": setups["webhook"]},
                    failure_policy="Fail",
                )

            def ready() -> bool:
                if "policies" in setups and placing:
                    placed = server.dry_run_create(WINDOWS_POD, "bench-policies").object or {}
                    if not (placed.get("spec") or {}).get("tolerations"):
                        return False
                if "floor" in setups:
                    floored = server.dry_run_create(WINDOWS_POD, "bench-floor").object or {}
                    if "winpod-bench-floor" not in (floored.get("metadata") or {}).get(
                        "labels", {}
                    ):
                        return False
                if hook is not None:
                    hooked = server.dry_run_create(WINDOWS_POD, "bench-webhook")
                    if not any(w.startswith("winpod set") for w in hooked.warnings):
                        return False
                return True

            # The apiserver compiles policies in the background after they are created.
            wait_for(ready, timeout=120)
            if "policies" in setups and not placing:
                time.sleep(5)  # no placement to wait for: give the compiles a moment
            times: dict[tuple[str, str], list[float]] = {
                (pod, name): [] for pod in PODS for name in setups
            }
            for index in range(args.warmup + args.creates):
                # Interleaved: one create of each pod in each setup per round.
                for pod, template in PODS.items():
                    for name in setups:
                        elapsed = _create(server, f"bench-{name}", template, index)
                        if index >= args.warmup:
                            times[(pod, name)].append(elapsed)
        finally:
            if hook is not None:
                hook.stop()
    print(
        f"pod creates through kube-apiserver {server.version}, {args.creates} per pod and setup,"
        " interleaved"
    )
    print(f"{'pod':<8} {'setup':<10} {'p50 ms':>8} {'p99 ms':>8} {'added p50 ms':>13}")
    ratios = []
    for pod in PODS:
        base = statistics.median(times[(pod, "none")])
        added: dict[str, float] = {}
        for name in setups:
            values = times[(pod, name)]
            p50, p99 = statistics.median(values), _quantile(values, 0.99)
            added[name] = p50 - base
            print(
                f"{pod:<8} {name:<10} {p50 * 1000:8.2f} {p99 * 1000:8.2f}"
                f" {added[name] * 1000:13.2f}"
            )
        for name in ("floor", "policies"):
            if added.get("webhook", 0) > 0 and name in added:
                ratios.append((pod, name, added[name] / added["webhook"]))
    for pod, name, ratio in ratios:
        verdict = "meets" if ratio <= 0.10 else "misses"
        print(
            f"{pod} pod: {name} adds {ratio:.1%} of the webhook's added median ({verdict} the"
            " 10% goal)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
