"""The ingest's output: trades, clocks and run items to the trade and run topics (``solflow.wire``).

A ``FixedPartitionedSink`` with one partition per source partition, each handing its source's
messages on in the order the decode step made them to the process's one idempotent producer: Kafka
keeps that order within each topic partition, so a consumer sees a slot's trades before its clock.
One producer (one connection per broker) rather than one per source batches every source's messages
together, and no two requests of the ingest race to append to the same topic partition (some
Kafka-protocol brokers lose a write when they do).

A trade or a lifecycle record goes to partition ``crc32(mint) % partitions`` (the mint's aggregation
shard); a clock, a SOL/USD rate and an end marker go to every partition; gaps, stopped notes and slot
reports go to the run topic.

Each message carries its source's position (``solflow.wire``): the newest slot clocked so far and a
sequence number since, so positions grow even where slots are released out of order (a straggler, a
late block meta); the partition's state is the next position. At every snapshot the producer is
flushed -- everything before the snapshot is in Kafka before Bytewax records it -- so a resumed
ingest publishes again only what came after the snapshot, at the same positions, and consumers
drop what they already have. A message Kafka refuses to take
stops the run with one line (``ServiceError``).
"""

from __future__ import annotations

import threading
import zlib
from collections.abc import Sequence
from typing import Any

from bytewax.outputs import FixedPartitionedSink, StatefulSinkPartition
from confluent_kafka import KafkaError, Message, Producer
from typing_extensions import override

from flows.decoding import DecodeReport
from solflow.domain.lifecycle import LifecycleEvent
from solflow.domain.stream import SlotClock
from solflow.domain.tokens import SolUsdPoint, fact_mint
from solflow.domain.trade import TradeEvent
from solflow.kafka_topics import CLIENT_LOG
from solflow.wire import End, KafkaTopic, Position, ServiceError, SlotReport, encode

START: Position = (-1, 0)  # before a source's first clock
FLUSH_TIMEOUT_S = 120.0
_POLL_EVERY = 1_000  # produced messages between serving delivery reports


def producer_config(target: KafkaTopic) -> dict[str, Any]:
    """Idempotent, acknowledged by every replica, ordered per partition even across retries."""
    return {
        "bootstrap.servers": target.bootstrap,
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 20,
        "batch.num.messages": 10_000,
        "queue.buffering.max.messages": 1_000_000,
        "logger": CLIENT_LOG,
    }


class KafkaPublishSink(FixedPartitionedSink[Any, Position]):
    """Items ``(source partition, TradeEvent | LifecycleEvent | SolUsdPoint | SlotClock | Gap | SourceStopped |
    DecodeReport | End)``."""

    def __init__(self, target: KafkaTopic, partitions: int, sources: Sequence[str]):
        self._target = target
        self._partitions = partitions
        self._sources = sorted(sources)
        self._producer: _SharedProducer | None = None
        self._building = threading.Lock()  # the partitions may be built on several worker threads

    @override
    def list_parts(self) -> list[str]:
        return list(self._sources)

    @override
    def part_fn(self, item_key: str) -> int:
        return self._sources.index(item_key)

    @override
    def build_part(self, step_id: str, for_part: str, resume_state: Position | None) -> _PublishPartition:
        with self._building:
            if self._producer is None:
                self._producer = _SharedProducer(self._target)
        return _PublishPartition(self._producer, self._partitions, for_part, resume_state or START)


class _SharedProducer:
    """The process's producer and the first fatal error it reported (a refused message is reported
    to the partition that sent it)."""

    def __init__(self, target: KafkaTopic):
        self.target = target
        self.fatal: KafkaError | None = None
        self.client = Producer({**producer_config(target), "error_cb": self._on_error})

    def _on_error(self, error: KafkaError) -> None:
        if error.fatal() and self.fatal is None:
            self.fatal = error


class _PublishPartition(StatefulSinkPartition[Any, Position]):
    def __init__(self, shared: _SharedProducer, partitions: int, source: str, at: Position):
        self._shared = shared
        self._target = shared.target
        self._partitions = range(partitions)
        self._source = source
        self._slot, self._seq = at
        self._failure: KafkaError | None = None
        self._producer = shared.client
        self._unpolled = 0

    @override
    def write_batch(self, values: list[Any]) -> None:
        produce, source = self._produce, self._source
        topic, run_topic, partitions = self._target.topic, self._target.run_topic, self._partitions
        count = len(partitions)
        for item in values:
            kind = type(item)
            if kind is TradeEvent or isinstance(item, LifecycleEvent):
                value = encode(source, (self._slot, self._seq), item)
                key = fact_mint(item).encode()
                produce(topic, value, zlib.crc32(key) % count, key)
            elif kind is SlotClock or kind is End or kind is SolUsdPoint:
                # Positions only grow: a slot released late (a straggler's, or block meta after the
                # slot went out by distance) gets the next number after the newest slot's.
                if kind is SlotClock and item.slot > self._slot:
                    self._slot, self._seq = item.slot, 0
                value = encode(source, (self._slot, self._seq), item)
                for partition in partitions:
                    produce(topic, value, partition)
                if kind is End:
                    produce(run_topic, value, 0)
            else:
                if kind is DecodeReport:
                    item = SlotReport(item.partition, item.transactions, item.slots, item.stats)
                produce(run_topic, encode(source, (self._slot, self._seq), item), 0)
            self._seq += 1
        self._unpolled += len(values)
        if self._unpolled >= _POLL_EVERY:
            self._producer.poll(0)
            self._unpolled = 0
        self._check()

    @override
    def snapshot(self) -> Position:
        self._flush()
        return self._slot, self._seq

    @override
    def close(self) -> None:
        self._flush()

    def _produce(self, topic: str, value: bytes, partition: int, key: bytes | None = None) -> None:
        while True:
            try:
                self._producer.produce(topic, value, key, partition=partition, on_delivery=self._delivered)
                return
            except BufferError:  # the local queue is full: wait for deliveries to make room
                self._producer.poll(0.1)
                self._check()

    def _flush(self) -> None:
        left = self._producer.flush(FLUSH_TIMEOUT_S)
        self._check()
        if left:
            raise ServiceError(f"{self._target}: {left} message(s) not acknowledged after {FLUSH_TIMEOUT_S:.0f} s")

    def _delivered(self, error: KafkaError | None, message: Message) -> None:
        if error is not None and self._failure is None:
            self._failure = error

    def _check(self) -> None:
        failure = self._failure or self._shared.fatal
        if failure is not None:
            raise ServiceError(f"{self._target}: Kafka refused a message of {self._source}: {failure.str()}")
