"""``top_mints``: the leading mints at one event time, ranked by a metric of one window.

A mint's state at time ``t`` is its windows at the tick at or before ``t``, decays included, rebuilt
from the trades (``solflow.analysis.states``): the history rows alone describe only the ticks with a
trade. Mints without a trade in the window at ``t`` are left out: they are not "leading" anything.
Ties rank by mint, so the order is stable.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from solflow.analysis.outputs import AnalysisError, Outputs
from solflow.analysis.states import states_at
from solflow.analysis.tokens import scores_at, token_columns

__all__ = ["RANKINGS", "TopMints", "top_mints"]

# --by choice -> the result column it ranks on
RANKINGS: dict[str, str] = {
    "net_flow": "net_flow_sol",
    "volume": "volume_sol",
    "buys": "buy_count",
    "wallets": "unique_wallets",
}

# result column -> aggregate column, "{w}" the window
_METRICS: dict[str, str] = {
    "net_flow_sol": "net_flow_{w}s_sol",
    "buy_count": "buy_count_{w}s",
    "sell_count": "sell_count_{w}s",
    "buy_volume_sol": "buy_volume_{w}s_sol",
    "sell_volume_sol": "sell_volume_{w}s_sol",
    "unique_wallets": "unique_wallets_{w}s",
    "bot_wallets": "bot_wallets_{w}s",
    "bot_trades": "bot_trades_{w}s",
    "dca_buys": "dca_buys_{w}s",
}


@dataclass(frozen=True)
class TopMints:
    """The ranking; ``rows`` has the ``_METRICS`` columns plus ``mint``, ``ts`` (the row's tick),
    ``last_trade_ts``, ``programs``, ``volume_sol``, ``active_signals`` (list of signal types),
    ``token_name``, ``token_symbol``, ``price_sol``, ``market_cap_sol``, ``bonding_progress`` and
    ``persistence_score`` (of the latest scoring), as of ``at``."""

    at: int
    window: int
    by: str
    rows: pl.DataFrame

    def as_json(self) -> dict[str, Any]:
        return {"at": self.at, "window": self.window, "by": self.by, "mints": self.rows.to_dicts()}


def top_mints(
    out: Path | str, window: int = 300, by: str = "net_flow", limit: int = 20, at: int | None = None
) -> TopMints:
    """The ``limit`` mints ranking highest by ``by`` in ``window`` at event time ``at`` (default:
    the latest tick).

    >>> top_mints(Path("out"), window=60, by="buys", limit=5).rows  # doctest: +SKIP
    """
    if by not in RANKINGS:
        raise AnalysisError(f"unknown ranking {by!r}; choose one of {', '.join(RANKINGS)}")
    if limit < 1:
        raise AnalysisError(f"limit must be at least 1, got {limit}")
    outputs = Outputs(out)
    outputs.check_window(window)
    if at is None:
        at = outputs.latest_tick()
    else:
        outputs.check_time(at)
    tick = outputs.tick()
    recent = outputs.scan("trades", after=at // tick * tick - window, through=at).select(pl.col("mint").unique())
    mints = outputs.collect("trades", recent).get_column("mint").to_list()
    trades = pl.col("buy_count") + pl.col("sell_count")
    query = (
        states_at(outputs, at, mints)
        .lazy()
        .select(
            "mint",
            "ts",
            "last_trade_ts",
            "programs",
            *(pl.col(column.format(w=window)).alias(name) for name, column in _METRICS.items()),
        )
        .filter(trades > 0)
        .with_columns(volume_sol=pl.col("buy_volume_sol") + pl.col("sell_volume_sol"))
        .sort([RANKINGS[by], "mint"], descending=[True, False], nulls_last=True)
        .head(limit)
    )
    leaders = outputs.collect("aggregates", query)
    mints = leaders.get_column("mint").to_list()
    active = _active_signals(outputs, leaders.get_column("mint"), at)
    tokens = token_columns(outputs, mints, at, after=at // tick * tick - window - tick)
    scores = scores_at(outputs, mints, at)
    rows = (
        leaders.join(active, on="mint", how="left", maintain_order="left")
        .with_columns(pl.col("active_signals").fill_null(pl.lit([], dtype=pl.List(pl.String))))
        .join(tokens, on="mint", how="left", maintain_order="left")
        .with_columns(
            persistence_score=pl.Series(
                [scores[m]["persistence_score"] if m in scores else None for m in mints], dtype=pl.Int64()
            )
        )
    )
    return TopMints(at, window, by, rows)


def _active_signals(outputs: Outputs, mints: pl.Series, at: int) -> pl.DataFrame:
    """Per mint, the signal types whose latest transition at or before ``at`` turned them on."""
    query = (
        outputs.scan("signals", through=at)
        .filter(pl.col("mint").is_in(mints.implode()))
        .group_by("mint", "signal_type")
        .agg(pl.col("state").sort_by("ts").last())
        .filter(pl.col("state") == "on")
        .group_by("mint")
        .agg(active_signals=pl.col("signal_type").sort())
    )
    return outputs.collect("signals", query)
