"""``solflow`` entry point.

Each subcommand lives in its own module exposing ``add_arguments(parser)`` and ``run(args) -> int``;
modules are imported only when their command runs. A user error (``CliError``, ``SettingsError``,
``OSError``) prints one line on stderr and exits 2 -- never a traceback. A reader that stops early
(``| head``) ends a command quietly, with status 0. The exit statuses
(``solflow.cli.output.EXIT_STATUSES``) close every ``--help``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from solflow import version
from solflow.cli.output import EXIT_STATUSES

# command -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "capture": ("solflow.cli.capture", "import, inspect and record capture files"),
    "serve": ("solflow.cli.serve", "serve a capture as a Yellowstone gRPC endpoint"),
    "simulate": ("solflow.cli.simulate", "write a simulated market capture"),
    "decode": ("solflow.cli.decode", "print the trades and lifecycle records of RPC JSON transactions or captures"),
    "top": ("solflow.cli.analysis", "leading mints from the Parquet outputs (--watch: live, from solflow.db)"),
    "trace": ("solflow.cli.analysis", "one mint's trades, windows and signals"),
    "signals": ("solflow.cli.analysis", "recent signals"),
    "plot": ("solflow.cli.analysis", "PNG of one mint's flows and signals"),
    "dashboard": ("solflow.cli.dashboard", "live web page of the flow (pushed on every commit)"),
    "block": ("solflow.cli.control", "block a mint: hidden from the live views (control.db)"),
    "unblock": ("solflow.cli.control", "lift a block"),
    "blocklist": ("solflow.cli.control", "the blocked mints"),
    "follow": ("solflow.cli.control", "follow a mint: pinned first in the live views"),
    "unfollow": ("solflow.cli.control", "stop following a mint"),
    "followed": ("solflow.cli.control", "the followed mints"),
    "compact": ("solflow.cli.compact", "merge small Parquet files, one per partition and hour"),
    "bench": ("solflow.bench.__main__", "measure throughput ratios"),
}


class CliError(Exception):
    """A user-facing error: printed as one line, exit code 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="solflow",
        description="SolFlow: Solana DEX trade pipeline tools",
        epilog=EXIT_STATUSES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"solflow {version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    wanted = sys.argv[1] if len(sys.argv) > 1 else None
    for name, (module, help_text) in COMMANDS.items():
        cmd = sub.add_parser(
            name,
            help=help_text,
            description=help_text,
            epilog=EXIT_STATUSES,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        if name == wanted:
            mod = importlib.import_module(module)
            add = getattr(mod, f"add_{name}_arguments", None) or mod.add_arguments
            add(cmd)
            cmd.set_defaults(_run=getattr(mod, f"run_{name}", None) or mod.run)
    return parser


def _configure_logging() -> None:
    """Logging as the settings say; with a bad setting, Python's default until a command that reads
    the settings reports it (a command that needs none still runs)."""
    from solflow.logs import configure_logging
    from solflow.settings import Settings, SettingsError

    try:
        configure_logging(Settings.from_env())
    except SettingsError:
        pass


def _user_errors() -> tuple[type[BaseException], ...]:
    from solflow.settings import SettingsError
    from sources.capture import CaptureError
    from sources.rpc_json import RpcJsonError

    return (CliError, SettingsError, CaptureError, RpcJsonError, OSError)


def main(argv: list[str] | None = None) -> int:
    if argv is not None:
        sys.argv = ["solflow", *argv]
    parser = build_parser()
    args = parser.parse_args(sys.argv[1:])
    _configure_logging()
    try:
        return int(args._run(args) or 0)
    except BrokenPipeError:
        # The reader has all it wanted; point stdout elsewhere so the final flush cannot fail too.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except _user_errors() as exc:
        print(f"solflow {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    # Run through the package module so subcommands and this entry point share one CliError class.
    from solflow.cli.main import main as package_main

    sys.exit(package_main())
