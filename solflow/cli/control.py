"""``solflow block|unblock|blocklist|follow|unfollow|followed``: the user's control store ``<out>/control.db``.

A block hides a mint from the live views (and, once the flow reads the store, from its aggregates,
signals and scores); ``--for`` counts chain time from the pipeline's latest event (see
``solflow.control``). Followed mints are pinned first in the live views. A mint that is not a base58
address, a bad duration, or unblocking a mint that is not blocked: one line on stderr, exit 2.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from solflow.cli.main import CliError
from solflow.cli.output import add_listing_arguments, add_out_argument, outputs_dir, print_json, print_table
from solflow.control import (
    CONTROL_DB,
    Block,
    Clock,
    ControlError,
    ControlStore,
    check_mint,
    parse_duration,
    pipeline_clock,
)

_PIPELINE_DB = "solflow.db"


def add_block_arguments(parser: argparse.ArgumentParser) -> None:
    add_out_argument(parser)
    parser.add_argument("mint", metavar="MINT", help="token mint address")
    parser.add_argument(
        "--for",
        dest="duration",
        metavar="DURATION",
        help="how long, in chain time: 30m, 24h, 7d, 1h30m (default: until unblocked)",
    )
    parser.add_argument("--reason", help="why (shown in solflow blocklist and the dashboard)")


def add_unblock_arguments(parser: argparse.ArgumentParser) -> None:
    add_out_argument(parser)
    parser.add_argument("mint", metavar="MINT", help="token mint address")


def add_blocklist_arguments(parser: argparse.ArgumentParser) -> None:
    add_out_argument(parser)
    add_listing_arguments(parser)


add_follow_arguments = add_unblock_arguments
add_unfollow_arguments = add_unblock_arguments
add_followed_arguments = add_blocklist_arguments


def run_block(args: argparse.Namespace) -> int:
    with _store(args) as store:
        duration = None if args.duration is None else _checked(parse_duration, args.duration)
        clock = _clock(args)
        block = _checked(lambda: store.block(args.mint, at=clock, duration_s=duration, reason=args.reason))
    until = "until unblocked" if block.expires_at is None else f"until {_utc(block.expires_at)} (chain time)"
    print(f"blocked {block.mint} {until}" + (f": {block.reason}" if block.reason else ""))
    _note_wall_clock(clock)
    return 0


def run_unblock(args: argparse.Namespace) -> int:
    mint = _checked(check_mint, args.mint)
    with _store(args) as store:
        lifted = store.unblock(mint)
    if lifted is None:
        raise CliError(f"{mint} is not blocked (solflow blocklist lists the blocks)")
    print(f"unblocked {mint}")
    return 0


def run_blocklist(args: argparse.Namespace) -> int:
    with _store(args) as store:
        blocks = list(store.blocklist().blocks.values())
    clock = _clock(args)
    if args.json:
        return print_json({
            "chain_time": clock.time if clock.source == "chain" else None,
            "blocks": [b.as_json() | {"active": b.active_at(clock.time)} for b in blocks],
        })  # fmt: skip
    if not blocks:
        print("no mint is blocked")
        return 0
    from rich.table import Table

    from solflow.analysis.render import short

    table = Table(title=f"Blocked mints at {_utc(clock.time)} ({clock.source} time)")
    for header in ("mint", "state", "until", "reason"):
        table.add_column(header, no_wrap=header == "mint")
    for block in blocks:
        table.add_row(
            short(block.mint, args.wide),
            _state(block, clock.time),
            "unblocked" if block.expires_at is None else _utc(block.expires_at),
            block.reason or "–",
        )
    return print_table(table, args.wide)


def run_follow(args: argparse.Namespace) -> int:
    with _store(args) as store:
        clock = _clock(args)
        follow = _checked(lambda: store.follow(args.mint, at=clock))
    print(f"following {follow.mint} (pinned first in the dashboard and solflow top --watch)")
    return 0


def run_unfollow(args: argparse.Namespace) -> int:
    mint = _checked(check_mint, args.mint)
    with _store(args) as store:
        dropped = store.unfollow(mint)
    if dropped is None:
        raise CliError(f"{mint} is not followed (solflow followed lists them)")
    print(f"no longer following {mint}")
    return 0


def run_followed(args: argparse.Namespace) -> int:
    with _store(args) as store:
        follows = list(store.follows().values())
    if args.json:
        return print_json({"followed": [f.as_json() for f in follows]})
    if not follows:
        print("no mint is followed")
        return 0
    from rich.table import Table

    from solflow.analysis.render import short

    table = Table(title="Followed mints")
    for header in ("mint", "since", "by"):
        table.add_column(header, no_wrap=True)
    for follow in follows:
        table.add_row(short(follow.mint, args.wide), f"{_utc(follow.created_at)} ({follow.clock})", follow.followed_by)
    return print_table(table, args.wide)


def _store(args: argparse.Namespace) -> ControlStore:
    return _checked(ControlStore, outputs_dir(args) / CONTROL_DB)


def _clock(args: argparse.Namespace) -> Clock:
    return _checked(pipeline_clock, outputs_dir(args) / _PIPELINE_DB)


def _checked(function: Any, *arguments: Any) -> Any:
    """``function(*arguments)`` with a ``ControlError`` turned into the CLI's one-line error."""
    try:
        return function(*arguments)
    except ControlError as exc:
        raise CliError(str(exc)) from None


def _note_wall_clock(clock: Clock) -> None:
    if clock.source == "wall":
        print(
            f"note: no event in the pipeline database yet, so the block starts at the wall clock ({_utc(clock.time)})",
            file=sys.stderr,
        )


def _state(block: Block, now: int) -> str:
    return "active" if block.active_at(now) else "expired"


def _utc(time: int) -> str:
    from solflow.analysis.outputs import format_utc

    return format_utc(time) + " UTC"
