"""``solflow compact``: merge the small Parquet files of an output directory, one file per partition
and hour (``sinks.parquet_files.compact_outputs``) -- or, with ``--delta ROOT``, the small files of a
cluster's Delta tables (``sinks.delta.compact_tables``)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from solflow.settings import DEFAULT_OUT


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output directory (default {DEFAULT_OUT})")
    parser.add_argument(
        "--delta", metavar="ROOT", help="compact the Delta tables under ROOT instead (s3://BUCKET/PATH)"
    )
    parser.add_argument("--json", action="store_true", help="print the file counts as JSON")


def run(args: argparse.Namespace) -> int:
    from sinks.parquet_files import compact_outputs
    from solflow.cli.main import CliError

    if args.delta is not None:
        return _compact_delta(args.delta, args.json)

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


def _compact_delta(root: str, as_json: bool) -> int:
    from solflow.cli.main import CliError
    from solflow.wire import ServiceError

    try:
        from sinks.delta import compact_tables

        report = compact_tables(root)
    except ImportError:
        raise CliError("--delta needs the scale extras: pip install '.[scale]'") from None
    except ServiceError as exc:
        raise CliError(str(exc)) from None
    if not report:
        raise CliError(f"no SolFlow Delta tables under {root}")
    if as_json:
        print(
            json.dumps({"before": {k: v[0] for k, v in report.items()}, "after": {k: v[1] for k, v in report.items()}})
        )
    else:
        for dataset, (before, after) in report.items():
            print(f"{dataset}: {before} files -> {after}")
    return 0
