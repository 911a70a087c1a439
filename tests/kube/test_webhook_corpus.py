"""winpod's webhooks registered by URL on the real apiservers, fed the real manifests of
../shared/corpus with kubectl: what kubectl shows (warnings, denials) and the pods the apiserver
stores (read back with `kubectl get -o json`) are what winpod's engine says of the same objects
at the same version, as `winpod check --mutate` does offline."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from winpod.config import Action, Config
from winpod.engine.evaluate import Engine
from winpod.engine.kubeversion import parse_version
from winpod.engine.mutate import mutate_object
from winpod.engine.visit import CHECKED_KINDS
from winpod.manifests import read_inputs

from tests.conftest import StartWebhook
from tests.kube.fixtures import EACH_VERSION, apiserver_at
from tests.kube.hooks import Hooked, hook, kubectl_warnings, needs_kubectl

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"
NAMESPACE = "corpus"
_RULE = re.compile(r"\(rule ([a-z0-9-]+)\)$")


@dataclass(frozen=True)
class Item:
    file: str
    index: int
    obj: dict[str, Any]

    @property
    def id(self) -> str:
        meta = self.obj.get("metadata") or {}
        return (
            f"{self.file.removesuffix('.yaml')}#{self.index} {self.obj['kind']} {meta.get('name')}"
        )


def _items() -> list[Item]:
    if not CORPUS.is_dir():
        return []
    found: list[Item] = []
    for path in sorted(CORPUS.glob("*.yaml")):
        inputs = read_inputs([str(path)])
        for index, manifest in enumerate(inputs.manifests):
            if manifest.obj.get("kind") in CHECKED_KINDS:
                found.append(Item(path.name, index, manifest.obj))
    return found


ITEMS = _items()
_hooks: dict[str, Hooked] = {}


@pytest.fixture
def corpus_hook(
    apiservers: Any, webhook_server: StartWebhook, request: pytest.FixtureRequest
) -> Iterator[Hooked]:
    minor: str = request.node.callspec.params["minor"]
    server = apiserver_at(apiservers, minor)
    needs_kubectl()
    if minor not in _hooks:
        hooked = hook(server, webhook_server, "corpus")
        hooked.namespace(NAMESPACE)
        _hooks[minor] = hooked
    yield _hooks[minor]


# Group versions the corpus still uses that both apiservers have removed: moved to the served
# ones (the pod template is untouched), so the manifest can be created at all.
_SERVED = {
    ("extensions/v1beta1", "Deployment"): "apps/v1",
    ("extensions/v1beta1", "DaemonSet"): "apps/v1",
    ("apps/v1beta1", "Deployment"): "apps/v1",
    ("apps/v1beta2", "Deployment"): "apps/v1",
    ("batch/v1beta1", "CronJob"): "batch/v1",
}


def _as_created(item: Item) -> dict[str, Any]:
    obj = json.loads(json.dumps(item.obj))
    served = _SERVED.get((obj.get("apiVersion"), obj.get("kind")))
    if served is not None:
        obj["apiVersion"] = served
        spec = obj.get("spec") or {}
        labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels")
        if "selector" not in spec and labels:
            spec["selector"] = {"matchLabels": labels}
    meta = obj.setdefault("metadata", {})
    meta["namespace"] = NAMESPACE
    meta["name"] = f"c{ITEMS.index(item)}-{meta.get('name', 'x')}"[:50].rstrip("-.")
    return obj


@pytest.mark.skipif(not ITEMS, reason=f"no corpus at {CORPUS} (shared/ is not beside the repo)")
@EACH_VERSION
@pytest.mark.parametrize("item", ITEMS, ids=[item.id for item in ITEMS])
def test_kubectl_shows_what_winpod_check_says_of_a_corpus_manifest(
    corpus_hook: Hooked, minor: str, item: Item
) -> None:
    obj = _as_created(item)
    engine = Engine(config=Config(kubernetesVersion=minor))
    version = parse_version(minor)
    expected = mutate_object(engine, obj, namespace=NAMESPACE, version=version)
    if obj["kind"] == "Pod":
        evaluation = expected.evaluation
    else:  # the webhooks mutate pods only; a workload is judged as it is
        evaluation = engine.evaluate(obj, version=version, namespace=NAMESPACE)
    server = corpus_hook.apiserver
    result = server.kubectl("create", "-o", "json", "-f", "-", input=json.dumps(obj))
    shown = kubectl_warnings(result.stderr)
    if result.returncode != 0:
        if "denied the request" not in result.stderr:
            # The apiserver itself refused it (before the validating webhook): winpod must
            # have denied it too, or the refusal is for something winpod does not judge.
            pytest.skip(f"the apiserver refused it: {result.stderr.strip()[:300]}")
        assert evaluation.denied, result.stderr
        for finding in evaluation.findings:
            if finding.blocks:
                assert f"(rule {finding.rule})" in result.stderr
        return
    assert not evaluation.denied, [f.line() for f in evaluation.findings if f.blocks]
    warned = {f.rule for f in evaluation.findings if f.action is Action.WARN or f.exempted}
    shown_rules = {m.group(1) for w in shown if (m := _RULE.search(w))}
    assert shown_rules == warned, shown
    if obj["kind"] == "Pod":
        stored = server.get("Pod", obj["metadata"]["name"], NAMESPACE)
        assert stored is not None
        mutated = expected.mutated["spec"]
        for key in ("nodeSelector", "os"):
            assert stored["spec"].get(key) == mutated.get(key), key
        for toleration in mutated.get("tolerations") or []:
            assert toleration in stored["spec"].get("tolerations", []), toleration
        assert bool(expected.patch) == any(w.startswith("winpod set") for w in shown)
