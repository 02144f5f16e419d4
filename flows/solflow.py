"""The SolFlow dataflow: Yellowstone source -> decode -> legacy branch + aggregation branch -> sinks.

Run it with ``python -m bytewax.run flows.solflow`` from the repository root (also ``-w 4``,
several processes with ``-i/-a``, recovery with ``-r DIR -s S -b S``). Configuration comes only
from environment variables (``solflow.settings``); with no ``GEYSER_URL`` the flow replays
``SOLFLOW_REPLAY`` (default ``data/sample.capture``) and ends by itself with a summary line.

Graph::

    source ─ decode (flat_map_batch, on the reading worker)
        ├─ trades ─┬─ legacy JSONL  <out>/streams/<program>/events.jsonl
        │          ├─ SQLite trades
        │          └─ Parquet trades/
        ├─ trades + shard clocks ─ aggregate (stateful, per mint shard)
        │          ├─ aggregate rows ─ Parquet aggregates/ + SQLite token_aggregates
        │          └─ signal rows    ─ Parquet signals/    + SQLite token_signals
        └─ gaps, decode reports ─ run_stats (stateful, one key) ─ SQLite run_stats + summary

All SQLite writes go through one ``SqliteSink`` (one partition: a single writer at any scale).
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import bytewax.operators as op
from bytewax.dataflow import Dataflow

from flows.aggregation import shard_logic_builder
from flows.decoding import RUN_KEY, DecodeStep, ShardClock
from flows.run_stats import Outputs, count_rows, run_stats_builder
from flows.summary import SummarySink
from sinks.jsonl import LegacyJsonlSink
from sinks.parquet import ParquetDatasetSink
from sinks.sqlite import SqliteSink
from solflow.aggregate import AggregationConfig
from solflow.settings import Settings, SettingsError
from solflow.stream import Gap
from solflow.trade import TradeEvent
from sources.yellowstone import YellowstoneSource, subscriptions

DB_NAME = "solflow.db"


def build_flow(settings: Settings) -> Dataflow:
    """The whole pipeline for ``settings``; building it opens nothing (connections open in the
    source and sink partitions)."""
    out = settings.out_dir
    outputs = Outputs(
        jsonl=settings.legacy_jsonl,
        sqlite_trades=settings.legacy_sqlite,
        pipeline=settings.pipeline,
        sqlite=settings.legacy_sqlite or settings.pipeline,
    )
    source = YellowstoneSource(settings)
    flow = Dataflow("solflow")
    items = op.input("geyser", flow, source)
    partition_programs = {sub.name: tuple(p.name for p in sub.programs) for sub in subscriptions(settings)}
    decode = DecodeStep(partition_programs, settings.agg_shards, settings.cadence_s, clocks=settings.pipeline)
    decoded = op.flat_map_batch("decode", items, decode)
    routed = op.branch("route", decoded, _is_shard_item)
    shard_items, run_items = routed.trues, routed.falses
    trades = op.filter_map("trades", shard_items, _trade_of)

    sqlite_inputs = []
    if settings.legacy_jsonl:
        by_program = op.map("by_program", trades, _by_program)
        op.output("legacy_jsonl", by_program, LegacyJsonlSink(out, settings.output_max_size_mb, settings.output_max_rotations, settings.programs))
    if settings.legacy_sqlite:
        sqlite_inputs.append(op.map("trade_rows", trades, _sqlite_trade))
    if settings.pipeline:
        op.output("parquet_trades", trades, ParquetDatasetSink(out, "trades"))
        config = AggregationConfig.from_settings(settings)
        shard_rows = op.stateful("aggregate", shard_items, shard_logic_builder(config, list(partition_programs)))
        kinds = op.branch("by_kind", shard_rows, _is_aggregate)
        op.output("parquet_aggregates", op.map("aggregate_rows", kinds.trues, _row_of), ParquetDatasetSink(out, "aggregates"))
        op.output("parquet_signals", op.map("signal_rows", kinds.falses, _row_of), ParquetDatasetSink(out, "signals"))
        sqlite_inputs.append(shard_rows)
        run_items = op.merge("run_items", run_items, op.flat_map_batch("count_rows", shard_rows, count_rows))

    totals = op.stateful("run_stats", run_items, run_stats_builder(outputs))
    op.output("summary", op.key_rm("summary_rows", totals), SummarySink(_show_progress(settings)))
    if outputs.sqlite:
        gaps = op.filter_map("gaps", run_items, _sqlite_gap)
        stats = op.map("stats_rows", totals, _sqlite_stats)
        op.output("sqlite", op.merge("sqlite_items", *sqlite_inputs, gaps, stats), SqliteSink(out / DB_NAME))
    return flow


def _is_shard_item(item: tuple[str, object]) -> bool:
    return item[0] != RUN_KEY


def _trade_of(item: tuple[str, TradeEvent | ShardClock]) -> TradeEvent | None:
    value = item[1]
    return value if type(value) is TradeEvent else None


def _by_program(trade: TradeEvent) -> tuple[str, TradeEvent]:
    return trade.program, trade


def _sqlite_trade(trade: TradeEvent) -> tuple[str, tuple[str, TradeEvent]]:
    return trade.program, ("trade", trade)


def _sqlite_gap(item: tuple[str, object]) -> tuple[str, tuple[str, Gap]] | None:
    value = item[1]
    return (RUN_KEY, ("gap", value)) if type(value) is Gap else None


def _sqlite_stats(item: tuple[str, dict]) -> tuple[str, tuple[str, dict]]:
    return item[0], ("stats", item[1])


def _is_aggregate(item: tuple[str, tuple[str, dict]]) -> bool:
    return item[1][0] == "aggregate"


def _row_of(item: tuple[str, tuple[str, dict]]) -> tuple[str, dict]:
    key, (_kind, row) = item
    return key, row


def _show_progress(settings: Settings) -> bool:
    if settings.progress == "auto":
        return settings.geyser_url is None and sys.stdout.isatty()
    return settings.progress == "on"


def _load_settings() -> Settings:
    """Settings for ``python -m bytewax.run``: a bad variable is one line on stderr, exit 2."""
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"solflow: configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    if settings.geyser_url is None and not Path(settings.replay_path).is_file():
        print(
            f"solflow: configuration error: SOLFLOW_REPLAY={str(settings.replay_path)!r}: no such capture file"
            " (set GEYSER_URL to stream live, or SOLFLOW_REPLAY to a capture)",
            file=sys.stderr,
        )
        raise SystemExit(2)
    return settings


# SIGTERM (docker stop, systemd, kill) then stops like Ctrl-C: sinks flush and close.
signal.signal(signal.SIGTERM, signal.default_int_handler)
flow = build_flow(_load_settings())
