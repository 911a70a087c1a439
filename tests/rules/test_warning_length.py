"""kubectl shows at most 256 characters of an admission warning: every warning winpod can give,
for every rule's fail fixture in every workload (CronJob's template paths are the longest) and
with a warn-only cap (so denials come back as warnings too), fits, and keeps its rule id and
its fix whole (issue 14)."""

from __future__ import annotations

import pytest
from winpod.config import Action, Config
from winpod.engine.evaluate import Engine
from winpod.engine.kubeversion import parse_version
from winpod.webhook.verdict import MAX_WARNING_CHARS, finding_warning, verdict_of

from tests.rules.cases import FAIL, WORKLOADS, build, case_id, expand

ITEMS = expand(FAIL)
_engines: dict[str, Engine] = {}


def _engine(config: dict[str, object]) -> Engine:
    key = repr(sorted(config.items()))
    if key not in _engines:
        _engines[key] = Engine(config=Config.model_validate({**config, "maxAction": "warn"}))
    return _engines[key]


@pytest.mark.parametrize("workload", [None, "Deployment", "CronJob"])
@pytest.mark.parametrize("item", ITEMS, ids=[case_id(i) for i in ITEMS])
def test_every_warning_fits_kubectl_and_keeps_its_rule_id_and_fix(item, workload) -> None:  # type: ignore[no-untyped-def]
    case, kind = item
    pod, _ = build(case, kind)
    obj = WORKLOADS[workload](pod) if workload else pod
    engine = _engine(case.config)
    evaluation = engine.evaluate(obj, version=parse_version(case.version) if case.version else None)
    warned = [f for f in evaluation.findings if f.action is not Action.AUDIT or f.exempted]
    warnings = [finding_warning(f) for f in warned]
    assert verdict_of(evaluation).warnings == warnings
    for finding, warning in zip(warned, warnings, strict=True):
        assert len(warning) <= MAX_WARNING_CHARS, warning
        assert warning.endswith(f"(rule {finding.rule})"), warning
        assert " ".join(finding.fix.split()) in warning, warning
