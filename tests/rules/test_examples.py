"""The shipped examples (policies/examples/) are the rules' own fixtures, none missing, none
extra, and each fails or passes as it says (golden files, as pod-security-admission keeps)."""

from __future__ import annotations

import pytest
import yaml
from winpod.config import Config
from winpod.engine.evaluate import Engine
from winpod.engine.kubeversion import parse_version

from tests.rules.cases import FAIL, PASS
from tests.rules.examples import EXAMPLES, expected

HOW = "python -m tests.rules.examples --write"


def test_the_examples_on_disk_are_the_fixtures_none_missing_none_extra() -> None:
    wanted = expected()
    on_disk = {p.name: p.read_text(encoding="utf-8") for p in EXAMPLES.glob("*.yaml")}
    assert sorted(set(wanted) - set(on_disk)) == [], f"missing examples: {HOW}"
    assert sorted(set(on_disk) - set(wanted)) == [], f"extra examples: {HOW}"
    stale = sorted(name for name in wanted if wanted[name] != on_disk[name])
    assert stale == [], f"stale examples: {HOW}"


@pytest.mark.parametrize("rule", sorted({case.rule for case in FAIL}))
def test_each_rules_failing_example_fails_for_it_and_its_passing_example_does_not(
    rule: str,
) -> None:
    for name, case, present in (
        ("fail", next(c for c in FAIL if c.rule == rule), True),
        ("pass", next((c for c in PASS if c.rule == rule), None), False),
    ):
        config = case.config if case is not None else {}
        engine = Engine(config=Config.model_validate(config)) if config else Engine()
        version = parse_version(case.version) if case is not None and case.version else None
        example = yaml.safe_load((EXAMPLES / f"{rule}.{name}.yaml").read_text())
        fired = {f.rule for f in engine.evaluate(example, version=version).findings}
        assert (rule in fired) is present, name
