"""Everything refused before a review: counted and logged with its reason.

A request the webhook cannot answer with an AdmissionReview (not JSON, not a review, too large,
the wrong method or path) gets HTTP 4xx; a connection the server closes to protect itself
(see protocol.py) may get one too. Each is counted by status in `winpod_bad_requests_total`
(closed connections also by reason in `winpod_connections_closed_total`) and logged as one
warning line with the reason, the path and the client. The log is throttled: at most
`per_second` lines a second of each status (of each reason, for closed connections), so a
flood is counted whole without flooding the log; the next line written says how many were
left out.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from .logs import JsonLog
from .metrics import Metrics


class Refusals:
    def __init__(self, metrics: Metrics, log: JsonLog, per_second: int = 5) -> None:
        self.metrics = metrics
        self.log = log
        self.per_second = per_second
        self._windows: dict[str, tuple[int, int, int]] = {}  # event: (second, lines, left out)

    def request(self, status: int, reason: str, path: str, client: str) -> None:
        """A request answered with HTTP `status` before any review."""
        self.metrics.bad_requests.labels(str(status)).inc()
        fields = {"status": status, "reason": reason, "path": path, "client": client}
        self._log(f"bad-request:{status}", fields)

    def connection(self, reason: str, status: int, client: str) -> None:
        """A connection the server closed (protocol.py's report): `status` 0 when it was
        closed without an answer."""
        self.metrics.connections_closed.labels(reason).inc()
        if status:
            self.metrics.bad_requests.labels(str(status)).inc()
        self._log(
            f"connection-closed:{reason}", {"reason": reason, "status": status, "client": client}
        )

    def _log(self, key: str, fields: dict[str, object]) -> None:
        second = int(time.monotonic())
        window, lines, left_out = self._windows.get(key, (second, 0, 0))
        if window != second:
            window, lines = second, 0
        if lines >= self.per_second:
            self._windows[key] = (window, lines, left_out + 1)
            return
        if left_out:
            fields["leftOut"] = left_out
        self.log.emit("warning", key.partition(":")[0], fields)
        self._windows[key] = (window, lines + 1, 0)


def client_of(scope: Mapping[str, Any]) -> str:
    """An ASGI scope's client as host:port ("" when the server did not say)."""
    client = scope.get("client")
    if isinstance(client, (tuple, list)) and len(client) == 2:
        return f"{client[0]}:{client[1]}"
    return ""
