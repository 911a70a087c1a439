"""`winpod serve` itself: its flags, its config, and how it refuses to start."""

from __future__ import annotations

import http.client
import os
import subprocess
import sys
import time
from pathlib import Path

import orjson
from winpod.certs import make_ca, make_serving_cert
from winpod.config import Config

from tests.conftest import LOOPBACK, REPO, RunningWebhook, StartWebhook
from tests.webhook.reviews import privileged_windows_pod, review, windows_pod

ONLY_RULE = """\
id: test-only-rule
title: a rule for the serve tests
os: windows
source: https://example.com/test-only-rule
versions:
  - since: "1.14"
    action: deny
    check: {container: securityContext.privileged, equals: true}
    message: test rule message
    fix: test rule fix
"""


def serve(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    ca = make_ca()
    serving = make_serving_cert(ca, ["localhost"])
    (tmp_path / "tls.crt").write_bytes(serving.cert_pem)
    (tmp_path / "tls.key").write_bytes(serving.key_pem)
    command = [
        sys.executable, "-m", "winpod.cli", "serve", "--host", LOOPBACK, "--port", "0",
        "--cert-file", str(tmp_path / "tls.crt"), "--key-file", str(tmp_path / "tls.key"), *args,
    ]  # fmt: skip
    return subprocess.run(
        command, capture_output=True, text=True, timeout=60, cwd=REPO, env=env, check=False
    )


def test_a_config_with_an_unknown_key_stops_serve_with_exit_2(tmp_path: Path) -> None:
    config = tmp_path / "winpod.yaml"
    config.write_text("webhook:\n  maxBodyByte: 10\n")
    done = serve(tmp_path, "--config", str(config))
    assert done.returncode == 2
    assert str(config) in done.stderr and "maxBodyByte" in done.stderr


def test_missing_certificate_files_stop_serve_with_exit_2(tmp_path: Path) -> None:
    done = serve(tmp_path, "--cert-file", str(tmp_path / "nope.crt"))
    assert done.returncode == 2
    assert "nope.crt" in done.stderr


def test_watch_cluster_without_any_cluster_credentials_stops_serve_with_exit_2(
    tmp_path: Path,
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUBERNETES_")}
    env["KUBECONFIG"] = str(tmp_path / "no-such-kubeconfig")
    env["HOME"] = str(tmp_path)
    done = serve(tmp_path, "--watch-cluster", env=env)
    assert done.returncode == 2
    assert done.stderr.startswith("winpod serve: ")


def test_policies_keep_alive_and_body_cap_come_from_the_flags_and_config(
    webhook_server: StartWebhook, tmp_path: Path
) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "test-only-rule.yaml").write_text(ONLY_RULE)
    config = Config.model_validate({"webhook": {"keepAliveSeconds": 1, "maxBodyBytes": 4096}})
    server = webhook_server(config, policies=[rules])
    client = server.client()
    assert client.get("/version").json()["rules"] == 1
    response = client.review(review(privileged_windows_pod())).json()["response"]
    assert response["status"]["message"].endswith(
        "test rule message; test rule fix (rule test-only-rule)"
    )

    small = review(windows_pod())
    assert client.review(small).status == 200
    big = review(windows_pod())
    big["request"]["object"]["metadata"]["annotations"] = {"pad": "x" * 5000}
    reply = client.review(big)
    assert reply.status == 413 and "4096-byte limit" in reply.json()["error"]

    # keepAliveSeconds: 1 -- an idle connection is closed by the server after about a second.
    assert client.review(small).status == 200
    time.sleep(2.5)
    try:
        client.review(small)
        closed = False
    except (http.client.HTTPException, ConnectionError):
        closed = True
    assert closed
    client.close()


def test_the_default_keep_alive_outlasts_a_quiet_spell(webhook: RunningWebhook) -> None:
    # The default is 120 s (Go clients idle up to 90 s); a few seconds' pause must not cost a
    # new handshake.
    client = webhook.client()
    assert client.review(review(windows_pod())).status == 200
    sock = client.connection.sock
    time.sleep(2.5)
    reply = client.review(review(windows_pod()))
    assert reply.status == 200 and orjson.loads(reply.body)["response"]["allowed"] is True
    assert client.connection.sock is sock
    client.close()
