"""The server's malloc setup (app/webhook/memory.py)."""

from __future__ import annotations

import sys

import pytest
from winpod.webhook.memory import fix_malloc_thresholds


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt is Linux's")
def test_glibc_takes_the_fixed_mmap_and_trim_thresholds() -> None:
    assert fix_malloc_thresholds() is True


def test_fixing_the_thresholds_twice_is_harmless() -> None:
    first = fix_malloc_thresholds()
    assert fix_malloc_thresholds() is first
