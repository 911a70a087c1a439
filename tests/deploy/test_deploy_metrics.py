"""The optional metrics Service and ServiceMonitor: components/metrics and
components/service-monitor in kustomize, metrics.service and metrics.serviceMonitor in Helm.

Prometheus scrapes /metrics on the webhook's HTTPS port, verifying the server with the CA in the
serving Secret: the chain, the name and the port are checked here as a scraper would meet them.
"""

from __future__ import annotations

import base64

import kubernetes_validate
import pytest
from cryptography import x509
from cryptography.x509.verification import PolicyBuilder, Store
from deploy_render import (
    CHART,
    NAMESPACE,
    SERVICE,
    Doc,
    find,
    helm_render,
    kinds_and_names,
    load_docs,
    one,
    rendered_by,
    webhook_pod_spec,
)
from winpod.certs import service_dns_names

METRICS_SERVICE = "winpod-metrics"
ADDED = {
    "metrics": {("Service", METRICS_SERVICE)},
    "service-monitor": {("Service", METRICS_SERVICE), ("ServiceMonitor", "winpod")},
    "service-monitor-self-managed": {("Service", METRICS_SERVICE), ("ServiceMonitor", "winpod")},
}
BASE_OF = {
    "metrics": "cert-manager",
    "service-monitor": "cert-manager",
    "service-monitor-self-managed": "self-managed",
}


MONITORED = ("service-monitor", "service-monitor-self-managed")


@pytest.fixture(params=sorted(ADDED))
def option(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(params=MONITORED)
def monitored(request: pytest.FixtureRequest, renderer: str) -> list[Doc]:
    """An install with the ServiceMonitor, by one renderer."""
    return rendered_by(request, renderer, "options_kustomized", "options_helmed", request.param)


@pytest.fixture
def metrics_rendered(
    request: pytest.FixtureRequest, option: str, renderer: str
) -> tuple[list[Doc], list[Doc]]:
    """(the install with the option, the same install without it), by one renderer."""
    with_option = rendered_by(request, renderer, "options_kustomized", "options_helmed", option)
    without = rendered_by(request, renderer, "kustomized", "helmed", BASE_OF[option])
    return with_option, without


def verify_for(ca: x509.Certificate, leaf: x509.Certificate, name: str) -> None:
    """What Prometheus does with tlsConfig.ca and serverName: chain to the CA, match the name."""
    verifier = PolicyBuilder().store(Store([ca])).build_server_verifier(x509.DNSName(name))
    verifier.verify(leaf, [])


def test_the_default_install_has_no_metrics_service_and_no_service_monitor(
    kustomized: dict[str, list[Doc]], helmed: dict[str, list[Doc]]
) -> None:
    for docs in (*kustomized.values(), *helmed.values(), helm_render({})):
        assert not find(docs, "ServiceMonitor")
        assert not find(docs, "Service", METRICS_SERVICE)


def test_each_metrics_option_adds_exactly_its_objects(
    metrics_rendered: tuple[list[Doc], list[Doc]], option: str
) -> None:
    with_option, without = metrics_rendered
    assert kinds_and_names(with_option) == kinds_and_names(without) | ADDED[option]


def test_the_metrics_service_reaches_the_https_port_of_the_webhook_pods(
    metrics_rendered: tuple[list[Doc], list[Doc]],
) -> None:
    docs, _ = metrics_rendered
    service = one(docs, "Service", METRICS_SERVICE)
    kubernetes_validate.validate(service, "1.37.0", strict=True)
    (port,) = service["spec"]["ports"]
    assert port["name"] == "metrics"
    container = webhook_pod_spec(docs)["containers"][0]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    # The server answers /metrics beside /validate and /mutate, on its one HTTPS port.
    assert ports[port["targetPort"]] == 8443
    pod_labels = one(docs, "Deployment", "winpod")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert service["metadata"]["labels"]["app.kubernetes.io/component"] == "metrics"


def test_the_service_monitor_selects_the_metrics_service_alone(monitored: list[Doc]) -> None:
    docs = monitored
    monitor = one(docs, "ServiceMonitor", "winpod")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["namespace"] == NAMESPACE
    # No namespaceSelector: the Services of the ServiceMonitor's own namespace.
    assert "namespaceSelector" not in monitor["spec"]
    wanted = monitor["spec"]["selector"]["matchLabels"].items()
    selected = [s for s in find(docs, "Service") if wanted <= s["metadata"]["labels"].items()]
    # The webhook Service selects the same pods: were it selected too, each pod would be
    # scraped twice and every counter double.
    assert [s["metadata"]["name"] for s in selected] == [METRICS_SERVICE]
    (endpoint,) = monitor["spec"]["endpoints"]
    port_names = [p["name"] for p in selected[0]["spec"]["ports"]]
    assert endpoint["port"] in port_names
    assert (endpoint["scheme"], endpoint["path"], endpoint["interval"]) == (
        "https",
        "/metrics",
        "30s",
    )


def test_the_service_monitor_verifies_the_server_with_the_serving_ca(
    monitored: list[Doc],
) -> None:
    docs = monitored
    (endpoint,) = one(docs, "ServiceMonitor", "winpod")["spec"]["endpoints"]
    tls = endpoint["tlsConfig"]
    assert tls.get("insecureSkipVerify", False) is False
    assert tls["ca"] == {"secret": {"name": "winpod-tls", "key": "ca.crt"}}
    # Prometheus dials pod IPs: the name it checks must be one the certificate holds.
    assert tls["serverName"] in service_dns_names(SERVICE, NAMESPACE)
    volumes = {v["name"]: v for v in webhook_pod_spec(docs)["volumes"]}
    assert volumes["tls"]["secret"]["secretName"] == tls["ca"]["secret"]["name"]
    for certificate in find(docs, "Certificate", "winpod-serving"):
        assert certificate["spec"]["secretName"] == tls["ca"]["secret"]["name"]
        assert tls["serverName"] in certificate["spec"]["dnsNames"]


def test_with_self_managed_certificates_the_secret_the_scraper_reads_verifies_the_server(
    options_kustomized: dict[str, list[Doc]], options_helmed: dict[str, list[Doc]]
) -> None:
    for docs in (
        options_kustomized["service-monitor-self-managed"],
        options_helmed["service-monitor-self-managed"],
    ):
        (endpoint,) = one(docs, "ServiceMonitor", "winpod")["spec"]["endpoints"]
        ca_ref = endpoint["tlsConfig"]["ca"]["secret"]
        data = one(docs, "Secret", ca_ref["name"])["data"]
        ca = x509.load_pem_x509_certificate(base64.b64decode(data[ca_ref["key"]]))
        leaf = x509.load_pem_x509_certificate(base64.b64decode(data["tls.crt"]))
        verify_for(ca, leaf, endpoint["tlsConfig"]["serverName"])


def test_helm_renders_the_same_metrics_objects_as_kustomize(
    options_kustomized: dict[str, list[Doc]], options_helmed: dict[str, list[Doc]], option: str
) -> None:
    k, h = options_kustomized[option], options_helmed[option]
    assert kinds_and_names(h) == kinds_and_names(k)
    assert one(h, "Service", METRICS_SERVICE)["spec"] == one(k, "Service", METRICS_SERVICE)["spec"]
    k_labels = one(k, "Service", METRICS_SERVICE)["metadata"]["labels"].items()
    assert k_labels <= one(h, "Service", METRICS_SERVICE)["metadata"]["labels"].items()
    for monitor in find(k, "ServiceMonitor"):
        assert one(h, "ServiceMonitor", "winpod")["spec"] == monitor["spec"]


def test_the_service_monitor_option_implies_the_metrics_service() -> None:
    docs = helm_render({"metrics": {"serviceMonitor": {"enabled": True}}})
    assert find(docs, "Service", METRICS_SERVICE) and find(docs, "ServiceMonitor", "winpod")
    docs = helm_render({"metrics": {"service": {"enabled": True}}})
    assert find(docs, "Service", METRICS_SERVICE) and not find(docs, "ServiceMonitor")


def test_helm_labels_and_interval_reach_the_objects_prometheus_selects() -> None:
    docs = helm_render(
        {
            "metrics": {
                "service": {"labels": {"team": "platform"}},
                "serviceMonitor": {
                    "enabled": True,
                    "labels": {"release": "kube-prometheus-stack"},
                    "interval": "15s",
                },
            }
        }
    )
    monitor = one(docs, "ServiceMonitor", "winpod")
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert monitor["spec"]["endpoints"][0]["interval"] == "15s"
    labels = one(docs, "Service", METRICS_SERVICE)["metadata"]["labels"]
    assert labels["team"] == "platform"
    # A user's label never displaces the one the ServiceMonitor selects by.
    assert monitor["spec"]["selector"]["matchLabels"].items() <= labels.items()


def test_another_release_name_and_namespace_flow_into_the_scrape_configuration() -> None:
    import helm_python

    with helm_python.Chart.load(str(CHART)) as chart:
        manifests = chart.render(
            {"metrics": {"serviceMonitor": {"enabled": True}}}, name="policy", namespace="admission"
        )
    docs = [
        d for name, text in manifests.items() if name.endswith(".yaml") for d in load_docs(text)
    ]
    assert one(docs, "Service", "policy-winpod-metrics")["metadata"]["namespace"] == "admission"
    monitor = one(docs, "ServiceMonitor", "policy-winpod")
    tls = monitor["spec"]["endpoints"][0]["tlsConfig"]
    assert tls["ca"]["secret"]["name"] == "policy-winpod-tls"
    serving = one(docs, "Certificate", "policy-winpod-serving")
    assert serving["spec"]["secretName"] == "policy-winpod-tls"
    assert tls["serverName"] == "policy-winpod.admission.svc" in serving["spec"]["dnsNames"]
