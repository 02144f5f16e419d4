"""Token state on real mainnet transactions: names, supply, price, market cap, bonding progress and
graduation from the decoded trades and lifecycle records (``solflow.domain.tokens``), each checked
against the numbers in the transaction's own events."""

from __future__ import annotations

import pickle
from collections.abc import Iterable, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from solflow.domain.decode import TransactionDecoder
from solflow.domain.lifecycle import CurveCompleted, LifecycleEvent, Migrated, TokenCreated
from solflow.domain.pricing import (
    PUMPFUN_TOKENS_FOR_SALE,
    USDC_MINT,
    curve_progress,
    launchlab_tokens_for_sale,
    trade_price,
)
from solflow.domain.programs import WSOL_MINT
from solflow.domain.token_accounts import TokenAccountFacts
from solflow.domain.tokens import (
    NO_ENRICHMENT,
    SolUsdPoint,
    TokenBook,
    TokenConfig,
    is_token_lifecycle,
    sol_usd_point,
    token_trade,
)
from solflow.domain.trade import TradeEvent
from sources.rpc_json import load_rpc_file, rpc_to_updates


def records(fixtures_dir: Path, program: str, prefix: str) -> list[Any]:
    """Trades and lifecycle records of one fixture transaction, in chain order."""
    (path,) = sorted((fixtures_dir / "rpc" / program).glob(f"{prefix}*.json"))
    decoder = TransactionDecoder()
    out: list[Any] = []
    for tx in load_rpc_file(path):
        updates = rpc_to_updates(tx)
        block_time = next((u.block_meta.block_time.timestamp for u in updates[1:] if u.HasField("block_meta")), None)
        out += decoder.decode_all(updates[0].transaction.transaction, updates[0].transaction.slot, block_time)
    return out


def book_of(items: Iterable[Any], config: TokenConfig | None = None) -> tuple[TokenBook, int]:
    """A book fed with these records and finished; (book, its last tick)."""
    book = TokenBook(config or TokenConfig())
    last = 0
    for item in items:
        if type(item) is TradeEvent:
            book.add(token_trade(item))
            last = max(last, item.block_time or 0)
        elif is_token_lifecycle(item):
            book.add(item)
            last = max(last, item.block_time or 0)
    book.finish(-(-last // book.config.tick_s) * book.config.tick_s)
    return book, book.last_tick


def exact(quote: int, base: int, quote_decimals: int, token_decimals: int) -> float:
    """quote / base in whole units, rounded once (the float nearest the exact ratio)."""
    return float(Fraction(quote, 10**quote_decimals) / Fraction(base, 10**token_decimals))


def only(items: Sequence[Any], kind: type) -> Any:
    (found,) = [item for item in items if type(item) is kind]
    return found


def test_pumpfun_create_and_buy_give_names_supply_price_and_market_cap(fixtures_dir):
    items = records(fixtures_dir, "pumpfun", "2RoRJxat")
    created, trade = only(items, TokenCreated), only(items, TradeEvent)
    book, _ = book_of(items)
    meta = book.metadata(created.mint)
    assert (meta.token_name, meta.token_symbol, meta.token_decimals, meta.supply_raw) == (
        "The Ass Statue",
        "TAS",
        6,
        10**15,
    )
    assert (meta.launch_program, meta.curve, meta.creator) == ("pumpfun", created.curve, created.creator)
    assert (meta.created_slot, meta.created_ts, meta.graduated) == (created.slot, created.block_time, False)
    enrichment = book.enrichment(created.mint)
    # the event's virtual reserves after the buy: 32.962962962 SOL / 976,550,561.855907 tokens
    assert (trade.virtual_quote_reserves, trade.virtual_base_reserves) == (32_962_962_962, 976_550_561_855_907)
    assert enrichment.price == exact(32_962_962_962, 976_550_561_855_907, 9, 6)
    assert enrichment.price_sol == enrichment.price
    assert enrichment.quote_mint == WSOL_MINT
    assert enrichment.market_cap_sol == enrichment.price * 1_000_000_000
    assert enrichment.price_usd is None and enrichment.market_cap_usd is None  # no SOL/USD rate known
    sold = PUMPFUN_TOKENS_FOR_SALE - trade.real_base_reserves
    assert enrichment.bonding_progress == pytest.approx(sold / PUMPFUN_TOKENS_FOR_SALE, rel=1e-12)
    assert 0 < enrichment.bonding_progress < 0.13  # a 3 SOL first buy


def test_migration_sets_graduated_and_full_progress(fixtures_dir):
    items = records(fixtures_dir, "pumpswap", "2ffHb9AX")
    migrated = only(items, Migrated)
    swap = only(items, TradeEvent)
    book, _ = book_of(items)
    meta = book.metadata(migrated.mint)
    assert meta.graduated is True
    assert (meta.migrated_slot, meta.migrated_ts, meta.amm_pool) == (migrated.slot, migrated.block_time, migrated.pool)
    assert meta.launch_program == "pumpfun"
    enrichment = book.enrichment(migrated.mint)
    assert enrichment.bonding_progress == 1.0
    # after graduation the price is the PumpSwap pool's: its reserves after the buy
    assert enrichment.price == exact(swap.real_quote_reserves, swap.real_base_reserves, 9, 6)


def test_completed_curve_has_progress_one():
    trade = _trade(program="pumpfun", virtual_base=279_900_000_000_000, virtual_quote=115_005_359_057, real_base=0)
    assert curve_progress("pumpfun", 0, trade.virtual_base_reserves, None, 6) == 1.0
    book = TokenBook(TokenConfig())
    book.add(token_trade(_trade(program="pumpfun", real_base=400_000_000_000_000, time=100)))
    book.advance(100)
    assert 0.49 < book.enrichment("M1nt").bonding_progress < 0.5
    book.add(_completed("M1nt", time=103))
    book.advance(105)
    assert book.enrichment("M1nt").bonding_progress == 1.0
    assert book.metadata("M1nt").graduated is False  # graduated only on migration


def test_launchlab_price_and_progress_from_its_events(fixtures_dir):
    items = records(fixtures_dir, "launchlab", "mqSGNwKK")  # PenguX: a curve that sells 800,000,000
    created, trade = only(items, TokenCreated), only(items, TradeEvent)
    book, _ = book_of(items)
    enrichment = book.enrichment(created.mint)
    assert enrichment.price == exact(trade.virtual_quote_reserves, trade.virtual_base_reserves, 9, 6)
    virtual_only = trade.virtual_base_reserves - trade.real_base_reserves
    assert launchlab_tokens_for_sale(virtual_only, created.supply) == 800_000_000_000_000
    sold = trade.token_amount_raw  # the creation's first buy
    assert enrichment.bonding_progress == pytest.approx(sold / 800_000_000_000_000, rel=1e-12)
    assert book.metadata(created.mint).token_name == "PenguX"


def test_launchlab_standard_curve_sells_793_1_million(fixtures_dir):
    trade = only(records(fixtures_dir, "launchlab", "5LzhiGZB"), TradeEvent)
    virtual_only = trade.virtual_base_reserves - trade.real_base_reserves
    assert launchlab_tokens_for_sale(virtual_only, 10**15) == pytest.approx(793_100_000_000_000, rel=1e-9)


def test_pumpswap_price_from_pool_reserves(fixtures_dir):
    trade = only(records(fixtures_dir, "pumpswap", "3QvhUBMp"), TradeEvent)
    book, _ = book_of([trade])
    enrichment = book.enrichment(trade.mint)
    assert enrichment.price == exact(trade.real_quote_reserves, trade.real_base_reserves, 9, 6)
    assert enrichment.bonding_progress is None  # an AMM has no curve
    meta = book.metadata(trade.mint)
    assert (meta.amm_pool, meta.launch_program, meta.graduated, meta.token_name) == (trade.pool, None, None, None)
    assert enrichment.market_cap is None  # a mint created before the run: supply unknown without RPC


def test_moonshot_price_from_amounts(fixtures_dir):
    trade = only(records(fixtures_dir, "moonshot", "5UWcde33"), TradeEvent)
    assert trade.virtual_base_reserves is None and trade.real_base_reserves is None
    expected = exact(trade.quote_amount_raw, trade.token_amount_raw, 9, trade.token_decimals)
    assert trade_price(trade) == expected
    book, _ = book_of([trade])
    assert book.metadata(trade.mint).launch_program == "moonshot"
    assert book.enrichment(trade.mint).bonding_progress is None


def test_usdc_quoted_curve_stays_in_usdc_until_a_rate_is_known(fixtures_dir):
    trade = only(records(fixtures_dir, "pumpfun", "2m5nWLnD"), TradeEvent)
    assert trade.quote_mint == USDC_MINT
    book, _ = book_of([trade])
    enrichment = book.enrichment(trade.mint)
    usdc_price = exact(trade.virtual_quote_reserves, trade.virtual_base_reserves, 6, 6)
    assert (enrichment.quote_mint, enrichment.price, enrichment.price_usd) == (USDC_MINT, usdc_price, usdc_price)
    assert enrichment.price_sol is None
    fixed, _ = book_of([trade], TokenConfig(sol_usd=200.0))
    assert fixed.enrichment(trade.mint).price_sol == usdc_price / 200.0
    assert fixed.enrichment(trade.mint).market_cap_sol == pytest.approx(usdc_price / 200.0 * 1_000_000_000, rel=1e-15)


def test_sol_usd_from_the_streams_own_trades():
    usdc_for_sol = _trade(
        program="jupiter_dca",
        mint=USDC_MINT,
        quote_mint=WSOL_MINT,
        token_amount=150_000_000,
        quote_amount=1_000_000_000,
    )
    point = sol_usd_point(usdc_for_sol)
    assert isinstance(point, SolUsdPoint) and (point.asset, point.sol) == (USDC_MINT, 1 / 150)  # 150 USDC for 1 SOL
    sol_for_usdc = _trade(
        program="pumpswap",
        mint=WSOL_MINT,
        quote_mint=USDC_MINT,
        token_amount=2_000_000_000,
        quote_amount=300_000_000,
    )
    sol_for_usdc.token_decimals, sol_for_usdc.quote_decimals = 9, 6
    assert sol_usd_point(sol_for_usdc).sol == 1 / 150  # a SOL/USDC pool of any program
    book = TokenBook(TokenConfig(sol_usd_from_stream=True))
    book.add(token_trade(_trade(time=10)))
    book.advance(10)
    assert book.enrichment("M1nt").price_usd is None  # no rate yet: null, never 0
    book.add(point._replace(time=12))
    book.advance(15)
    enrichment = book.enrichment("M1nt")
    assert enrichment.price_usd == pytest.approx(enrichment.price_sol * 150.0, rel=1e-15)


def test_a_usdc_price_reaches_sol_at_the_streams_rate_without_a_usd_setting():
    """The stream's own SOL/USDC rate is chain data: a USDC-quoted mint gets ``price_sol`` from it
    (without ``SOLFLOW_SOL_USD``), while the USD columns of a SOL-quoted mint stay opt-in."""
    usdc_curve = _trade(mint="UsdcCurve", quote_mint=USDC_MINT, time=10, virtual_quote=5_000_000_000)
    sol_curve = _trade(mint="S0lCurve", time=10)
    book = TokenBook(TokenConfig())
    for trade in (usdc_curve, sol_curve):
        book.add(token_trade(trade))
    book.advance(10)
    usdc_price = exact(5_000_000_000, 1_000_000_000_000_000, 6, 6)
    before = book.enrichment("UsdcCurve")
    assert before.price == before.price_usd == usdc_price
    assert before.price_sol is None and before.market_cap_sol is None  # no rate yet: null, never 0
    rate = _trade(program="jupiter_dca", mint=USDC_MINT, time=14, token_amount=160_000_000, quote_amount=10**9)
    book.add(sol_usd_point(rate))
    book.advance(15)
    after = book.enrichment("UsdcCurve")
    assert (after.quote_mint, after.price, after.price_usd) == (USDC_MINT, usdc_price, usdc_price)
    assert after.price_sol == pytest.approx(usdc_price / 160, rel=1e-15)  # 160 USDC a SOL
    assert after.market_cap_sol == pytest.approx(after.market_cap / 160, rel=1e-15)
    assert book.enrichment("S0lCurve").price_usd is None  # SOL -> USD needs SOLFLOW_SOL_USD
    fixed = TokenBook(TokenConfig(sol_usd=200.0))  # a fixed SOL price wins over the stream's
    fixed.add(token_trade(usdc_curve))
    fixed.add(sol_usd_point(rate))
    fixed.advance(15)
    assert fixed.enrichment("UsdcCurve").price_sol == usdc_price / 200.0


def test_an_xstock_price_reaches_sol_at_its_latest_dca_fill_against_sol():
    xstock = "XSt0ck"
    pool = _trade(mint="B0nk", program="launchlab", quote_mint=xstock, time=10, virtual_quote=1_500_000_000)
    book = TokenBook(TokenConfig(sol_usd=150.0))
    book.add(token_trade(pool))
    # a DCA order buying the xStock with SOL: 0.5 xStock (6 decimals here) for 1 SOL, then 0.4
    for time, units in ((12, 500_000), (22, 400_000)):
        fill = _trade(
            program="jupiter_dca", mint=xstock, time=time, token_amount=units, quote_amount=10**9, is_dca=True
        )
        assert sol_usd_point(fill).asset == xstock
        book.add(sol_usd_point(fill))
        book.advance(time + 3)  # the tick holding the fill
        enrichment = book.enrichment("B0nk")
        price = exact(1_500_000_000, 1_000_000_000_000_000, 6, 6)
        assert (enrichment.quote_mint, enrichment.price) == (xstock, price)
        assert enrichment.price_sol == pytest.approx(price * 10**6 / units, rel=1e-15)
        assert enrichment.price_usd == pytest.approx(enrichment.price_sol * 150.0, rel=1e-15)
    # a launch curve's or an AMM's trade of a token against SOL is no quote rate: only DCA fills and stablecoins
    assert sol_usd_point(_trade(mint=xstock, program="pumpswap")) is None
    assert sol_usd_point(_trade(mint=xstock, program="pumpfun")) is None
    # a rate the stream stopped renewing is forgotten with the trading state (keep_s)
    later = 22 + 14_405
    book.add(token_trade(_trade(mint="B0nk", program="launchlab", quote_mint=xstock, time=later)))
    book.advance(later + 60)
    assert book.enrichment("B0nk").price_sol is None


def test_price_change_compares_with_the_price_a_window_earlier():
    book = TokenBook(TokenConfig())
    book.add(token_trade(_trade(time=1000, virtual_quote=30_000_000_000)))
    book.add(token_trade(_trade(time=1200, virtual_quote=33_000_000_000)))
    book.add(token_trade(_trade(time=1310, virtual_quote=36_000_000_000)))
    book.advance(1310)
    enrichment = book.enrichment("M1nt")
    assert enrichment.price_change_300s == pytest.approx(36 / 30 - 1)  # vs the price at 1010: the trade at 1000
    assert enrichment.price_change_3600s is None  # nothing an hour earlier
    book.advance(1505)
    assert book.enrichment("M1nt").price_change_300s == pytest.approx(36 / 33 - 1)


def test_price_columns_asked_at_every_tick_equal_those_asked_once():
    """A token keeps its price columns between changes; asked at every tick, they must be what a book
    asked only at that tick gives, as each price change's "price then" moves."""
    quotes = ((1000, 30), (1200, 33), (1310, 36), (2000, 34), (4700, 40))
    facts = [token_trade(_trade(time=time, virtual_quote=sol * 1_000_000_000)) for time, sol in quotes]

    def fed() -> TokenBook:
        book = TokenBook(TokenConfig())
        for fact in facts:
            book.add(fact)
        return book

    watched, seen = fed(), set()
    for tick in range(1000, 5400, 5):
        watched.advance(tick)
        once = fed()
        once.advance(tick)
        assert watched.enrichment("M1nt") == once.enrichment("M1nt"), tick
        seen.add(once.enrichment("M1nt")[-2:])
    assert len(seen) > len(quotes)  # the price changes moved between the trades too


def test_changes_apply_at_their_tick_whatever_the_arrival_order():
    created = _created("M1nt", time=100)
    first = token_trade(_trade(time=100, outer=3))
    later = token_trade(_trade(time=107, outer=1, virtual_quote=40_000_000_000))
    outputs = []
    for order in ([created, first, later], [later, first, created]):
        book = TokenBook(TokenConfig())
        for fact in order:
            book.add(fact)
        book.advance(110)
        outputs.append((book.take_metadata_rows(), book.enrichment("M1nt")))
    assert outputs[0] == outputs[1]
    rows = outputs[0][0]
    assert [row["ts"] for row in rows] == [100]  # one row: the creation's tick; the later trade changed no metadata
    assert rows[0]["token_name"] == "Test"


def test_rpc_answers_apply_at_a_fixed_event_time():
    asked: list[list[str]] = []

    def resolve(mints):
        asked.append(list(mints))
        return {
            m: TokenAccountFacts(m, slot=999, name="Rpc Name", symbol="RPC", decimals=6, supply=5 * 10**14)
            for m in mints
        }

    book = TokenBook(TokenConfig(rpc=True))
    book.add(token_trade(_trade(program="pumpswap", time=100)))
    assert book.take_lookups() == ["M1nt"]  # asked for at once
    book.advance(125, resolve)
    assert asked == [] and book.metadata("M1nt").token_name is None  # due 30 s after first seen
    book.advance(130, resolve)
    assert asked == [["M1nt"]]
    meta = book.metadata("M1nt")
    assert (meta.token_name, meta.supply_raw, meta.rpc_slot, meta.ts) == ("Rpc Name", 5 * 10**14, 999, 130)
    assert book.enrichment("M1nt").market_cap is not None
    created = TokenBook(TokenConfig(rpc=True))
    created.add(_created("M2nt", time=100))
    assert created.take_lookups() == []  # a creation says everything


def test_finish_applies_lookups_whose_time_never_came():
    book = TokenBook(TokenConfig(rpc=True))
    book.add(token_trade(_trade(program="pumpswap", time=100)))
    book.advance(100)
    book.finish(105, lambda mints: {m: TokenAccountFacts(m, slot=1, symbol="X") for m in mints})
    assert book.metadata("M1nt").token_symbol == "X"
    assert book.take_metadata_rows()[-1]["ts"] == 105


def test_a_mint_quiet_longer_than_its_windows_keeps_its_metadata_for_the_retention():
    config = TokenConfig(keep_s=3600, metadata_keep_s=86_400)
    book = TokenBook(config)
    book.add(_created("M1nt", time=100))
    book.add(token_trade(_trade(time=100)))
    book.advance(100)
    book.advance(100 + 3600 + 120)  # quiet past its windows: the trading state goes
    assert "M1nt" not in book and book.enrichment("M1nt") == NO_ENRICHMENT
    book.take_metadata_rows()
    book = pickle.loads(pickle.dumps(book))  # a shard's snapshot keeps it (-r)
    book.add(token_trade(_trade(time=5000, virtual_quote=45_000_000_000)))
    book.advance(5000)
    meta = book.metadata("M1nt")
    assert (meta.token_name, meta.supply_raw, meta.first_seen_ts, meta.created_ts) == ("Test", 10**15, 100, 100)
    assert book.enrichment("M1nt").market_cap is not None
    assert book.take_metadata_rows() == []  # nothing it knew changed
    book.advance(5000 + 3600 + 86_400 + 120)  # quiet past the retention too: forgotten
    book.add(token_trade(_trade(time=100_000)))
    book.advance(100_000)
    assert book.metadata("M1nt").token_name is None and book.metadata("M1nt").first_seen_ts == 100_000


def test_dca_minutes_count_buys_and_sol_volume():
    book = TokenBook(TokenConfig())
    for time, amount in ((61, 1_000_000_000), (100, 500_000_000), (125, 2_000_000_000)):
        book.add(token_trade(_trade(program="jupiter_dca", time=time, quote_amount=amount, is_dca=True)))
    book.add(token_trade(_trade(program="jupiter_dca", time=70, direction="sell", is_dca=True)))
    book.advance(130)
    assert book.take_dca_rows() == [
        {"mint": "M1nt", "minute": 60, "dca_buys": 2, "dca_buy_volume_sol": 1.5},
        {"mint": "M1nt", "minute": 120, "dca_buys": 1, "dca_buy_volume_sol": 2.0},
    ]


def _trade(
    *,
    mint: str = "M1nt",
    program: str = "pumpfun",
    quote_mint: str = WSOL_MINT,
    time: int = 100,
    outer: int = 2,
    direction: str = "buy",
    token_amount: int = 1_000_000,
    quote_amount: int = 1_000,
    virtual_base: int | None = 1_000_000_000_000_000,
    virtual_quote: int | None = 30_000_000_000,
    real_base: int | None = 700_000_000_000_000,
    is_dca: bool = False,
) -> TradeEvent:
    reserves = program in ("pumpfun", "launchlab")
    return TradeEvent(
        signature="sig",
        slot=time * 2,
        tx_index=0,
        block_time=time,
        program=program,
        program_id="x",
        direction=direction,  # type: ignore[arg-type]
        trader="t",
        fee_payer="t",
        mint=mint,
        quote_mint=quote_mint,
        token_amount_raw=token_amount,
        token_decimals=6,
        quote_amount_raw=quote_amount,
        quote_decimals=9 if quote_mint == WSOL_MINT else 6,
        fee_amount_raw=None,
        outer_ix_index=outer,
        inner_ix_index=None,
        via=None,
        pool="P00l",
        is_dca=is_dca,
        decode_source="cpi_event",
        virtual_base_reserves=virtual_base if reserves else None,
        virtual_quote_reserves=virtual_quote if reserves else None,
        real_base_reserves=real_base if reserves else None,
        real_quote_reserves=1 if reserves else None,
    )


def _where(time: int, outer: int = 1) -> dict[str, Any]:
    return dict(
        signature="sig",
        slot=time * 2,
        tx_index=0,
        block_time=time,
        program="pumpfun",
        program_id="x",
        fee_payer="t",
        outer_ix_index=outer,
        inner_ix_index=None,
        via=None,
        decode_source="cpi_event",
    )


def _created(mint: str, time: int) -> LifecycleEvent:
    return TokenCreated(
        **_where(time),
        mint=mint,
        name="Test",
        symbol="TST",
        uri="u",
        creator="c",
        decimals=6,
        supply=10**15,
        quote_mint=WSOL_MINT,
        curve="P00l",
        token_program=None,
    )


def _completed(mint: str, time: int) -> LifecycleEvent:
    return CurveCompleted(**_where(time), mint=mint, curve="P00l", user="u", quote_mint=WSOL_MINT)
