"""`winpod certs`: a private CA and the webhook's serving certificate, without cert-manager.

Writes PEM files (keys 0600) and optionally a kubernetes.io/tls Secret manifest, prints the
caBundle, and patches it into rendered webhook configurations. `--renew` re-signs the serving
certificate with the CA already in --out-dir, so the caBundle in the cluster stays valid and the
server picks the new files up without a restart.
"""

from __future__ import annotations

import argparse
import os
import stat
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cryptography import x509

    from ..certs import KeyPair

HELP = "create or renew the webhook's CA and serving certificate"

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

WEBHOOK_KINDS = ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration")

# File names match a kubernetes.io/tls Secret's keys, so the directory can feed a secretGenerator.
CA_CERT, CA_KEY, TLS_CERT, TLS_KEY = "ca.crt", "ca.key", "tls.crt", "tls.key"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--service", default="winpod", help="the webhook's Service name")
    parser.add_argument("--namespace", default="winpod", help="the Service's namespace")
    parser.add_argument(
        "--dns-name",
        action="append",
        default=[],
        metavar="NAME",
        help="an extra DNS name for the serving certificate, e.g. localhost (repeatable)",
    )
    parser.add_argument(
        "--ip",
        action="append",
        default=[],
        metavar="ADDRESS",
        help="an IP address for the serving certificate, e.g. 127.0.0.1 (repeatable): for a"
        " webhook registered by URL, or run locally",
    )
    parser.add_argument(
        "--out-dir",
        required=True,
        type=Path,
        help="directory for ca.crt, ca.key, tls.crt, tls.key (created if missing)",
    )
    parser.add_argument(
        "--secret-manifest",
        type=Path,
        metavar="FILE",
        help="also write a kubernetes.io/tls Secret (tls.crt, tls.key, ca.crt) to FILE (0600)",
    )
    parser.add_argument(
        "--secret-name", default=None, help="the Secret's name (default: SERVICE-tls)"
    )
    parser.add_argument(
        "--ca-bundle",
        action="store_true",
        help="print the base64 caBundle on stdout (everything else goes to stderr)",
    )
    parser.add_argument(
        "--patch-webhooks",
        nargs="+",
        type=Path,
        default=[],
        metavar="FILE",
        help="set clientConfig.caBundle in the Mutating/ValidatingWebhookConfigurations in "
        "these YAML files whose service is SERVICE in NAMESPACE (files are rewritten)",
    )
    parser.add_argument(
        "--days", type=int, default=365, help="validity of a new serving certificate (days)"
    )
    parser.add_argument("--ca-days", type=int, default=3650, help="validity of a new CA (days)")
    parser.add_argument(
        "--renew",
        action="store_true",
        help="keep the CA in --out-dir; re-sign the serving certificate only when it expires "
        "within --renew-within days, lacks a name, or was not signed by that CA",
    )
    parser.add_argument(
        "--renew-within",
        type=float,
        default=30.0,
        metavar="DAYS",
        help="with --renew: re-sign when the serving certificate expires within DAYS (30)",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="replace a CA already in --out-dir (the cluster's caBundle must then be updated)",
    )


def run(args: argparse.Namespace) -> int:
    from ..certs import CertError

    try:
        return _run(args)
    except CertError as exc:
        print(f"winpod certs: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"winpod certs: {where}{exc.strerror or exc}", file=sys.stderr)
        return EXIT_USAGE


def _run(args: argparse.Namespace) -> int:
    from .. import certs

    if args.days < 1 or args.ca_days < 1:
        return _usage("--days and --ca-days must be at least 1")
    if args.renew and args.force:
        return _usage("--renew keeps the CA and --force replaces it: choose one")
    out: Path = args.out_dir
    import ipaddress

    names = certs.service_dns_names(args.service, args.namespace) + [
        n for n in args.dns_name if n not in certs.service_dns_names(args.service, args.namespace)
    ]
    for address in args.ip:
        try:
            ipaddress.ip_address(address)
        except ValueError:
            return _usage(f"--ip {address!r}: not an IP address")
    ips = list(dict.fromkeys(args.ip))
    paths = {name: out / name for name in (CA_CERT, CA_KEY, TLS_CERT, TLS_KEY)}
    have_ca = paths[CA_CERT].exists() or paths[CA_KEY].exists()

    if args.renew:
        if not have_ca:
            return _usage(f"{out}: no CA to renew with (run once without --renew)")
        ca = certs.load_key_pair(
            paths[CA_CERT].read_bytes(), paths[CA_KEY].read_bytes(), what=str(paths[CA_CERT])
        )
        if certs.expires_within(ca.cert, args.renew_within):
            raise certs.CertError(
                f"{paths[CA_CERT]}: the CA expires {ca.cert.not_valid_after_utc:%Y-%m-%d} UTC; "
                "make a new one (--force) and roll out its caBundle"
            )
        reason = _renewal_reason(paths, ca, names, ips, args.renew_within)
        if reason is None:
            serving_cert = certs.load_certificate(paths[TLS_CERT].read_bytes())
            _say(
                f"{paths[TLS_CERT]}: valid until {serving_cert.not_valid_after_utc:%Y-%m-%d} "
                "UTC, nothing to renew"
            )
        else:
            _say(f"{paths[TLS_CERT]}: re-signing with the existing CA: {reason}")
            days = min(args.days, _days_left(ca.cert))
            _write_serving(certs.make_serving_cert(ca, names, ips, days=days), paths)
    else:
        if have_ca and not args.force:
            return _usage(
                f"{out} already holds a CA: --renew re-signs the serving certificate with it, "
                "--force replaces it (and the caBundle)"
            )
        out.mkdir(parents=True, exist_ok=True)
        ca = certs.make_ca(days=args.ca_days)
        _write(paths[CA_CERT], ca.cert_pem, private=False)
        _write(paths[CA_KEY], ca.key_pem, private=True)
        _write_serving(certs.make_serving_cert(ca, names, ips, days=args.days), paths)
        _say(
            f"{paths[CA_CERT]}: new CA {_cn(ca.cert)}, valid until "
            f"{ca.cert.not_valid_after_utc:%Y-%m-%d} UTC ({paths[CA_KEY]} is its key: keep it "
            "for renewals)"
        )

    serving = certs.load_key_pair(
        paths[TLS_CERT].read_bytes(), paths[TLS_KEY].read_bytes(), what=str(paths[TLS_CERT])
    )
    _say(
        f"{paths[TLS_CERT]}: serving certificate for"
        f" {', '.join([*certs.san_dns_names(serving.cert), *certs.san_ip_addresses(serving.cert)])}"
        f", valid until {serving.cert.not_valid_after_utc:%Y-%m-%d} UTC"
    )
    bundle = certs.ca_bundle(ca.cert)

    if args.secret_manifest is not None:
        name = args.secret_name or f"{args.service}-tls"
        manifest = secret_manifest(
            name, args.namespace, serving.cert_pem, serving.key_pem, ca.cert_pem
        )
        _write(args.secret_manifest, _dump([manifest]), private=True)
        _say(f"{args.secret_manifest}: Secret {args.namespace}/{name} (kubernetes.io/tls)")

    failed = False
    for file in args.patch_webhooks:
        count = patch_webhook_files(file, bundle, args.service, args.namespace)
        if count:
            _say(f"{file}: caBundle set on {count} webhook(s)")
        else:
            failed = True
            _say(
                f"{file}: no webhook here calls service {args.namespace}/{args.service}; "
                "nothing patched"
            )

    if args.ca_bundle:
        print(bundle)
    return EXIT_FAILED if failed else EXIT_OK


def _renewal_reason(
    paths: dict[str, Path], ca: KeyPair, names: list[str], ips: list[str], within: float
) -> str | None:
    from .. import certs

    if not paths[TLS_CERT].exists() or not paths[TLS_KEY].exists():
        return "there is no serving certificate and key yet"
    try:
        current = certs.load_key_pair(
            paths[TLS_CERT].read_bytes(), paths[TLS_KEY].read_bytes(), what=str(paths[TLS_CERT])
        )
    except certs.CertError as exc:
        return str(exc)
    return certs.serving_cert_problem(current.cert, ca.cert, names, within, ip_addresses=ips)


def _days_left(cert: x509.Certificate) -> int:
    import datetime as dt

    return max(1, (cert.not_valid_after_utc - dt.datetime.now(dt.UTC)).days)


def _cn(cert: x509.Certificate) -> str:
    from cryptography.x509.oid import NameOID

    values = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(values[0].value) if values else cert.subject.rfc4514_string()


def _write_serving(pair: KeyPair, paths: dict[str, Path]) -> None:
    # Key first, then certificate: a reader that sees the new certificate also finds its key.
    _write(paths[TLS_KEY], pair.key_pem, private=True)
    _write(paths[TLS_CERT], pair.cert_pem, private=False)


def secret_manifest(
    name: str, namespace: str, cert_pem: bytes, key_pem: bytes, ca_pem: bytes
) -> dict[str, Any]:
    import base64

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode("ascii")

    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"app.kubernetes.io/name": "winpod", "app.kubernetes.io/part-of": "winpod"},
        },
        "type": "kubernetes.io/tls",
        "data": {"tls.crt": b64(cert_pem), "tls.key": b64(key_pem), "ca.crt": b64(ca_pem)},
    }


def patch_webhook_documents(documents: list[Any], bundle: str, service: str, namespace: str) -> int:
    """Set caBundle on every webhook (in place) that calls service/namespace; returns how many."""
    count = 0
    for doc in documents:
        if not isinstance(doc, dict):
            continue
        if doc.get("kind") == "List" and isinstance(doc.get("items"), list):
            count += patch_webhook_documents(doc["items"], bundle, service, namespace)
            continue
        if doc.get("kind") not in WEBHOOK_KINDS:
            continue
        for hook in doc.get("webhooks") or []:
            client = hook.get("clientConfig") if isinstance(hook, dict) else None
            if not isinstance(client, dict):
                continue
            target = client.get("service")
            if (
                isinstance(target, dict)
                and target.get("name") == service
                and target.get("namespace") == namespace
            ):
                client["caBundle"] = bundle
                count += 1
    return count


def patch_webhook_files(path: Path, bundle: str, service: str, namespace: str) -> int:
    import yaml

    from ..certs import CertError

    try:
        documents = list(
            yaml.load_all(
                path.read_text(encoding="utf-8"),
                Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader),
            )
        )
    except yaml.YAMLError as exc:
        raise CertError(f"{path}: not valid YAML: {exc}") from exc
    count = patch_webhook_documents(documents, bundle, service, namespace)
    if count:
        # Keep the file's own permissions: a rendered bundle may hold Secrets too.
        keep = stat.S_IMODE(path.stat().st_mode)
        _write(path, _dump([d for d in documents if d is not None]), private=False, mode=keep)
    return count


def _dump(documents: list[Any]) -> bytes:
    import yaml

    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    text = yaml.dump_all(documents, Dumper=dumper, sort_keys=False, default_flow_style=False)
    return text.encode("utf-8")


def _write(path: Path, data: bytes, *, private: bool, mode: int | None = None) -> None:
    """Write atomically; private files are 0600 from the first byte, never briefly readable."""
    if mode is None:
        mode = 0o600 if private else 0o644
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)


def _say(message: str) -> None:
    print(message, file=sys.stderr)


def _usage(message: str) -> int:
    print(f"winpod certs: {message}", file=sys.stderr)
    return EXIT_USAGE
