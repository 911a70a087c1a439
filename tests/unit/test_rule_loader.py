"""The rule loader refuses every malformed rule file with an error naming the file."""

from __future__ import annotations

from pathlib import Path

import pytest
from winpod.engine.kubeversion import parse_version
from winpod.engine.rules import RuleError, load_catalog, select_version

GOOD = """\
id: {id}
title: A test rule
os: windows
source: https://example.com/doc
versions:
  - since: "1.20"
    action: warn
    check: {{path: spec.hostPID, equals: true}}
    message: m
    fix: f
"""


def _write(directory: Path, name: str, text: str) -> Path:
    path = directory / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _load_error(tmp_path: Path, text: str, name: str = "test-rule") -> str:
    _write(tmp_path, name, text)
    with pytest.raises(RuleError) as caught:
        load_catalog([tmp_path])
    message = str(caught.value)
    assert f"{name}.yaml" in message
    return message


def test_a_good_rule_file_loads(tmp_path: Path) -> None:
    _write(tmp_path, "test-rule", GOOD.format(id="test-rule"))
    catalog = load_catalog([tmp_path])
    assert list(catalog.rules) == ["test-rule"]


def test_an_unknown_top_level_key_is_an_error_naming_the_file(tmp_path: Path) -> None:
    message = _load_error(tmp_path, GOOD.format(id="test-rule") + "severity: high\n")
    assert "severity" in message


def test_an_unknown_operator_is_an_error(tmp_path: Path) -> None:
    text = GOOD.format(id="test-rule").replace("equals: true", "greaterThan: 3")
    assert "greaterThan" in _load_error(tmp_path, text)


def test_a_check_with_two_operators_is_an_error(tmp_path: Path) -> None:
    text = GOOD.format(id="test-rule").replace("equals: true", "equals: true, present: true")
    assert "exactly one operator" in _load_error(tmp_path, text)


def test_a_bad_path_is_an_error(tmp_path: Path) -> None:
    text = GOOD.format(id="test-rule").replace("spec.hostPID", "spec..hostPID")
    assert "bad path" in _load_error(tmp_path, text)


def test_a_bad_regular_expression_is_an_error(tmp_path: Path) -> None:
    text = GOOD.format(id="test-rule").replace("equals: true", "matches: '(unclosed'")
    assert "regular expression" in _load_error(tmp_path, text)


def test_an_id_that_differs_from_the_file_name_is_an_error(tmp_path: Path) -> None:
    assert "file name" in _load_error(tmp_path, GOOD.format(id="other-rule"))


def test_a_duplicate_id_across_directories_is_an_error(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    _write(first, "test-rule", GOOD.format(id="test-rule"))
    _write(second, "test-rule", GOOD.format(id="test-rule"))
    with pytest.raises(RuleError, match="duplicate rule id"):
        load_catalog([first, second])


def test_an_unknown_check_function_is_an_error(tmp_path: Path) -> None:
    text = (
        GOOD.format(id="test-rule").replace(
            "check: {path: spec.hostPID, equals: true}", "function: no-such-check"
        )
        + "fields: [spec.hostPID]\n"
    )
    assert "unknown check function" in _load_error(tmp_path, text)


def test_versions_must_strictly_increase(tmp_path: Path) -> None:
    text = (
        GOOD.format(id="test-rule")
        + """\
  - since: "1.19"
    action: deny
    check: {path: spec.hostPID, equals: true}
    message: m
    fix: f
"""
    )
    assert "strictly increasing" in _load_error(tmp_path, text)


def test_an_unknown_action_is_an_error(tmp_path: Path) -> None:
    text = GOOD.format(id="test-rule").replace("action: warn", "action: block")
    assert "action" in _load_error(tmp_path, text)


def test_a_source_must_be_an_https_link(tmp_path: Path) -> None:
    text = GOOD.format(id="test-rule").replace("https://example.com/doc", "see the docs")
    assert "source" in _load_error(tmp_path, text)


def test_a_rule_file_that_is_not_yaml_is_an_error(tmp_path: Path) -> None:
    assert "not valid YAML" in _load_error(tmp_path, "id: [unclosed\n")


def test_a_rule_file_that_is_a_list_is_an_error(tmp_path: Path) -> None:
    assert "mapping" in _load_error(tmp_path, "- id: x\n")


def test_an_empty_rules_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(RuleError, match="no rule files"):
        load_catalog([tmp_path])


def test_the_version_in_force_is_the_newest_not_after_the_target() -> None:
    catalog = load_catalog()
    rule = catalog.rules["windows-host-network"]
    assert select_version(rule, parse_version("1.25")).since == "1.14"  # type: ignore[union-attr]
    assert select_version(rule, parse_version("1.30")).since == "1.26"  # type: ignore[union-attr]
    assert select_version(rule, parse_version("1.36")).since == "1.33"  # type: ignore[union-attr]
    assert (
        select_version(catalog.rules["windows-pod-level-resources"], parse_version("1.33")) is None
    )


def test_every_shipped_rule_names_its_fields_and_source() -> None:
    catalog = load_catalog()
    for rule_id, spec in catalog.rules.items():
        assert spec.field_paths(), rule_id
        assert spec.source.startswith("https://"), rule_id
        assert catalog.files[rule_id].stem == rule_id


FUNCTION_RULE = """\
id: {id}
title: A test rule
os: windows
source: https://example.com/doc
fields: [spec.containers]
versions:
  - since: "{since}"
    action: warn
    function: {function}
    message: m
    fix: f
{hits}"""

MEMORY_HITS = """\
    hits:
      no-limit: {message: "a"}
      no-limit-no-request: {message: "b"}
      differs: {message: "request {request} is not {limit}"}
"""


def _function_rule(
    since: str = "1.20", function: str = "memory-limits@1.14", hits: str = MEMORY_HITS
) -> str:
    return FUNCTION_RULE.format(id="test-rule", since=since, function=function, hits=hits)


def test_a_function_rule_documenting_every_variant_loads(tmp_path: Path) -> None:
    _write(tmp_path, "test-rule", _function_rule())
    assert list(load_catalog([tmp_path]).rules) == ["test-rule"]


def test_a_function_must_be_named_with_the_version_it_shipped_for(tmp_path: Path) -> None:
    message = _load_error(tmp_path, _function_rule(function="memory-limits"))
    assert "unknown check function 'memory-limits'" in message and "memory-limits@1.14" in message


def test_a_version_may_not_use_a_function_newer_than_itself(tmp_path: Path) -> None:
    message = _load_error(
        tmp_path,
        _function_rule(
            since="1.20", function="stop-signal@1.33", hits="    hits: {no-os-name: {message: x}}\n"
        ),
    )
    assert "stop-signal@1.33 is newer than the version (1.20)" in message


def test_a_function_rule_must_document_exactly_its_variants(tmp_path: Path) -> None:
    missing = _load_error(tmp_path, _function_rule(hits="    hits: {no-limit: {message: a}}\n"))
    assert "missing: differs, no-limit-no-request" in missing
    extra = MEMORY_HITS + "      surprise: {message: c}\n"
    assert "unknown: surprise" in _load_error(tmp_path, _function_rule(hits=extra))


def test_a_hit_text_may_use_only_its_own_parameters(tmp_path: Path) -> None:
    hits = MEMORY_HITS.replace("{limit}", "{image}")
    assert "{image} is not a parameter of this hit" in _load_error(
        tmp_path, _function_rule(hits=hits)
    )


def test_the_registry_refuses_a_function_whose_name_does_not_say_its_version() -> None:
    from collections.abc import Iterator

    from winpod.engine.checks import Hit, RuleInput, check_function

    def memory_limits_latest(data: RuleInput) -> Iterator[Hit]:
        yield from ()

    with pytest.raises(ValueError, match="must be named memory_limits_1_99"):
        check_function("memory-limits", "1.99")(memory_limits_latest)
