"""Offline, the exported CEL gives the engine's verdicts: every rule fixture (FAIL and PASS,
in every kind of container and every workload kind) and every object of ../shared/corpus,
evaluated by a CEL runtime from PyPI, fires the same rules with the same outcomes as
Engine.evaluate; a Pod gets the patch winpod's mutation gives, and a second pass adds nothing."""

from __future__ import annotations

from collections import Counter
from typing import Any

import jsonpatch
import pytest
from winpod.config import Config
from winpod.engine.evaluate import Engine
from winpod.engine.kubeversion import parse_version
from winpod.engine.mutate import mutate_object
from winpod.export import VALIDATING_FROM, export

from tests.export.celeval import without_nulls
from tests.export.verdicts import CORPUS, Exported, corpus_items, engine_verdict
from tests.rules.cases import FAIL, PASS, WORKLOADS, Case, build, case_id, expand

_EXPORTS: dict[str, tuple[Engine, Exported]] = {}
TALLY: Counter[str] = Counter()


def exported_for(config: dict[str, Any]) -> tuple[Engine, Exported]:
    key = repr(sorted(config.items()))
    if key not in _EXPORTS:
        engine = Engine(config=Config.model_validate(config))
        _EXPORTS[key] = (
            engine,
            Exported(export(engine, engine.default_version, failure_policy="Fail")),
        )
    return _EXPORTS[key]


def _config(case: Case) -> dict[str, Any]:
    config = dict(case.config)
    if case.version:
        config["kubernetesVersion"] = case.version
    return config


def _exportable(case: Case) -> bool:
    return case.version is None or parse_version(case.version) >= VALIDATING_FROM


def _agree(
    engine: Engine, exported: Exported, obj: dict[str, Any], namespace: str | None = None
) -> None:
    namespace = namespace or (obj.get("metadata") or {}).get("namespace") or "default"
    left = [item.what for item in exported.export.left]
    expected = engine_verdict(engine.evaluate(obj, namespace=namespace), left)
    got, patch = exported.judge(obj, namespace)
    assert got == expected, f"CEL {sorted(got - expected)} engine {sorted(expected - got)}"
    if obj.get("kind") == "Pod" and exported.export.mutating:
        mutation = mutate_object(engine, obj, namespace=namespace)
        want = without_nulls(mutation.mutated)
        patched = jsonpatch.apply_patch(without_nulls(obj), patch)
        for key in ("nodeSelector", "tolerations", "os"):
            assert patched["spec"].get(key) == want["spec"].get(key), key
        _, again = exported.judge(patched, namespace)
        assert again == [], "a second application changes the pod"
    TALLY["agreed"] += 1


ITEMS = [
    (case, kind, workload)
    for case, kind in expand(FAIL) + expand(PASS)
    for workload in ("Pod", *sorted(WORKLOADS))
]


@pytest.mark.parametrize("item", ITEMS, ids=[f"{case_id((c, k))} as {w}" for c, k, w in ITEMS])
def test_a_rule_fixture_gets_the_engines_verdict_from_the_exported_cel(item: Any) -> None:
    case, kind, workload = item
    if not _exportable(case):
        pytest.skip(f"{case.version}: no ValidatingAdmissionPolicy v1 before {VALIDATING_FROM}")
    engine, exported = exported_for(_config(case))
    pod, _ = build(case, kind)
    obj = pod if workload == "Pod" else WORKLOADS[workload](pod)
    _agree(engine, exported, obj)


CORPUS_ITEMS = corpus_items()


@pytest.mark.skipif(not CORPUS_ITEMS, reason=f"no corpus at {CORPUS}")
@pytest.mark.parametrize("version", ["1.36"])
@pytest.mark.parametrize("item", CORPUS_ITEMS, ids=[name for name, _ in CORPUS_ITEMS])
def test_a_corpus_manifest_gets_the_engines_verdict_from_the_exported_cel(
    item: tuple[str, dict[str, Any]], version: str
) -> None:
    engine, exported = exported_for({"kubernetesVersion": version})
    # In a namespace of its own: the policies, like the webhooks, never see kube-system.
    _agree(engine, exported, item[1], "corpus")
