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
