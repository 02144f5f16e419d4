"""``solflow simulate``: write a simulated market (``solflow.simulator``) as a capture file.

The same arguments always give a byte-identical file: the capture header's ``created_at`` is the
simulated start time, not the wall clock.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path

from solflow.cli.main import CliError
from solflow.domain.programs import PROGRAM_NAMES
from solflow.simulator import simulate
from solflow.simulator.market import TRANSACTIONS_PER_SLOT
from sources.capture import CaptureWriter

DEFAULT_START_TIME = 1_764_000_000


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--transactions", required=True, type=int, metavar="N", help="transactions to simulate")
    parser.add_argument("--seed", required=True, type=int, metavar="S", help="random seed (same seed, same file)")
    parser.add_argument("-o", "--output", required=True, type=Path, metavar="X.capture", help="capture file to write")
    parser.add_argument(
        "--start-time",
        type=int,
        default=DEFAULT_START_TIME,
        metavar="T",
        help=f"unix time of the first slot (default {DEFAULT_START_TIME})",
    )
    parser.add_argument(
        "--per-slot",
        type=float,
        default=TRANSACTIONS_PER_SLOT,
        metavar="R",
        help=f"average transactions per 400 ms slot (default {TRANSACTIONS_PER_SLOT:g})",
    )
    parser.add_argument(
        "--programs", default=",".join(PROGRAM_NAMES), help="comma-separated programs to simulate (default: all five)"
    )
    parser.add_argument("--compression", choices=("zstd", "gzip", "none"), default="zstd")


def run(args: argparse.Namespace) -> int:
    if args.transactions < 1:
        raise CliError(f"--transactions must be at least 1, got {args.transactions}")
    if not args.per_slot > 0:
        raise CliError(f"--per-slot must be a positive number, got {args.per_slot}")
    if args.start_time < 0:
        raise CliError(f"--start-time must be a unix time (seconds), got {args.start_time}")
    programs = tuple(dict.fromkeys(name.strip() for name in args.programs.split(",") if name.strip()))
    unknown = [name for name in programs if name not in PROGRAM_NAMES]
    if unknown or not programs:
        raise CliError(
            f"--programs: unknown program(s) {', '.join(unknown) or '(none given)'}; "
            f"expected some of {', '.join(PROGRAM_NAMES)}"
        )
    source = f"solflow simulate --transactions {args.transactions} --seed {args.seed} --start-time {args.start_time}"
    if args.per_slot != TRANSACTIONS_PER_SLOT:
        source += f" --per-slot {args.per_slot:g}"
    if programs != PROGRAM_NAMES:
        source += f" --programs {','.join(programs)}"
    started = datetime.fromtimestamp(args.start_time, tz=UTC)
    transactions = trades = slots = 0
    last_time = args.start_time
    with CaptureWriter(
        args.output,
        source=source,
        compression=None if args.compression == "none" else args.compression,
        created_at=started,
    ) as writer:
        for simulated in simulate(
            args.transactions,
            args.seed,
            start_time=args.start_time,
            programs=programs,
            transactions_per_slot=args.per_slot,
        ):
            writer.write(simulated.raw)
            if simulated.kind == "block_meta":
                slots += 1
                last_time = simulated.update.block_meta.block_time.timestamp
            elif simulated.kind != "slot":
                transactions += 1
                trades += len(simulated.expected)
    minutes, seconds = divmod(last_time - args.start_time, 60)
    print(
        f"solflow simulate: {transactions} transactions ({trades} trades) in {slots} slots, "
        f"{minutes}m{seconds:02d}s of chain time from {started.isoformat().replace('+00:00', 'Z')} "
        f"-> {args.output} ({args.output.stat().st_size / 1e6:.1f} MB)"
    )
    return 0
