"""Self-managed certificates: `winpod certs` end to end, and the chain the apiserver will check.

Every key here is generated in the test; none is committed.
"""

from __future__ import annotations

import base64
import datetime as dt
import shutil
import stat
import subprocess
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from cryptography import x509
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError
from deploy_render import NAMESPACE, SERVICE, Doc, decode_ca_bundle, find, one
from winpod.certs import (
    CertError,
    KeyPair,
    ca_bundle,
    load_key_pair,
    make_ca,
    make_serving_cert,
    service_dns_names,
    serving_cert_problem,
)
from winpod.cli import main

NAMES = service_dns_names(SERVICE, NAMESPACE)


def verify_for(ca: x509.Certificate, leaf: x509.Certificate, name: str) -> None:
    """What a TLS client (the apiserver) does: chain to the CA and match the host name."""
    verifier = PolicyBuilder().store(Store([ca])).build_server_verifier(x509.DNSName(name))
    verifier.verify(leaf, [])


def certs_cli(out: Path, *extra: str) -> int:
    return main(
        ["certs", "--service", SERVICE, "--namespace", NAMESPACE, "--out-dir", str(out), *extra]
    )


@pytest.fixture(scope="module")
def pair() -> tuple[KeyPair, KeyPair]:
    ca = make_ca()
    return ca, make_serving_cert(ca, NAMES)


def test_the_service_names_are_the_four_forms_the_apiserver_may_dial() -> None:
    assert NAMES == [
        "winpod",
        "winpod.winpod",
        "winpod.winpod.svc",
        "winpod.winpod.svc.cluster.local",
    ]


@pytest.mark.parametrize("name", NAMES)
def test_the_serving_certificate_verifies_for_each_service_name(
    pair: tuple[KeyPair, KeyPair], name: str
) -> None:
    ca, serving = pair
    verify_for(ca.cert, serving.cert, name)


def test_a_name_outside_the_certificate_does_not_verify(pair: tuple[KeyPair, KeyPair]) -> None:
    ca, serving = pair
    with pytest.raises(VerificationError):
        verify_for(ca.cert, serving.cert, "winpod.other.svc")


def test_another_ca_does_not_verify_the_serving_certificate(
    pair: tuple[KeyPair, KeyPair],
) -> None:
    _, serving = pair
    with pytest.raises(VerificationError):
        verify_for(make_ca().cert, serving.cert, NAMES[2])


def test_load_key_pair_refuses_a_key_that_belongs_to_another_certificate(
    pair: tuple[KeyPair, KeyPair],
) -> None:
    ca, serving = pair
    with pytest.raises(CertError, match="does not match"):
        load_key_pair(serving.cert_pem, ca.key_pem)
    assert load_key_pair(serving.cert_pem, serving.key_pem).cert == serving.cert


def test_a_serving_certificate_near_its_end_needs_renewal(pair: tuple[KeyPair, KeyPair]) -> None:
    ca, serving = pair
    assert serving_cert_problem(serving.cert, ca.cert, NAMES, 30) is None
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=350)
    assert "within 30 days" in (serving_cert_problem(serving.cert, ca.cert, NAMES, 30, later) or "")
    assert "not signed by this CA" in (
        serving_cert_problem(serving.cert, make_ca().cert, NAMES, 30) or ""
    )
    assert "lacks the names winpod.x" in (
        serving_cert_problem(serving.cert, ca.cert, [*NAMES, "winpod.x"], 30) or ""
    )


# ---- the CLI, end to end -------------------------------------------------------------------


@pytest.fixture
def issued(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    out = tmp_path / "certs"
    assert certs_cli(out, "--secret-manifest", str(tmp_path / "secret.yaml"), "--ca-bundle") == 0
    captured = capsys.readouterr()
    (tmp_path / "stdout").write_text(captured.out)
    (tmp_path / "stderr").write_text(captured.err)
    return out


def test_winpod_certs_writes_the_four_pem_files_with_private_keys_0600(issued: Path) -> None:
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in issued.iterdir()}
    assert modes == {"ca.crt": 0o644, "ca.key": 0o600, "tls.crt": 0o644, "tls.key": 0o600}
    assert stat.S_IMODE((issued.parent / "secret.yaml").stat().st_mode) == 0o600


def test_winpod_certs_output_chains_for_every_service_name(issued: Path) -> None:
    ca = x509.load_pem_x509_certificate((issued / "ca.crt").read_bytes())
    leaf = x509.load_pem_x509_certificate((issued / "tls.crt").read_bytes())
    for name in NAMES:
        verify_for(ca, leaf, name)
    load_key_pair((issued / "tls.crt").read_bytes(), (issued / "tls.key").read_bytes())
    load_key_pair((issued / "ca.crt").read_bytes(), (issued / "ca.key").read_bytes())


def _openssl_verify(issued: Path, *options: str) -> subprocess.CompletedProcess[str]:
    """`openssl verify` of the issued serving certificate against the issued CA."""
    return subprocess.run(
        ["openssl", "verify", *options, "-CAfile", str(issued / "ca.crt"), str(issued / "tls.crt")],
        capture_output=True,
        text=True,
        timeout=30,
    )


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")
def test_openssl_verifies_the_chain_for_every_service_name(issued: Path) -> None:
    for name in NAMES:
        result = _openssl_verify(issued, "-purpose", "sslserver", "-verify_hostname", name)
        assert result.returncode == 0 and result.stdout.strip().endswith(": OK"), result
    wrong = _openssl_verify(issued, "-verify_hostname", "winpod.default.svc")
    assert wrong.returncode != 0


def test_winpod_certs_prints_the_ca_bundle_alone_on_stdout(issued: Path) -> None:
    stdout = (issued.parent / "stdout").read_text()
    assert stdout.count("\n") == 1
    assert base64.b64decode(stdout.strip()) == (issued / "ca.crt").read_bytes()
    assert "winpod.winpod.svc.cluster.local" in (issued.parent / "stderr").read_text()


def test_the_secret_manifest_is_a_valid_tls_secret_carrying_the_ca(issued: Path) -> None:
    (secret,) = list(yaml.safe_load_all((issued.parent / "secret.yaml").read_text()))
    kubernetes_validate.validate(secret, "1.37.0", strict=True)
    assert secret["type"] == "kubernetes.io/tls"
    assert secret["metadata"]["name"] == "winpod-tls"
    assert secret["metadata"]["namespace"] == NAMESPACE
    for key in ("tls.crt", "tls.key", "ca.crt"):
        assert base64.b64decode(secret["data"][key]) == (issued / key).read_bytes()


def test_patch_webhooks_sets_the_ca_bundle_on_winpods_webhooks_only(
    issued: Path, kustomized: dict[str, list[Doc]]
) -> None:
    rendered = issued.parent / "winpod.yaml"
    foreign = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingWebhookConfiguration",
        "metadata": {"name": "someone-else"},
        "webhooks": [
            {
                "name": "x.example.com",
                "clientConfig": {"service": {"name": "other", "namespace": "other"}},
            }
        ],
    }
    rendered.write_text(yaml.safe_dump_all([*kustomized["cert-manager"], foreign]))
    before = len(kustomized["cert-manager"]) + 1
    assert certs_cli(issued, "--renew", "--patch-webhooks", str(rendered)) == 0
    docs = list(yaml.safe_load_all(rendered.read_text()))
    assert len(docs) == before
    ca_pem = (issued / "ca.crt").read_bytes()
    for kind in ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"):
        (hook,) = one(docs, kind, "winpod")["webhooks"]
        assert decode_ca_bundle(hook["clientConfig"]["caBundle"]) == ca_pem
    assert (
        "caBundle"
        not in one(docs, "ValidatingWebhookConfiguration", "someone-else")["webhooks"][0][
            "clientConfig"
        ]
    )


def test_patch_webhooks_fails_when_no_webhook_calls_the_service(
    issued: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = issued.parent / "other.yaml"
    other.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
    assert certs_cli(issued, "--renew", "--patch-webhooks", str(other)) == 1
    assert "nothing patched" in capsys.readouterr().err
    assert other.read_text() == "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n"


def test_running_again_without_renew_never_replaces_the_ca(
    issued: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ca_before = (issued / "ca.crt").read_bytes()
    assert certs_cli(issued) == 2
    assert "--renew" in capsys.readouterr().err
    assert (issued / "ca.crt").read_bytes() == ca_before
    assert certs_cli(issued, "--force") == 0
    assert (issued / "ca.crt").read_bytes() != ca_before


def test_renew_leaves_a_certificate_that_is_still_good_alone(
    issued: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = (issued / "tls.crt").read_bytes()
    assert certs_cli(issued, "--renew") == 0
    assert "nothing to renew" in capsys.readouterr().err
    assert (issued / "tls.crt").read_bytes() == before


def test_renew_re_signs_with_the_same_ca_so_the_old_ca_bundle_still_verifies(
    issued: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle_before = (issued.parent / "stdout").read_text().strip()
    old = x509.load_pem_x509_certificate((issued / "tls.crt").read_bytes())
    # A 365-day certificate is always "within 400 days" of its end: this forces the renewal.
    assert certs_cli(issued, "--renew", "--renew-within", "400", "--ca-bundle") == 0
    captured = capsys.readouterr()
    assert "re-signing with the existing CA" in captured.err
    assert captured.out.strip() == bundle_before
    new = x509.load_pem_x509_certificate((issued / "tls.crt").read_bytes())
    assert new.serial_number != old.serial_number
    assert new.public_key() != old.public_key()
    ca = x509.load_pem_x509_certificate(base64.b64decode(bundle_before))
    for name in NAMES:
        verify_for(ca, new, name)
    load_key_pair((issued / "tls.crt").read_bytes(), (issued / "tls.key").read_bytes())


def test_renew_without_a_ca_explains_what_to_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert certs_cli(tmp_path / "empty", "--renew") == 2
    assert "run once without --renew" in capsys.readouterr().err


def test_renew_for_another_namespace_re_issues_with_the_new_names(issued: Path) -> None:
    code = main(
        [
            "certs",
            "--service",
            "winpod",
            "--namespace",
            "admission",
            "--out-dir",
            str(issued),
            "--renew",
        ]
    )
    assert code == 0
    leaf = x509.load_pem_x509_certificate((issued / "tls.crt").read_bytes())
    ca = x509.load_pem_x509_certificate((issued / "ca.crt").read_bytes())
    verify_for(ca, leaf, "winpod.admission.svc")


def test_a_broken_ca_file_is_a_clear_error(
    issued: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (issued / "ca.crt").write_text("not a certificate\n")
    assert certs_cli(issued, "--renew") == 2
    assert "not a PEM certificate" in capsys.readouterr().err


# ---- the self-managed overlay wires the same material --------------------------------------


def test_the_self_managed_overlay_trusts_the_ca_that_signed_its_secret(
    kustomized: dict[str, list[Doc]], certs_dir: Path
) -> None:
    docs = kustomized["self-managed"]
    secret = one(docs, "Secret", "winpod-tls")
    assert secret["type"] == "kubernetes.io/tls"
    leaf = x509.load_pem_x509_certificate(base64.b64decode(secret["data"]["tls.crt"]))
    for doc in find(docs, "MutatingWebhookConfiguration") + find(
        docs, "ValidatingWebhookConfiguration"
    ):
        for hook in doc["webhooks"]:
            bundle = decode_ca_bundle(hook["clientConfig"]["caBundle"])
            assert bundle == (certs_dir / "ca.crt").read_bytes()
            ca = x509.load_pem_x509_certificate(bundle)
            for name in NAMES:
                verify_for(ca, leaf, name)


def test_ca_bundle_is_the_base64_of_the_ca_pem(pair: tuple[KeyPair, KeyPair]) -> None:
    ca, _ = pair
    assert base64.b64decode(ca_bundle(ca.cert)) == ca.cert_pem


def test_patch_webhooks_keeps_a_private_files_permissions(
    issued: Path, kustomized: dict[str, list[Doc]]
) -> None:
    rendered = issued.parent / "bundle.yaml"
    rendered.write_text(yaml.safe_dump_all(kustomized["self-managed"]))
    rendered.chmod(0o600)
    assert certs_cli(issued, "--renew", "--patch-webhooks", str(rendered)) == 0
    assert stat.S_IMODE(rendered.stat().st_mode) == 0o600
