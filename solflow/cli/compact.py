"""``solflow compact``: merge the small Parquet files of an output directory, one file per partition
and hour (``sinks.parquet_files.compact_outputs``)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from solflow.settings import DEFAULT_OUT


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output directory (default {DEFAULT_OUT})")
    parser.add_argument("--json", action="store_true", help="print the file counts as JSON")


def run(args: argparse.Namespace) -> int:
    from sinks.parquet_files import compact_outputs
    from solflow.cli.main import CliError

    out: Path = args.out
    if not out.is_dir():
        raise CliError(f"outputs directory {out} does not exist")
    try:
        report = compact_outputs(out)
    except BlockingIOError:
        raise CliError(f"a flow is writing to {out}: compact it once the flow has stopped") from None
    if args.json:
        print(json.dumps({"before": report.before, "after": report.after}))
    else:
        for dataset, before in report.before.items():
            print(f"{dataset}: {before} files -> {report.after[dataset]}")
    return 0
