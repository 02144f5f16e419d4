"""The persistence scorer (the original's ``token_signal_summary``), recomputed every 60 s of event time.

Candidates: mints whose current windows have ``dca_buys_3600s > 0`` or ``net_flow_300s_sol > 10``
(blocked mints are never offered), ordered by ``net_flow_300s_sol`` descending (then by mint, so
ties do not depend on arrival order), the first 100. For each, at the scoring time ``now``:

* ``lifetime_h = (now - first_seen_ts) / 3600`` -- the original's ``created_at``, when the mint
  was first seen; ``trades = buy_count_300s + sell_count_300s``; ``bot_ratio = bot_trades_300s /
  trades`` (0 without trades); ``avg = mean(nf300, nf900, nf3600)``; ``buy_ratio = buy_count_300s /
  trades`` (0.5 without trades);
* ``persistence_score = round(clamp(P / 10, 0, 10))`` (halves up, as the original's Rust ``round``
  does for positive numbers) with ``P = 30·(share of the net-flow windows with |value| > 0.01) +
  25·min(unique_wallets_300s / 50, 1) + 25·(min(avg / 10, 1) if avg > 0 else 0) + 10·min(lifetime_h
  / 24, 1) - 10·bot_ratio`` (the six windows by default; at most 9 is reachable);
* ``pattern_tag``, the first that matches: ``ACCUMULATION`` (dca_buys_3600s > 3, avg > 0,
  buy_ratio > 0.6), ``MOMENTUM`` (avg > 5, buy_ratio > 0.7), ``DISTRIBUTION`` (avg < -2, buy_ratio
  < 0.4), ``WASHOUT`` (avg < -5), else ``NOISE``;
* ``confidence``: ``clamp((0.4·trades/50 + 0.3·min(lifetime_h / 24, 1) + 0.3·(1 - bot_ratio)) ·
  age_factor, 0, 1)``, where the age since the launch (the original's ``pair_created_at``: the
  token's creation, else its migration, else its PumpSwap pool's creation) gives the factor: < 1 h 0.5, < 24 h 0.7, < 7 d 1.0, < 30 d 1.1,
  older 1.3, unknown 0.8; ``HIGH`` above 0.7, ``MEDIUM`` above 0.4, else ``LOW``;
* ``appearance_24h`` / ``appearance_72h``: the mint's signals that turned on in the last 24 h / 72 h
  (``ts > now - span``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

PatternTag = Literal["ACCUMULATION", "MOMENTUM", "DISTRIBUTION", "WASHOUT", "NOISE"]
Confidence = Literal["HIGH", "MEDIUM", "LOW"]

SCORE_EVERY_S = 60
CANDIDATE_LIMIT = 100
CANDIDATE_MIN_NET_FLOW_300S = 10.0
SPANS_S = (86_400, 259_200)  # appearance_24h, appearance_72h
SCORER_WINDOWS = (300, 900, 3600)  # the windows ``avg`` reads; 300 is also ``buy_ratio``'s
ACTIVE_NET_FLOW = 0.01
_HOUR = 3600
_DAY = 86_400
# (age below, factor), checked in order; older than the last: 1.3
_AGE_FACTORS = ((_HOUR, 0.5), (_DAY, 0.7), (7 * _DAY, 1.0), (30 * _DAY, 1.1))
_OLD_AGE_FACTOR = 1.3
_UNKNOWN_AGE_FACTOR = 0.8


@dataclass(frozen=True, slots=True)
class ScoreInput:
    """A mint's current state as the scorer reads it (net flows in SOL, in window order)."""

    mint: str
    net_flows: tuple[float, ...]  # every configured window's net flow
    net_flow_300s: float
    net_flow_900s: float
    net_flow_3600s: float
    unique_wallets_300s: int
    buy_count_300s: int
    sell_count_300s: int
    bot_trades_300s: int
    dca_buys_3600s: int
    first_seen_ts: int
    launch_ts: int | None
    appearance_24h: int
    appearance_72h: int

    @property
    def is_candidate(self) -> bool:
        return self.dca_buys_3600s > 0 or self.net_flow_300s > CANDIDATE_MIN_NET_FLOW_300S


@dataclass(frozen=True, slots=True)
class Score:
    """A ``token_signal_summary`` row: ``ts`` is the scoring time."""

    mint: str
    persistence_score: int
    pattern_tag: PatternTag
    confidence: Confidence
    appearance_24h: int
    appearance_72h: int
    ts: int

    def as_row(self) -> dict[str, object]:
        return {
            "mint": self.mint,
            "persistence_score": self.persistence_score,
            "pattern_tag": self.pattern_tag,
            "confidence": self.confidence,
            "appearance_24h": self.appearance_24h,
            "appearance_72h": self.appearance_72h,
            "ts": self.ts,
        }


def candidates(inputs: Iterable[ScoreInput], limit: int = CANDIDATE_LIMIT) -> list[ScoreInput]:
    """The candidates among ``inputs``, highest 5-minute net flow first, at most ``limit``."""
    chosen = [entry for entry in inputs if entry.is_candidate]
    chosen.sort(key=lambda entry: (-entry.net_flow_300s, entry.mint))
    return chosen[:limit]


def score_all(inputs: Iterable[ScoreInput], now: int) -> list[Score]:
    """The summary rows at ``now``: every candidate among ``inputs`` (the first 100), scored."""
    return [score(entry, now) for entry in candidates(inputs)]


def score(entry: ScoreInput, now: int) -> Score:
    lifetime_h = (now - entry.first_seen_ts) / _HOUR
    trades = entry.buy_count_300s + entry.sell_count_300s
    bot_ratio = entry.bot_trades_300s / trades if trades else 0.0
    buy_ratio = entry.buy_count_300s / trades if trades else 0.5
    avg = (entry.net_flow_300s + entry.net_flow_900s + entry.net_flow_3600s) / 3
    lifetime_share = min(lifetime_h / 24, 1.0)
    points = (
        30 * _active_share(entry.net_flows)
        + 25 * min(entry.unique_wallets_300s / 50, 1.0)
        + 25 * (min(avg / 10, 1.0) if avg > 0 else 0.0)
        + 10 * lifetime_share
        - 10 * bot_ratio
    )
    base = 0.4 * (trades / 50) + 0.3 * lifetime_share + 0.3 * (1 - bot_ratio)
    confidence = _clamp(base * _age_factor(entry.launch_ts, now), 0.0, 1.0)
    return Score(
        mint=entry.mint,
        persistence_score=_round_half_up(_clamp(points / 10, 0.0, 10.0)),
        pattern_tag=_pattern(entry.dca_buys_3600s, avg, buy_ratio),
        confidence="HIGH" if confidence > 0.7 else "MEDIUM" if confidence > 0.4 else "LOW",
        appearance_24h=entry.appearance_24h,
        appearance_72h=entry.appearance_72h,
        ts=now,
    )


def appearances(signal_times: Sequence[int], now: int) -> tuple[int, int]:
    """How many of ``signal_times`` (on-transitions) fall in the last 24 h and 72 h before ``now``."""
    day, three_days = (sum(1 for t in signal_times if now - span < t <= now) for span in SPANS_S)
    return day, three_days


def _active_share(net_flows: Sequence[float]) -> float:
    if not net_flows:
        return 0.0
    return sum(1 for value in net_flows if abs(value) > ACTIVE_NET_FLOW) / len(net_flows)


def _pattern(dca_buys_3600s: int, avg: float, buy_ratio: float) -> PatternTag:
    if dca_buys_3600s > 3 and avg > 0 and buy_ratio > 0.6:
        return "ACCUMULATION"
    if avg > 5 and buy_ratio > 0.7:
        return "MOMENTUM"
    if avg < -2 and buy_ratio < 0.4:
        return "DISTRIBUTION"
    if avg < -5:
        return "WASHOUT"
    return "NOISE"


def _age_factor(launch_ts: int | None, now: int) -> float:
    if launch_ts is None:
        return _UNKNOWN_AGE_FACTOR
    age = now - launch_ts
    for below, factor in _AGE_FACTORS:
        if age < below:
            return factor
    return _OLD_AGE_FACTOR


def _clamp(value: float, low: float, high: float) -> float:
    return min(high, max(low, value))


def _round_half_up(value: float) -> int:
    return math.floor(value + 0.5)
