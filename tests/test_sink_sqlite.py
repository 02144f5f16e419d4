"""SQLite sink: schema and migrations, idempotent upserts, aggregates never regressing, readers."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path
from typing import Any

import base58
import bytewax.operators as op
import numpy as np
import pytest
from bytewax.dataflow import Dataflow
from bytewax.testing import TestingSource, cluster_main

from sinks.schema import PRICE_COLUMNS, SIGNAL_COLUMNS, TRADE_COLUMNS, RowShapeError, aggregate_columns
from sinks.sqlite import _MIGRATIONS, SCHEMA_VERSION, NotASolflowDatabase, SqliteSink, open_db
from solflow.domain.programs import BY_NAME, WSOL_MINT
from solflow.domain.stream import Gap
from solflow.domain.trade import TradeEvent
from solflow.domain.windows import RowBlock
from solflow.settings import DEFAULT_WINDOWS

TRADE_NAMES = [name for name, _ in TRADE_COLUMNS]
RESERVES = ("virtual_base_reserves", "virtual_quote_reserves", "real_base_reserves", "real_quote_reserves")


def b58(seed: str, size: int = 32) -> str:
    return base58.b58encode(hashlib.sha512(seed.encode()).digest()[:size]).decode()


def trade(i: int, **changes: Any) -> TradeEvent:
    program = ("pumpswap", "pumpfun", "launchlab", "moonshot", "jupiter_dca")[i % 5]
    values = dict(
        signature=b58(f"sig{i // 2}", 64),  # two trades per transaction
        slot=310_000_000 + i,
        tx_index=i % 40,
        block_time=1_761_000_000 + i,
        program=program,
        program_id=BY_NAME[program].program_id,
        direction="buy" if i % 3 else "sell",
        trader=b58(f"w{i % 4}"),
        fee_payer=b58(f"p{i % 4}"),
        mint=b58(f"m{i % 6}"),
        quote_mint=WSOL_MINT,
        token_amount_raw=123_456_789 * (i + 1),
        token_decimals=6,
        quote_amount_raw=10_000_000 + i,
        quote_decimals=9,
        fee_amount_raw=None if i % 7 == 0 else 25_000 + i,
        outer_ix_index=i % 2,
        inner_ix_index=None if program == "moonshot" else i % 3,
        via=None if i % 4 else b58("router"),
        pool=b58(f"pool{i % 6}"),
        is_dca=program == "jupiter_dca",
        decode_source="log_event" if program == "moonshot" else "cpi_event",
        real_base_reserves=None if program in ("moonshot", "jupiter_dca") else 700_000_000_000 - i,
        real_quote_reserves=None if program in ("moonshot", "jupiter_dca") else 80_000_000_000 + i,
    )
    values.update(changes)
    return TradeEvent(**values)


def aggregate_block(mint: str, ts: int, scale: int, windows=DEFAULT_WINDOWS, first_ts: int | None = None) -> RowBlock:
    """One current-state row whose counters all differ (so every column is told apart)."""
    width = len(windows) * 10
    rated = sum(1 for w in windows if w <= 300)
    return RowBlock(
        [mint],
        np.array([ts]),
        np.array([ts - 3]),
        np.array([10 * scale]),
        ["pumpfun,pumpswap"],
        np.array([ts if first_ts is None else first_ts]),
        np.arange(1, width + 1, dtype=np.int64)[None, :] * scale * 1_000_003,
        np.arange(1, 2 * rated + 1, dtype=np.int64)[None, :] * scale,
    )


def aggregates(*blocks: RowBlock) -> tuple[str, RowBlock]:
    """The item the aggregation step sends for token_aggregates: a block of current-state rows."""
    return "current", RowBlock.concat(blocks)


def signal(mint: str, ts: int, state: str) -> dict[str, Any]:
    on = state == "on"
    return {
        "mint": mint,
        "signal_type": "BREAKOUT",
        "window_seconds": 60,
        "severity": 4 if on else None,
        "score": 0.71 if on else None,
        "details": {"net_flow_60s": 7.25, "unique_wallets": 6, "buy_ratio": 0.83} if on else {},
        "ts": ts,
        "state": state,
    }


def write(path: Path, items: list[tuple[str, Any]], windows=DEFAULT_WINDOWS) -> None:
    part = SqliteSink(path, windows).build_part("sqlite", "sqlite-1", None)
    part.write_batch(items)
    assert part.snapshot() is None
    part.close()


def rows(path: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(path) as db:
        return db.execute(sql).fetchall()


def columns(path: Path, table: str) -> list[str]:
    return [r[1] for r in rows(path, f"PRAGMA table_info({table})")]


# ---------------------------------------------------------------- schema


def test_schema_version_wal_and_columns(tmp_path: Path) -> None:
    db = tmp_path / "solflow.db"
    write(db, [])
    write(db, [])  # a second start applies nothing twice
    assert rows(db, "SELECT version FROM schema_version") == [(v,) for v in range(1, SCHEMA_VERSION + 1)]
    assert rows(db, "PRAGMA journal_mode") == [("wal",)]
    # One name per quantity: the Parquet datasets' names, plus what only SQLite keeps.
    assert columns(db, "trades") == TRADE_NAMES
    assert set(columns(db, "token_aggregates")) == {name for name, _ in aggregate_columns(DEFAULT_WINDOWS)} | {
        "first_ts"
    }
    assert set(columns(db, "token_signals")) == {name for name, _ in SIGNAL_COLUMNS} | {"id"}
    assert columns(db, "gaps") == list(Gap._fields)
    indexes = {r[0] for r in rows(db, "SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert {"trades_identity", "trades_mint_time", "trades_program_time", "token_signals_identity"} <= indexes


def test_a_version_1_database_takes_the_one_names_and_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "solflow.db"
    old = sqlite3.connect(path)
    old.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, description TEXT NOT NULL)")
    version, description, statements = _MIGRATIONS[0]
    for statement in statements:
        old.execute(statement)
    old.execute("INSERT INTO schema_version VALUES (?, ?)", (version, description))
    usdc = trade(
        1, quote_mint="EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v", quote_decimals=6, token_amount_raw=2**64 - 1
    )
    for t in (trade(0), usdc):
        fields = {k: v for k, v in t.to_dict().items() if k not in RESERVES}  # what version 1 had
        values = [str(v) if isinstance(v, int) and v > 2**63 - 1 else v for v in fields.values()]
        old.execute(f"INSERT INTO trades ({', '.join(fields)}) VALUES ({', '.join('?' * len(values))})", values)
    old.execute(
        "INSERT INTO token_aggregates (mint, source_program, last_trade_timestamp, net_flow_300s_sol, volume_300s_sol,"
        " trades_total, updated_at, created_at) VALUES ('MINT', 'pumpfun', 97, 1.5, 2.5, 3, 100, 90)"
    )
    old.execute(
        "INSERT INTO token_signals (mint, signal_type, window_seconds, severity, score, details_json, created_at,"
        " state, ts) VALUES ('MINT', 'BREAKOUT', 60, 4, 0.7, '{}', 100, 'on', 100)"
    )
    old.commit()
    old.close()

    write(path, [])
    assert rows(path, "SELECT max(version) FROM schema_version") == [(SCHEMA_VERSION,)]
    assert columns(path, "trades") == TRADE_NAMES
    stored = rows(path, "SELECT token_amount, quote_amount, fee_amount FROM trades ORDER BY slot")
    assert stored == [(t.token_amount, t.quote_amount, t.fee_amount) for t in (trade(0), usdc)]
    assert stored[1][1] == usdc.quote_amount_raw / 10**6  # the USDC amount in USDC, not in SOL
    assert rows(path, "SELECT mint, programs, last_trade_ts, net_flow_300s_sol, trades_total, ts, first_ts"
                      " FROM token_aggregates") == [("MINT", "pumpfun", 97, 1.5, 3, 100, 90)]  # fmt: skip
    assert "volume_300s_sol" not in columns(path, "token_aggregates")
    assert rows(path, "SELECT mint, details, state, ts FROM token_signals") == [("MINT", "{}", "on", 100)]
    assert set(columns(path, "token_signals")) == {name for name, _ in SIGNAL_COLUMNS} | {"id"}
    write(path, [aggregates(aggregate_block("MINT", 105, 2))])  # the renamed table takes new rows
    assert rows(path, "SELECT ts, first_ts FROM token_aggregates") == [(105, 90)]


def test_a_version_2_database_gains_the_reserve_columns_and_keeps_its_trades(tmp_path: Path) -> None:
    path = tmp_path / "solflow.db"
    write(path, [("trade", trade(0, slot=7))])
    with sqlite3.connect(path) as db:  # back to what schema version 2 wrote
        for name in RESERVES:
            db.execute(f"ALTER TABLE trades DROP COLUMN {name}")
        for name, _ in PRICE_COLUMNS:  # and what version 4 added
            db.execute(f"ALTER TABLE token_aggregates DROP COLUMN {name}")
        for table in ("token_metadata", "dca_activity_buckets", "token_signal_summary"):
            db.execute(f"DROP TABLE {table}")
        db.execute("DELETE FROM schema_version WHERE version > 2")
    write(path, [("trade", trade(2, slot=8, real_base_reserves=2**64 - 1, real_quote_reserves=5))])
    assert columns(path, "trades") == TRADE_NAMES
    stored = rows(path, "SELECT slot, real_base_reserves, real_quote_reserves FROM trades ORDER BY slot")
    assert stored == [(7, None, None), (8, str(2**64 - 1), 5)]  # u64 beyond SQLite's range: exact text


def test_new_windows_add_columns_and_keep_rows(tmp_path: Path) -> None:
    db = tmp_path / "solflow.db"
    write(db, [aggregates(aggregate_block("MINT", 100, 1))])
    write(db, [aggregates(aggregate_block("MINT", 105, 2, windows=(60, 300, 600)))], windows=(60, 300, 600))
    assert {"net_flow_600s_sol", "unique_buyers_600s"} <= set(columns(db, "token_aggregates"))
    assert rows(db, "SELECT ts, first_ts, net_flow_600s_sol IS NOT NULL FROM token_aggregates") == [(105, 100, 1)]


# ---------------------------------------------------------------- trades


def test_trades_upsert_is_idempotent_and_exact(tmp_path: Path) -> None:
    db = tmp_path / "solflow.db"
    trades = [trade(i) for i in range(40)]
    assert any(t.inner_ix_index is None for t in trades)
    items = [("trade", t) for t in trades]
    write(db, items)
    write(db, items[::-1])  # a replay, in another order
    stored = rows(db, f"SELECT {', '.join(TRADE_NAMES)} FROM trades ORDER BY slot")
    expected = [tuple(getattr(t, name) for name in TRADE_NAMES) for t in trades]
    assert stored == [tuple(int(v) if type(v) is bool else v for v in row) for row in expected]

    corrected = trade(5, fee_amount_raw=1)
    write(db, [("trade", corrected)])
    assert rows(db, "SELECT count(*) FROM trades") == [(40,)]
    assert rows(db, f"SELECT fee_amount_raw FROM trades WHERE slot = {corrected.slot}") == [(1,)]


def test_u64_amounts_beyond_sqlite_integers_are_kept_exactly(tmp_path: Path) -> None:
    db = tmp_path / "solflow.db"
    huge = trade(1, token_amount_raw=2**64 - 1)
    write(db, [("trade", trade(0)), ("trade", huge)])
    write(db, [("trade", huge)])
    assert rows(
        db, "SELECT token_amount_raw, typeof(token_amount_raw), quote_amount_raw FROM trades ORDER BY slot"
    ) == [
        (trade(0).token_amount_raw, "integer", trade(0).quote_amount_raw),
        (str(2**64 - 1), "text", huge.quote_amount_raw),
    ]


# ---------------------------------------------------------------- aggregates


def test_token_aggregates_keep_the_newest_row_and_the_first_tick(tmp_path: Path) -> None:
    db = tmp_path / "solflow.db"
    first, newer = aggregate_block("MINT", 100, 1), aggregate_block("MINT", 105, 2, first_ts=100)
    write(db, [aggregates(first), aggregates(newer)])
    write(db, [aggregates(first)])  # a replayed older row must not win
    with open_db(db) as reader:
        stored = dict(reader.execute("SELECT * FROM token_aggregates").fetchone())
    [expected] = newer.dicts(DEFAULT_WINDOWS)
    assert stored == {**expected, "first_ts": 100}
    assert stored["bot_trades_900s"] is None and stored["avg_trade_size_60s_sol"] is not None

    write(db, [aggregates(newer)])  # the same row again: no change
    with open_db(db) as reader:
        assert dict(reader.execute("SELECT * FROM token_aggregates").fetchone()) == stored


def test_first_ts_is_the_start_of_the_first_run_seen(tmp_path: Path) -> None:
    db = tmp_path / "solflow.db"
    # One commit holds a run's final row (started at 100) and the next run's state (from 20000).
    write(
        db,
        [
            aggregates(
                aggregate_block("MINT", 30_000, 2, first_ts=20_000), aggregate_block("MINT", 14_500, 1, first_ts=100)
            )
        ],
    )
    write(db, [aggregates(aggregate_block("MINT", 40_000, 3, first_ts=20_000))])
    assert rows(db, "SELECT first_ts, ts, trades_total FROM token_aggregates") == [(100, 40_000, 30)]


def test_aggregate_rows_of_another_shape_are_rejected_and_roll_back(tmp_path: Path) -> None:
    db = tmp_path / "solflow.db"
    other = aggregate_block("MINT", 100, 1, windows=(60, 300, 600))
    with pytest.raises(RowShapeError, match="other windows"):
        write(db, [("trade", trade(0)), aggregates(aggregate_block("MINT", 100, 1)), aggregates(other)])
    with pytest.raises(RowShapeError, match="RowBlock batches, got list"):
        write(db, [("current", [("MINT", 100)])])  # type: ignore[list-item]
    assert rows(db, "SELECT count(*) FROM trades") == [(0,)]  # the whole batch rolled back


def test_unknown_item_kind_names_it(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="'trades'"):
        write(tmp_path / "solflow.db", [("trades", trade(0))])


# ---------------------------------------------------------------- signals, gaps, stats


def test_signals_are_written_once_per_transition(tmp_path: Path) -> None:
    db = tmp_path / "solflow.db"
    items = [("signal", signal("MINT", 100, "on")), ("signal", signal("MINT", 160, "off"))]
    write(db, items)
    write(db, items)
    stored = rows(db, "SELECT signal_type, window_seconds, severity, score, details, state, ts FROM token_signals"
                      " ORDER BY ts")  # fmt: skip
    assert stored == [
        ("BREAKOUT", 60, 4, 0.71, '{"net_flow_60s":7.25,"unique_wallets":6,"buy_ratio":0.83}', "on", 100),
        ("BREAKOUT", 60, None, None, "{}", "off", 160),
    ]
    assert json.loads(stored[0][4])["unique_wallets"] == 6


def test_gaps_of_the_same_slot_range_add_up_and_unknown_counts_stay_unknown(tmp_path: Path) -> None:
    # Each Gap item is a loss the source noticed; two notices of the same slot range at the same
    # slot (one per batch while a buffer stays full) are one row whose count is their sum.
    db = tmp_path / "solflow.db"
    gaps = [
        Gap("pumpswap", 100, 120, 7, "buffer_full", 121),
        Gap("pumpswap", None, None, None, "replay_unsupported", 90),
        Gap("pumpfun", 100, 180, None, "out_of_range", 181),
    ]
    write(db, [("gap", g) for g in gaps])
    write(db, [("gap", g) for g in gaps])
    assert rows(db, "SELECT * FROM gaps ORDER BY partition, reason") == [
        ("pumpfun", 100, 180, None, "out_of_range", 181),
        ("pumpswap", 100, 120, 14, "buffer_full", 121),
        ("pumpswap", None, None, None, "replay_unsupported", 90),
    ]


def test_run_stats_are_flattened_and_upserted(tmp_path: Path) -> None:
    db = tmp_path / "solflow.db"
    write(db, [("stats", {"transactions": 10, "trades_by_program": {"pumpswap": 4, "pumpfun": 2}, "tx_per_s": 12.5})])
    write(db, [("stats", {"transactions": 30, "trades_by_program": {"pumpswap": 9}, "partitions": ["a", "b"]})])
    assert dict(rows(db, "SELECT name, value FROM run_stats")) == {
        "transactions": 30,
        "trades_by_program.pumpswap": 9,
        "trades_by_program.pumpfun": 2,
        "tx_per_s": 12.5,
        "partitions": '["a","b"]',
    }


# ---------------------------------------------------------------- readers and workers


def test_open_db_is_read_only_and_checks_the_file(tmp_path: Path) -> None:
    db = tmp_path / "solflow.db"
    write(db, [("trade", trade(0))])
    with open_db(db) as reader:
        assert reader.execute("SELECT signature FROM trades").fetchone()["signature"] == trade(0).signature
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            reader.execute("DELETE FROM trades")
    with pytest.raises(FileNotFoundError, match="no SolFlow database"):
        open_db(tmp_path / "missing.db")
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE t (x)")
    with pytest.raises(NotASolflowDatabase, match="no schema_version"):
        open_db(other)
    (tmp_path / "garbage.db").write_bytes(b"not sqlite at all" * 100)
    with pytest.raises(NotASolflowDatabase, match="not a SQLite database"):
        open_db(tmp_path / "garbage.db")


def test_one_writer_at_four_workers(tmp_path: Path) -> None:
    db = tmp_path / "solflow.db"
    items = [(str(i), ("trade", trade(i))) for i in range(300)]
    items += [(str(i), aggregates(aggregate_block(f"M{i % 9}", 100 + 5 * i, 1))) for i in range(90)]
    items += [(str(i), ("gap", Gap(f"p{i}", i, i + 1, 1, "buffer_full", i + 2))) for i in range(5)]

    def flow() -> Dataflow:
        f = Dataflow("sqlite_workers")
        op.output("sqlite", op.input("items", f, TestingSource(items, 7)), SqliteSink(db))
        return f

    cluster_main(flow(), [], 0, worker_count_per_proc=4)
    cluster_main(flow(), [], 0, worker_count_per_proc=4)  # a full replay changes nothing
    assert rows(db, "SELECT count(*) FROM trades") == [(300,)]
    assert rows(db, "SELECT count(*) FROM gaps") == [(5,)]
    latest = rows(db, "SELECT mint, ts FROM token_aggregates ORDER BY mint")
    assert latest == [(f"M{m}", 100 + 5 * (81 + m)) for m in range(9)]
