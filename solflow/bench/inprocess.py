"""Measures that run inside the benchmark process over records held in memory.

* ``parse``: ``SubscribeUpdate`` parse of every record, plus reading every field a trade
  extractor needs from each transaction -- the Python ceiling for any decoder;
* ``decode``: the same parse, then ``TransactionDecoder.decode`` (all five programs);
* ``aggregate``: the decoded trades through one ``ShardAggregator``, its clock advanced at
  every block meta as the flow's slot clocks do.

Each makes one pass over the whole capture, timed in consecutive segments (one per run): the
aggregation's cost depends on how much history its windows hold, so only a pass over all of it
shows the cost at steady state, and one pass per measure keeps the benchmark within its time
budget. Capture reading (decompression) is done beforehand and not timed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from protos import geyser_pb2
from solflow.bench import BenchError
from solflow.bench.capture import Records
from solflow.domain.aggregate import AggregationConfig, Emitted, ShardAggregator
from solflow.domain.decode import TransactionDecoder
from solflow.domain.trade import TradeEvent

AGGREGATE_PARTITION = "bench"


@dataclass(frozen=True, slots=True)
class Segment:
    """One timed part of a pass."""

    seconds: float
    transactions: int
    trades: int = 0
    rows: int = 0


@dataclass(frozen=True, slots=True)
class Decoded:
    """What the decode pass found: the trades in order, and each block meta as (trades decoded
    before it, transactions before it, its block time) -- a slot's meta follows its transactions."""

    trades: list[TradeEvent]
    clocks: list[tuple[int, int, int]]


def split(count: int, parts: int) -> list[tuple[int, int]]:
    """``range(count)`` cut into ``parts`` consecutive (start, stop) pieces of near-equal size."""
    bounds = [count * part // parts for part in range(parts + 1)]
    return list(zip(bounds, bounds[1:]))


def parse_pass(records: Records, parts: int) -> list[Segment]:
    """Parse every record and read the fields a trade decoder needs."""
    parse = geyser_pb2.SubscribeUpdate.FromString
    segments = []
    for start, stop in split(len(records.raw), parts):
        touched = 0
        started = time.perf_counter()
        for raw in records.raw[start:stop]:
            update = parse(raw)
            if update.WhichOneof("update_oneof") == "transaction":
                touched += _read_decoder_fields(update.transaction)
        elapsed = time.perf_counter() - started
        transactions = sum(records.is_transaction[start:stop])
        if transactions and not touched:
            raise BenchError("parse benchmark read no transaction fields")
        segments.append(Segment(elapsed, transactions))
    return segments


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
            touched += (
                balance.account_index + len(balance.mint) + len(balance.owner) + len(amount.amount) + amount.decimals
            )
    touched += len(meta.pre_balances) + len(meta.post_balances)
    return touched


def decode_pass(records: Records, parts: int) -> tuple[list[Segment], Decoded]:
    """Parse and decode every transaction (all programs, one decoder for the whole pass)."""
    parse = geyser_pb2.SubscribeUpdate.FromString
    decoder = TransactionDecoder()
    decode = decoder.decode
    trades: list[TradeEvent] = []
    clocks: list[tuple[int, int, int]] = []
    segments = []
    transactions = 0
    for start, stop in split(len(records.raw), parts):
        trades_before = len(trades)
        started = time.perf_counter()
        for raw in records.raw[start:stop]:
            update = parse(raw)
            kind = update.WhichOneof("update_oneof")
            if kind == "transaction":
                tx = update.transaction
                trades += decode(tx.transaction, tx.slot, None)
                transactions += 1
            elif kind == "block_meta":
                clocks.append((len(trades), transactions, update.block_meta.block_time.timestamp))
        elapsed = time.perf_counter() - started
        segments.append(Segment(elapsed, sum(records.is_transaction[start:stop]), len(trades) - trades_before))
    _check_decoded(decoder, records, trades)
    return segments, Decoded(trades, clocks)


def _check_decoded(decoder: TransactionDecoder, records: Records, trades: list[TradeEvent]) -> None:
    if records.transactions and not trades:
        raise BenchError("decode benchmark found no trades in the capture")
    errors = decoder.stats.total("errors")
    if errors:
        raise BenchError(
            f"decoder reported {errors} errors on the simulated capture: {list(decoder.recent_errors)[-3:]}"
        )


def _history_rows(emitted: Emitted) -> int:
    return sum(map(len, emitted.history))


@dataclass(frozen=True, slots=True)
class Drained:
    """The history of the whole pass once the clock ran past the longest window (untimed)."""

    history_rows: int
    mints: int  # window runs: a mint that emptied and traded again counts twice


def aggregate_pass(decoded: Decoded, parts: int) -> tuple[list[Segment], Drained]:
    """Feed every trade, timed by its slot's block meta, to one ``ShardAggregator`` and advance
    its clock at every block meta; the last segment includes ``finish()``. Then, untimed, the clock
    runs past the longest window, so every mint writes its final row."""
    trades, clocks = decoded.trades, decoded.clocks
    done = 0
    for upto, _, block_time in clocks:
        for trade in trades[done:upto]:
            trade.block_time = block_time
        done = upto
    aggregator = ShardAggregator(AggregationConfig(), [AGGREGATE_PARTITION])
    add, advance = aggregator.add_trade, aggregator.advance
    segments = []
    done = transactions_done = 0
    pieces = split(len(clocks), parts)
    for number, (start, stop) in enumerate(pieces):
        rows = 0
        trades_before = done
        started = time.perf_counter()
        for upto, _, block_time in clocks[start:stop]:
            for trade in trades[done:upto]:
                add(trade)
            done = upto
            rows += _history_rows(advance(AGGREGATE_PARTITION, block_time))
        if number == len(pieces) - 1:
            rows += _history_rows(aggregator.finish())
        elapsed = time.perf_counter() - started
        transactions = clocks[stop - 1][1] - transactions_done if stop > start else 0
        transactions_done += transactions
        segments.append(Segment(elapsed, transactions, done - trades_before, rows))
    config = aggregator.config
    end = (clocks[-1][2] if clocks else 0) + config.windows[-1] + 2 * config.tick_s
    drain = _history_rows(advance(AGGREGATE_PARTITION, end))
    return segments, Drained(sum(segment.rows for segment in segments) + drain, aggregator.new_runs)
