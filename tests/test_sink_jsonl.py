"""Legacy JSONL sink: line format, rotation, and exactly-once files under Bytewax recovery."""

from __future__ import annotations

import hashlib
import json
import os
import time
from datetime import timedelta
from pathlib import Path

import base58
import bytewax.operators as op
import pytest
from bytewax.dataflow import Dataflow
from bytewax.recovery import RecoveryConfig, init_db_dir
from bytewax.testing import TestingSink, TestingSource, cluster_main, run_main

from sinks.jsonl import LEGACY_FIELDS, LINE_FIELDS, LegacyJsonlSink, legacy_line
from sinks.schema import TRADE_COLUMNS
from solflow.domain.programs import BY_NAME, PROGRAM_NAMES, WSOL_MINT
from solflow.domain.trade import TradeEvent

TRADE_NAMES = [name for name, _ in TRADE_COLUMNS]
USDC_MINT = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"
MIB = 1024 * 1024


def fixture_trades(fixtures_dir: Path) -> list[TradeEvent]:
    """The mainnet trades of ``expected/trades.jsonl`` as TradeEvents."""
    trades = []
    for line in (fixtures_dir / "expected" / "trades.jsonl").read_text().splitlines():
        row = json.loads(line)
        if row["kind"] != "trade":
            continue
        trades.append(
            TradeEvent(
                signature=row["signature"],
                slot=row["slot"] or 0,
                tx_index=0,
                block_time=row["block_time"],
                program=row["program"],
                program_id=row["program_id"],
                direction=row["direction"],
                trader=row["trader"],
                fee_payer=row["fee_payer"],
                mint=row["mint"],
                quote_mint=row["quote_mint"],
                token_amount_raw=row["token_amount_raw"],
                token_decimals=row["token_decimals"],
                quote_amount_raw=row["quote_amount_raw"],
                quote_decimals=row["quote_decimals"],
                fee_amount_raw=row["fee_amount_raw"],
                outer_ix_index=row["outer_ix_index"],
                inner_ix_index=row["inner_ix_index"],
                via=row["via"],
                pool=None,
                is_dca=False,
                decode_source="log_event" if row["inner_ix_index"] is None else "cpi_event",
            )
        )
    return trades


def synthetic_trade(i: int, program: str = "pumpswap") -> TradeEvent:
    """A distinct, deterministic trade number ``i`` (amounts vary so line lengths vary)."""
    sig = base58.b58encode(hashlib.sha512(f"sig{i}".encode()).digest()).decode()
    mint = base58.b58encode(hashlib.sha256(f"mint{i % 7}".encode()).digest()).decode()
    wallet = base58.b58encode(hashlib.sha256(f"wallet{i % 5}".encode()).digest()).decode()
    return TradeEvent(
        signature=sig,
        slot=300_000_000 + i,
        tx_index=i % 50,
        block_time=1_760_000_000 + i,
        program=program,
        program_id=BY_NAME[program].program_id,
        direction="buy" if i % 3 else "sell",
        trader=wallet,
        fee_payer=wallet,
        mint=mint,
        quote_mint=WSOL_MINT,
        token_amount_raw=10 ** (i % 12) + i,
        token_decimals=6,
        quote_amount_raw=1_000_000 * (i + 1),
        quote_decimals=9,
        fee_amount_raw=i * 10,
        outer_ix_index=i % 4,
        inner_ix_index=None if i % 5 == 0 else i % 3,
        via=None,
        pool=mint,
        is_dca=False,
        decode_source="cpi_event",
    )


def visible_files(program_dir: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(program_dir.iterdir()) if p.is_file()}


def all_files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def write_all(out: Path, trades: list[TradeEvent], batch: int, max_mb: float, keep: int) -> None:
    part = LegacyJsonlSink(out, max_mb, keep).build_part("out", "pumpswap", None)
    for start in range(0, len(trades), batch):
        part.write_batch(trades[start : start + batch])
    part.close()


# ---------------------------------------------------------------- line format


def test_line_has_the_eleven_legacy_keys_first_then_every_trade_field(fixtures_dir: Path) -> None:
    trades = fixture_trades(fixtures_dir)
    assert {t.program for t in trades} >= {"pumpswap", "pumpfun", "launchlab", "moonshot"}
    for trade in trades:
        line = legacy_line(trade)
        assert line.endswith("\n") and line.count("\n") == 1 and ": " not in line and ", " not in line
        record = json.loads(line)
        assert tuple(record) == LINE_FIELDS
        assert LINE_FIELDS[:11] == LEGACY_FIELDS
        assert set(TRADE_NAMES) <= set(record)
        for name in TRADE_NAMES:  # the fields and the decimal-adjusted amounts, named as in SQLite and Parquet
            assert record[name] == getattr(trade, name), name
        assert record["quote_amount"] == trade.quote_amount_raw / 10**trade.quote_decimals
        assert record["timestamp"] == trade.block_time
        assert record["program_name"] == BY_NAME[trade.program].legacy_name
        assert record["action"] == trade.direction.upper()
        assert record["user_account"] == trade.trader
        if trade.quote_mint == WSOL_MINT:
            assert record["sol_amount"] == trade.quote_amount_raw / 1e9
        else:
            assert record["sol_amount"] is None
        assert record["token_amount"] == trade.token_amount_raw / 10**trade.token_decimals
        expected_disc = {
            ("pumpswap", "buy"): "67f4521f2cf57777",
            ("pumpswap", "sell"): "3e2f370aa503dc2a",
        }.get((trade.program, trade.direction), "bddb7fd34ee661ee")
        assert record["discriminator"] == expected_disc


def reference_line(t: TradeEvent) -> str:
    """The line as ``json.dumps`` writes it: the format ``legacy_line`` must produce byte for byte."""
    disc = {("pumpswap", "buy"): "67f4521f2cf57777", ("pumpswap", "sell"): "3e2f370aa503dc2a",
            ("jupiter_dca", "buy"): "8604113fdd2db1ad", ("jupiter_dca", "sell"): "8604113fdd2db1ad"}  # fmt: skip
    record = {
        "timestamp": t.block_time,
        "signature": t.signature,
        "program_id": t.program_id,
        "program_name": BY_NAME[t.program].legacy_name,
        "action": t.direction.upper(),
        "mint": t.mint,
        "sol_amount": t.quote_amount_raw / 1e9 if t.quote_mint == WSOL_MINT else None,
        "token_amount": None if t.token_decimals is None else t.token_amount_raw / 10**t.token_decimals,
        "token_decimals": t.token_decimals,
        "user_account": t.trader,
        "discriminator": "0000000000000000"
        if t.decode_source == "balance_delta"
        else disc.get((t.program, t.direction), "bddb7fd34ee661ee"),
    }
    record.update((k, v) for k, v in t.to_dict().items() if k not in record)
    record.update(quote_amount=t.quote_amount, fee_amount=t.fee_amount)
    return json.dumps({name: record[name] for name in LINE_FIELDS}, separators=(",", ":")) + "\n"


def test_line_is_byte_identical_to_json_dumps(fixtures_dir: Path) -> None:
    trades = fixture_trades(fixtures_dir) + [synthetic_trade(i, PROGRAM_NAMES[i % 5]) for i in range(60)]
    base = synthetic_trade(7)
    trades += [
        TradeEvent(**{**base.to_dict(), "quote_mint": USDC_MINT, "token_decimals": None, "block_time": None}),
        TradeEvent(**{**base.to_dict(), "decode_source": "balance_delta", "via": "Router1111", "is_dca": True}),
        TradeEvent(**{**base.to_dict(), "token_amount_raw": 2**64 - 1, "token_decimals": 0, "quote_amount_raw": 1}),
    ]
    for trade in trades:
        assert legacy_line(trade) == reference_line(trade)


def test_exact_line_for_a_sol_quoted_buy() -> None:
    trade = TradeEvent(
        signature="SIG", slot=7, tx_index=2, block_time=1732700000, program="pumpswap",
        program_id=BY_NAME["pumpswap"].program_id, direction="buy", trader="USER", fee_payer="PAYER",
        mint="MINT", quote_mint=WSOL_MINT, token_amount_raw=1_000_000_000_000, token_decimals=6,
        quote_amount_raw=1_500_000_000, quote_decimals=9, fee_amount_raw=15_000_000,
        outer_ix_index=3, inner_ix_index=None, via=None, pool="POOL", is_dca=False,
        decode_source="log_event", real_base_reserves=90_000_000_000_000, real_quote_reserves=85_000_000_000,
    )  # fmt: skip
    assert legacy_line(trade) == (
        '{"timestamp":1732700000,"signature":"SIG",'
        '"program_id":"pAMMBay6oceH9fJKBRHGP5D4bD4sWpmSwMn52FMfXEA","program_name":"PumpSwap",'
        '"action":"BUY","mint":"MINT","sol_amount":1.5,"token_amount":1000000.0,"token_decimals":6,'
        '"user_account":"USER","discriminator":"67f4521f2cf57777",'
        '"slot":7,"tx_index":2,"block_time":1732700000,"program":"pumpswap","direction":"buy",'
        '"trader":"USER","fee_payer":"PAYER","quote_mint":"So11111111111111111111111111111111111111112",'
        '"token_amount_raw":1000000000000,"quote_amount_raw":1500000000,"quote_decimals":9,'
        '"fee_amount_raw":15000000,"outer_ix_index":3,"inner_ix_index":null,"via":null,'
        '"pool":"POOL","is_dca":false,"decode_source":"log_event","quote_amount":1.5,"fee_amount":0.015,'
        '"virtual_base_reserves":null,"virtual_quote_reserves":null,"real_base_reserves":90000000000000,'
        '"real_quote_reserves":85000000000}\n'
    )


def test_non_sol_quote_unknown_decimals_and_balance_fallback() -> None:
    base = synthetic_trade(1, "launchlab")
    usdc = TradeEvent(**{**base.to_dict(), "quote_mint": USDC_MINT, "quote_decimals": 6})
    record = json.loads(legacy_line(usdc))
    assert record["sol_amount"] is None
    assert record["quote_amount_raw"] == base.quote_amount_raw and record["quote_mint"] == USDC_MINT
    assert record["quote_amount"] == base.quote_amount_raw / 10**6
    assert record["program_name"] == "BonkSwap"

    no_decimals = TradeEvent(**{**base.to_dict(), "token_decimals": None, "block_time": None})
    record = json.loads(legacy_line(no_decimals))
    assert record["token_amount"] is None and record["token_decimals"] is None
    assert record["timestamp"] is None and record["token_amount_raw"] == base.token_amount_raw

    fallback = TradeEvent(**{**base.to_dict(), "decode_source": "balance_delta"})
    assert json.loads(legacy_line(fallback))["discriminator"] == "0000000000000000"

    dca = synthetic_trade(2, "jupiter_dca")
    assert json.loads(legacy_line(dca))["discriminator"] == "8604113fdd2db1ad"


# ---------------------------------------------------------------- partitions


def test_one_partition_per_program_and_unknown_programs_rejected() -> None:
    sink = LegacyJsonlSink(Path("unused"), 1, 1)
    parts = sink.list_parts()
    assert sorted(parts) == sorted(PROGRAM_NAMES)
    assert sorted(parts[sink.part_fn(p) % len(parts)] for p in PROGRAM_NAMES) == sorted(PROGRAM_NAMES)
    with pytest.raises(ValueError, match="raydium"):
        sink.part_fn("raydium")
    with pytest.raises(ValueError, match="max_rotations"):
        LegacyJsonlSink(Path("unused"), 1, 0)


# ---------------------------------------------------------------- rotation


def test_rotation_keeps_the_newest_files_in_order(tmp_path: Path) -> None:
    trades = [synthetic_trade(i) for i in range(120)]
    lines = [legacy_line(t) for t in trades]
    max_bytes = 4 * max(len(line) for line in lines)
    write_all(tmp_path, trades, batch=7, max_mb=max_bytes / MIB, keep=3)

    program_dir = tmp_path / "streams" / "pumpswap"
    names = sorted(p.name for p in program_dir.iterdir() if p.is_file())
    assert names == ["events.jsonl", "events.jsonl.1", "events.jsonl.2", "events.jsonl.3"]
    oldest_first = ["events.jsonl.3", "events.jsonl.2", "events.jsonl.1", "events.jsonl"]
    kept = "".join((program_dir / n).read_text() for n in oldest_first)
    assert "".join(lines).endswith(kept)
    assert len(kept.splitlines()) < len(lines)  # older files were dropped
    for name in names:
        size = (program_dir / name).stat().st_size
        assert 0 < size <= int(max_bytes / MIB * MIB)
    # only the kept generations remain, as hard links of the visible files
    archive = sorted((program_dir / ".generations").iterdir())
    assert len(archive) == 4
    assert all(p.stat().st_nlink == 2 for p in archive)


def test_rotation_points_do_not_depend_on_batching(tmp_path: Path) -> None:
    trades = [synthetic_trade(i) for i in range(90)]
    max_mb = 3000 / MIB
    write_all(tmp_path / "a", trades, batch=1, max_mb=max_mb, keep=50)
    write_all(tmp_path / "b", trades, batch=90, max_mb=max_mb, keep=50)
    write_all(tmp_path / "c", trades, batch=13, max_mb=max_mb, keep=50)
    a = all_files(tmp_path / "a")
    assert len([n for n in a if "/events.jsonl." in n]) >= 5
    assert a == all_files(tmp_path / "b") == all_files(tmp_path / "c")


def test_a_line_longer_than_the_limit_gets_a_file_of_its_own(tmp_path: Path) -> None:
    trades = [synthetic_trade(i) for i in range(3)]
    write_all(tmp_path, trades, batch=3, max_mb=100 / MIB, keep=5)
    files = visible_files(tmp_path / "streams" / "pumpswap")
    assert files == {
        "events.jsonl": legacy_line(trades[2]).encode(),
        "events.jsonl.1": legacy_line(trades[1]).encode(),
        "events.jsonl.2": legacy_line(trades[0]).encode(),
    }


# ---------------------------------------------------------------- recovery, driving partitions


@pytest.mark.parametrize(
    "crash_after, keep, rotations",
    [(3, 6, "none"), (25, 6, "some"), (70, 2, "more than kept")],
)
def test_resume_from_snapshot_equals_an_uninterrupted_run(
    tmp_path: Path, crash_after: int, keep: int, rotations: str
) -> None:
    trades = [synthetic_trade(i) for i in range(100)]
    max_mb = 21_000 / MIB  # about 19 lines per file
    write_all(tmp_path / "at_snapshot", trades[:30], batch=30, max_mb=max_mb, keep=keep)
    write_all(tmp_path / "straight", trades, batch=10, max_mb=max_mb, keep=keep)

    sink = LegacyJsonlSink(tmp_path / "crashed", max_mb, keep)
    part = sink.build_part("out", "pumpswap", None)
    part.write_batch(trades[:30])
    snapshot = part.snapshot()
    part.write_batch(trades[30 : 30 + crash_after])  # written, never snapshotted: then kill -9
    rotated = part.snapshot()[0] - snapshot[0]
    assert {"none": rotated == 0, "some": 0 < rotated <= keep, "more than kept": rotated > keep}[rotations]
    del part

    resumed = sink.build_part("out", "pumpswap", snapshot)
    if rotations != "more than kept":  # then the oldest files are gone until the replay drops them again
        assert all_files(tmp_path / "crashed") == all_files(tmp_path / "at_snapshot")
    for start in range(30, 100, 9):  # the replay re-emits from the snapshot, batched differently
        resumed.write_batch(trades[start : start + 9])
    resumed.close()
    assert all_files(tmp_path / "crashed") == all_files(tmp_path / "straight")


def test_restart_without_recovery_appends_and_repairs_visible_names(tmp_path: Path) -> None:
    trades = [synthetic_trade(i) for i in range(60)]
    max_mb = 2500 / MIB
    write_all(tmp_path / "straight", trades, batch=60, max_mb=max_mb, keep=4)

    write_all(tmp_path / "restarted", trades[:35], batch=5, max_mb=max_mb, keep=4)
    program_dir = tmp_path / "restarted" / "streams" / "pumpswap"
    # a rotation interrupted half-way: names moved or missing
    (program_dir / "events.jsonl.2").unlink()
    os.replace(program_dir / "events.jsonl", program_dir / "events.jsonl.1")
    write_all(tmp_path / "restarted", trades[35:], batch=5, max_mb=max_mb, keep=4)
    assert all_files(tmp_path / "restarted") == all_files(tmp_path / "straight")


def test_adopts_files_left_by_the_original_system(tmp_path: Path) -> None:
    program_dir = tmp_path / "streams" / "pumpswap"
    program_dir.mkdir(parents=True)
    (program_dir / "events.jsonl").write_text('{"old":"active"}\n')
    (program_dir / "events.jsonl.1").write_text('{"old":"rotated"}\n')
    trades = [synthetic_trade(i) for i in range(3)]
    line_bytes = max(len(legacy_line(t)) for t in trades)
    write_all(tmp_path, trades, batch=3, max_mb=(line_bytes + 20) / MIB, keep=3)
    files = visible_files(program_dir)
    assert files["events.jsonl.3"] == b'{"old":"rotated"}\n'
    assert files["events.jsonl.2"].startswith(b'{"old":"active"}\n')
    assert files["events.jsonl"] == legacy_line(trades[2]).encode()
    assert files["events.jsonl.1"] == legacy_line(trades[1]).encode()


# ---------------------------------------------------------------- recovery in a real dataflow


def _slow_at(marker: str, seconds: float):
    def maybe_pause(item: tuple[str, TradeEvent]) -> tuple[str, TradeEvent]:
        if item[1].signature == marker:
            time.sleep(seconds)  # lets the epoch close here, so later writes are uncommitted
        return item

    return maybe_pause


def _recovery_flow(items: list, out: Path, seen: list, marker: str) -> Dataflow:
    flow = Dataflow("jsonl_recovery")
    trades = op.input("trades", flow, TestingSource(items, batch_size=4))
    keyed = op.map("slow", op.key_on("by_program", trades, lambda t: t.program), _slow_at(marker, 0.6))
    op.output("seen", keyed, TestingSink(seen))
    op.output("legacy", keyed, LegacyJsonlSink(out, 2500 / MIB, 3))
    return flow


def test_abort_and_resume_in_run_main_equals_uninterrupted_run(tmp_path: Path) -> None:
    trades = [synthetic_trade(i, PROGRAM_NAMES[i % 3]) for i in range(150)]
    marker = trades[40].signature

    straight_seen: list = []
    run_main(_recovery_flow(trades, tmp_path / "straight", straight_seen, marker))
    assert len(straight_seen) == len(trades)

    recovery_dir = tmp_path / "recovery"
    recovery_dir.mkdir()
    init_db_dir(recovery_dir, 1)
    config = RecoveryConfig(str(recovery_dir))
    crashing = trades[:120] + [TestingSource.ABORT()] + trades[120:]
    seen: list = []
    for _ in range(2):  # the first execution aborts at the sentinel, the second resumes
        run_main(
            _recovery_flow(crashing, tmp_path / "crashed", seen, marker),
            epoch_interval=timedelta(milliseconds=500),
            recovery_config=config,
        )
    assert len(seen) > len(trades), "the resumed run should have replayed uncommitted trades"
    straight, crashed = all_files(tmp_path / "straight"), all_files(tmp_path / "crashed")
    assert any(name.endswith("events.jsonl.1") for name in crashed)
    assert crashed == straight


def test_four_workers_write_the_same_files_as_one(tmp_path: Path) -> None:
    trades = [synthetic_trade(i, PROGRAM_NAMES[i % 5]) for i in range(200)]

    def flow(out: Path) -> Dataflow:
        f = Dataflow("jsonl_workers")
        keyed = op.key_on("by_program", op.input("trades", f, TestingSource(trades, 8)), lambda t: t.program)
        op.output("legacy", keyed, LegacyJsonlSink(out, 3000 / MIB, 5))
        return f

    run_main(flow(tmp_path / "one"))
    cluster_main(flow(tmp_path / "four"), [], 0, worker_count_per_proc=4)
    one = all_files(tmp_path / "one")
    assert {n.split("/")[1] for n in one} == set(PROGRAM_NAMES)
    assert all_files(tmp_path / "four") == one
