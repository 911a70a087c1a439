"""Caches for values that come from the objects judged (image names, label keys, quantities).

A cache bounded only in entries is not bounded in memory when its keys come from requests: one
pod may carry megabyte-long image names, and 4,096 of them would be kept for good. Keys longer
than any real one are computed every time instead of being cached.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def short_key_cache(
    maxsize: int, longest: int
) -> Callable[[Callable[[str], T]], Callable[[str], T]]:
    """`functools.lru_cache(maxsize)` for calls whose key is at most `longest` characters."""

    def wrap(function: Callable[[str], T]) -> Callable[[str], T]:
        cached = functools.lru_cache(maxsize=maxsize)(function)

        @functools.wraps(function)
        def call(key: str) -> T:
            return cached(key) if len(key) <= longest else function(key)

        return call

    return wrap
