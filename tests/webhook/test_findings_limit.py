"""The webhook builds at most FINDINGS_PER_RULE findings of one rule and outcome and counts the
rest (Context.findings_per_rule, Finding.more): its answer must be the one every finding gives."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import orjson
import pytest
from winpod.config import Config
from winpod.engine.evaluate import Engine
from winpod.engine.findings import Evaluation, Finding
from winpod.engine.judge import Context
from winpod.engine.subject import subject_of
from winpod.webhook import create_app
from winpod.webhook.verdict import FINDINGS_PER_RULE, MAX_WARNINGS, verdict_of

from tests.webhook.asgi import call
from tests.webhook.reviews import SERVERCORE, review, windows_pod

CONTAINERS = 300


def crowded_pod(**annotations: str) -> dict[str, Any]:
    """300 containers, each denied (privileged), warned (memory limit over the request) and
    audited twice (a CPU request; the image's default user is ContainerAdministrator)."""
    resources = {"requests": {"memory": "512Mi", "cpu": "1"}, "limits": {"memory": "1Gi"}}
    containers = [
        {
            "name": f"c{i}",
            "image": SERVERCORE,
            "securityContext": {"privileged": True},
            "resources": resources,
        }
        for i in range(CONTAINERS)
    ]
    pod = windows_pod("crowded", *containers)
    if annotations:
        pod["metadata"]["annotations"] = annotations
    return pod


EXEMPT = {"winpod.io/exempt": "windows-privileged", "winpod.io/exempt-reason": "ticket 7"}
CASES = {
    "deny-warn-audit": (Config(), crowded_pod()),
    "warn-only-rollout": (Config(maxAction="warn"), crowded_pod()),
    "an-exemption": (Config(), crowded_pod(**EXEMPT)),
}


def both(config: Config, pod: dict[str, Any], limit: int) -> tuple[Evaluation, Evaluation]:
    engine = Engine(config=config)
    subject = subject_of(pod)
    every = engine.evaluate_subject(subject, Context())
    return every, engine.evaluate_subject(subject, Context(findings_per_rule=limit))


def outcomes(findings: list[Finding]) -> dict[tuple[Any, ...], list[Finding]]:
    groups: dict[tuple[Any, ...], list[Finding]] = defaultdict(list)
    for f in findings:
        groups[(f.rule, f.action, f.exempted, f.would_deny, f.apiserver_rejects)].append(f)
    return groups


@pytest.mark.parametrize("config, pod", CASES.values(), ids=CASES.keys())
def test_the_webhook_answers_as_if_every_finding_were_built(config: Config, pod: Any) -> None:
    every, limited = both(config, pod, FINDINGS_PER_RULE)
    assert len(limited.findings) < len(every.findings) / 4
    assert sum(f.count for f in limited.findings) == len(every.findings)
    assert verdict_of(limited) == verdict_of(every)


@pytest.mark.parametrize("config, pod", CASES.values(), ids=CASES.keys())
def test_past_the_limit_findings_are_counted_on_the_last_one_built(
    config: Config, pod: Any
) -> None:
    every, limited = both(config, pod, 3)
    wanted, got = outcomes(every.findings), outcomes(limited.findings)
    assert got.keys() == wanted.keys()
    for outcome, findings in wanted.items():
        assert [f.path for f in got[outcome]] == [f.path for f in findings[:3]]
        assert [f.more for f in got[outcome]] == [0, 0, len(findings) - 3]
    assert limited.denied == every.denied


def test_with_no_limit_every_finding_is_built() -> None:
    every, _ = both(Config(), crowded_pod(), 1)
    assert len(every.findings) == 4 * CONTAINERS
    assert all(f.more == 0 for f in every.findings)


def test_an_unchanged_update_counts_every_finding_it_turns_into_a_warning() -> None:
    pod = crowded_pod()
    sent = review(pod, operation="UPDATE", old=pod)
    app = create_app(Engine(), Config())
    messages, error = call(app, "/validate", [{"type": "http.request", "body": orjson.dumps(sent)}])
    assert error is None
    response = orjson.loads(messages[1]["body"])["response"]
    assert response["allowed"] is True
    warnings = response["warnings"]
    assert len(warnings) == MAX_WARNINGS
    # 300 denials not enforced on an unchanged spec and 300 warnings; 13 are written out.
    assert warnings[-1] == "... and 587 more warnings (winpod check lists them all)"
