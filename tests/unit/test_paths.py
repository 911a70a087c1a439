from __future__ import annotations

import pytest
from winpod.engine.fieldtrie import TrieNode, compile_walker, match_path
from winpod.engine.paths import PathError, parse_path


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
    assert match_path(path, {"metadata": {"annotations": {quotable: "x"}}}) == [(path, "x", None)]
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


Hit = tuple[str, str, object, str | None]


def _walk_all(
    paths: list[str], obj: object, base: str = "", key_filter: str | None = None
) -> list[Hit]:
    root = TrieNode()
    for path in paths:
        root.add(path, path, key_filter)
    found: list[Hit] = []
    compile_walker(root)(obj, base, lambda p, value, key, at: found.append((p, at, value, key)))
    return sorted(found)


def test_many_leaf_keys_match_alike_whether_the_object_has_few_keys_or_many() -> None:
    # Small objects are scanned against a table, large ones looked up key by key.
    leaves = [f"sc.f{i}" for i in range(6)]
    few = {"sc": {"f1": 1, "f4": None, "other": 2}}
    many = {"sc": {**{f"f{i}": i for i in range(6)}, **{f"x{i}": i for i in range(6)}}}
    assert _walk_all(leaves, few) == [("sc.f1", "sc.f1", 1, None)]
    assert _walk_all(leaves, few, base="spec.containers[0]") == [
        ("sc.f1", "spec.containers[0].sc.f1", 1, None)
    ]
    assert [hit[1] for hit in _walk_all(leaves, many)] == [f"sc.f{i}" for i in range(6)]
    top = {"f0": True, 'a"b': 1}
    assert _walk_all([f"f{i}" for i in range(5)], top) == [("f0", "f0", True, None)]
    assert _walk_all([f"f{i}" for i in range(5)], top, base="x") == [("f0", "x.f0", True, None)]


def test_a_key_filter_listing_names_reports_the_matching_name_as_the_key() -> None:
    obj = {
        "volumes": [
            {"name": "a", "secret": {"defaultMode": 1}},
            {"name": "b", "configMap": {"defaultMode": 2}},
            {"name": "c", "nfs": {"defaultMode": 3}},
        ]
    }
    hits = _walk_all(["volumes[*].*.defaultMode"], obj, key_filter="^(secret|configMap)$")
    assert [(at, value, key) for _, at, value, key in hits] == [
        ("volumes[0].secret.defaultMode", 1, "secret"),
        ("volumes[1].configMap.defaultMode", 2, "configMap"),
    ]
