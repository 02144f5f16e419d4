"""The token tables of real ``python -m bytewax.run flows.solflow`` runs over the embedded sample:
names, prices, market caps, bonding progress, DCA minutes and persistence scores, each checked
against values computed here from the trades, the lifecycle records (``solflow decode``) and the
scorer's definition. (``test_flow_runs`` compares these tables across worker counts, processes and a
``kill -9`` + ``-r`` resume.)"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from fractions import Fraction
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from test_flow_support import REPO_ROOT, assert_ok, flow_env, run_flow, sample_capture

from solflow.domain.pricing import USDC_MINT
from solflow.domain.programs import WSOL_MINT
from solflow.domain.scorer import ScoreInput, score_all

WINDOWS = (60, 300, 900, 3600, 7200, 14400)


@pytest.fixture(scope="module")
def sample_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("enriched")
    assert_ok(run_flow(flow_env(out, sample_capture(), SOLFLOW_PROGRESS="off")))
    return out


@pytest.fixture(scope="module")
def lifecycle() -> list[dict[str, Any]]:
    """The sample's lifecycle records, as ``solflow decode`` prints them."""
    done = subprocess.run(
        [sys.executable, "-m", "solflow.cli.main", "decode", str(sample_capture()), "--kind", "lifecycle"],
        capture_output=True, text=True, cwd=REPO_ROOT, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def table(out: Path, sql: str) -> list[dict[str, Any]]:
    db = sqlite3.connect(out / "solflow.db")
    db.row_factory = sqlite3.Row
    try:
        return [dict(row) for row in db.execute(sql)]
    finally:
        db.close()


def trades(out: Path) -> pl.DataFrame:
    frame = pl.read_parquet(out / "trades" / "*" / "*.parquet", hive_partitioning=False)
    inner = pl.col("inner_ix_index").fill_null(-1)
    return frame.with_columns(pl.col("block_time").dt.epoch("s")).sort(
        "block_time", "slot", "tx_index", "outer_ix_index", inner
    )


def exact(quote: int, base: int, quote_decimals: int, token_decimals: int) -> float:
    return float(Fraction(quote, 10**quote_decimals) / Fraction(base, 10**token_decimals))


def test_every_mint_has_a_price_and_progress_within_0_and_1(sample_out: Path) -> None:
    rows = table(sample_out, "SELECT * FROM token_aggregates")
    metadata = {row["mint"]: row for row in table(sample_out, "SELECT * FROM token_metadata")}
    assert len(rows) > 100
    for row in rows:
        assert row["price"] > 0 and row["price_sol"] > 0, row["mint"]
        if row["quote_mint"] == WSOL_MINT:
            assert row["price_sol"] == row["price"], row["mint"]
        if metadata[row["mint"]]["launch_program"] in ("pumpfun", "launchlab"):  # it has a curve
            assert 0 <= row["bonding_progress"] <= 1, row["mint"]
        else:
            assert row["bonding_progress"] is None or metadata[row["mint"]]["graduated"]
        # no SOLFLOW_SOL_USD: USD only for a USD stablecoin quote, else null (never 0)
        assert row["price_usd"] == (row["price"] if row["quote_mint"] == USDC_MINT else None)
    assert sum(1 for row in rows if row["quote_mint"] == WSOL_MINT) > 0.9 * len(rows)


def test_other_quotes_reach_sol_at_the_streams_own_latest_rate(sample_out: Path) -> None:
    """A USDC-quoted curve and an xStock-quoted pool keep their quote in ``price``; ``price_sol`` is
    that price at the latest rate of the quote the stream showed by the row's tick: the sample's
    Jupiter DCA fills buying USDC and the xStock with SOL (SOL per whole unit = lamports / units)."""
    everything = trades(sample_out).with_columns(tick=-(-pl.col("block_time") // 5) * 5)
    others = table(sample_out, f"SELECT * FROM token_aggregates WHERE quote_mint != '{WSOL_MINT}'")
    assert USDC_MINT in {row["quote_mint"] for row in others} and len({row["quote_mint"] for row in others}) >= 2
    for row in others:
        fills = everything.filter(
            pl.col("program") == "jupiter_dca",
            pl.col("mint") == row["quote_mint"],
            pl.col("quote_mint") == WSOL_MINT,
            pl.col("tick") <= row["ts"],
        )
        assert fills.height > 0, f"no rate of {row['quote_mint']} before {row['ts']}"
        fill = fills.row(-1, named=True)
        sol_per_unit = exact(fill["quote_amount_raw"], fill["token_amount_raw"], 9, fill["token_decimals"])
        if row["quote_mint"] == USDC_MINT:
            assert 140 < 1 / sol_per_unit < 160  # the simulated market's 150 USD a SOL, give or take
        assert row["price_sol"] == pytest.approx(row["price"] * sol_per_unit, rel=1e-12), row["mint"]
        if row["market_cap"] is not None:
            assert row["market_cap_sol"] == pytest.approx(row["market_cap"] * sol_per_unit, rel=1e-12)


def test_price_is_the_latest_trades_reserves_ratio_and_market_cap_price_times_supply(sample_out: Path) -> None:
    latest = trades(sample_out).group_by("mint", maintain_order=True).last()
    metadata = {row["mint"]: row for row in table(sample_out, "SELECT * FROM token_metadata")}
    checked = 0
    for row in table(sample_out, f"SELECT * FROM token_aggregates WHERE quote_mint = '{WSOL_MINT}'"):
        trade = latest.filter(pl.col("mint") == row["mint"]).row(0, named=True)
        if trade["quote_mint"] != WSOL_MINT:
            continue
        if trade["virtual_base_reserves"] is not None:
            base, quote = trade["virtual_base_reserves"], trade["virtual_quote_reserves"]
        elif trade["real_base_reserves"] is not None:
            base, quote = trade["real_base_reserves"], trade["real_quote_reserves"]
        else:
            base, quote = trade["token_amount_raw"], trade["quote_amount_raw"]
        assert row["price"] == exact(quote, base, 9, trade["token_decimals"]), row["mint"]
        meta = metadata[row["mint"]]
        if meta["supply_raw"] is not None:
            supply = int(meta["supply_raw"]) / 10 ** meta["token_decimals"]
            assert row["market_cap_sol"] == pytest.approx(row["price_sol"] * supply, rel=1e-12)
        else:
            assert row["market_cap_sol"] is None
        checked += 1
    assert checked > 100


def test_price_changes_compare_with_the_price_a_window_earlier(sample_out: Path) -> None:
    """Each history row's ``price_change_{300,3600}s``: its price over the price of the mint's latest
    row in the same quote at least that many seconds earlier, minus 1; null without one (a mint bought
    with USDC by a DCA order before it traded against SOL switches to SOL)."""
    history = pl.read_parquet(sample_out / "aggregates" / "*" / "*.parquet", hive_partitioning=False)
    history = history.with_columns(pl.col("ts").dt.epoch("s")).sort("mint", "ts")
    compared = 0
    for (_mint,), rows in history.group_by("mint"):
        series = rows.select("ts", "price", "quote_mint", "price_change_300s", "price_change_3600s").rows()
        for ts, price, quote, *changes in series:
            for window, change in zip((300, 3600), changes, strict=True):
                earlier = [then for t, then, q, *_ in series if t <= ts - window and q == quote]
                if not earlier:
                    assert change is None
                    continue
                assert change == pytest.approx(price / earlier[-1] - 1, rel=1e-9, abs=1e-12)
                compared += 1
    assert compared > 50


def test_names_for_every_mint_created_in_the_sample(sample_out: Path, lifecycle: list[dict[str, Any]]) -> None:
    created = {r["mint"]: r for r in lifecycle if r["kind"] == "token_created"}
    assert len(created) > 50
    metadata = {row["mint"]: row for row in table(sample_out, "SELECT * FROM token_metadata")}
    for mint, event in created.items():
        meta = metadata[mint]
        assert (meta["token_name"], meta["token_symbol"], meta["token_uri"]) == (
            event["name"],
            event["symbol"],
            event["uri"],
        )
        assert (meta["launch_program"], meta["creator"], meta["created_slot"], meta["created_ts"]) == (
            event["program"],
            event["creator"],
            event["slot"],
            event["block_time"],
        )
        assert int(meta["supply_raw"]) == event["supply"] and meta["token_decimals"] == event["decimals"]
        assert meta["rpc_slot"] is None
    named = {mint for mint, meta in metadata.items() if meta["token_name"]}
    assert named == set(created)  # without RPC, only creations name a mint


def test_migrated_mints_are_graduated_with_full_progress(sample_out: Path, lifecycle: list[dict[str, Any]]) -> None:
    migrated = {r["mint"]: r for r in lifecycle if r["kind"] == "migrated"}
    assert migrated
    for mint, event in migrated.items():
        (meta,) = table(sample_out, f"SELECT * FROM token_metadata WHERE mint = '{mint}'")
        assert (meta["graduated"], meta["migrated_slot"], meta["amm_pool"]) == (1, event["slot"], event["pool"])
        (row,) = table(sample_out, f"SELECT bonding_progress FROM token_aggregates WHERE mint = '{mint}'")
        assert row["bonding_progress"] == 1.0
    tokens = pl.read_parquet(sample_out / "tokens" / "*" / "*.parquet", hive_partitioning=False)
    latest = tokens.sort("ts").group_by("mint").last()
    assert latest.height == len(table(sample_out, "SELECT mint FROM token_metadata"))
    assert set(latest.filter(pl.col("graduated")).get_column("mint")) == set(migrated)


def test_a_completed_curve_has_progress_1_and_graduates_only_on_migration(
    sample_out: Path, lifecycle: list[dict[str, Any]]
) -> None:
    completed = {r["mint"]: r for r in lifecycle if r["kind"] == "curve_completed"}
    migrated = {r["mint"]: r for r in lifecycle if r["kind"] == "migrated"}
    assert len(set(completed) & set(migrated)) >= 2
    history = pl.read_parquet(sample_out / "aggregates" / "*" / "*.parquet", hive_partitioning=False)
    tokens = pl.read_parquet(sample_out / "tokens" / "*" / "*.parquet", hive_partitioning=False)
    for mint, event in completed.items():
        done_tick = -(-event["block_time"] // 5) * 5
        rows = history.filter(pl.col("mint") == mint).with_columns(pl.col("ts").dt.epoch("s"))
        assert rows.filter(pl.col("ts") < done_tick).get_column("bonding_progress").max() < 1  # type: ignore[operator]
        assert set(rows.filter(pl.col("ts") >= done_tick).get_column("bonding_progress")) == {1.0}
        changes = tokens.filter(pl.col("mint") == mint).with_columns(pl.col("ts").dt.epoch("s")).sort("ts")
        graduated = changes.filter(pl.col("graduated")).get_column("ts")
        if mint not in migrated:  # sold out at the end of the sample, not migrated (yet)
            assert graduated.is_empty()
            continue
        migrated_tick = -(-migrated[mint]["block_time"] // 5) * 5
        assert graduated.min() == migrated_tick > done_tick  # complete first, graduated at the migration


def test_dca_minutes_count_the_dca_buys(sample_out: Path) -> None:
    buys = trades(sample_out).filter(pl.col("is_dca"), pl.col("direction") == "buy")
    expected = (
        buys.with_columns(minute=pl.col("block_time") // 60 * 60, sol=pl.col("quote_mint") == WSOL_MINT)
        .group_by("mint", "minute")
        .agg(
            pl.len().alias("dca_buys"),
            (pl.when(pl.col("sol")).then(pl.col("quote_amount_raw")).otherwise(0).sum() / 1e9).alias("volume"),
        )
    )
    stored = table(sample_out, "SELECT * FROM dca_activity_buckets")
    assert len(stored) == expected.height > 0
    for row in stored:
        want = expected.filter(pl.col("mint") == row["mint"], pl.col("minute") == row["minute"]).row(0, named=True)
        assert row["dca_buys"] == want["dca_buys"]
        assert row["dca_buy_volume_sol"] == pytest.approx(want["volume"], rel=1e-12)


def test_scores_are_the_scorer_of_the_final_state(sample_out: Path) -> None:
    """The final scoring, recomputed from the current-state rows, the metadata and the signals."""
    summary = table(sample_out, "SELECT * FROM token_signal_summary")
    assert summary
    (now,) = {row["ts"] for row in summary}
    metadata = {row["mint"]: row for row in table(sample_out, "SELECT * FROM token_metadata")}
    on = table(sample_out, "SELECT mint, ts FROM token_signals WHERE state = 'on'")
    inputs = []
    for row in table(sample_out, "SELECT * FROM token_aggregates"):
        meta = metadata[row["mint"]]
        times = [s["ts"] for s in on if s["mint"] == row["mint"]]
        inputs.append(
            ScoreInput(
                mint=row["mint"],
                net_flows=tuple(row[f"net_flow_{w}s_sol"] for w in WINDOWS),
                net_flow_300s=row["net_flow_300s_sol"],
                net_flow_900s=row["net_flow_900s_sol"],
                net_flow_3600s=row["net_flow_3600s_sol"],
                unique_wallets_300s=row["unique_wallets_300s"],
                buy_count_300s=row["buy_count_300s"],
                sell_count_300s=row["sell_count_300s"],
                bot_trades_300s=row["bot_trades_300s"],
                dca_buys_3600s=row["dca_buys_3600s"],
                first_seen_ts=meta["first_seen_ts"],
                launch_ts=meta["created_ts"] if meta["created_ts"] is not None else meta["migrated_ts"],
                appearance_24h=sum(1 for t in times if now - 86_400 < t <= now),
                appearance_72h=sum(1 for t in times if now - 259_200 < t <= now),
            )
        )
    expected = sorted((score.as_row() for score in score_all(inputs, now)), key=lambda r: r["mint"])
    assert sorted(summary, key=lambda r: r["mint"]) == expected
    # the Parquet scores/ hold every scoring, the last of them this one
    history = pl.read_parquet(sample_out / "scores" / "*" / "*.parquet").with_columns(pl.col("ts").dt.epoch("s"))
    assert sorted(history.filter(pl.col("ts") == now).to_dicts(), key=lambda r: r["mint"]) == expected
    times = sorted(set(history.get_column("ts")))
    assert len(times) > 3 and all(t % 60 == 0 for t in times[:-1])  # a scoring a minute of chain time ...
    assert times[-1] == now  # ... and the last at the end of the input
    assert {r["pattern_tag"] for r in summary} >= {"ACCUMULATION", "NOISE"}


def test_a_fixed_sol_price_converts_usd_quotes(tmp_path: Path) -> None:
    assert_ok(run_flow(flow_env(tmp_path, sample_capture(), SOLFLOW_PROGRESS="off", SOLFLOW_SOL_USD="150")))
    rows = table(tmp_path, "SELECT * FROM token_aggregates")
    usdc = [row for row in rows if row["quote_mint"] == USDC_MINT]
    assert usdc
    for row in rows:
        if row["quote_mint"] == WSOL_MINT:
            assert row["price_usd"] == pytest.approx(row["price"] * 150, rel=1e-15)
        elif row["quote_mint"] == USDC_MINT:  # the fixed rate, not the stream's
            assert (row["price_usd"], row["price_sol"]) == (row["price"], pytest.approx(row["price"] / 150))
        else:  # an xStock: SOL at the stream's rate, then USD at the fixed one
            assert row["price_usd"] == pytest.approx(row["price_sol"] * 150, rel=1e-15)


# ---------------------------------------------------------------- mainnet fixtures through the flow


@pytest.fixture(scope="module")
def fixtures_run(tmp_path_factory: pytest.TempPathFactory, fixtures_dir: Path) -> tuple[Path, dict[str, Any]]:
    """A flow run over every mainnet fixture transaction (``solflow capture import-rpc``), and the
    fixtures' records as ``solflow decode`` prints them, by signature."""
    work = tmp_path_factory.mktemp("fixtures")
    capture = work / "fixtures.capture"
    cli = [sys.executable, "-m", "solflow.cli.main"]
    files = [str(path) for path in sorted((fixtures_dir / "rpc").glob("*/*.json"))]
    imported = subprocess.run([*cli, "capture", "import-rpc", *files, "-o", str(capture)],
                              capture_output=True, text=True, cwd=REPO_ROOT, timeout=300)  # fmt: skip
    assert imported.returncode == 0, imported.stderr
    decoded = subprocess.run([*cli, "decode", str(capture), "--kind", "all"],
                             capture_output=True, text=True, cwd=REPO_ROOT, timeout=300)  # fmt: skip
    assert decoded.returncode == 0, decoded.stderr
    by_signature: dict[str, list[dict[str, Any]]] = {}
    for line in decoded.stdout.splitlines():
        record = json.loads(line)
        by_signature.setdefault(record["signature"], []).append(record)
    out = work / "out"
    # The fixtures span years: retention off keeps every (long idle) mint's row.
    assert_ok(run_flow(flow_env(out, capture, SOLFLOW_PROGRESS="off", SOLFLOW_RETENTION="off")))
    return out, by_signature


def fixture_records(records: dict[str, list[dict[str, Any]]], prefix: str) -> dict[str, dict[str, Any]]:
    """The records of the fixture transaction whose signature starts with ``prefix``, by kind (one each)."""
    (signature,) = [s for s in records if s.startswith(prefix)]
    kinds = [r["kind"] for r in records[signature]]
    return {r["kind"]: r for r in records[signature] if kinds.count(r["kind"]) == 1}


def test_fixtures_pumpfun_create_and_buy_give_name_supply_price_and_market_cap(
    fixtures_run: tuple[Path, dict[str, Any]],
) -> None:
    out, records = fixtures_run
    tx = fixture_records(records, "2RoRJxat")
    created, buy = tx["token_created"], tx["trade"]
    (meta,) = table(out, f"SELECT * FROM token_metadata WHERE mint = '{created['mint']}'")
    assert (meta["token_name"], meta["token_symbol"], meta["token_decimals"], int(meta["supply_raw"])) == (
        "The Ass Statue", "TAS", 6, 10**15,
    )  # fmt: skip
    assert (meta["launch_program"], meta["created_slot"], meta["graduated"]) == ("pumpfun", created["slot"], 0)
    (row,) = table(out, f"SELECT * FROM token_aggregates WHERE mint = '{created['mint']}'")
    # the price is the buy event's virtual reserves after it: 32.962962962 SOL / 976,550,561.855907 tokens
    assert (buy["virtual_quote_reserves"], buy["virtual_base_reserves"]) == (32_962_962_962, 976_550_561_855_907)
    assert row["price_sol"] == row["price"] == exact(32_962_962_962, 976_550_561_855_907, 9, 6)
    assert row["market_cap_sol"] == row["price_sol"] * 1_000_000_000  # price × the 10^9 whole tokens minted
    sold = 793_100_000_000_000 - buy["real_base_reserves"]  # of the 793.1 M tokens the curve sells
    assert row["bonding_progress"] == pytest.approx(sold / 793_100_000_000_000, rel=1e-12)
    assert 0 < row["bonding_progress"] < 0.13  # a 3 SOL first buy


def test_fixtures_migration_graduates_with_full_progress(fixtures_run: tuple[Path, dict[str, Any]]) -> None:
    out, records = fixtures_run
    tx = fixture_records(records, "2ffHb9AX")
    migrated, swap = tx["migrated"], tx["trade"]
    (meta,) = table(out, f"SELECT * FROM token_metadata WHERE mint = '{migrated['mint']}'")
    assert (meta["graduated"], meta["migrated_slot"], meta["migrated_ts"], meta["amm_pool"]) == (
        1, migrated["slot"], migrated["block_time"], migrated["pool"],
    )  # fmt: skip
    assert int(meta["supply_raw"]) == 10**15  # a pump.fun token: minted whole at creation
    # after graduation the price is the PumpSwap pool's, from its reserves after the buy (the history
    # row of the migration's tick); nine hours later the mint trades again (fixture 59GXCxvQ): still
    # graduated, priced by that trade, its market cap known
    history = pl.read_parquet(out / "aggregates" / "*" / "*.parquet", hive_partitioning=False)
    at_migration = history.filter(
        pl.col("mint") == migrated["mint"], pl.col("ts").dt.epoch("s") == -(-migrated["block_time"] // 5) * 5
    ).row(0, named=True)
    later = fixture_records(records, "59GXCxvQ")["trade"]
    (current,) = table(out, f"SELECT * FROM token_aggregates WHERE mint = '{migrated['mint']}'")
    for row, trade in ((at_migration, swap), (current, later)):
        assert trade["mint"] == migrated["mint"] and row["bonding_progress"] == 1.0
        assert row["price_sol"] == exact(trade["real_quote_reserves"], trade["real_base_reserves"], 9, 6)
        assert row["market_cap_sol"] == pytest.approx(row["price_sol"] * 1_000_000_000, rel=1e-12)
    assert current["last_trade_ts"] == later["block_time"] > migrated["block_time"] + 4 * 3600


@pytest.mark.parametrize(
    ("prefix", "program", "reserves"),
    [("mqSGNwKK", "launchlab", "virtual"), ("3QvhUBMp", "pumpswap", "real")],
)
def test_fixtures_launchlab_and_pumpswap_mints_are_priced_from_their_events(
    fixtures_run: tuple[Path, dict[str, Any]], prefix: str, program: str, reserves: str
) -> None:
    out, records = fixtures_run
    trade = fixture_records(records, prefix)["trade"]
    assert trade["program"] == program
    (row,) = table(out, f"SELECT * FROM token_aggregates WHERE mint = '{trade['mint']}'")
    quote, base = trade[f"{reserves}_quote_reserves"], trade[f"{reserves}_base_reserves"]
    assert row["price_sol"] == row["price"] == exact(quote, base, 9, trade["token_decimals"])
    if program == "launchlab":  # the curve's creation is in the same transaction
        (meta,) = table(out, f"SELECT * FROM token_metadata WHERE mint = '{trade['mint']}'")
        assert meta["token_name"] == "PenguX" and 0 < row["bonding_progress"] < 1
        assert row["market_cap_sol"] == pytest.approx(row["price_sol"] * int(meta["supply_raw"]) / 1e6, rel=1e-12)
    else:  # an AMM mint created before the capture: no curve, no supply without RPC
        assert row["bonding_progress"] is None and row["market_cap_sol"] is None
