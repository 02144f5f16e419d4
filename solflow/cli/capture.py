"""``solflow capture``: import RPC JSON into a capture, describe a capture, record a live stream.

``import-rpc`` orders transactions by (slot, index) and writes each slot's block meta once, after
its transactions, as a Yellowstone stream would. ``info`` reads the whole capture once.
``record`` delegates the connection to ``sources.geyser_client.record_stream``.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from protos import geyser_pb2
from solflow.cli.main import CliError
from solflow.cli.output import add_listing_arguments, print_json, print_table
from solflow.domain.programs import PROGRAMS
from sources.capture import CaptureError, CaptureReader, CaptureWriter, iter_updates
from sources.rpc_json import RpcJsonError, load_rpc_file, rpc_to_updates

_COMPRESSION_CHOICES = ("zstd", "gzip", "none")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="capture_command", required=True, metavar="SUBCOMMAND")

    importer = sub.add_parser("import-rpc", help="convert getTransaction JSON files into a capture")
    importer.add_argument("files", nargs="+", type=Path, metavar="FILE", help="RPC JSON files (json or jsonParsed)")
    importer.add_argument("-o", "--output", required=True, type=Path, help="capture file to write")
    importer.add_argument("--compression", choices=_COMPRESSION_CHOICES, default="zstd")

    info = sub.add_parser("info", help="counts, slot range, programs and header of a capture")
    info.add_argument("capture", type=Path)
    add_listing_arguments(info)

    record = sub.add_parser("record", help="record a live Yellowstone stream into a capture")
    record.add_argument("--url", help="Yellowstone endpoint, http(s)://host:port (default: GEYSER_URL)")
    record.add_argument("--x-token", help="access token (default: X_TOKEN)")
    record.add_argument("--seconds", required=True, type=float, help="how long to record (at most)")
    record.add_argument("--from-slot", type=int, metavar="SLOT", help="ask the server to replay from this slot")
    record.add_argument(
        "--until-slot", type=int, metavar="SLOT", help="stop at the first update past this slot (backfill a gap)"
    )
    record.add_argument("-o", "--output", required=True, type=Path, help="capture file to write")
    record.add_argument("--compression", choices=_COMPRESSION_CHOICES, default="zstd")


def run(args: argparse.Namespace) -> int:
    command = {"import-rpc": _import_rpc, "info": _info, "record": _record}[args.capture_command]
    try:
        return command(args)
    except CaptureError as exc:
        raise CliError(str(exc)) from None


def _import_rpc(args: argparse.Namespace) -> int:
    transactions: list[geyser_pb2.SubscribeUpdate] = []
    block_meta: dict[int, geyser_pb2.SubscribeUpdate] = {}
    failed = 0
    for path in args.files:
        try:
            updates = [u for tx in load_rpc_file(path) for u in rpc_to_updates(tx)]
        except RpcJsonError as exc:
            print(f"solflow capture import-rpc: {exc}", file=sys.stderr)
            failed += 1
            continue
        for update in updates:
            if update.HasField("block_meta"):
                block_meta.setdefault(update.block_meta.slot, update)
            else:
                transactions.append(update)
    transactions.sort(key=lambda u: (u.transaction.slot, u.transaction.transaction.index))
    with CaptureWriter(args.output, source="solflow capture import-rpc", compression=_compression(args)) as writer:
        for position, update in enumerate(transactions):
            writer.write(update)
            slot = update.transaction.slot
            slot_ends = position + 1 == len(transactions) or transactions[position + 1].transaction.slot != slot
            if slot_ends and slot in block_meta:
                writer.write(block_meta[slot])
    imported = len(args.files) - failed
    print(
        f"wrote {len(transactions)} transactions and {len(block_meta)} block metas "
        f"from {imported} of {len(args.files)} files to {args.output}"
    )
    return 1 if failed else 0


def _compression(args: argparse.Namespace) -> str | None:
    return None if args.compression == "none" else args.compression


def summarize(path: Path) -> dict[str, Any]:
    """What ``solflow capture info --json`` prints, for one capture."""
    with CaptureReader(path) as reader:
        header = reader.header
    program_of = {program.id_bytes: program.name for program in PROGRAMS}
    update_types: Counter[str] = Counter()
    programs: Counter[str] = Counter()
    slots: set[int] = set()
    transactions = succeeded = 0
    for update in iter_updates(path):
        kind = update.WhichOneof("update_oneof") or "unknown"
        update_types[kind] += 1
        if kind == "transaction":
            transactions += 1
            info = update.transaction.transaction
            succeeded += not info.meta.HasField("err")
            slots.add(update.transaction.slot)
            keys = (
                *info.transaction.message.account_keys,
                *info.meta.loaded_writable_addresses,
                *info.meta.loaded_readonly_addresses,
            )
            programs.update({program_of[k] for k in keys if k in program_of})
        elif kind in ("block_meta", "slot", "transaction_status"):
            slots.add(getattr(update, kind).slot)
    return {
        "path": str(path),
        "header": {
            "version": header.version,
            "created_at": header.created_at,
            "source": header.source,
            "compression": header.compression,
        },
        "updates": sum(update_types.values()),
        "update_types": dict(sorted(update_types.items())),
        "transactions": transactions,
        "transactions_succeeded": succeeded,
        "slots": len(slots),
        "first_slot": min(slots) if slots else None,
        "last_slot": max(slots) if slots else None,
        "programs": {p.name: programs[p.name] for p in PROGRAMS if programs[p.name]},
    }


def _info(args: argparse.Namespace) -> int:
    summary = summarize(args.capture)
    if args.json:
        return print_json(summary)
    from rich import box
    from rich.table import Table

    table = Table(title=f"capture {summary['path']}", show_header=False, title_justify="left", box=box.SIMPLE)
    table.add_column("field", style="bold")
    table.add_column("value", justify="right")
    for key, value in summary["header"].items():
        table.add_row(key, "none" if value is None else str(value))
    table.add_section()
    table.add_row("updates", f"{summary['updates']:,}")
    for kind, count in summary["update_types"].items():
        table.add_row(f"  {kind}", f"{count:,}")
    table.add_row("transactions", f"{summary['transactions']:,}")
    table.add_row("transactions succeeded", f"{summary['transactions_succeeded']:,}")
    table.add_row("slots", f"{summary['slots']:,}")
    table.add_row("slot range", f"{summary['first_slot']} … {summary['last_slot']}" if summary["slots"] else "—")
    table.add_section()
    for name, count in summary["programs"].items():
        table.add_row(f"program {name}", f"{count:,} transactions")
    if not summary["programs"]:
        table.add_row("programs", "no tracked program seen")
    return print_table(table, args.wide)


def _record(args: argparse.Namespace) -> int:
    from solflow.settings import Settings

    settings = Settings.from_env()
    url = args.url or settings.geyser_url
    if not url:
        raise CliError("no endpoint: pass --url or set GEYSER_URL")
    if not args.seconds > 0:
        raise CliError(f"--seconds must be positive, got {args.seconds}")
    try:
        from sources.geyser_client import record_stream
    except ImportError as exc:
        raise CliError(f"recording is unavailable: sources.geyser_client cannot be imported ({exc})") from None
    x_token = args.x_token or settings.x_token
    # The header names the endpoint without credentials that a URL may carry.
    parts = urlsplit(url)
    source = f"solflow capture record {parts.scheme}://{parts.netloc.rpartition('@')[2]}"
    failure = None
    with CaptureWriter(args.output, source=source, compression=_compression(args)) as writer:
        try:
            record_stream(
                url,
                x_token,
                args.seconds,
                writer,
                programs=settings.programs,
                from_slot=args.from_slot,
                until_slot=args.until_slot,
            )
        except KeyboardInterrupt:
            pass  # keep what arrived before Ctrl-C
        except OSError as exc:  # the client's GeyserError: keep what arrived before the failure
            failure = str(exc)
            if not writer.count:
                writer.abort()
    if failure:
        kept = f"kept {writer.count} updates in {args.output}" if writer.count else "nothing recorded"
        raise CliError(f"{failure}; {kept}")
    print(f"recorded {writer.count} updates to {args.output}")
    return 0
