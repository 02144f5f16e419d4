"""Decoding on the reading worker: source items become trades, shard inputs and run reports.

This runs as one ``flat_map_batch`` step right after the source, before any exchange, so protobuf
messages never leave the worker that read them and never need pickling. Each source partition
gets its own ``TransactionDecoder`` restricted to that partition's program(s), so a transaction
seen by two partitions is never counted twice.

Out of the step come ``(key, value)`` pairs:

* ``(program, TradeEvent)`` -- every decoded trade, for the trade sinks (keyed by program, so the
  JSONL and Parquet trade partitions of that name are written on the worker that read it);
* ``(shard_key, ShardInput)`` -- per aggregation shard and batch, the batch's trades of the shard's
  mints as window records, then the event time of every partition whose ``SlotClock`` entered a new
  tick in the batch, and the token facts (``solflow.domain.tokens``): what each trade says about
  its token, the lifecycle records of the shard's mints (creations, completions, migrations, pools;
  only transactions that have them carry them) and SOL/USD rates (to every shard). Every shard gets
  the clocks, so each one takes its watermark from all partitions; one item per shard and batch
  keeps the stateful calls (and the pickled items between processes) few whatever the number of
  trades;
* ``(CLOCK_KEY, SlotClock)`` -- with ``slot_clocks``, each slot's clock after its trades, its time
  the chain's (block meta, else its transactions' events) or None: what the Kafka ingest publishes;
* ``(program, LifecycleEvent | SolUsdPoint)`` -- with ``token_facts`` (the ingest, whose consumers
  make the shard inputs), the records the token state reads and the SOL/USD rates;
* ``(RUN_KEY, Gap)``, ``(RUN_KEY, SourceStopped)`` and ``(RUN_KEY, DecodeReport)`` -- what the run
  summary and the ``gaps`` table need. A report carries the counters of one batch, so counters roll
  back together with the source position under recovery.

A slot that comes without block time has its trades held until the whole slot is through, then
timed from the chain (``_PartitionDecoding.slot_time``). Before the partition's first known time
there is nothing to estimate from: such slots wait (in order, nothing after them overtakes) for the
partition's next timed slot and are estimated back from it; a partition that ends or stops without
any chain time hands them on untimed (null, never the local clock).

Within one partition the order of trades and clocks is kept all the way to the shards, which is
what lets the aggregation watermark (the minimum over partitions) never see a trade late.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import NamedTuple

from flows.metrics import record_decode
from solflow.domain.aggregate import trade_record
from solflow.domain.decode import DecodeStats, TransactionDecoder
from solflow.domain.decode.context import Record
from solflow.domain.stream import Gap, SlotClock, SourceEnded, SourceStopped, TxUpdate
from solflow.domain.tokens import Fact, fact_mint, is_token_lifecycle, sol_usd_point, token_trade
from solflow.domain.trade import TradeEvent
from solflow.domain.windows import IncomingRecord

log = logging.getLogger(__name__)

RUN_KEY = "run"
CLOCK_KEY = "clock"
SLOT_MS = 400  # Solana's target slot time: estimates a slot's time from an earlier one
_ERRORS_LOGGED = 3


class ShardClock(NamedTuple):
    """A partition's event time (unix seconds), as seen by one aggregation shard."""

    partition: str
    block_time: int


class ShardInput(NamedTuple):
    """One batch's share of a shard: its trades (window records), partition clocks, token facts."""

    records: list[IncomingRecord]
    clocks: tuple[ShardClock, ...]
    facts: list[Fact] = []  # noqa: RUF012  # a NamedTuple default, never mutated


class DecodeReport(NamedTuple):
    """What one partition did in one batch: transactions decoded, slots completed, decoder counters."""

    partition: str
    transactions: int
    slots: int
    stats: DecodeStats


def shard_keys(shards: int) -> tuple[str, ...]:
    """The aggregation keys; a mint's shard is ``keys[crc32(mint) % shards]`` (a stable hash --
    the built-in ``hash()`` is salted per process).

    Bytewax sends a key to worker ``bytewax_route(key) % workers``. Each shard's name is picked so
    that shard ``i`` lands on worker ``i % workers`` whenever the worker count divides 12 (1, 2, 3,
    4, 6 or 12 workers in all): the shards spread evenly, so few shards (each costs a call per
    tick) still keep every process busy."""
    keys = []
    for index in range(shards):
        name, attempt = f"shard-{index:03d}", 0
        while bytewax_route(name) % _PLACEMENT != index % _PLACEMENT:
            attempt += 1
            name = f"shard-{index:03d}-{attempt}"
        keys.append(name)
    return tuple(keys)


_PLACEMENT = 12  # shard i goes to worker i % W for every W dividing this
_MASK = (1 << 64) - 1


def bytewax_route(key: str) -> int:
    """The hash Bytewax 0.21 routes a state key by: Rust's ``DefaultHasher`` (SipHash-1-3 with zero
    keys) over the key's UTF-8 bytes and the 0xff a ``str`` hash ends with."""
    data = key.encode() + b"\xff"
    v0, v1, v2, v3 = 0x736F6D6570736575, 0x646F72616E646F6D, 0x6C7967656E657261, 0x7465646279746573
    end = len(data) - len(data) % 8
    words = [int.from_bytes(data[i : i + 8], "little") for i in range(0, end, 8)]
    words.append(((len(data) & 0xFF) << 56) | int.from_bytes(data[end:], "little"))
    for word in words:
        v3 ^= word
        v0, v1, v2, v3 = _sip_round(v0, v1, v2, v3)
        v0 ^= word
    v2 ^= 0xFF
    for _ in range(3):
        v0, v1, v2, v3 = _sip_round(v0, v1, v2, v3)
    return v0 ^ v1 ^ v2 ^ v3


def _sip_round(v0: int, v1: int, v2: int, v3: int) -> tuple[int, int, int, int]:
    v0 = (v0 + v1) & _MASK
    v1 = _rotate(v1, 13) ^ v0
    v0 = _rotate(v0, 32)
    v2 = (v2 + v3) & _MASK
    v3 = _rotate(v3, 16) ^ v2
    v0 = (v0 + v3) & _MASK
    v3 = _rotate(v3, 21) ^ v0
    v2 = (v2 + v1) & _MASK
    v1 = _rotate(v1, 17) ^ v2
    v2 = _rotate(v2, 32)
    return v0, v1, v2, v3


def _rotate(value: int, bits: int) -> int:
    return ((value << bits) | (value >> (64 - bits))) & _MASK


class _PartitionDecoding:
    __slots__ = ("decoder", "transactions", "slots", "last_tick", "clock", "held_slot", "held", "anchor", "untimed")

    def __init__(self, programs: tuple[str, ...]):
        self.decoder = TransactionDecoder(programs)
        self.transactions = 0
        self.slots = 0
        self.last_tick: int | None = None
        self.clock: int | None = None  # the batch's latest time that entered a new tick, not yet sent
        self.held_slot: int | None = None  # a slot released without block time whose trades wait for it
        self.held: list[Record] = []
        self.anchor: tuple[int, int] | None = None  # (slot, time) of the latest slot with a known time
        # Slots released before any known time, with their records, waiting for the first one.
        self.untimed: list[tuple[int, list[Record]]] = []

    def slot_time(self, slot: int, known: int | None) -> tuple[int | None, bool]:
        """The time of ``slot``'s held trades and whether it is the block's own: ``known`` (block meta),
        else an event timestamp of one of its transactions (the Clock sysvar, which is the block time),
        else estimated from the latest slot with a known time at 400 ms a slot (None before any)."""
        exact = (
            known if known is not None else next((t.block_time for t in self.held if t.block_time is not None), None)
        )
        if exact is not None:
            self.anchor = (slot, exact)
            return exact, True
        return self.estimate(slot), False

    def estimate(self, slot: int) -> int | None:
        if self.anchor is None:
            return None
        anchor_slot, anchor_time = self.anchor
        if slot >= anchor_slot:
            return anchor_time + (slot - anchor_slot) * SLOT_MS // 1000
        return anchor_time - (anchor_slot - slot) * SLOT_MS // 1000

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

    def __init__(
        self,
        programs: Mapping[str, tuple[str, ...]],
        shards: int,
        tick_s: int,
        trades: bool,
        aggregation: bool,
        slot_clocks: bool = False,
        token_facts: bool = False,
    ):
        """``programs``: each source partition's program names (what its decoder may emit);
        ``trades``: emit trades for the trade sinks; ``aggregation``: emit shard inputs;
        ``slot_clocks``: emit every slot's clock; ``token_facts``: emit, keyed by program, the
        lifecycle records the token state reads and the SOL/USD rates (for the Kafka ingest)."""
        self._slot_clocks = slot_clocks
        self._token_facts = token_facts
        self._programs = programs
        self._keys = shard_keys(shards)
        self._tick_s = tick_s
        self._trades = trades
        self._aggregation = aggregation
        self._partitions: dict[str, _PartitionDecoding] = {}

    def __call__(
        self, batch: Iterable[TxUpdate | SlotClock | Gap | SourceStopped | SourceEnded]
    ) -> list[tuple[str, object]]:
        out: list[tuple[str, object]] = []
        append = out.append
        keys = self._keys
        aggregation = self._aggregation
        shard_records: list[list[IncomingRecord]] = [[] for _ in keys] if aggregation else []
        shard_facts: list[list[Fact]] = [[] for _ in keys] if aggregation else []
        emit = self._emitter(append, shard_records, shard_facts)
        touched: dict[str, _PartitionDecoding] = {}
        for item in batch:
            # `type(item) is` in each test lets the type checker narrow `item` (and is the fastest test).
            if type(item) is TxUpdate:
                part = touched.get(item.partition) or self._touch(item.partition, touched)
                part.transactions += 1
                decoder = part.decoder
                # for the token state, lifecycle records too (their decoding costs ~3 % more)
                trades: Sequence[Record] = (
                    decoder.decode_all(item.info, item.slot, item.block_time)
                    if aggregation or self._token_facts
                    else decoder.decode(item.info, item.slot, item.block_time)
                )
                if item.block_time is None:  # timed once the whole slot is through
                    if part.held_slot is not None and part.held_slot != item.slot:
                        self._release_held(part, None, emit)
                    part.held_slot = item.slot
                    part.held += trades
                    continue
                if part.held_slot is not None:
                    self._release_held(part, None, emit)
                if part.untimed:
                    part.anchor = (item.slot, item.block_time)
                    self._release_untimed(part, emit)
                for trade in trades:
                    emit(trade)
            elif type(item) is SlotClock:
                part = touched.get(item.partition) or self._touch(item.partition, touched)
                part.slots += 1
                time: int | None = item.block_time
                if part.held_slot is not None:
                    same_slot = part.held_slot == item.slot
                    exact = self._release_held(part, time if same_slot else None, emit)
                    if same_slot and time is None:
                        time = exact
                if item.block_time is not None:
                    part.anchor = (item.slot, item.block_time)
                    if part.untimed:
                        self._release_untimed(part, emit)
                if self._slot_clocks:
                    append((CLOCK_KEY, SlotClock(item.partition, item.slot, time)))
                if aggregation and time is not None:
                    tick = time // self._tick_s
                    if part.last_tick is None or tick > part.last_tick:
                        part.last_tick = tick
                        part.clock = time
            elif type(item) is Gap:
                append((RUN_KEY, item))
            elif type(item) is SourceStopped or type(item) is SourceEnded:
                # The partition's last items: what waits for a time gets none from it any more. Its
                # report goes out even when it read nothing, so a run that read nothing still ends
                # with a summary and its own run_stats.
                ended = touched.get(item.partition) or self._touch(item.partition, touched)
                if ended.held_slot is not None:
                    self._release_held(ended, None, emit)
                self._release_untimed(ended, emit)
                if type(item) is SourceStopped:
                    append((RUN_KEY, item))
            else:
                raise TypeError(f"unexpected source item {type(item).__name__}: {item!r}")
        clocks = []
        for name, part in touched.items():
            if part.held_slot is not None:
                self._release_held(part, None, emit)
            if part.clock is not None:  # after the batch's trades: they are all at or before it
                clocks.append(ShardClock(name, part.clock))
                part.clock = None
            append((RUN_KEY, part.report(name)))
        if aggregation:
            shard_clocks = tuple(clocks)
            for key, records, facts in zip(keys, shard_records, shard_facts):
                if records or shard_clocks or facts:
                    append((key, ShardInput(records, shard_clocks, facts)))
        return out

    def _emitter(
        self,
        append: Callable[[tuple[str, object]], None],
        shard_records: list[list[IncomingRecord]],
        shard_facts: list[list[Fact]],
    ) -> Callable[[Record], None]:
        """What happens to each decoded record: a trade is keyed by program for the trade sinks, and
        becomes a window record and a token fact for its mint's shard (a SOL/USD rate for every
        shard); a lifecycle record the token state reads is a fact for its mint's shard."""
        keys_count = len(self._keys)
        crc32 = zlib.crc32
        with_trades, aggregation, token_facts = self._trades, self._aggregation, self._token_facts

        def emit(record: Record) -> None:
            if isinstance(record, TradeEvent):
                if with_trades:
                    append((record.program, record))
                if aggregation or token_facts:
                    rate = sol_usd_point(record)
                    if aggregation:
                        shard = crc32(record.mint.encode()) % keys_count
                        shard_records[shard].append(trade_record(record))
                        shard_facts[shard].append(token_trade(record))
                        if rate is not None:
                            for facts in shard_facts:
                                facts.append(rate)
                    elif rate is not None:
                        append((record.program, rate))
            elif is_token_lifecycle(record):
                if aggregation:
                    shard_facts[crc32(fact_mint(record).encode()) % keys_count].append(record)
                elif token_facts:
                    append((record.program, record))

        return emit

    def _release_held(self, part: _PartitionDecoding, known: int | None, emit: Callable[[Record], None]) -> int | None:
        """Time and hand on the held slot's trades; returns the slot's exact time, if it has one. Before
        the partition's first known time they wait in ``untimed`` instead."""
        slot = part.held_slot
        assert slot is not None
        time, exact = part.slot_time(slot, known)
        held = part.held
        part.held_slot = None
        part.held = []
        if time is None:
            part.untimed.append((slot, held))
            return None
        if part.untimed:
            self._release_untimed(part, emit)
        for trade in held:
            if trade.block_time is None:
                trade.block_time = time
            emit(trade)
        return time if exact else None

    @staticmethod
    def _release_untimed(part: _PartitionDecoding, emit: Callable[[Record], None]) -> None:
        """Hand on the slots that waited for the partition's first known time, estimated back from it
        (untimed if the partition never had one)."""
        for slot, records in part.untimed:
            time = part.estimate(slot)
            for record in records:
                if record.block_time is None:
                    record.block_time = time
                emit(record)
        part.untimed = []

    def _touch(self, partition: str, touched: dict[str, _PartitionDecoding]) -> _PartitionDecoding:
        part = self._partitions.get(partition)
        if part is None:
            part = _PartitionDecoding(self._programs[partition])
            self._partitions[partition] = part
        touched[partition] = part
        return part
