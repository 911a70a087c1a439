"""Certificates for the webhook: a private CA and a serving certificate signed by it.

The apiserver verifies the webhook against `caBundle`, so winpod can run its own small CA;
renewal re-signs the serving certificate under the same CA, so the caBundle stays valid and
the server's certificate reload swaps it without downtime.
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True)
class KeyPair:
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def key_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def make_ca(common_name: str = "winpod-ca", days: int = 3650) -> KeyPair:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return KeyPair(key, cert)


def service_dns_names(service: str, namespace: str) -> list[str]:
    """Every name the apiserver may use for a Service-backed webhook."""
    return [
        service,
        f"{service}.{namespace}",
        f"{service}.{namespace}.svc",
        f"{service}.{namespace}.svc.cluster.local",
    ]


def make_serving_cert(
    ca: KeyPair, dns_names: Sequence[str], ip_addresses: Sequence[str] = (), days: int = 365
) -> KeyPair:
    if not dns_names and not ip_addresses:
        raise ValueError("a serving certificate needs at least one DNS name or IP address")
    key = ec.generate_private_key(ec.SECP256R1())
    now = _now()
    sans: list[x509.GeneralName] = [x509.DNSName(n) for n in dns_names]
    sans += [x509.IPAddress(ipaddress.ip_address(a)) for a in ip_addresses]
    common_name = dns_names[0] if dns_names else ip_addresses[0]
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False
        )
        .sign(ca.key, hashes.SHA256())
    )
    return KeyPair(key, cert)


class CertError(ValueError):
    """Certificate material that cannot be used; the message says which and why."""


def load_key_pair(cert_pem: bytes, key_pem: bytes, what: str = "certificate") -> KeyPair:
    """A KeyPair from PEM, checking that the key belongs to the certificate."""
    cert = load_certificate(cert_pem, what)
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError) as exc:
        raise CertError(f"{what}: not an unencrypted PEM private key ({exc})") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise CertError(f"{what}: the key is {type(key).__name__}, winpod uses EC P-256 keys")
    if key.public_key() != cert.public_key():
        raise CertError(f"{what}: the private key does not match the certificate")
    return KeyPair(key, cert)


def load_certificate(cert_pem: bytes, what: str = "certificate") -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(cert_pem)
    except ValueError as exc:
        raise CertError(f"{what}: not a PEM certificate ({exc})") from exc


def ca_bundle(ca_cert: x509.Certificate) -> str:
    """The base64 of the CA's PEM: the form webhook configurations' clientConfig.caBundle take."""
    return base64.b64encode(ca_cert.public_bytes(serialization.Encoding.PEM)).decode("ascii")


def san_dns_names(cert: x509.Certificate) -> list[str]:
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return []
    return list(ext.value.get_values_for_type(x509.DNSName))


def san_ip_addresses(cert: x509.Certificate) -> list[str]:
    try:
        extension = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return []
    return [str(a) for a in extension.value.get_values_for_type(x509.IPAddress)]


def expires_within(cert: x509.Certificate, days: float, now: dt.datetime | None = None) -> bool:
    """True when the certificate expires in less than `days` (or has expired)."""
    moment = now or _now()
    return cert.not_valid_after_utc - moment < dt.timedelta(days=days)


def is_signed_by(cert: x509.Certificate, ca_cert: x509.Certificate) -> bool:
    """Whether `ca_cert` issued `cert` (issuer name and signature both match)."""
    if cert.issuer != ca_cert.subject:
        return False
    try:
        cert.verify_directly_issued_by(ca_cert)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def serving_cert_problem(
    serving: x509.Certificate,
    ca_cert: x509.Certificate,
    dns_names: Sequence[str],
    renew_within_days: float,
    now: dt.datetime | None = None,
    ip_addresses: Sequence[str] = (),
) -> str | None:
    """Why `serving` must be re-issued, or None while it is still good."""
    if not is_signed_by(serving, ca_cert):
        return "it is not signed by this CA"
    missing = sorted(set(dns_names) - set(san_dns_names(serving)))
    if missing:
        return f"it lacks the names {', '.join(missing)}"
    have = set(san_ip_addresses(serving))
    missing_ips = sorted({str(ipaddress.ip_address(a)) for a in ip_addresses} - have)
    if missing_ips:
        return f"it lacks the addresses {', '.join(missing_ips)}"
    if expires_within(serving, renew_within_days, now):
        return (
            f"it expires {serving.not_valid_after_utc:%Y-%m-%d %H:%M} UTC, "
            f"within {renew_within_days:g} days"
        )
    return None
