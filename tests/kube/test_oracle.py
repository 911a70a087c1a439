"""The oracle matrix through real apiservers: for every field the catalog knows, set and set to
empty, at pod level and in each kind of container, on pods stamped windows, stamped linux, or
placed by nodeSelector only, winpod's verdict at a version agrees with that version's
apiserver (the agreement rules are in tests/kube/oracle.py). `python -m tests.kube.oracle`
prints the counts."""

from __future__ import annotations

from collections.abc import Mapping

import pytest
from winpod.config import Config
from winpod.engine.evaluate import Engine

from tests.kube.controlplane import ApiServer
from tests.kube.fixtures import EACH_VERSION, apiserver_at
from tests.kube.oracle import (
    CONTAINER_FIELDS,
    POD_FIELDS,
    RUNTIME_CLASS,
    Case,
    Oracle,
    cases,
    catalog_fields,
)

CASES = list(cases())
_oracles: dict[str, Oracle] = {}


def test_the_matrix_covers_every_field_the_catalog_knows() -> None:
    covered = {field for field, _, _ in POD_FIELDS} | {field for field, _, _ in CONTAINER_FIELDS}
    assert catalog_fields() - covered == set()


def test_the_matrix_has_each_field_in_every_scope_and_variant_it_can_take() -> None:
    scopes = {(case.scope, case.variant) for case in CASES}
    assert len(scopes) == 4 * 3
    assert len(CASES) > 500


@pytest.fixture
def oracle(apiservers: Mapping[str, ApiServer], minor: str) -> Oracle:
    """The matrix on the apiserver of the test's `minor`, prepared once per version."""
    server = apiserver_at(apiservers, minor)
    if server.minor not in _oracles:
        _oracles[server.minor] = Oracle(server)
        _oracles[server.minor].prepare()
    return _oracles[server.minor]


@EACH_VERSION
@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_winpod_agrees_with_the_apiserver(oracle: Oracle, minor: str, case: Case) -> None:
    outcome = oracle.judge(case)
    problem = outcome.disagreement()
    assert problem is None, f"{case.id} at {minor}: {problem}\nwinpod: " + "\n".join(
        f.line() for f in outcome.winpod.findings
    )


STAMPED = [case for case in CASES if case.variant == "os-windows"]


@EACH_VERSION
@pytest.mark.parametrize("case", STAMPED, ids=[case.id for case in STAMPED])
def test_the_apiserver_profile_judges_an_unstamped_pod_as_the_apiserver_judges_it_stamped(
    oracle: Oracle, case: Case
) -> None:
    outcome = oracle.judge(case)
    unstamped = case.pod()
    del unstamped["spec"]["os"]
    strict = _strict_engine().evaluate(unstamped, version=oracle.version, namespace="oracle")
    if outcome.apiserver == "rejected":
        assert strict.denied, f"{case.id}: {outcome.detail}"
    else:
        assert not [f for f in strict.findings if f.blocks and f.apiserver_rejects], case.id


_strict: list[Engine] = []


def _strict_engine() -> Engine:
    if not _strict:
        _strict.append(Engine(config=Config(profile="apiserver", runtimeClasses=[RUNTIME_CLASS])))
    return _strict[0]
