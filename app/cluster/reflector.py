"""List+watch of one resource into an in-memory map, in a background thread.

The protocol, as client-go's reflector runs it: list (paged) to get every object and the list's
resourceVersion, then watch from that resourceVersion with bookmarks; a watch that times out is
reopened from the last resourceVersion seen; 410 Gone (an HTTP status or an ERROR event) means
that resourceVersion was compacted away, so list again; any other error (refused, reset,
dropped mid-stream) waits with capped, jittered exponential backoff and rewatches from the last
resourceVersion (relisting only if that is gone).

Each change publishes a fresh immutable snapshot (a new dict) through `on_change`, so readers on
the request path never lock and never see a half-applied update.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from types import MappingProxyType
from typing import Any, Generic, TypeVar

import orjson

from .backoff import Backoff
from .client import call_raw, describe_error, list_pages
from .log import log

V = TypeVar("V")

# A watch that stayed open this long before failing resets the backoff: the next failure
# starts a new streak instead of continuing an old one.
HEALTHY_WATCH_SECONDS = 1.0


class _Gone(Exception):
    """410: the resourceVersion we hold is older than the apiserver's history."""


class Reflector(Generic[V]):
    def __init__(
        self,
        *,
        resource: str,
        path: str,
        make_client: Callable[[], Any],
        transform: Callable[[dict[str, Any]], V | None],
        on_change: Callable[[Mapping[str, V]], None],
        backoff: Backoff | None = None,
        page_size: int = 500,
        watch_seconds: tuple[int, int] = (300, 600),
    ) -> None:
        self.resource = resource
        self.path = path
        self._make_client = make_client
        self._transform = transform
        self._on_change = on_change
        self._backoff = backoff or Backoff()
        self._page_size = page_size
        self._watch_seconds = watch_seconds
        self._items: dict[str, V] = {}
        self._rv: str | None = None  # the newest resourceVersion seen; None: list first
        self._stop = threading.Event()
        self._response: Any = None
        self._thread: threading.Thread | None = None
        self.synced = threading.Event()
        self.connected = False
        self._last_sync: float | None = None
        self._stale_logged = False
        self._gone_streak = 0
        self._opened_at = 0.0  # when the current (or last) watch stream opened
        # Read by the view's metrics collector; only this reflector's thread writes them.
        self.relists: Counter[str] = Counter()  # by reason: initial, expired, error
        self.watch_restarts: Counter[str] = Counter()  # by why the watch ended
        self.size = 0

    # --- public ----------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._run, name=f"winpod-reflector-{self.resource}", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._interrupt()
        if self._thread is not None:
            self._thread.join(timeout)

    def staleness(self) -> float | None:
        """Seconds since the cache last matched the apiserver: 0 while a watch is open, None
        before the first sync."""
        if self._last_sync is None:
            return None
        return 0.0 if self.connected else time.monotonic() - self._last_sync

    # --- the loop --------------------------------------------------------------------------

    def _run(self) -> None:
        client = self._make_client()
        try:
            self._loop(client)
        finally:
            client.close()

    def _loop(self, client: Any) -> None:
        relist_reason = "initial"
        while not self._stop.is_set():
            try:
                if self._rv is None:
                    self._rv = self._list(client, relist_reason)
                self._watch(client)
                self.watch_restarts["timeout"] += 1
            except _Gone:
                self._rv, relist_reason = None, "expired"
                self.watch_restarts["expired"] += 1
                log(
                    "watch-expired",
                    resource=self.resource,
                    detail="resourceVersion too old (410 Gone); relisting",
                )
                # Relisting is the cure, but 410s in a row (list, watch, 410 ...) must not spin.
                if self._gone_streak and self._stop.wait(self._backoff.next_delay()):
                    return
                self._gone_streak += 1
            except Exception as exc:  # every failure is retried; the cache keeps serving
                if self._stop.is_set():
                    return
                opened, self._opened_at = self._opened_at, 0.0
                if opened and time.monotonic() - opened >= HEALTHY_WATCH_SECONDS:
                    self._backoff.reset()  # a watch that ran a while is not a failure streak
                self._disconnected()
                delay = self._backoff.next_delay()
                if self._rv is None:
                    relist_reason = "error" if self.synced.is_set() else relist_reason
                else:
                    self.watch_restarts["error"] += 1
                stale = self.staleness()
                log(
                    "cluster-unreachable" if self.synced.is_set() else "initial-sync-failed",
                    level="warning",
                    resource=self.resource,
                    error=describe_error(exc),
                    retry_in_seconds=round(delay, 2),
                    stale_seconds=None if stale is None else round(stale, 1),
                    serving="last good cache"
                    if self.synced.is_set()
                    else "nothing yet (not ready)",
                )
                if self._stop.wait(delay):
                    return

    def _list(self, client: Any, reason: str) -> str:
        items: dict[str, V] = {}
        list_rv = ""

        def remember(meta: Mapping[str, Any]) -> None:
            nonlocal list_rv
            list_rv = str(meta.get("resourceVersion") or list_rv)

        for page in list_pages(client, self.path, page_size=self._page_size, on_page=remember):
            if self._stop.is_set():
                raise InterruptedError("stopping")
            for obj in page:
                key = _key(obj)
                value = self._transform(obj)
                if key and value is not None:
                    items[key] = value
        self.relists[reason] += 1
        self._items = items
        self._publish()
        self._synced_now()
        self._backoff.reset()
        log(
            "listed",
            resource=self.resource,
            objects=len(items),
            resourceVersion=list_rv,
            reason=reason,
        )
        return list_rv

    def _watch(self, client: Any) -> None:
        """Watch from self._rv until the stream ends; every event advances self._rv, so after a
        dropped connection the next watch resumes exactly where this one stopped."""
        from kubernetes.client import ApiException

        low, high = self._watch_seconds
        seconds = random.randint(low, high)  # spread reconnects of many replicas
        query: dict[str, str | int | bool] = {
            "watch": True,
            "allowWatchBookmarks": True,
            "resourceVersion": self._rv or "",
            "timeoutSeconds": seconds,
        }
        try:
            response = call_raw(client, self.path, query, timeout=(10.0, seconds + 30.0))
        except ApiException as exc:
            if exc.status == 410:
                raise _Gone() from exc
            raise
        self._response = response
        self._opened_at = time.monotonic()
        try:
            if self._stop.is_set():
                return
            self._synced_now(connected=True)
            for event in _events(response):
                self._apply(event)
                self._gone_streak = 0
                self._backoff.reset()
        finally:
            self._response = None
            self.connected = False
            response.release_conn()

    def _apply(self, event: Mapping[str, Any]) -> None:
        kind = event.get("type")
        obj = event.get("object")
        if not isinstance(obj, dict):
            return
        if kind == "ERROR":
            if obj.get("code") == 410:
                raise _Gone()
            raise RuntimeError(f"watch error event: {obj.get('code')} {obj.get('message')}")
        meta = obj.get("metadata") or {}
        if meta.get("resourceVersion"):
            self._rv = str(meta["resourceVersion"])
        self._synced_now(connected=True)
        if kind == "BOOKMARK":
            return
        key = _key(obj)
        if not key:
            return
        items = dict(self._items)
        value = self._transform(obj) if kind in ("ADDED", "MODIFIED") else None
        if value is None:
            items.pop(key, None)
        else:
            items[key] = value
        self._items = items
        self._publish()

    # --- state -----------------------------------------------------------------------------

    def _publish(self) -> None:
        self.size = len(self._items)
        self._on_change(MappingProxyType(self._items))

    def _synced_now(self, connected: bool = False) -> None:
        self._last_sync = time.monotonic()
        self.connected = connected
        self.synced.set()
        if self._stale_logged:
            self._stale_logged = False
            log("cluster-reachable", resource=self.resource, detail="cache is current again")

    def _disconnected(self) -> None:
        self.connected = False
        if self.synced.is_set() and not self._stale_logged:
            self._stale_logged = True
            log(
                "cache-stale",
                level="warning",
                resource=self.resource,
                detail="apiserver unreachable; serving the last good cache",
            )

    def _interrupt(self) -> None:
        response = self._response
        if response is not None:
            with contextlib.suppress(Exception):  # the stream may already be gone
                getattr(response, "shutdown", response.close)()


def _key(obj: Mapping[str, Any]) -> str:
    meta = obj.get("metadata")
    if not isinstance(meta, Mapping) or not isinstance(meta.get("name"), str):
        return ""
    namespace = meta.get("namespace")
    return f"{namespace}/{meta['name']}" if namespace else str(meta["name"])


def _events(response: Any) -> Iterator[dict[str, Any]]:
    """Watch events from a chunked stream of JSON lines (a line may span chunks)."""
    buffer = b""
    for chunk in response.stream(65536, decode_content=True):
        buffer += chunk
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            if line.strip():
                yield orjson.loads(line)
    if buffer.strip():
        yield orjson.loads(buffer)
