"""`winpod` command line: one subcommand per module in app/commands.

Each command module defines `HELP`, `add_arguments(parser)` and `run(args) -> int`, and keeps
its heavy imports inside `run`, so `winpod check` never imports the web framework.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

COMMANDS = ("check", "mutate", "fix", "rules", "explain", "serve", "certs", "audit", "export")

EXIT_OK, EXIT_DENIED, EXIT_USAGE = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="winpod", description="Windows-aware admission control for Kubernetes."
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        module = importlib.import_module(f"{__package__}.commands.{name}")
        command = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(command)
        command.set_defaults(_module=module)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.version:
        from . import __version__

        print(f"winpod {__version__}")
        return EXIT_OK
    if not getattr(args, "_module", None):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return int(args._module.run(args))
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
