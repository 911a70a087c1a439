"""glibc's malloc set up so the server's memory goes back down after a large review.

By default glibc serves an allocation of 128 KiB or more with its own mmap, but each time such a
block is freed it raises that threshold to the block's size (up to 32 MiB). After one 4 MiB
review body, every later multi-megabyte body comes from the heap instead, and the heap only
shrinks from its top: a few large bodies at unlucky moments leave RSS a step higher for good (the
soak showed steps of 7 to 10 MiB after such requests). Fixed thresholds keep large blocks on
mmap, returned to the system when freed, and let the heap's free top go at 256 KiB.

`Compactor` handles what is left: the objects a large review builds come from CPython's own
allocator, in 1 MiB arenas that go back to the system only once wholly empty. CPython keeps
freed tuples, lists and dicts on free lists for reuse, so after a review of 40,000 containers
thousands of them stay, spread over the arenas that review took, and a few such steps made RSS
climb through the soak. A full collection after such a review empties those free lists.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import gc
import sys
import time

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_BYTES = 128 * 1024
TRIM_THRESHOLD_BYTES = 256 * 1024


def fix_malloc_thresholds() -> bool:
    """Pin glibc's mmap and trim thresholds; False where there is no glibc mallopt (musl,
    macOS), which changes nothing else."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c")).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    # mallopt returns 1 on success.
    return bool(
        mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)
        and mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES)
    )


LARGE_BODY_BYTES = 1024 * 1024
MIN_SECONDS_BETWEEN = 1.0


class Compactor:
    """After a review body of `large` bytes or more, one full collection on the event loop
    once the answer is sent (the review is freed by then); at most one per `spacing` seconds,
    so a stream of large bodies costs a bounded share of the loop (what `winpod serve` did
    not freeze at start-up takes well under a millisecond to collect)."""

    def __init__(self, large: int = LARGE_BODY_BYTES, spacing: float = MIN_SECONDS_BETWEEN) -> None:
        self.large = large
        self.spacing = spacing
        self.pending = False
        self.last = -spacing
        self.collections = 0

    def after(self, body_bytes: int) -> None:
        """Called on the event loop after each review is answered."""
        if body_bytes < self.large or self.pending:
            return
        self.pending = True
        delay = max(0.0, self.last + self.spacing - time.monotonic())
        asyncio.get_running_loop().call_later(delay, self.collect)

    def collect(self) -> None:
        self.pending = False
        self.last = time.monotonic()
        gc.collect()
        self.collections += 1
