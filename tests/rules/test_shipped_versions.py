"""A shipped rule version or check function is never edited: a new one is added (as
pod-security-admission does). tests/rules/shipped.py explains the lock."""

from __future__ import annotations

from tests.rules.shipped import current, load

HOW = "python -m tests.rules.shipped --lock"


def test_no_shipped_rule_version_or_check_function_was_edited() -> None:
    locked = load()["versions"]
    now = current()
    edited = sorted(k for k in now if k in locked and locked[k] != now[k])
    assert edited == [], (
        f"edited after shipping: {edited}; add a new version instead (a correction of what a"
        f" version says about its own release: {HOW} --reason '...')"
    )


def test_every_version_and_function_is_locked_and_none_was_removed() -> None:
    locked = load()["versions"]
    now = current()
    assert sorted(set(now) - set(locked)) == [], f"new versions are locked as they land: {HOW}"
    assert sorted(set(locked) - set(now)) == [], "a shipped version or function was removed"


def test_every_correction_gives_its_reason() -> None:
    for correction in load()["corrections"]:
        assert correction["reason"] and correction["entries"]
