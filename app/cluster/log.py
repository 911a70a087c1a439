"""JSON-line logs on stderr for the cluster caches (one object per line, like the webhook's)."""

from __future__ import annotations

import sys
import threading
import time
from typing import Any

import orjson

_lock = threading.Lock()


def log(event: str, level: str = "info", **fields: Any) -> None:
    record: dict[str, Any] = {
        "ts": round(time.time(), 3), "level": level, "component": "cluster", "event": event
    }
    record.update(fields)
    line = orjson.dumps(record, default=str).decode() + "\n"
    with _lock:
        try:
            sys.stderr.write(line)
            sys.stderr.flush()
        except (OSError, ValueError):
            pass  # a closed stderr must never take a cache thread down
