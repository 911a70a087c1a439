"""glibc's malloc set up so the server's memory goes back down after a large review.

By default glibc serves an allocation of 128 KiB or more with its own mmap, but each time such a
block is freed it raises that threshold to the block's size (up to 32 MiB). After one 4 MiB
review body, every later multi-megabyte body comes from the heap instead, and the heap only
shrinks from its top: a few large bodies at unlucky moments leave RSS a step higher for good (the
soak showed steps of 7 to 10 MiB after such requests). Fixed thresholds keep large blocks on
mmap, returned to the system when freed, and let the heap's free top go at 256 KiB.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

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
