"""The SolFlow dataflow: Yellowstone source -> decode -> legacy branch + aggregation branch -> sinks.

Run it with ``python -m bytewax.run flows.solflow`` from the repository root (also ``-w 4``,
several processes with ``-i/-a``, recovery with ``-r DIR -s S -b S``). Configuration comes only
from environment variables (``solflow.settings``); with no ``GEYSER_URL`` the flow replays
``SOLFLOW_REPLAY`` (default ``data/sample.capture``) and ends by itself with a summary line.

Graph (each branch only when its setting enables it)::

    geyser source ─ decode (flat_map_batch on the reading worker, before any exchange)
      ├─ (program, trade) ─┬─ legacy JSONL <out>/streams/<program>/events.jsonl   SOLFLOW_LEGACY jsonl|both
      │                    ├─ SQLite trades                                        SOLFLOW_LEGACY sqlite|both
      │                    └─ Parquet <out>/trades/ (a partition per program)      SOLFLOW_PIPELINE on
      ├─ (shard key, trades + clocks + token facts of a batch) ─ aggregate (stateful, one key per mint shard)
      │         ├─ history rows  ─ Parquet <out>/aggregates/ (with price columns)
      │         ├─ current state ─ SQLite token_aggregates
      │         ├─ signal rows   ─ Parquet <out>/signals/ + SQLite token_signals
      │         ├─ token rows    ─ Parquet <out>/tokens/ + SQLite token_metadata
      │         ├─ DCA minutes   ─ SQLite dca_activity_buckets
      │         ├─ score batches ─ scorer (stateful, one key) ─ SQLite token_signal_summary + Parquet <out>/scores/
      │         ├─ alerts        ─ <out>/alerts.db + the webhook                    SOLFLOW_ALERT_WEBHOOK
      │         └─ row and mint counts ──┐
      └─ ("run", gap | decode report) ───┴─ run_stats (stateful, one key) ─ SQLite run_stats + summary
           └─ gaps ─ SQLite gaps

All SQLite writes go through one ``SqliteSink`` (one partition: a single writer at any scale).

Beyond one machine (``docs/scale-out.md``): with ``SOLFLOW_PUBLISH`` the flow is the ingest
(``flows.ingest``: source and decode, then Kafka); with ``SOLFLOW_INPUT`` a cluster member, whose
input is the ingest's Kafka topics already in the decode step's shape (``sources.kafka``).
``SOLFLOW_SINKS`` adds or replaces outputs: the Parquet datasets' rows as Delta tables
(``sinks.delta``), the SQLite tables' rows in Postgres (``sinks.postgres``).
"""

from __future__ import annotations

import argparse
import gc
import importlib
import os
import sqlite3
import sys
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

import bytewax.operators as op
from bytewax.dataflow import Dataflow, Stream

from flows.aggregation import ShardOutput, aggregation_config, shard_logic_builder
from flows.cluster_start import wait_for_lower_processes
from flows.decoding import DecodeStep, ShardInput, shard_keys
from flows.enrichment import score_batch_item, scorer_builder
from flows.errors import flow_built, install_excepthook, report_at_exit
from flows.run_stats import Outputs, RunItem, RunRow, count_rows, run_stats_builder
from flows.summary import SummarySink
from sinks.existing import aggregate_windows, earlier_outputs, last_slot, stopped_positions
from sinks.jsonl import LegacyJsonlSink
from sinks.parquet import ParquetDatasetSink
from sinks.sqlite import SqliteSink
from sinks.token_tables import Scoring
from sinks.webhook import WebhookSink
from solflow import run_control
from solflow.domain.stream import Gap
from solflow.domain.trade import TradeEvent
from solflow.logs import configure_logging
from solflow.settings import Settings, SettingsError
from solflow.wire import ServiceError
from sources.capture import CaptureError, check_capture
from sources.yellowstone import SourceState, YellowstoneSource, subscriptions

DB_NAME = "solflow.db"
GC_GEN0_THRESHOLD = 10_000


def build_flow(settings: Settings, recovery: bool = True, start: Mapping[str, SourceState] | None = None) -> Dataflow:
    """The whole pipeline for ``settings``; building it opens nothing (connections and files open
    in the source and sink partitions) -- except that in the scale-out modes it makes sure the
    Kafka topics exist. ``recovery``: the run keeps snapshots (``-r``); without it, steps skip the
    work of snapshotting. ``start``: where each source partition of an appending run starts, after
    what the outputs hold (``_check_earlier_run``)."""
    if settings.kafka_publish is not None:
        return _scale_out_module("flows.ingest").build_ingest_flow(settings, _show_progress(settings))
    out, sinks = settings.out_dir, settings.sinks
    tables = sinks.local or sinks.postgres is not None  # the SQLite tables, in SQLite and/or Postgres
    outputs = Outputs(
        jsonl=settings.legacy_jsonl and sinks.local,
        sqlite_trades=settings.legacy_sqlite and tables,
        pipeline=settings.pipeline,
        sqlite=(settings.legacy_sqlite or settings.pipeline) and tables,
    )
    partition_programs = {sub.name: tuple(p.name for p in sub.programs) for sub in subscriptions(settings)}
    flow = Dataflow("solflow")
    decoded = _decoded_input(flow, settings, partition_programs, start)
    # The casts name what the branch predicates let through (Bytewax streams cannot narrow).
    routed = op.branch("route_trades", decoded, _is_trade)
    # Keyed by program, a trade is written by the worker that read it (sink partitions are named
    # after the programs, and Bytewax places them with the source partitions of those names).
    trades = cast("Stream[tuple[str, TradeEvent]]", routed.trues)
    rest = op.branch("route_shards", routed.falses, _is_shard_input)
    shard_items = cast("Stream[tuple[str, ShardInput]]", rest.trues)
    run_items = cast("Stream[tuple[str, RunItem]]", rest.falses)

    sqlite_items: list[Stream[tuple[str, tuple[str, object]]]] = []
    if outputs.jsonl:
        jsonl = LegacyJsonlSink(out, settings.output_max_size_mb, settings.output_max_rotations, settings.programs)
        op.output("legacy_jsonl", trades, jsonl)
    if outputs.sqlite_trades:
        sqlite_items.append(op.map("trade_rows", trades, _sqlite_trade))
    if settings.pipeline:
        retention = settings.retention_s
        config = aggregation_config(settings)
        builder = shard_logic_builder(config, settings, list(partition_programs), recovery)
        shard_out = op.stateful("aggregate", shard_items, builder)
        batches = op.filter_map("score_batches", shard_out, score_batch_item)
        scorings = op.stateful("scorer", batches, scorer_builder(shard_keys(settings.agg_shards), recovery))
        datasets = {
            "trades": trades,
            "aggregates": op.filter_map("aggregate_rows", shard_out, _payload_of("aggregates")),
            "signals": op.filter_map("signal_rows", shard_out, _payload_of("signal")),
            "tokens": op.filter_map("token_rows", shard_out, _payload_of("token")),
            "scores": op.flat_map("score_rows", scorings, _score_rows),
        }
        for name, rows in datasets.items():
            # Trades are written in a partition per program, the rest in one.
            by_program = name == "trades"
            if sinks.local:
                parts = settings.programs if by_program else 1
                sink = ParquetDatasetSink(
                    out, name, settings.windows, parts, recovery, tick_s=settings.agg_tick_s, retention_s=retention
                )
                op.output(f"parquet_{name}", rows, sink)
            if sinks.delta is not None:
                delta = _scale_out_module("sinks.delta").DeltaSink(
                    sinks.delta,
                    name,
                    settings.windows,
                    settings.programs if by_program else ("part-000",),
                    settings.agg_tick_s,
                )
                op.output(f"delta_{name}", rows, delta)
        sqlite_items.append(op.filter("table_rows", shard_out, _is_table_row))
        sqlite_items.append(op.map("summary_rows", scorings, _sqlite_scoring))
        if settings.alert_webhook is not None:
            alerts = op.filter_map("alert_rows", shard_out, _payload_of("alert"))
            webhook = WebhookSink(out, settings.alert_webhook, settings.alert_format)
            op.output("alerts", op.map("alerts_keyed", alerts, _alert_key), webhook)
        run_items = op.merge("run_items", run_items, op.flat_map_batch("count_rows", shard_out, count_rows))

    totals = op.stateful("run_stats", run_items, run_stats_builder(settings.programs, outputs))
    replay = None if settings.geyser_url or settings.kafka_input else settings.replay_path
    op.output("summary", totals, SummarySink(_show_progress(settings), replay))
    if outputs.sqlite:
        sqlite_items.append(op.filter_map("gap_rows", run_items, _sqlite_gap))
        sqlite_items.append(op.map("stats_rows", totals, _sqlite_stats))
        table_rows = op.merge("sqlite_items", *sqlite_items)
        if sinks.local:
            op.output("sqlite", table_rows, SqliteSink(out / DB_NAME, settings.windows, settings.retention_s))
        if sinks.postgres is not None:
            op.output(
                "postgres",
                table_rows,
                _scale_out_module("sinks.postgres").PostgresSink(
                    sinks.postgres, settings.windows, settings.retention_s
                ),
            )
    return flow


def _decoded_input(
    flow: Dataflow,
    settings: Settings,
    partition_programs: dict[str, tuple[str, ...]],
    start: Mapping[str, SourceState] | None,
) -> Stream[tuple[str, object]]:
    """What the branches take: the decode step's output (``flows.decoding``), from the Yellowstone
    source -- or, for a cluster member, from the ingest's Kafka topics in the same shape."""
    if settings.kafka_input is not None:
        if start is not None:
            raise SettingsError(
                "SOLFLOW_APPEND: a cluster member (SOLFLOW_INPUT) goes on from its recovery state (-r), not from"
                " the last slot of its outputs"
            )
        topics = _scale_out_module("solflow.kafka_topics")
        partitions = topics.ensure_topics(settings.kafka_input, settings.agg_shards)
        metrics = None if settings.metrics_port is None else (settings.metrics_port, settings.metrics_addr)
        source = _scale_out_module("sources.kafka").KafkaTradeSource(
            settings.kafka_input, list(partition_programs), partitions, settings.agg_tick_s, metrics
        )
        return op.input("kafka", flow, source)
    items = op.input("geyser", flow, YellowstoneSource(settings, start))
    with_trades = settings.legacy_jsonl or settings.legacy_sqlite or settings.pipeline
    decode = DecodeStep(
        partition_programs,
        settings.agg_shards,
        settings.agg_tick_s,
        trades=with_trades,
        aggregation=settings.pipeline,
    )
    return op.flat_map_batch("decode", items, decode)


def _scale_out_module(name: str) -> Any:
    """A module of the scale-out modes, which need ``pip install .[scale]`` (Kafka, Delta, Postgres)."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise SettingsError(
            f"SOLFLOW_PUBLISH, SOLFLOW_INPUT or SOLFLOW_SINKS needs the scale extras ({exc.name} is missing):"
            " pip install '.[scale]'"
        ) from None


def _is_trade(item: tuple[str, object]) -> bool:
    return type(item[1]) is TradeEvent


def _is_shard_input(item: tuple[str, object]) -> bool:
    return type(item[1]) is ShardInput


def _sqlite_trade(item: tuple[str, TradeEvent]) -> tuple[str, tuple[str, TradeEvent]]:
    key, trade = item
    return key, ("trade", trade)


def _payload_of(wanted: str) -> Callable[[tuple[str, ShardOutput]], tuple[str, Any] | None]:
    def payload(item: tuple[str, ShardOutput]) -> tuple[str, Any] | None:
        key, (kind, value) = item
        return (key, value) if kind == wanted else None

    return payload


def _is_table_row(item: tuple[str, ShardOutput]) -> bool:
    return item[1][0] in ("current", "signal", "token", "dca")


def _score_rows(item: tuple[str, Scoring]) -> list[tuple[str, dict[str, Any]]]:
    key, scoring = item
    return [(key, row) for row in scoring.rows]


def _sqlite_scoring(item: tuple[str, Scoring]) -> tuple[str, tuple[str, Scoring]]:
    key, scoring = item
    return key, ("scores", scoring)


def _alert_key(item: tuple[str, dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    return "alerts", item[1]


def _sqlite_gap(item: tuple[str, RunItem]) -> tuple[str, tuple[str, Gap]] | None:
    key, value = item
    return (key, ("gap", value)) if type(value) is Gap else None


def _sqlite_stats(item: tuple[str, RunRow]) -> tuple[str, tuple[str, RunRow]]:
    key, row = item
    return key, ("stats", row)


def _show_progress(settings: Settings) -> bool:
    if settings.progress == "auto":
        return settings.geyser_url is None and sys.stdout.isatty()
    return settings.progress == "on"


def _flow_from_environment() -> Dataflow:
    """The flow ``python -m bytewax.run`` runs. Everything that can be checked before the dataflow
    starts is checked here, so a mistake is one line on stderr and no Bytewax output: a bad variable
    or output directory exits 2, a capture that is not whole exits 1."""
    try:
        settings = _per_process(_with_run_options(Settings.from_env(), sys.argv[1:]))
        configure_logging(settings)
        if settings.geyser_url is None and settings.kafka_input is None:
            if not Path(settings.replay_path).is_file():
                raise SettingsError(
                    f"SOLFLOW_REPLAY={str(settings.replay_path)!r}: no such capture file"
                    " (set GEYSER_URL to stream live, or SOLFLOW_REPLAY to a capture)"
                )
            check_capture(settings.replay_path)
        recovery = settings.recovery_directory is not None
        start = None
        if settings.sinks.local and settings.kafka_publish is None:
            _check_out_dir(settings.out_dir)
            start = _check_earlier_run(settings, recovery)
        flow = build_flow(settings, recovery=recovery, start=start)
    except SettingsError as exc:
        print(f"solflow: configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    except (CaptureError, ServiceError) as exc:
        print(f"solflow: error: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
    addresses = _cluster_addresses(sys.argv[1:])
    if settings.process_id and addresses:
        wait_for_lower_processes(addresses, settings.process_id)
    return flow


def _cluster_addresses(argv: list[str]) -> list[str]:
    """The processes' ``host:port`` list of a multi-process run (``-a``, as bytewax.run reads it)."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("-a", "--addresses", default=os.environ.get("BYTEWAX_ADDRESSES", ""))
    text: str = parser.parse_known_args(argv)[0].addresses
    return [address.strip() for address in text.split(";") if address.strip()]


def _with_run_options(settings: Settings, argv: list[str]) -> Settings:
    """The ``bytewax.run`` options the flow depends on, as bytewax.run reads them: ``-i`` (process
    id) and ``-r`` (recovery directory), else Bytewax's own variables (in the settings)."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("-i", "--process-id", type=int, default=settings.process_id)
    parser.add_argument("-r", "--recovery-directory", type=Path, default=settings.recovery_directory)
    options = parser.parse_known_args(argv)[0]
    return replace(settings, process_id=options.process_id, recovery_directory=options.recovery_directory)


def _per_process(settings: Settings) -> Settings:
    """Settings of one process of a multi-process run: its metrics port is SOLFLOW_METRICS_PORT +
    the process id, so every process of a host serves its own."""
    process_id = settings.process_id
    if settings.metrics_port is None or process_id == 0:
        return settings
    port = settings.metrics_port + process_id
    if port > 65535:
        raise SettingsError(f"SOLFLOW_METRICS_PORT={settings.metrics_port} + process id {process_id} is past 65535")
    return replace(settings, metrics_port=port)


def _check_earlier_run(settings: Settings, recovery: bool) -> dict[str, SourceState] | None:
    """Refuse a run that would write an earlier run's trades again, or change the aggregates'
    columns; for a run that appends (``SOLFLOW_APPEND=on``), where each source partition starts."""
    out = settings.out_dir
    windows = aggregate_windows(out)
    if settings.pipeline and windows is not None and windows != tuple(settings.windows):
        wanted = ",".join(map(str, settings.windows))
        raise SettingsError(
            f"SOLFLOW_WINDOWS={wanted}: {out / 'aggregates'} holds rows of the windows"
            f" {','.join(map(str, windows))}, whose columns another window set would change; write to another"
            " SOLFLOW_OUT (the datasets here stay as they are) or keep those windows"
        )
    resumes = settings.recovery_directory is not None and _has_committed_state(settings.recovery_directory)
    if resumes:
        return None  # a resumed run rewrites exactly what its snapshot did not cover
    earlier = earlier_outputs(out)
    if not earlier:
        return None
    if not settings.append:
        shown = ", ".join(earlier[:3]) + (", ..." if len(earlier) > 3 else "")
        if recovery:
            raise SettingsError(
                f"SOLFLOW_OUT={str(out)!r} holds an earlier run's outputs ({shown}) but the recovery directory"
                f" {str(settings.recovery_directory)!r} holds no snapshot, so nothing resumes and this run would"
                " write its trades again. Resume with the recovery directory of the run that wrote them, start"
                " fresh with another SOLFLOW_OUT, or set SOLFLOW_APPEND=on to add only the slots after the last"
                " one written"
            )
        raise SettingsError(
            f"SOLFLOW_OUT={str(out)!r} holds an earlier run's outputs ({shown}); this run would write its"
            " trades again. Start fresh with another SOLFLOW_OUT (or remove this one), resume an interrupted"
            " run with -r, or set SOLFLOW_APPEND=on to add only the slots after the last one written"
        )
    return _appending_start(settings)


def _appending_start(settings: Settings) -> dict[str, SourceState]:
    """Where each partition of an appending run starts, as a resumed run starts at its snapshot:
    after the last slot the outputs hold -- or, when the last run into them was stopped, at the
    position it recorded for the partition, so a slot it left open is read again in full and the
    later slots it wrote are skipped."""
    written = last_slot(settings.out_dir)
    after: SourceState = None if written is None else (written, ())
    positions = stopped_positions(settings.out_dir) or {}
    return {sub.name: positions.get(sub.name, after) for sub in subscriptions(settings)}


def _has_committed_state(recovery_directory: Path) -> bool:
    """Whether Bytewax committed an epoch to this recovery store, i.e. whether ``-r`` resumes
    anything (a store just made by ``python -m bytewax.recovery`` has no commit yet)."""
    for part in sorted(recovery_directory.glob("part-*.sqlite3")):
        db = sqlite3.connect(f"file:{part}?mode=ro", uri=True, timeout=30)
        try:
            if db.execute("SELECT 1 FROM commits LIMIT 1").fetchone() is not None:
                return True
        except sqlite3.DatabaseError:
            return True  # not a store Bytewax made: Bytewax itself says what is wrong with it
        finally:
            db.close()
    return False


def _check_out_dir(out: Path) -> None:
    where = f"SOLFLOW_OUT={str(out)!r}"
    if out.exists() and not out.is_dir():
        raise SettingsError(f"{where}: is a file, not a directory")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SettingsError(f"{where}: cannot create the directory ({exc.strerror or exc})") from None
    try:
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as exc:
        raise SettingsError(f"{where}: cannot write there ({exc.strerror or exc})") from None


run_control.install_signal_handlers()
install_excepthook()
# The aggregation keeps many small long-lived objects (per mint and wallet, up to the longest
# window); with the default thresholds the cyclic collector keeps rescanning them, about half of the
# aggregation's time (measured on a 500 trades/s stream). Fewer, larger collections find the same cycles.
gc.set_threshold(GC_GEN0_THRESHOLD, 10, 10)
report_at_exit()
flow = _flow_from_environment()
flow_built()
