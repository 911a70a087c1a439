"""Caches keyed by values from the objects judged keep only short keys (app/engine/memo.py)."""

from __future__ import annotations

from winpod.engine.images import IMAGE_KEY_CHARS, windows_build_of
from winpod.engine.memo import short_key_cache


def test_a_short_key_is_computed_once_and_a_long_one_every_time_and_never_kept() -> None:
    calls: list[str] = []

    @short_key_cache(8, 10)
    def length(key: str) -> int:
        calls.append(key)
        return len(key)

    assert [length("short"), length("short")] == [5, 5]
    long_key = "x" * 11
    assert [length(long_key), length(long_key)] == [11, 11]
    assert calls == ["short", long_key, long_key]


def test_a_megabyte_image_name_is_still_judged() -> None:
    image = "mcr.microsoft.com/windows/servercore:ltsc2022-" + "x" * (1 << 20)
    assert len(image) > IMAGE_KEY_CHARS
    assert windows_build_of(image) == windows_build_of(
        "mcr.microsoft.com/windows/servercore:ltsc2022"
    )
