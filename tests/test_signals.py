"""The five signals: boundaries, scores and severities on rows, on/off de-duplication, and firing at
the expected event time through the shard aggregator (mirroring the original's boundary tests)."""

from __future__ import annotations

import pytest
from test_windows import SOL, dca_buy, make_trade, run, step

from flows.aggregation import aggregation_config
from solflow.domain.aggregate import AggregationConfig, ShardAggregator
from solflow.domain.programs import JUPITER_DCA, LAUNCHLAB, MOONSHOT, PUMPFUN, PUMPSWAP
from solflow.domain.signals import DcaInputs, Hit, SignalConfig, evaluate, transitions
from solflow.settings import Settings

DEFAULTS = SignalConfig()


def row(nf60=0.0, nf300=0.0, buys60=0, sells60=0, wallets=0, bots=0, trades300=0) -> dict:
    """The columns the signals read; ``trades300`` is split into buys only (the split is irrelevant)."""
    return {
        "net_flow_60s_sol": nf60,
        "net_flow_300s_sol": nf300,
        "buy_count_60s": buys60,
        "sell_count_60s": sells60,
        "unique_wallets_300s": wallets,
        "bot_trades_300s": bots,
        "buy_count_300s": trades300,
        "sell_count_300s": 0,
    }


def fired(
    r: dict, previous_bot_trades: int | None = None, dca: DcaInputs | None = None, config=DEFAULTS
) -> dict[str, Hit]:
    return evaluate(r, previous_bot_trades, dca, config)


# --- BREAKOUT: nf60 > 5.0, wallets >= 5, buy ratio > 0.75 -------------------------------------------


def test_breakout_fires_with_the_original_score_and_details():
    hit = fired(row(nf60=5.01, buys60=4, sells60=1, wallets=5))["BREAKOUT"]
    assert hit.score == pytest.approx((5.01 / 20 + 5 / 20 + 0.8) / 3)
    assert hit.severity == 3
    assert hit.details == {"net_flow_60s": 5.01, "unique_wallets": 5, "buy_ratio": 0.8}


@pytest.mark.parametrize(
    "r",
    [
        pytest.param(row(nf60=5.0, buys60=4, sells60=1, wallets=5), id="nf60-exactly-5.0"),
        pytest.param(row(nf60=5.01, buys60=4, sells60=1, wallets=4), id="4-wallets"),
        pytest.param(row(nf60=5.01, buys60=3, sells60=1, wallets=5), id="buy-ratio-exactly-0.75"),
    ],
)
def test_breakout_near_misses(r):
    assert "BREAKOUT" not in fired(r)


@pytest.mark.parametrize(
    ("nf60", "wallets", "buys60", "sells60", "severity"),
    [(20.0, 20, 10, 0, 5), (12.0, 12, 4, 1, 4), (6.0, 5, 4, 1, 3)],
)
def test_breakout_severity_follows_the_score(nf60, wallets, buys60, sells60, severity):
    assert fired(row(nf60=nf60, wallets=wallets, buys60=buys60, sells60=sells60))["BREAKOUT"].severity == severity


# --- FOCUSED: nf300 > 3.0, bot ratio < 0.2, 1 <= wallets <= 10 ---------------------------------------


def test_focused_fires_with_score_severity_and_details():
    hit = fired(row(nf300=5.0, wallets=2, bots=1, trades300=10))["FOCUSED"]
    assert hit.score == pytest.approx((0.5 + 0.5 + 0.9) / 3)
    assert hit.severity == 4  # wallets <= 3
    assert hit.details == {"net_flow_300s": 5.0, "unique_wallets": 2, "bot_ratio": 0.1}
    assert fired(row(nf300=5.0, wallets=4, trades300=10))["FOCUSED"].severity == 3
    assert fired(row(nf300=5.0, wallets=10, trades300=10))["FOCUSED"].severity == 3


@pytest.mark.parametrize(
    "r",
    [
        pytest.param(row(nf300=3.0, wallets=2, trades300=10), id="nf300-exactly-3.0"),
        pytest.param(row(nf300=5.0, wallets=2, bots=2, trades300=10), id="bot-ratio-exactly-0.2"),
        pytest.param(row(nf300=5.0, wallets=11, trades300=11), id="11-wallets"),
        pytest.param(row(nf300=5.0, wallets=0, trades300=0), id="no-wallets"),
    ],
)
def test_focused_near_misses(r):
    assert "FOCUSED" not in fired(r)


# --- SURGE: nf60 > 8.0, buys60 >= 10, ratio nf60 / (|nf300| / 5) >= 3 ---------------------------------


@pytest.mark.parametrize(
    ("nf300", "ratio", "severity"), [(15.0, 3.0, 3), (-15.0, 3.0, 3), (10.0, 4.5, 4), (5.0, 9.0, 5)]
)
def test_surge_ratio_and_severity(nf300, ratio, severity):
    hit = fired(row(nf60=9.0, nf300=nf300, buys60=10))["SURGE"]
    assert hit.severity == severity
    assert hit.score == pytest.approx((min(ratio / 10, 1) + 10 / 30) / 2)
    assert hit.details == {"net_flow_60s": 9.0, "volume_ratio": ratio, "buy_count": 10}


@pytest.mark.parametrize(
    "r",
    [
        pytest.param(row(nf60=8.0, nf300=8.0, buys60=10), id="nf60-exactly-8.0"),
        pytest.param(row(nf60=9.0, nf300=9.0, buys60=9), id="9-buys"),
        pytest.param(row(nf60=9.0, nf300=15.01, buys60=10), id="ratio-just-under-3"),
        pytest.param(row(nf60=9.0, nf300=0.0, buys60=10), id="no-300s-volume"),
    ],
)
def test_surge_near_misses(r):
    assert "SURGE" not in fired(r)


# --- BOT_DROPOFF: previous >= 5, wallets >= 3, decline >= 0.5 ----------------------------------------


def test_bot_dropoff_fires_on_a_halving():
    hit = fired(row(wallets=3, bots=5, trades300=20), previous_bot_trades=10)["BOT_DROPOFF"]
    assert hit.severity == 3 and hit.score == pytest.approx((0.5 + 0.3) / 2)
    assert hit.details == {"bot_decline_pct": 50, "prev_bot_count": 10, "new_wallets": 3}
    assert fired(row(wallets=3, bots=2, trades300=20), previous_bot_trades=10)["BOT_DROPOFF"].severity == 4
    assert fired(row(wallets=3), previous_bot_trades=5)["BOT_DROPOFF"].details["bot_decline_pct"] == 100


@pytest.mark.parametrize(
    ("r", "previous"),
    [
        pytest.param(row(wallets=3, bots=0), None, id="no-previous-row"),
        pytest.param(row(wallets=3, bots=0), 4, id="previous-4"),
        pytest.param(row(wallets=2, bots=0), 10, id="2-wallets"),
        pytest.param(row(wallets=3, bots=6), 10, id="decline-0.4"),
    ],
)
def test_bot_dropoff_near_misses(r, previous):
    assert "BOT_DROPOFF" not in fired(r, previous_bot_trades=previous)


# --- DCA_CONVICTION: matched / DCA buys >= 0.25 -------------------------------------------------------


@pytest.mark.parametrize(("matched", "severity"), [(2, None), (3, 3), (4, 4), (5, 5), (10, 5)])
def test_dca_conviction_overlap_severities(matched, severity):
    hits = fired(row(), dca=DcaInputs(dca_buys=10, spot_buys=7, matched_dca=matched))
    if severity is None:
        assert "DCA_CONVICTION" not in hits
        return
    hit = hits["DCA_CONVICTION"]
    assert hit.severity == severity and hit.score == matched / 10
    assert hit.details == {"overlap_ratio": matched / 10, "dca_buys": 10, "spot_buys": 7, "matched_dca": matched}


def test_dca_conviction_needs_a_quarter_and_both_kinds_of_buys():
    assert fired(row(), dca=DcaInputs(4, 1, 1))["DCA_CONVICTION"].severity == 2
    assert "DCA_CONVICTION" not in fired(row(), dca=DcaInputs(5, 1, 1))
    assert "DCA_CONVICTION" not in fired(row(), dca=DcaInputs(4, 0, 1))
    assert "DCA_CONVICTION" not in fired(row(), dca=None)


# --- de-duplication -----------------------------------------------------------------------------------


def test_transitions_emit_only_on_and_off():
    breakout = Hit(3, 0.5, {"net_flow_60s": 6.0})
    surge = Hit(4, 0.7, {"volume_ratio": 4.5})
    active, rows = transitions("M", 100, 0, {"BREAKOUT": breakout})
    assert rows == [
        {
            "mint": "M",
            "signal_type": "BREAKOUT",
            "window_seconds": 60,
            "severity": 3,
            "score": 0.5,
            "details": {"net_flow_60s": 6.0},
            "ts": 100,
            "state": "on",
        }
    ]
    assert transitions("M", 105, active, {"BREAKOUT": breakout._replace(severity=5)}) == (active, [])
    active, rows = transitions("M", 110, active, {"SURGE": surge})
    assert [(r["signal_type"], r["state"], r["ts"]) for r in rows] == [("BREAKOUT", "off", 110), ("SURGE", "on", 110)]
    assert rows[0]["severity"] is None and rows[0]["score"] is None and rows[0]["details"] == {}
    assert transitions("M", 115, active, {}) == (
        0,
        [
            {
                "mint": "M",
                "signal_type": "SURGE",
                "window_seconds": 60,
                "severity": None,
                "score": None,
                "details": {},
                "ts": 115,
                "state": "off",
            }
        ],
    )


# --- thresholds from settings ---------------------------------------------------------------------


def test_overrides_by_dotted_name():
    config = SignalConfig.with_overrides({"breakout.min_net_flow_60s": 4.5, "dca_conviction.min_overlap": 0.5})
    assert "BREAKOUT" in fired(row(nf60=5.0, buys60=4, sells60=1, wallets=5), config=config)
    assert "DCA_CONVICTION" not in fired(row(), dca=DcaInputs(10, 1, 4), config=config)
    settings = Settings.from_env({"SOLFLOW_SIGNALS": "surge.min_volume_ratio=2.5"})
    assert aggregation_config(settings).signals.surge_min_volume_ratio == 2.5


def test_unknown_override_names_are_rejected_by_name():
    with pytest.raises(ValueError, match="breakout.min_netflow_60s, nonsense") as error:
        SignalConfig.with_overrides({"nonsense": 1.0, "breakout.min_netflow_60s": 1.0, "surge.min_net_flow_60s": 2.0})
    assert "breakout.min_net_flow_60s" in str(error.value)  # the known names are listed


# --- through the aggregator, in event time ----------------------------------------------------------


def signal_events(rows, signal_type: str) -> list[tuple[str, int]]:
    return [(r["state"], r["ts"]) for kind, r in rows if kind == "signal" and r["signal_type"] == signal_type]


def test_breakout_waits_for_more_than_5_sol_and_switches_off_when_the_minute_passes():
    # Six wallets buy 1 SOL each at 1001..1006: tick 1005 has exactly 5.0 SOL, tick 1010 has 6.
    rows = run([make_trade(1000 + i, "buy", SOL, f"W{i}") for i in range(1, 7)], 2000)
    assert signal_events(rows, "BREAKOUT") == [("on", 1010), ("off", 1065)]
    on = next(r for kind, r in rows if kind == "signal" and r["signal_type"] == "BREAKOUT")
    assert on["details"] == {"net_flow_60s": 6.0, "unique_wallets": 6, "buy_ratio": 1.0}
    assert on["window_seconds"] == 60 and on["severity"] == 3
    assert signal_events(rows, "FOCUSED") == [("on", 1005), ("off", 1305)]  # nf300 5 > 3; 1 after 1305
    assert signal_events(rows, "SURGE") == []


def test_surge_and_breakout_on_ten_buyers_in_ten_seconds():
    rows = run([make_trade(1000 + i, "buy", SOL, f"W{i}") for i in range(1, 11)], 2000)
    assert signal_events(rows, "SURGE") == [("on", 1010), ("off", 1065)]
    surge = next(r for kind, r in rows if kind == "signal" and r["signal_type"] == "SURGE")
    assert surge["severity"] == 5 and surge["details"] == {"net_flow_60s": 10.0, "volume_ratio": 5.0, "buy_count": 10}
    assert signal_events(rows, "BREAKOUT") == [("on", 1010), ("off", 1065)]


def test_bot_dropoff_compares_with_the_previous_emitted_row():
    trades = [make_trade(1001 + i, "buy", (i + 1) * SOL, "X") for i in range(11)]  # bot: 11 trades
    trades += [make_trade(1250, "sell", SOL, wallet) for wallet in ("Y", "Z", "V")]
    rows = run(trades, 3000)
    # 1305: X keeps 6 trades (1006..1011, still a bot): 11 -> 6 is a 45 % decline. 1310: X keeps
    # one trade, no bot: 6 -> 0. 1315: the previous row had no bot trades.
    assert signal_events(rows, "BOT_DROPOFF") == [("on", 1310), ("off", 1315)]
    on = next(r for kind, r in rows if kind == "signal" and r["signal_type"] == "BOT_DROPOFF")
    assert on["details"] == {"bot_decline_pct": 100, "prev_bot_count": 6, "new_wallets": 4}
    assert on["severity"] == 4


@pytest.mark.parametrize(
    ("spot", "fires"),
    [
        pytest.param(make_trade(5000 - 61, program=PUMPSWAP.name, wallet="S"), False, id="61s-before"),
        pytest.param(make_trade(5000 - 60, program=PUMPSWAP.name, wallet="S"), True, id="60s-before"),
        pytest.param(make_trade(5000 + 60, program=LAUNCHLAB.name, wallet="S"), True, id="60s-after"),
        pytest.param(make_trade(5000 + 61, program=PUMPSWAP.name, wallet="S"), False, id="61s-after"),
        pytest.param(make_trade(5000, program=MOONSHOT.name, wallet="S"), True, id="moonshot"),
        pytest.param(make_trade(5000, program=PUMPFUN.name, wallet="S"), False, id="pumpfun-is-not-spot"),
        pytest.param(make_trade(5000, "sell", program=PUMPSWAP.name, wallet="S"), False, id="a-sell"),
        pytest.param(
            make_trade(5000, program=PUMPSWAP.name, wallet="S", via=JUPITER_DCA.program_id),
            False,
            id="swap-of-a-dca-fill",
        ),
    ],
)
def test_dca_conviction_matches_spot_buys_within_60_seconds(spot, fires):
    rows = run([dca_buy(5000), spot], 6000)
    expected = [("on", max(5000, spot.block_time) + (-max(5000, spot.block_time)) % 5)] if fires else []
    assert signal_events(rows, "DCA_CONVICTION") == expected


def test_dca_conviction_over_the_longest_window_until_the_matching_spot_buy_leaves_it():
    trades = [dca_buy(d) for d in (2000, 2300, 2600, 2900, 3200)]
    trades += [
        make_trade(2060, program=PUMPSWAP.name, wallet="S1"),  # matches 2000
        make_trade(2239, program=LAUNCHLAB.name, wallet="S2"),  # 61 s before 2300: no match
        make_trade(2600, program=PUMPFUN.name, wallet="S3"),  # not a spot program
        make_trade(2840, program=MOONSHOT.name, wallet="S4"),  # matches 2900
        make_trade(3500, program=PUMPSWAP.name, wallet="S5"),  # matches nothing
    ]
    rows = run(trades, 20_000)
    # On at 2060 (1 of 1). 2900: 2 of 4, 3200: 2 of 5. After 16400 only 2900 (matched by 2840) and
    # 3200 are left: 1 of 2 until 2840 leaves the 4 h window at 17240, though 2900 is still inside.
    assert signal_events(rows, "DCA_CONVICTION") == [("on", 2060), ("off", 17240)]
    on = next(r for kind, r in rows if kind == "signal" and r["signal_type"] == "DCA_CONVICTION")
    assert on["details"] == {"overlap_ratio": 1.0, "dca_buys": 1, "spot_buys": 1, "matched_dca": 1}
    assert on["severity"] == 5 and on["window_seconds"] == 60


def test_active_signals_survive_a_snapshot():
    trades = [make_trade(1000 + i, "buy", SOL, f"W{i}") for i in range(1, 7)]
    whole = run(trades, 2000)
    aggregator = ShardAggregator(AggregationConfig(), ["p"])
    for trade in trades:
        aggregator.add_trade(trade)
    first = step(aggregator, "p", 1000, 1030)
    assert signal_events(first, "BREAKOUT") == [("on", 1010)]
    restored = ShardAggregator.restore(AggregationConfig(), aggregator.snapshot())
    assert first + step(restored, "p", 1030, 2000) == whole
