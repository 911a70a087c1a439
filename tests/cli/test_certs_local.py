"""`winpod certs --dns-name/--ip` for a webhook run locally or registered by URL (issue 14)."""

from __future__ import annotations

from pathlib import Path

from winpod import certs

from tests.cli.conftest import Run


def _serving(directory: Path) -> certs.KeyPair:
    return certs.load_key_pair(
        (directory / "tls.crt").read_bytes(), (directory / "tls.key").read_bytes(), what="tls"
    )


def test_extra_names_and_addresses_go_into_the_serving_certificate(
    winpod: Run, tmp_path: Path
) -> None:
    result = winpod("certs", "--out-dir", tmp_path, "--dns-name", "localhost", "--ip", "127.0.0.1")
    assert result.code == 0, result.err
    serving = _serving(tmp_path).cert
    assert "localhost" in certs.san_dns_names(serving)
    assert "winpod.winpod.svc" in certs.san_dns_names(serving)  # the Service's names stay
    assert certs.san_ip_addresses(serving) == ["127.0.0.1"]
    assert "localhost, 127.0.0.1, valid until" in result.err


def test_renew_re_signs_when_an_address_is_missing_and_keeps_it_otherwise(
    winpod: Run, tmp_path: Path
) -> None:
    assert winpod("certs", "--out-dir", tmp_path, "--ip", "127.0.0.1").code == 0
    same = winpod("certs", "--out-dir", tmp_path, "--renew", "--ip", "127.0.0.1")
    assert "nothing to renew" in same.err
    more = winpod("certs", "--out-dir", tmp_path, "--renew", "--ip", "::1")
    assert "it lacks the addresses ::1" in more.err
    assert certs.san_ip_addresses(_serving(tmp_path).cert) == ["::1"]


def test_a_bad_address_is_a_usage_error(winpod: Run, tmp_path: Path) -> None:
    result = winpod("certs", "--out-dir", tmp_path, "--ip", "localhost")
    assert result.code == 2 and "--ip 'localhost': not an IP address" in result.err
