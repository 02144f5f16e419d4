"""How every ``solflow`` command prints: tables for people, JSON for programs, one exit-status table.

* ``--out DIR`` names the flow's outputs directory, defaulting to ``SOLFLOW_OUT`` (else ``./out``),
  the directory the flow writes, so a command and the flow agree without repeating it.
* Tables fit 80 columns: addresses are shortened, secondary columns dropped; ``--wide`` shows every
  column in full (for a wide terminal or a pipe). ``--json`` prints one JSON document instead.
* Colour follows rich's rules: none when stdout is not a terminal or ``NO_COLOR`` is set.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

__all__ = [
    "EXIT_STATUSES",
    "TABLE_COLUMNS",
    "add_listing_arguments",
    "add_out_argument",
    "outputs_dir",
    "print_json",
    "print_table",
]

TABLE_COLUMNS = 80
_WIDE_COLUMNS = 1_000  # --wide: each line as long as its content

EXIT_STATUSES = """exit status:
  0    success
  1    finished, but some inputs could not be read (each named on stderr)
  2    bad usage, bad setting or unusable input (one line on stderr)
  130  interrupted (Ctrl-C)"""


def add_out_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out", type=Path, metavar="DIR", help="the flow's outputs directory (default: SOLFLOW_OUT, else ./out)"
    )


def add_listing_arguments(parser: argparse.ArgumentParser) -> None:
    """``--json`` and ``--wide``, for a command that prints a table."""
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of a table")
    parser.add_argument("--wide", action="store_true", help="every column, addresses in full (wider than 80 columns)")


def outputs_dir(args: argparse.Namespace) -> Path:
    """``--out``, else the settings' ``SOLFLOW_OUT`` (a bad setting is a ``SettingsError``)."""
    if args.out is not None:
        return Path(args.out)
    from solflow.settings import Settings

    return Settings.from_env().out_dir


def print_json(document: Any) -> int:
    json.dump(document, sys.stdout, separators=(",", ":"), allow_nan=False)
    sys.stdout.write("\n")
    return 0


def print_table(renderable: Any, wide: bool) -> int:
    from rich.console import Console

    class TableConsole(Console):
        def on_broken_pipe(self) -> None:
            # rich would exit 1; a reader that stopped early (`| head`) is no failure (solflow.cli.main)
            raise BrokenPipeError

    console = TableConsole(width=_WIDE_COLUMNS) if wide else TableConsole()
    if not wide and not console.is_terminal:
        console = TableConsole(width=TABLE_COLUMNS)
    console.print(renderable)
    return 0
