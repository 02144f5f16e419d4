"""The token tables of ``solflow.db`` (``sinks.token_tables``) and retention in SQLite and Parquet, on
real SQLite files and Parquet datasets written by the sinks (the Parquet one in a real dataflow)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import bytewax.operators as op
import polars as pl
from bytewax.dataflow import Dataflow
from bytewax.testing import TestingSource, run_main
from test_sink_sqlite import aggregate_block, aggregates, rows, signal, trade

from sinks.parquet import ParquetDatasetSink
from sinks.schema import TOKEN_COLUMNS
from sinks.sqlite import SqliteSink
from sinks.token_tables import Scoring
from solflow.settings import DEFAULT_WINDOWS

DAY = 86_400


def write(path: Path, items: list[tuple[str, Any]], retention_s: int | None = None) -> None:
    part = SqliteSink(path, DEFAULT_WINDOWS, retention_s).build_part("sqlite", "sqlite-1", None)
    part.write_batch(items)
    part.close()


def token_row(mint: str, ts: int, **values: Any) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys((name for name, _ in TOKEN_COLUMNS), None)
    row.update(mint=mint, ts=ts, **values)
    return row


def test_token_metadata_keeps_what_is_known(tmp_path: Path) -> None:
    db = tmp_path / "solflow.db"
    write(db, [("token", token_row("M", 100, first_seen_ts=98, token_decimals=6, supply_raw=2**64 - 1))])
    write(db, [("token", token_row("M", 130, token_name="Named", first_seen_ts=120, rpc_slot=7))])
    write(db, [("token", token_row("M", 110, token_name="Older", graduated=True))])  # older than the stored row
    stored = rows(
        db, "SELECT token_name, token_decimals, supply_raw, first_seen_ts, graduated, rpc_slot, ts FROM token_metadata"
    )
    assert stored == [("Named", 6, str(2**64 - 1), 98, None, 7, 130)]  # u64 beyond SQLite's range: exact text


def test_dca_minutes_only_grow(tmp_path: Path) -> None:
    db = tmp_path / "solflow.db"
    minute = {"mint": "M", "minute": 60}
    write(db, [("dca", {**minute, "dca_buys": 2, "dca_buy_volume_sol": 1.5})])
    write(db, [("dca", {**minute, "dca_buys": 1, "dca_buy_volume_sol": 0.5})])  # an earlier state, late
    write(db, [("dca", {**minute, "dca_buys": 3, "dca_buy_volume_sol": 2.0})])
    assert rows(db, "SELECT mint, minute, dca_buys, dca_buy_volume_sol FROM dca_activity_buckets") == [
        ("M", 60, 3, 2.0)
    ]


def test_the_latest_scoring_replaces_the_summary(tmp_path: Path) -> None:
    db = tmp_path / "solflow.db"

    def scoring(ts: int, *mints: str) -> tuple[str, Scoring]:
        rows_ = tuple(
            {"mint": m, "persistence_score": 5, "pattern_tag": "NOISE", "confidence": "LOW", "appearance_24h": 0,
             "appearance_72h": 0, "ts": ts}
            for m in mints
        )  # fmt: skip
        return "scores", Scoring(ts, rows_)

    write(db, [scoring(60, "A", "B", "C"), scoring(120, "B")])
    assert rows(db, "SELECT mint, ts FROM token_signal_summary") == [("B", 120)]
    write(db, [scoring(60, "A")])  # late: an older scoring changes nothing
    assert rows(db, "SELECT mint, ts FROM token_signal_summary") == [("B", 120)]
    write(db, [scoring(180)])  # nobody is a candidate any more
    assert rows(db, "SELECT count(*) FROM token_signal_summary") == [(0,)]


def test_retention_and_active_mints(tmp_path: Path) -> None:
    now = 1_761_000_000 + 50_000
    items = [
        aggregates(aggregate_block("QUIET", now - 20_000, 1), aggregate_block("BUSY", now, 2)),
        *(("trade", trade(i, block_time=t)) for i, t in enumerate((now - 10_000, now - 100))),
        ("signal", signal("BUSY", now - 10_000, "on")),
        ("signal", signal("BUSY", now - 100, "off")),
        ("dca", {"mint": "BUSY", "minute": now - 10_020, "dca_buys": 1, "dca_buy_volume_sol": 1.0}),
        ("token", token_row("QUIET", now - 20_000)),
        ("token", token_row("BUSY", now - 20_000)),
    ]
    kept = tmp_path / "kept.db"
    write(kept, items, retention_s=None)  # SOLFLOW_RETENTION=off: everything stays
    assert rows(kept, "SELECT count(*) FROM token_aggregates") == [(2,)]
    assert rows(kept, "SELECT count(*) FROM trades") == [(2,)]

    pruned = tmp_path / "pruned.db"
    write(pruned, items, retention_s=3600)
    assert rows(pruned, "SELECT mint FROM token_aggregates") == [("BUSY",)]  # QUIET: no trade in the last 4 h
    assert rows(pruned, "SELECT block_time FROM trades") == [(now - 100,)]
    assert rows(pruned, "SELECT ts FROM token_signals") == [(now - 100,)]
    assert rows(pruned, "SELECT count(*) FROM dca_activity_buckets") == [(0,)]
    assert rows(pruned, "SELECT mint FROM token_metadata") == [("BUSY",)]  # still active


def test_parquet_retention_deletes_whole_days(tmp_path: Path) -> None:
    start = int(datetime(2025, 11, 1, tzinfo=UTC).timestamp())
    items = [("k", token_row(f"M{day}", start + day * DAY + 3600)) for day in range(6)]
    flow = Dataflow("retention")
    sink = ParquetDatasetSink(tmp_path, "tokens", recovery=False, retention_s=2 * DAY)
    op.output("tokens", op.input("in", flow, TestingSource(items)), sink)
    run_main(flow)
    days = sorted(path.name for path in (tmp_path / "tokens").iterdir())
    # the latest row is on day 5 at 01:00; two days back is day 3 at 01:00, so day 3 is partly inside
    assert days == ["date=2025-11-04", "date=2025-11-05", "date=2025-11-06"]
    kept = pl.read_parquet(tmp_path / "tokens" / "*" / "*.parquet").get_column("mint").sort().to_list()
    assert kept == ["M3", "M4", "M5"]
    assert not list((tmp_path / "tokens").glob("date=*/.*"))  # no leftovers
