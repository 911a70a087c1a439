"""Prometheus metrics for the webhook, in a registry of its own.

A registry per app (not the process-wide default) lets tests and benchmarks build several
apps in one process. Label values are bounded: kinds outside the checked set count as "other".
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator
from itertools import accumulate

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from ..engine.visit import CHECKED_KINDS

# Admission latency budgets are milliseconds: resolve them, not seconds.
_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        # Counted per review, so kept as plain numbers and turned into metrics at scrape time
        # (see ReviewCounters): prometheus_client's inc/observe take a lock and validate each
        # call, several times per review.
        self.reviews = ReviewCounters()
        self.registry.register(self.reviews)
        self.bad_requests = Counter(
            "winpod_bad_requests",
            "Requests refused before review (not an AdmissionReview), by HTTP status.",
            ["code"],
            registry=self.registry,
        )
        self.connections_closed = Counter(
            "winpod_connections_closed",
            "Connections the server closed to protect itself, by reason (read-timeout, "
            "over-capacity, evicted, head-too-large, invalid-http).",
            ["reason"],
            registry=self.registry,
        )
        self.cert_reloads = Counter(
            "winpod_certificate_reloads",
            "Serving certificate reloads after the files changed, by result.",
            ["result"],
            registry=self.registry,
        )
        self.cert_loaded = Gauge(
            "winpod_certificate_loaded_timestamp_seconds",
            "When the serving certificate in use was loaded.",
            registry=self.registry,
        )
        self.cert_expiry = Gauge(
            "winpod_certificate_expiry_timestamp_seconds",
            "notAfter of the serving certificate in use.",
            registry=self.registry,
        )
        self.rules_loaded = Gauge(
            "winpod_rules_loaded", "Rules in the loaded catalog.", registry=self.registry
        )

    def count_request(
        self, webhook: str, operation: str, kind: str, decision: str, seconds: float
    ) -> None:
        self.reviews.count_request(webhook, operation, kind_label(kind), decision, seconds)

    def count_hit(self, rule: str, action: str, count: int = 1) -> None:
        hits = self.reviews.hits
        key = (rule, action)
        hits[key] = hits.get(key, 0) + count

    def render(self) -> bytes:
        return generate_latest(self.registry)


class ReviewCounters(Collector):
    """winpod_admission_requests, winpod_rule_hits and winpod_admission_duration_seconds.

    Updated only on the event loop's thread (reviews are answered there); a scrape reads them
    there too, and `collect` copies before iterating in case a caller scrapes from another.
    """

    def __init__(self) -> None:
        self.requests: dict[tuple[str, str, str, str], int] = {}
        self.hits: dict[tuple[str, str], int] = {}
        # per webhook: [count per bucket (not cumulative, +Inf last), sum of seconds]
        self.latency: dict[str, tuple[list[int], list[float]]] = {}

    def count_request(
        self, webhook: str, operation: str, kind: str, decision: str, seconds: float
    ) -> None:
        key = (webhook, operation, kind, decision)
        self.requests[key] = self.requests.get(key, 0) + 1
        latency = self.latency.get(webhook)
        if latency is None:
            latency = self.latency[webhook] = ([0] * (len(_BUCKETS) + 1), [0.0])
        latency[0][bisect_left(_BUCKETS, seconds)] += 1
        latency[1][0] += seconds

    def collect(self) -> Iterator[Metric]:
        requests = CounterMetricFamily(
            "winpod_admission_requests",
            "Admission reviews answered, by webhook, operation, kind and decision.",
            labels=["webhook", "operation", "kind", "decision"],
        )
        for labels, count in list(self.requests.items()):
            requests.add_metric(list(labels), count)
        yield requests
        hits = CounterMetricFamily(
            "winpod_rule_hits",
            "Findings reported, by rule and the action taken (deny, warn, audit, exempted, and"
            " would-deny: warned under a warn-only cap, denied once enforced).",
            labels=["rule", "action"],
        )
        for (rule, action), count in list(self.hits.items()):
            hits.add_metric([rule, action], count)
        yield hits
        latency = HistogramMetricFamily(
            "winpod_admission_duration_seconds",
            "Time to answer an admission review, parsing included.",
            labels=["webhook"],
        )
        for webhook, (counts, total) in list(self.latency.items()):
            cumulative = list(accumulate(counts))
            buckets = [(_le(bound), n) for bound, n in zip(_BUCKETS, cumulative, strict=False)]
            buckets.append(("+Inf", cumulative[-1]))
            latency.add_metric([webhook], buckets, total[0])
        yield latency


def _le(bound: float) -> str:
    return repr(float(bound))


def kind_label(kind: str) -> str:
    return kind if kind in CHECKED_KINDS else "other"
