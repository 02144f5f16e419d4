"""``solflow decode PATH...``: print the trades in RPC JSON transactions and capture files, one JSON line each.

A path is a capture when it starts with the capture magic, RPC JSON (``json``/``jsonParsed``; a bare
result, ``{"result": ...}`` or an array) otherwise. Capture transactions get their slot's block time
from the block meta that follows them. Each line is a TradeEvent's fields plus ``"kind": "trade"``;
``--all`` adds the non-trade events (``create``, ``create_pool``, ``migrate``, ``dca_open``,
``dca_close``). A file that cannot be read costs one stderr line naming it; the others are still
decoded and the exit status is 1.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from solflow.domain.decode import ProgramEvent, TransactionDecoder, event_dict
from solflow.domain.programs import PROGRAM_NAMES
from solflow.domain.trade import TradeEvent
from sources.capture import MAGIC, CaptureError, iter_updates
from sources.rpc_json import RpcJsonError, load_rpc_file, rpc_to_updates

Event = TradeEvent | ProgramEvent
_REMEMBERED_SLOTS = 4096  # block times kept for transactions that arrive after their slot's block meta


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="RPC JSON files and/or .capture files")
    parser.add_argument(
        "--all", action="store_true", help="also print non-trade events (creates, pools, migrations, DCA)"
    )
    parser.add_argument(
        "--program",
        action="append",
        choices=PROGRAM_NAMES,
        dest="programs",
        help="only this program's events (repeatable; default: all five)",
    )


def run(args: argparse.Namespace) -> int:
    decoder = TransactionDecoder(args.programs or PROGRAM_NAMES)
    out = sys.stdout
    unreadable = 0
    for path in args.paths:
        try:
            for event in _decode_path(decoder, path, args.all):
                _print(event, out)
        except OSError as exc:
            unreadable += 1
            print(f"solflow decode: {path}: cannot read file: {exc.strerror or exc}", file=sys.stderr)
        except (RpcJsonError, CaptureError) as exc:  # their messages start with the path
            unreadable += 1
            print(f"solflow decode: {exc}", file=sys.stderr)
    out.flush()
    errors = decoder.stats.total("errors")
    if errors:
        print(
            f"solflow decode: {errors} malformed transaction part(s) skipped; last: {decoder.recent_errors[-1]}",
            file=sys.stderr,
        )
    return 1 if unreadable else 0


def _print(event: Event, out: TextIO) -> None:
    out.write(json.dumps(event_dict(event), separators=(", ", ": ")))
    out.write("\n")


def _decode_path(decoder: TransactionDecoder, path: Path, with_events: bool) -> Iterator[Event]:
    decode = decoder.decode_events if with_events else decoder.decode
    if _is_capture(path):
        yield from _decode_capture(decode, path)
        return
    for result in load_rpc_file(path):
        updates = rpc_to_updates(result)
        transaction = updates[0].transaction
        block_time = next(
            (
                u.block_meta.block_time.timestamp
                for u in updates[1:]
                if u.HasField("block_meta") and u.block_meta.HasField("block_time")
            ),
            None,
        )
        yield from decode(transaction.transaction, transaction.slot, block_time)


def _is_capture(path: Path) -> bool:
    with open(path, "rb") as file:
        return file.read(len(MAGIC)) == MAGIC


def _decode_capture(decode: Any, path: Path) -> Iterator[Event]:
    """Transactions wait for their slot's block meta (it follows them) to learn the block time."""
    waiting: dict[int, list[Any]] = {}
    block_times: dict[int, int | None] = {}
    for update in iter_updates(path):
        kind = update.WhichOneof("update_oneof")
        if kind == "transaction":
            slot = update.transaction.slot
            if slot in block_times:
                yield from decode(update.transaction.transaction, slot, block_times[slot])
            else:
                waiting.setdefault(slot, []).append(update.transaction.transaction)
        elif kind == "block_meta":
            meta = update.block_meta
            block_time = meta.block_time.timestamp if meta.HasField("block_time") else None
            block_times[meta.slot] = block_time
            if len(block_times) > _REMEMBERED_SLOTS:
                del block_times[next(iter(block_times))]
            for info in waiting.pop(meta.slot, ()):
                yield from decode(info, meta.slot, block_time)
    for slot, infos in sorted(waiting.items()):  # no block meta in the capture: time unknown
        for info in infos:
            yield from decode(info, slot, None)
