"""The aggregation step: one ``ShardAggregator`` per shard key inside a Bytewax ``StatefulLogic``.

A shard receives its mints' trades and every partition's ``ShardClock`` ticks (in per-partition
order, see ``flows.decoding``) and emits ``(kind, row)`` pairs, kind ``"aggregate"`` or
``"signal"``. Event time only advances through the clocks, so the rows do not depend on worker
count, batch sizes or restarts.
"""

from __future__ import annotations

from typing import Iterable, Sequence

from bytewax.operators import StatefulLogic
from typing_extensions import override

from flows.decoding import ShardClock
from solflow.aggregate import AggregationConfig, ShardAggregator
from solflow.trade import TradeEvent

ShardRow = tuple[str, dict]


class ShardLogic(StatefulLogic[TradeEvent | ShardClock, ShardRow, object]):
    def __init__(self, config: AggregationConfig, partitions: Sequence[str], resume: object | None):
        self._aggregator = (
            ShardAggregator(config, partitions) if resume is None else ShardAggregator.restore(config, resume)
        )

    @override
    def on_item(self, value: TradeEvent | ShardClock) -> tuple[Iterable[ShardRow], bool]:
        if type(value) is ShardClock:
            rows = self._aggregator.advance(value.partition, value.block_time)
            return rows, self._discard()
        self._aggregator.add_trade(value)
        return (), StatefulLogic.RETAIN

    @override
    def on_eof(self) -> tuple[Iterable[ShardRow], bool]:
        return self._aggregator.finish(), StatefulLogic.RETAIN

    @override
    def snapshot(self) -> object:
        return self._aggregator.snapshot()

    def _discard(self) -> bool:
        return StatefulLogic.DISCARD if self._aggregator.is_empty else StatefulLogic.RETAIN


def shard_logic_builder(config: AggregationConfig, partitions: Sequence[str]):
    """The ``op.stateful`` builder: a fresh shard, or one restored from its snapshot."""

    def build(resume: object | None) -> ShardLogic:
        return ShardLogic(config, partitions, resume)

    return build
