"""Measures that run inside the benchmark process over records held in memory.

* ``parse``: ``SubscribeUpdate`` parse of every record, plus reading every field a trade
  extractor needs from each transaction -- the Python ceiling for any decoder;
* ``decode``: the same parse, then ``TransactionDecoder.decode`` (all five programs);
* ``aggregate``: the decoded trades through one ``ShardAggregator``, its clock advanced at
  every block meta as the flow's slot clocks do.

Each returns transactions per second over the whole capture; capture reading (decompression) is
done beforehand and not timed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from bench import BenchError
from bench.capture import Records
from protos import geyser_pb2
from solflow.aggregate import AggregationConfig, ShardAggregator
from solflow.decode import TransactionDecoder
from solflow.trade import TradeEvent

AGGREGATE_PARTITION = "bench"


def parse_once(records: Records) -> float:
    """Seconds to parse every record and read the fields a trade decoder needs."""
    parse = geyser_pb2.SubscribeUpdate.FromString
    started = time.perf_counter()
    touched = 0
    for raw in records.raw:
        update = parse(raw)
        if update.WhichOneof("update_oneof") == "transaction":
            touched += _read_decoder_fields(update.transaction)
    elapsed = time.perf_counter() - started
    if records.transactions and not touched:
        raise BenchError("parse benchmark read no transaction fields")
    return elapsed


def _read_decoder_fields(tx: geyser_pb2.SubscribeUpdateTransaction) -> int:
    """Touch what a decoder reads: keys, instructions, inner instructions, logs, balances."""
    info = tx.transaction
    message = info.transaction.message
    meta = info.meta
    touched = len(info.signature) + tx.slot
    keys = list(message.account_keys)
    keys += meta.loaded_writable_addresses
    keys += meta.loaded_readonly_addresses
    touched += len(keys)
    if meta.HasField("err"):
        return touched
    for ix in message.instructions:
        touched += ix.program_id_index + len(ix.accounts) + len(ix.data)
    for group in meta.inner_instructions:
        touched += group.index
        for ix in group.instructions:
            touched += ix.program_id_index + len(ix.accounts) + len(ix.data) + ix.stack_height
    for line in meta.log_messages:
        touched += len(line)
    for balances in (meta.pre_token_balances, meta.post_token_balances):
        for balance in balances:
            amount = balance.ui_token_amount
            touched += balance.account_index + len(balance.mint) + len(balance.owner) + len(amount.amount) + amount.decimals
    touched += len(meta.pre_balances) + len(meta.post_balances)
    return touched


@dataclass(frozen=True, slots=True)
class Decoded:
    """What one decode run found: the trades in order, and each block meta as (number of trades
    decoded before it, its block time) -- a slot's meta follows its transactions."""

    trades: list[TradeEvent]
    clocks: list[tuple[int, int]]


def decode_once(records: Records) -> tuple[float, Decoded]:
    """Seconds to parse and decode every transaction (all programs), and the result."""
    parse = geyser_pb2.SubscribeUpdate.FromString
    decoder = TransactionDecoder()
    decode = decoder.decode
    trades: list[TradeEvent] = []
    clocks: list[tuple[int, int]] = []
    started = time.perf_counter()
    for raw in records.raw:
        update = parse(raw)
        kind = update.WhichOneof("update_oneof")
        if kind == "transaction":
            tx = update.transaction
            trades += decode(tx.transaction, tx.slot, None)
        elif kind == "block_meta":
            clocks.append((len(trades), update.block_meta.block_time.timestamp))
    elapsed = time.perf_counter() - started
    _check_decoded(decoder, records, trades)
    return elapsed, Decoded(trades, clocks)


def _check_decoded(decoder: TransactionDecoder, records: Records, trades: list[TradeEvent]) -> None:
    stats = decoder.stats
    if records.transactions and not trades:
        raise BenchError("decode benchmark found no trades in the capture")
    errors = stats.total("errors")
    if errors:
        raise BenchError(f"decoder reported {errors} errors on the simulated capture: {list(decoder.recent_errors)[-3:]}")


def aggregate_once(decoded: Decoded) -> tuple[float, int]:
    """Seconds to feed every trade to one ``ShardAggregator`` (trades timed by their slot's block
    meta) and advance its clock; and the rows it emitted."""
    aggregator = ShardAggregator(AggregationConfig(), [AGGREGATE_PARTITION])
    add = aggregator.add_trade
    advance = aggregator.advance
    trades = decoded.trades
    done = 0
    for upto, block_time in decoded.clocks:
        for trade in trades[done:upto]:
            trade.block_time = block_time
        done = upto
    rows = 0
    done = 0
    started = time.perf_counter()
    for upto, block_time in decoded.clocks:
        for trade in trades[done:upto]:
            add(trade)
        done = upto
        rows += len(advance(AGGREGATE_PARTITION, block_time))
    rows += len(aggregator.finish())
    return time.perf_counter() - started, rows
