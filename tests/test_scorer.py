"""The persistence scorer against hand-computed values (reference §11): one constructed mint per pattern
tag, the confidence bands and age factors, rounding, candidates and appearance counts."""

from __future__ import annotations

import pytest

from solflow.domain.scorer import ScoreInput, appearances, candidates, score, score_all

NOW = 1_764_000_000
HOUR = 3600
DAY = 86_400


def entry(
    flows: tuple[float, ...],
    *,
    buys: int,
    sells: int,
    wallets: int = 0,
    bots: int = 0,
    dca: int = 0,
    seen_h: float,
    launch_h: float | None,
    mint: str = "M",
) -> ScoreInput:
    """A mint's state; ``flows`` are the six net flows (60 s ... 4 h), ``seen_h`` / ``launch_h`` how
    many hours ago it was first seen / launched."""
    return ScoreInput(
        mint=mint,
        net_flows=flows,
        net_flow_300s=flows[1],
        net_flow_900s=flows[2],
        net_flow_3600s=flows[3],
        unique_wallets_300s=wallets,
        buy_count_300s=buys,
        sell_count_300s=sells,
        bot_trades_300s=bots,
        dca_buys_3600s=dca,
        first_seen_ts=NOW - int(seen_h * HOUR),
        launch_ts=None if launch_h is None else NOW - int(launch_h * HOUR),
        appearance_24h=1,
        appearance_72h=2,
    )


# Each case: the input, then (score, tag, confidence) worked out by hand in the comment above it.
CASES = {
    # P = 30·4/6 + 25·10/50 + 25·(avg 3)/10 + 10·12/24 − 10·1/10 = 20 + 5 + 7.5 + 5 − 1 = 36.5 → 3.65 → 4
    # dca 5 > 3, avg 3 > 0, buy ratio 8/10 > 0.6 → ACCUMULATION
    # (0.4·10/50 + 0.3·0.5 + 0.3·0.9) · 1.0 (launched 2 days ago) = 0.5 → MEDIUM
    "accumulation": (
        entry((1.0, 2.0, 3.0, 4.0, 0.0, 0.005), buys=8, sells=2, wallets=10, bots=1, dca=5, seen_h=12, launch_h=48),
        (4, "ACCUMULATION", "MEDIUM"),
    ),
    # P = 30 + 25 + 25·0.8 + 10 − 0 = 85 → 8.5 → 9 (a half rounds up); avg 8 > 5, buy ratio 0.9 → MOMENTUM
    # (0.4·50/50 + 0.3 + 0.3) · 1.1 (10 days) = 1.1 → clamped to 1 → HIGH
    "momentum": (
        entry((6.0, 8.0, 7.0, 9.0, 10.0, 12.0), buys=45, sells=5, wallets=60, seen_h=48, launch_h=240),
        (9, "MOMENTUM", "HIGH"),
    ),
    # P = 30 + 25·5/50 + 0 + 10·(0.5/24) − 10·0.5 = 27.708… → 3; avg −3 < −2, buy ratio 0.3 → DISTRIBUTION
    # (0.4·0.2 + 0.3·0.5/24 + 0.3·0.5) · 0.5 (launched 30 min ago) = 0.118… → LOW
    "distribution": (
        entry((-1.0, -3.0, -3.0, -3.0, -3.0, -3.0), buys=3, sells=7, wallets=5, bots=5, seen_h=0.5, launch_h=0.5),
        (3, "DISTRIBUTION", "LOW"),
    ),
    # P = 30·3/6 + 0 + 0 + 10 − 0 = 25 → 2.5 → 3; avg −6 < −5, buy ratio 0.5 (not < 0.4) → WASHOUT
    # (0.4·0.2 + 0.3 + 0.3) · 0.8 (launch unknown) = 0.544 → MEDIUM
    "washout": (
        entry((0.0, -6.0, -6.0, -6.0, 0.0, 0.0), buys=5, sells=5, seen_h=24, launch_h=None),
        (3, "WASHOUT", "MEDIUM"),
    ),
    # no trades: bot ratio 0, buy ratio 0.5; P = 0 → 0 → NOISE; (0 + 0 + 0.3) · 1.3 (100 days) = 0.39 → LOW
    "noise": (
        entry((0.0,) * 6, buys=0, sells=0, seen_h=0, launch_h=2400),
        (0, "NOISE", "LOW"),
    ),
    # as momentum, launched 3 h ago: 1.0 · 0.7 = 0.7, not above 0.7 → MEDIUM
    "young momentum": (
        entry((6.0, 8.0, 7.0, 9.0, 10.0, 12.0), buys=45, sells=5, wallets=60, seen_h=48, launch_h=3),
        (9, "MOMENTUM", "MEDIUM"),
    ),
    # P = 30·1/6 + 25 + 25·(avg 4)/10 + 10 − 0 = 50 → 5; avg 4 is no momentum → NOISE
    # (0.4·40/50 + 0.3 + 0.3) · 0.7 (launched 20 h ago) = 0.644 → MEDIUM
    "day old": (
        entry((0.0, 12.0, 0.0, 0.0, 0.0, 0.0), buys=20, sells=20, wallets=50, seen_h=30, launch_h=20),
        (5, "NOISE", "MEDIUM"),
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_score_tag_and_confidence_by_hand(case):
    given, (persistence, tag, confidence) = CASES[case]
    result = score(given, NOW)
    assert (result.persistence_score, result.pattern_tag, result.confidence) == (persistence, tag, confidence)
    assert (result.appearance_24h, result.appearance_72h, result.ts, result.mint) == (1, 2, NOW, "M")


def test_every_tag_and_band_is_covered():
    results = [score(given, NOW) for given, _ in CASES.values()]
    assert {r.pattern_tag for r in results} == {"ACCUMULATION", "MOMENTUM", "DISTRIBUTION", "WASHOUT", "NOISE"}
    assert {r.confidence for r in results} == {"HIGH", "MEDIUM", "LOW"}


def test_candidates_need_dca_or_more_than_10_sol_and_are_ranked_by_5_minute_flow():
    quiet = entry((0.0, 10.0, 0, 0, 0, 0), buys=1, sells=0, seen_h=1, launch_h=None, mint="exactly-10")
    dca = entry((0.0, -2.0, 0, 0, 0, 0), buys=1, sells=0, dca=1, seen_h=1, launch_h=None, mint="dca")
    big = entry((0.0, 50.0, 0, 0, 0, 0), buys=1, sells=0, seen_h=1, launch_h=None, mint="big")
    tie_b = entry((0.0, 20.0, 0, 0, 0, 0), buys=1, sells=0, seen_h=1, launch_h=None, mint="b")
    tie_a = entry((0.0, 20.0, 0, 0, 0, 0), buys=1, sells=0, seen_h=1, launch_h=None, mint="a")
    assert [c.mint for c in candidates([quiet, dca, tie_b, big, tie_a])] == ["big", "a", "b", "dca"]
    many = [
        entry((0.0, 11.0 + i, 0, 0, 0, 0), buys=1, sells=0, seen_h=1, launch_h=None, mint=f"m{i:03d}")
        for i in range(150)
    ]
    chosen = score_all(many, NOW)
    assert len(chosen) == 100 and chosen[0].mint == "m149" and chosen[-1].mint == "m050"


def test_appearances_count_signals_in_the_last_24_and_72_hours():
    times = [NOW - 100, NOW - DAY, NOW - DAY + 1, NOW - 3 * DAY + 1, NOW - 3 * DAY, NOW + 5]
    assert appearances(times, NOW) == (2, 4)
