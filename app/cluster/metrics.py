"""Prometheus metrics for the cluster caches (default registry, exported by the webhook's /metrics).

Staleness is computed at scrape time from the newest view's reflectors, so it keeps growing while
the apiserver is unreachable even though nothing in the cache changes.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge

CACHE_STALENESS = Gauge(
    "winpod_cluster_cache_staleness_seconds",
    "Seconds since the cache last confirmed it matches the apiserver (0 while a watch is open).",
    ["resource"],
)
CACHE_OBJECTS = Gauge(
    "winpod_cluster_cache_objects", "Objects held in the cache.", ["resource"]
)
RELISTS = Counter(
    "winpod_cluster_relists_total",
    "Full lists of a resource (the first sync, after 410 Gone, or after an error).",
    ["resource", "reason"],
)
WATCH_RESTARTS = Counter(
    "winpod_cluster_watch_restarts_total",
    "Watches that ended and were reopened, by why they ended.",
    ["resource", "reason"],
)
