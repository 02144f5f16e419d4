"""Window states at any event time, rebuilt from the trades dataset.

The ``aggregates`` history has a row per mint and tick in which a trade of the mint arrived, plus a
final row when its windows emptied; between those rows the windows decay without a row. To know a
mint's windows at any time, the trades that can still be in a window then are replayed through the
aggregation itself (``ShardAggregator``, with the windows and tick the files record), so the state
is the one the flow computes. The tick and windows come from the aggregates files' metadata.
"""

from __future__ import annotations

from collections.abc import Collection

import polars as pl

from solflow.analysis.outputs import Outputs
from solflow.domain.aggregate import AggregationConfig, ShardAggregator
from solflow.domain.trade import TRADE_FIELDS, TradeEvent

__all__ = ["state_history", "states_at"]

_PARTITION = "replay"
_CHAIN_ORDER = ("block_time", "slot", "tx_index", "outer_ix_index", "inner_ix_index")
_IDENTITY = ("signature", "outer_ix_index", "inner_ix_index")


def states_at(outputs: Outputs, at: int, mints: Collection[str]) -> pl.DataFrame:
    """The state of ``mints`` at event time ``at`` (the tick at or before it): one row per mint
    with a trade in the longest window then, ``ts`` the tick of its latest change."""
    tick = outputs.tick()
    longest = outputs.windows()[-1]
    trades = _trades(outputs, mints, after=at - longest - tick, through=at)
    aggregator = _replay(outputs, trades)
    aggregator.advance(_PARTITION, at + 1)
    current = aggregator.current_rows()
    return pl.DataFrame(current.dicts(outputs.windows()) if current is not None else [], schema=_schema(outputs))


def state_history(outputs: Outputs, mint: str) -> pl.DataFrame:
    """Every state of ``mint``: a row per tick at which its windows changed, decays included."""
    tick = outputs.tick()
    trades = _trades(outputs, [mint])
    if trades.is_empty():
        return pl.DataFrame(schema=_schema(outputs))
    aggregator = _replay(outputs, trades)
    rows = []
    times = trades.get_column("block_time").to_list()
    end = max(times) + outputs.windows()[-1] + tick
    for clock in range(min(times) // tick * tick + 1, end + 1, tick):
        emitted = aggregator.advance(_PARTITION, clock)
        for block in emitted.finals:
            rows += block.dicts(outputs.windows())
        current = aggregator.current_rows()
        if current is not None:
            rows += current.dicts(outputs.windows())
    return pl.DataFrame(rows, schema=_schema(outputs))


def _trades(
    outputs: Outputs, mints: Collection[str], after: int | None = None, through: int | None = None
) -> pl.DataFrame:
    query = (
        outputs.scan("trades", after=after, through=through)
        .filter(pl.col("mint").is_in(list(mints)), pl.col("block_time").is_not_null())
        .select(TRADE_FIELDS)
        .unique(_IDENTITY)
        .sort(_CHAIN_ORDER)
    )
    return outputs.collect("trades", query)


def _replay(outputs: Outputs, trades: pl.DataFrame) -> ShardAggregator:
    aggregator = ShardAggregator(AggregationConfig(outputs.windows(), outputs.tick()), [_PARTITION])
    for row in trades.iter_rows(named=True):
        aggregator.add_trade(TradeEvent(**row))
    return aggregator


def _schema(outputs: Outputs) -> pl.Schema:
    """The aggregates' columns, times in unix seconds (as ``Outputs.scan`` hands them on)."""
    stored = outputs.aggregate_schema()
    return pl.Schema(
        {name: pl.Int64() if dtype == pl.Datetime else dtype for name, dtype in stored.items() if name != "date"}
    )
