"""JSON-line logs on stderr for the cluster caches, in the webhook's shape (time, level, event)."""

from __future__ import annotations

import datetime as dt
import sys
import threading
from typing import Any

import orjson

_lock = threading.Lock()


def log(event: str, level: str = "info", **fields: Any) -> None:
    record: dict[str, Any] = {
        "time": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
        "level": level,
        "event": event,
        "component": "cluster",
    }
    record.update(fields)
    line = orjson.dumps(record, default=str).decode() + "\n"
    with _lock:
        try:
            # Looked up per call: pytest and embedding hosts swap sys.stderr.
            sys.stderr.write(line)
            sys.stderr.flush()
        except (OSError, ValueError):
            pass  # a closed stderr must never take a cache thread down
