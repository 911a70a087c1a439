"""One JSON line per event on stderr: a review, a certificate reload, a failure.

Never the object under review: pods carry env values and annotations that may be secret.
"""

from __future__ import annotations

import datetime as dt
import logging
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
