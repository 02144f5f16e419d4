"""Parquet dataset sink: exact round trips through Polars and DuckDB, hive dates, atomic parts, recovery."""

from __future__ import annotations

import hashlib
import json
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import base58
import bytewax.operators as op
import duckdb
import polars as pl
import pyarrow.parquet as pq
import pytest
from bytewax.dataflow import Dataflow
from bytewax.recovery import RecoveryConfig, init_db_dir
from bytewax.testing import TestingSink, TestingSource, cluster_main, run_main

from sinks.parquet import NULL_DATE, ParquetDatasetSink, polars_schema
from sinks.parquet_files import compact_outputs
from sinks.schema import SIGNAL_COLUMNS, TRADE_COLUMNS, RowShapeError, aggregate_columns
from solflow.domain.aggregate import AggregationConfig, ShardAggregator
from solflow.domain.programs import BY_NAME, WSOL_MINT
from solflow.domain.trade import TRADE_FIELDS, TradeEvent
from solflow.domain.windows import RowBlock
from solflow.settings import DEFAULT_WINDOWS

DAY = 86_400
T0 = 1_761_004_800  # 2025-10-21 00:00:00 UTC
TRADE_NAMES = [name for name, _ in TRADE_COLUMNS]


def b58(seed: str, size: int = 32) -> str:
    return base58.b58encode(hashlib.sha512(seed.encode()).digest()[:size]).decode()


def trade(i: int, **changes: Any) -> TradeEvent:
    program = ("pumpswap", "pumpfun", "launchlab", "moonshot", "jupiter_dca")[i % 5]
    values = dict(
        signature=b58(f"sig{i}", 64),
        slot=320_000_000 + i,
        tx_index=i % 30,
        block_time=T0 + 37 * i,
        program=program,
        program_id=BY_NAME[program].program_id,
        direction="sell" if i % 4 == 0 else "buy",
        trader=b58(f"w{i % 6}"),
        fee_payer=b58(f"w{i % 6}"),
        mint=b58(f"m{i % 5}"),
        quote_mint=WSOL_MINT,
        token_amount_raw=987_654_321 * (i + 1),
        token_decimals=6,
        quote_amount_raw=5_000_000 + 17 * i,
        quote_decimals=9,
        fee_amount_raw=None if i % 6 == 0 else 12_500 + i,
        outer_ix_index=i % 3,
        inner_ix_index=None if program == "moonshot" else 2,
        via=None,
        pool=b58(f"pool{i % 5}"),
        is_dca=program == "jupiter_dca",
        decode_source="log_event" if program == "moonshot" else "cpi_event",
    )
    values.update(changes)
    return TradeEvent(**values)


def aggregate_blocks(start: int, minutes: int, mints: int = 5) -> list[RowBlock]:
    """History rows of a real shard: a trade per mint each minute from ``start`` (plus USDC-quoted
    ones, so some averages are null), then the clock run on until every window has emptied."""
    aggregator = ShardAggregator(AggregationConfig(), ["p"])
    blocks = []
    for minute in range(minutes):
        for m in range(mints):
            quote = WSOL_MINT if (minute + m) % 3 else "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"
            aggregator.add_trade(trade(minute * mints + m, block_time=start + 60 * minute + m, quote_mint=quote))
        blocks += aggregator.advance("p", start + 60 * minute + 59).history
    blocks += aggregator.advance("p", start + 60 * minutes + 14_400 + 60).history
    return blocks


def aggregate_dicts(blocks: list[RowBlock]) -> list[dict[str, Any]]:
    return sorted((row for block in blocks for row in block.dicts(DEFAULT_WINDOWS)), key=lambda r: (r["ts"], r["mint"]))


def signal_row(i: int, ts: int) -> dict[str, Any]:
    on = i % 2 == 0
    return {
        "mint": b58(f"m{i % 5}"),
        "signal_type": "SURGE",
        "window_seconds": 60,
        "severity": 5 if on else None,
        "score": 0.625 if on else None,
        "details": {"net_flow_60s": 9.5, "volume_ratio": 4.0, "buy_count": 12} if on else {},
        "ts": ts,
        "state": "on" if on else "off",
    }


def write(root: Path, dataset: str, values: list[Any], resume: int | None = None, **options: Any) -> int:
    part = ParquetDatasetSink(root, dataset, **options).build_part("out", "part-000", resume)
    part.write_batch(values)
    state = part.snapshot()
    part.close()
    return state


def read(root: Path, dataset: str) -> pl.DataFrame:
    return pl.scan_parquet(root / dataset, hive_partitioning=True).collect()


def scan(root: Path, dataset: str) -> pl.DataFrame:
    """The dataset's rows with their times (stored as Datetime) in unix seconds, as the producers made them."""
    return read(root, dataset).with_columns(pl.col(pl.Datetime).dt.epoch("s"))


def record(t: TradeEvent) -> dict[str, Any]:
    """A trade as its Parquet row: the fields and the decimal-adjusted amounts."""
    return {name: getattr(t, name) for name in TRADE_NAMES}


def files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def visible(root: Path) -> list[str]:
    return [name for name in files(root) if not Path(name).name.startswith(".")]


# ---------------------------------------------------------------- round trips


def test_trades_round_trip_with_exact_values_dtypes_and_dates(tmp_path: Path) -> None:
    trades = [trade(i) for i in range(40)]
    trades.append(trade(40, token_amount_raw=2**64 - 1))  # u64 beyond Int64
    trades.append(trade(41, block_time=None))
    trades.append(trade(42, block_time=T0 + 3 * DAY + 5))
    write(tmp_path, "trades", trades)

    frame = read(tmp_path, "trades")
    assert frame.schema == pl.Schema({**polars_schema(TRADE_COLUMNS), "date": pl.Date()})
    assert frame.schema["block_time"] == pl.Datetime("ms", "UTC") and frame.schema["slot"] == pl.Int64()
    reserves = [f for f in TRADE_FIELDS if f.endswith("_reserves")]
    derived = ["token_amount", "quote_amount", "fee_amount"]
    assert [*(f for f in TRADE_FIELDS if f not in reserves), *derived, *reserves] == TRADE_NAMES
    assert frame.sort("slot").get_column("block_time")[0] == datetime.fromtimestamp(trades[0].block_time, UTC)
    stored = scan(tmp_path, "trades").sort("slot").to_dicts()
    for row, t in zip(stored, trades, strict=True):
        day = row.pop("date")
        assert row == record(t)
        assert day == (None if t.block_time is None else date(1970, 1, 1) + timedelta(days=t.block_time // DAY))
    dirs = sorted(p.name for p in (tmp_path / "trades").iterdir())
    assert dirs == ["date=2025-10-21", "date=2025-10-24", f"date={NULL_DATE}"]


def test_fixture_trades_round_trip(fixtures_dir: Path, tmp_path: Path) -> None:
    rows = [json.loads(line) for line in (fixtures_dir / "expected" / "trades.jsonl").read_text().splitlines()]
    trades = [
        TradeEvent(
            **{f: r[f] for f in TRADE_FIELDS if f in r and f != "slot"},
            slot=r["slot"] or 0,
            tx_index=0,
            pool=None,
            is_dca=False,
            decode_source="log_event" if r["inner_ix_index"] is None else "cpi_event",
        )
        for r in rows
        if r["kind"] == "trade"
    ]
    write(tmp_path, "trades", trades)
    stored = scan(tmp_path, "trades").drop("date").to_dicts()
    key = lambda d: (d["signature"], d["outer_ix_index"], d["inner_ix_index"] or -1)  # noqa: E731
    assert sorted(stored, key=key) == sorted(map(record, trades), key=key)


def test_aggregates_round_trip_across_days(tmp_path: Path) -> None:
    blocks = aggregate_blocks(T0 - 1200, 40)  # crosses midnight; the final rows come 4 h later
    write(tmp_path, "aggregates", blocks[:7])
    write(tmp_path, "aggregates", blocks[7:])
    assert read(tmp_path, "aggregates").schema == pl.Schema(
        {**polars_schema(aggregate_columns(DEFAULT_WINDOWS)), "date": pl.Date()}
    )
    frame = scan(tmp_path, "aggregates")
    assert frame.sort("ts", "mint").drop("date").to_dicts() == aggregate_dicts(blocks)
    assert frame.get_column("avg_trade_size_300s_sol").null_count() > 0
    assert frame.get_column("bot_trades_900s").null_count() == frame.height
    names = files(tmp_path / "aggregates")
    assert names == [
        "date=2025-10-20/part-000-0000000000-merged.parquet",  # 23:00-24:00 of both runs (files 0 and 1)
        "date=2025-10-21/part-000-0000000002.parquet",  # the second run after midnight
        "date=2025-10-21/part-000-0000000003.parquet",  # the final rows, four hours later
    ]


def test_signals_round_trip_with_details_as_json(tmp_path: Path) -> None:
    rows = [signal_row(i, T0 + 5 * i) for i in range(6)]
    write(tmp_path, "signals", rows)
    assert read(tmp_path, "signals").drop("date").schema == polars_schema(SIGNAL_COLUMNS)
    frame = scan(tmp_path, "signals").sort("ts")
    stored = frame.drop("date").to_dicts()
    for record, row in zip(stored, rows, strict=True):
        assert json.loads(record.pop("details")) == row["details"]
        assert record == {k: v for k, v in row.items() if k != "details"}


def test_duckdb_reads_the_dataset(tmp_path: Path) -> None:
    trades = [trade(i) for i in range(25)] + [trade(25, token_amount_raw=2**64 - 1)]
    write(tmp_path, "trades", trades[:10])
    write(tmp_path, "trades", trades[10:])  # a second part, from a second run
    query = (
        "SELECT count(*), sum(quote_amount_raw), max(token_amount_raw), typeof(max(token_amount_raw)), "
        "typeof(any_value(date)), count(DISTINCT date), typeof(any_value(block_time)), min(epoch(block_time)) "
        f"FROM read_parquet('{tmp_path}/trades/**/*.parquet', hive_partitioning = true)"
    )
    with duckdb.connect() as con:
        count, quote_sum, token_max, token_type, date_type, days, time_type, first = con.execute(query).fetchall()[0]
    assert (count, quote_sum, token_max) == (26, sum(t.quote_amount_raw for t in trades), 2**64 - 1)
    assert (token_type, date_type, days) == ("UBIGINT", "DATE", 1)
    assert (time_type, first) == ("TIMESTAMP WITH TIME ZONE", trades[0].block_time)


# ---------------------------------------------------------------- parts


def test_a_file_per_hour_in_row_groups_renamed_when_the_hour_is_done(tmp_path: Path) -> None:
    trades = [trade(i, block_time=T0 + 30 * i) for i in range(400)]  # 3 h 20 min
    part = ParquetDatasetSink(tmp_path, "trades", row_group_rows=50, recovery=False).build_part("out", "part-000", None)
    day = tmp_path / "trades" / "date=2025-10-21"
    for start in range(0, 400, 7):
        part.write_batch(trades[start : start + 7])
        if start == 245:  # rows of hour 2 arrived: hour 0 is done, hour 1 may still get rows
            assert visible(day) == ["part-000-0000000000.parquet"]
            assert sorted(p.name for p in day.glob(".*.tmp")) == [
                ".part-000-0000000001.parquet.tmp",
                ".part-000-0000000002.parquet.tmp",
            ]
    assert part.snapshot() == 4 and len(visible(day)) == 2  # without recovery a snapshot writes nothing
    part.close()
    assert files(day) == [f"part-000-000000000{i}.parquet" for i in range(4)]
    assert not list(day.glob(".*"))
    for name, hour in zip(files(day), range(4)):
        stored = pq.ParquetFile(day / name)
        times = [t.timestamp() for t in stored.read().column("block_time").to_pylist()]
        assert {(t - T0) // 3600 for t in times} == {hour}
        assert stored.metadata.num_row_groups == -(-len(times) // 50)
    assert scan(tmp_path, "trades").sort("slot").drop("date").to_dicts() == [record(t) for t in trades]


def test_late_rows_of_a_closed_hour_are_merged_at_close(tmp_path: Path) -> None:
    trades = [trade(i, block_time=T0 + 60 * i) for i in range(200)]
    part = ParquetDatasetSink(tmp_path, "trades", recovery=False).build_part("out", "part-000", None)
    part.write_batch(trades[:150])  # hours 0, 1, 2: hour 0 is closed
    part.write_batch(trades[:3] + trades[150:])  # three late rows for hour 0
    part.close()
    day = tmp_path / "trades" / "date=2025-10-21"
    assert files(day) == [
        "part-000-0000000000-merged.parquet",  # hour 0: its file and the late rows' file (3)
        "part-000-0000000001.parquet",
        "part-000-0000000002.parquet",
        "part-000-0000000004.parquet",
    ]
    merged = pl.read_parquet(day / "part-000-0000000000-merged.parquet")
    assert merged.height == 63  # the row groups of the two files, in the order they were written
    assert scan(tmp_path, "trades").height == 203


def test_a_new_run_without_recovery_appends_after_existing_parts(tmp_path: Path) -> None:
    assert write(tmp_path, "trades", [trade(i) for i in range(5)]) == 1
    assert write(tmp_path, "trades", [trade(i) for i in range(5, 9)]) == 2
    assert scan(tmp_path, "trades").height == 9


def test_resume_deletes_parts_written_after_the_snapshot(tmp_path: Path) -> None:
    trades = [trade(i, block_time=T0 + DAY * (i % 2) + 200 * i) for i in range(100)]  # two days, many hours
    sink = ParquetDatasetSink(tmp_path, "trades")
    part = sink.build_part("out", "part-000", None)
    part.write_batch(trades[:30])
    snapshot = part.snapshot()
    part.write_batch(trades[30:75])  # hours finished, never snapshotted: then kill -9
    written = files(tmp_path)
    assert len(written) > snapshot
    leftover = tmp_path / "trades" / "date=2025-10-21" / ".part-000-0000000099.parquet.tmp"
    leftover.write_bytes(b"half a part")
    other = tmp_path / "trades" / "date=2025-10-21" / "part-001-0000000007.parquet"
    pl.DataFrame({"slot": [999]}).write_parquet(other)
    del part

    resumed = sink.build_part("out", "part-000", snapshot)
    kept = files(tmp_path)
    assert all(not name.endswith(".tmp") for name in kept)
    assert "trades/date=2025-10-21/part-001-0000000007.parquet" in kept  # another partition's part
    assert len(kept) == snapshot + 2  # the lock file too
    for start in range(30, 100, 11):  # the replay, batched differently
        resumed.write_batch(trades[start : start + 11])
    resumed.close()
    other.unlink()
    assert scan(tmp_path, "trades").sort("slot").drop("date").to_dicts() == list(map(record, trades))


def test_rows_of_another_shape_or_type_are_rejected(tmp_path: Path) -> None:
    part = ParquetDatasetSink(tmp_path, "aggregates").build_part("out", "part-000", None)
    with pytest.raises(RowShapeError, match="RowBlock batches, got list"):
        part.write_batch([[("mint", 1)]])
    other_windows = ShardAggregator(AggregationConfig(windows=(60, 300, 600)), ["p"])
    other_windows.add_trade(trade(1))
    [block] = other_windows.advance("p", T0 + 100).history
    with pytest.raises(RowShapeError, match=r"other windows than \(60, 300, 900"):
        part.write_batch([block])
    signals = ParquetDatasetSink(tmp_path, "signals").build_part("out", "part-000", None)
    extra = {**signal_row(1, T0), "extra": 1}
    with pytest.raises(RowShapeError, match=r"unexpected keys \['extra'\]"):
        signals.write_batch([extra])
    wrong = signal_row(1, T0)
    wrong["severity"] = "high"
    signals.write_batch([wrong])  # types are checked as a row group is converted: at the snapshot here
    with pytest.raises(RowShapeError, match="signal column 'severity'"):
        signals.snapshot()
    with pytest.raises(ValueError, match="unknown dataset"):
        ParquetDatasetSink(tmp_path, "trade")


# ---------------------------------------------------------------- compaction


def test_under_recovery_the_files_of_each_snapshot_are_merged_per_hour(tmp_path: Path) -> None:
    trades = [trade(i, block_time=T0 + 20 * i) for i in range(720)]  # 4 hours
    sink = ParquetDatasetSink(tmp_path, "trades")
    part = sink.build_part("out", "part-000", None)
    day = tmp_path / "trades" / "date=2025-10-21"
    snapshots = {}  # trades written -> snapshot
    for start in range(0, 550, 25):  # a snapshot after every batch, as -r -s 1 makes them
        part.write_batch(trades[start : start + 25])
        snapshots[start + 25] = part.snapshot()
        if start == 475:  # hour 2 is being written: hour 0 is merged, hour 1 may still get rows
            assert visible(day)[0] == "part-000-0000000000-merged.parquet" and len(visible(day)) > 10
    with pytest.raises(BlockingIOError):  # a writer holds the outputs
        compact_outputs(tmp_path)
    del part  # killed: no close, and its lock is gone
    report = compact_outputs(tmp_path)
    assert report.after["trades"] == 4 < report.before["trades"]
    assert visible(day) == [
        "part-000-0000000000-merged.parquet",  # hour 0, merged by the sink
        "part-000-0000000008-merged.parquet",  # hour 1, merged by the sink
        "part-000-0000000016-merged.parquet",  # hour 2, merged by the compaction
        "part-000-0000000024.parquet",  # hour 3: one file
    ]
    assert compact_outputs(tmp_path).after["trades"] == 4  # nothing left to merge
    expected = [record(t) for t in trades[:550]]
    assert scan(tmp_path, "trades").sort("slot").drop("date").to_dicts() == expected

    # A resume from an earlier snapshot cuts the later files' row groups out of the merged ones.
    resumed = sink.build_part("out", "part-000", snapshots[300])
    assert scan(tmp_path, "trades").sort("slot").drop("date").to_dicts() == [record(t) for t in trades[:300]]
    for start in range(300, 720, 40):
        resumed.write_batch(trades[start : start + 40])
    resumed.close()
    assert scan(tmp_path, "trades").sort("slot").drop("date").to_dicts() == [record(t) for t in trades]
    assert len(visible(day)) == 4  # one file per hour


def test_an_interrupted_merge_is_finished_by_the_next_writer(tmp_path: Path) -> None:
    trades = [trade(i, block_time=T0 + 10 * i) for i in range(60)]
    part = ParquetDatasetSink(tmp_path, "trades").build_part("out", "part-000", None)
    day = tmp_path / "trades" / "date=2025-10-21"
    for start in range(0, 60, 20):
        part.write_batch(trades[start : start + 20])
        part.snapshot()
    copies = {name: (day / name).read_bytes() for name in visible(day)}
    part.close()  # merges the hour's three files
    assert visible(day) == ["part-000-0000000000-merged.parquet"]
    for name, data in copies.items():  # as if the merged file was renamed, then the process died
        (day / name).write_bytes(data)
    assert scan(tmp_path, "trades").height == 120
    ParquetDatasetSink(tmp_path, "trades").build_part("out", "part-000", None).close()
    assert visible(day) == ["part-000-0000000000-merged.parquet"]
    assert scan(tmp_path, "trades").height == 60


# ---------------------------------------------------------------- in a real dataflow


def _recovery_flow(items: list, root: Path, seen: list, marker: str) -> Dataflow:
    def maybe_pause(item: tuple[str, TradeEvent]) -> tuple[str, TradeEvent]:
        if item[1].signature == marker:
            time.sleep(0.6)  # lets the epoch close here, so later parts are uncommitted
        return item

    flow = Dataflow("parquet_recovery")
    keyed = op.key_on("by_mint", op.input("trades", flow, TestingSource(items, batch_size=5)), lambda t: t.mint)
    keyed = op.map("slow", keyed, maybe_pause)
    op.output("seen", keyed, TestingSink(seen))
    op.output("parquet", keyed, ParquetDatasetSink(root, "trades", partitions=2))
    return flow


def test_abort_and_resume_in_run_main_leaves_each_row_once(tmp_path: Path) -> None:
    trades = [trade(i) for i in range(160)]
    recovery_dir = tmp_path / "recovery"
    recovery_dir.mkdir()
    init_db_dir(recovery_dir, 1)
    config = RecoveryConfig(str(recovery_dir))
    crashing = trades[:130] + [TestingSource.ABORT()] + trades[130:]
    seen: list = []
    for _ in range(2):  # the first execution aborts at the sentinel, the second resumes
        run_main(
            _recovery_flow(crashing, tmp_path / "out", seen, trades[30].signature),
            epoch_interval=timedelta(milliseconds=500),
            recovery_config=config,
        )
    assert len(seen) > len(trades), "the resumed run should have replayed uncommitted trades"
    stored = scan(tmp_path / "out", "trades").sort("slot").drop("date").to_dicts()
    assert stored == list(map(record, trades))


def test_four_workers_write_the_same_rows_as_one(tmp_path: Path) -> None:
    blocks = aggregate_blocks(T0, 30)

    def flow(root: Path) -> Dataflow:
        f = Dataflow("parquet_workers")
        keyed = op.key_on("by_mint", op.input("rows", f, TestingSource(blocks, 9)), lambda b: b.mints[0])
        op.output("parquet", keyed, ParquetDatasetSink(root, "aggregates", partitions=3))
        return f

    run_main(flow(tmp_path / "one"))
    cluster_main(flow(tmp_path / "four"), [], 0, worker_count_per_proc=4)
    one = scan(tmp_path / "one", "aggregates").sort("ts", "mint")
    assert one.drop("date").to_dicts() == aggregate_dicts(blocks)
    assert scan(tmp_path / "four", "aggregates").sort("ts", "mint").equals(one)


def test_partitions_named_after_keys(tmp_path: Path) -> None:
    sink = ParquetDatasetSink(tmp_path, "trades", partitions=["pumpswap", "jupiter_dca", "pumpfun"])
    assert sink.list_parts() == ["jupiter_dca", "pumpfun", "pumpswap"]
    assert [sink.part_fn(key) for key in ("jupiter_dca", "pumpfun", "pumpswap")] == [0, 1, 2]
    with pytest.raises(ValueError, match="no Parquet partition for key 'moonshot'"):
        sink.part_fn("moonshot")
    part = sink.build_part("out", "pumpfun", None)
    part.write_batch([trade(i) for i in range(3)])
    part.close()
    assert [p.name for p in (tmp_path / "trades").glob("date=*/*.parquet")] == ["pumpfun-0000000000.parquet"]
