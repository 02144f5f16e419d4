"""``solflow decode PATH...``: print the trades and lifecycle records in RPC JSON transactions and capture
files, one JSON line each, and report what the decoder could not fully read.

A path is a capture when it starts with the capture magic, RPC JSON (``json``/``jsonParsed``; a bare
result, ``{"result": ...}`` or an array) otherwise. Capture transactions get their slot's block time
from the block meta that follows them. ``--kind`` picks what is printed: ``trades`` (a TradeEvent's
fields plus ``"kind": "trade"``), ``lifecycle`` (token_created, curve_completed, migrated,
pool_created, liquidity_deposit / liquidity_withdraw, dca_opened / dca_closed) or ``all``.

stderr gets one line per event no layout knows and per event longer than its newest known layout
(a newer program version: the known prefix was decoded), then a summary with the event-vs-balance
mismatch rate. A file that cannot be read costs one stderr line naming it; the others are still
decoded and the exit status is 1.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TextIO

from solflow.domain.decode import Record, TransactionDecoder, TransactionReport
from solflow.domain.programs import PROGRAM_NAMES
from solflow.domain.trade import TradeEvent
from sources.capture import MAGIC, CaptureError, iter_updates
from sources.rpc_json import RpcJsonError, load_rpc_file, rpc_to_updates

_REMEMBERED_SLOTS = 4096  # block times kept for transactions that arrive after their slot's block meta
KINDS = ("trades", "lifecycle", "all")
Inspect = Callable[[Any, int, "int | None"], TransactionReport]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="RPC JSON files and/or .capture files")
    parser.add_argument(
        "--kind",
        choices=KINDS,
        default="trades",
        help="what to print: trades (default), lifecycle records (creations, completions, migrations, "
        "pools, liquidity, DCA orders) or all",
    )
    parser.add_argument("--all", action="store_const", const="all", dest="kind", help="same as --kind all")
    parser.add_argument(
        "--program",
        action="append",
        choices=PROGRAM_NAMES,
        dest="programs",
        help="only this program's records (repeatable; default: all five)",
    )


class _Tally:
    """What the run found, for the summary line."""

    def __init__(self) -> None:
        self.transactions = 0
        self.trades = 0
        self.lifecycle = 0
        self.unknown_events = 0
        self.trailing = 0
        self.cross_checked = 0
        self.disagreements = 0

    def add(self, report: TransactionReport) -> None:
        self.transactions += 1
        for record in report.records:
            if type(record) is TradeEvent:
                self.trades += 1
            else:
                self.lifecycle += 1
        self.unknown_events += len(report.unknown_events)
        self.trailing += len(report.trailing)
        self.cross_checked += report.cross_checked
        self.disagreements += report.disagreements

    def summary(self) -> str:
        rate = self.disagreements / self.cross_checked if self.cross_checked else 0.0
        return (
            f"solflow decode: {self.transactions} transactions, {self.trades} trades, {self.lifecycle} lifecycle"
            f" records; {self.unknown_events} unknown events, {self.trailing} events with unknown trailing bytes;"
            f" event-vs-balance mismatches {self.disagreements} of {self.cross_checked} cross-checked trades"
            f" ({rate:.2%})"
        )


def run(args: argparse.Namespace) -> int:
    decoder = TransactionDecoder(args.programs or PROGRAM_NAMES)
    wanted = _filter(args.kind)
    out, err = sys.stdout, sys.stderr
    tally = _Tally()
    unreadable = 0
    for path in args.paths:
        try:
            for report in _inspect_path(decoder.inspect, path):
                tally.add(report)
                for record in report.records:
                    if wanted(record):
                        _print(record, out)
                _notices(report, err)
        except BrokenPipeError:  # the reader stopped early (`| head`): the command ends (solflow.cli.main)
            raise
        except OSError as exc:
            unreadable += 1
            print(f"solflow decode: {path}: cannot read file: {exc.strerror or exc}", file=err)
        except (RpcJsonError, CaptureError) as exc:  # their messages start with the path
            unreadable += 1
            print(f"solflow decode: {exc}", file=err)
    out.flush()
    errors = decoder.stats.total("errors")
    if errors:
        print(
            f"solflow decode: {errors} malformed transaction part(s) skipped; last: {decoder.recent_errors[-1]}",
            file=err,
        )
    print(tally.summary(), file=err)
    return 1 if unreadable else 0


def _filter(kind: str) -> Callable[[Record], bool]:
    if kind == "trades":
        return lambda record: type(record) is TradeEvent
    if kind == "lifecycle":
        return lambda record: type(record) is not TradeEvent
    return lambda record: True


def _print(record: Record, out: TextIO) -> None:
    line = {"kind": "trade", **record.to_dict()} if type(record) is TradeEvent else record.to_dict()
    out.write(json.dumps(line, separators=(", ", ": ")))
    out.write("\n")


def _notices(report: TransactionReport, err: TextIO) -> None:
    """One line per event the decoder could not fully read, naming the transaction and the event."""
    if not (report.unknown_events or report.trailing):
        return
    where = report.signature or "transaction"
    for unknown in report.unknown_events:
        print(
            f"solflow decode: {where}: unknown {unknown.program} event {unknown.discriminator}"
            f" ({unknown.size} bytes) at {_position(unknown.outer_ix_index, unknown.inner_ix_index)}",
            file=err,
        )
    for note in report.trailing:
        print(
            f"solflow decode: {where}: {note.program} {note.event} at {_position(note.outer_ix_index, note.inner_ix_index)}"
            f" has {note.trailing} unknown trailing bytes ({note.size} bytes): decoded the known layout",
            file=err,
        )


def _position(outer: int, inner: int | None) -> str:
    return f"instruction {outer}" if inner is None else f"instruction {outer}, inner {inner}"


def _inspect_path(inspect: Inspect, path: Path) -> Iterator[TransactionReport]:
    if _is_capture(path):
        yield from _inspect_capture(inspect, path)
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
        yield inspect(transaction.transaction, transaction.slot, block_time)


def _is_capture(path: Path) -> bool:
    with open(path, "rb") as file:
        return file.read(len(MAGIC)) == MAGIC


def _inspect_capture(inspect: Inspect, path: Path) -> Iterator[TransactionReport]:
    """Transactions wait for their slot's block meta (it follows them) to learn the block time."""
    waiting: dict[int, list[Any]] = {}
    block_times: dict[int, int | None] = {}
    for update in iter_updates(path):
        kind = update.WhichOneof("update_oneof")
        if kind == "transaction":
            slot = update.transaction.slot
            if slot in block_times:
                yield inspect(update.transaction.transaction, slot, block_times[slot])
            else:
                waiting.setdefault(slot, []).append(update.transaction.transaction)
        elif kind == "block_meta":
            meta = update.block_meta
            block_time = meta.block_time.timestamp if meta.HasField("block_time") else None
            block_times[meta.slot] = block_time
            if len(block_times) > _REMEMBERED_SLOTS:
                del block_times[next(iter(block_times))]
            for info in waiting.pop(meta.slot, ()):
                yield inspect(info, meta.slot, block_time)
    for slot, infos in sorted(waiting.items()):  # no block meta in the capture: time unknown
        for info in infos:
            yield inspect(info, slot, None)
