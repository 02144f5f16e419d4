"""The five per-mint signals of the original system, evaluated on each emitted aggregate row.

======================  ======  ================================================================
signal_type             window  fires when (all)
======================  ======  ================================================================
``BREAKOUT``            60      nf60 > 5.0 SOL; unique_wallets_300s >= 5; buy_ratio_60s > 0.75
``FOCUSED``             300     nf300 > 3.0; bot_ratio < 0.2; 1 <= unique_wallets_300s <= 10
``SURGE``               60      nf60 > 8.0; buys60 >= 10; |nf300| / 5 > 0; nf60 / (|nf300| / 5) >= 3
``BOT_DROPOFF``         300     previous row's bot_trades_300s >= 5; unique_wallets_300s >= 3;
                                (previous - now) / previous >= 0.5
``DCA_CONVICTION``      60      over the longest window (4 h by default): DCA buys and spot buys
                                (PumpSwap, LaunchLab, Moonshot) both present; a DCA buy is matched
                                when a spot buy is at most 60 s away; matched / DCA buys >= 0.25
======================  ======  ================================================================

``buy_ratio_60s = buys60 / (buys60 + sells60)`` and ``bot_ratio = bot_trades_300s / trades_300s``
(0 without trades). Scores, severities and ``details`` keys are the original's; floats in
``details`` are rounded to 2 decimals, ``bot_decline_pct`` to a whole percent.

De-duplication per (mint, signal type): a signal row with ``state="on"`` when a signal starts
firing and one with ``state="off"`` (severity, score None; details empty) when it stops; nothing
while it keeps firing. Signal row keys: ``mint``, ``signal_type``, ``window_seconds``, ``severity``,
``score``, ``details`` (dict), ``ts`` (the row's event-time tick), ``state``.

Thresholds live in ``SignalConfig``; each can be overridden by its dotted name, e.g.
``breakout.min_net_flow_60s`` (``SOLFLOW_SIGNALS="breakout.min_net_flow_60s=4.5"``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any, NamedTuple

SIGNAL_TYPES: tuple[str, ...] = ("BREAKOUT", "FOCUSED", "SURGE", "BOT_DROPOFF", "DCA_CONVICTION")
WINDOW_SECONDS: dict[str, int] = {
    "BREAKOUT": 60,
    "FOCUSED": 300,
    "SURGE": 60,
    "BOT_DROPOFF": 300,
    "DCA_CONVICTION": 60,
}
_SIGNAL_BIT = {name: 1 << i for i, name in enumerate(SIGNAL_TYPES)}
_WINDOWS_PER_300S = 5  # the original's "average 60 s volume" is |nf300| / 5


@dataclass(frozen=True)
class SignalConfig:
    """Signal thresholds (the original's defaults); comparisons are fixed as documented above."""

    breakout_min_net_flow_60s: float = 5.0
    breakout_min_unique_wallets: float = 5
    breakout_min_buy_ratio: float = 0.75
    focused_min_net_flow_300s: float = 3.0
    focused_max_bot_ratio: float = 0.2
    focused_min_unique_wallets: float = 1
    focused_max_unique_wallets: float = 10
    surge_min_net_flow_60s: float = 8.0
    surge_min_buy_count_60s: float = 10
    surge_min_volume_ratio: float = 3.0
    bot_dropoff_min_previous_bot_trades: float = 5
    bot_dropoff_min_unique_wallets: float = 3
    bot_dropoff_min_decline: float = 0.5
    dca_conviction_min_overlap: float = 0.25
    dca_conviction_match_window_s: float = 60

    @classmethod
    def with_overrides(cls, overrides: Mapping[str, float]) -> SignalConfig:
        """Defaults with ``overrides`` applied; names are dotted (``surge.min_volume_ratio``)."""
        known = {_dotted(f.name): f.name for f in fields(cls)}
        unknown = sorted(name for name in overrides if name not in known)
        if unknown:
            raise ValueError(f"unknown signal threshold(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        config = replace(cls(), **{known[name]: float(value) for name, value in overrides.items()})
        if not config.dca_conviction_match_window_s >= 0:
            raise ValueError("dca_conviction.match_window_s must not be negative")
        return config


_SIGNAL_PREFIXES = ("breakout_", "focused_", "surge_", "bot_dropoff_", "dca_conviction_")


def _dotted(field_name: str) -> str:
    """``bot_dropoff_min_decline`` -> ``bot_dropoff.min_decline``."""
    prefix = next(p for p in _SIGNAL_PREFIXES if field_name.startswith(p))
    return prefix[:-1] + "." + field_name[len(prefix) :]


class Hit(NamedTuple):
    severity: int
    score: float
    details: dict[str, Any]


class DcaInputs(NamedTuple):
    """What DCA_CONVICTION needs beyond the row, over the longest window."""

    dca_buys: int
    spot_buys: int
    matched_dca: int


def evaluate(
    row: Mapping[str, Any],
    previous_bot_trades: int | None,
    dca: DcaInputs | None,
    config: SignalConfig,
) -> dict[str, Hit]:
    """The signals firing on ``row`` (an aggregate row with the 60 s and 300 s windows)."""
    nf60 = row["net_flow_60s_sol"]
    nf300 = row["net_flow_300s_sol"]
    buys60 = row["buy_count_60s"]
    trades60 = buys60 + row["sell_count_60s"]
    wallets = row["unique_wallets_300s"]
    bot_trades = row["bot_trades_300s"]
    trades300 = row["buy_count_300s"] + row["sell_count_300s"]
    buy_ratio = buys60 / trades60 if trades60 else 0.0
    bot_ratio = bot_trades / trades300 if trades300 else 0.0
    hits: dict[str, Hit] = {}

    if (
        nf60 > config.breakout_min_net_flow_60s
        and wallets >= config.breakout_min_unique_wallets
        and buy_ratio > config.breakout_min_buy_ratio
    ):
        score = (min(nf60 / 20, 1.0) + min(wallets / 20, 1.0) + buy_ratio) / 3
        severity = 5 if score > 0.8 else 4 if score > 0.6 else 3 if score > 0.4 else 2
        details = {"net_flow_60s": round(nf60, 2), "unique_wallets": wallets, "buy_ratio": round(buy_ratio, 2)}
        hits["BREAKOUT"] = Hit(severity, score, details)

    if (
        nf300 > config.focused_min_net_flow_300s
        and bot_ratio < config.focused_max_bot_ratio
        and config.focused_min_unique_wallets <= wallets <= config.focused_max_unique_wallets
    ):
        score = (min(nf300 / 10, 1.0) + min(1 / max(wallets, 1), 1.0) + 1 - bot_ratio) / 3
        details = {"net_flow_300s": round(nf300, 2), "unique_wallets": wallets, "bot_ratio": round(bot_ratio, 2)}
        hits["FOCUSED"] = Hit(4 if wallets <= 3 else 3, score, details)

    average_60s = abs(nf300) / _WINDOWS_PER_300S
    if nf60 > config.surge_min_net_flow_60s and buys60 >= config.surge_min_buy_count_60s and average_60s > 0:
        ratio = nf60 / average_60s
        if ratio >= config.surge_min_volume_ratio:
            score = (min(ratio / 10, 1.0) + min(buys60 / 30, 1.0)) / 2
            severity = 5 if ratio >= 5 else 4 if ratio >= 4 else 3
            details = {"net_flow_60s": round(nf60, 2), "volume_ratio": round(ratio, 2), "buy_count": buys60}
            hits["SURGE"] = Hit(severity, score, details)

    if (
        previous_bot_trades is not None
        and previous_bot_trades >= config.bot_dropoff_min_previous_bot_trades
        and previous_bot_trades > 0
        and wallets >= config.bot_dropoff_min_unique_wallets
    ):
        decline = (previous_bot_trades - bot_trades) / previous_bot_trades
        if decline >= config.bot_dropoff_min_decline:
            score = (min(decline, 1.0) + min(wallets / 10, 1.0)) / 2
            details = {
                "bot_decline_pct": round(decline * 100),
                "prev_bot_count": previous_bot_trades,
                "new_wallets": wallets,
            }
            hits["BOT_DROPOFF"] = Hit(4 if decline >= 0.8 else 3, score, details)

    if dca is not None and dca.dca_buys and dca.spot_buys:
        overlap = dca.matched_dca / dca.dca_buys
        if overlap >= config.dca_conviction_min_overlap:
            severity = 5 if overlap >= 0.5 else 4 if overlap >= 0.4 else 3 if overlap >= 0.3 else 2
            details = {
                "overlap_ratio": round(overlap, 2),
                "dca_buys": dca.dca_buys,
                "spot_buys": dca.spot_buys,
                "matched_dca": dca.matched_dca,
            }
            hits["DCA_CONVICTION"] = Hit(severity, overlap, details)
    return hits


def transitions(mint: str, ts: int, active: int, hits: Mapping[str, Hit]) -> tuple[int, list[dict[str, Any]]]:
    """Signal rows for what turned on or off; ``active`` is the mint's bit set of firing signals."""
    now_active = 0
    for name in hits:
        now_active |= _SIGNAL_BIT[name]
    if now_active == active:
        return active, []
    rows: list[dict[str, Any]] = []
    for name in SIGNAL_TYPES:
        bit = _SIGNAL_BIT[name]
        if now_active & bit and not active & bit:
            hit = hits[name]
            rows.append(_signal_row(mint, name, hit.severity, hit.score, hit.details, ts, "on"))
        elif active & bit and not now_active & bit:
            rows.append(_signal_row(mint, name, None, None, {}, ts, "off"))
    return now_active, rows


def _signal_row(
    mint: str, name: str, severity: int | None, score: float | None, details: dict[str, Any], ts: int, state: str
) -> dict[str, Any]:
    return {
        "mint": mint,
        "signal_type": name,
        "window_seconds": WINDOW_SECONDS[name],
        "severity": severity,
        "score": score,
        "details": details,
        "ts": ts,
        "state": state,
    }
