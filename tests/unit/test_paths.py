from __future__ import annotations

import pytest

from app.engine.fieldtrie import match_path
from app.engine.paths import PathError, parse_path


def test_a_plain_path_returns_the_value_and_its_path() -> None:
    assert match_path("spec.hostPID", {"spec": {"hostPID": True}}) == [("spec.hostPID", True, None)]


def test_a_list_wildcard_reports_each_index() -> None:
    obj = {"spec": {"volumes": [{"nfs": {}}, {"emptyDir": {}}, {"nfs": {"path": "/x"}}]}}
    hits = match_path("spec.volumes[*].nfs", obj)
    assert [h[0] for h in hits] == ["spec.volumes[0].nfs", "spec.volumes[2].nfs"]


def test_a_map_wildcard_reports_the_key() -> None:
    hits = match_path("limits.*", {"limits": {"hugepages-2Mi": "1Gi"}})
    assert hits == [("limits.hugepages-2Mi", "1Gi", "hugepages-2Mi")]


def test_a_quoted_key_keeps_dots_and_slashes() -> None:
    obj = {"nodeSelector": {"kubernetes.io/os": "windows"}}
    assert match_path('nodeSelector["kubernetes.io/os"]', obj) == [
        ('nodeSelector["kubernetes.io/os"]', "windows", None)
    ]


def test_null_values_count_as_absent() -> None:
    assert match_path("spec.hostPID", {"spec": {"hostPID": None}}) == []


def test_odd_types_along_the_path_match_nothing_instead_of_failing() -> None:
    assert match_path("spec.volumes[*].nfs", {"spec": {"volumes": "oops"}}) == []
    assert match_path("spec.hostPID", {"spec": ["x"]}) == []


@pytest.mark.parametrize("bad", ["", "spec..x", "spec.", "spec[x]", "spec.a b"])
def test_malformed_paths_are_refused(bad: str) -> None:
    with pytest.raises(PathError):
        parse_path(bad)


def test_a_key_with_quotes_braces_and_backslashes_is_matched_as_plain_data() -> None:
    # Keys reach the compiled walker as bound names, never as source text.
    key = "a'\"{b}\\c); import os; ("
    obj = {"metadata": {"annotations": {key: "x"}}}
    quotable = "a'{b}\\c); import os; ("
    path = f'metadata.annotations["{quotable}"]'
    assert match_path(path, {"metadata": {"annotations": {quotable: "x"}}}) == [
        (path, "x", None)
    ]
    assert match_path("metadata.annotations.*", obj) == [
        (f'metadata.annotations["{key}"]', "x", key)
    ]


def test_a_fixed_index_and_a_wildcard_under_a_list_report_their_indexes() -> None:
    obj = {"items": [{"v": 1}, None, {"v": 3}]}
    assert match_path("items[2].v", obj) == [("items[2].v", 3, None)]
    assert [h[0] for h in match_path("items[*].v", obj)] == ["items[0].v", "items[2].v"]
    assert match_path("items[5].v", obj) == []


def test_a_path_deeper_than_the_limit_is_refused_with_its_text() -> None:
    with pytest.raises(PathError, match="at most 32"):
        parse_path(".".join(["a"] * 40))
