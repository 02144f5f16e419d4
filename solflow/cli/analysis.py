"""``solflow top|trace|signals|plot``: offline analysis of a flow's outputs directory.

Each command reads ``--out`` (default: ``SOLFLOW_OUT``, as the flow writes, else ``./out``) through
``solflow.analysis`` and prints a table that fits 80 columns (``--wide``: every column in full), or
with ``--json`` one JSON document on stdout. Every user error -- missing outputs, unknown mint or
window, a bad time or number -- is one line on stderr and exit 2.
"""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Callable
from pathlib import Path

from solflow.analysis import RANKINGS, AnalysisError, plot_mint, recent_signals, top_mints, trace_mint
from solflow.analysis.times import parse_time
from solflow.cli.main import CliError
from solflow.cli.output import add_listing_arguments, add_out_argument, outputs_dir, print_json, print_table

_TIME_HELP = "unix seconds or ISO-8601 (UTC unless an offset is given)"


def add_delta_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--delta",
        metavar="ROOT",
        help="read the Delta tables under ROOT (SOLFLOW_SINKS' delta: root, e.g. s3://BUCKET/PATH) instead of --out",
    )


def outputs_location(args: argparse.Namespace) -> Path | str:
    """``--delta`` or the outputs directory (``--out``)."""
    if args.delta is None:
        return outputs_dir(args)
    if args.out is not None:
        raise CliError("give --out DIR or --delta ROOT, not both")
    return str(args.delta)


def add_top_arguments(parser: argparse.ArgumentParser) -> None:
    add_out_argument(parser)
    add_delta_argument(parser)
    add_listing_arguments(parser)
    parser.add_argument("--window", default="300", metavar="SECONDS", help="window to rank in (default 300)")
    parser.add_argument(
        "--by", default="net_flow", metavar="|".join(RANKINGS), help="ranking metric (default net_flow)"
    )
    parser.add_argument("--limit", default="20", metavar="N", help="mints to show (default 20)")
    parser.add_argument("--at", metavar="TIME", help=f"event time to look at, {_TIME_HELP} (default: the latest tick)")
    parser.add_argument(
        "--watch",
        action="store_true",
        help="live: the dashboard's ranking from OUT/solflow.db, redrawn after every commit until Ctrl-C"
        " (with --json: one JSON document per change)",
    )


def add_trace_arguments(parser: argparse.ArgumentParser) -> None:
    add_out_argument(parser)
    add_delta_argument(parser)
    add_listing_arguments(parser)
    parser.add_argument("mint", metavar="MINT", help="token mint address")
    parser.add_argument(
        "--limit",
        default="50",
        metavar="N",
        help="latest trades and window rows to show, 0 for all (default 50; --json has everything)",
    )


def add_signals_arguments(parser: argparse.ArgumentParser) -> None:
    add_out_argument(parser)
    add_delta_argument(parser)
    add_listing_arguments(parser)
    parser.add_argument(
        "--since",
        metavar="TIME",
        help=f"first event time to show, {_TIME_HELP} (default: an hour before the latest tick)",
    )


def add_plot_arguments(parser: argparse.ArgumentParser) -> None:
    add_out_argument(parser)
    add_delta_argument(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of a sentence")
    parser.add_argument("mint", metavar="MINT", help="token mint address")
    parser.add_argument("-o", "--output", required=True, type=Path, metavar="FILE.png", help="PNG file to write")
    parser.add_argument(
        "--window", default="300", metavar="SECONDS", help="window of the buy/sell panels (default 300)"
    )


def _user_errors(command: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    @functools.wraps(command)
    def run(args: argparse.Namespace) -> int:
        try:
            return command(args)
        except AnalysisError as exc:
            raise CliError(str(exc)) from None

    return run


@_user_errors
def run_top(args: argparse.Namespace) -> int:
    if args.watch:
        return _watch_top(args)
    result = top_mints(
        outputs_location(args),
        window=_whole(args.window, "--window", minimum=1),
        by=args.by,
        limit=_whole(args.limit, "--limit", minimum=1),
        at=None if args.at is None else parse_time(args.at),
    )
    if args.json:
        return print_json(result.as_json())
    from solflow.analysis.render import top_table

    return print_table(top_table(result, args.wide), args.wide)


@_user_errors
def run_trace(args: argparse.Namespace) -> int:
    limit = _whole(args.limit, "--limit", minimum=0)
    result = trace_mint(outputs_location(args), args.mint)
    if args.json:
        return print_json(result.as_json())
    from solflow.analysis.render import trace_view

    return print_table(trace_view(result, limit, args.wide), args.wide)


@_user_errors
def run_signals(args: argparse.Namespace) -> int:
    result = recent_signals(outputs_location(args), since=None if args.since is None else parse_time(args.since))
    if args.json:
        return print_json(result.as_json())
    from solflow.analysis.render import recent_table

    return print_table(recent_table(result, args.wide), args.wide)


@_user_errors
def run_plot(args: argparse.Namespace) -> int:
    result = plot_mint(
        outputs_location(args), args.mint, args.output, window=_whole(args.window, "--window", minimum=1)
    )
    if args.json:
        return print_json(result.as_json())
    print(f"wrote {result.path}: {result.rows} window rows, {result.signals} signal changes of {result.mint}")
    return 0


def _watch_top(args: argparse.Namespace) -> int:
    """``top --watch``: the live view ranks on the current state in SQLite, so by net flow in a
    window the dashboard shows, or by buys or wallets in 5 minutes."""
    from rich.console import Console

    from solflow.dashboard.terminal import watch
    from solflow.dashboard.view import FLOW_WINDOWS, Query
    from solflow.dashboard.watch import PipelineWatcher

    if args.at is not None:
        raise CliError("--at looks at the past; --watch follows the present: use one of them")
    if args.delta is not None:
        raise CliError("--watch follows the live tables in SQLite, not Delta (for Postgres: solflow dashboard --db)")
    window = _whole(args.window, "--window", minimum=1)
    sorts = {("net_flow", w): f"nf_{w}" for w in FLOW_WINDOWS} | {("buys", 300): "buys", ("wallets", 300): "wallets"}
    if (args.by, window) not in sorts:
        windows = ", ".join(str(w) for w in FLOW_WINDOWS)
        raise CliError(f"--watch ranks by net_flow in {windows} s, or by buys or wallets in 300 s")
    query = Query(sort=sorts[args.by, window], limit=_whole(args.limit, "--limit", minimum=1))
    out = outputs_dir(args)
    watcher = PipelineWatcher(out / "solflow.db", out=out)
    ranked_by = f"{args.by.replace('_', ' ')} in {window} s"
    return watch(watcher, query, ranked_by, json_lines=args.json, wide=args.wide, console=Console(), stream=sys.stdout)


def _whole(text: str, option: str, minimum: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise CliError(f"{option} must be a whole number, got {text!r}") from None
    if value < minimum:
        raise CliError(f"{option} must be at least {minimum}, got {value}")
    return value
