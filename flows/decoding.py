"""Decoding on the reading worker: source items become shard-keyed trades and clock ticks.

This runs as one ``flat_map_batch`` step right after the source, before any exchange, so protobuf
messages never leave the worker that read them and never need pickling. Each source partition
gets its own ``TransactionDecoder`` restricted to that partition's program(s), so a transaction
seen by two partitions is never counted twice.

Out of the step come ``(key, value)`` pairs:

* ``(shard_key, TradeEvent)`` -- every decoded trade, keyed by the shard of its mint;
* ``(shard_key, ShardClock)`` -- a partition's event time, sent to every shard at the end of a
  batch in which that partition's ``SlotClock`` entered a new cadence tick (one item per shard per
  partition and batch at most; a replay batch spans several ticks, and every clock item is one
  stateful call per shard -- and a pickled item for every shard in another process);
* ``(RUN_KEY, Gap)``, ``(RUN_KEY, SourceStopped)`` and ``(RUN_KEY, DecodeReport)`` -- what the run
  summary and the ``gaps`` table need. A report carries the counters of one batch, so counters roll back together with the source
  position under recovery.

Within one partition the order of trades and clocks is kept all the way to the shards, which is
what lets the aggregation watermark (the minimum over partitions) never see a trade late.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from flows.metrics import record_decode
from solflow.domain.decode import DecodeStats, TransactionDecoder
from solflow.domain.stream import Gap, SlotClock, SourceStopped, TxUpdate
from solflow.domain.trade import TradeEvent

log = logging.getLogger(__name__)

RUN_KEY = "run"
SLOT_MS = 400  # Solana's target slot time: estimates a slot's time from an earlier one
_ERRORS_LOGGED = 3


class ShardClock(NamedTuple):
    """A partition's event time (unix seconds), as seen by one aggregation shard."""

    partition: str
    block_time: int


class DecodeReport(NamedTuple):
    """What one partition did in one batch: transactions decoded, slots completed, decoder counters."""

    partition: str
    transactions: int
    slots: int
    stats: DecodeStats


def shard_keys(shards: int) -> tuple[str, ...]:
    """The aggregation keys; a mint's shard is ``keys[crc32(mint) % shards]`` (a stable hash --
    the built-in ``hash()`` is salted per process)."""
    return tuple(f"shard-{i:03d}" for i in range(shards))


class _PartitionDecoding:
    __slots__ = ("decoder", "transactions", "slots", "last_tick", "clock", "held_slot", "held", "anchor")

    def __init__(self, programs: tuple[str, ...]):
        self.decoder = TransactionDecoder(programs)
        self.transactions = 0
        self.slots = 0
        self.last_tick: int | None = None
        self.clock: int | None = None  # the batch's latest time that entered a new tick, not yet sent
        self.held_slot: int | None = None  # a slot released without block time whose trades wait for it
        self.held: list[TradeEvent] = []
        self.anchor: tuple[int, int] | None = None  # (slot, time) of the latest slot with a known time

    def slot_time(self, slot: int, known: int | None) -> tuple[int | None, bool]:
        """The time of ``slot``'s held trades and whether it is the block's own: ``known`` (block meta),
        else an event timestamp of one of its transactions (the Clock sysvar, which is the block time),
        else estimated from the latest earlier slot with a known time at 400 ms a slot."""
        exact = (
            known if known is not None else next((t.block_time for t in self.held if t.block_time is not None), None)
        )
        if exact is not None:
            self.anchor = (slot, exact)
            return exact, True
        if self.anchor is None or self.anchor[0] > slot:
            return None, False
        anchor_slot, anchor_time = self.anchor
        return anchor_time + (slot - anchor_slot) * SLOT_MS // 1000, False

    def report(self, partition: str) -> DecodeReport:
        """Hand over the counters gathered since the last report and start new ones."""
        decoder = self.decoder
        stats = decoder.take_stats()
        report = DecodeReport(partition, self.transactions, self.slots, stats)
        self.transactions = self.slots = 0
        record_decode(partition, report.transactions, stats)
        errors = stats.total("errors")
        if errors:
            latest = list(decoder.recent_errors)[-min(errors, _ERRORS_LOGGED) :]
            log.warning(
                "partition %s: %d malformed transaction(s) skipped; latest: %s", partition, errors, "; ".join(latest)
            )
        return report


class DecodeStep:
    """The ``flat_map_batch`` mapper. One instance per process; each partition's state is touched
    only by the worker that owns the partition."""

    def __init__(self, programs: Mapping[str, tuple[str, ...]], shards: int, cadence_s: int, clocks: bool):
        """``programs``: each source partition's program names (what its decoder may emit)."""
        self._programs = programs
        self._keys = shard_keys(shards)
        self._cadence_s = cadence_s
        self._clocks = clocks
        self._partitions: dict[str, _PartitionDecoding] = {}

    def __call__(self, batch: Iterable[TxUpdate | SlotClock | Gap | SourceStopped]) -> list[tuple[str, object]]:
        out: list[tuple[str, object]] = []
        append = out.append
        keys = self._keys
        n_keys = len(keys)
        crc32 = zlib.crc32
        touched: dict[str, _PartitionDecoding] = {}
        for item in batch:
            # `type(item) is` in each test lets the type checker narrow `item` (and is the fastest test).
            if type(item) is TxUpdate:
                part = touched.get(item.partition) or self._touch(item.partition, touched)
                part.transactions += 1
                trades = part.decoder.decode(item.info, item.slot, item.block_time)
                if item.block_time is None:  # timed once the whole slot is through
                    if part.held_slot is not None and part.held_slot != item.slot:
                        self._release_held(part, None, append)
                    part.held_slot = item.slot
                    part.held += trades
                    continue
                if part.held_slot is not None:
                    self._release_held(part, None, append)
                for trade in trades:
                    append((keys[crc32(trade.mint.encode()) % n_keys], trade))
            elif type(item) is SlotClock:
                part = touched.get(item.partition) or self._touch(item.partition, touched)
                part.slots += 1
                time: int | None = item.block_time
                if part.held_slot is not None:
                    same_slot = part.held_slot == item.slot
                    exact = self._release_held(part, time if same_slot else None, append)
                    if same_slot and time is None:
                        time = exact
                if item.block_time is not None:
                    part.anchor = (item.slot, item.block_time)
                if self._clocks and time is not None:
                    tick = time // self._cadence_s
                    if part.last_tick is None or tick > part.last_tick:
                        part.last_tick = tick
                        part.clock = time
            elif type(item) is Gap or type(item) is SourceStopped:
                append((RUN_KEY, item))
            else:
                raise TypeError(f"unexpected source item {type(item).__name__}: {item!r}")
        for name, part in touched.items():
            if part.held_slot is not None:
                self._release_held(part, None, append)
            if part.clock is not None:  # after the batch's trades: they are all at or before it
                clock = ShardClock(name, part.clock)
                out.extend((key, clock) for key in keys)
                part.clock = None
            append((RUN_KEY, part.report(name)))
        return out

    def _release_held(self, part: _PartitionDecoding, known: int | None, append: Any) -> int | None:
        """Time and hand on the held slot's trades; returns the slot's exact time, if it has one."""
        slot = part.held_slot
        assert slot is not None
        time, exact = part.slot_time(slot, known)
        keys = self._keys
        for trade in part.held:
            if trade.block_time is None:
                trade.block_time = time
            append((keys[zlib.crc32(trade.mint.encode()) % len(keys)], trade))
        part.held_slot = None
        part.held = []
        return time if exact else None

    def _touch(self, partition: str, touched: dict[str, _PartitionDecoding]) -> _PartitionDecoding:
        part = self._partitions.get(partition)
        if part is None:
            part = _PartitionDecoding(self._programs[partition])
            self._partitions[partition] = part
        touched[partition] = part
        return part
