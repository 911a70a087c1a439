"""One JSON line per event on stderr: a review, a certificate reload, a failure.

Never the object under review: pods carry env values and annotations that may be secret.
"""

from __future__ import annotations

import datetime as dt
import logging
import sys
import time
from typing import Any

import orjson

_LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40}


class JsonLog:
    def __init__(self, level: str = "info") -> None:
        self.threshold = _LEVELS.get(level, 20)
        self._second = -1
        self._second_text = ""

    def enabled(self, level: str) -> bool:
        return _LEVELS[level] >= self.threshold

    def emit(self, level: str, event: str, fields: dict[str, Any]) -> None:
        if _LEVELS[level] < self.threshold:
            return
        record = {"time": self._timestamp(), "level": level, "event": event, **fields}
        line = orjson.dumps(record, default=str, option=orjson.OPT_APPEND_NEWLINE)
        # Looked up per call: pytest and embedding hosts swap sys.stderr.
        stream = sys.stderr
        binary = getattr(stream, "buffer", None)
        if binary is not None:
            stream.flush()  # anything written as text first stays first
            binary.write(line)
            binary.flush()
        else:
            stream.write(line.decode())

    def _timestamp(self) -> str:
        """ISO 8601 UTC with milliseconds, as datetime.isoformat gives it; the date and time
        part is formatted once per second (one line per review made it a cost)."""
        now = time.time()
        second = int(now)
        if second != self._second:
            self._second_text = dt.datetime.fromtimestamp(second, dt.UTC).strftime(
                "%Y-%m-%dT%H:%M:%S"
            )
            self._second = second
        return f"{self._second_text}.{int((now - second) * 1000):03d}+00:00"


def rfc3339(timestamp: float) -> str:
    """A Unix time as the log writes times: RFC 3339, UTC, to the second."""
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class JsonFormatter(logging.Formatter):
    """uvicorn's own messages (start-up, shutdown, errors) as JSON lines like ours."""

    def format(self, record: logging.LogRecord) -> str:
        fields: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname.lower(),
            "event": "server",
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            fields["error"] = self.formatException(record.exc_info)[-2000:]
        return orjson.dumps(fields, default=str).decode()


def uvicorn_log_config(level: str) -> dict[str, Any]:
    """A logging.config.dictConfig for uvicorn: JSON lines on stderr, no access log."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stderr",
            }
        },
        "loggers": {
            "uvicorn": {"handlers": ["stderr"], "level": level.upper(), "propagate": False},
            "uvicorn.error": {"level": level.upper()},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
        },
    }
