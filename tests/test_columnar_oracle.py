"""The columnar aggregation against the per-mint implementation it replaced (``reference_aggregation``).

Both get the same trades and clocks -- the embedded sample capture, decoded, and simulated hours of
market (with the clock run on until every window has emptied) -- and must agree exactly:

* every history row is the reference's row of that mint and tick, and the history holds exactly the
  ticks with a trade of the mint plus each final (all windows empty) row;
* after every clock, the current state of every mint that changed equals the reference's latest row
  of that mint (so every value of every window, decays included, is checked);
* the signal rows are the same, in the same order of ticks.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import replace
from typing import Any

import pytest
from reference_aggregation import ReferenceAggregator, ReferenceConfig
from test_flow_support import sample_capture

from solflow.bench.capture import load_records
from solflow.bench.inprocess import decode_pass
from solflow.domain.aggregate import AggregationConfig, ShardAggregator
from solflow.domain.signals import SIGNAL_TYPES, SignalConfig
from solflow.domain.trade import TradeEvent
from solflow.domain.windows import PRICE_COLUMN_TYPES
from solflow.simulator import simulate

Feed = Iterable[tuple[list[TradeEvent], int]]  # (trades, then the clock)


def sample_feed() -> list[tuple[list[TradeEvent], int]]:
    decoded = decode_pass(load_records(sample_capture()), 1)[1]
    feed, done = [], 0
    for upto, _, block_time in decoded.clocks:
        trades = [replace(trade, block_time=block_time) for trade in decoded.trades[done:upto]]
        feed.append((trades, block_time))
        done = upto
    return feed


def simulated_feed(transactions: int, seed: int, drain: bool) -> list[tuple[list[TradeEvent], int]]:
    """Slot by slot, the trades then the block time; ``drain``: then a clock past the longest window."""
    feed = []
    clock = 0
    for update in simulate(transactions, seed, transactions_per_slot=1.0):
        if update.expected:
            feed.append((list(update.expected), update.expected[0].block_time))
        if update.update.HasField("block_meta"):
            clock = update.update.block_meta.block_time.timestamp
            feed.append(([], clock))
    if drain:
        feed.append(([], clock + 14_400 + 10))
    return feed


def compare(feed: Feed, windows: tuple[int, ...] = (60, 300, 900, 3600, 7200, 14400), tick: int = 5) -> dict[str, int]:
    signals = SignalConfig()
    reference = ReferenceAggregator(ReferenceConfig(windows, tick, signals), ["p"])
    columnar = ShardAggregator(AggregationConfig(windows, tick, signals), ["p"])
    latest: dict[str, dict[str, Any]] = {}  # the reference's latest row per mint
    rows: dict[tuple[str, int], dict[str, Any]] = {}
    entered: set[tuple[str, int]] = set()
    history: list[dict[str, Any]] = []
    reference_signals: list[dict[str, Any]] = []
    columnar_signals: list[dict[str, Any]] = []
    trades = checked = 0
    steps: list[tuple[list[TradeEvent], int | None]] = [*feed, ([], None)]  # None: end of input
    for batch, clock in steps:
        for trade in batch:
            reference.add_trade(trade)
            columnar.add_trade(trade)
            entered.add((trade.mint, -(-trade.block_time // tick) * tick))
            trades += 1
        emitted = columnar.finish() if clock is None else columnar.advance("p", clock)
        for kind, row in reference.finish() if clock is None else reference.advance("p", clock):
            if kind == "aggregate":
                latest[row["mint"]] = rows[(row["mint"], row["ts"])] = row
            else:
                reference_signals.append(row)
        history += _dicts(emitted.history, windows)
        columnar_signals += emitted.signals
        for row in _dicts(emitted.finals, windows):
            assert row == rows[(row["mint"], row["ts"])]
        current = columnar.current_rows()
        for row in _dicts([current] if current is not None else [], windows):
            assert row == latest[row["mint"]], row["mint"]
            checked += 1
    assert columnar.late_trades == reference.late_trades == 0
    empty = {
        key
        for key, row in rows.items()
        if row["buy_count_" + f"{windows[-1]}s"] + row[f"sell_count_{windows[-1]}s"] == 0
    }
    assert {(row["mint"], row["ts"]) for row in history} == entered | empty
    assert len(history) == len(entered | empty)
    for row in history:
        assert row == rows[(row["mint"], row["ts"])]
    # Within a tick the reference goes mint by mint in name order, the columnar shard by slot.
    assert sorted(columnar_signals, key=_signal_order) == reference_signals
    return {"trades": trades, "history": len(history), "reference": len(rows), "current": checked,
            "signals": len(columnar_signals), "finals": len(empty)}  # fmt: skip


def _signal_order(row: dict[str, Any]) -> tuple[int, str, int]:
    return row["ts"], row["mint"], SIGNAL_TYPES.index(row["signal_type"])


def _dicts(blocks: list[Any], windows: tuple[int, ...]) -> Iterator[dict[str, Any]]:
    """The rows' window columns (the reference has no token state, so no price columns)."""
    for block in blocks:
        for row in block.dicts(windows):
            yield {name: value for name, value in row.items() if name not in PRICE_COLUMN_TYPES}


def test_sample_capture() -> None:
    counts = compare(sample_feed())
    assert counts["trades"] > 3000 and counts["signals"] > 100 and counts["current"] > counts["history"]
    assert counts["history"] < counts["reference"]


@pytest.mark.parametrize("drain", [False, True], ids=["open-windows", "drained"])
def test_simulated_hour(drain: bool) -> None:
    counts = compare(simulated_feed(10_000, 1, drain))
    assert counts["trades"] > 9000 and counts["signals"] > 100
    assert (counts["finals"] > 0) == drain
    mints = counts["finals"]
    if drain:  # every mint ran once and emptied: at most a row per trade plus one per mint
        assert counts["history"] <= counts["trades"] + mints


def test_other_windows_and_ticks() -> None:
    feed = simulated_feed(3_000, 1, drain=True)
    compare(feed, windows=(30, 60, 300, 700), tick=10)
    compare(feed, windows=(60, 120, 300, 1000), tick=7)  # 1 s buckets, several per tick
