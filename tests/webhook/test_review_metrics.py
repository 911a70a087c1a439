"""The per-review counters (app/webhook/metrics.py ReviewCounters) as Prometheus exposes them."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families
from winpod.webhook.metrics import Metrics


def samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(metrics.render().decode()):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def test_latency_buckets_are_cumulative_and_a_value_on_a_bound_counts_in_that_bucket() -> None:
    metrics = Metrics()
    for seconds in (0.0004, 0.001, 0.003, 7.0):
        metrics.count_request("validate", "CREATE", "Pod", "allow", seconds)
    found = samples(metrics)

    def bucket(le: str) -> float:
        return found[
            ("winpod_admission_duration_seconds_bucket", (("le", le), ("webhook", "validate")))
        ]

    assert [bucket(le) for le in ("0.0005", "0.001", "0.0025", "0.005", "2.5", "+Inf")] == [
        1,
        2,
        2,
        3,
        3,
        4,
    ]
    assert found[("winpod_admission_duration_seconds_count", (("webhook", "validate"),))] == 4
    assert (
        abs(found[("winpod_admission_duration_seconds_sum", (("webhook", "validate"),))] - 7.0044)
        < 1e-9
    )


def test_requests_and_rule_hits_count_per_label_set_and_unknown_kinds_count_as_other() -> None:
    metrics = Metrics()
    metrics.count_request("mutate", "CREATE", "Pod", "warn", 0.001)
    metrics.count_request("mutate", "CREATE", "Pod", "warn", 0.001)
    metrics.count_request("validate", "CREATE", "Widget", "skip", 0.001)
    for _ in range(3):
        metrics.count_hit("windows-memory-limits", "warn")
    found = samples(metrics)
    labels = (("decision", "warn"), ("kind", "Pod"), ("operation", "CREATE"), ("webhook", "mutate"))
    assert found[("winpod_admission_requests_total", labels)] == 2
    other = (
        ("decision", "skip"),
        ("kind", "other"),
        ("operation", "CREATE"),
        ("webhook", "validate"),
    )
    assert found[("winpod_admission_requests_total", other)] == 1
    hit = (("action", "warn"), ("rule", "windows-memory-limits"))
    assert found[("winpod_rule_hits_total", hit)] == 3
