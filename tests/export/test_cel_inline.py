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
