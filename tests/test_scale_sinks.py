"""The scale-out sinks against real servers on 127.0.0.1: Postgres (Debian's ``postgresql``, started by
the test) and Delta tables on S3 (``moto_server``).

Postgres: the tables follow the SQLite schema (a new column there is a new column here), the rows
are the SQLite sink's row for row, replays change nothing, ``token_aggregates.ts`` never moves back,
and each commit moves the writer's progress row. Delta: a commit per snapshot, the Parquet rows in
Delta's types, and a resumed partition replaces exactly what it committed after its snapshot.
"""

from __future__ import annotations

import itertools
import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import psycopg
import pytest
from components import Component, postgres_uri, s3_env, start_postgres, start_s3
from deltalake import DeltaTable
from test_sink_sqlite import aggregate_block, aggregates, signal, trade

from sinks.delta import BOOKKEEPING, DeltaSink
from sinks.parquet import dataset_tables
from sinks.postgres import PROGRESS_TABLE, PostgresSink, create_tables, shown_uri
from sinks.schema import TRADE_COLUMNS
from sinks.sqlite import SqliteSink, table_columns
from solflow.domain.stream import Gap
from solflow.domain.trade import TradeEvent

_names = itertools.count()
SQLITE_TABLES = ("trades", "token_aggregates", "token_signals", "gaps", "run_stats")
U64 = {name for name, kind in TRADE_COLUMNS if kind == "u64"}


@pytest.fixture(scope="module")
def postgres() -> Iterator[Component]:
    server = start_postgres()
    yield server
    server.stop()


@pytest.fixture
def database(postgres: Component) -> str:
    """A fresh database on the module's server."""
    name = f"sinks_{next(_names)}"
    with psycopg.connect(postgres_uri(postgres, "postgres"), autocommit=True) as db:
        db.execute(f"CREATE DATABASE {name}")
    return postgres_uri(postgres, name)


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An S3 bucket on a local server, with the AWS variables deltalake reads set for this module."""
    server = start_s3(tmp_path_factory.mktemp("s3"), "lake")
    saved = {name: os.environ.get(name) for name in s3_env(server)}
    os.environ.update(s3_env(server))
    yield "s3://lake"
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    server.stop()


def table_items() -> list[tuple[str, Any]]:
    """One of every item the table sinks take, amounts past 2**63 included."""
    items: list[tuple[str, Any]] = [("trade", trade(i)) for i in range(12)]
    items.append(("trade", trade(12, token_amount_raw=2**64 - 1, virtual_base_reserves=2**63 + 5)))
    items.append(aggregates(aggregate_block("mintA", 1_761_000_100, 2), aggregate_block("mintB", 1_761_000_095, 3)))
    items.append(("signal", signal("mintA", 1_761_000_100, "on")))
    items.append(("signal", signal("mintA", 1_761_000_200, "off")))
    items.append(("gap", Gap("pumpfun", 10, 12, 3, "buffer_full", 13)))
    items.append(("stats", {"transactions": 13, "trades_by_program": {"pumpfun": 4}, "end": "finished"}))
    return items


def write_postgres(uri: str, items: list[tuple[str, Any]], resume: int | None = None) -> int:
    part = PostgresSink(uri).build_part("postgres", "sqlite-1", resume)
    part.write_batch(items)
    epoch = part.snapshot()
    part.close()
    return epoch


def sqlite_rows(path: Path, tables: tuple[str, ...] = SQLITE_TABLES) -> dict[str, list[tuple[Any, ...]]]:
    """Rows of every table; u64 amounts SQLite keeps as exact TEXT (above 2**63 - 1) as integers."""
    with sqlite3.connect(path) as db:
        out = {}
        for table in tables:
            names = _columns(table)
            rows = db.execute(f"SELECT {', '.join(names)} FROM {table}").fetchall()
            out[table] = sorted(
                (tuple(int(v) if name in U64 and v is not None else v for name, v in zip(names, row)) for row in rows),
                key=repr,
            )
        return out


def postgres_rows(uri: str, tables: tuple[str, ...] = SQLITE_TABLES) -> dict[str, list[tuple[Any, ...]]]:
    """Rows as SQLite returns them: exact u64 decimals as integers, run_stats values as SQLite typed them."""
    with psycopg.connect(uri) as db:
        out = {}
        for table in tables:
            rows = db.execute(f"SELECT {', '.join(_columns(table))} FROM {table}").fetchall()
            out[table] = sorted((tuple(_as_sqlite(table, v) for v in row) for row in rows), key=repr)
        return out


def _columns(table: str) -> list[str]:
    return [name for name, _ in table_columns()[table] if name != "id"]


def _as_sqlite(table: str, value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value)
    if table == "run_stats" and isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    return value


def test_postgres_tables_follow_the_sqlite_schema(database: str) -> None:
    with psycopg.connect(database, autocommit=True) as db:
        create_tables(db, windows=(60, 300))
        create_tables(db, windows=(60, 300))  # again: nothing to do
        found = _postgres_columns(db)
        assert {t: c for t, c in found.items() if t != PROGRESS_TABLE} == {
            table: [name for name, _ in columns] for table, columns in table_columns((60, 300)).items()
        }
        assert found[PROGRESS_TABLE] == ["writer", "epoch", "commits", "committed_at"]
        # A window configured later is a new column, as in SQLite.
        create_tables(db, windows=(60, 300, 900))
        assert "net_flow_900s_sol" in _postgres_columns(db)["token_aggregates"]


def _postgres_columns(db: psycopg.Connection[Any]) -> dict[str, list[str]]:
    rows = db.execute(
        "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'public'"
        " ORDER BY table_name, ordinal_position"
    ).fetchall()
    return {table: [column for _, column in group] for table, group in itertools.groupby(rows, lambda r: r[0])}


def test_postgres_rows_equal_the_sqlite_sinks_and_replays_change_nothing(tmp_path: Path, database: str) -> None:
    items = table_items()
    sqlite = SqliteSink(tmp_path / "solflow.db").build_part("sqlite", "sqlite-1", None)
    sqlite.write_batch(items)
    sqlite.close()
    expected = sqlite_rows(tmp_path / "solflow.db")
    assert all(expected[t] for t in SQLITE_TABLES)

    assert write_postgres(database, items) == 1
    assert postgres_rows(database) == expected
    # A resumed run writes the epochs after its snapshot again: the upserts keep one row each. (The
    # gaps of one slot range noticed at the same slot add up, in SQLite too.)
    assert write_postgres(database, [i for i in items if i[0] != "gap"], resume=0) == 1
    assert postgres_rows(database) == expected
    with psycopg.connect(database) as db:
        writer, epoch, commits = db.execute(f"SELECT writer, epoch, commits FROM {PROGRESS_TABLE}").fetchone()
    assert (writer, epoch, commits) == ("postgres", 1, 2)


def test_postgres_aggregates_never_move_back(database: str) -> None:
    write_postgres(database, [aggregates(aggregate_block("mintA", 1_761_000_100, 2, first_ts=1_761_000_000))])
    write_postgres(database, [aggregates(aggregate_block("mintA", 1_761_000_050, 9))])  # older: a replay
    write_postgres(database, [aggregates(aggregate_block("mintB", 1_761_000_050, 9))])
    with psycopg.connect(database) as db:
        rows = db.execute("SELECT mint, ts, trades_total, first_ts FROM token_aggregates ORDER BY mint").fetchall()
    assert rows == [("mintA", 1_761_000_100, 20, 1_761_000_000), ("mintB", 1_761_000_050, 90, 1_761_000_050)]


def test_postgres_passwords_stay_out_of_messages() -> None:
    assert shown_uri("postgresql://solflow:hunter2@db:5432/x") == "postgresql://solflow:***@db:5432/x"
    assert shown_uri("postgresql://solflow@db/x") == "postgresql://solflow@db/x"


def delta_rows(uri: str) -> list[tuple[Any, ...]]:
    frame = pl.scan_delta(uri).collect()
    return sorted(frame.rows(), key=repr)


def test_delta_commits_per_snapshot_and_a_resume_replaces_what_came_after(lake: str) -> None:
    root = f"{lake}/resume-{next(_names)}"
    trades = [trade(i, program="pumpfun") for i in range(30)]
    sink = DeltaSink(root, "trades", partitions=("pumpfun", "pumpswap"))

    first = sink.build_part("delta", "pumpfun", None)
    first.write_batch(trades[:10])
    durable = first.snapshot()  # what Bytewax keeps; the crashed run commits once more after it
    first.write_batch(trades[10:20])
    first.snapshot()
    table = DeltaTable(f"{root}/trades")
    assert (table.version(), len(delta_rows(f"{root}/trades"))) == (2, 20), "created, then a commit per snapshot"

    resumed = sink.build_part("delta", "pumpfun", durable)  # deletes what came after the snapshot
    assert len(delta_rows(f"{root}/trades")) == 10
    resumed.write_batch(trades[10:20])
    resumed.write_batch(trades[20:30])
    resumed.close()
    rows = pl.scan_delta(f"{root}/trades").collect()
    assert rows.height == 30 and rows["signature"].n_unique() == len({t.signature for t in trades})
    assert sorted(rows["sink_epoch"].unique().to_list()) == [0, 1]

    # A fresh run numbers on after the partition's commits and leaves them alone.
    fresh = sink.build_part("delta", "pumpfun", None)
    fresh.write_batch(trades[:1])
    fresh.close()
    assert pl.scan_delta(f"{root}/trades").collect()["sink_epoch"].max() == 2

    # solflow compact --delta merges a table's files (a file per commit) and keeps its rows.
    rows = delta_rows(f"{root}/trades")
    done = subprocess.run(
        [sys.executable, "-m", "solflow.cli.main", "compact", "--delta", root, "--json"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    files = json.loads(done.stdout)
    assert files["before"]["trades"] > files["after"]["trades"] >= 1
    assert delta_rows(f"{root}/trades") == rows


def test_delta_rows_are_the_parquet_rows_in_delta_types(lake: str) -> None:
    root = f"{lake}/types-{next(_names)}"
    trades: list[TradeEvent] = [trade(i) for i in range(10)]
    trades.append(trade(10, token_amount_raw=2**64 - 1, block_time=None))
    for program in sorted({t.program for t in trades}):
        part = DeltaSink(root, "trades", partitions=sorted({t.program for t in trades})).build_part("d", program, None)
        part.write_batch([t for t in trades if t.program == program])
        part.close()
    _, _, table_of = dataset_tables("trades")
    parquet = pl.from_arrow(table_of(trades))
    assert isinstance(parquet, pl.DataFrame)
    delta = pl.scan_delta(f"{root}/trades").collect()
    assert delta.columns == [*parquet.columns, *BOOKKEEPING]
    assert delta.schema["token_amount_raw"] == pl.Decimal(20, 0) and delta.schema["block_time"] == pl.Datetime(
        "us", "UTC"
    )
    back = delta.select(pl.col(name).cast(dtype) for name, dtype in parquet.schema.items())
    assert sorted(back.rows(), key=repr) == sorted(parquet.rows(), key=repr)
    dates = delta.filter(pl.col("block_time").is_null())["date"].to_list()
    assert dates == [None], "a trade without time has no date"
    assert delta.schema["date"] == pl.Date and DeltaTable(f"{root}/trades").metadata().partition_columns == ["date"]
