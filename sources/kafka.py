"""``KafkaTradeSource``: a cluster member's input -- the ingest's trade and run topics (``solflow.wire``).

Built on Bytewax's ``KafkaSource``: one source partition per Kafka partition (``0-TOPIC`` …, and
``0-TOPIC.run``), each read from the beginning or from the offset in its snapshot. Each partition
hands the dataflow what the decode step hands it in a single-process run (``flows.decoding``), so
the rest of the flow is the same:

* trade topic partition ``k`` (the mints of aggregation shard ``k``): ``(program, TradeEvent)``
  for the trade sinks, and per batch one ``(shard key, ShardInput)`` -- the batch's trades as
  window records, then the event time of every source whose clock entered a new tick, and the token
  facts (``solflow.domain.tokens``): what each trade says about its token, the lifecycle records of
  the partition's mints and the SOL/USD rates;
* run topic: ``("run", Gap | DecodeReport)``; an ingest's stop is logged, not counted (a member's run
  stops when it is stopped, not when the ingest is).

Replays are dropped by slot and key: a trade, lifecycle record or SOL/USD rate whose key (its
signature and instruction positions) was already taken in its slot is what a restarted ingest
published again, whatever position it now has -- a live stream resent after a restart may order a
slot's transactions differently. Keys are kept for the ``KEY_HORIZON_SLOTS`` slots before the newest
(far more than an ingest's snapshot interval); an older keyed record, and any other message (clocks,
reports, gaps, end markers), is a replay when it is at or below the highest position already taken
from its source (``solflow.wire``). A partition ends once every source
has sent its end marker (a capture replay is through: the cluster flushes its windows and exits), or
when the run is stopped (SIGTERM: a later ``-r`` run goes on where it stopped). A partition that
ended on markers stays ended when resumed.

The snapshot is the Kafka offset and the partition's dedup and clock state, taken together, so a
resumed cluster (``-r``) reads on from exactly where its aggregation state was.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple, cast

from bytewax.connectors.kafka import KafkaSource
from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition
from typing_extensions import override

from flows.decoding import RUN_KEY, DecodeReport, ShardClock, ShardInput, shard_keys
from solflow import run_control
from solflow.domain.aggregate import trade_record
from solflow.domain.lifecycle import LifecycleEvent
from solflow.domain.stream import Gap, SlotClock, SourceStopped
from solflow.domain.tokens import Fact, SolUsdPoint, token_trade
from solflow.domain.trade import TradeEvent
from solflow.domain.windows import IncomingRecord
from solflow.kafka_topics import CLIENT_LOG
from solflow.wire import End, KafkaTopic, Position, ServiceError, SlotReport, WireError, decode
from sources.metrics import serve_metrics
from sources.worker_thread import keep_thread_state

log = logging.getLogger(__name__)

BATCH_SIZE = 2_000
IDLE_POLL = timedelta(milliseconds=20)
KEY_HORIZON_SLOTS = 1_500  # ~10 minutes of chain time

RecordKey = tuple[object, ...]


class PartitionState(NamedTuple):
    """What a partition resumes from: the next offset, the highest position taken per source, the
    sources that ended, the latest tick each source's clock entered, and the keys of each source's
    recent records by slot."""

    offset: int | None
    seen: dict[str, Position]
    ended: frozenset[str]
    ticks: dict[str, int]
    recent: dict[str, dict[int, frozenset[RecordKey]]] | None = None  # None: a snapshot from before keys were kept


class KafkaTradeSource(FixedPartitionedSource[tuple[str, Any], PartitionState]):
    """The ingest's topics at ``target``; ``sources``: the source partitions the ingest publishes
    (every one must end before a partition does); ``partitions``: the trade topic's partition count."""

    def __init__(
        self,
        target: KafkaTopic,
        sources: Sequence[str],
        partitions: int,
        tick_s: int,
        metrics: tuple[int, str] | None = None,
    ):
        """``metrics``: the port and address to serve Prometheus metrics and ``/healthz`` on (the
        connector's consumer lag among them), as the Yellowstone source does."""
        self._metrics = metrics
        self._target = target
        self._sources = frozenset(sources)
        self._shards = shard_keys(partitions)
        self._tick_s = tick_s
        # librdkafka takes a logger object here too; the connector's annotation only names strings.
        config = cast("dict[str, str]", {"logger": CLIENT_LOG})
        self._kafka = KafkaSource(
            [target.bootstrap], [target.topic, target.run_topic], tail=True, add_config=config, batch_size=BATCH_SIZE
        )

    @override
    def list_parts(self) -> list[str]:
        keep_thread_state()  # the first callback on every worker thread
        try:
            return self._kafka.list_parts()
        except Exception as exc:  # librdkafka's errors, or the connector's own on a missing topic
            raise ServiceError(f"{self._target}: cannot list the topics' partitions ({exc})") from None

    @override
    def build_part(self, step_id: str, for_part: str, resume_state: PartitionState | None) -> _TopicPartition:
        if self._metrics is not None:
            serve_metrics(*self._metrics)
        index, topic = for_part.split("-", 1)
        state = resume_state or PartitionState(None, {}, frozenset(), {})
        inner = self._kafka.build_part(step_id, for_part, state.offset)
        shard = None if topic == self._target.run_topic else self._shards[int(index)]
        return _TopicPartition(inner, for_part, shard, self._sources, self._tick_s, state)


class _TopicPartition(StatefulSourcePartition[tuple[str, Any], PartitionState]):
    def __init__(
        self,
        inner: StatefulSourcePartition[Any, int | None],
        name: str,
        shard: str | None,
        sources: frozenset[str],
        tick_s: int,
        state: PartitionState,
    ):
        self._inner = inner
        self._name = name
        self._shard = shard  # None: the run topic
        self._sources = sources
        self._tick_s = tick_s
        self._seen = dict(state.seen)
        self._ended = set(state.ended)
        self._ticks = dict(state.ticks)
        self._recent = {
            source: {slot: set(keys) for slot, keys in slots.items()} for source, slots in (state.recent or {}).items()
        }
        self._newest = {source: max(slots) for source, slots in self._recent.items() if slots}
        self._wake: datetime | None = None
        if self._ended >= sources:
            log.info("partition %s: every source ended before; nothing more to read", name)

    @override
    def next_batch(self) -> Iterable[tuple[str, Any]]:
        if self._ended >= self._sources or run_control.stop_requested():
            raise StopIteration()
        try:
            messages = self._inner.next_batch()
        except Exception as exc:
            run_control.fail(ServiceError(f"Kafka partition {self._name}: {exc}"))
            raise StopIteration() from None
        out: list[tuple[str, Any]] = []
        records: list[IncomingRecord] = []
        facts: list[Fact] = []
        clocks: dict[str, int] = {}
        try:
            for message in messages:
                self._take(message.value, out, records, facts, clocks)
                if self._ended >= self._sources:
                    break  # whatever follows the last end marker belongs to another run
        except WireError as exc:
            run_control.fail(WireError(f"Kafka partition {self._name}: {exc}"))
            raise StopIteration() from None
        if self._shard is not None and (records or clocks or facts):
            shard_clocks = tuple(ShardClock(source, time) for source, time in clocks.items())
            out.append((self._shard, ShardInput(records, shard_clocks, facts)))
        self._wake = None if messages else datetime.now(UTC) + IDLE_POLL
        return out

    def _take(
        self,
        value: bytes | None,
        out: list[tuple[str, Any]],
        records: list[IncomingRecord],
        facts: list[Fact],
        clocks: dict[str, int],
    ) -> None:
        source, at, item = decode(value)
        if source not in self._sources:
            raise WireError(
                f"a message from source {source!r}, which this cluster does not read (it reads"
                f" {', '.join(sorted(self._sources))}): SOLFLOW_PROGRAMS and SOLFLOW_LAYOUT must match the ingest's"
            )
        seen = self._seen.get(source)
        replayed = seen is not None and at <= seen
        key = record_key(item)
        if key is not None:
            if self._taken(source, key, replayed):
                return
        elif replayed:
            return
        if not replayed:
            self._seen[source] = at
        if type(item) is TradeEvent:
            out.append((item.program, item))
            records.append(trade_record(item))
            facts.append(token_trade(item))
        elif isinstance(item, LifecycleEvent) or type(item) is SolUsdPoint:
            facts.append(item)
        elif type(item) is SlotClock:
            time = item.block_time
            if time is not None:
                tick = time // self._tick_s
                last = self._ticks.get(source)
                if last is None or tick > last:
                    self._ticks[source] = tick
                    clocks[source] = time
        elif type(item) is End:
            self._ended.add(source)
        elif type(item) is SlotReport:
            out.append((RUN_KEY, DecodeReport(item.partition, item.transactions, item.slots, item.stats)))
        elif type(item) is Gap:
            out.append((RUN_KEY, item))
        elif type(item) is SourceStopped:
            # The ingest's own stop: it resumes from its snapshot and the members go on reading, so
            # this run has not stopped (its own stop comes from its own signal).
            log.info("the ingest's source %s stopped (%s) after slot %s", source, item.reason, item.last_slot)

    def _taken(self, source: str, key: tuple[int, RecordKey], replayed: bool) -> bool:
        """Whether the keyed record was taken before (published again); if not, it is now."""
        slot, identity = key
        slots = self._recent.setdefault(source, {})
        newest = self._newest.get(source, slot)
        if slot < newest - KEY_HORIZON_SLOTS:
            return replayed  # older than the keys kept: its position decides
        keys = slots.get(slot)
        if keys is None:
            keys = slots[slot] = set()
            if slot > newest:
                for old in [old for old in slots if old < slot - KEY_HORIZON_SLOTS]:
                    del slots[old]
            self._newest[source] = max(slot, newest)
        elif identity in keys:
            return True
        keys.add(identity)
        return False

    @override
    def next_awake(self) -> datetime | None:
        return self._wake

    @override
    def snapshot(self) -> PartitionState:
        recent = {
            source: {slot: frozenset(keys) for slot, keys in slots.items()} for source, slots in self._recent.items()
        }
        return PartitionState(
            self._inner.snapshot(), dict(self._seen), frozenset(self._ended), dict(self._ticks), recent
        )

    @override
    def close(self) -> None:
        self._inner.close()


def record_key(item: object) -> tuple[int, RecordKey] | None:
    """The slot and identity of a trade, lifecycle record or SOL/USD rate; None for other messages."""
    if type(item) is TradeEvent or isinstance(item, LifecycleEvent):
        return item.slot, (type(item).__name__, *item.key)
    if type(item) is SolUsdPoint:
        return item.slot, ("sol_usd", item.tx_index, item.outer, item.inner)
    return None
