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
GOOD_RULE = GOOD.format(id="test-rule")


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
    _write(tmp_path, "test-rule", GOOD_RULE)
    catalog = load_catalog([tmp_path])
    assert list(catalog.rules) == ["test-rule"]


# What is changed in a good rule (replaced by what), and what the error then names.
ONE_PART_WRONG = {
    "an unknown operator": ("equals: true", "greaterThan: 3", "greaterThan"),
    "a check with two operators": (
        "equals: true",
        "equals: true, present: true",
        "exactly one operator",
    ),
    "a bad path": ("spec.hostPID", "spec..hostPID", "bad path"),
    "a bad regular expression": ("equals: true", "matches: '(unclosed'", "regular expression"),
    "an id that differs from the file name": ("id: test-rule", "id: other-rule", "file name"),
    "an unknown action": ("action: warn", "action: block", "action"),
    "a source that is not an https link": ("https://example.com/doc", "see the docs", "source"),
}


@pytest.mark.parametrize(("old", "new", "named"), ONE_PART_WRONG.values(), ids=ONE_PART_WRONG)
def test_a_rule_with_one_part_wrong_is_an_error_naming_the_file_and_the_part(
    tmp_path: Path, old: str, new: str, named: str
) -> None:
    assert named in _load_error(tmp_path, GOOD_RULE.replace(old, new))


SECOND_VERSION = """\
  - since: "1.19"
    action: deny
    check: {path: spec.hostPID, equals: true}
    message: m
    fix: f
"""
UNKNOWN_FUNCTION = (
    GOOD_RULE.replace("check: {path: spec.hostPID, equals: true}", "function: no-such-check")
    + "fields: [spec.hostPID]\n"
)
# A whole rule file, and what the error names.
MALFORMED = {
    "an unknown top-level key": (GOOD_RULE + "severity: high\n", "severity"),
    "an unknown check function": (UNKNOWN_FUNCTION, "unknown check function"),
    "versions that do not strictly increase": (GOOD_RULE + SECOND_VERSION, "strictly increasing"),
    "a file that is not YAML": ("id: [unclosed\n", "not valid YAML"),
    "a file that is a list": ("- id: x\n", "mapping"),
}


@pytest.mark.parametrize(("text", "named"), MALFORMED.values(), ids=MALFORMED)
def test_a_malformed_rule_file_is_an_error_naming_the_file_and_the_fault(
    tmp_path: Path, text: str, named: str
) -> None:
    assert named in _load_error(tmp_path, text)


def test_a_duplicate_id_across_directories_is_an_error(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    _write(first, "test-rule", GOOD_RULE)
    _write(second, "test-rule", GOOD_RULE)
    with pytest.raises(RuleError, match="duplicate rule id"):
        load_catalog([first, second])


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
