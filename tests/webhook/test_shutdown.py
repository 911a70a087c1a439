"""SIGTERM while reviews flow: requests the server has started are answered, then it exits 0."""

from __future__ import annotations

import http.client
import signal
import threading
import time
from typing import Any

import orjson

from tests.conftest import LOOPBACK, AdmissionClient, StartWebhook
from tests.webhook.conftest import TEST_CONFIG
from tests.webhook.reviews import privileged_windows_pod, review, windows_pod

IN_FLIGHT = 6
LOAD_THREADS = 3


def test_sigterm_lets_in_flight_reviews_finish_then_exits_cleanly(
    webhook_server: StartWebhook,
) -> None:
    server = webhook_server(TEST_CONFIG)

    # Background load on keep-alive connections, like an apiserver under traffic.
    stop = threading.Event()
    signalled = threading.Event()
    counts = {"ok": 0, "bad_answer": 0, "failed_before_sigterm": 0, "cut_after_sigterm": 0}
    lock = threading.Lock()

    def load() -> None:
        client = AdmissionClient(server)
        while not stop.is_set():
            sent = review(privileged_windows_pod())
            try:
                reply = client.review(sent)
            except (OSError, http.client.HTTPException):
                with lock:
                    # After SIGTERM the server closes idle connections; a request written into
                    # one as it closes was never read (the apiserver's Go client retries those).
                    counts[
                        "cut_after_sigterm" if signalled.is_set() else "failed_before_sigterm"
                    ] += 1
                break
            good = reply.status == 200 and reply.json()["response"]["uid"] == sent["request"]["uid"]
            with lock:
                counts["ok" if good else "bad_answer"] += 1
        client.close()

    threads = [threading.Thread(target=load) for _ in range(LOAD_THREADS)]
    for thread in threads:
        thread.start()
    time.sleep(0.5)

    # Reviews in flight for sure: headers and half the body sent before the signal.
    pending: list[tuple[http.client.HTTPSConnection, bytes, str]] = []
    for index in range(IN_FLIGHT):
        sent = review(windows_pod(f"inflight-{index}"), uid=f"in-flight-{index}")
        body = orjson.dumps(sent)
        connection = http.client.HTTPSConnection(
            LOOPBACK, server.port, timeout=15, context=server.client_context()
        )
        connection.putrequest("POST", "/validate?timeout=10s")
        connection.putheader("Content-Type", "application/json")
        connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body[: len(body) // 2])
        pending.append((connection, body[len(body) // 2 :], sent["request"]["uid"]))
    time.sleep(0.5)  # let the server parse those headers

    signalled.set()
    server.process.send_signal(signal.SIGTERM)
    time.sleep(0.5)

    answered: list[dict[str, Any]] = []
    for connection, rest, uid in pending:
        connection.send(rest)
        response = connection.getresponse()
        assert response.status == 200
        answer = orjson.loads(response.read())
        assert answer["response"]["uid"] == uid
        answered.append(answer)
        connection.close()

    exit_code = server.process.wait(20)
    stop.set()
    for thread in threads:
        thread.join(10)

    print(
        f"\nSIGTERM: {len(answered)}/{IN_FLIGHT} in-flight reviews answered after the signal; "
        f"background load: {counts['ok']} ok, {counts['bad_answer']} bad answers, "
        f"{counts['failed_before_sigterm']} failed before SIGTERM, "
        f"{counts['cut_after_sigterm']} connections closed by the shutdown; exit code {exit_code}"
    )
    assert len(answered) == IN_FLIGHT
    assert all(a["response"]["allowed"] is True for a in answered)
    # uvicorn re-raises the signal once it has shut down, so the exit status says SIGTERM.
    assert exit_code in (0, -signal.SIGTERM)
    log = server.log_file.read_text()
    assert "Waiting for application shutdown." in log and "Finished server process" in log
    assert counts["ok"] > 50
    assert counts["bad_answer"] == 0 and counts["failed_before_sigterm"] == 0
    assert counts["cut_after_sigterm"] <= LOAD_THREADS
    # And nothing listens any more.
    try:
        AdmissionClient(server, timeout=2).get("/healthz")
        raise AssertionError("the server still answers after SIGTERM")
    except ConnectionRefusedError:
        pass


def test_with_a_shutdown_delay_the_server_keeps_answering_but_reports_unready_first(
    webhook_server: StartWebhook,
) -> None:
    server = webhook_server(TEST_CONFIG, extra_args=["--shutdown-delay-seconds", "1.5"])
    client = server.client()
    assert client.get("/readyz").status == 200
    server.process.send_signal(signal.SIGTERM)
    signalled_at = time.monotonic()
    time.sleep(0.3)
    ready = client.get("/readyz")
    assert ready.status == 503 and ready.json()["checks"]["accepting"] is False
    # New connections are still accepted and answered while the endpoint is being removed.
    fresh = AdmissionClient(server)
    sent = review(privileged_windows_pod())
    assert fresh.review(sent).json()["response"]["uid"] == sent["request"]["uid"]
    fresh.close()
    client.close()
    exit_code = server.process.wait(20)
    drained_for = time.monotonic() - signalled_at
    assert exit_code in (0, -signal.SIGTERM)
    assert 1.4 <= drained_for < 10
    assert any(r.get("event") == "draining" for r in server.log_records())
