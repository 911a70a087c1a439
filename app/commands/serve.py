"""`winpod serve`: the validating and mutating admission webhook over HTTPS."""

from __future__ import annotations

import argparse
import socket
import sys
from pathlib import Path

HELP = "run the admission webhook (HTTPS): POST /validate and /mutate"

EXIT_OK, EXIT_USAGE = 0, 2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, metavar="PATH", help="winpod config file (YAML)")
    parser.add_argument(
        "--cert-file", type=Path, required=True, metavar="PATH", help="serving certificate (PEM)"
    )
    parser.add_argument(
        "--key-file", type=Path, required=True, metavar="PATH", help="its private key (PEM)"
    )
    parser.add_argument("--host", default="0.0.0.0", help="address to listen on (default 0.0.0.0)")
    parser.add_argument(
        "--port", type=int, default=8443, help="port (default 8443; 0 picks a free one)"
    )
    parser.add_argument(
        "--policies",
        type=Path,
        action="append",
        metavar="DIR",
        help="rule directory, instead of the built-in policies/ (repeatable)",
    )
    parser.add_argument(
        "--watch-cluster",
        action="store_true",
        help="read RuntimeClasses, namespace labels and the cluster version from the API",
    )
    parser.add_argument(
        "--cert-poll-seconds",
        type=float,
        default=1.0,
        metavar="SECONDS",
        help="how often to look for a changed certificate (default 1)",
    )
    parser.add_argument(
        "--shutdown-delay-seconds",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="on SIGTERM keep answering this long, with /readyz failing, before shutting down,"
        " so the endpoint is gone before the port closes (default 0; 5 suits most clusters)",
    )


def run(args: argparse.Namespace) -> int:
    from ..clusterview import ClusterView, StaticClusterView
    from ..config import ConfigError, load_config
    from ..engine.evaluate import Engine
    from ..engine.rules import RuleError, load_catalog
    from ..webhook import create_app
    from ..webhook.logs import JsonLog
    from ..webhook.server import run_webhook
    from ..webhook.tlsreload import CertError, CertReloader

    try:
        config = load_config(args.config)
        catalog = load_catalog(args.policies) if args.policies else load_catalog()
        engine = Engine(catalog, config)
        tls = CertReloader(args.cert_file, args.key_file, interval=args.cert_poll_seconds)
    except (ConfigError, RuleError, CertError, ValueError) as exc:
        print(f"winpod serve: {exc}", file=sys.stderr)
        return EXIT_USAGE

    try:
        sock = _listen(args.host, args.port)
    except OSError as exc:
        print(f"winpod serve: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return EXIT_USAGE

    view: ClusterView = StaticClusterView(config)
    if args.watch_cluster:
        try:
            from ..cluster import start_cluster_view
        except ImportError:
            print(
                "winpod serve: --watch-cluster needs the cluster view (app/cluster),"
                " which this build does not have",
                file=sys.stderr,
            )
            return EXIT_USAGE
        try:
            view = start_cluster_view(config)
        except Exception as exc:  # a broken kubeconfig or service account: say which, exit 2
            print(f"winpod serve: --watch-cluster: {exc}", file=sys.stderr)
            return EXIT_USAGE

    log = JsonLog(config.webhook.logLevel)
    app = create_app(engine, config, view, tls=tls, log=log)
    host, port = sock.getsockname()[:2]
    log.emit("info", "listening", {"url": f"https://{_url_host(host)}:{port}", "port": port})
    try:
        run_webhook(app, config, tls, sock, log, args.shutdown_delay_seconds)
    finally:
        stop = getattr(view, "stop", None)
        if callable(stop):
            stop()
    return EXIT_OK


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
