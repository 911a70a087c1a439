"""Variables written into one program (app/export/cel.py `inline`, `inline_branches`), run by
the offline CEL evaluator."""

from __future__ import annotations

from typing import Any

import pytest
from winpod.export.cel import all_of, any_of, inline, inline_branches

from .celeval import CELError, evaluate

# Both bound, not written in (each has a comprehension and `divided` is read twice); `divided`
# fails where object.zero is 0, standing for a variable that costs a lot to compute.
VARIABLES = [
    ("os", "object.labels.exists(l, l == 'win') ? 'windows' : 'linux'"),
    ("divided", "[1, 2].map(x, x / object.zero).size() == 2"),
]
BRANCHES = [
    ("variables.os == 'windows'", "variables.divided && [variables.divided].size() == 1"),
    ("variables.os == 'linux'", "object.labels.size() > 1"),
]


def test_a_branch_whose_guard_fails_computes_none_of_its_own_variables() -> None:
    linux = {"object": {"labels": ["a", "b"], "zero": 0}}
    assert evaluate(inline_branches(VARIABLES, BRANCHES), linux) is True
    one_program = inline(VARIABLES, any_of([all_of([g, t]) for g, t in BRANCHES]))
    with pytest.raises(CELError):  # every variable computed up front: division by zero
        evaluate(one_program, linux)


@pytest.mark.parametrize(
    "obj",
    [
        {"labels": ["win"], "zero": 1},
        {"labels": ["win", "x"], "zero": 1},
        {"labels": ["a"], "zero": 1},
        {"labels": ["a", "b"], "zero": 1},
    ],
)
def test_branches_agree_with_one_program_of_guard_and_test_wherever_both_compute(
    obj: dict[str, Any],
) -> None:
    one_program = inline(VARIABLES, any_of([all_of([g, t]) for g, t in BRANCHES]))
    assert evaluate(inline_branches(VARIABLES, BRANCHES), {"object": obj}) == evaluate(
        one_program, {"object": obj}
    )


def test_no_branch_that_can_hold_is_false() -> None:
    assert inline_branches(VARIABLES, [("false", "variables.divided"), ("true", "false")]) == (
        "false"
    )


def test_a_small_accessor_read_a_few_times_is_written_in_and_read_often_is_bound_once() -> None:
    accessor = [("os", "(size(object.ev) > 0 ? object.ev[0] : 'unknown')")]
    few = inline(accessor, any_of(["variables.os == 'windows'", "variables.os == 'linux'"]))
    assert few.count("object.ev[0]") == 2 and ".all(" not in few
    reads = [f"variables.os == 'os{i}'" for i in range(9)]
    often = inline(accessor, any_of(reads))
    assert often.count("object.ev[0]") == 1  # bound: computed once, then read nine times
    for ev, expected in (([], False), (["os3"], True), (["x"], False)):
        assert evaluate(often, {"object": {"ev": ev}}) is expected
        assert evaluate(few, {"object": {"ev": ev}}) is False


def test_a_plain_field_read_often_is_still_written_in() -> None:
    reads = [f"variables.spec == 'v{i}'" for i in range(20)]
    assert ".all(" not in inline([("spec", "object.spec")], any_of(reads))
