"""Through the real 1.36 apiserver, with no webhook registered: the exported policies applied,
the rule fixtures and the corpus created in a namespace they bind to give the denials and the
warnings `winpod check` gives for the same objects (after winpod's mutation, for Pods, as the
apiserver runs the mutating policy first), and the stored pods carry the placement winpod's
mutation adds. Audit findings go to the audit log, which this apiserver does not write: the
offline test checks those."""

from __future__ import annotations

import copy
import json
import re
from collections import Counter
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from winpod.config import Config
from winpod.engine.evaluate import Engine
from winpod.engine.kubeversion import parse_version
from winpod.engine.mutate import mutate_object
from winpod.export import Export, export

from tests.export.conftest import EARLY
from tests.export.verdicts import CORPUS, corpus_items, engine_verdict, warning_verdict
from tests.kube.controlplane import ApiServer, wait_for
from tests.kube.hooks import kubectl_warnings, needs_kubectl
from tests.rules.cases import FAIL, PASS, Case, build, case_id, expand

pytestmark = pytest.mark.kube

VERSION = "1.36"
LABEL = {"winpod-test.io/export": "agreement"}
_WARNING = re.compile(
    r"^Validation failed for ValidatingAdmissionPolicy '([^']+)' with binding '[^']+': (.*)$"
)
_RULE = re.compile(r"\(rule ([a-z0-9-]+)\)")
_PATHS = {
    "ValidatingAdmissionPolicy": "validatingadmissionpolicies",
    "ValidatingAdmissionPolicyBinding": "validatingadmissionpolicybindings",
    "MutatingAdmissionPolicy": "mutatingadmissionpolicies",
    "MutatingAdmissionPolicyBinding": "mutatingadmissionpolicybindings",
}
TALLY: Counter[str] = Counter()
_NAMESPACES: set[str] = set()


def _path(obj: Mapping[str, Any], name: bool = False) -> str:
    base = f"/apis/admissionregistration.k8s.io/v1/{_PATHS[obj['kind']]}"
    return f"{base}/{obj['metadata']['name']}" if name else base


def scoped(result: Export) -> list[dict[str, Any]]:
    """The exported objects with each binding narrowed to namespaces labelled LABEL, so the
    other tests sharing this apiserver never meet them."""
    objects = copy.deepcopy(result.objects)
    for obj in objects:
        if obj["kind"].endswith("Binding"):
            selector = obj["spec"]["matchResources"]["namespaceSelector"]
            selector.setdefault("matchLabels", {}).update(LABEL)
    return objects


PROBE = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "probe"},
    "spec": {
        "nodeSelector": {"kubernetes.io/os": "windows"},
        "hostPID": True,
        "containers": [{"name": "c", "image": "mcr.microsoft.com/windows/nanoserver:ltsc2022"}],
    },
}


def install(server: ApiServer) -> tuple[Engine, Export, list[dict[str, Any]]]:
    """Apply the export to `server` and wait until the apiserver enforces all of it."""
    engine = Engine(config=Config(kubernetesVersion=VERSION))
    result = export(engine, parse_version(VERSION), failure_policy="Fail")
    objects = scoped(result)
    for obj in objects:
        response = server.request("POST", _path(obj), obj)
        assert response.status == 201, response.text[:2000]
    server.ensure_namespace("export-probe", LABEL)

    warned = {
        **PROBE,
        "spec": {
            "nodeSelector": {"kubernetes.io/os": "windows"},
            "volumes": [{"name": "m", "emptyDir": {"medium": "Memory"}}],
            "containers": PROBE["spec"]["containers"],
        },
    }

    def active() -> bool:
        # The apiserver loads each policy from its own informer: wait for all three.
        denied = server.dry_run_create(PROBE, "export-probe")
        allowed = server.dry_run_create(warned, "export-probe")
        placed = allowed.object is not None and bool(
            (allowed.object.get("spec") or {}).get("tolerations")
        )
        return (
            "winpod-deny" in denied.message
            and any("winpod-warn" in w for w in allowed.warnings)
            and placed
        )

    # The apiserver compiles the policies for seconds before it enforces them.
    wait_for(active, timeout=90)
    return engine, result, objects


@pytest.fixture(scope="module")
def policies(apiservers: Mapping[str, ApiServer]) -> Iterator[tuple[ApiServer, Engine, Export]]:
    if VERSION not in apiservers:
        pytest.skip(f"no kube-apiserver {VERSION}")
    server = apiservers[VERSION]
    early = EARLY.pop("policies", None)  # applied while the offline tests ran (conftest.py)
    engine, result, objects = early.result() if early is not None else install(server)
    yield server, engine, result
    for obj in reversed(objects):
        server.request("DELETE", _path(obj, name=True))


def _created(
    server: ApiServer, obj: dict[str, Any], namespace: str
) -> tuple[str, set[tuple[str, str]], dict[str, Any] | None]:
    """('denied' | 'refused' | 'allowed', the rules shown as denied and warned, the stored
    object)."""
    verdict = server.create(obj, namespace)
    shown: set[tuple[str, str]] = set()
    for warning in verdict.warnings:
        match = _WARNING.match(warning)
        if match is not None:
            shown |= warning_verdict([match.group(2)])
    if verdict.allowed:
        return "allowed", shown, verdict.object
    if "winpod-deny" not in verdict.message:
        return "refused: " + verdict.message[:200], shown, None
    shown |= {(rule, "deny") for rule in _RULE.findall(verdict.message)}
    return "denied", shown, None


def _expected(
    engine: Engine, obj: dict[str, Any], namespace: str, left: list[str]
) -> tuple[frozenset[tuple[str, str]], dict[str, Any] | None]:
    version = parse_version(VERSION)
    if obj.get("kind") == "Pod":
        mutation = mutate_object(engine, obj, namespace=namespace, version=version)
        evaluation, mutated = mutation.evaluation, mutation.mutated
    else:
        evaluation, mutated = engine.evaluate(obj, version=version, namespace=namespace), None
    verdict = engine_verdict(evaluation, left)
    # The audit log is not written here: audit findings are the offline test's.
    return frozenset(v for v in verdict if v[1] != "audit"), mutated


def _check(policies: tuple[ApiServer, Engine, Export], obj: dict[str, Any], namespace: str) -> None:
    server, engine, result = policies
    if namespace not in _NAMESPACES:
        server.ensure_namespace(namespace, LABEL)
        _NAMESPACES.add(namespace)
    left = [item.what for item in result.left]
    expected, mutated = _expected(engine, obj, namespace, left)
    outcome, shown, stored = _created(server, obj, namespace)
    if outcome.startswith("refused"):
        # The apiserver's own validation runs before admission policies: the object never
        # reached them. winpod must deny it too, or it is something winpod does not judge.
        TALLY["refused by the apiserver"] += 1
        pytest.skip(f"the apiserver refused it before admission ({outcome})")
    assert shown == expected, (
        f"apiserver {sorted(shown - expected)} winpod {sorted(expected - shown)}"
    )
    assert (outcome == "denied") == any(v[1] == "deny" for v in expected)
    if stored is not None and mutated is not None:
        for key in ("nodeSelector", "os"):
            assert stored["spec"].get(key) == mutated["spec"].get(key), key
        for toleration in mutated["spec"].get("tolerations") or []:
            assert toleration in stored["spec"].get("tolerations", []), toleration
    TALLY["agreed"] += 1


def _fixture_items() -> list[tuple[Case, str | None]]:
    items = []
    for case, kind in expand(FAIL) + expand(PASS):
        if case.version not in (None, VERSION) or case.config:
            continue  # judged at another release or with other gates than this apiserver's
        if kind in ("ephemeralContainers", "initContainers"):
            # A create cannot carry ephemeral containers; init containers are judged as the
            # others (the offline test holds every kind to the engine).
            continue
        items.append((case, kind))
    return items


FIXTURES = _fixture_items()


@pytest.mark.parametrize("item", FIXTURES, ids=[case_id(i) for i in FIXTURES])
def test_a_rule_fixture_meets_the_same_denials_and_warnings_from_the_policies(
    policies: tuple[ApiServer, Engine, Export], item: tuple[Case, str | None]
) -> None:
    case, kind = item
    pod, _ = build(case, kind)
    pod["metadata"]["name"] = f"f{FIXTURES.index(item)}"
    pod["metadata"].pop("namespace", None)
    # The fixtures mount a volume they do not declare; the apiserver wants it declared.
    mounted = {m["name"] for c in pod["spec"]["containers"] for m in c.get("volumeMounts", [])}
    declared = {v["name"] for v in pod["spec"].get("volumes", [])}
    for name in sorted(mounted - declared):
        pod["spec"].setdefault("volumes", []).append({"name": name, "emptyDir": {}})
    _check(policies, pod, "export-fixtures")


_SERVED = {
    ("extensions/v1beta1", "Deployment"): "apps/v1",
    ("extensions/v1beta1", "DaemonSet"): "apps/v1",
    ("apps/v1beta1", "Deployment"): "apps/v1",
    ("apps/v1beta2", "Deployment"): "apps/v1",
    ("batch/v1beta1", "CronJob"): "batch/v1",
}


CORPUS_ITEMS = corpus_items()


def _as_created(index: int, original: dict[str, Any]) -> dict[str, Any]:
    """The manifest at a group version the apiserver serves, named for this test."""
    obj = json.loads(json.dumps(original))
    served = _SERVED.get((obj.get("apiVersion"), obj.get("kind")))
    if served is not None:
        obj["apiVersion"] = served
        spec = obj.get("spec") or {}
        labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels")
        if "selector" not in spec and labels:
            spec["selector"] = {"matchLabels": labels}
    meta = obj.setdefault("metadata", {})
    meta.pop("namespace", None)
    meta["name"] = f"c{index}-{meta.get('name', 'x')}"[:50].rstrip("-.")
    return obj


@pytest.mark.skipif(not CORPUS_ITEMS, reason=f"no corpus at {CORPUS}")
@pytest.mark.parametrize("item", CORPUS_ITEMS, ids=[name for name, _ in CORPUS_ITEMS])
def test_a_corpus_manifest_meets_the_same_denials_and_warnings_from_the_policies(
    policies: tuple[ApiServer, Engine, Export], item: tuple[str, dict[str, Any]]
) -> None:
    _check(policies, _as_created(CORPUS_ITEMS.index(item), item[1]), "export-corpus")


def test_kubectl_shows_the_policies_denial_and_warnings_as_winpod_check_does(
    policies: tuple[ApiServer, Engine, Export], tmp_path: Path
) -> None:
    needs_kubectl()
    server, _, _ = policies
    server.ensure_namespace("export-kubectl", LABEL)
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "web", "namespace": "export-kubectl"},
        "spec": {
            "nodeSelector": {"kubernetes.io/os": "windows"},
            "volumes": [{"name": "m", "emptyDir": {"medium": "Memory"}}],
            "containers": [
                {
                    "name": "app",
                    "image": "mcr.microsoft.com/windows/servercore:ltsc2022",
                    "securityContext": {"privileged": True},
                    "resources": {"limits": {"memory": "1Gi"}},
                }
            ],
        },
    }
    result = server.kubectl("create", "-f", "-", input=json.dumps(pod))
    assert result.returncode == 1
    assert "ValidatingAdmissionPolicy 'winpod-deny'" in result.stderr
    assert "(rule windows-privileged)" in result.stderr
    warned = {m.group(1) for w in kubectl_warnings(result.stderr) if (m := _RULE.search(w))}
    assert warned == {"windows-emptydir-memory"}
