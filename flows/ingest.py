"""The ingest (``SOLFLOW_PUBLISH=kafka://HOST:PORT/TOPIC``): Yellowstone source + decode -> Kafka.

Graph::

    geyser source ─ decode one slot at a time ─ (source partition, item) ─ in order ─ Kafka (sinks.kafka)
                                               └─ ("run", report | gap | stop) ─ run_stats ─ summary

The decode step is the flow's own (``flows.decoding.DecodeStep``) with every slot's clock, called on
one slot of one partition at a time: each decode report then covers exactly one slot, so a consumer
can drop a slot an ingest restarted from its snapshot publishes again without counting it twice
(``solflow.wire``). A stateful step keyed by source partition keeps each source's items in order up
to its Kafka producer and adds the end marker once a bounded input (a capture replay) ended by
itself; a live stream, or a stop by signal, never ends the consumers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

import bytewax.operators as op
from bytewax.dataflow import Dataflow
from bytewax.operators import StatefulLogic
from typing_extensions import override

from flows.decoding import RUN_KEY, DecodeReport, DecodeStep
from flows.run_stats import Outputs, RunItem, run_stats_builder
from flows.summary import SummarySink
from sinks.kafka import KafkaPublishSink
from solflow import run_control
from solflow.domain.stream import Gap, SlotClock, SourceStopped
from solflow.kafka_topics import ensure_topics
from solflow.settings import Settings
from solflow.wire import End
from sources.yellowstone import SourceItem, YellowstoneSource, subscriptions

KAFKA_ONLY = Outputs(jsonl=False, sqlite_trades=False, pipeline=False, sqlite=False, kafka=True)


def build_ingest_flow(settings: Settings, show_progress: bool) -> Dataflow:
    """The ingest of ``settings.kafka_publish``; creates the topics if they are missing (I/O)."""
    target = settings.kafka_publish
    assert target is not None
    partitions = ensure_topics(target, settings.agg_shards)
    programs = {sub.name: tuple(p.name for p in sub.programs) for sub in subscriptions(settings)}
    bounded = settings.geyser_url is None
    flow = Dataflow("solflow")
    items = op.input("geyser", flow, YellowstoneSource(settings))
    decode = DecodeStep(
        programs, 1, settings.agg_tick_s, trades=True, aggregation=False, slot_clocks=True, token_facts=True
    )
    decoded = op.flat_map_batch("decode", items, SlotDecode(decode))
    ordered = op.stateful("publish_order", decoded, _in_order_builder(bounded))
    op.output("kafka", ordered, KafkaPublishSink(target, partitions, list(programs)))
    run_items = op.filter_map("run_items", decoded, _run_item)
    totals = op.stateful("run_stats", run_items, run_stats_builder(settings.programs, KAFKA_ONLY))
    op.output("summary", totals, SummarySink(show_progress, None if settings.geyser_url else settings.replay_path))
    return flow


class SlotDecode:
    """``flat_map_batch`` mapper: the decode step over each slot of each partition in turn, its
    output keyed by source partition (``(partition, TradeEvent | LifecycleEvent | SolUsdPoint |
    SlotClock | Gap | SourceStopped | DecodeReport)``)."""

    def __init__(self, decode: DecodeStep):
        self._decode = decode

    def __call__(self, batch: Iterable[SourceItem]) -> list[tuple[str, Any]]:
        out: list[tuple[str, Any]] = []
        for partition, chunk in _slot_chunks(batch):
            out += ((partition, value) for _key, value in self._decode(chunk))
        return out


def _slot_chunks(batch: Iterable[SourceItem]) -> Iterator[tuple[str, list[SourceItem]]]:
    """Each partition's items cut after every ``SlotClock``; a partition's order is kept."""
    open_chunks: dict[str, list[SourceItem]] = {}
    for item in batch:
        chunk = open_chunks.setdefault(item.partition, [])
        chunk.append(item)
        if type(item) is SlotClock:
            yield item.partition, open_chunks.pop(item.partition)
    yield from open_chunks.items()


class _InOrder(StatefulLogic[Any, Any, None]):
    """Passes one source's items on in order; at the end of a bounded input, its end marker."""

    def __init__(self, bounded: bool):
        self._bounded = bounded

    @override
    def on_item(self, value: Any) -> tuple[Iterable[Any], bool]:
        return (value,), StatefulLogic.RETAIN

    @override
    def on_eof(self) -> tuple[Iterable[Any], bool]:
        ended = self._bounded and not run_control.stop_requested()
        return ((End(),) if ended else ()), StatefulLogic.RETAIN

    @override
    def snapshot(self) -> None:
        return None


def _in_order_builder(bounded: bool) -> Callable[[None], _InOrder]:
    def build(resume: None) -> _InOrder:
        return _InOrder(bounded)

    return build


def _run_item(item: tuple[str, Any]) -> tuple[str, RunItem] | None:
    value = item[1]
    kind = type(value)
    return (RUN_KEY, value) if kind is DecodeReport or kind is Gap or kind is SourceStopped else None
