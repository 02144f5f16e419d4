"""The Kafka wire format between the ingest and the cluster: where, and what each message says.

``SOLFLOW_PUBLISH=kafka://HOST:PORT/TOPIC`` (the ingest) and ``SOLFLOW_INPUT=kafka://…/TOPIC`` (a
cluster member) name a **trade topic**; its **run topic** is ``TOPIC.run``. Every message value is
one JSON object with a ``kind``, the ``source`` partition (subscription) it comes from and ``at``,
the source's position ``[slot, seq]``: the newest slot the source had clocked before the message
and a sequence number since that clock. Positions only grow along one source's messages, so a
consumer drops a message at or below the highest position it has seen from that source -- what an
ingest restarted from its last snapshot publishes again (ingest -> Kafka is at-least-once); trades,
lifecycle records and rates are dropped by slot and key instead (``sources.kafka``).

Trade topic, partition ``crc32(mint) % partitions`` (the aggregation shard of the mint):

* ``trade`` -- every ``TradeEvent`` field (``solflow.domain.trade``), key = the mint;
* ``token_created``, ``curve_completed``, ``migrated``, ``pool_created`` -- the lifecycle records the
  token state reads, every field (``solflow.domain.lifecycle``), key = the mint (a pool's base mint);
* ``sol_usd`` -- a quote asset's SOL rate a trade shows (``SolUsdPoint``: SOL/USD from a SOL/stablecoin
  trade, an xStock's from a DCA fill), to **every** partition;
* ``clock`` -- ``slot`` and ``block_time`` (unix seconds, null when the chain gave none) after the
  slot's trades, to **every** partition: a consumer knows each source's event time everywhere;
* ``end`` -- the source's input ended (a capture replay finished), to every partition.

Run topic, one partition: ``gap`` (the ``Gap`` fields), ``stopped`` (``SourceStopped``), ``report``
(one slot's decode counters: ``transactions``, ``slots``, ``stats``) and ``end``.

Pure: no I/O, no Kafka client (``sources.kafka`` reads, ``sinks.kafka`` writes).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, NamedTuple

from solflow.domain.decode import DecodeStats
from solflow.domain.decode.stats import ProgramCounters
from solflow.domain.lifecycle import BY_KIND, LifecycleEvent
from solflow.domain.stream import Gap, SlotClock, SourceStopped
from solflow.domain.tokens import SolUsdPoint
from solflow.domain.trade import TRADE_FIELDS, TradeEvent

__all__ = [
    "RUN_SUFFIX",
    "End",
    "KafkaTopic",
    "Position",
    "ServiceError",
    "SlotReport",
    "WireError",
    "decode",
    "encode",
    "parse_kafka_url",
]

RUN_SUFFIX = ".run"
_TOPIC_NAME = re.compile(r"^[A-Za-z0-9._-]{1,200}$")
_HOST_PORT = re.compile(r"^(?P<host>[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\]):(?P<port>\d{1,5})$")

Position = tuple[int, int]  # (slot of the source's latest clock, or -1; sequence number since it)


class WireError(ValueError):
    """A message that is not SolFlow's wire format, or one this cluster cannot take."""


class ServiceError(RuntimeError):
    """Kafka, S3 or Postgres refused or failed: the message names the service and what happened."""


@dataclass(frozen=True, slots=True)
class KafkaTopic:
    """Where ``SOLFLOW_PUBLISH`` / ``SOLFLOW_INPUT`` point: the brokers and the trade topic."""

    brokers: tuple[str, ...]
    topic: str

    @property
    def run_topic(self) -> str:
        return self.topic + RUN_SUFFIX

    @property
    def bootstrap(self) -> str:
        return ",".join(self.brokers)

    def __str__(self) -> str:
        return f"kafka://{self.bootstrap}/{self.topic}"


def parse_kafka_url(url: str) -> KafkaTopic:
    """``kafka://HOST:PORT[,HOST:PORT…]/TOPIC``; ``ValueError`` says what is wrong."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme != "kafka":
        raise ValueError("must look like kafka://HOST:PORT/TOPIC")
    brokers_part, _, topic = rest.partition("/")
    brokers = tuple(b.strip() for b in brokers_part.split(","))
    for broker in brokers:
        found = _HOST_PORT.match(broker)
        if not found or not 0 < int(found["port"]) < 65536:
            raise ValueError(f"broker {broker!r} is not HOST:PORT (port 1-65535)")
    if not _TOPIC_NAME.match(topic):
        raise ValueError(f"topic {topic!r} must be 1-200 of A-Z a-z 0-9 . _ -")
    if topic.endswith(RUN_SUFFIX):
        raise ValueError(f"topic {topic!r} must not end in {RUN_SUFFIX!r}: that names its run topic")
    return KafkaTopic(brokers, topic)


class SlotReport(NamedTuple):
    """A source's decode counters for one slot: what ``flows.decoding.DecodeReport`` says, per slot
    so that a replayed slot is dropped whole."""

    partition: str
    transactions: int
    slots: int
    stats: DecodeStats


class End(NamedTuple):
    """The source's input ended: nothing more will come from it (the source is the message's)."""


Message = TradeEvent | LifecycleEvent | SolUsdPoint | SlotClock | Gap | SourceStopped | SlotReport | End
_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def encode(source: str, at: Position, item: Message) -> bytes:
    """One message's value."""
    body: dict[str, Any] = {"source": source, "at": at}
    if type(item) is TradeEvent:
        body["kind"] = "trade"
        for name in TRADE_FIELDS:
            body[name] = getattr(item, name)
    elif isinstance(item, LifecycleEvent):
        body.update(item.to_dict())
    elif type(item) is SolUsdPoint:
        body.update(kind="sol_usd", **item._asdict())
    elif type(item) is SlotClock:
        body.update(kind="clock", slot=item.slot, block_time=item.block_time)
    elif type(item) is Gap or type(item) is SourceStopped:
        body["kind"] = "gap" if type(item) is Gap else "stopped"
        body.update((k, v) for k, v in item._asdict().items() if k != "partition")
    elif type(item) is SlotReport:
        stats = {"programs": item.stats.as_dict(), "trailing": item.stats.trailing}
        body.update(kind="report", transactions=item.transactions, slots=item.slots, stats=stats)
    elif type(item) is End:
        body["kind"] = "end"
    else:
        raise TypeError(f"no wire form for {type(item).__name__}")
    return _dumps(body).encode()


def decode(value: bytes | None) -> tuple[str, Position, Message]:
    """``(source, position, item)`` of one message value; ``WireError`` for anything else."""
    try:
        if value is None:
            raise ValueError("no value")
        body: dict[str, Any] = json.loads(value)
        kind = body.pop("kind")
        source = body.pop("source")
        slot, seq = body.pop("at")
        at = (int(slot), int(seq))
        if type(source) is not str:
            raise TypeError("source is not a string")
        item: Message
        if kind == "trade":
            item = TradeEvent(**body)
        elif kind == "clock":
            item = SlotClock(source, body["slot"], body["block_time"])
        elif kind == "gap":
            item = Gap(source, **body)
        elif kind == "stopped":
            item = SourceStopped(source, **body)
        elif kind == "report":
            item = SlotReport(source, body["transactions"], body["slots"], _stats(body["stats"]))
        elif kind == "end":
            item = End()
        elif kind == "sol_usd":
            item = SolUsdPoint(**body)
        elif kind in BY_KIND:
            item = BY_KIND[kind](**body)
        else:
            raise ValueError(f"unknown kind {kind!r}")
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        shown = (value or b"")[:120].decode("utf-8", "replace")
        raise WireError(f"not a SolFlow message ({exc}): {shown!r}") from None
    return source, at, item


def _stats(body: dict[str, Any]) -> DecodeStats:
    stats = DecodeStats()
    for name, counters in body["programs"].items():
        stats.programs[name] = ProgramCounters(**counters)
    stats.trailing = {kind: list(pair) for kind, pair in body["trailing"].items()}
    return stats
