"""Rolling windows: exact values at given ticks, decay, idling out, non-SOL quotes, DCA, bot ratings.

Golden sequences with hand-computed answers, plus a model-based check: random trade sets through
``ShardAggregator`` must give exactly the states a brute-force recomputation from the definitions
gives at every tick a mint changed, and the history rows the contract promises (a row per tick with
a trade, a final row when the windows empty). Helpers here are shared by test_signals and
test_aggregate.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from solflow.domain.aggregate import AggregationConfig, Emitted, ShardAggregator
from solflow.domain.bots import is_bot
from solflow.domain.programs import JUPITER_DCA, PUMPFUN, PUMPSWAP, WSOL_MINT
from solflow.domain.trade import TradeEvent
from solflow.domain.windows import PRICE_COLUMN_TYPES, aggregate_columns
from solflow.settings import DEFAULT_WINDOWS

SOL = 1_000_000_000
USDC_MINT = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"

_BASE = TradeEvent(
    signature="sig",
    slot=0,
    tx_index=0,
    block_time=0,
    program=PUMPSWAP.name,
    program_id=PUMPSWAP.program_id,
    direction="buy",
    trader="A",
    fee_payer="A",
    mint="M",
    quote_mint=WSOL_MINT,
    token_amount_raw=1_000_000,
    token_decimals=6,
    quote_amount_raw=SOL,
    quote_decimals=9,
    fee_amount_raw=0,
    outer_ix_index=0,
    inner_ix_index=None,
    via=None,
    pool=None,
    is_dca=False,
    decode_source="cpi_event",
)
_serial = iter(range(1, 10**9))


def make_trade(
    t: int | None,
    direction: str = "buy",
    lamports: int = SOL,
    wallet: str = "A",
    mint: str = "M",
    **fields: Any,
) -> TradeEvent:
    """A trade at block time ``t``; every trade gets its own slot so chain order is total."""
    n = next(_serial)
    return replace(
        _BASE,
        signature=f"sig{n}",
        slot=n,
        block_time=t,
        direction=direction,
        quote_amount_raw=lamports,
        trader=wallet,
        fee_payer=wallet,
        mint=mint,
        **fields,
    )


def dca_buy(t: int, lamports: int = SOL, wallet: str = "D", mint: str = "M") -> TradeEvent:
    return make_trade(
        t, "buy", lamports, wallet, mint, program=JUPITER_DCA.name, program_id=JUPITER_DCA.program_id, is_dca=True
    )


def emitted_rows(emitted: Emitted, windows: Sequence[int] = DEFAULT_WINDOWS) -> list[tuple[str, dict]]:
    """The history rows of one ``advance``/``finish`` as ``("aggregate", row)``, then its signal rows."""
    rows: list[tuple[str, dict]] = []
    for block in emitted.history:
        rows += (("aggregate", row) for row in block.dicts(windows))
    return rows + [("signal", row) for row in emitted.signals]


def step(aggregator: ShardAggregator, partition: str, start: int, until: int) -> list[tuple[str, dict]]:
    """Move ``partition``'s clock from ``start`` to ``until`` one tick at a time and return every
    state a mint was in: ``("aggregate", row)`` per mint and tick at which it changed (its current
    state then; final rows included), then that tick's ``("signal", row)``s."""
    config = aggregator.config
    tick = config.tick_s
    out: list[tuple[str, dict]] = []
    clocks = [*range(start // tick * tick + 1, until, tick), until]
    for clock in clocks:
        emitted = aggregator.advance(partition, clock)
        for block in emitted.finals:
            out += (("aggregate", row) for row in block.dicts(config.windows))
        current = aggregator.current_rows()
        if current is not None:
            out += (("aggregate", row) for row in current.dicts(config.windows))
        out += (("signal", row) for row in emitted.signals)
    return out


def run(
    trades: Iterable[TradeEvent],
    until: int,
    config: AggregationConfig | None = None,
) -> list[tuple[str, dict]]:
    """Feed every trade, then move the single partition's clock to ``until`` tick by tick; returns
    every state and signal row (``step``)."""
    aggregator = ShardAggregator(config or AggregationConfig(), ["p"])
    trades = list(trades)
    for trade in trades:
        aggregator.add_trade(trade)
    start = min((t.block_time for t in trades if t.block_time is not None), default=until)
    return step(aggregator, "p", start - 1, until)


def aggregates(rows: Iterable[tuple[str, dict]], mint: str = "M") -> dict[int, dict]:
    """Aggregate rows of ``mint`` by tick."""
    found: dict[int, dict] = {}
    for kind, row in rows:
        if kind == "aggregate" and row["mint"] == mint:
            assert row["ts"] not in found, f"two rows for {mint} at {row['ts']}"
            found[row["ts"]] = row
    return found


# --- golden sequences ---------------------------------------------------------------------------


def test_single_trade_decays_through_every_window_then_the_mint_is_dropped():
    aggregator = ShardAggregator(AggregationConfig(), ["p"])
    aggregator.add_trade(make_trade(1001, lamports=2 * SOL))
    rows = aggregates(step(aggregator, "p", 1000, 40_000))
    # Leaves window W at the first tick >= 1001 + W.
    assert sorted(rows) == [1005, 1065, 1305, 1905, 4605, 8205, 15405]
    expected_in = {  # tick -> windows still holding the trade
        1005: (60, 300, 900, 3600, 7200, 14400),
        1065: (300, 900, 3600, 7200, 14400),
        1305: (900, 3600, 7200, 14400),
        1905: (3600, 7200, 14400),
        4605: (7200, 14400),
        8205: (14400,),
        15405: (),
    }
    for tick, holding in expected_in.items():
        row = rows[tick]
        for window in (60, 300, 900, 3600, 7200, 14400):
            inside = window in holding
            assert row[f"net_flow_{window}s_sol"] == (2.0 if inside else 0.0), (tick, window)
            assert row[f"buy_count_{window}s"] == int(inside)
            assert row[f"unique_wallets_{window}s"] == int(inside)
            assert row[f"avg_trade_size_{window}s_sol"] == (2.0 if inside else None)
        assert row["last_trade_ts"] == 1001
        assert row["trades_total"] == 1
        assert row["programs"] == ("pumpswap" if holding else "")
    final = rows[15405]
    metrics = list(aggregate_columns(AggregationConfig().windows))[5:]
    assert metrics[0] == "net_flow_60s_sol"
    assert all(final[c] in (0, None) for c in metrics)
    assert len(aggregator) == 0 and aggregator.is_empty
    assert aggregator.advance("p", 100_000) == Emitted() and aggregator.current_rows() is None


def test_the_history_has_the_ticks_with_trades_and_the_final_row():
    aggregator = ShardAggregator(AggregationConfig(), ["p"])
    for t in (1001, 1002, 1003, 1100, 1101):
        aggregator.add_trade(make_trade(t, lamports=2 * SOL))
    history = aggregates(emitted_rows(aggregator.advance("p", 40_000)))
    # Trades entered at 1005, 1100 and 1105; every window emptied at 1101 + 14400 -> 15505.
    assert sorted(history) == [1005, 1100, 1105, 15505]
    assert history[1005]["buy_count_60s"] == 3 and history[1100]["buy_count_60s"] == 1
    assert history[1105]["buy_count_60s"] == 2
    assert history[1105]["buy_count_300s"] == 5 and history[1105]["trades_total"] == 5
    assert history[15505]["buy_count_14400s"] == 0 and history[15505]["programs"] == ""
    # A window merely emptying writes no history, but the current state has it.
    states = aggregates(run([make_trade(t, lamports=2 * SOL) for t in (1001, 1002, 1003, 1100, 1101)], 2000))
    assert states[1065]["buy_count_60s"] == 0 and 1065 not in history


def test_window_membership_is_now_minus_w_exclusive_to_now_inclusive():
    rows = aggregates(run([make_trade(1000)], 2000))
    assert rows[1000]["buy_count_60s"] == 1  # t == now: in
    assert rows[1060]["buy_count_60s"] == 0  # now - 60 == t: out
    assert 1055 not in rows  # nothing changed in (1050, 1055]
    assert rows[1060]["buy_count_300s"] == 1


def test_exact_values_for_a_mixed_sequence():
    trades = [
        make_trade(1001, "buy", 2 * SOL, "A"),
        make_trade(1002, "buy", 500_000_001, "B"),
        make_trade(1003, "sell", 1 * SOL, "A"),
        make_trade(1040, "sell", 250_000_000, "C"),
        make_trade(1090, "buy", 3 * SOL, "B"),
    ]
    rows = aggregates(run(trades, 5000))
    assert sorted(rows)[:5] == [1005, 1040, 1065, 1090, 1100]
    at_1040 = rows[1040]
    assert at_1040["net_flow_60s_sol"] == (2 * SOL + 500_000_001 - SOL - 250_000_000) / SOL
    assert at_1040["buy_count_60s"] == 2 and at_1040["sell_count_60s"] == 2
    assert at_1040["buy_volume_60s_sol"] == 2.500000001
    assert at_1040["sell_volume_60s_sol"] == 1.25
    assert at_1040["unique_wallets_60s"] == 3
    assert at_1040["unique_buyers_60s"] == 2  # A, B
    assert at_1040["unique_sellers_60s"] == 2  # A, C
    assert at_1040["avg_trade_size_60s_sol"] == 3_750_000_001 / (4 * SOL)
    at_1090 = rows[1090]  # 1001..1003 left the 60 s window at 1065
    assert at_1090["buy_count_60s"] == 1 and at_1090["sell_count_60s"] == 1
    assert at_1090["net_flow_60s_sol"] == 2.75
    assert at_1090["unique_wallets_60s"] == 2
    assert at_1090["unique_buyers_60s"] == 1 and at_1090["unique_sellers_60s"] == 1
    assert at_1090["unique_wallets_300s"] == 3 and at_1090["unique_buyers_300s"] == 2
    assert at_1090["buy_count_300s"] == 3 and at_1090["trades_total"] == 5
    assert rows[1100]["sell_count_60s"] == 0  # 1040 left at 1100


def test_non_sol_quotes_count_trades_and_wallets_but_no_sol_amounts():
    trades = [
        make_trade(1001, "buy", 2 * SOL, "A"),
        make_trade(1002, "buy", 7_000_000, "B", quote_mint=USDC_MINT, quote_decimals=6),
        make_trade(1003, "sell", 9_000_000, "C", quote_mint=USDC_MINT, quote_decimals=6),
    ]
    row = aggregates(run(trades, 2000))[1005]
    assert row["buy_count_60s"] == 2 and row["sell_count_60s"] == 1
    assert row["unique_wallets_60s"] == 3 and row["unique_sellers_60s"] == 1
    assert row["net_flow_60s_sol"] == 2.0
    assert row["buy_volume_60s_sol"] == 2.0 and row["sell_volume_60s_sol"] == 0.0
    assert row["avg_trade_size_60s_sol"] == 2.0  # over the one SOL-quoted trade
    only_usdc = aggregates(run(trades[1:], 2000))[1005]
    assert only_usdc["avg_trade_size_60s_sol"] is None and only_usdc["net_flow_60s_sol"] == 0.0


def test_dca_buys_and_programs_seen_in_the_longest_window():
    trades = [
        dca_buy(1001),
        dca_buy(1002, wallet="E"),
        make_trade(1003, "sell", SOL, "D", program=JUPITER_DCA.name, is_dca=True),  # a DCA sell is no DCA buy
        make_trade(1004, "buy", SOL, "F", program=PUMPFUN.name),
        make_trade(5000, "buy", SOL, "G"),
    ]
    rows = aggregates(run(trades, 30_000))
    assert rows[1005]["dca_buys_60s"] == 2 and rows[1005]["dca_buys_14400s"] == 2
    assert rows[1005]["programs"] == "jupiter_dca,pumpfun"
    assert rows[1065]["dca_buys_60s"] == 0 and rows[1065]["dca_buys_300s"] == 2
    assert rows[5000]["programs"] == "jupiter_dca,pumpfun,pumpswap"
    assert rows[15405]["programs"] == "pumpswap" and rows[15405]["dca_buys_14400s"] == 0


def test_idle_mint_emits_a_zero_row_and_comes_back_fresh():
    aggregator = ShardAggregator(AggregationConfig(), ["p"])
    aggregator.add_trade(make_trade(1000))
    aggregator.add_trade(make_trade(1001))
    first = aggregates(emitted_rows(aggregator.advance("p", 20_000)))
    assert max(first) == 15_405 and first[15_405]["trades_total"] == 2 and len(aggregator) == 0
    aggregator.add_trade(make_trade(20_001, wallet="Z"))
    again = aggregates(emitted_rows(aggregator.advance("p", 20_100)))
    assert again[20_005]["trades_total"] == 1 and again[20_005]["unique_wallets_14400s"] == 1


def test_future_trade_held_while_windows_empty_gives_the_same_rows_as_a_later_arrival():
    early = aggregates(run([make_trade(1000), make_trade(30_000)], 40_000))
    aggregator = ShardAggregator(AggregationConfig(), ["p"])
    aggregator.add_trade(make_trade(1000))
    late_arrival = step(aggregator, "p", 999, 20_000)
    aggregator.add_trade(make_trade(30_000))
    late_arrival += step(aggregator, "p", 20_000, 40_000)
    assert aggregates(late_arrival) == early
    assert early[30_000]["trades_total"] == 1


# --- bot rules --------------------------------------------------------------------------------


def _bot_trades(times: Sequence[int], directions: str = "", amounts: Sequence[int | None] = ()) -> list[tuple]:
    directions = directions or "b" * len(times)
    amounts = amounts or [SOL * (i + 1) for i in range(len(times))]
    return [(t, d == "b", a) for t, d, a in zip(times, directions, amounts)]


@pytest.mark.parametrize(
    ("trades", "expected"),
    [
        pytest.param(_bot_trades(range(0, 110, 10)), True, id="rule1-11-trades"),
        pytest.param(_bot_trades(range(0, 100, 10)), False, id="rule1-10-trades"),
        pytest.param(_bot_trades([0, 1, 2, 3]), True, id="rule2-three-1s-gaps"),
        pytest.param(_bot_trades([0, 1, 50, 51, 100, 100]), True, id="rule2-gaps-need-not-be-adjacent"),
        pytest.param(_bot_trades([0, 1, 2, 4]), False, id="rule2-two-fast-gaps"),
        pytest.param(_bot_trades([0, 10, 20, 30, 40], "bsbsb"), True, id="rule3-all-alternate"),
        pytest.param(_bot_trades([0, 10, 20, 30], "bsbs"), True, id="rule3-3-of-3"),
        pytest.param(_bot_trades([0, 10, 20, 30], "bsbb"), False, id="rule3-2-of-3"),
        pytest.param(_bot_trades([0, 10, 20], "bsb"), False, id="rule3-needs-4-trades"),
        pytest.param(_bot_trades([0, 10, 20], "bbb", [SOL, SOL + 50_000, SOL + 99_999]), True, id="rule4-3-of-3"),
        pytest.param(_bot_trades([0, 10, 20], "bbb", [SOL, SOL + 50_000, 2 * SOL]), False, id="rule4-1-of-3"),
        pytest.param(
            _bot_trades([0, 10, 20], "bbb", [SOL, SOL + 100_000, SOL + 200_000]), False, id="rule4-exactly-0.0001-apart"
        ),
        pytest.param(
            _bot_trades([0, 10, 20, 30], "bbbb", [SOL, SOL, SOL, 5 * SOL]), False, id="rule4-3-of-6-not-more-than-half"
        ),
        pytest.param(_bot_trades([0, 10, 20], "bbb", [SOL, SOL, None]), False, id="rule4-non-sol-never-identical"),
        pytest.param(_bot_trades([0, 10], "bb", [SOL, SOL]), False, id="rule4-needs-3-trades"),
    ],
)
def test_bot_rules(trades, expected):
    assert is_bot(trades) is expected


def test_bot_ratings_per_window_and_decay():
    # X trades 11 times in 1001..1051: a bot over 60 s and 300 s (rule 1). Y sells identical
    # amounts 100 s apart: a bot over 300 s once it has 3 trades there (rule 4), never over 60 s.
    trades = [make_trade(1001 + 5 * i, "buy", SOL + i * SOL, "X") for i in range(11)]
    trades += [make_trade(1020 + 100 * i, "sell", SOL, "Y") for i in range(4)]
    trades += [make_trade(1010, "buy", SOL, "Z")]
    rows = aggregates(run(trades, 3000))
    at_1055 = rows[1055]
    assert (at_1055["bot_wallets_60s"], at_1055["bot_trades_60s"]) == (1, 11)
    assert (at_1055["bot_wallets_300s"], at_1055["bot_trades_300s"]) == (1, 11)
    assert at_1055["bot_trades_900s"] is None and at_1055["bot_wallets_14400s"] is None
    # 1001 left the 60 s window: 10 trades 5 s apart, one direction, distinct amounts -- no rule.
    assert (rows[1065]["bot_wallets_60s"], rows[1065]["bot_trades_60s"]) == (0, 0)
    assert rows[1065]["bot_trades_300s"] == 11
    assert (rows[1220]["bot_wallets_300s"], rows[1220]["bot_trades_300s"]) == (2, 14)  # Y's third trade
    assert (rows[1305]["bot_wallets_300s"], rows[1305]["bot_trades_300s"]) == (1, 3)  # X down to 10
    assert rows[1320]["bot_trades_300s"] == 3  # Y: 1020 left, 1320 came
    assert rows[1420]["bot_trades_300s"] == 0  # Y down to 2 trades
    assert all(row["bot_trades_60s"] == 0 for tick, row in rows.items() if tick >= 1065)


def test_wallet_rated_again_after_its_old_trades_left_every_rated_window():
    trades = [make_trade(1001, "buy", SOL, "X")]
    trades += [make_trade(1400 + i, "buy", (i + 2) * SOL, "X") for i in range(4)]  # three 1 s gaps
    rows = aggregates(run(trades, 2000))
    assert rows[1305]["bot_trades_300s"] == 0
    assert (rows[1405]["bot_wallets_60s"], rows[1405]["bot_trades_60s"]) == (1, 4)
    assert (rows[1405]["bot_wallets_300s"], rows[1405]["bot_trades_300s"]) == (1, 4)


# --- model-based check against the definitions ---------------------------------------------------

CONFIGS = [
    AggregationConfig(),
    AggregationConfig(windows=(30, 60, 300, 700), tick_s=10),
    AggregationConfig(windows=(60, 120, 300, 1000), tick_s=7),  # 1 s buckets
]


def _expected_rows(trades: list[TradeEvent], config: AggregationConfig) -> dict[tuple[str, int], dict]:
    """Rows by (mint, tick), recomputed from the definitions with no incremental state."""
    cadence, windows = config.tick_s, config.windows
    expected: dict[tuple[str, int], dict] = {}
    for mint in sorted({t.mint for t in trades}):
        mine = sorted(
            (t for t in trades if t.mint == mint),
            key=lambda t: (t.block_time, t.slot, t.tx_index, t.outer_ix_index),
        )
        ticks = set()
        for trade in mine:
            for offset in (0, *windows):
                ticks.add(math.ceil((trade.block_time + offset) / cadence) * cadence)
        session_start = -1
        for tick in sorted(ticks):
            seen = [t for t in mine if t.block_time <= tick]
            longest = [t for t in seen if t.block_time > tick - windows[-1]]
            row: dict[str, Any] = {
                "mint": mint,
                "ts": tick,
                "last_trade_ts": seen[-1].block_time,
                "programs": ",".join(sorted({t.program for t in longest})),
                "trades_total": sum(1 for t in seen if t.block_time > session_start),
            }
            for window in windows:
                inside = [t for t in seen if t.block_time > tick - window]
                sol = [t for t in inside if t.quote_mint == WSOL_MINT]
                bought = sum(t.quote_amount_raw for t in sol if t.direction == "buy")
                sold = sum(t.quote_amount_raw for t in sol if t.direction == "sell")
                row[f"net_flow_{window}s_sol"] = (bought - sold) / SOL
                row[f"buy_count_{window}s"] = sum(1 for t in inside if t.direction == "buy")
                row[f"sell_count_{window}s"] = sum(1 for t in inside if t.direction == "sell")
                row[f"buy_volume_{window}s_sol"] = bought / SOL
                row[f"sell_volume_{window}s_sol"] = sold / SOL
                row[f"unique_wallets_{window}s"] = len({t.trader for t in inside})
                row[f"unique_buyers_{window}s"] = len({t.trader for t in inside if t.direction == "buy"})
                row[f"unique_sellers_{window}s"] = len({t.trader for t in inside if t.direction == "sell"})
                row[f"avg_trade_size_{window}s_sol"] = (bought + sold) / (len(sol) * SOL) if sol else None
                if window <= 300:
                    by_wallet: dict[str, list[tuple]] = {}
                    for t in inside:
                        amount = t.quote_amount_raw if t.quote_mint == WSOL_MINT else None
                        by_wallet.setdefault(t.trader, []).append((t.block_time, t.direction == "buy", amount))
                    bots = [len(ts) for ts in by_wallet.values() if is_bot(ts)]
                    row[f"bot_trades_{window}s"], row[f"bot_wallets_{window}s"] = sum(bots), len(bots)
                else:
                    row[f"bot_trades_{window}s"] = row[f"bot_wallets_{window}s"] = None
                row[f"dca_buys_{window}s"] = sum(1 for t in inside if t.direction == "buy" and t.is_dca)
            row.update(dict.fromkeys(PRICE_COLUMN_TYPES))  # no token state: every price column null
            expected[(mint, tick)] = row
            if not longest:
                session_start = tick
    return expected


@st.composite
def trade_sets(draw) -> list[TradeEvent]:
    count = draw(st.integers(1, 45))  # in bursts, so wallets come back after leaving windows
    trades = []
    for _ in range(count):
        program = draw(st.sampled_from([PUMPSWAP, PUMPFUN, JUPITER_DCA]))
        trades.append(
            make_trade(
                1000 + draw(st.sampled_from([0, 0, 330, 700, 3700, 15_000])) + draw(st.integers(0, 20)),
                draw(st.sampled_from(["buy", "sell"])),
                draw(st.sampled_from([SOL, SOL + 40_000, 3 * SOL, 123_456_789])),
                draw(st.sampled_from("ABCD")),
                draw(st.sampled_from(["M1", "M2"])),
                program=program.name,
                quote_mint=draw(st.sampled_from([WSOL_MINT, WSOL_MINT, USDC_MINT])),
                is_dca=program is JUPITER_DCA,
            )
        )
    return trades


@settings(max_examples=60, deadline=None)
@given(trades=trade_sets(), config=st.sampled_from(CONFIGS), seed=st.integers(0, 2**32))
def test_rows_match_a_recomputation_from_the_definitions(trades, config, seed):
    expected = _expected_rows(trades, config)
    tick = config.tick_s
    end = max(t.block_time for t in trades) + config.windows[-1] + 2 * tick
    empty = {key for key, row in expected.items() if not row["programs"]}
    entered = {(t.mint, -(-t.block_time // tick) * tick) for t in trades}

    # All trades first, then the clock in random steps: the history is the rows of the ticks with a
    # trade and the final rows; every current-state row is the state at the tick it is stamped with.
    aggregator = ShardAggregator(config, ["p"])
    shuffled = trades[:]
    random.Random(seed).shuffle(shuffled)
    for trade in shuffled:
        aggregator.add_trade(trade)
    history, clock = [], 1000
    rng = random.Random(seed + 1)
    while clock < end:
        clock += rng.choice([1, 3, tick, 50, 700])
        history += emitted_rows(aggregator.advance("p", clock), config.windows)
        current = aggregator.current_rows()
        for row in current.dicts(config.windows) if current is not None else ():
            assert row == expected[(row["mint"], row["ts"])]
    got = {(r["mint"], r["ts"]): r for kind, r in history if kind == "aggregate"}
    assert got == {key: row for key, row in expected.items() if key in entered | empty}
    assert len(aggregator) == 0

    # Trades in time order with the clock following right behind them, tick by tick: the state at
    # every tick at which a mint changed, none late.
    streaming = ShardAggregator(config, ["p"])
    rows, clock = [], 999
    for trade in sorted(trades, key=lambda t: t.block_time):
        rows += step(streaming, "p", clock, trade.block_time)
        clock = trade.block_time
        streaming.add_trade(trade)
    rows += step(streaming, "p", clock, end)
    assert streaming.late_trades == 0
    assert {(r["mint"], r["ts"]): r for kind, r in rows if kind == "aggregate"} == expected
