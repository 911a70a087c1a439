"""Prometheus metrics for the webhook, in a registry of its own.

A registry per app (not the process-wide default) lets tests and benchmarks build several
apps in one process. Label values are bounded: kinds outside the checked set count as "other".
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from app.engine.visit import CHECKED_KINDS

# Admission latency budgets are milliseconds: resolve them, not seconds.
_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "winpod_admission_requests",
            "Admission reviews answered, by webhook, operation, kind and decision.",
            ["webhook", "operation", "kind", "decision"],
            registry=self.registry,
        )
        self.rule_hits = Counter(
            "winpod_rule_hits",
            "Findings reported, by rule and the action taken (deny, warn, audit, exempted).",
            ["rule", "action"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "winpod_admission_duration_seconds",
            "Time to answer an admission review, parsing included.",
            ["webhook"],
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self.bad_requests = Counter(
            "winpod_bad_requests",
            "Requests refused before review (not an AdmissionReview), by HTTP status.",
            ["code"],
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
        self._request_children: dict[tuple[str, str, str, str], Any] = {}
        self._latency_children: dict[str, Any] = {}
        self._hit_children: dict[tuple[str, str], Any] = {}

    def count_request(
        self, webhook: str, operation: str, kind: str, decision: str, seconds: float
    ) -> None:
        key = (webhook, operation, kind_label(kind), decision)
        child = self._request_children.get(key)
        if child is None:
            # labels() validates and locks on every call; the label sets are few, keep them.
            child = self._request_children[key] = self.requests.labels(*key)
        child.inc()
        latency = self._latency_children.get(webhook)
        if latency is None:
            latency = self._latency_children[webhook] = self.latency.labels(webhook)
        latency.observe(seconds)

    def count_hit(self, rule: str, action: str) -> None:
        key = (rule, action)
        child = self._hit_children.get(key)
        if child is None:
            child = self._hit_children[key] = self.rule_hits.labels(rule, action)
        child.inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)


def kind_label(kind: str) -> str:
    return kind if kind in CHECKED_KINDS else "other"
