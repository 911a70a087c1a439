"""TLS: versions, keep-alive, and certificate rotation while reviews flow."""

from __future__ import annotations

import http.client
import re
import socket
import ssl
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import orjson
import pytest
from cryptography import x509
from winpod.certs import make_ca, make_serving_cert

from tests.conftest import LOOPBACK, REPO, AdmissionClient, RunningWebhook, StartWebhook
from tests.webhook.conftest import TEST_CONFIG
from tests.webhook.reviews import privileged_windows_pod, review, windows_pod


def served_certificate(server: RunningWebhook) -> x509.Certificate:
    """The certificate a brand-new handshake gets."""
    context = server.client_context()
    with (
        socket.create_connection((LOOPBACK, server.port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname=LOOPBACK) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der)


def wait_for_certificate(server: RunningWebhook, serial: int, timeout: float = 10.0) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if served_certificate(server).serial_number == serial:
            return time.monotonic() - started
        time.sleep(0.05)
    raise AssertionError(f"certificate {serial} not served after {timeout}s")


@pytest.fixture(scope="module")
def rotating(webhook_server: StartWebhook) -> RunningWebhook:
    return webhook_server(TEST_CONFIG)


def test_tls_1_2_and_1_3_are_served_and_older_versions_are_refused(webhook: RunningWebhook) -> None:
    for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
        context = webhook.client_context()
        context.minimum_version = context.maximum_version = version
        with (
            socket.create_connection((LOOPBACK, webhook.port), timeout=5) as raw,
            context.wrap_socket(raw, server_hostname=LOOPBACK) as tls,
        ):
            assert tls.version() == {"TLSv1_2": "TLSv1.2", "TLSv1_3": "TLSv1.3"}[version.name]
    old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    old.check_hostname = False
    old.verify_mode = ssl.CERT_NONE
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # that is the point
            old.minimum_version = ssl.TLSVersion.TLSv1
            old.maximum_version = ssl.TLSVersion.TLSv1_1
        old.set_ciphers("ALL:@SECLEVEL=0")
    except (ValueError, ssl.SSLError):
        pytest.skip("this OpenSSL cannot even offer TLS 1.1")
    with (
        socket.create_connection((LOOPBACK, webhook.port), timeout=5) as raw,
        pytest.raises(ssl.SSLError),
    ):
        old.wrap_socket(raw, server_hostname=LOOPBACK)


def test_plain_http_gets_no_answer(webhook: RunningWebhook) -> None:
    connection = http.client.HTTPConnection(LOOPBACK, webhook.port, timeout=5)
    with pytest.raises((http.client.HTTPException, ConnectionError, OSError)):
        connection.request("GET", "/healthz")
        connection.getresponse().read()
    connection.close()


def test_one_connection_carries_many_reviews(webhook: RunningWebhook) -> None:
    client = webhook.client()
    for _ in range(50):
        assert client.review(review(windows_pod())).status == 200
    sock = client.connection.sock
    assert sock is not None
    assert client.review(review(windows_pod())).status == 200
    assert client.connection.sock is sock  # the same TCP connection, never reopened
    client.close()


def test_the_certificate_is_reloaded_when_the_files_change_while_reviews_flow(
    rotating: RunningWebhook,
) -> None:
    stop = threading.Event()
    counts = {"ok": 0, "fail": 0, "handshakes": 0}
    errors: list[str] = []
    lock = threading.Lock()

    def keep_alive_worker() -> None:
        client = AdmissionClient(rotating)
        while not stop.is_set():
            sent = review(privileged_windows_pod())
            try:
                reply = client.review(sent)
                body = orjson.loads(reply.body)
                good = reply.status == 200 and body["response"]["uid"] == sent["request"]["uid"]
            except Exception as exc:
                good = False
                errors.append(repr(exc))
            with lock:
                counts["ok" if good else "fail"] += 1
        client.close()

    def new_connection_worker() -> None:
        # A fresh handshake per request: these are the ones that meet each new certificate.
        while not stop.is_set():
            client = AdmissionClient(rotating)
            sent = review(windows_pod())
            try:
                reply = client.review(sent)
                good = (
                    reply.status == 200
                    and reply.json()["response"]["uid"] == sent["request"]["uid"]
                )
            except Exception as exc:
                good = False
                errors.append(repr(exc))
            client.close()
            with lock:
                counts["ok" if good else "fail"] += 1
                counts["handshakes"] += 1

    threads = [threading.Thread(target=keep_alive_worker) for _ in range(2)]
    threads += [threading.Thread(target=new_connection_worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    try:
        serials = []
        for _ in range(3):
            time.sleep(0.3)
            new = rotating.rotate_certificate()
            wait_for_certificate(rotating, new.cert.serial_number)
            serials.append(new.cert.serial_number)
        time.sleep(0.3)
    finally:
        stop.set()
        for thread in threads:
            thread.join(10)
    print(
        f"\nrotation: {counts['ok']} reviews ok, {counts['fail']} failed, "
        f"{counts['handshakes']} new handshakes, 3 certificates rotated"
    )
    assert counts["fail"] == 0, errors[:5]
    assert counts["ok"] > 100
    assert len(set(serials)) == 3
    reloads = [r for r in rotating.log_records() if r.get("event") == "certificate-reloaded"]
    assert len(reloads) == 3
    # notAfter as RFC 3339, like the lines' own times.
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", r["notAfter"]) for r in reloads)


def test_a_broken_or_mismatched_pair_is_refused_and_the_old_certificate_keeps_serving(
    rotating: RunningWebhook,
) -> None:
    before = served_certificate(rotating).serial_number

    def failures_logged() -> int:
        return sum(
            1 for r in rotating.log_records() if r.get("event") == "certificate-reload-failed"
        )

    def wait_for_failures(count: int) -> None:
        deadline = time.monotonic() + 10
        while failures_logged() < count and time.monotonic() < deadline:
            time.sleep(0.05)
        assert failures_logged() >= count

    already = failures_logged()
    # A half-written certificate.
    rotating.cert_file.write_bytes(b"-----BEGIN CERTIFICATE-----\nMIIB")
    wait_for_failures(already + 1)
    assert served_certificate(rotating).serial_number == before
    # A new certificate with the old key (the key file not updated yet).
    stray = make_serving_cert(rotating.ca, ["localhost"], [LOOPBACK])
    rotating.cert_file.write_bytes(stray.cert_pem)
    wait_for_failures(already + 2)
    assert served_certificate(rotating).serial_number == before
    client = rotating.client()
    assert client.review(review(windows_pod())).status == 200
    # Then the matching key arrives: picked up.
    rotating.key_file.write_bytes(stray.key_pem)
    wait_for_certificate(rotating, stray.cert.serial_number)
    metrics = client.get("/metrics").body.decode()
    assert 'winpod_certificate_reloads_total{result="error"}' in metrics
    client.close()


def test_a_server_whose_certificate_and_key_do_not_match_does_not_start(tmp_path: Path) -> None:
    ca = make_ca()
    served, other = make_serving_cert(ca, ["localhost"]), make_serving_cert(ca, ["localhost"])
    (tmp_path / "tls.crt").write_bytes(served.cert_pem)
    (tmp_path / "tls.key").write_bytes(other.key_pem)
    done = subprocess.run(
        [sys.executable, "-m", "winpod.cli", "serve", "--cert-file", str(tmp_path / "tls.crt"),
         "--key-file", str(tmp_path / "tls.key"), "--host", LOOPBACK, "--port", "0"],
        capture_output=True, text=True, timeout=30, cwd=REPO,
    )  # fmt: skip
    assert done.returncode == 2
    assert "are not a usable pair" in done.stderr
