"""Options several commands share, declared once, and what they build: the config, the rule
catalog and the engine, with one wording for each error."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..config import Config
    from ..engine.evaluate import Engine
    from ..engine.rules import Catalog


class OptionError(Exception):
    """An option that cannot be used: the message names it (the caller adds its prefix)."""


def add_config(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE", help="winpod config file (the webhook's)")


def add_policies(parser: argparse.ArgumentParser, verb: str = "use") -> None:
    parser.add_argument(
        "--policies",
        metavar="DIR",
        action="append",
        help=f"rule directory to {verb} instead of the shipped policies/ (repeatable)",
    )


def add_kubernetes_version(
    parser: argparse.ArgumentParser,
    help: str = "target Kubernetes version, e.g. 1.30 (default: the config's, else the latest"
    " known)",
) -> None:
    parser.add_argument("--kubernetes-version", metavar="VERSION", help=help)


def add_engine_options(parser: argparse.ArgumentParser) -> None:
    """--config, --policies and --kubernetes-version: what `engine_from` reads."""
    add_config(parser)
    add_policies(parser)
    add_kubernetes_version(parser)


def catalog_from(args: argparse.Namespace) -> Catalog:
    from ..engine.rules import RuleError, load_catalog

    try:
        return load_catalog([Path(d) for d in args.policies] if args.policies else None)
    except RuleError as exc:
        raise OptionError(str(exc)) from None


def config_from(args: argparse.Namespace) -> Config:
    """The config file with --kubernetes-version applied through it, so everything the engine
    does (mutation too) targets that version."""
    from ..config import ConfigError, load_config
    from ..engine.kubeversion import parse_version

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        raise OptionError(str(exc)) from None
    if getattr(args, "kubernetes_version", None):
        try:
            parse_version(args.kubernetes_version)
        except ValueError as exc:
            raise OptionError(f"--kubernetes-version: {exc}") from None
        config = config.model_copy(update={"kubernetesVersion": args.kubernetes_version})
    return config


def engine_from(args: argparse.Namespace) -> Engine:
    from ..engine.evaluate import Engine

    config = config_from(args)
    catalog = catalog_from(args) if args.policies else None
    try:
        return Engine(catalog=catalog, config=config)
    except ValueError as exc:  # the config names rules the catalog does not have
        raise OptionError(f"{args.config}: {exc}" if args.config else str(exc)) from None
