"""One JSON line per event on stderr: a review, a certificate reload, a failure.

Never the object under review: pods carry env values and annotations that may be secret.
"""

from __future__ import annotations

import datetime as dt
import sys
from typing import Any

import orjson

_LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40}


class JsonLog:
    def __init__(self, level: str = "info") -> None:
        self.threshold = _LEVELS.get(level, 20)

    def enabled(self, level: str) -> bool:
        return _LEVELS[level] >= self.threshold

    def emit(self, level: str, event: str, fields: dict[str, Any]) -> None:
        if _LEVELS[level] < self.threshold:
            return
        record = {
            "time": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
            "level": level,
            "event": event,
            **fields,
        }
        # Looked up per call: pytest and embedding hosts swap sys.stderr.
        sys.stderr.write(orjson.dumps(record, default=str).decode() + "\n")
